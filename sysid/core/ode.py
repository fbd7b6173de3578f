"""The one guarded simulator: every simulation in sysid goes through :func:`guarded_solve`.

A simulation is guarded by a :class:`Guard`: at most ``max_evals``
right-hand-side evaluations (:data:`MAX_EVALS` by default), at most
``simulation_time_limit`` wall seconds (:data:`SIMULATION_TIME_LIMIT`), and
one blow-up rule: **a state outside the guard's box, or a non-finite state,
on an accepted solver step or at an output time is a blow-up** (the trial
stages of a step that the solver then rejects may wander). A stopped
simulation raises :class:`GuardTripped` with a reason in words and a kind
(``"blow-up"``, ``"steps"``, ``"time"`` or ``"solver"``); nothing else escapes.

Candidate models are systems with parameters ``theta``: :class:`CompiledSystem`
(``dx_i/dt = sum_k theta_k * term_k(x)``, fast, for discovered models) and
:class:`ExpressionSystem` (any right-hand side, may use the time ``t``, for
user models and inner constants). :func:`simulate_batch` integrates a batch of
start states of either, optionally with the forward sensitivities
``dx/dtheta`` and ``dx/dx0`` (derivatives by sympy).

Examples
--------
>>> import numpy as np
>>> import sympy as sp
>>> x, k = sp.symbols("x k")
>>> system = ExpressionSystem(["x"], [-k * x], ["k"])
>>> xs, s_th, _ = simulate_batch(system, np.array([0.5]), np.array([[2.0]]),
...                              np.array([0.0, 1.0]), guard=Guard(), sensitivities=True)
>>> round(float(xs[0, 1, 0]), 6), round(float(s_th[0, 1, 0, 0]), 6)  # 2 e^-0.5, -2 e^-0.5
(1.213061, -1.213061)
"""

# Over 600 lines: the one guarded simulator and the two kinds of system it runs
# (discovered models, any right-hand side) belong together: one evaluation
# budget, one blow-up rule, one calling convention f(t, x, u).

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
    "MAX_EVALS",
    "EVALS_PER_BREAK",
    "SIMULATION_TIME_LIMIT",
    "Guard",
    "GuardTripped",
    "CompiledSystem",
    "ExpressionSystem",
    "guarded_solve",
    "simulate_batch",
    "batch_inputs",
    "blas_single_thread",
    "single_threaded",
]

#: The one evaluation budget: most right-hand-side evaluations of one simulation.
#: The shipped problems need at most 8.7k (rossler's data at rtol 1e-10).
MAX_EVALS = 20_000
#: Evaluations added to the budget per solver restart at a break: a restart
#: begins a fresh step-size search, about 14 evaluations of DOP853 before its
#: first accepted step, so hundreds of breaks would spend the budget alone.
EVALS_PER_BREAK = 100
#: Most wall seconds of one simulation.
SIMULATION_TIME_LIMIT = 10.0
#: A huge absolute tolerance switches error control off for sensitivity components:
#: steps are chosen by the states alone (the states decide the accuracy we need).
_NO_ERROR_CONTROL = 1e100
#: Exceptions a right-hand side may raise on arithmetic trouble (math functions, 0/0).
_ARITHMETIC = (FloatingPointError, OverflowError, ZeroDivisionError, ValueError)


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


@dataclass(frozen=True)
class Guard:
    """Limits of one simulation.

    Parameters
    ----------
    max_evals : int
        Most right-hand-side evaluations (a stiff or exploding model needs many).
    simulation_time_limit : float or None
        Most wall-clock seconds (None: no wall limit, e.g. for generating data,
        which must not depend on the machine's speed).
    lower, upper : ndarray (d,) or None
        The box: a state outside ``[lower, upper]`` counts as a blow-up.
    scale : ndarray (d,) or None
        Typical magnitude of each state, for the solver's absolute tolerance
        (default: the start states).
    """

    max_evals: int = MAX_EVALS
    simulation_time_limit: float | None = SIMULATION_TIME_LIMIT
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    scale: np.ndarray | None = None

    @classmethod
    def around(
        cls,
        points: np.ndarray,
        margin: float = 10.0,
        floor: float = 1e-3,
        least: float = 0.0,
        **kwargs: Any,
    ) -> Guard:
        """A guard whose box is the range of ``points`` widened by ``margin`` widths each side.

        A state's width is its range, at least ``floor`` times its largest magnitude
        and at least ``least`` (1 where all are 0). Missing values (NaN) are left
        out; a state without any value is centred on 0.

        Examples
        --------
        >>> g = Guard.around(np.array([[0.0], [2.0]]), margin=5.0)
        >>> float(g.lower[0]), float(g.upper[0]), float(g.scale[0])
        (-10.0, 12.0, 2.0)
        """
        x = np.atleast_2d(np.asarray(points, dtype=float))
        seen = np.isfinite(x).any(axis=0)
        x = np.where(seen, x, 0.0)
        lo, hi = np.nanmin(x, axis=0), np.nanmax(x, axis=0)
        big = np.maximum(np.abs(hi), np.abs(lo))
        width = np.maximum(np.maximum(hi - lo, floor * big), least)
        width = np.where(width > 0, width, 1.0)
        scale = np.maximum(big, width)
        return cls(lower=lo - margin * width, upper=hi + margin * width, scale=scale, **kwargs)


class GuardTripped(Exception):
    """A guarded simulation stopped; ``reason`` says why in words.

    ``kind`` is ``"blow-up"``, ``"steps"`` (evaluation budget), ``"time"`` or ``"solver"``.
    """

    def __init__(self, reason: str, kind: str):
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


def _blow_up(x: np.ndarray, t: float, guard: Guard, names: Sequence[str]) -> GuardTripped:
    """The blow-up of the first state of ``x`` (b, d) that is non-finite or outside the box."""
    if not np.isfinite(x).all():
        return GuardTripped(f"non-finite state at t={t:.4g} (blow-up)", "blow-up")
    room = np.minimum(guard.upper - x, x - guard.lower)
    i, j = np.unravel_index(int(np.argmin(room)), room.shape)
    name = names[j] if j < len(names) else f"x{j}"
    return GuardTripped(
        f"blow-up: state '{name}' reached {x[i, j]:.4g} at t={t:.4g}, far outside the "
        f"data's range (allowed: [{guard.lower[j]:.4g}, {guard.upper[j]:.4g}])",
        "blow-up",
    )


def _outside(x: np.ndarray, guard: Guard) -> bool:
    if not np.isfinite(x).all():
        return True
    if guard.lower is None or guard.upper is None:
        return False
    return bool(((x < guard.lower) | (x > guard.upper)).any())


def guarded_solve(
    fun: Callable[[float, np.ndarray], np.ndarray],
    t_span: tuple[float, float],
    y0: np.ndarray,
    t_eval: np.ndarray,
    *,
    guard: Guard,
    d: int,
    n_states: int | None = None,
    names: Sequence[str] = (),
    method: str = "DOP853",
    rtol: float = 1e-8,
    atol: float | np.ndarray = 1e-10,
    breaks: np.ndarray | None = None,
) -> np.ndarray:
    """``solve_ivp`` under ``guard``: the solution at ``t_eval``, shape (len(y0), n).

    The first ``n_states`` entries of ``y`` (default: all) are states, ``d`` per
    batch member, and the box applies to them; further entries (sensitivities)
    are not checked. ``breaks`` are times where ``fun`` is not smooth (the
    samples of an input signal): the solver restarts at each, instead of
    shrinking its steps to cross them, and the evaluation budget grows by
    :data:`EVALS_PER_BREAK` per restart.

    Raises
    ------
    GuardTripped
        Blow-up, too many evaluations, time limit or solver failure, in words.

    Examples
    --------
    >>> y = guarded_solve(lambda t, y: -y, (0.0, 1.0), np.array([1.0]), np.array([1.0]),
    ...                   guard=Guard(), d=1)
    >>> round(float(y[0, 0]), 6)
    0.367879
    >>> guarded_solve(lambda t, y: y**2, (0.0, 2.0), np.array([1.0]), np.array([2.0]),
    ...               guard=Guard.around([[0.0], [2.0]], margin=1.0), d=1, names=["x"])
    Traceback (most recent call last):
    ...
    sysid.core.ode.GuardTripped: blow-up: state 'x' reached 4 at t=0.75, far outside the data's...
    """
    y0 = np.asarray(y0, dtype=float)
    t_eval = np.asarray(t_eval, dtype=float)
    n_x = y0.size if n_states is None else int(n_states)
    t0, t1 = float(t_span[0]), float(t_span[1])
    if t1 <= t0:
        y = np.repeat(y0[:, None], t_eval.size, axis=1)
    else:
        y = _pieces(
            fun, (t0, t1), y0, t_eval, breaks, guard=guard, d=d, n_x=n_x, names=names,
            method=method, rtol=rtol, atol=atol,
        )  # fmt: skip
    for k in range(t_eval.size):
        x = y[:n_x, k].reshape(-1, d)
        if _outside(x, guard):
            raise _blow_up(x, float(t_eval[k]), guard, names)
    return y


def _pieces(fun, t_span, y0, t_eval, breaks, **kw) -> np.ndarray:
    """``_solve`` from break to break (one call without breaks inside ``t_span``).

    Inside each piece the right-hand side sees times strictly inside it, so an
    input held constant between samples takes its value on that piece even at
    the piece's ends (the solver's last stage sits on the next sample).
    """
    t0, t1 = t_span
    knots = np.asarray([] if breaks is None else breaks, dtype=float)
    tol = 1e-9 * (t1 - t0)  # samples of shifted copies of one grid differ by roundoff
    knots = np.unique(knots[(knots > t0 + tol) & (knots < t1 - tol)])
    if knots.size > 1:
        knots = knots[np.r_[True, np.diff(knots) > tol]]
    if knots.size == 0:
        return _solve(fun, t_span, y0, t_eval, **kw)
    kw["budget"] = {  # shared by the pieces
        "count": [0],
        "start": time.perf_counter(),
        "extra": EVALS_PER_BREAK * knots.size,
    }
    edges = np.r_[t0, knots, t1]
    out = np.empty((y0.size, t_eval.size))
    y, done = y0, 0
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        stop = int(np.searchsorted(t_eval, b, side="right"))
        ends_on_b = stop > done and t_eval[stop - 1] == b
        pts = t_eval[done:stop] if ends_on_b else np.r_[t_eval[done:stop], b]
        lo, hi = a + 1e-9 * (b - a), b - 1e-9 * (b - a)

        def inside(t: float, yy: np.ndarray, lo: float = lo, hi: float = hi) -> np.ndarray:
            return fun(min(max(t, lo), hi), yy)

        ys = _solve(inside, (float(a), float(b)), y, pts, **kw)
        out[:, done:stop] = ys[:, : stop - done]
        y, done = ys[:, -1], stop
    return out


def _solve(
    fun, t_span, y0, t_eval, *, method, rtol, atol, guard, d, n_x, names, budget=None
) -> np.ndarray:
    """The guarded ``solve_ivp`` call of :func:`guarded_solve` (``t_span`` not empty)."""
    budget = budget or {"count": [0], "start": time.perf_counter()}
    start, count = budget["start"], budget["count"]
    most = guard.max_evals + int(budget.get("extra", 0))
    limit = guard.simulation_time_limit

    def counted(t: float, y: np.ndarray) -> np.ndarray:
        count[0] += 1
        if count[0] > most:
            raise GuardTripped(
                f"more than {most} right-hand-side evaluations by t={t:.4g} "
                "(stiff or nearly singular model); try increasing max_evals",
                "steps",
            )
        if limit is not None and count[0] % 50 == 0 and time.perf_counter() - start > limit:
            raise GuardTripped(
                f"wall time limit of {limit:g} s reached at t={t:.4g}; try a larger time limit",
                "time",
            )
        return fun(t, y)

    # The box is checked on accepted steps only (an event): the trial stages of a
    # step that the solver then rejects may legitimately wander far.
    def leave_box(t: float, y: np.ndarray) -> float:
        x = y[:n_x]
        if not np.isfinite(x).all():
            return -1.0
        if guard.lower is None or guard.upper is None:
            return 1.0
        x = x.reshape(-1, d)
        return float(min((guard.upper - x).min(), (x - guard.lower).min()))

    leave_box.terminal = True  # type: ignore[attr-defined]
    leave_box.direction = -1  # type: ignore[attr-defined]
    with np.errstate(all="ignore"):
        try:
            sol = solve_ivp(
                counted,
                t_span,
                y0,
                method=method,
                t_eval=t_eval,
                rtol=rtol,
                atol=atol,
                events=[leave_box],
            )
        except _ARITHMETIC as err:
            raise GuardTripped(f"arithmetic error in the model ({err})", "solver") from None
    if sol.status == 1:  # left the box
        x_out = sol.y_events[0][0][:n_x].reshape(-1, d)
        raise _blow_up(x_out, float(sol.t_events[0][0]), guard, names)
    if sol.status != 0 or sol.y.shape[1] != t_eval.size:
        raise GuardTripped(f"ODE solver failed: {sol.message}", "solver")
    return sol.y


# --------------------------------------------------------------------------- systems
class _Columns:
    """Compiled ``(t, x (n, d), theta) -> [e_1, ..., e_k] (n, k)`` for sympy expressions.

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

    def __call__(self, *args: Any) -> np.ndarray:
        n = args[0].shape[0] if isinstance(args[0], np.ndarray) else 1
        out = np.empty((n, self.k))
        out[:] = self.const
        if self._f is not None:
            with np.errstate(all="ignore"):
                vals = self._f(*args)
            try:
                out[:, self.var] = np.array(vals, dtype=float).T
            except ValueError:  # a scalar among arrays
                for j, v in zip(self.var, vals, strict=True):
                    out[:, j] = v
        return out


class CompiledSystem:
    """The right-hand side ``f(x, u; theta)`` of a candidate model, linear in ``theta``.

    Parameters
    ----------
    states : sequence of str
    params : sequence of (int, sympy.Expr)
        One entry per coefficient: the equation (state index) it belongs to and
        the term it multiplies.
    inputs : sequence of str
        Names of exogenous inputs the terms may use (their values are passed
        at each evaluation; the sensitivities are with respect to the states).
    fixed : sequence of (int, sympy.Expr, float)
        Terms with a held coefficient (known physics): equation, term, value.
        They are part of every evaluation and have no entry in ``theta``.
    """

    autonomous = True

    def __init__(
        self,
        states: Sequence[str],
        params: Sequence[tuple[int, sp.Expr]],
        inputs: Sequence[str] = (),
        fixed: Sequence[tuple[int, sp.Expr, float]] = (),
    ):
        self.states = tuple(states)
        self.inputs = tuple(inputs)
        self.symbols = state_symbols(self.states)
        self.d = len(self.states)
        self.params = [(int(i), sp.sympify(term)) for i, term in params]
        held = [(int(i), sp.sympify(term), float(v)) for i, term, v in fixed]
        every = [term for _, term in self.params] + [term for _, term, _ in held]
        self.union: list[sp.Expr] = list(dict.fromkeys(every))
        where = {term: u for u, term in enumerate(self.union)}
        self.eq_of = np.array([i for i, _ in self.params], dtype=np.int64)
        self.term_of = np.array([where[term] for _, term in self.params], dtype=np.int64)
        self._held = [(where[term], i, v) for i, term, v in held]
        self.n_params = len(self.params)
        self.m = max(len(self.union), 1)
        union = self.union or [sp.Integer(0)]
        args = (*self.symbols, *state_symbols(self.inputs))
        self._f = _Columns(union, args)
        grads = [sp.diff(term, s) for term in union for s in self.symbols]
        self._g = _Columns(grads, args)

    def _args(self, x: np.ndarray, u: np.ndarray | None) -> list[np.ndarray]:
        if not self.inputs:
            return list(x.T)
        if u is None:
            raise ValueError(f"this system needs the inputs {list(self.inputs)}")
        u = np.broadcast_to(np.asarray(u, dtype=float), (x.shape[0], len(self.inputs)))
        return [*x.T, *u.T]

    def coefficient_matrix(self, theta: np.ndarray) -> np.ndarray:
        """Coefficients as a matrix ``C`` (terms x states): ``f = Theta(x) @ C``."""
        c = np.zeros((self.m, self.d))
        np.add.at(c, (self.term_of, self.eq_of), np.asarray(theta, dtype=float))
        for u, i, v in self._held:
            c[u, i] += v
        return c

    def terms(self, x: np.ndarray, u: np.ndarray | None = None) -> np.ndarray:
        """Term values at states ``x`` (n, d) and inputs ``u`` (n, k): shape (n, m)."""
        return self._f(*self._args(x, u))

    def term_gradients(self, x: np.ndarray, u: np.ndarray | None = None) -> np.ndarray:
        """Derivatives of the terms with respect to the states: shape (n, m, d)."""
        return self._g(*self._args(x, u)).reshape(x.shape[0], self.m, self.d)

    def rhs(self, x: np.ndarray, c: np.ndarray, u: np.ndarray | None = None) -> np.ndarray:
        """``dx/dt`` at states ``x`` (n, d) (and inputs ``u``) for coefficient matrix ``c``."""
        return self.terms(x, u) @ c

    def bind(self, theta: np.ndarray) -> tuple[Callable, Callable]:
        """``f(t, x, u) -> (b, d)``; ``jac(t, x, u) -> (f, df/dx (b,d,d), df/dtheta (b,d,p))``."""
        c = self.coefficient_matrix(theta)
        p = self.n_params
        eq_of, term_of = self.eq_of, self.term_of

        def f(t: float, x: np.ndarray, u: np.ndarray | None = None) -> np.ndarray:
            return self.terms(x, u) @ c

        def both(
            t: float, x: np.ndarray, u: np.ndarray | None = None
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            th = self.terms(x, u)
            jx = np.einsum("smj,mi->sij", self.term_gradients(x, u), c)
            jth = np.zeros((x.shape[0], self.d, p))
            jth[:, eq_of, np.arange(p)] = th[:, term_of]
            return th @ c, jx, jth

        return f, both


class ExpressionSystem:
    """The right-hand side ``f(t, x; theta)`` of any model given as sympy expressions.

    Symbols are matched by name: states, parameters and ``t`` (the time; a
    system without ``t`` is autonomous). The derivatives for the forward
    sensitivities come from sympy; ``has_sensitivities`` is False when one
    of them cannot be evaluated numerically (then fits use finite differences).

    Parameters
    ----------
    states : sequence of str
    rhs : sequence of sympy.Expr
        ``dx_i/dt``, one per state.
    params : sequence of str
        The parameters ``theta`` in order; every other symbol must be a state or ``t``.
    sensitivities : bool
        False: no derivatives (fits then use finite differences).
    inputs : sequence of str
        Names of exogenous inputs; their values are passed at each evaluation.
    """

    def __init__(
        self,
        states: Sequence[str],
        rhs: Sequence[sp.Expr],
        params: Sequence[str],
        sensitivities: bool = True,
        inputs: Sequence[str] = (),
    ) -> None:
        self.states = tuple(str(s) for s in states)
        self.inputs = tuple(str(u) for u in inputs)
        self.d = len(self.states)
        self.param_names = tuple(str(p) for p in params)
        self.n_params = len(self.param_names)
        xs = [sp.Dummy(s, real=True) for s in self.states]
        us = [sp.Dummy(u, real=True) for u in self.inputs]
        ps = [sp.Dummy(p, real=True) for p in self.param_names]
        t = sp.Dummy("t", real=True)
        by_name = {
            **dict(zip(self.states, xs, strict=True)),
            **dict(zip(self.inputs, us, strict=True)),
            **dict(zip(self.param_names, ps, strict=True)),
        }
        by_name.setdefault("t", t)
        exprs = []
        for e in rhs:
            e = sp.sympify(e)
            extra = sorted(s.name for s in e.free_symbols if s.name not in by_name)
            if extra:
                raise ValueError(f"unknown symbols {extra} in {e}")
            exprs.append(e.xreplace({s: by_name[s.name] for s in e.free_symbols}))
        self.autonomous = not any(t in e.free_symbols for e in exprs)
        args = [t, *xs, *us, *ps]
        self._f = _Columns(exprs, args)
        self._jac: _Columns | None = None
        if not sensitivities:
            return
        # d sign(x)/dx = 2 DiracDelta(x) is 0 wherever it can be evaluated.
        derivs = [sp.diff(e, v) for e in exprs for v in (*xs, *ps)]
        derivs = [e.replace(sp.DiracDelta, lambda *a: sp.Integer(0)) for e in derivs]
        if not any(e.has(sp.Derivative, sp.Subs) for e in derivs):
            try:
                self._jac = _Columns(derivs, args)
                self._jac(np.zeros(1), *np.ones((len(args) - 1, 1)))
            except Exception:  # noqa: BLE001 - no numeric derivative: finite differences
                self._jac = None

    @property
    def has_sensitivities(self) -> bool:
        return self._jac is not None

    def bind(self, theta: np.ndarray) -> tuple[Callable, Callable | None]:
        """``f(t, x) -> (b, d)`` and ``jac(t, x)`` as :meth:`CompiledSystem.bind` (or None)."""
        theta = [float(v) for v in np.asarray(theta, dtype=float)]
        d, p = self.d, self.n_params

        def args(t: float, x: np.ndarray, u: np.ndarray | None) -> list:
            tt = np.full(x.shape[0], t)
            if not self.inputs:
                return [tt, *x.T, *theta]
            if u is None:
                raise ValueError(f"this system needs the inputs {list(self.inputs)}")
            u = np.broadcast_to(np.asarray(u, dtype=float), (x.shape[0], len(self.inputs)))
            return [tt, *x.T, *u.T, *theta]

        def f(t: float, x: np.ndarray, u: np.ndarray | None = None) -> np.ndarray:
            return self._f(*args(t, x, u))

        if self._jac is None:
            return f, None

        def both(
            t: float, x: np.ndarray, u: np.ndarray | None = None
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            j = self._jac(*args(t, x, u)).reshape(x.shape[0], d, d + p)
            return f(t, x, u), j[:, :, :d], j[:, :, d:]

        return f, both


#: Most solver restarts of one simulation at input samples (more: one solve, small steps).
MAX_BREAKS = 5000


def batch_inputs(
    signals: Sequence[Callable[[float], np.ndarray]],
    starts: Sequence[float],
    ends: Sequence[float] | None = None,
) -> Callable[[float], np.ndarray] | None:
    """The inputs of a batch in local time: member ``i`` reads ``signals[i](starts[i] + t)``.

    None when no member has inputs. Each signal maps an absolute time to its
    input values (:class:`sysid.data.inputs.InputSignal`). ``ends`` (local
    times, optional) is where each member's output stops: the solver then
    restarts only at the kinks a member meets before its end, so many short
    windows of one long signal do not restart it at every sample of all, and
    past its end a member holds its inputs (its states there are not used).

    Examples
    --------
    >>> import numpy as np
    >>> u = batch_inputs([lambda t: np.array([t]), lambda t: np.array([2 * t])], [0.0, 1.0])
    >>> u(0.5).tolist()
    [[0.5], [3.0]]
    """
    if not signals or all(s is None for s in signals):
        return None
    pairs = list(zip(signals, [float(v) for v in starts], strict=True))
    local = [np.asarray(getattr(s, "t", []), float) - t0 for s, t0 in pairs]
    stop = np.full(len(pairs), np.inf) if ends is None else np.asarray(ends, dtype=float)
    at = _stacked_reader([s for s, _ in pairs], local, stop)
    clocks = {bool(getattr(s, "clock", False)) for s, _ in pairs}
    if at is not None and clocks == {True}:  # the clock reads the time itself
        at = _with_clock(at, np.array([t0 for _, t0 in pairs]))
    elif at is None or len(clocks) > 1:

        def at(t: float) -> np.ndarray:
            t = float(t)
            return np.stack([sig(t0 + min(t, e)) for (sig, t0), e in zip(pairs, stop, strict=True)])

    # Where the right-hand side has kinks: the signals' samples (none for a clock alone).
    kinks = [_kinks(s) - t0 for s, t0 in pairs]
    knots = np.unique(np.concatenate([k[k < e] for k, e in zip(kinks, stop, strict=True)]))
    at.breaks = knots if knots.size <= MAX_BREAKS else None  # type: ignore[attr-defined]
    return at


def _kinks(signal: Any) -> np.ndarray:
    """Where the solver restarts for ``signal``: its samples (none for a clock alone)."""
    if getattr(signal, "clock", False) and signal.m == 1:
        return np.zeros(0)
    return np.asarray(getattr(signal, "t", []), float)


def _with_clock(
    at: Callable[[float], np.ndarray], starts: np.ndarray
) -> Callable[[float], np.ndarray]:
    """``at`` with its last column, the clock, set to each member's absolute time."""

    def clocked(t: float) -> np.ndarray:
        out = at(t).copy()
        out[:, -1] = starts + float(t)
        return out

    return clocked


def _stacked_reader(
    sigs: list[Any], local: list[np.ndarray], stop: np.ndarray
) -> Callable[[float], np.ndarray] | None:
    """One vectorised reader of several linear or held signals, or None for other signals.

    ``local`` holds each signal's sample times in the batch's local time;
    member ``i`` reads nothing later than ``stop[i]``. The
    members' samples are laid end to end with a gap between members, so one
    ``searchsorted`` finds every member's interval; the values come from the
    same formula as ``InputSignal`` (sample plus elapsed time times slope), so
    both readers agree.
    """
    kinds = {getattr(s, "interpolation", None) for s in sigs}
    if len(kinds) != 1 or not kinds <= {"linear", "hold"}:
        return None
    if len({s.u.shape[1] for s in sigs}) != 1:
        return None
    lo = np.array([t[0] for t in local])
    hi = np.array([t[-1] for t in local])
    gap = float(np.max(hi - lo)) + 1.0
    read_hi = np.maximum(np.minimum(hi, stop), lo)
    offset = gap * np.arange(len(sigs)) - lo  # member i's samples start at gap * i
    keys = np.concatenate([t + o for t, o in zip(local, offset, strict=True)])
    times = np.concatenate(local)
    values = np.concatenate([s.u for s in sigs])
    hold = kinds == {"hold"}
    slopes = np.concatenate(
        [np.vstack([np.diff(s.u, axis=0) / np.diff(s.t)[:, None], 0 * s.u[:1]]) for s in sigs]
    )
    sizes = np.array([t.size for t in local])
    first = np.r_[0, np.cumsum(sizes)[:-1]]
    last = first + sizes - 1

    def at(t: float) -> np.ndarray:
        tc = np.clip(float(t), lo, read_hi)
        j = np.clip(np.searchsorted(keys, tc + offset, side="right") - 1, first, last)
        if hold:
            return values[j]
        return values[j] + (tc - times[j])[:, None] * slopes[j]

    return at


def simulate_batch(
    system: CompiledSystem | ExpressionSystem,
    theta: np.ndarray,
    x0: np.ndarray,
    t_eval: np.ndarray,
    *,
    guard: Guard,
    sensitivities: bool = False,
    rtol: float = 1e-8,
    method: str = "DOP853",
    t_start: float = 0.0,
    inputs: Callable[[float], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Integrate a batch of start states from local time 0 to ``t_eval[-1]``.

    Parameters
    ----------
    system : CompiledSystem or ExpressionSystem
    theta : ndarray (p,)
    x0 : ndarray (b, d)
        Start states, all at local time 0 (absolute time ``t_start``).
    t_eval : ndarray (n,)
        Increasing local output times, at or after 0.
    guard : Guard
    sensitivities : bool
        Also integrate ``dx/dtheta`` and ``dx/dx0`` (the system must have them).
    t_start : float
        Absolute time of local time 0 (matters for non-autonomous systems only).
    inputs : callable, optional
        For a system with inputs: local time -> the inputs of each member, (b, k)
        (:func:`batch_inputs`).

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
    x0 = np.asarray(x0, dtype=float)
    b, d = x0.shape
    p = system.n_params
    n_x = b * d
    f, both = system.bind(theta)
    scale = np.abs(x0).max(axis=0) if guard.scale is None else np.asarray(guard.scale, float)
    atol_x = np.tile(rtol * 1e-2 * (scale + 1e-12), b)
    if sensitivities:
        if both is None:
            raise ValueError("this system has no sensitivities")

        def fun(t: float, y: np.ndarray) -> np.ndarray:
            x = y[:n_x].reshape(b, d)
            s = y[n_x : n_x + b * d * p].reshape(b, d, p)
            z = y[n_x + b * d * p :].reshape(b, d, d)
            fx, jx, jth = both(t_start + t, x, None if inputs is None else inputs(t))
            return np.concatenate([fx.ravel(), (jx @ s + jth).ravel(), (jx @ z).ravel()])

        eye = np.broadcast_to(np.eye(d), (b, d, d))
        y0 = np.concatenate([x0.ravel(), np.zeros(b * d * p), eye.ravel()])
        atol = np.concatenate([atol_x, np.full(b * d * (p + d), _NO_ERROR_CONTROL)])
    else:

        def fun(t: float, y: np.ndarray) -> np.ndarray:
            u = None if inputs is None else inputs(t)
            return f(t_start + t, y.reshape(b, d), u).ravel()

        y0, atol = x0.ravel(), atol_x
    t_eval = np.asarray(t_eval, dtype=float)
    y = guarded_solve(
        fun,
        (0.0, float(t_eval[-1])),
        y0,
        t_eval,
        guard=guard,
        d=d,
        n_states=n_x,
        names=system.states,
        method=method,
        rtol=rtol,
        atol=atol,
        breaks=getattr(inputs, "breaks", None),
    )
    n = t_eval.size
    x = y[:n_x].reshape(b, d, n).transpose(0, 2, 1)
    if not sensitivities:
        return x, None, None
    s = y[n_x : n_x + b * d * p].reshape(b, d, p, n).transpose(0, 3, 1, 2)
    z = y[n_x + b * d * p :].reshape(b, d, d, n).transpose(0, 3, 1, 2)
    return x, s, z
