"""The held-out part of the data in model selection: trajectory ends, one trajectory, or others."""

from __future__ import annotations

import math

import numpy as np

from sysid.core.errors import ConfigError
from sysid.data.dataset import MIN_SAMPLES, Dataset, Trajectory
from sysid.select.options import Selection

__all__ = ["split_holdout", "split_windows", "n_training"]


def n_training(n_samples: int, fraction: float) -> int:
    """Samples of a trajectory before its held-out end: all when too few would remain.

    Examples
    --------
    >>> n_training(14, 0.25), n_training(3, 0.5)
    (11, 3)
    """
    n_test = int(math.floor(fraction * n_samples))
    if n_samples - n_test < MIN_SAMPLES or n_test < 1:
        n_test = 0
    return n_samples - n_test


def split_windows(data: Dataset, fraction: float) -> tuple[Dataset, list[int]]:
    """Training trajectories (first part of each) and each one's number of training samples.

    When a state is measured only in the held-out parts, nothing is held out.
    """
    trajs, n_train = [], []
    for tr in data.trajectories:
        k = n_training(tr.n_samples, fraction)
        trajs.append(Trajectory(tr.t[:k], tr.x[:k], tr.name, tr.inputs))
        n_train.append(k)
    if any(all(np.isnan(tr.x[:, j]).all() for tr in trajs) for j in range(data.n_states)):
        return data, [tr.n_samples for tr in data.trajectories]
    return Dataset(trajs, data.states, source=data.source), n_train


def split_holdout(data: Dataset, opts: Selection) -> tuple[Dataset, list[Trajectory], str]:
    """Training data, held-out trajectories, and what was held out (in words)."""
    holdout, states = opts.holdout, data.states
    if isinstance(holdout, Dataset):
        if holdout.states != states:
            raise ConfigError(
                f"holdout states {list(holdout.states)} differ from {list(states)}",
                source="select_model",
            )
        return data, list(holdout.trajectories), f"{holdout.n_trajectories} separate trajectories"
    if holdout == "trajectory":
        if data.n_trajectories < 2:
            raise ConfigError(
                "holdout='trajectory' needs at least 2 trajectories",
                source="select_model",
                hint="use holdout='windows'",
            )
        k = int(np.random.default_rng(opts.seed).integers(data.n_trajectories))
        rest = [i for i in range(data.n_trajectories) if i != k]
        return data.subset(rest), [data[k]], f"trajectory '{data[k].name}'"
    train, n_train = split_windows(data, float(opts.holdout_fraction))
    test = [
        Trajectory(tr.t[k:], tr.x[k:], tr.name, tr.inputs)
        for tr, k in zip(data.trajectories, n_train, strict=True)
        if tr.n_samples - k >= 2
    ]
    return train, test, f"last {opts.holdout_fraction:.0%} of each trajectory"
