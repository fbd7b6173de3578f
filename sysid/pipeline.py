"""The whole flow: the :class:`SysID` estimator, the stages in order.

:class:`SysID` fits a neural vector field to the trajectories (torchdiffeq,
adjoint method), samples it at the denoised data states, distils per-state
Pareto fronts of sparse equations (joined by expression trees when the library
fits poorly), refits the constants of candidate systems through the ODE solver
against the raw data, picks the system that best simulates data it was not
fitted on, and polishes it. Each stage's options are a component, checked when
it is built, before any training: :class:`~sysid.neural.field.NeuralField`,
:class:`~sysid.symbolic.library.Library`, :class:`~sysid.symbolic.options.Distiller`,
:class:`~sysid.symbolic.options.ExpressionSearch` and
:class:`~sysid.select.options.Selection`. The stage functions (``distill``,
``search``, ``select_model``, ``polish_model``) are called by their names in
this module. :mod:`sysid.discovery` holds the function front ends over it
(:func:`~sysid.discovery.discover`, :func:`~sysid.discovery.recover`).

One set of default settings serves every problem (the components'
signatures); nothing here reads the true equations.

Examples
--------
>>> import sysid
>>> ds = sysid.simulate("lotka-volterra", noise=0.01, seed=0, n_samples=60)
>>> est = sysid.SysID(selection=sysid.Selection(time_limit=30.0), quiet=True)
>>> print(est.fit(ds).model_)                                     # doctest: +SKIP
dx/dt = 1.1*x - 0.4*x*y
dy/dt = 0.1*x*y - 0.4*y
>>> est.score(ds) > 0.99                                          # doctest: +SKIP
True
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

from sysid.components import (
    COMPONENTS,
    check_field_states,
    check_library_spec,
    component,
    knee_model,
    known_of,
    library_for,
    library_origin,
    options_record,
    with_options,
)
from sysid.core.errors import ConfigError, DataError, ModelWarning, SysidError
from sysid.core.known import KnownPhysics, parse_known
from sysid.core.options import MAX_SEED, check_seed_value, unknown_options
from sysid.data.dataset import Dataset, check_scale, load_data
from sysid.fit.polish import polish_model
from sysid.neural.field import NeuralField
from sysid.report.diagnostics import diagnose
from sysid.report.result import DiscoveryResult
from sysid.report.scoring import simulated_r2
from sysid.select.ensemble import failed_member, model_member, run_ensemble, summarize
from sysid.select.options import Selection
from sysid.select.selection import select_model
from sysid.symbolic.hybrid import known_constants, remainder_share, with_known
from sysid.symbolic.library import Library
from sysid.symbolic.model import SymbolicModel
from sysid.symbolic.options import Distiller, ExpressionSearch
from sysid.symbolic.search import library_fit_is_poor, merge_fronts, search
from sysid.symbolic.sparse import Candidate, distill

__all__ = ["SysID", "NotFittedError", "check_seed", "check_quiet", "check_library_spec"]


class NotFittedError(ConfigError, _SklearnNotFittedError):
    """A :class:`SysID` was asked for a model before :meth:`SysID.fit` ran.

    Also a ``sklearn.exceptions.NotFittedError``.
    """


def _say(msg: str, quiet: bool) -> None:
    if not quiet:
        print(f"sysid: {msg}", file=sys.stderr, flush=True)


def check_seed(seed: Any, none_ok: bool = False) -> None:
    check_seed_value(seed, "argument 'seed'", none_ok=none_ok)


def check_flag(value: Any, name: str) -> None:
    """``value`` True or False, or a ConfigError naming the argument ``name``."""
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(
            f"{name} must be True or False, found {value!r}", source=f"argument '{name}'"
        )


def check_quiet(quiet: Any) -> None:
    check_flag(quiet, "quiet")


@dataclass(frozen=True)
class _Plan:
    """The components of one fit, checked and with the seeds applied."""

    field: NeuralField
    field_is_fitted: bool
    distiller: Distiller
    search: ExpressionSearch
    selection: Selection
    quiet: bool
    known: KnownPhysics | None = None


@dataclass
class _StageTimer:
    """The stage running now and the seconds per finished stage."""

    stage: str = "neural"
    start: float = field(default_factory=time.perf_counter)
    timings: dict[str, float] = field(default_factory=dict)

    def lap(self, key: str, since: float) -> None:
        self.timings[key] = time.perf_counter() - since


class SysID(BaseEstimator):
    """Learn readable equations from trajectories, in scikit-learn style.

    The constructor only stores its components; :meth:`fit` checks them and the
    data before any training. Every component checks its own options when it
    is built, so ``Selection(time_limit=-1)`` fails at once.

    Parameters
    ----------
    library : Library, dict or None
        Candidate terms: a :class:`~sysid.symbolic.library.Library` for the
        data's states, a dict of its options (``degree``, ``trig``, ``extra``,
        ``include_constant``; built for the data's states in :meth:`fit`), or
        None for the default library.
    field : NeuralField or None
        The neural vector field. An unfitted one is a template: a copy is
        trained (the given object is never changed). A fitted one (the
        ``field_`` of an earlier fit on the same data) is reused and training
        is skipped, to try other symbolic options in seconds.
    distiller : Distiller or None
        Options of the sparse regression.
    search : ExpressionSearch or None
        Options of the expression-tree search and when it runs.
    selection : Selection or None
        Options of the model selection and of the polish.
    seed : int or None
        An integer seeds every stage (it replaces the components' own seeds);
        None keeps each component's seed.
    quiet : bool
        Silence progress on stderr (the field's progress bar included).
    known : dict state -> str, optional
        Known physics with free constants (``docs/contract.md#known-physics``),
        e.g. ``{"x": "alpha*x", "y": "-delta*y"}``: the field learns
        ``known + NN``, the distillation runs on the network's remainder,
        every candidate keeps the known terms, and the refit fits their
        constants with all others (``extra_["known"]``: each constant's value
        and standard error). Checked against the data's states and inputs
        before any training.
    time_dependent : bool
        Let the equations have terms in the time ``t`` (``dx/dt = f(x, u, t)``,
        ``docs/contract.md#time-dependent``): the time becomes one more input,
        the clock ``t``, of the field, the library and the expression search.
        Off by default: most laws do not change with the clock.

    Attributes
    ----------
    model_ : SymbolicModel
        The chosen equations with constants and standard errors.
    field_ : NeuralField
        The fitted neural field.
    fronts_ : dict state -> list of Candidate
        Pareto fronts of the distillation (and search).
    selection_ : SelectionReport or None
        Every candidate system tried and why the winner won (None when
        interrupted before the selection finished).
    data_ : Dataset
        The data fitted.
    states_ : tuple of str
    n_features_in_ : int
        Number of states.
    timings_ : dict
        Seconds per stage: ``neural_s``, ``symbolic_s``, ``refine_s``, ``total_s``.
    extra_ : dict
        ``expression_search`` (mode, whether it ran, seconds), ``interrupted``
        (the stage that Ctrl-C stopped, if any) and ``options`` (every
        component's options, as written to ``result.json``).
    seed_ : int
        The seed of the run (``seed``, or the field's own when ``seed`` is None).
    result_ : DiscoveryResult
        All of it, to print, plot and save (``result_.save(outdir)``).

    Examples
    --------
    >>> import sysid
    >>> est = sysid.SysID(distiller=sysid.Distiller(max_terms=3), seed=1)
    >>> est
    SysID(distiller=Distiller(max_terms=3), seed=1)
    >>> est.set_params(selection__time_limit=20.0).selection
    Selection(time_limit=20.0)
    >>> est.predict([[1.0, 2.0]])
    Traceback (most recent call last):
    ...
    sysid.pipeline.NotFittedError: SysID: this SysID is not fitted yet. Hint: call fit(data) first
    """

    def __init__(
        self,
        library: Library | Mapping[str, Any] | None = None,
        field: NeuralField | None = None,
        distiller: Distiller | None = None,
        search: ExpressionSearch | None = None,
        selection: Selection | None = None,
        seed: int | None = 0,
        quiet: bool = False,
        known: Mapping[str, str] | None = None,
        time_dependent: bool = False,
    ) -> None:
        self.library = library
        self.field = field
        self.distiller = distiller
        self.search = search
        self.selection = selection
        self.seed = seed
        self.quiet = quiet
        self.known = known
        self.time_dependent = time_dependent

    # ------------------------------------------------------------ params
    def set_params(self, **params: Any) -> SysID:
        """Set parameters; ``component__option=value`` builds a new, checked component.

        The components are frozen, so ``selection__time_limit=20`` replaces
        ``selection`` by ``selection.replace(time_limit=20)`` (the default
        component when it is None); a NeuralField is rebuilt from its options.
        """
        valid = self.get_params(deep=False)
        nested: dict[str, dict[str, Any]] = {}
        flat: dict[str, Any] = {}
        for key, value in params.items():
            name, sep, sub = key.partition("__")
            if sep and name in COMPONENTS:
                nested.setdefault(name, {})[sub] = value
            else:
                flat[key] = value
        unknown_options(flat, list(valid), "SysID.set_params")
        super().set_params(**flat)
        for name, changes in nested.items():
            setattr(self, name, with_options(getattr(self, name), name, changes))
        return self

    # --------------------------------------------------------------- fit
    def fit(
        self,
        data: Any,
        *,
        time_column: str = "t",
        trajectory_column: str | None = "trajectory",
        states: Sequence[str] | None = None,
        inputs: Sequence[str] | None = None,
        interpolation: str = "linear",
    ) -> SysID:
        """Learn equations from trajectories.

        Parameters
        ----------
        data : Dataset, CSV path, pandas DataFrame, or ``(t, x)`` arrays
            One or several trajectories, each on its own time grid.
        time_column, trajectory_column, states
            How to read a CSV file or DataFrame (``docs/contract.md#data-columns``).
        inputs, interpolation
            Exogenous input columns and how they are read between samples
            (``docs/contract.md#inputs``): the field is ``f(x, u)``, the library
            has terms in states and inputs, every simulation reads the inputs.

        Returns
        -------
        SysID
            ``self``, fitted. Ctrl-C (``KeyboardInterrupt``) keeps the work
            done: the field, the knee of each Pareto front as the model when the
            selection did not finish, and ``extra_["interrupted"]`` names the
            stage that was stopped.
        """
        plan = self._plan()
        ds = load_data(
            data,
            time_column=time_column,
            trajectory_column=trajectory_column,
            states=states,
            inputs=inputs,
            interpolation=interpolation,
        )
        check_scale(ds)
        if self.time_dependent:
            ds = ds.with_time()
        lib = library_for(self.library, ds.states, ds.input_names)
        if plan.field_is_fitted:
            check_field_states(plan.field, ds)
        known = parse_known(plan.field.known, ds.states, ds.input_names)
        self._run(replace(plan, known=known), ds, lib)
        return self

    def _plan(self) -> _Plan:
        """Check the estimator's arguments and apply ``seed`` and ``quiet``."""
        check_seed(self.seed, none_ok=True)
        check_quiet(self.quiet)
        check_flag(self.time_dependent, "time_dependent")
        nf = component(self.field, "field")
        parts = {n: component(getattr(self, n), n) for n in ("distiller", "search", "selection")}
        if self.seed is not None:
            parts = {n: c.replace(seed=int(self.seed)) for n, c in parts.items()}
        fitted = hasattr(nf, "field_")
        known = known_of(self.known, nf, fitted)
        if not fitted:  # train a copy: the caller's object stays as given
            changes: dict[str, Any] = {} if self.seed is None else {"seed": int(self.seed)}
            if self.quiet:
                changes["quiet"] = True
            nf = NeuralField(**{**nf.get_params(), **changes, "known": known})
        return _Plan(nf, fitted, quiet=bool(self.quiet), **parts)

    def _run(self, plan: _Plan, ds: Dataset, lib: Library) -> None:
        """The stages, in order; Ctrl-C keeps what was finished."""
        self.field_: NeuralField | None = None
        self.fronts_: dict[str, list[Candidate]] = {}
        self.model_: SymbolicModel | None = None
        self.selection_ = None
        self.extra_: dict[str, Any] = {}
        timer = _StageTimer()
        try:
            self._fit_field(plan, ds, timer)
            self._distill(plan, ds, lib, timer)
            self._select(plan, ds, timer)
            self._ensemble(plan, ds, lib, timer)
            self._diagnose(plan, ds, timer)
        except KeyboardInterrupt:
            self.extra_["interrupted"] = timer.stage
            _say(f"interrupted during '{timer.stage}': keeping the work done so far", plan.quiet)
            if self.model_ is None:
                self.model_ = self._partial_model(plan, ds, lib, timer.stage)
            else:
                what = {"diagnose": "diagnostics", "ensemble": "ensemble"}.get(
                    timer.stage, "polish"
                )
                self.extra_["partial"] = f"the selected model, refitted; its {what} did not finish"
        if plan.known is not None and plan.known.constants and self.model_ is not None:
            self.extra_["known"] = known_constants(plan.known, self.model_)
        timer.lap("total_s", timer.start)
        self.timings_ = timer.timings
        self.data_ = ds
        self.states_ = tuple(ds.states)
        self.n_features_in_ = len(ds.states)
        self.seed_ = int(self.seed) if self.seed is not None else int(plan.field.seed)
        self.extra_["options"] = options_record(plan, lib, self.seed)
        self.result_ = DiscoveryResult(
            model=self.model_,
            field=self.field_,
            fronts=self.fronts_,
            selection=self.selection_,
            data=ds,
            timings=self.timings_,
            seed=self.seed_,
            extra=self.extra_,
        )

    def _partial_model(
        self, plan: _Plan, ds: Dataset, lib: Library, stage: str
    ) -> SymbolicModel | None:
        """The knees of the fronts when Ctrl-C came (a partial field distilled first), or None.

        A second Ctrl-C gives the distillation up; a state without a front gives
        no model at all: a missing equation is never shown as ``dx/dt = 0``.
        """
        if stage == "neural" and not self.fronts_ and self.field_ is not None:
            _say("distilling the partially trained field (Ctrl-C again to stop)", plan.quiet)
            try:
                x, rest, fronts = self._library_fronts(plan, ds, lib)
                self.fronts_ = self._with_known(plan, fronts, x, rest)
            except (KeyboardInterrupt, SysidError):
                self.fronts_ = {}
        if not all(self.fronts_.get(s) for s in ds.states):
            return None
        self.extra_["partial"] = (
            "the knees of the Pareto fronts"
            + (" of a partially trained field (library terms only)" if stage == "neural" else "")
            + ", not refitted through the ODE solver and not selected"
        )
        return knee_model(ds.states, self.fronts_)

    def _library_fronts(
        self, plan: _Plan, ds: Dataset, lib: Library
    ) -> tuple[np.ndarray, np.ndarray, dict[str, list[Candidate]]]:
        """The field's derivative samples and the library's Pareto fronts on them.

        With known physics the samples are the network's remainder (the rate
        less the known terms).
        """
        x = self.field_.sample_points(ds)  # states, then the inputs there
        d = ds.n_states
        u = x[:, d:] if ds.inputs else None
        dxdt = self.field_.predict(x[:, :d], u, remainder=plan.known is not None)
        fronts = distill(x, dxdt, ds.states, lib, **plan.distiller.kwargs())
        return x, dxdt, fronts

    def _with_known(
        self, plan: _Plan, fronts: dict[str, list[Candidate]], x: np.ndarray, rest: np.ndarray
    ) -> dict[str, list[Candidate]]:
        """The known terms added to every candidate (nothing to do without known physics)."""
        if plan.known is None:
            return fronts
        d = len(plan.known.states)
        whole = self.field_.predict(x[:, :d], x[:, d:] if x.shape[1] > d else None)
        share = remainder_share(plan.known.states, whole, rest)
        return with_known(fronts, plan.known, self.field_.known_coefficients_, share)

    def _fit_field(self, plan: _Plan, ds: Dataset, timer: _StageTimer) -> None:
        _say(f"[1/3] fitting the neural vector field to {ds!r}", plan.quiet)
        nf = plan.field
        if not plan.field_is_fitted:
            nf.fit(ds)
        self.field_ = nf
        timer.lap("neural_s", timer.start)
        if getattr(nf, "status_", None) == "interrupted":
            raise KeyboardInterrupt

    def _distill(self, plan: _Plan, ds: Dataset, lib: Library, timer: _StageTimer) -> None:
        timer.stage = "distill"
        _say("[2/3] distilling equations from the field", plan.quiet)
        t1 = time.perf_counter()
        x, dxdt, self.fronts_ = self._library_fronts(plan, ds, lib)
        if plan.search.runs:
            timer.stage = "search"
            t_search = time.perf_counter()
            run = plan.search.mode == "always" or library_fit_is_poor(self.fronts_, x, dxdt)
            if run:
                _say("      the library fits poorly: searching expression trees", plan.quiet)
                found = search(x, dxdt, ds.states, inputs=ds.input_names, **plan.search.kwargs())
                self.fronts_ = library_origin(merge_fronts(self.fronts_, found), lib)
            self.extra_["expression_search"] = {
                "mode": plan.search.mode,
                "ran": bool(run),
                "seconds": round(time.perf_counter() - t_search, 3),
            }
        self.fronts_ = self._with_known(plan, self.fronts_, x, dxdt)
        timer.lap("symbolic_s", t1)

    def _select(self, plan: _Plan, ds: Dataset, timer: _StageTimer) -> None:
        timer.stage = "select"
        _say("[3/3] refitting constants through the ODE solver and selecting a model", plan.quiet)
        t2 = time.perf_counter()
        opts = plan.selection
        model, self.selection_ = select_model(self.fronts_, ds, **opts.select_kwargs())
        self.model_ = model
        if opts.polish:
            timer.stage = "polish"
            keep = {} if plan.known is None else {"required": plan.known.required()}
            polished = polish_model(model, ds, **opts.polish_kwargs(), **keep)
            if polished is not None:
                self.model_ = polished
        timer.lap("refine_s", t2)

    def _ensemble(self, plan: _Plan, ds: Dataset, lib: Library, timer: _StageTimer) -> None:
        """Inclusion probabilities of the terms: on random halves of the data, with other fields."""
        opts = plan.selection
        if self.selection_ is None or self.selection_.winner is None:
            return
        if opts.ensemble == 0 and opts.ensemble_fields == 0:
            return
        timer.stage = "ensemble"
        t3 = time.perf_counter()
        if opts.ensemble:
            _say(
                f"      ensemble: the selection on {opts.ensemble} random halves of the data",
                plan.quiet,
            )
            summary = run_ensemble(
                self.selection_,
                ds,
                self.model_,
                select_kwargs=opts.select_kwargs(),
                **opts.ensemble_kwargs(),
            )
            self.extra_["ensemble"] = summary
            if summary["interrupted"]:
                raise KeyboardInterrupt
        if opts.ensemble_fields:
            self.extra_["field_ensemble"] = self._field_members(plan, ds, lib)
            if self.extra_["field_ensemble"]["interrupted"]:
                raise KeyboardInterrupt
        timer.lap("ensemble_s", t3)

    def _field_members(self, plan: _Plan, ds: Dataset, lib: Library) -> dict[str, Any]:
        """The run again with the next ``ensemble_fields`` seeds: field, distillation, selection."""
        n, start = plan.selection.ensemble_fields, time.perf_counter()
        seeds = [(int(plan.field.seed) + 1 + i) % MAX_SEED for i in range(n)]
        results: list[dict[str, Any]] = []
        for i, seed in enumerate(seeds):
            _say(f"      ensemble: neural field {i + 1} of {n} (seed {seed})", plan.quiet)
            member = SysID(
                library=lib,
                field=NeuralField(**{**plan.field.get_params(), "seed": seed, "quiet": True}),
                distiller=plan.distiller,
                search=plan.search,
                selection=plan.selection.replace(ensemble=0, ensemble_fields=0),
                seed=seed,
                quiet=True,
                known=None if plan.known is None else plan.known.to_dict(),
            )
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    member.fit(ds)
            except SysidError as err:
                results.append(failed_member(i, f"{type(err).__name__}: {err}"))
                continue
            if member.extra_.get("interrupted"):
                break
            results.append(model_member(i, member.model_))
        return {
            "members": n,
            "seeds": seeds,
            **summarize(self.model_, results),
            "interrupted": len(results) < n,
            "seconds": round(time.perf_counter() - start, 3),
        }

    def _diagnose(self, plan: _Plan, ds: Dataset, timer: _StageTimer) -> None:
        """The diagnostics block and its verdict; a ModelWarning unless it is good."""
        timer.stage = "diagnose"
        t3 = time.perf_counter()
        report = self.selection_
        try:
            diag = diagnose(
                self.model_,
                ds,
                initial_states=None if report is None else report.initial_states,
                correlation=None if report is None else report.correlation,
                holdout_fraction=plan.selection.holdout_fraction,
                ensemble=self.extra_.get("ensemble"),
            )
        except Exception as err:  # noqa: BLE001 - a failed check never loses the result
            diag = {"verdict": None, "reasons": [], "error": f"{type(err).__name__}: {err}"}
        self.extra_["diagnostics"] = diag
        timer.lap("diagnose_s", t3)
        if diag["verdict"] not in (None, "good"):
            words = "; ".join(f"{r['message']} (remedy: {r['remedy']})" for r in diag["reasons"])
            warnings.warn(f"verdict {diag['verdict']}: {words}", ModelWarning, stacklevel=4)

    # ------------------------------------------------------- the fitted model
    def _fitted_model(self) -> SymbolicModel:
        if getattr(self, "model_", None) is None:
            stage = getattr(self, "extra_", {}).get("interrupted")
            what = (
                f"the fit of this {type(self).__name__} was interrupted during '{stage}' "
                "before any equations were found"
                if stage
                else f"this {type(self).__name__} is not fitted yet"
            )
            hint = "call fit(data) again and let it finish" if stage else "call fit(data) first"
            raise NotFittedError(what, source=type(self).__name__, hint=hint)
        return self.model_

    def predict(self, x: Any) -> np.ndarray:
        """Derivatives ``dx/dt`` of the fitted equations at states ``x``: (n, d) -> (n, d)."""
        return self._fitted_model().rhs(x)

    def simulate(self, x0: Any, t: Any, **options: Any) -> np.ndarray:
        """States at times ``t`` from ``x0`` at ``t[0]``: (len(t), d).

        Guarded (:meth:`~sysid.symbolic.model.SymbolicModel.simulate`, whose
        ``max_evals``, ``time_limit`` and ``rtol`` pass through): a blow-up
        raises :class:`~sysid.core.errors.SimulationError` naming the reason.
        """
        return self._fitted_model().simulate(x0, t, **options)

    def score(self, data: Any, **read_options: Any) -> float:
        """Simulated R^2 of the fitted equations on trajectories, averaged over states.

        Each trajectory is simulated from its first fully measured sample
        (:func:`~sysid.report.scoring.simulated_r2`); a failed simulation
        scores ``-inf``. ``read_options`` as in :meth:`fit`.
        """
        model = self._fitted_model()
        ds = load_data(data, **read_options)
        if tuple(ds.states) != tuple(model.states):
            raise DataError(
                f"the data have states {list(ds.states)}, the model {list(model.states)}",
                source="SysID.score",
                hint="score on data of the states the estimator was fitted to",
            )
        return simulated_r2(model.simulate, ds)
