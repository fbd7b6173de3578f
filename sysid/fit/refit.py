"""Refit constants through the ODE solver, and choose the model by held-out simulation.

:func:`refine` refits the coefficients of a candidate system (and the start
state of each stretch of data) by minimising the error of simulated against
measured trajectories with ``scipy.optimize.least_squares``; the Jacobian comes
from forward sensitivities integrated with the states. The fit starts on short
windows (multiple shooting: a window cannot drift far from the data) and
continues on ever longer ones up to whole trajectories (single shooting), which
walks around the local minima of long oscillatory records. This removes the
bias a smoother leaves in derivative-based coefficients, and gives each
coefficient a standard error by the one covariance rule of
:mod:`sysid.fit.engine` (the same rule as gray-box fits:
:func:`sysid.fit.graybox.fit_model`). Model selection, which calls
:func:`refine` for every candidate, lives in :mod:`sysid.select.selection`.

Examples
--------
>>> import sysid
>>> from sysid.fit.refit import refine
>>> data = sysid.simulate("lotka-volterra", n_samples=60)
>>> fit = refine({"x": "1.0*x - 0.45*x*y", "y": "0.11*x*y - 0.36*y"}, data)
>>> fit.success, fit.equations()["x"]
(True, -0.4*x*y + 1.1*x)
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from sysid.core.errors import ConfigError, EquationError
from sysid.core.expressions import parse_equation, state_symbols
from sysid.core.ode import (
    MAX_EVALS,
    SIMULATION_TIME_LIMIT,
    CompiledSystem,
    Guard,
    single_threaded,
)
from sysid.core.renamed import renamed_keywords
from sysid.data.dataset import Dataset, Trajectory, load_data
from sysid.fit.engine import Fit, Segment, covariance
from sysid.fit.shooting import (
    MIN_SEGMENT,
    continued_starts,
    data_scales,
    mean_square,
    segment_lengths,
    segments,
    shoot,
    window_length,
)
from sysid.symbolic.model import SymbolicModel, TermEstimate, _check_positive, expression_terms
from sysid.symbolic.sparse import Candidate

__all__ = [
    "RefitResult",
    "refine",
]

_SystemLike = Mapping[str, Any] | Sequence[Candidate] | SymbolicModel
#: The old name of :func:`sysid.fit.shooting.data_scales` (select_model imports it).
_scales = data_scales


# --------------------------------------------------------------- options
def _require(ok: bool, name: str, wanted: str, value: Any, hint: str | None = None) -> None:
    """A :class:`ConfigError` "``name`` must be ``wanted``, found ``value``" unless ``ok``."""
    if not ok:
        raise ConfigError(
            f"{name} must be {wanted}, found {value!r}", source=f"argument '{name}'", hint=hint
        )


def _is_finite(value: Any) -> bool:
    """A real number (not a bool, not text) that is finite."""
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    return real and math.isfinite(value)


def _check_positives(integers: Sequence[str] = (), **values: Any) -> None:
    """Each of ``values`` a finite number > 0; those named in ``integers`` an integer >= 1."""
    for name, value in values.items():
        _check_positive(value, name, f"argument '{name}'", integer=name in integers)


def _check_segment_points(value: Any) -> None:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 2
    _require(value is None or ok, "segment_points", "None or an integer >= 2", value)


# ----------------------------------------------------------- system parsing
def _system_params(
    system: _SystemLike, states: tuple[str, ...], inputs: tuple[str, ...] = ()
) -> tuple[list[tuple[int, sp.Expr]], np.ndarray, np.ndarray]:
    """(equation index, term) per coefficient, the starting coefficients, and which are held.

    Held coefficients are those of fixed known terms (``TermEstimate.fixed``,
    ``Candidate.fixed``): part of every simulation, never fitted.
    """
    symbols = state_symbols(states) + state_symbols(inputs)
    names = {s.name: s for s in symbols}
    if isinstance(system, SymbolicModel):
        if tuple(system.states) != states:
            raise ConfigError(
                f"model states {list(system.states)} differ from data states {list(states)}",
                source="refine",
            )
        params = [(states.index(t.state), t.term) for t in system.terms]
        held = np.array([t.fixed for t in system.terms], dtype=bool)
        return params, np.array([t.coefficient for t in system.terms], dtype=float), held
    if not isinstance(system, Mapping):
        items = list(system)
        if not all(isinstance(c, Candidate) for c in items):
            raise ConfigError(
                "expected a dict state -> equation, a list of Candidates or a SymbolicModel, "
                f"found {type(system).__name__}",
                source="refine",
            )
        system = {c.state: c for c in items}
    missing = [s for s in states if s not in system]
    unknown = [s for s in system if s not in states]
    if missing or unknown:
        raise ConfigError(
            f"the system needs one equation per state {list(states)}; missing {missing}, "
            f"unknown {unknown}",
            source="refine",
            hint="give an equation (possibly '0') for every state of the data",
        )
    params: list[tuple[int, sp.Expr]] = []
    theta: list[float] = []
    held: list[bool] = []
    for i, s in enumerate(states):
        eq = system[s]
        fixed: set[str] = set()
        if isinstance(eq, Candidate):
            pairs = [
                (_rename(t, names), float(c))
                for t, c in zip(eq.terms, eq.coefficients, strict=True)
            ]
            fixed = {str(_rename(t, names)) for t in eq.fixed}
        else:
            if isinstance(eq, str):
                expr = parse_equation(eq, names, source=f"equation of {s!r}")
            elif isinstance(eq, (sp.Basic, int, float)):
                expr = _rename(sp.sympify(eq), names)
            else:
                raise EquationError(
                    f"equation of {s!r} must be a string, sympy expression or Candidate, "
                    f"found {type(eq).__name__}",
                    source="refine",
                )
            pairs = expression_terms(expr, symbols)
        for term, coef in pairs:
            extra = sorted(str(f) for f in term.free_symbols - set(symbols))
            if extra or not np.isfinite(coef):
                raise EquationError(
                    f"term {coef}*{term} of {s!r} uses {extra} (not states {list(states)}"
                    + (f" or inputs {list(inputs)}" if inputs else "")
                    + ") or a non-finite coefficient",
                    source="refine",
                    hint="terms may depend on the data's states (and inputs) only",
                )
            params.append((i, term))
            theta.append(coef)
            held.append(str(term) in fixed)
    return params, np.array(theta, dtype=float), np.array(held, dtype=bool)


def _rename(expr: sp.Expr, names: Mapping[str, sp.Symbol]) -> sp.Expr:
    return expr.xreplace({f: names[f.name] for f in expr.free_symbols if f.name in names})


# ------------------------------------------------------------ public refit
@dataclass
class RefitResult:
    """Outcome of :func:`refine`; ``success`` False with a ``message`` when it failed.

    Attributes
    ----------
    states : tuple of str
    terms : list of (str, sympy.Expr)
        (state, term) of each coefficient.
    coefficients, stderr, initial_coefficients : ndarray (p,)
    fixed : ndarray (p,) of bool
        Held coefficients (fixed known terms; standard error 0); empty when none.
    initial_states : ndarray (n_trajectories, d)
        Fitted state at each trajectory's first sample time.
    segment_trajectory, segment_t0 : ndarray (k,)
        Trajectory index and start time of each shooting segment of the kept fit.
    segment_states : ndarray (k, d)
        Fitted state at the start of each segment.
    rss : ndarray (d,)
        Residual sum of squares of the simulated states, per state, in data units.
    n_samples : int
        Number of samples fitted: the most measured values of any state.
    n_observed : ndarray (d,) of int
        Measured values fitted per state (fewer than ``n_samples`` where values
        are missing: missing values have no residual).
    method : str
        ``"single shooting"`` or ``"multiple shooting (k segments)"``.
    success : bool
        True when a fit was obtained (the candidate simulates); False with the
        reason in ``message`` otherwise.
    message : str
    converged : bool
        Whether the least-squares iteration met its tolerances (otherwise it
        stopped at ``max_nfev`` or the time limit, keeping the best fit so far).
    nfev : int
        Simulations run.
    elapsed : float
        Seconds.
    """

    states: tuple[str, ...]
    terms: list[tuple[str, sp.Expr]]
    coefficients: np.ndarray
    stderr: np.ndarray
    initial_coefficients: np.ndarray
    initial_states: np.ndarray
    segment_trajectory: np.ndarray
    segment_t0: np.ndarray
    segment_states: np.ndarray
    rss: np.ndarray
    n_samples: int
    method: str
    success: bool
    message: str
    n_observed: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    correlation: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    converged: bool = False
    nfev: int = 0
    elapsed: float = 0.0
    fixed: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def term_estimates(self) -> list[TermEstimate]:
        """Coefficients with their standard errors (held ones marked ``fixed``)."""
        held = self.fixed if self.fixed.size == len(self.terms) else np.zeros(len(self.terms), bool)
        return [
            TermEstimate(s, t, float(c), None if h or not np.isfinite(e) else float(e), bool(h))
            for (s, t), c, e, h in zip(
                self.terms, self.coefficients, self.stderr, held, strict=True
            )
        ]

    def equations(self) -> dict[str, sp.Expr]:
        """Right-hand sides with coefficients rounded to their uncertainty."""
        return self.model().equations

    def model(self, **kwargs: Any) -> SymbolicModel:
        """The refitted :class:`~sysid.SymbolicModel` (keyword arguments pass through)."""
        return SymbolicModel(self.states, self.term_estimates(), **kwargs)


def _failed(states, params, theta0, n_traj, message, nfev, start, method) -> RefitResult:
    return RefitResult(
        states=states,
        terms=[(states[i], t) for i, t in params],
        coefficients=theta0.copy(),
        stderr=np.full(theta0.size, np.nan),
        initial_coefficients=theta0.copy(),
        initial_states=np.full((n_traj, len(states)), np.nan),
        segment_trajectory=np.zeros(0, dtype=int),
        segment_t0=np.zeros(0),
        segment_states=np.zeros((0, len(states))),
        rss=np.full(len(states), np.inf),
        n_samples=0,
        method=method,
        success=False,
        message=message,
        nfev=nfev,
        elapsed=time.perf_counter() - start,
    )


#: Deprecated keyword arguments of :func:`refine` and their new names.
_RENAMED = {
    "sim_time_limit": "simulation_time_limit",
    "polish": "continuation",  # it meant "continue to longer windows"
}


@single_threaded
def refine(
    system: _SystemLike,
    data: Dataset | Any,
    *,
    segment_points: int | None = 20,
    continuation: bool = True,
    max_nfev: int = 60,
    rtol: float = 1e-8,
    margin: float = 5.0,
    max_evals: int = MAX_EVALS,
    simulation_time_limit: float = SIMULATION_TIME_LIMIT,
    time_limit: float = 60.0,
    **deprecated: Any,
) -> RefitResult:
    """Refit a candidate system's coefficients against measured trajectories.

    Minimises the simulated-minus-measured states, each scaled by its standard
    deviation, over the coefficients and the start state of each window, with
    the one fitting engine (:mod:`sysid.fit.engine`: forward-sensitivity
    Jacobian, its covariance rule for the standard errors). Missing values
    (NaN) have no residual. The
    fit starts by multiple shooting on short windows of ``segment_points``
    samples (robust: a window cannot drift far from the data), then continues
    on windows twice as long, and so on up to whole trajectories (single
    shooting), each stage starting from the last. A stage is kept while it
    fits about as well as the previous one (mean squared residual at most 1.5
    times larger); this walks around the local minima that single shooting
    meets on long oscillatory or near-chaotic records.

    Parameters
    ----------
    system : dict state -> (str, sympy.Expr or Candidate), list of Candidate, or SymbolicModel
        The structure and the starting coefficients (e.g. from :func:`~sysid.distill`).
    data : Dataset (or anything :func:`sysid.load_data` reads)
        Raw (noisy) trajectories.
    segment_points : int or None
        Samples per window of the first stage (None: single shooting only);
        raised when more than 60 windows would be needed, halved (down to 10)
        when the model diverges within a window.
    continuation : bool
        Continue to longer windows after the first stage (up to whole trajectories).
    max_nfev : int
        Most least-squares iterations per stage.
    rtol : float
        Relative tolerance of the ODE solver.
    margin : float
        Blow-up box: the data's range widened by ``margin`` ranges on each side.
    max_evals : int
        Most right-hand-side evaluations per simulation.
    simulation_time_limit : float
        Most seconds per simulation (a slower one fails the candidate).
        ``sim_time_limit``, its old name, still works with a DeprecationWarning.
    time_limit : float
        Seconds for the whole refit (all stages); the best fit so far is kept
        when they run out.
    **deprecated
        ``sim_time_limit`` (now ``simulation_time_limit``) and ``polish`` (now
        ``continuation``) still work, with a DeprecationWarning.

    Returns
    -------
    RefitResult
        ``success`` is False, with the reason in ``message``, when the candidate
        cannot be simulated (blow-up, stiffness) from its starting coefficients.

    Examples
    --------
    >>> import sysid
    >>> data = sysid.simulate("sir", n_samples=40)
    >>> bad = refine({"S": "S**2", "I": "I**2", "R": "0.1*I"}, data)
    >>> bad.success, bad.message.split(":")[0]
    (False, 'blow-up')
    """
    start = time.perf_counter()
    renamed = renamed_keywords("refine", deprecated, _RENAMED)
    simulation_time_limit = renamed.get("simulation_time_limit", simulation_time_limit)
    continuation = renamed.get("continuation", continuation)
    _check_segment_points(segment_points)
    _check_positives(
        ("max_nfev", "max_evals"),
        max_nfev=max_nfev,
        rtol=rtol,
        margin=margin,
        max_evals=max_evals,
        simulation_time_limit=simulation_time_limit,
        time_limit=time_limit,
    )
    data = load_data(data)
    states = data.states
    every, theta_all, held = _system_params(system, states, data.input_names)
    params = [p for p, h in zip(every, held, strict=True) if not h]
    theta0 = theta_all[~held]
    fixed = [(i, t, v) for (i, t), v, h in zip(every, theta_all, held, strict=True) if h]
    compiled = CompiledSystem(states, params, data.input_names, fixed)
    sigma, x_all = data_scales(data)
    guard = Guard.around(
        x_all, margin=margin, max_evals=max_evals, simulation_time_limit=simulation_time_limit
    )
    trajs = list(data.trajectories)
    deadline = start + float(time_limit)
    run = _Stages(compiled, sigma, guard, rtol, max_nfev, deadline, float(time_limit))
    fit, segs, seg_len = _first_stage(run, trajs, window_length(trajs, segment_points), theta0)
    if not fit.ok:
        out = _failed(states, params, theta0, len(trajs), fit.message, run.nfev, start, "")
        return _with_held(out, every, theta_all, held)
    if continuation:
        fit, segs = _continued(run, trajs, fit, segs, seg_len)
    out = _refit_result(states, params, theta0, trajs, segs, fit, sigma, run.nfev, start)
    return _with_held(out, every, theta_all, held)


def _with_held(
    res: RefitResult, every: list[tuple[int, sp.Expr]], theta: np.ndarray, held: np.ndarray
) -> RefitResult:
    """``res`` (a fit of the free coefficients) with the held ones put back in their places.

    Held coefficients have standard error 0 and no correlation with the others.
    """
    if not held.any():
        return res
    free = np.flatnonzero(~held)
    coef, init, se = theta.copy(), theta.copy(), np.zeros(theta.size)
    coef[free], init[free], se[free] = res.coefficients, res.initial_coefficients, res.stderr
    corr = np.eye(theta.size)
    if res.correlation.shape == (free.size, free.size):
        corr[np.ix_(free, free)] = res.correlation
    res.terms = [(res.states[i], t) for i, t in every]
    res.coefficients, res.initial_coefficients, res.stderr = coef, init, se
    res.correlation, res.fixed = corr, held.copy()
    return res


def _first_stage(
    run: _Stages, trajs: list[Trajectory], seg_len: int | None, theta0: np.ndarray
) -> tuple[Fit, list[Segment], int | None]:
    """The first stage on windows of ``seg_len`` samples, halved while the model diverges.

    A model may diverge from a window's start before reaching its end: shorter
    windows (down to ``MIN_SEGMENT`` samples) are then tried before giving up.
    """
    while True:
        segs = segments(trajs, seg_len)
        fit = run.stage(segs, theta0, None)
        if fit.ok or not seg_len or seg_len <= MIN_SEGMENT:
            return fit, segs, seg_len
        seg_len = max(MIN_SEGMENT, seg_len // 2)


def _continued(
    run: _Stages, trajs: list[Trajectory], fit: Fit, segs: list[Segment], seg_len: int | None
) -> tuple[Fit, list[Segment]]:
    """Continue on windows twice as long, up to whole trajectories, while the fit holds.

    A stage is kept while its mean squared residual is at most 1.5 times the
    previous one's; the walk stops at the refit's deadline.
    """
    longest = max(tr.n_samples for tr in trajs)
    for length in segment_lengths(seg_len, longest)[1:]:
        longer = segments(trajs, length)
        if len(longer) == len(segs) and length is not None:
            continue
        if time.perf_counter() >= run.deadline:
            break
        x0 = continued_starts(run.compiled, fit, segs, longer, run.guard)
        nxt = run.stage(longer, fit.theta, x0)
        if not nxt.ok or mean_square(nxt) > 1.5 * mean_square(fit) + (100 * run.rtol) ** 2:
            break
        fit, segs = nxt, longer
    return fit, segs


class _Stages:
    """One engine fit per continuation stage, all within the refit's deadline."""

    def __init__(self, compiled, sigma, guard, rtol, max_nfev, deadline, time_limit):
        self.args = (compiled, sigma, guard)
        self.compiled, self.guard = compiled, guard
        self.rtol, self.max_nfev, self.deadline = rtol, max_nfev, deadline
        self.time_limit = time_limit
        self.nfev = 0

    def stage(self, segs: list, theta: np.ndarray, x0: np.ndarray | None) -> Fit:
        compiled, sigma, guard = self.args
        left = max(self.deadline - time.perf_counter(), 0.0)
        fit = shoot(
            compiled,
            segs,
            sigma,
            guard,
            theta,
            fit_theta=True,
            x0=x0,
            rtol=self.rtol,
            max_nfev=self.max_nfev,
            time_limit=left,
        )
        self.nfev += fit.nfev
        if fit.stopped == "time":
            fit.message = (
                f"time limit of {self.time_limit:g} s reached; the best fit so far is kept"
            )
        return fit


def _correlation(cov: np.ndarray) -> np.ndarray:
    """Correlations from a covariance; NaN where a variance is zero or not finite."""
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None)) if cov.size else np.zeros(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = cov / np.outer(sd, sd)
    out[~np.isfinite(out)] = np.nan
    return out


def _refit_result(states, params, theta0, trajs, segs, fit, sigma, nfev, start) -> RefitResult:
    """The :class:`RefitResult` of the kept stage, with standard errors by the one rule."""
    multi = len(segs) > len(trajs)
    method = f"multiple shooting ({len(segs)} segments)" if multi else "single shooting"
    first = [next(i for i, s in enumerate(segs) if s.traj == k) for k in range(len(trajs))]
    rss, counts = fit.rss(sigma)
    p = len(params)
    cov = covariance(fit)
    return RefitResult(
        states=states,
        terms=[(states[i], t) for i, t in params],
        coefficients=fit.theta.copy(),
        stderr=cov.stderr[:p] if p else np.zeros(0),
        correlation=_correlation(cov.cov[:p, :p]),
        initial_coefficients=theta0.copy(),
        initial_states=fit.x0[first].copy(),
        segment_trajectory=np.array([sg.traj for sg in segs], dtype=int),
        segment_t0=np.array([sg.t0 for sg in segs]),
        segment_states=fit.x0.copy(),
        rss=rss,
        n_samples=int(counts.max()),
        n_observed=counts,
        method=method,
        success=True,
        converged=bool(fit.success),
        message=fit.message,
        nfev=nfev,
        elapsed=time.perf_counter() - start,
    )
