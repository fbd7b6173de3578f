"""The whole flow with sane defaults: :func:`discover` and :func:`recover`.

``discover`` fits a neural vector field to the trajectories (torchdiffeq,
adjoint method), samples it at the denoised data states, distils per-state
Pareto fronts of sparse equations, refits the constants of candidate systems
through the ODE solver against the raw data, and picks the system that best
simulates data it was not fitted on. ``recover`` is the demo: simulate a
problem, discover, score against the truth.

One set of default settings serves every problem: nothing here reads the true
equations, except the scorer in :func:`recover`.

Examples
--------
>>> import sysid
>>> ds = sysid.simulate("lotka-volterra", noise=0.01, seed=0, n_samples=60)
>>> res = sysid.discover(ds, seed=0, quiet=True)                  # doctest: +SKIP
>>> print(res)                                                    # doctest: +SKIP
dx/dt = 1.1*x - 0.4*x*y
dy/dt = 0.1*x*y - 0.4*y
"""

from __future__ import annotations

import inspect
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import sympy as sp

from sysid.core.errors import ConfigError
from sysid.data.dataset import Dataset, load_data
from sysid.data.problems import Problem, load_problem
from sysid.data.simulation import simulate
from sysid.fit.polish import polish_model
from sysid.neural.field import NeuralField
from sysid.report.result import DiscoveryResult
from sysid.report.scoring import score as score_equations
from sysid.select.selection import SelectionReport, check_select_options, select_model
from sysid.symbolic.library import Library
from sysid.symbolic.model import SymbolicModel, TermEstimate
from sysid.symbolic.search import library_fit_is_poor, merge_fronts, search
from sysid.symbolic.sparse import Candidate, distill, knee

__all__ = ["discover", "recover", "DiscoveryResult"]


#: Default keyword arguments of each stage, used where the caller gives none.
#: One set for every problem; tests may lower the budgets here.
DEFAULTS: dict[str, dict[str, Any]] = {"neural": {}, "distill": {}, "select": {}, "search": {}}

#: Seconds the expression search may add to a run (issue: at most 60 s on 2 cores,
#: the inner-constant refit included).
SEARCH_BUDGET = 40.0
POLISH_LIMIT = 15.0
_SEARCH_MODES = ("auto", "always", "never")


def _stage(msg: str, quiet: bool) -> None:
    if not quiet:
        print(f"sysid: {msg}", file=sys.stderr, flush=True)


def _check_options(
    options: Mapping[str, Any] | None, name: str, target: Any, skip: Sequence[str] = ()
) -> dict[str, Any]:
    """Check that ``options`` are keyword arguments ``target`` accepts."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise ConfigError(
            f"{name} must be a dict of keyword arguments, found {type(options).__name__}",
            source=f"argument '{name}'",
        )
    params = inspect.signature(target).parameters
    allowed = [
        p
        for p, v in params.items()
        if v.kind in (v.KEYWORD_ONLY, v.POSITIONAL_OR_KEYWORD) and p not in {"self", *skip}
    ]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {unknown}",
            source=f"argument '{name}'",
            hint=f"allowed options are {allowed}",
        )
    return dict(options)


def _sample_points(field: NeuralField, data: Dataset) -> np.ndarray:
    """States where the field is sampled: denoised states and the data states."""
    smooth = field.smoothed(data)
    pts = [np.asarray(s, dtype=float) for s in smooth] + [tr.x for tr in data]
    x = np.concatenate(pts, axis=0)
    return x[np.isfinite(x).all(axis=1)]


def discover(
    data: Any,
    *,
    seed: int = 0,
    quiet: bool = False,
    time_column: str = "t",
    trajectory_column: str | None = "trajectory",
    states: Sequence[str] | None = None,
    library: Library | Mapping[str, Any] | None = None,
    neural: Mapping[str, Any] | None = None,
    distill_options: Mapping[str, Any] | None = None,
    select_options: Mapping[str, Any] | None = None,
    expression_search: str = "auto",
    search_options: Mapping[str, Any] | None = None,
    field: NeuralField | None = None,
) -> DiscoveryResult:
    """Learn readable equations from trajectories.

    Parameters
    ----------
    data : Dataset, CSV path, pandas DataFrame, or ``(t, x)`` arrays
        One or several trajectories, each on its own time grid.
    seed : int
        Seeds every random choice; the same seed gives the same equations on
        the same machine.
    quiet : bool
        Silence progress on stderr.
    time_column, trajectory_column, states
        How to read a CSV file or DataFrame (contract section 2).
    library : Library or dict, optional
        Candidate terms, or keyword arguments of :class:`~sysid.symbolic.library.Library`
        (``degree``, ``trig``, ``extra``).
    neural : dict, optional
        Keyword arguments of :class:`~sysid.neural.field.NeuralField`.
    distill_options : dict, optional
        Keyword arguments of :func:`~sysid.symbolic.sparse.distill`.
    select_options : dict, optional
        Keyword arguments of :func:`~sysid.select.selection.select_model`.
    expression_search : {"auto", "always", "never"}
        Search over expression trees (rational, Hill, exponential, logarithmic
        terms; :mod:`sysid.symbolic.search`) in addition to the library: ``"auto"``
        when the library's best fits are poor (:func:`~sysid.symbolic.search.library_fit_is_poor`),
        within about 40 s. Its candidates join the Pareto fronts. The chosen
        model is then polished (:func:`~sysid.fit.polish.polish_model`): negligible
        terms dropped, constants inside terms refitted through the ODE solver.
    search_options : dict, optional
        Keyword arguments of :func:`~sysid.symbolic.search.search` (``operators``,
        ``max_terms``, ``time_budget``...).
    field : NeuralField, optional
        A field already fitted to these data (e.g. ``result.field`` of an
        earlier run): training is skipped and only the symbolic stages run, to
        try other library, search or selection options in seconds.

    Returns
    -------
    DiscoveryResult
        Pressing Ctrl-C (``KeyboardInterrupt``) does not lose the work done:
        the result holds what was finished (the field, the knee of each
        Pareto front as the model when the selection did not finish) and
        ``result.extra["interrupted"]`` names the stage that was stopped.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(
            f"seed must be a non-negative integer, found {seed!r}", source="argument 'seed'"
        )
    ds = load_data(
        data, time_column=time_column, trajectory_column=trajectory_column, states=states
    )
    neural_kw = {**DEFAULTS["neural"], **_check_options(neural, "neural", NeuralField)}
    distill_kw = {
        **DEFAULTS["distill"],
        **_check_options(distill_options, "distill_options", distill, ("x", "dxdt", "states")),
    }
    select_kw = {
        **DEFAULTS["select"],
        **_check_options(select_options, "select_options", select_model, ("fronts", "data")),
    }
    check_select_options(**{k: v for k, v in select_kw.items() if k != "holdout"})
    if field is not None:
        if not isinstance(field, NeuralField):
            raise ConfigError(
                f"field must be a fitted NeuralField, found {type(field).__name__}",
                source="argument 'field'",
            )
        field._check_fitted()
        if tuple(field.states_) != tuple(ds.states):
            raise ConfigError(
                f"the field was fitted to states {list(field.states_)}, the data have "
                f"{list(ds.states)}",
                source="argument 'field'",
                hint="pass the field of a run on the same data",
            )
    if expression_search not in _SEARCH_MODES:
        raise ConfigError(
            f"expression_search must be one of {list(_SEARCH_MODES)}, found {expression_search!r}",
            source="argument 'expression_search'",
        )
    search_kw = {
        **DEFAULTS["search"],
        **_check_options(
            search_options, "search_options", search, ("x", "dxdt", "states", "weights")
        ),
    }
    if isinstance(library, Library):
        lib = library
    else:
        lib = Library(ds.states, **_check_options(library, "library", Library, ("states",)))
    start = time.perf_counter()
    timings: dict[str, float] = {}
    stage = "neural"
    nf: NeuralField | None = None
    fronts: dict[str, list[Candidate]] = {}
    model: SymbolicModel | None = None
    report: SelectionReport | None = None
    extra: dict[str, Any] = {}
    try:
        _stage(f"[1/3] fitting the neural vector field to {ds!r}", quiet)
        if field is None:
            neural_kw.setdefault("seed", int(seed))
            neural_kw.setdefault("quiet", quiet)
            nf = NeuralField(**neural_kw)
            nf.fit(ds)
        else:
            nf = field
        timings["neural_s"] = time.perf_counter() - start
        if getattr(nf, "status_", None) == "interrupted":
            raise KeyboardInterrupt

        stage = "distill"
        _stage("[2/3] distilling equations from the field", quiet)
        t1 = time.perf_counter()
        x = _sample_points(nf, ds)
        dxdt = nf.predict(x)
        distill_kw.setdefault("seed", int(seed))
        fronts = distill(x, dxdt, ds.states, lib, **distill_kw)
        if expression_search != "never":
            stage = "search"
            t_search = time.perf_counter()
            search_kw.setdefault("time_budget", SEARCH_BUDGET)
            search_kw.setdefault("seed", int(seed))
            run = expression_search == "always" or library_fit_is_poor(fronts, x, dxdt)
            if run:
                _stage("      the library fits poorly: searching expression trees", quiet)
                found = search(x, dxdt, ds.states, **search_kw)
                fronts = _library_origin(merge_fronts(fronts, found), lib)
            extra["expression_search"] = {
                "mode": expression_search,
                "ran": bool(run),
                "seconds": round(time.perf_counter() - t_search, 3),
            }
        timings["symbolic_s"] = time.perf_counter() - t1

        stage = "select"
        _stage("[3/3] refitting constants through the ODE solver and selecting a model", quiet)
        t2 = time.perf_counter()
        select_kw.setdefault("seed", int(seed))
        model, report = select_model(fronts, ds, **select_kw)
        stage = "polish"
        polished = polish_model(model, ds, time_limit=POLISH_LIMIT)
        if polished is not None:
            model = polished
        timings["refine_s"] = time.perf_counter() - t2
    except KeyboardInterrupt:
        extra["interrupted"] = stage
        _stage(f"interrupted during '{stage}': keeping the work done so far", quiet)
        if model is None:
            model = _knee_model(ds.states, fronts)
    timings["total_s"] = time.perf_counter() - start
    return DiscoveryResult(
        model=model,
        field=nf,
        fronts=fronts,
        selection=report,
        data=ds,
        timings=timings,
        seed=int(seed),
        extra=extra,
    )


def _library_origin(
    fronts: Mapping[str, Sequence[Candidate]], lib: Library
) -> dict[str, list[Candidate]]:
    """Mark search candidates made of library terms only as library candidates.

    The search also finds plain forms (``v``, ``x*y``); only terms the library
    lacks need the selection's stronger evidence.
    """
    known = {sp.srepr(_plain(t)) for t in lib.terms}
    out: dict[str, list[Candidate]] = {}
    for s, front in fronts.items():
        out[s] = [
            replace(c, origin="library")
            if c.origin != "library" and all(sp.srepr(_plain(t)) in known for t in c.terms)
            else c
            for c in front
        ]
    return out


def _plain(expr: sp.Expr) -> sp.Expr:
    return sp.sympify(expr).xreplace({a: sp.Symbol(a.name) for a in expr.free_symbols})


def _knee_model(states: Sequence[str], fronts: Mapping[str, Sequence[Candidate]]) -> SymbolicModel:
    """The knee of each front as a model (no refit): the fallback of an interrupted run.

    A state without a front gets ``dx/dt = 0``.
    """
    terms = []
    for s in states:
        front = list(fronts.get(s, ()))
        if not front:
            continue
        best = knee(front)
        terms.extend(
            TermEstimate(s, t, float(c)) for t, c in zip(best.terms, best.coefficients, strict=True)
        )
    return SymbolicModel(states, terms)


def recover(
    problem: Problem | str,
    *,
    noise: float = 0.05,
    seed: int = 0,
    n_samples: int | None = None,
    irregular: bool = False,
    quiet: bool = False,
    **options: Any,
) -> DiscoveryResult:
    """The recover-the-law demo: simulate a problem, discover its law, score it.

    Parameters
    ----------
    problem : Problem or str
        A shipped problem's name or a path to a ``.toml`` file.
    noise, seed, n_samples, irregular
        As in :func:`sysid.simulate`.
    quiet : bool
        Silence progress on stderr.
    **options
        Passed to :func:`discover` (``neural``, ``library``...).

    Returns
    -------
    DiscoveryResult
        With ``score`` (structure recovered, coefficient error, held-out R^2).
    """
    _check_options(options, "options", discover, ("data", "seed", "quiet"))
    prob = load_problem(problem)
    data = simulate(prob, noise=noise, seed=seed, n_samples=n_samples, irregular=irregular)
    holdout = None
    if prob.holdout_initial_conditions.shape[0]:
        holdout = simulate(
            prob, noise=noise, seed=seed, n_samples=n_samples, irregular=irregular, holdout=True
        )
    result = discover(data, seed=seed, quiet=quiet, **options)
    result.problem = prob
    result.holdout = holdout
    result.score = score_equations(
        result.model.equations, prob, simulate_model=result.model.simulate
    )
    result.extra["recover"] = {
        "noise": float(noise),
        "irregular": bool(irregular),
        "n_samples": int(n_samples or prob.n_samples),
    }
    return result
