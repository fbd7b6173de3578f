"""One experiment: :class:`Trajectory`, and the checks every trajectory passes.

Examples
--------
>>> import numpy as np
>>> tr, dropped = _validated(Trajectory(np.arange(3.0), np.ones((3, 1))), ("x",), "data", None)
>>> tr.n_samples, dropped
(3, [])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sysid.core.errors import DataError

__all__ = ["Trajectory", "MIN_SAMPLES"]

#: Fewest samples a trajectory may have: an ODE fit needs a start and a shape.
MIN_SAMPLES = 3


def _row_label(kind: str, index: int, rows: Sequence[Any] | None) -> str:
    """Name row ``index`` of a trajectory the way the user sees it."""
    if rows is None:
        return f"sample {index}"
    label = rows[index]
    return f"{kind} {label}"


@dataclass(frozen=True)
class Trajectory:
    """One experiment: states ``x`` measured at times ``t``.

    Parameters
    ----------
    t : ndarray, shape (n,)
        Strictly increasing sample times.
    x : ndarray, shape (n, d)
        State values; row ``i`` is measured at ``t[i]``.
    name : str
        Identifier of the experiment (the trajectory id column in CSV files).
    inputs : InputSignal, optional
        The experiment's exogenous inputs (:mod:`sysid.data.inputs`); a
        :class:`~sysid.data.dataset.Dataset` with inputs sets it.

    Examples
    --------
    >>> import numpy as np
    >>> tr = Trajectory(np.array([0.0, 0.5, 1.0]), np.ones((3, 2)), name="run1")
    >>> tr.n_samples, tr.n_states, tr.duration
    (3, 2, 1.0)
    """

    t: np.ndarray
    x: np.ndarray
    name: str = "0"
    inputs: Any = None

    @property
    def n_samples(self) -> int:
        """Number of sample times."""
        return int(self.t.shape[0])

    @property
    def n_states(self) -> int:
        """Number of state variables."""
        return int(self.x.shape[1])

    @property
    def duration(self) -> float:
        """Time between the first and the last sample."""
        return float(self.t[-1] - self.t[0])


def _validated(
    tr: Trajectory,
    states: tuple[str, ...],
    where: str,
    rows: Sequence[Any] | None,
    row_kind: str = "row",
    time_column: str = "t",
) -> tuple[Trajectory, list[str]]:
    """Check one trajectory; return a float64 contiguous copy and the dropped rows.

    Missing states (NaN) are kept; rows where every state is missing are
    dropped and returned as labels (``"line 7"``) for one warning per dataset.
    """
    t = np.ascontiguousarray(tr.t, dtype=np.float64)
    x = np.ascontiguousarray(tr.x, dtype=np.float64)
    label = f"trajectory '{tr.name}'"
    if t.ndim != 1 or x.ndim != 2 or x.shape[0] != t.shape[0]:
        raise DataError(
            f"{label}: times of shape {t.shape} do not match states of shape {x.shape}",
            source=where,
            hint="pass t with shape (n,) and x with shape (n, n_states)",
        )
    if x.shape[1] != len(states):
        raise DataError(
            f"{label} has {x.shape[1]} state columns but {len(states)} state names {list(states)}",
            source=where,
            hint="give one name per state column",
        )
    empty = np.isnan(x).all(axis=1) if x.shape[1] else np.zeros(t.shape[0], bool)
    dropped = [_row_label(row_kind, int(i), rows) for i in np.flatnonzero(empty)]
    if dropped:
        keep = ~empty
        t, x = np.ascontiguousarray(t[keep]), np.ascontiguousarray(x[keep])
        rows = None if rows is None else [r for r, k in zip(rows, keep, strict=True) if k]
    if t.shape[0] < MIN_SAMPLES:
        after = ""
        if dropped:
            after = f" after dropping {len(dropped)} row(s) where every state is missing"
        raise DataError(
            f"{label} has {t.shape[0]} sample(s){after} while at least {MIN_SAMPLES} are needed",
            source=where,
            hint="merge it with another experiment or measure more points",
        )
    bad_t = ~np.isfinite(t)
    if bad_t.any():
        i = int(np.flatnonzero(bad_t)[0])
        raise DataError(
            f"{label}: time column '{time_column}' is {t[i]} at {_row_label(row_kind, i, rows)}",
            source=where,
            hint="every sample needs a finite time; delete that row",
        )
    bad_x = np.isinf(x)
    if bad_x.any():
        i, j = (int(v) for v in np.argwhere(bad_x)[0])
        raise DataError(
            f"{label}: value {x[i, j]} in column '{states[j]}' at "
            f"{_row_label(row_kind, i, rows)} is infinite",
            source=where,
            hint="fix that value, or leave the cell empty to mark it as missing",
        )
    same, back = t[1:] == t[:-1], t[1:] < t[:-1]  # no np.diff: it overflows near 1e308
    if same.any():
        i = int(np.flatnonzero(same)[0]) + 1
        raise DataError(
            f"{label}: duplicate time {t[i]} at {_row_label(row_kind, i, rows)}",
            source=where,
            hint="average or delete repeated measurements; if they are separate experiments "
            "give them a trajectory id column",
        )
    if back.any():
        i = int(np.flatnonzero(back)[0]) + 1
        raise DataError(
            f"{label}: times are not increasing: {t[i]} at {_row_label(row_kind, i, rows)} "
            f"comes after {t[i - 1]}",
            source=where,
            hint="sort the rows by time within each trajectory, or add a trajectory id column",
        )
    return Trajectory(t, x, str(tr.name), tr.inputs), dropped
