"""Refit constants through the ODE solver, and choose the model by held-out simulation.

:func:`refine` refits the coefficients of a candidate system (and the start
state of each stretch of data) by minimising the error of simulated against
measured trajectories with ``scipy.optimize.least_squares``; the Jacobian comes
from forward sensitivities integrated with the states. The fit starts on short
windows (multiple shooting: a window cannot drift far from the data) and
continues on ever longer ones up to whole trajectories (single shooting), which
walks around the local minima of long oscillatory records. This removes the
bias a smoother leaves in derivative-based coefficients, and gives each
coefficient a standard error from the Jacobian.

:func:`select_model` turns the per-state Pareto fronts of
:func:`sysid.symbolic.distill` into candidate systems, refits each on training
data, simulates it on held-out data, drops candidates whose simulation fails
(with the reason), and among those that generalise about as well as the best
picks the lowest extended BIC of the trajectory residuals; a
:class:`SelectionReport` explains the choice.

Examples
--------
>>> import sysid
>>> from sysid.refine import refine
>>> data = sysid.simulate("lotka-volterra", n_samples=60)
>>> fit = refine({"x": "1.0*x - 0.45*x*y", "y": "0.11*x*y - 0.36*y"}, data)
>>> fit.success, fit.equations()["x"]
(True, -0.4*x*y + 1.1*x)
"""

from __future__ import annotations

import inspect
import math
import numbers
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import sympy as sp

from ._symbolic_ode import CompiledSystem, Guard, GuardTripped, single_threaded
from ._symbolic_shooting import (
    MIN_SEGMENT,
    continued_starts,
    mean_square,
    segment_lengths,
    segments,
    shoot,
    standard_errors,
    window_length,
)
from .data import MIN_SAMPLES, Dataset, Trajectory, load_data
from .errors import ConfigError, EquationError
from .library import state_symbols, term_complexity
from .model import SymbolicModel, TermEstimate, _check_positive, expression_terms
from .problems import parse_equation
from .symbolic import Candidate, _check_int, front_to_dicts, knee, plausible

__all__ = [
    "RefitResult",
    "refine",
    "CandidateScore",
    "SelectionReport",
    "select_model",
]

#: Errors (in units of a state's spread) below this count as exact: solver precision.
_RMSE_FLOOR = 1e-6
#: Largest relative excess of a candidate's training error over the best one's.
_TRAIN_SLACK = 0.1
#: Score advantage that a system with expression-search terms needs over every
#: library system with as many fitted numbers or fewer ("very strong" evidence
#: on the scale of Kass and Raftery 1995 for BIC differences). Library systems
#: with more numbers get no such protection: a search law that is both shorter
#: and better (gompertz's ``N*log(N)`` against a cubic, irregular 5 % noise) wins.
_SEARCH_EVIDENCE = 10.0
#: Search systems whose inner constants are refitted after the main loop, and
#: the seconds each refit may take.
_INNER_REFITS = 3
_INNER_LIMIT = 8.0
#: Scores within this of the best count as ties, won by the shortest expression: a
#: longer system must beat it by "very strong" evidence (Kass and Raftery 1995).
#: The score sums the training and held-out residuals; with a slack of 2, a small
#: spurious term (``c*y``, c = 0.001-0.02, in the Brusselator at 1-10 % noise) that
#: absorbs refit and solver error won by 3-4.
_SCORE_SLACK = 10.0
_SystemLike = Mapping[str, Any] | Sequence[Candidate] | SymbolicModel


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
    system: _SystemLike, states: tuple[str, ...]
) -> tuple[list[tuple[int, sp.Expr]], np.ndarray]:
    """(equation index, term) per coefficient, and the starting coefficients."""
    symbols = state_symbols(states)
    names = {s.name: s for s in symbols}
    if isinstance(system, SymbolicModel):
        if tuple(system.states) != states:
            raise ConfigError(
                f"model states {list(system.states)} differ from data states {list(states)}",
                source="refine",
            )
        params = [(states.index(t.state), t.term) for t in system.terms]
        return params, np.array([t.coefficient for t in system.terms], dtype=float)
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
    for i, s in enumerate(states):
        eq = system[s]
        if isinstance(eq, Candidate):
            pairs = [
                (_rename(t, names), float(c))
                for t, c in zip(eq.terms, eq.coefficients, strict=True)
            ]
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
                    f"term {coef}*{term} of {s!r} uses {extra} (not states {list(states)}) "
                    "or a non-finite coefficient",
                    source="refine",
                    hint="terms may depend on the data's states only",
                )
            params.append((i, term))
            theta.append(coef)
    return params, np.array(theta, dtype=float)


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
    converged: bool = False
    nfev: int = 0
    elapsed: float = 0.0

    def term_estimates(self) -> list[TermEstimate]:
        """Coefficients with their standard errors."""
        return [
            TermEstimate(s, t, float(c), None if not np.isfinite(e) else float(e))
            for (s, t), c, e in zip(self.terms, self.coefficients, self.stderr, strict=True)
        ]

    def equations(self) -> dict[str, sp.Expr]:
        """Right-hand sides with coefficients rounded to their uncertainty."""
        return self.model().equations

    def model(self, **kwargs: Any) -> SymbolicModel:
        """The refitted :class:`~sysid.model.SymbolicModel` (keyword arguments pass through)."""
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


def _scales(data: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Each state's spread (missing values left out) and all samples."""
    _, x = data.stacked()
    sigma = np.nanstd(x, axis=0)
    fallback = np.maximum(np.nanmax(np.abs(x), axis=0), 1.0)
    return np.where(sigma > 0, sigma, fallback), x


@single_threaded
def refine(
    system: _SystemLike,
    data: Dataset | Any,
    *,
    segment_points: int | None = 20,
    polish: bool = True,
    max_nfev: int = 60,
    rtol: float = 1e-8,
    margin: float = 5.0,
    max_evals: int = 20_000,
    sim_time_limit: float = 10.0,
    time_limit: float = 60.0,
) -> RefitResult:
    """Refit a candidate system's coefficients against measured trajectories.

    Minimises the simulated-minus-measured states, each scaled by its standard
    deviation, over the coefficients and the start state of each window.
    Missing values (NaN) have no residual. The
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
        The structure and the starting coefficients (e.g. from :func:`~sysid.symbolic.distill`).
    data : Dataset (or anything :func:`sysid.load_data` reads)
        Raw (noisy) trajectories.
    segment_points : int or None
        Samples per window of the first stage (None: single shooting only);
        raised when more than 60 windows would be needed, halved (down to 10)
        when the model diverges within a window.
    polish : bool
        Continue to longer windows after the first stage.
    max_nfev : int
        Most least-squares iterations per stage.
    rtol : float
        Relative tolerance of the ODE solver.
    margin : float
        Blow-up box: the data's range widened by ``margin`` ranges on each side.
    max_evals : int
        Most right-hand-side evaluations per simulation.
    sim_time_limit : float
        Most seconds per simulation (a slower one fails the candidate).
    time_limit : float
        Seconds per stage; the best fit so far is kept when it runs out.

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
    _check_segment_points(segment_points)
    _check_positives(
        ("max_nfev", "max_evals"),
        max_nfev=max_nfev,
        rtol=rtol,
        margin=margin,
        max_evals=max_evals,
        sim_time_limit=sim_time_limit,
        time_limit=time_limit,
    )
    data = load_data(data)
    states = data.states
    params, theta0 = _system_params(system, states)
    compiled = CompiledSystem(states, params)
    sigma, x_all = _scales(data)
    guard = Guard.around(x_all, margin=margin, max_evals=max_evals, time_limit=sim_time_limit)
    trajs = list(data.trajectories)
    kw = dict(rtol=rtol, max_nfev=max_nfev, time_limit=time_limit)
    seg_len = window_length(trajs, segment_points)
    while True:
        # A model may diverge from a window's start before reaching its end:
        # shorter windows are then tried before giving up.
        segs = segments(trajs, seg_len)
        fit = shoot(compiled, segs, sigma, guard, theta0, fit_theta=True, x0=None, **kw)
        if fit.residuals.size or not seg_len or seg_len <= MIN_SEGMENT:
            break
        seg_len = max(MIN_SEGMENT, seg_len // 2)
    nfev = fit.nfev
    if fit.residuals.size == 0:
        return _failed(states, params, theta0, len(trajs), fit.message, nfev, start, "")
    longest = max(tr.n_samples for tr in trajs)
    lengths = segment_lengths(seg_len, longest) if polish else [seg_len]
    for length in lengths[1:]:
        longer = segments(trajs, length)
        if len(longer) == len(segs) and length is not None:
            continue
        x0 = continued_starts(compiled, fit, segs, longer, guard)
        nxt = shoot(compiled, longer, sigma, guard, fit.theta, fit_theta=True, x0=x0, **kw)
        nfev += nxt.nfev
        if not nxt.residuals.size or mean_square(nxt) > 1.5 * mean_square(fit) + (100 * rtol) ** 2:
            break
        fit, segs = nxt, longer
    multi = len(segs) > len(trajs)
    method = f"multiple shooting ({len(segs)} segments)" if multi else "single shooting"
    first = [next(i for i, s in enumerate(segs) if s.traj == k) for k in range(len(trajs))]
    rss, counts = fit.rss(sigma)
    return RefitResult(
        states=states,
        terms=[(states[i], t) for i, t in params],
        coefficients=fit.theta.copy(),
        stderr=standard_errors(fit, len(states), compiled.n_params),
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


# --------------------------------------------------------------- selection
@dataclass
class CandidateScore:
    """One candidate system in a :class:`SelectionReport`.

    ``train_rmse`` and ``holdout_rmse`` are root-mean-square errors of the
    simulated states in units of each state's standard deviation. ``score`` is
    the selection score (lower is better): the information criterion of all
    residuals, those of the training fit and those of the held-out
    simulation. ``train_score`` and ``holdout_score`` are the same criterion
    on each part alone, for reference (``holdout_score`` is None when nothing
    was held out).
    """

    equations: dict[str, str]
    n_params: int
    complexity: int
    status: str  # "ok" or "failed"
    reason: str = ""
    train_rmse: float | None = None
    holdout_rmse: float | None = None
    train_score: float | None = None
    score: float | None = None
    holdout_score: float | None = None
    chosen: bool = False
    origin: str = "library"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class SelectionReport:
    """Why :func:`select_model` chose its model.

    Attributes
    ----------
    criterion : str
        ``"ebic"``, ``"bic"`` or ``"aic"``.
    holdout : str
        What the held-out data were.
    candidates : list of CandidateScore
        Every system tried, in the order tried; failed ones keep their reason.
    winner : int or None
        Index of the chosen candidate.
    explanation : str
        The choice in words.
    elapsed : float
        Seconds spent.
    """

    criterion: str
    holdout: str
    candidates: list[CandidateScore] = field(default_factory=list)
    winner: int | None = None
    explanation: str = ""
    elapsed: float = 0.0

    def __str__(self) -> str:
        crit = self.criterion.upper()
        lines = [
            f"model selection ({crit} of training and held-out residuals; held out: {self.holdout})"
        ]
        lines.append(f"  {'#':>2} {crit:>10} {'held-out':>9} {'train':>9} {'p':>3}  equations")
        for i, c in enumerate(self.candidates):
            mark = "*" if c.chosen else ("-" if c.status != "ok" else " ")
            eqs = "; ".join(f"{s}' = {e}" for s, e in c.equations.items())
            if c.status == "ok":
                lines.append(
                    f"{mark} {i:2d} {c.score:10.1f} {c.holdout_rmse:9.3g} {c.train_rmse:9.3g} "
                    f"{c.n_params:3d}  {eqs}"
                )
            else:
                lines.append(f"{mark} {i:2d} {'failed':>10} {'':9} {'':9} {c.n_params:3d}  {eqs}")
                lines.append(f"{'':16}reason: {c.reason}")
        lines.append(self.explanation)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (stored in the model's ``selection``)."""
        return {
            "criterion": self.criterion,
            "holdout": self.holdout,
            "winner": self.winner,
            "explanation": self.explanation,
            "elapsed_s": self.elapsed,
            "candidates": [c.to_dict() for c in self.candidates],
        }


def _split_windows(data: Dataset, fraction: float) -> tuple[Dataset, list[int]]:
    """Training trajectories (first part of each) and each one's number of training samples.

    When a state is measured only in the held-out parts, nothing is held out.
    """
    trajs, n_train = [], []
    for tr in data.trajectories:
        n_test = int(math.floor(fraction * tr.n_samples))
        if tr.n_samples - n_test < MIN_SAMPLES or n_test < 1:
            n_test = 0
        k = tr.n_samples - n_test
        trajs.append(Trajectory(tr.t[:k], tr.x[:k], tr.name))
        n_train.append(k)
    if any(all(np.isnan(tr.x[:, j]).all() for tr in trajs) for j in range(data.n_states)):
        return data, [tr.n_samples for tr in data.trajectories]
    return Dataset(trajs, data.states, source=data.source), n_train


def _describe(system: Mapping[str, Candidate]) -> dict[str, str]:
    return {s: str(c.expr) for s, c in system.items()}


def _pruned_systems(
    system: Mapping[str, Candidate], fit: RefitResult | None, below: float
) -> list[dict[str, Candidate]]:
    """Copies of ``system`` without one weak term each (weakest first), refitted values."""
    if fit is None or below <= 0:
        return []
    with np.errstate(divide="ignore", invalid="ignore"):
        t_stat = np.abs(fit.coefficients) / fit.stderr
    t_stat = np.where(np.isfinite(t_stat), t_stat, np.inf)
    out = []
    for k in np.argsort(t_stat, kind="stable"):
        if t_stat[k] >= below:
            break
        state, term = fit.terms[k]
        cand = system[state]
        mine = [i for i, (s, _) in enumerate(fit.terms) if s == state]
        pos = [str(t) for t in cand.terms].index(str(term))
        keep = [j for j in range(cand.n_terms) if j != pos]
        terms = tuple(cand.terms[j] for j in keep)
        coefs = np.array([fit.coefficients[mine[j]] for j in keep], dtype=float)
        expr = sp.Add(*[sp.Float(float(c)) * t for c, t in zip(coefs, terms, strict=True)])
        support = tuple(cand.support[j] for j in keep) if len(cand.support) == cand.n_terms else ()
        reduced = Candidate(
            state,
            expr,
            terms,
            coefs,
            int(sum(term_complexity(t) + 1 for t in terms)),
            float("nan"),
            support,
            cand.n_library,
            origin=cand.origin,
        )
        out.append({**system, state: reduced})
    return out


def _checked_fronts(fronts: Any, states: tuple[str, ...]) -> dict[str, list[Candidate]]:
    """Each state's front as a non-empty list of :class:`Candidate`, or a :class:`ConfigError`."""
    hint = "pass the fronts returned by distill for the same states"
    if not isinstance(fronts, Mapping):
        raise ConfigError(
            f"fronts must be a dict state -> list of Candidate, found {type(fronts).__name__}",
            source="select_model",
            hint=hint,
        )
    out = {}
    for s in states:
        front = fronts.get(s, [])
        is_list = isinstance(front, Sequence) and not isinstance(front, str)
        out[s] = list(front) if is_list else [front]
    missing = [s for s in states if not out[s]]
    if missing:
        raise ConfigError(f"no candidates for state(s) {missing}", source="select_model", hint=hint)
    for s, front in out.items():
        bad = [type(c).__name__ for c in front if not isinstance(c, Candidate)]
        if bad:
            raise ConfigError(
                f"the front of state '{s}' holds an item of type {bad[0]}, not Candidate",
                source="select_model",
                hint=hint,
            )
    return out


def _choose(scores: list[CandidateScore]) -> int | None:
    """The winner: the shortest expression among the scores within the slack of the lowest.

    Candidates whose training error exceeds the best training error by more than
    ``_TRAIN_SLACK`` are not eligible: they miss structure that short held-out
    windows (simulated from fitted starts) cannot reveal, e.g. SIR without
    ``-gamma*I`` at 10 % noise. Systems with expression-search terms are
    eligible only when their score beats every library system with as many
    fitted numbers or fewer by ``_SEARCH_EVIDENCE`` (on noisy falling-mass data
    a small ``exp(-c*v)`` term otherwise mopped up noise).
    """
    ok = [i for i, c in enumerate(scores) if c.status == "ok"]
    if not ok:
        return None
    library = [i for i in ok if scores[i].origin == "library"]

    def strong(i: int) -> bool:
        # Expression-search terms need strong evidence: they must beat every
        # library system with no more numbers by _SEARCH_EVIDENCE, not merely
        # tie with a shorter form.
        if scores[i].origin == "library":
            return True
        rivals = [scores[j].score for j in library if scores[j].n_params <= scores[i].n_params]
        return not rivals or scores[i].score < min(rivals) - _SEARCH_EVIDENCE

    ok = [i for i in ok if strong(i)]
    train = [float(r) for i in ok if (r := scores[i].train_rmse) is not None and np.isfinite(r)]
    if train:
        limit = (1.0 + _TRAIN_SLACK) * min(train)
        ok = [i for i in ok if scores[i].train_rmse is None or scores[i].train_rmse <= limit]
    best = min(scores[i].score for i in ok)
    close = [i for i in ok if scores[i].score <= best + _SCORE_SLACK]
    return min(close, key=lambda i: (scores[i].complexity, scores[i].score, i))


def _m2ll(counts: np.ndarray, mse: np.ndarray) -> float:
    """``-2 log L`` (up to a constant) of Gaussian residuals: ``sum_j n_j log(mse_j)``."""
    if (counts == counts[0]).all():
        return float(counts[0] * np.log(mse).sum())
    return float((counts * np.log(mse)).sum())


def _n_numbers(system: Mapping[str, Candidate]) -> int:
    """Fitted numbers of a system: its coefficients and the constants inside its terms."""
    return sum(c.n_params for c in system.values())


def _criterion(m2ll: float, n_obs: int, system: Mapping[str, Candidate], criterion: str) -> float:
    """``-2 log L`` plus the complexity penalty of ``system``'s fitted numbers.

    Every coefficient counts, and so does every number inside a term (``Km``
    in ``S/(Km + S)``, refitted through the ODE solver like the coefficients).
    """
    p = _n_numbers(system)
    if criterion == "aic":
        return m2ll + 2.0 * p
    score = m2ll + math.log(max(n_obs, 2)) * p
    if criterion == "ebic":
        score += 2.0 * sum(
            math.log(math.comb(c.n_library, c.n_terms))
            for c in system.values()
            if c.n_library >= c.n_terms
        )
    return score


def check_select_options(**options: Any) -> None:
    """Check the options of :func:`select_model` without doing any work.

    :func:`sysid.discover` calls it before training, so a bad value fails in
    a second, not after the neural field's minute.

    Examples
    --------
    >>> check_select_options(time_budget=-1)
    Traceback (most recent call last):
    ...
    sysid.errors.ConfigError: argument 'time_budget': time_budget must be a finite number >= 0...
    """
    defaults = _select_defaults()
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {unknown} of select_model",
            source="select_model",
            hint=f"valid options: {sorted(defaults)}",
        )
    opts = {**defaults, **options}
    holdout_fraction, criterion, seed = opts["holdout_fraction"], opts["criterion"], opts["seed"]
    time_budget, segment_points = opts["time_budget"], opts["segment_points"]
    max_nfev, margin, rtol, ratio = opts["max_nfev"], opts["margin"], opts["rtol"], opts["ratio"]
    improvement, prune_below = opts["improvement"], opts["prune_below"]
    if criterion not in ("ebic", "bic", "aic"):
        raise ConfigError(
            f"criterion must be 'ebic', 'bic' or 'aic', found {criterion!r}",
            source="select_model",
            hint="'ebic' (the default) also pays for choosing terms out of a large library",
        )
    _require(
        _is_finite(holdout_fraction) and 0.0 <= holdout_fraction < 1.0,
        "holdout_fraction",
        "in [0, 1)",
        holdout_fraction,
        hint="0.25 holds out the last quarter of each trajectory",
    )
    _require(
        _is_finite(time_budget) and time_budget >= 0,
        "time_budget",
        "a finite number >= 0",
        time_budget,
    )
    _check_int(seed, "seed", 0)
    _check_segment_points(segment_points)
    _check_positives(("max_nfev",), max_nfev=max_nfev, margin=margin, rtol=rtol, ratio=ratio)
    _require(
        _is_finite(improvement) and 0 <= improvement < 1, "improvement", "in [0, 1)", improvement
    )
    _require(
        _is_finite(prune_below) and prune_below >= 0,
        "prune_below",
        "a finite number >= 0",
        prune_below,
    )


def _select_defaults() -> dict[str, Any]:
    """The keyword options of :func:`select_model` and their defaults (one source)."""
    sig = inspect.signature(select_model)
    return {
        k: p.default for k, p in sig.parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY
    }


@single_threaded
def select_model(
    fronts: Mapping[str, Sequence[Candidate]],
    data: Dataset | Any,
    holdout: Dataset | str | None = None,
    *,
    holdout_fraction: float = 0.25,
    criterion: str = "ebic",
    seed: int = 0,
    time_budget: float = 60.0,
    segment_points: int | None = 20,
    max_nfev: int = 30,
    margin: float = 5.0,
    rtol: float = 1e-6,
    ratio: float = 100.0,
    improvement: float = 0.2,
    prune_below: float = 5.0,
) -> tuple[SymbolicModel, SelectionReport]:
    """Choose a system from per-state Pareto fronts by simulating data it was not fitted on.

    Each candidate system is refitted on the training data (:func:`refine`),
    then simulated on the held-out data. Candidates whose simulation fails
    (blow-up, stiffness, time limit) are dropped with the reason. The others
    are scored by an information criterion of all their residuals, those of
    the training fit and those of the held-out simulation:
    ``sum_j n_j log(RSS_j / n_j) + penalty * p`` over both parts and states
    ``j``, with ``n_j`` samples, ``p`` fitted numbers and penalty ``log(n)``
    for ``n`` residuals in all (BIC) or 2 (AIC). The default extended BIC
    (Chen and Chen 2008) adds ``2 log C(m, k)`` per equation of ``k`` terms
    chosen from ``m`` library terms: the more terms were searched, the more
    evidence an extra term needs. Scores within 10 of the lowest count as
    ties, won by the shortest expression (fewest nodes): a longer system
    must win by "very strong" evidence. The held-out part
    tests the refitted system on data it was not fitted on; the training
    part carries most of the evidence when trajectories settle at an
    equilibrium before the held-out part begins (on the held-out part alone,
    a Gompertz law lost to a quadratic that stays at the same plateau).
    Candidates whose training error exceeds the best one's by more than 10 %
    are not eligible.

    The search starts from each front's knee (:func:`~sysid.symbolic.knee`)
    and tries swapping one state's equation at a time for another plausible
    candidate (:func:`~sysid.symbolic.plausible`) around the current winner,
    and dropping the winner's weak terms (coefficients within
    ``prune_below`` standard errors of zero), until the winner stays or
    ``time_budget`` runs out. The winner is finally refitted on all data,
    with standard errors.

    Parameters
    ----------
    fronts : dict state -> list of Candidate
        From :func:`~sysid.symbolic.distill`.
    data : Dataset
        Raw trajectories.
    holdout : None, "windows", "trajectory" or Dataset
        Held-out data: the last ``holdout_fraction`` of each trajectory
        (default), one trajectory chosen with ``seed``, or separate
        trajectories. The held-out records are cut into windows of
        ``segment_points`` samples, each simulated from a fitted start state
        with the coefficients fixed, so the error measures the dynamics rather
        than phase drift accumulated over a long horizon.
    criterion : {"ebic", "bic", "aic"}
    seed : int
        Picks the held-out trajectory for ``holdout="trajectory"``.
    time_budget : float
        Seconds for exploring systems (the first is always scored).
    segment_points, max_nfev, margin
        Passed to :func:`refine`.
    rtol : float
        ODE solver tolerance while scoring candidates (far below the noise of
        real data); the winner's final refit uses :func:`refine`'s default.
    ratio, improvement
        Passed to :func:`~sysid.symbolic.plausible`. The wide default ratio
        matters on noisy data: the neural field's own error lets long candidates
        fit it 10-30 times better than the law does (michaelis-menten at 1 %
        noise: ``-1.5*S/(S + 1.98)`` at loss 4.8e-3 against 2.0e-4 for seven
        numbers), so a ratio of 10 never refitted the law to the trajectories.
    prune_below : float
        Terms of the current winner whose refitted coefficient is within this
        many standard errors of zero are tried without (one at a time).

    Returns
    -------
    model : SymbolicModel
        With ``pareto`` and ``selection`` filled in.
    report : SelectionReport

    Examples
    --------
    >>> import numpy as np, sysid
    >>> from sysid.symbolic import distill
    >>> p = sysid.load_problem("lotka-volterra")
    >>> data = sysid.simulate(p, n_samples=100)
    >>> x = np.concatenate([tr.x for tr in data])
    >>> model, report = select_model(distill(x, p.rhs(0, x.T).T, p.states), data)
    >>> print(model)
    dx/dt = -0.4*x*y + 1.1*x
    dy/dt = 0.1*x*y - 0.4*y
    """
    start = time.perf_counter()
    check_select_options(
        holdout_fraction=holdout_fraction,
        criterion=criterion,
        seed=seed,
        time_budget=time_budget,
        segment_points=segment_points,
        max_nfev=max_nfev,
        margin=margin,
        rtol=rtol,
        ratio=ratio,
        improvement=improvement,
        prune_below=prune_below,
    )
    data = load_data(data)
    states = data.states
    fronts = _checked_fronts(fronts, states)
    sigma, x_all = _scales(data)
    if isinstance(holdout, Dataset):
        if holdout.states != states:
            raise ConfigError(
                f"holdout states {list(holdout.states)} differ from {list(states)}",
                source="select_model",
            )
        train, test = data, list(holdout.trajectories)
        what = f"{holdout.n_trajectories} separate trajectories"
    elif holdout == "trajectory":
        if data.n_trajectories < 2:
            raise ConfigError(
                "holdout='trajectory' needs at least 2 trajectories",
                source="select_model",
                hint="use holdout='windows'",
            )
        k = int(np.random.default_rng(seed).integers(data.n_trajectories))
        rest = [i for i in range(data.n_trajectories) if i != k]
        train, test = data.subset(rest), [data[k]]
        what = f"trajectory '{data[k].name}'"
    elif holdout is None or holdout == "windows":
        train, n_train = _split_windows(data, float(holdout_fraction))
        test = [
            Trajectory(tr.t[k:], tr.x[k:], tr.name)
            for tr, k in zip(data.trajectories, n_train, strict=True)
            if tr.n_samples - k >= 2
        ]
        what = f"last {holdout_fraction:.0%} of each trajectory"
    else:
        raise ConfigError(
            f"holdout must be None, 'windows', 'trajectory' or a Dataset, found {holdout!r}",
            source="select_model",
        )
    guard = Guard.around(x_all, margin=margin, time_limit=max(time_budget, 5.0))
    refit_kw = dict(segment_points=segment_points, max_nfev=max_nfev, margin=margin)

    def evaluate(sys_: dict[str, Candidate]) -> tuple[CandidateScore, RefitResult | None]:
        p = _n_numbers(sys_)
        cx = sum(c.complexity for c in sys_.values())
        eqs = _describe(sys_)
        fit = refine(
            sys_, train, polish=False, rtol=rtol, time_limit=max(time_budget / 2, 5.0), **refit_kw
        )
        if not fit.success:
            return CandidateScore(eqs, p, cx, "failed", f"refit: {fit.message}"), None
        n_tr = np.maximum(fit.n_observed, 1)
        mse = np.maximum(fit.rss / sigma**2 / n_tr, _RMSE_FLOOR**2)
        m2ll_tr = _m2ll(n_tr, mse)
        train_score = _criterion(m2ll_tr, int(n_tr.sum()), sys_, criterion)
        train_rmse = float(np.sqrt(mse.mean()))
        compiled = CompiledSystem(states, [(states.index(s), t) for s, t in fit.terms])
        hfit = None
        try:
            if test:
                segs = segments(test, window_length(test, segment_points))
                hfit = shoot(
                    compiled,
                    segs,
                    sigma,
                    guard,
                    fit.coefficients,
                    fit_theta=False,
                    x0=None,
                    rtol=rtol,
                    max_nfev=20,
                    time_limit=max(time_budget / 2, 5.0),
                )
                if hfit.residuals.size == 0:
                    raise GuardTripped(hfit.message, "blow-up")
        except GuardTripped as exc:
            failed = CandidateScore(
                eqs,
                p,
                cx,
                "failed",
                f"held-out simulation: {exc.reason}",
                train_rmse=train_rmse,
                train_score=train_score,
            )
            return failed, None
        if hfit is None:  # nothing held out: the training fit stands in
            holdout_rmse, score = train_rmse, train_score
            holdout_score = None
        else:
            h_rss, n_h = hfit.rss(sigma)
            n_h = np.maximum(n_h, 1)
            h_mse = np.maximum(h_rss / n_h / sigma**2, _RMSE_FLOOR**2)
            holdout_rmse = float(np.sqrt(h_mse.mean()))
            m2ll_h = _m2ll(n_h, h_mse)
            holdout_score = _criterion(m2ll_h, int(n_h.sum()), sys_, criterion)
            # The selection score weighs every residual: the training part
            # carries most of the evidence when trajectories settle at an
            # equilibrium before the held-out part begins (issue #6: gompertz,
            # lorenz at 10 % noise lost a term on held-out residuals alone).
            n_all = int(n_tr.sum() + n_h.sum())
            score = _criterion(m2ll_tr + m2ll_h, n_all, sys_, criterion)
        ok = CandidateScore(
            eqs,
            p,
            cx,
            "ok",
            "",
            train_rmse=train_rmse,
            holdout_rmse=holdout_rmse,
            train_score=train_score,
            score=score,
            holdout_score=holdout_score,
        )
        return ok, fit

    plaus = {s: plausible(fronts[s], ratio=ratio, improvement=improvement) for s in states}
    scores: list[CandidateScore] = []
    systems: list[dict[str, Candidate]] = []
    fits: list[RefitResult | None] = []
    seen: dict[tuple, int] = {}

    def visit(sys_: dict[str, Candidate]) -> None:
        key = tuple((s, tuple(str(t) for t in sys_[s].terms)) for s in states)
        if key not in seen:
            seen[key] = len(scores)
            score, fit = evaluate(sys_)
            if any(c.origin == "search" for c in sys_.values()):
                score.origin = "search"
            scores.append(score)
            fits.append(fit)
            systems.append(dict(sys_))

    def out_of_time() -> bool:
        return time.perf_counter() - start >= time_budget

    visit({s: knee(fronts[s], improvement=improvement) for s in states})
    swapped: set[int] = set()
    pruned: set[int] = set()
    while not out_of_time():
        best = _choose(scores)
        pivot = best if best is not None else len(scores) - 1
        if pivot not in swapped:
            # Swap one state's equation for another plausible one from its front.
            swapped.add(pivot)
            for s in states:
                for alt in plaus[s]:
                    if not out_of_time():
                        visit({**systems[pivot], s: alt})
        elif best is not None and best not in pruned:
            # Drop terms whose refitted coefficient is weak (|t| below prune_below):
            # a biased derivative field can make a spurious term look useful.
            pruned.add(best)
            for sys_ in _pruned_systems(systems[best], fits[best], prune_below):
                if not out_of_time():
                    visit(sys_)
        else:
            break
    # The best few systems with search terms get the numbers inside their terms
    # refitted to the training part through the ODE solver (the search fitted
    # them to the field's derivatives), and are scored again. Bounded: at most
    # _INNER_REFITS refits of _INNER_LIMIT seconds each.
    searched = [i for i, c in enumerate(scores) if c.origin == "search"]
    searched.sort(
        key=lambda i: (
            scores[i].status != "ok",
            scores[i].score if scores[i].score is not None else np.inf,
            scores[i].train_rmse if scores[i].train_rmse is not None else np.inf,
        )
    )
    for i in searched[:_INNER_REFITS]:
        new = _refit_inner_constants(systems[i], train, states, _INNER_LIMIT)
        if new is systems[i]:
            continue
        score, fit = evaluate(new)
        score.origin = "search, refitted"
        scores.append(score)
        fits.append(fit)
        systems.append(dict(new))
    winner = _choose(scores)

    report = SelectionReport(criterion=criterion, holdout=what, candidates=scores)
    pareto = front_to_dicts(fronts)
    bounds = (np.nanmin(x_all, axis=0), np.nanmax(x_all, axis=0))
    if winner is None:
        reasons = "; ".join(f"#{i}: {c.reason}" for i, c in enumerate(scores))
        report.explanation = (
            "Every candidate failed, so the derivative-fit knee is returned without refit "
            f"({reasons}). Remedies: more or longer trajectories, a smaller library, a better "
            "neural field fit."
        )
        report.elapsed = time.perf_counter() - start
        sys_ = systems[0]
        terms = [
            TermEstimate(s, t, float(c), None)
            for s in states
            for t, c in zip(sys_[s].terms, sys_[s].coefficients, strict=True)
        ]
        model = SymbolicModel(
            states, terms, pareto=pareto, selection=report.to_dict(), bounds=bounds
        )
        return model, report

    scores[winner].chosen = True
    report.winner = winner
    final = refine(systems[winner], data, time_limit=max(time_budget, 10.0), **refit_kw)
    report.explanation = _explain(scores, winner, criterion, final.success)
    report.elapsed = time.perf_counter() - start
    if final.success:
        terms = final.term_estimates()
    else:
        sys_ = systems[winner]
        terms = [
            TermEstimate(s, t, float(c), None)
            for s in states
            for t, c in zip(sys_[s].terms, sys_[s].coefficients, strict=True)
        ]
    model = SymbolicModel(states, terms, pareto=pareto, selection=report.to_dict(), bounds=bounds)
    return model, report


def _refit_inner_constants(
    system: dict[str, Candidate], train: Dataset, states: Sequence[str], time_limit: float
) -> dict[str, Candidate]:
    """``system`` with the numbers inside its terms (``Km`` in ``S/(Km + S)``) refitted.

    Candidates of the expression search carry inner constants fitted to the
    neural field's derivatives; a few percent off, they lose to longer library
    fits in the trajectory-based selection. Every number of the system is
    fitted to ``train`` through the ODE solver (:func:`sysid.polish.refit_all`);
    a system without inner constants, or a failed fit, comes back unchanged.
    """
    from .polish import has_inner_constants, refit_all

    if not any(has_inner_constants(t) for c in system.values() for t in c.terms):
        return system
    model = SymbolicModel(
        states,
        [
            TermEstimate(s, t, float(k))
            for s in states
            for t, k in zip(system[s].terms, system[s].coefficients, strict=True)
        ],
    )
    out = refit_all(model, train, time_limit=time_limit)
    if out is None:
        return system
    new = dict(system)
    for s in states:
        est = [t for t in out[0].terms if t.state == s]
        if len(est) != system[s].n_terms:  # pragma: no cover - refit_all keeps the terms
            return system
        coef = np.array([t.coefficient for t in est])
        terms = tuple(t.term for t in est)
        expr = sum((sp.Float(k) * t for k, t in zip(coef, terms, strict=True)), sp.Integer(0))
        new[s] = replace(system[s], terms=terms, coefficients=coef, expr=expr)
    return new


def _explain(scores: list[CandidateScore], winner: int, criterion: str, refit_ok: bool) -> str:
    crit = criterion.upper()
    w = scores[winner]
    ok = sorted(
        (i for i, c in enumerate(scores) if c.status == "ok"), key=lambda i: scores[i].score
    )
    best = scores[ok[0]].score
    words = [
        f"Chose #{winner} ({w.n_params} coefficients, complexity {w.complexity}): of the "
        f"{len(ok)} candidate(s) that simulated, it is the shortest expression whose {crit} of "
        f"training and held-out residuals ({w.score:.1f}) is within {_SCORE_SLACK:g} of the lowest "
        f"({best:.1f}); held-out error {w.holdout_rmse:.3g} of each state's spread "
        f"(training {w.train_rmse:.3g})."
    ]
    others = [i for i in ok if i != winner]
    if others:
        r = others[0]
        words.append(
            f"Runner-up #{r}: {crit} {scores[r].score:.1f} ({scores[r].score - w.score:+.1f}) "
            f"with {scores[r].n_params} coefficients, held-out error "
            f"{scores[r].holdout_rmse:.3g}."
        )
    failed = [i for i, c in enumerate(scores) if c.status != "ok"]
    if failed:
        words.append(
            "Failed and dropped: " + "; ".join(f"#{i}: {scores[i].reason}" for i in failed) + "."
        )
    if not refit_ok:
        words.append("The final refit on all data failed; coefficients are from distillation.")
    return " ".join(words)
