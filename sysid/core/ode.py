"""Private: compiled polynomial-in-parameters ODE systems and guarded simulation.

A candidate model is ``dx_i/dt = sum_k theta_k * term_k(x)`` over the terms of
equation ``i``. :class:`CompiledSystem` evaluates it (and its state Jacobian)
for many starting points at once with numpy, and :func:`simulate_batch`
integrates a batch of initial states together with scipy's ``solve_ivp``,
optionally with forward sensitivities ``dx/dtheta`` and ``dx/dx0``. Every run
is guarded by :class:`Guard`: a limit on right-hand-side evaluations, a wall
time limit and blow-up detection (states far outside a box).
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp
from scipy.integrate import solve_ivp

from sysid.core.expressions import state_symbols

__all__ = [
    "Guard",
    "GuardTripped",
    "CompiledSystem",
    "simulate_batch",
    "blas_single_thread",
    "single_threaded",
]


@contextlib.contextmanager
def blas_single_thread() -> Iterator[None]:
    """Run BLAS/LAPACK single-threaded inside the block (when threadpoolctl is installed).

    The matrices here are small (thousands x tens); a multi-threaded BLAS on a
    busy machine spends far longer waiting for its threads than computing (an
    SVD of 1200 x 34 took 0.45 s instead of 1 ms on two contended cores).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional dependency
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def single_threaded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: run ``fn`` inside :func:`blas_single_thread`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with blas_single_thread():
            return fn(*args, **kwargs)

    return wrapper


#: A huge absolute tolerance switches error control off for sensitivity components:
#: steps are chosen by the states alone (the states decide the accuracy we need).
_NO_ERROR_CONTROL = 1e100


@dataclass(frozen=True)
class Guard:
    """Limits of one simulation of a candidate model.

    Parameters
    ----------
    max_evals : int
        Most right-hand-side evaluations (a stiff or exploding model needs many).
    time_limit : float
        Most wall-clock seconds.
    lower, upper : ndarray (d,) or None
        A state outside ``[lower, upper]`` (or non-finite) counts as a blow-up.
    scale : ndarray (d,) or None
        Typical magnitude of each state, for the solver's absolute tolerance
        (default: the initial states).
    """

    max_evals: int = 20_000
    time_limit: float = 10.0
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    scale: np.ndarray | None = None

    @classmethod
    def around(cls, x: np.ndarray, margin: float = 10.0, **kwargs: float) -> Guard:
        """A guard whose box is the range of ``x`` widened by ``margin`` ranges on each side."""
        x = np.asarray(x, dtype=float)
        lo, hi = np.nanmin(x, axis=0), np.nanmax(x, axis=0)  # missing values left out
        width = np.maximum(hi - lo, 1e-3 * np.maximum(np.abs(hi), np.abs(lo)))
        width = np.where(width > 0, width, 1.0)
        scale = np.maximum(np.maximum(np.abs(lo), np.abs(hi)), width)
        return cls(lower=lo - margin * width, upper=hi + margin * width, scale=scale, **kwargs)


class GuardTripped(Exception):
    """A guarded simulation stopped; ``reason`` says why in words."""

    def __init__(self, reason: str, kind: str):
        super().__init__(reason)
        self.reason = reason
        self.kind = kind  # "blow-up", "steps", "time", "solver"


class _Columns:
    """Compiled ``x (n, d) -> [e_1(x), ..., e_k(x)] (n, k)`` for sympy expressions.

    Constant expressions are filled in once; the others are evaluated by one
    lambdified numpy function and written as a block (no per-column broadcasting).
    """

    def __init__(self, exprs: Sequence[sp.Expr], symbols: Sequence[sp.Symbol]):
        self.k = len(exprs)
        self.const = np.zeros(self.k)
        var = []
        for i, e in enumerate(exprs):
            if e.free_symbols:
                var.append(i)
            else:
                self.const[i] = float(e)
        self.var = np.array(var, dtype=np.int64)
        self._f = sp.lambdify(symbols, [exprs[i] for i in var], modules="numpy") if var else None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        n = x.shape[0]
        out = np.empty((n, self.k))
        out[:] = self.const
        if self._f is not None:
            with np.errstate(all="ignore"):
                vals = self._f(*x.T)
            try:
                out[:, self.var] = np.array(vals, dtype=float).T
            except ValueError:  # pragma: no cover - a scalar among arrays
                for j, v in zip(self.var, vals, strict=True):
                    out[:, j] = v
        return out


class CompiledSystem:
    """The right-hand side ``f(x; theta)`` of a candidate model, linear in ``theta``.

    Parameters
    ----------
    states : sequence of str
    params : sequence of (int, sympy.Expr)
        One entry per coefficient: the equation (state index) it belongs to and
        the term it multiplies.
    """

    def __init__(self, states: Sequence[str], params: Sequence[tuple[int, sp.Expr]]):
        self.states = tuple(states)
        self.symbols = state_symbols(self.states)
        self.d = len(self.states)
        self.params = [(int(i), sp.sympify(term)) for i, term in params]
        self.union: list[sp.Expr] = list(dict.fromkeys(term for _, term in self.params))
        where = {term: u for u, term in enumerate(self.union)}
        self.eq_of = np.array([i for i, _ in self.params], dtype=np.int64)
        self.term_of = np.array([where[term] for _, term in self.params], dtype=np.int64)
        self.n_params = len(self.params)
        self.m = max(len(self.union), 1)
        union = self.union or [sp.Integer(0)]
        self._f = _Columns(union, self.symbols)
        grads = [sp.diff(term, s) for term in union for s in self.symbols]
        self._g = _Columns(grads, self.symbols)

    def coefficient_matrix(self, theta: np.ndarray) -> np.ndarray:
        """Coefficients as a matrix ``C`` (terms x states): ``f = Theta(x) @ C``."""
        c = np.zeros((self.m, self.d))
        np.add.at(c, (self.term_of, self.eq_of), np.asarray(theta, dtype=float))
        return c

    def terms(self, x: np.ndarray) -> np.ndarray:
        """Term values at states ``x`` (n, d): shape (n, m)."""
        return self._f(x)

    def term_gradients(self, x: np.ndarray) -> np.ndarray:
        """Derivatives of the terms: shape (n, m, d)."""
        return self._g(x).reshape(x.shape[0], self.m, self.d)

    def rhs(self, x: np.ndarray, c: np.ndarray) -> np.ndarray:
        """``dx/dt`` at states ``x`` (n, d) for coefficient matrix ``c``."""
        return self.terms(x) @ c


def simulate_batch(
    system: CompiledSystem,
    theta: np.ndarray,
    x0: np.ndarray,
    t_eval: np.ndarray,
    *,
    guard: Guard,
    sensitivities: bool = False,
    rtol: float = 1e-8,
    method: str = "DOP853",
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Integrate a batch of initial states from local time 0 to ``t_eval[-1]``.

    Parameters
    ----------
    system : CompiledSystem
    theta : ndarray (p,)
        Coefficients.
    x0 : ndarray (b, d)
        Initial states, all at local time 0 (the systems are autonomous).
    t_eval : ndarray (n,)
        Increasing output times, starting at or after 0.
    guard : Guard
    sensitivities : bool
        Also integrate ``dx/dtheta`` and ``dx/dx0``.

    Returns
    -------
    x : ndarray (b, n, d)
    s_theta : ndarray (b, n, d, p) or None
    s_x0 : ndarray (b, n, d, d) or None

    Raises
    ------
    GuardTripped
        With a reason in words: blow-up, too many steps, time limit or solver failure.
    """
    b, d = x0.shape
    p = system.n_params
    c = system.coefficient_matrix(theta)
    n_x = b * d
    start = time.perf_counter()
    counter = [0]
    lower = guard.lower
    upper = guard.upper
    states = system.states
    scale = np.abs(x0).max(axis=0) if guard.scale is None else np.asarray(guard.scale, float)

    def check(x: np.ndarray, t: float) -> None:
        counter[0] += 1
        if counter[0] > guard.max_evals:
            raise GuardTripped(
                f"more than {guard.max_evals} right-hand-side evaluations by t={t:.4g} "
                "(stiff or nearly singular model); try increasing max_evals",
                "steps",
            )
        if counter[0] % 50 == 0 and time.perf_counter() - start > guard.time_limit:
            raise GuardTripped(
                f"wall time limit of {guard.time_limit:g} s reached at t={t:.4g}; "
                "try increasing time_limit",
                "time",
            )

    def check_box(x: np.ndarray, t: float) -> None:
        if not np.isfinite(x).all():
            raise GuardTripped(f"non-finite state at t={t:.4g} (blow-up)", "blow-up")
        if lower is not None and upper is not None:
            bad = (x < lower) | (x > upper)
            if bad.any():
                i, j = np.argwhere(bad)[0]
                raise GuardTripped(
                    f"blow-up: state '{states[j]}' reached {x[i, j]:.4g} at t={t:.4g}, far "
                    f"outside the data's range (allowed: [{lower[j]:.4g}, {upper[j]:.4g}])",
                    "blow-up",
                )

    # The box is checked on accepted steps only (an event): the trial stages of a
    # step that the solver then rejects may legitimately wander far.
    def leave_box(t: float, y: np.ndarray) -> float:
        x = y[:n_x].reshape(b, d)
        if not np.isfinite(x).all():
            return -1.0
        return float(min((upper - x).min(), (x - lower).min()))

    leave_box.terminal = True  # type: ignore[attr-defined]
    leave_box.direction = -1  # type: ignore[attr-defined]
    events = [leave_box] if lower is not None and upper is not None else None

    if sensitivities:
        eq_of, term_of = system.eq_of, system.term_of

        def fun(t: float, y: np.ndarray) -> np.ndarray:
            x = y[:n_x].reshape(b, d)
            check(x, t)
            s = y[n_x : n_x + b * d * p].reshape(b, d, p)
            z = y[n_x + b * d * p :].reshape(b, d, d)
            th = system.terms(x)
            jac = np.einsum("smj,mi->sij", system.term_gradients(x), c)
            forcing = np.zeros((b, d, p))
            forcing[:, eq_of, np.arange(p)] = th[:, term_of]
            ds = jac @ s + forcing
            dz = jac @ z
            return np.concatenate([(th @ c).ravel(), ds.ravel(), dz.ravel()])

        eye = np.broadcast_to(np.eye(d), (b, d, d))
        y0 = np.concatenate([x0.ravel(), np.zeros(b * d * p), eye.ravel()])
        atol = np.concatenate(
            [np.tile(rtol * 1e-2 * (scale + 1e-12), b), np.full(b * d * (p + d), _NO_ERROR_CONTROL)]
        )
    else:

        def fun(t: float, y: np.ndarray) -> np.ndarray:
            x = y.reshape(b, d)
            check(x, t)
            return (system.terms(x) @ c).ravel()

        y0 = x0.ravel().astype(float)
        atol = np.tile(rtol * 1e-2 * (scale + 1e-12), b)

    t_eval = np.asarray(t_eval, dtype=float)
    t_end = float(t_eval[-1])
    if t_end <= 0.0:
        y = np.repeat(y0[:, None], t_eval.size, axis=1)
    else:
        with np.errstate(all="ignore"):
            sol = solve_ivp(
                fun,
                (0.0, t_end),
                y0,
                method=method,
                t_eval=t_eval,
                rtol=rtol,
                atol=atol,
                events=events,
            )
        if sol.status == 1:  # left the box
            t_out = float(sol.t_events[0][0])
            x_out = sol.y_events[0][0][:n_x].reshape(b, d)
            room = np.minimum(upper - x_out, x_out - lower)
            i, j = np.unravel_index(int(np.argmin(room)), room.shape)
            raise GuardTripped(
                f"blow-up: state '{states[j]}' reached {x_out[i, j]:.4g} at t={t_out:.4g}, far "
                f"outside the data's range (allowed: [{lower[j]:.4g}, {upper[j]:.4g}])",
                "blow-up",
            )
        if sol.status != 0 or sol.y.shape[1] != t_eval.size:
            raise GuardTripped(f"ODE solver failed: {sol.message}", "solver")
        y = sol.y
    n = t_eval.size
    x = y[:n_x].reshape(b, d, n).transpose(0, 2, 1)
    for k in range(n):
        check_box(x[:, k], float(t_eval[k]))
    if not sensitivities:
        return x, None, None
    s = y[n_x : n_x + b * d * p].reshape(b, d, p, n).transpose(0, 3, 1, 2)
    z = y[n_x + b * d * p :].reshape(b, d, d, n).transpose(0, 3, 1, 2)
    return x, s, z
