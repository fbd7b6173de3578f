"""Model selection: refit every candidate system through the solver and pick one
by its simulated error."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import sympy as sp

from sysid.core.errors import ConfigError
from sysid.core.ode import CompiledSystem, Guard, GuardTripped, single_threaded
from sysid.core.renamed import renamed_keywords
from sysid.data.dataset import Dataset, Trajectory, load_data
from sysid.fit.polish import has_inner_constants, refit_all
from sysid.fit.refit import RefitResult, _scales, refine
from sysid.fit.shooting import simulate_windows
from sysid.select.candidates import checked_fronts, describe, pruned_systems
from sysid.select.choice import choose, explain
from sysid.select.holdout import split_holdout
from sysid.select.options import SELECT_OPTIONS, Selection
from sysid.select.report import CandidateScore, SelectionReport
from sysid.symbolic.model import SymbolicModel, TermEstimate
from sysid.symbolic.sparse import Candidate, front_to_dicts, knee, plausible

__all__ = [
    "CandidateScore",
    "SelectionReport",
    "check_select_options",
    "score_systems",
    "select_model",
]

#: Errors (in units of a state's spread) below this count as exact: solver precision.
_RMSE_FLOOR = 1e-6


#: Search systems whose inner constants are refitted after the main loop, and
#: the seconds each refit may take.
_INNER_REFITS = 3


_INNER_LIMIT = 8.0


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
    """Check the keyword options of :func:`select_model` without doing any work.

    The checks are :class:`~sysid.select.options.Selection`'s (its defaults
    are :func:`select_model`'s); ``holdout`` and the polish options are not
    keyword options of :func:`select_model` and count as unknown here.

    Examples
    --------
    >>> check_select_options(time_limit=-1)
    Traceback (most recent call last):
    ...
    sysid.core.errors.ConfigError: Selection(time_limit=...): time_limit must be a finite...
    """
    unknown = sorted(set(options) - set(SELECT_OPTIONS))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {unknown} of select_model",
            source="select_model",
            hint=f"valid options: {sorted(SELECT_OPTIONS)}",
        )
    Selection(**options)


def _select_defaults() -> dict[str, Any]:
    """The keyword options of :func:`select_model` and their defaults (from :class:`Selection`)."""
    params = Selection().get_params()
    return {k: params[k] for k in SELECT_OPTIONS}


@single_threaded
def select_model(
    fronts: Mapping[str, Sequence[Candidate]],
    data: Dataset | Any,
    holdout: Dataset | str | None = None,
    *,
    holdout_fraction: float = 0.25,
    criterion: str = "ebic",
    seed: int = 0,
    time_limit: float = 60.0,
    segment_points: int | None = 20,
    max_nfev: int = 30,
    margin: float = 5.0,
    rtol: float = 1e-6,
    ratio: float = 100.0,
    improvement: float = 0.2,
    prune_below: float = 5.0,
    **deprecated: Any,
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

    The search starts from each front's knee (:func:`~sysid.symbolic.sparse.knee`)
    and tries swapping one state's equation at a time for another plausible
    candidate (:func:`~sysid.symbolic.sparse.plausible`) around the current winner,
    and dropping the winner's weak terms (coefficients within
    ``prune_below`` standard errors of zero), until the winner stays or
    ``time_limit`` runs out. The winner is finally refitted on all data,
    with standard errors.

    Parameters
    ----------
    fronts : dict state -> list of Candidate
        From :func:`~sysid.symbolic.sparse.distill`.
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
    time_limit : float
        Seconds for exploring systems (the first is always scored).
    segment_points, max_nfev, margin
        Passed to :func:`refine`.
    rtol : float
        ODE solver tolerance while scoring candidates (far below the noise of
        real data); the winner's final refit uses :func:`refine`'s default.
    ratio, improvement
        Passed to :func:`~sysid.symbolic.sparse.plausible`. The wide default ratio
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
    >>> from sysid.symbolic.sparse import distill
    >>> p = sysid.load_problem("lotka-volterra")
    >>> data = sysid.simulate(p, n_samples=100)
    >>> x = np.concatenate([tr.x for tr in data])
    >>> model, report = select_model(distill(x, p.rhs(0, x.T).T, p.states), data)
    >>> print(model)
    dx/dt = -0.4*x*y + 1.1*x
    dy/dt = 0.1*x*y - 0.4*y
    """
    start = time.perf_counter()
    time_limit = renamed_keywords("select_model", deprecated, Selection.renamed).get(
        "time_limit", time_limit
    )
    opts = Selection(
        holdout=holdout,
        holdout_fraction=holdout_fraction,
        criterion=criterion,
        seed=seed,
        time_limit=time_limit,
        segment_points=segment_points,
        max_nfev=max_nfev,
        margin=margin,
        rtol=rtol,
        ratio=ratio,
        improvement=improvement,
        prune_below=prune_below,
    )
    data = load_data(data)
    fronts = checked_fronts(fronts, data.states)
    tried, x_all, what = _start(data, opts)
    _explore(tried, fronts, opts, start)
    _refit_searched(tried, tried.scorer.train)
    return _final_model(tried, data, fronts, x_all, what, start)


def _start(data: Dataset, opts: Selection) -> tuple[_Tried, np.ndarray, str]:
    """An empty record of systems tried, its scorer set up on ``data``; all samples; the holdout."""
    sigma, x_all = _scales(data)
    train, test, what = split_holdout(data, opts)
    guard = Guard.around(x_all, margin=opts.margin, simulation_time_limit=max(opts.time_limit, 5.0))
    return _Tried(_Scorer(data.states, train, test, sigma, guard, opts)), x_all, what


@single_threaded
def score_systems(
    systems: Sequence[Mapping[str, Candidate]], data: Dataset, **options: Any
) -> tuple[int | None, list[CandidateScore], list[RefitResult | None]]:
    """Refit and score the given systems as :func:`select_model` does, and choose among them.

    No search: only ``systems`` are tried (for instance the best ones of an
    earlier selection, ``report.systems``), each refitted on the training part
    and simulated on the held-out part of ``data``, and the winner is picked by
    the same rule (:func:`~sysid.select.choice.choose`). The winner is not
    refitted on all data.

    Parameters
    ----------
    systems : list of dict state -> Candidate
    data : Dataset
    **options
        Keyword options of :func:`select_model` (and ``holdout``).

    Returns
    -------
    winner : int or None
        Index into ``systems``; None when every one failed.
    scores : list of CandidateScore
    fits : list of RefitResult or None
        Each system's training fit (None where it failed).
    """
    tried, _, _ = _start(load_data(data), Selection(**options))
    for sys_ in systems:
        tried.add(dict(sys_), _origin(sys_))
    return choose(tried.scores), tried.scores, tried.fits


def _origin(system: Mapping[str, Candidate]) -> str | None:
    """``"search"`` for a system with an expression-search candidate (None: the library's)."""
    return "search" if any(c.origin == "search" for c in system.values()) else None


# ------------------------------------------------------- the selection loop
@dataclass
class _Scorer:
    """Refits a candidate system on the training part, simulates it on the held-out part."""

    states: tuple[str, ...]
    train: Dataset
    test: list[Trajectory]
    sigma: np.ndarray
    guard: Guard
    opts: Selection

    @property
    def refit_kw(self) -> dict[str, Any]:
        o = self.opts
        return dict(segment_points=o.segment_points, max_nfev=o.max_nfev, margin=o.margin)

    def evaluate(self, sys_: dict[str, Candidate]) -> tuple[CandidateScore, RefitResult | None]:
        """The candidate's scores, and its training fit (None when it failed)."""
        o = self.opts
        p = _n_numbers(sys_)
        cx = sum(c.complexity for c in sys_.values())
        eqs = describe(sys_)
        fit = refine(
            sys_,
            self.train,
            continuation=False,
            rtol=o.rtol,
            time_limit=max(o.time_limit / 2, 5.0),
            **self.refit_kw,
        )
        if not fit.success:
            return CandidateScore(eqs, p, cx, "failed", f"refit: {fit.message}"), None
        n_tr = np.maximum(fit.n_observed, 1)
        mse = np.maximum(fit.rss / self.sigma**2 / n_tr, _RMSE_FLOOR**2)
        m2ll_tr = _m2ll(n_tr, mse)
        train_score = _criterion(m2ll_tr, int(n_tr.sum()), sys_, o.criterion)
        train_rmse = float(np.sqrt(mse.mean()))
        try:
            hfit = self._simulate_holdout(fit)
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
            holdout_rmse, score, holdout_score = train_rmse, train_score, None
        else:
            holdout_rmse, score, holdout_score = self._holdout_scores(hfit, sys_, n_tr, m2ll_tr)
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

    def _simulate_holdout(self, fit: RefitResult) -> Any:
        """The held-out windows simulated with the fitted coefficients (None: nothing held out)."""
        if not self.test:
            return None
        states, o = self.states, self.opts
        return simulate_windows(
            CompiledSystem(
                states, [(states.index(s), t) for s, t in fit.terms], self.train.input_names
            ),
            self.test,
            self.sigma,
            self.guard,
            fit.coefficients,
            segment_points=o.segment_points,
            rtol=o.rtol,
            time_limit=max(o.time_limit / 2, 5.0),
        )

    def _holdout_scores(
        self, hfit: Any, sys_: dict[str, Candidate], n_tr: np.ndarray, m2ll_tr: float
    ) -> tuple[float, float, float]:
        """Held-out RMSE, the selection score (all residuals) and the held-out score."""
        criterion, sigma = self.opts.criterion, self.sigma
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
        return holdout_rmse, score, holdout_score


@dataclass
class _Tried:
    """Every system tried, in the order tried: its scores, the system, its training fit."""

    scorer: _Scorer
    scores: list[CandidateScore] = field(default_factory=list)
    systems: list[dict[str, Candidate]] = field(default_factory=list)
    fits: list[RefitResult | None] = field(default_factory=list)
    seen: set[tuple] = field(default_factory=set)

    def add(self, sys_: dict[str, Candidate], origin: str | None = None) -> None:
        score, fit = self.scorer.evaluate(sys_)
        if origin is not None:
            score.origin = origin
        self.scores.append(score)
        self.fits.append(fit)
        self.systems.append(dict(sys_))

    def visit(self, sys_: dict[str, Candidate]) -> None:
        """Score ``sys_`` unless a system of the same terms was scored already."""
        key = tuple((s, tuple(str(t) for t in sys_[s].terms)) for s in self.scorer.states)
        if key not in self.seen:
            self.seen.add(key)
            self.add(sys_, _origin(sys_))


def _explore(
    tried: _Tried, fronts: dict[str, list[Candidate]], opts: Selection, start: float
) -> None:
    """From the knees: swap one state's equation, prune weak terms, until nothing changes."""
    states = tried.scorer.states
    plaus = {
        s: plausible(fronts[s], ratio=opts.ratio, improvement=opts.improvement) for s in states
    }

    def out_of_time() -> bool:
        return time.perf_counter() - start >= opts.time_limit

    tried.visit({s: knee(fronts[s], improvement=opts.improvement) for s in states})
    swapped: set[int] = set()
    pruned: set[int] = set()
    while not out_of_time():
        best = choose(tried.scores)
        pivot = best if best is not None else len(tried.scores) - 1
        if pivot not in swapped:
            # Swap one state's equation for another plausible one from its front.
            swapped.add(pivot)
            for s in states:
                for alt in plaus[s]:
                    if not out_of_time():
                        tried.visit({**tried.systems[pivot], s: alt})
        elif best is not None and best not in pruned:
            # Drop terms whose refitted coefficient is weak (|t| below prune_below):
            # a biased derivative field can make a spurious term look useful.
            pruned.add(best)
            for sys_ in pruned_systems(tried.systems[best], tried.fits[best], opts.prune_below):
                if not out_of_time():
                    tried.visit(sys_)
        else:
            break


def _refit_searched(tried: _Tried, train: Dataset) -> None:
    """Refit the inner constants of the best few systems with search terms, score them again.

    The search fitted the numbers inside its terms to the field's derivatives;
    here they are refitted to the training part through the ODE solver.
    Bounded: at most ``_INNER_REFITS`` refits of ``_INNER_LIMIT`` seconds each.
    """
    scores = tried.scores
    searched = [i for i, c in enumerate(scores) if c.origin == "search"]
    searched.sort(
        key=lambda i: (
            scores[i].status != "ok",
            scores[i].score if scores[i].score is not None else np.inf,
            scores[i].train_rmse if scores[i].train_rmse is not None else np.inf,
        )
    )
    for i in searched[:_INNER_REFITS]:
        system = tried.systems[i]
        new = _refit_inner_constants(system, train, tried.scorer.states, _INNER_LIMIT)
        if new is not system:
            tried.add(new, "search, refitted")


def _final_model(
    tried: _Tried,
    data: Dataset,
    fronts: dict[str, list[Candidate]],
    x_all: np.ndarray,
    what: str,
    start: float,
) -> tuple[SymbolicModel, SelectionReport]:
    """The winner refitted on all data (or the first knee when every candidate failed)."""
    states, opts, scores = data.states, tried.scorer.opts, tried.scores
    winner = choose(scores)
    systems = [_warm(sys_, fit) for sys_, fit in zip(tried.systems, tried.fits, strict=True)]
    report = SelectionReport(
        criterion=opts.criterion, holdout=what, candidates=scores, systems=systems
    )
    pareto = front_to_dicts(fronts)
    bounds = (np.nanmin(x_all, axis=0), np.nanmax(x_all, axis=0))
    final = None
    if winner is None:
        reasons = "; ".join(f"#{i}: {c.reason}" for i, c in enumerate(scores))
        report.explanation = (
            "Every candidate failed, so the derivative-fit knee is returned without refit "
            f"({reasons}). Remedies: more or longer trajectories, a smaller library, a better "
            "neural field fit."
        )
        chosen = tried.systems[0]
    else:
        scores[winner].chosen = True
        report.winner = winner
        chosen = tried.systems[winner]
        time_limit = max(opts.time_limit, 10.0)
        final = refine(chosen, data, time_limit=time_limit, **tried.scorer.refit_kw)
        report.explanation = explain(scores, winner, opts.criterion, final.success)
        if final.success:
            report.initial_states = final.initial_states.tolist()
            report.correlation = final.correlation.tolist()
    report.elapsed = time.perf_counter() - start
    if final is not None and final.success:
        terms = final.term_estimates()
    else:
        terms = [
            TermEstimate(s, t, float(c), None, t in chosen[s].fixed)
            for s in states
            for t, c in zip(chosen[s].terms, chosen[s].coefficients, strict=True)
        ]
    model = SymbolicModel(states, terms, pareto=pareto, selection=report.to_dict(), bounds=bounds)
    return model, report


def _warm(system: dict[str, Candidate], fit: RefitResult | None) -> dict[str, Candidate]:
    """``system`` with its training fit's coefficients as its start (unchanged without a fit)."""
    if fit is None:
        return system
    values = iter(np.asarray(fit.coefficients, dtype=float))
    out = {}
    for s in fit.states:  # the fit's order of coefficients: states, then terms
        c = system[s]
        out[s] = _with_coefficients(c, c.terms, np.array([next(values) for _ in c.terms]))
    return {s: out[s] for s in system}


def _with_coefficients(c: Candidate, terms: Sequence[sp.Expr], coef: np.ndarray) -> Candidate:
    """``c`` with the given terms and coefficients, its expression rebuilt from them."""
    expr = sum((sp.Float(k) * t for k, t in zip(coef, terms, strict=True)), sp.Integer(0))
    return replace(c, terms=tuple(terms), coefficients=coef, expr=expr)


def _refit_inner_constants(
    system: dict[str, Candidate], train: Dataset, states: Sequence[str], time_limit: float
) -> dict[str, Candidate]:
    """``system`` with the numbers inside its terms (``Km`` in ``S/(Km + S)``) refitted.

    Candidates of the expression search carry inner constants fitted to the
    neural field's derivatives; a few percent off, they lose to longer library
    fits in the trajectory-based selection. Every number of the system is
    fitted to ``train`` through the ODE solver (:func:`sysid.fit.polish.refit_all`);
    a system without inner constants, or a failed fit, comes back unchanged.
    """
    if not any(has_inner_constants(t) for c in system.values() for t in c.terms):
        return system
    model = SymbolicModel(
        states,
        [
            TermEstimate(s, t, float(k), None, t in system[s].fixed)
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
        new[s] = _with_coefficients(system[s], [t.term for t in est], coef)
    return new
