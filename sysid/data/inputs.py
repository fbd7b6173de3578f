"""Exogenous inputs: measured signals ``u(t)`` that drive a system and are not modelled.

A heater's power, a dose, a voltage, a forcing: an :class:`InputSignal` holds one
trajectory's input samples and gives their value at any time, by linear
interpolation between samples (``"linear"``, the default), by holding each
sample until the next (``"hold"``, a zero-order hold, for switched inputs), or
by a cubic spline through them (``"cubic"``, for smooth signals: more accurate
between samples, and much faster to simulate, since the solver meets no kinks;
it overshoots at steps). Before the first sample and after the last the signal
keeps its end value.
Every simulation of a model with inputs, the neural field's training and the
refit through the ODE solver read the inputs through this one class.

Examples
--------
>>> import numpy as np
>>> u = InputSignal(("V",), np.array([0.0, 1.0, 2.0]), np.array([[0.0], [2.0], [0.0]]))
>>> u(0.5).tolist(), u(np.array([1.5, 5.0])).tolist()
([1.0], [[1.0], [0.0]])
>>> InputSignal(("V",), u.t, u.u, "hold")(0.5).tolist()
[0.0]
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicSpline

from sysid.core.errors import ConfigError, DataError, SysidInputError

__all__ = ["InputSignal", "INTERPOLATIONS", "check_interpolation", "input_values"]

#: How an input is read between its samples.
INTERPOLATIONS = ("linear", "hold", "cubic")


def check_interpolation(
    value: object,
    source: str = "argument 'interpolation'",
    what: str = "interpolation",
    error: type[SysidInputError] = ConfigError,
) -> str:
    """``value`` one of :data:`INTERPOLATIONS`, or ``error`` (a ConfigError) naming ``what``."""
    if value not in INTERPOLATIONS:
        raise error(
            f"{what} must be one of {list(INTERPOLATIONS)}, found {value!r}",
            source=source,
            hint="'linear' between samples (default), 'hold' keeps each sample until the next, "
            "'cubic' a spline through them",
        )
    return str(value)


@dataclass(frozen=True, eq=False)
class InputSignal:
    """The inputs of one trajectory, readable at any time.

    Parameters
    ----------
    names : tuple of str
        Input names (the columns of ``u``).
    t : ndarray (n,)
        Increasing sample times.
    u : ndarray (n, m)
        Input values, finite.
    interpolation : {"linear", "hold", "cubic"}
    """

    names: tuple[str, ...]
    t: np.ndarray
    u: np.ndarray
    interpolation: str = "linear"

    def __post_init__(self) -> None:
        t = np.asarray(self.t, dtype=float).ravel()
        u = np.asarray(self.u, dtype=float)
        u = u.reshape(t.size, -1) if u.ndim < 2 else u
        object.__setattr__(self, "t", t)
        object.__setattr__(self, "u", u)
        object.__setattr__(self, "names", tuple(str(n) for n in self.names))
        check_interpolation(self.interpolation)
        if u.shape != (t.size, len(self.names)) or t.size == 0:
            raise DataError(
                f"input values of shape {u.shape} do not match {t.size} times and inputs "
                f"{list(self.names)}",
                source="inputs",
            )
        # The solvers ask for one time at a time: a bisection and one row of slopes.
        dt = np.diff(t)
        slopes = np.zeros_like(u[:-1]) if t.size < 2 else np.diff(u, axis=0) / dt[:, None]
        object.__setattr__(self, "_times", t.tolist())
        object.__setattr__(self, "_slopes", slopes)
        spline = None
        if self.interpolation == "cubic" and t.size >= 2:
            spline = CubicSpline(t, u, axis=0, bc_type="not-a-knot" if t.size > 3 else "natural")
        object.__setattr__(self, "_spline", spline)

    @property
    def kinks(self) -> np.ndarray:
        """Times where the signal is not smooth (its samples; none for a spline)."""
        return self.t if self._spline is None else self.t[:0]

    @property
    def m(self) -> int:
        """Number of inputs."""
        return len(self.names)

    def __call__(self, t: float | np.ndarray) -> np.ndarray:
        """Input values at ``t``: shape (m,) for a number, (k, m) for k times."""
        if isinstance(t, float) and self._spline is None:
            return self._at(t)
        tt = np.asarray(t, dtype=float)
        flat = np.atleast_1d(tt)
        if self._spline is not None:
            out = self._spline(np.clip(flat, self.t[0], self.t[-1]))
        elif self.interpolation == "hold":
            i = np.clip(np.searchsorted(self.t, flat, side="right") - 1, 0, self.t.size - 1)
            out = self.u[i]
        else:
            out = np.column_stack([np.interp(flat, self.t, col) for col in self.u.T])
        return out[0] if tt.ndim == 0 else out

    def _at(self, t: float) -> np.ndarray:
        times = self._times
        if t <= times[0]:
            return self.u[0]
        if t >= times[-1]:
            return self.u[-1]
        i = bisect.bisect_right(times, t) - 1
        if self.interpolation == "hold":
            return self.u[i]
        return self.u[i] + (t - times[i]) * self._slopes[i]

    def shifted(self, offset: float) -> InputSignal:
        """The same signal on a clock that starts ``offset`` later (local time)."""
        return InputSignal(self.names, self.t - offset, self.u, self.interpolation)

    def to_dict(self) -> dict:
        """JSON-ready: names, times, values, interpolation."""
        return {
            "names": list(self.names),
            "t": self.t.tolist(),
            "u": self.u.tolist(),
            "interpolation": self.interpolation,
        }


def input_values(signals: Sequence[InputSignal], times: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Each trajectory's input values at its own ``times``: a list of (n_k, m) arrays."""
    return [
        sig(np.asarray(t, dtype=float)).reshape(len(t), sig.m)
        for sig, t in zip(signals, times, strict=True)
    ]
