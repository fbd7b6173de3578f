"""Exogenous inputs for the neural field: their normalisation and their values in training time.

The network sees ``v = (u - mean) / scale`` beside the normalised state; a
trajectory's inputs at normalised time ``tau`` (counted from its first sample)
are its :class:`~sysid.data.inputs.InputSignal` at ``t0 + tau * time_scale``.

Examples
--------
>>> import numpy as np
>>> import sysid
>>> t = np.linspace(0.0, 2.0, 5)
>>> ds = sysid.load_data((t, np.exp(-t), np.c_[2.0 * t]), inputs=["V"])
>>> sc = fit_input_scaler(ds)
>>> sc.names, round(float(sc.mean[0]), 3)
(('V',), 2.0)
>>> inputs_of(ds, sc, 1.0).at[0](np.array([0.0, 2.0])).ravel().tolist()
[-1.414213562373095, 1.414213562373095]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sysid.core.errors import DataError
from sysid.data.dataset import Dataset
from sysid.data.inputs import off_the_samples
from sysid.neural.windows import Windows

__all__ = [
    "InputScaler",
    "InputsOf",
    "fit_input_scaler",
    "inputs_of",
    "window_inputs",
    "check_input_values",
]


#: Input readings per sample interval when a signal has samples between the states'.
FINE_READINGS = 8


@dataclass(frozen=True)
class InputsOf:
    """Normalised inputs of each trajectory as a function of its normalised time.

    ``per_interval`` is how many times per sample interval of a window the
    field reads them (linearly in sample-index time in between): 1 when the
    inputs are sampled with the states, :data:`FINE_READINGS` when some input
    has samples between them (a logged switch), so that the field sees when
    it changed.
    """

    at: Sequence[Callable[[np.ndarray], np.ndarray]]
    per_interval: int = 1


def window_inputs(w: Windows, inputs: InputsOf) -> np.ndarray:
    """Each window's inputs at ``per_interval`` points per interval: (B, m*per_interval+1, k)."""
    r = int(inputs.per_interval)
    if r == 1:
        local = w.times
    else:
        local = w.tau_at(np.arange(w.m * r + 1) / r).T
    return np.stack(
        [inputs.at[k](t0 + loc) for k, t0, loc in zip(w.traj, w.start_tau, local, strict=True)]
    )


@dataclass(frozen=True)
class InputScaler:
    """Names, centring and scale of the inputs, and how they are read between samples."""

    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    interpolation: str = "linear"

    def to_v(self, u: np.ndarray) -> np.ndarray:
        """Normalised inputs."""
        return (np.asarray(u, dtype=np.float64) - self.mean) / self.scale

    def to_dict(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "interpolation": self.interpolation,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InputScaler:
        return cls(
            tuple(d["names"]),
            np.asarray(d["mean"], dtype=np.float64),
            np.asarray(d["scale"], dtype=np.float64),
            str(d.get("interpolation", "linear")),
        )


def fit_input_scaler(ds: Dataset) -> InputScaler | None:
    """The inputs' scaler from every input sample (None without inputs)."""
    if not ds.inputs:
        return None
    u = np.concatenate([sig.u for sig in ds.inputs], axis=0)
    mean, scale = u.mean(axis=0), u.std(axis=0)
    scale = np.where(scale > 0, scale, np.where(np.abs(mean) > 0, np.abs(mean), 1.0))
    return InputScaler(ds.input_names, mean, scale, ds.inputs[0].interpolation)


def inputs_of(ds: Dataset, scaler: InputScaler, time_scale: float) -> InputsOf:
    """Each trajectory's normalised inputs as a function of its normalised time."""
    if tuple(ds.input_names) != scaler.names:
        raise DataError(
            f"data have inputs {list(ds.input_names)} but the field was fitted with "
            f"{list(scaler.names)}",
            hint="pass the same input columns",
        )

    def one(sig: Any, t0: float):
        def at(tau: np.ndarray) -> np.ndarray:
            tau = np.asarray(tau, dtype=np.float64)
            return scaler.to_v(sig(t0 + tau * time_scale).reshape(tau.size, -1))

        return at

    between = any(off_the_samples(sig.t, tr.t).any() for sig, tr in zip(ds.inputs, ds, strict=True))
    return InputsOf(
        [one(sig, float(tr.t[0])) for sig, tr in zip(ds.inputs, ds, strict=True)],
        FINE_READINGS if between else 1,
    )


def check_input_values(u: Any, n: int, scaler: InputScaler | None, what: str) -> np.ndarray | None:
    """``u`` as (n, k) finite values for a field with inputs; an error otherwise."""
    if scaler is None:
        if u is not None:
            raise DataError(f"the field has no inputs; leave {what} out")
        return None
    k = len(scaler.names)
    if u is None:
        raise DataError(
            f"the field was fitted with inputs {list(scaler.names)}: pass {what} "
            f"of shape ({n}, {k})"
        )
    arr = np.asarray(u, dtype=np.float64)
    arr = arr.reshape(n, k) if arr.size == n * k else arr
    if arr.shape != (n, k) or not np.isfinite(arr).all():
        raise DataError(f"{what} must be finite values of shape ({n}, {k}), found {arr.shape}")
    return arr
