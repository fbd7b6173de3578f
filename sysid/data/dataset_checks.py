"""The checks a :class:`~sysid.data.dataset.Dataset` runs on itself when it is built.

Every state column measured somewhere, one input signal per trajectory with the
same names, none of them a state or the time (but the clock), each covering its
trajectory; a warning for a constant state.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from sysid.core.errors import DataError, DataWarning
from sysid.data.inputs import TIME, InputSignal

if TYPE_CHECKING:
    from sysid.data.dataset import Dataset

__all__ = ["check_inputs", "check_observed", "warn_constant"]


def check_inputs(ds: Dataset) -> None:
    """One signal per trajectory, the same names, distinct from the states, covering the samples."""
    if ds.inputs is None:
        return
    where = ds.source or "data"
    if len(ds.inputs) != ds.n_trajectories or not all(
        isinstance(s, InputSignal) for s in ds.inputs
    ):
        raise DataError(
            f"inputs must be one InputSignal per trajectory ({ds.n_trajectories}), "
            f"found {len(ds.inputs)}",
            source=where,
        )
    names = ds.inputs[0].names
    if not names or any(s.names != names for s in ds.inputs):
        raise DataError(
            f"every trajectory needs the same inputs, found {[list(s.names) for s in ds.inputs]}",
            source=where,
        )
    clocks = {s.clock for s in ds.inputs}
    if len(clocks) > 1:
        raise DataError(
            "some trajectories have the clock input 't' and others not",
            source=where,
            hint="add the time to every trajectory: Dataset.with_time()",
        )
    measured = names[:-1] if ds.inputs[0].clock else names
    clash = sorted(set(names) & set(ds.states) | set(measured) & {TIME})
    if clash or len(set(names)) != len(names):
        raise DataError(
            f"input names {list(names)} repeat a state or the time: {clash or list(names)}",
            source=where,
            hint="a column is either a state or an input",
        )
    for sig, tr in zip(ds.inputs, ds.trajectories, strict=True):
        span = max(tr.duration, 1e-300)
        if sig.t[0] > tr.t[0] + 1e-9 * span or sig.t[-1] < tr.t[-1] - 1e-9 * span:
            raise DataError(
                f"the inputs of trajectory '{tr.name}' cover {sig.t[0]:g}..{sig.t[-1]:g}, not "
                f"all of its samples ({tr.t[0]:g}..{tr.t[-1]:g})",
                source=where,
                hint="measure the inputs over the whole experiment",
            )


def check_observed(ds: Dataset) -> None:
    """Every state column needs at least one measured value over all trajectories."""
    for j, s in enumerate(ds.states):
        if all(np.isnan(tr.x[:, j]).all() for tr in ds.trajectories):
            raise DataError(
                f"state column '{s}' is entirely missing: it has no value in any trajectory",
                source=ds.source or "data",
                hint="delete that column, or name the measured columns with --states / states=",
            )


def warn_constant(ds: Dataset) -> None:
    _, x = ds.stacked()
    for j, s in enumerate(ds.states):
        col = x[:, j][~np.isnan(x[:, j])]
        if col.min() == col.max():
            warnings.warn(
                f"{ds.source or 'data'}: state column '{s}' is constant ({col[0]}); "
                f"its equation will be trivial (d{s}/dt = 0)",
                DataWarning,
                stacklevel=3,
            )
