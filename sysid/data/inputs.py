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

A time-dependent model (``dx/dt = f(x, u, t)``) reads the time as one more
input, the *clock* ``t``: :func:`with_clock` appends it to a signal (or makes a
signal of it alone). Its value is the time itself, exact everywhere, also
before the first sample and after the last, whatever the interpolation of the
measured inputs.

>>> with_clock(u)(np.array([0.5, 5.0])).tolist()
[[1.0, 0.5], [0.0, 5.0]]
>>> with_clock(None, np.array([0.0, 1.0])).names
('t',)
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicSpline

from sysid.core.errors import ConfigError, DataError, SysidInputError

__all__ = [
    "InputSignal",
    "INTERPOLATIONS",
    "TIME",
    "check_interpolation",
    "input_values",
    "off_the_samples",
    "signal_for",
    "with_clock",
    "without_clock",
]

#: How an input is read between its samples.
INTERPOLATIONS = ("linear", "hold", "cubic")

#: The name of time in the equations of a time-dependent model (its clock input).
TIME = "t"


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
    clock : bool
        The last input is the clock ``t``: its column of ``u`` holds the sample
        times, and its value at any time is that time (see :func:`with_clock`).
    """

    names: tuple[str, ...]
    t: np.ndarray
    u: np.ndarray
    interpolation: str = "linear"
    clock: bool = False

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
        if self.clock and (self.names[-1] != TIME or not np.array_equal(u[:, -1], t)):
            raise DataError(
                f"a signal with a clock has the input {TIME!r} last, holding its sample times; "
                f"found inputs {list(self.names)}",
                source="inputs",
                hint="build it with sysid.data.inputs.with_clock",
            )
        if not self.clock and TIME in self.names:
            raise DataError(
                f"an input may not be called {TIME!r}: that is the time",
                source="inputs",
                hint="rename the input; for terms in the time use time_dependent=True",
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
        """Times where the signal is not smooth: its samples (none for a spline or a clock)."""
        smooth = self._spline is not None or (self.clock and self.m == 1)
        return self.t[:0] if smooth else self.t

    @property
    def m(self) -> int:
        """Number of inputs."""
        return len(self.names)

    def __call__(self, t: float | np.ndarray) -> np.ndarray:
        """Input values at ``t``: shape (m,) for a number, (k, m) for k times."""
        if isinstance(t, float) and self._spline is None:
            if not self.clock:
                return self._at(t)
            out = self._at(t).copy()
            out[-1] = t
            return out
        tt = np.asarray(t, dtype=float)
        flat = np.atleast_1d(tt)
        if self._spline is not None:
            out = self._spline(np.clip(flat, self.t[0], self.t[-1]))
        elif self.interpolation == "hold":
            i = np.clip(np.searchsorted(self.t, flat, side="right") - 1, 0, self.t.size - 1)
            out = self.u[i]
        else:
            out = np.column_stack([np.interp(flat, self.t, col) for col in self.u.T])
        if self.clock:
            out = np.array(out, dtype=float)
            out[:, -1] = flat
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

    def to_dict(self) -> dict:
        """JSON-ready: names, times, values, interpolation."""
        return {
            "names": list(self.names),
            "t": self.t.tolist(),
            "u": self.u.tolist(),
            "interpolation": self.interpolation,
            **({"clock": True} if self.clock else {}),
        }


def input_values(signals: Sequence[InputSignal], times: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Each trajectory's input values at its own ``times``: a list of (n_k, m) arrays."""
    return [
        sig(np.asarray(t, dtype=float)).reshape(len(t), sig.m)
        for sig, t in zip(signals, times, strict=True)
    ]


def with_clock(signal: InputSignal | None, t: np.ndarray | None = None) -> InputSignal:
    """``signal`` with the clock ``t`` appended as its last input (a signal of it alone for None).

    Parameters
    ----------
    signal : InputSignal or None
        The measured inputs of one trajectory; a signal that has a clock is
        returned as it is.
    t : ndarray, optional
        The trajectory's sample times, needed when ``signal`` is None.

    Examples
    --------
    >>> import numpy as np
    >>> clock = with_clock(None, np.array([0.0, 2.0]))
    >>> clock(7.5).tolist(), clock.kinks.size
    ([7.5], 0)
    """
    if signal is not None and signal.clock:
        return signal
    if signal is None:
        times = np.asarray(t, dtype=float).ravel()
        return InputSignal((TIME,), times, times[:, None], "linear", clock=True)
    u = np.column_stack([signal.u, signal.t])
    return InputSignal((*signal.names, TIME), signal.t, u, signal.interpolation, clock=True)


def without_clock(signal: InputSignal | None) -> InputSignal | None:
    """The measured inputs of ``signal``: its clock dropped (None when nothing else is left).

    Examples
    --------
    >>> import numpy as np
    >>> without_clock(with_clock(None, np.array([0.0, 1.0]))) is None
    True
    """
    if signal is None or not signal.clock:
        return signal
    if signal.m == 1:
        return None
    return InputSignal(signal.names[:-1], signal.t, signal.u[:, :-1], signal.interpolation)


def signal_for(
    names: Sequence[str], given: object, t: np.ndarray, source: str
) -> InputSignal | None:
    """The signal that a model with inputs ``names`` reads over the times ``t``, checked.

    Parameters
    ----------
    names : sequence of str
        The model's inputs; the clock ``t``, if there, comes last and is never
        given: it is the time.
    given : InputSignal, array (len(t), m) or None
        The measured inputs: a signal holding them (among others), or their
        values at the times ``t``.
    t : ndarray
        The simulation's times.
    source : str
        Who asks, for error messages.

    Examples
    --------
    >>> import numpy as np
    >>> signal_for(("V", "t"), np.array([1.0, 3.0]), np.array([0.0, 2.0]), "demo")(1.0).tolist()
    [2.0, 1.0]
    >>> signal_for((), None, np.array([0.0, 1.0]), "demo") is None
    True
    """
    measured = tuple(u for u in names if u != TIME)
    signal = _measured_signal(measured, given, np.asarray(t, float), source) if measured else None
    return with_clock(signal, t) if TIME in names else signal


def _measured_signal(
    measured: tuple[str, ...], given: object, t: np.ndarray, source: str
) -> InputSignal:
    """The measured inputs ``measured`` over ``t`` from ``given``, or a DataError."""
    if given is None:
        raise DataError(
            f"the model has inputs {list(measured)}: pass inputs= (an InputSignal, "
            f"or their values at the times t, shape ({t.size}, {len(measured)}))",
            source=source,
        )
    if isinstance(given, InputSignal):
        missing = [u for u in measured if u not in given.names]
        if missing:
            raise DataError(
                f"the signal has inputs {list(given.names)}, the model needs {missing}",
                source=source,
            )
        if given.names == measured:
            return given
        cols = [given.names.index(u) for u in measured]
        return InputSignal(measured, given.t, given.u[:, cols], given.interpolation)
    try:
        values = np.asarray(given, dtype=float)
    except (TypeError, ValueError):
        raise DataError(
            f"inputs is not numeric, found {given!r}", source=source, hint="pass numbers"
        ) from None
    values = values.reshape(t.size, -1) if values.size == t.size * len(measured) else values
    if values.shape != (t.size, len(measured)) or not np.isfinite(values).all():
        raise DataError(
            f"inputs must be finite values of shape ({t.size}, {len(measured)}), "
            f"found shape {values.shape}",
            source=source,
        )
    return InputSignal(measured, t, values)


def off_the_samples(points: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Which ``points`` lie inside ``t``'s span and apart from every sample of ``t``.

    Apart means farther than roundoff, 1e-9 of the span (at least 1e-9): a
    logged input sample or a switch between two state samples, not a copy of
    one of them.

    Examples
    --------
    >>> off_the_samples(np.array([0.5, 1.0, 1.0 + 1e-12, 3.0]), np.array([0.0, 1.0, 2.0]))
    array([ True, False, False, False])
    """
    points = np.asarray(points, dtype=float)
    if t.size < 2:
        return np.zeros(points.shape, dtype=bool)
    tol = 1e-9 * max(float(t[-1] - t[0]), 1.0)
    j = np.clip(np.searchsorted(t, points), 1, t.size - 1)
    gap = np.minimum(np.abs(points - t[j - 1]), np.abs(t[j] - points))
    return (points > t[0]) & (points < t[-1]) & (gap > tol)
