"""The function front ends of :class:`~sysid.pipeline.SysID`: :func:`discover` and :func:`recover`.

:func:`discover` is the estimator's flow with dicts of options (the
signature older code and the CLI use), returning a
:class:`~sysid.report.result.DiscoveryResult`; every option is checked before
any work starts. :func:`recover` is the demo: simulate a problem, discover,
score against the truth (the only place that reads true equations).

Examples
--------
>>> import sysid
>>> ds = sysid.simulate("logistic", noise=0.01, seed=0, n_samples=40)
>>> res = discover(ds, quiet=True, neural={"max_epochs": 5})       # doctest: +SKIP
>>> print(res.model)                                              # doctest: +SKIP
dN/dt = 0.6*N - 0.006*N**2
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from sysid.core.errors import ConfigError
from sysid.core.options import Options, unknown_options
from sysid.data.problems import Problem, load_problem
from sysid.data.simulation import simulate
from sysid.neural.field import NeuralField
from sysid.pipeline import SysID, check_library_spec, check_quiet, check_seed
from sysid.report.result import DiscoveryResult
from sysid.report.scoring import score as score_equations
from sysid.select.options import Selection
from sysid.symbolic.library import Library
from sysid.symbolic.options import SEARCH_MODES, Distiller, ExpressionSearch

__all__ = ["discover", "recover"]


def discover(
    data: Any,
    *,
    seed: int = 0,
    quiet: bool = False,
    time_column: str = "t",
    trajectory_column: str | None = "trajectory",
    states: Sequence[str] | None = None,
    inputs: Sequence[str] | None = None,
    interpolation: str = "linear",
    library: Library | Mapping[str, Any] | None = None,
    neural: Mapping[str, Any] | None = None,
    distill_options: Mapping[str, Any] | None = None,
    select_options: Mapping[str, Any] | None = None,
    expression_search: str = "auto",
    search_options: Mapping[str, Any] | None = None,
    field: NeuralField | None = None,
    known: Mapping[str, str] | None = None,
    time_dependent: bool = False,
) -> DiscoveryResult:
    """Learn readable equations from trajectories: :class:`SysID` with dicts of options.

    Every option is checked before any work starts; an unknown key is a
    :class:`~sysid.core.errors.ConfigError` naming it and the valid ones.

    Parameters
    ----------
    data : Dataset, CSV path, pandas DataFrame, or ``(t, x)`` arrays
        One or several trajectories, each on its own time grid.
    seed : int
        Seeds every random choice (unless an options dict gives its own
        ``seed``); the same seed gives the same equations on the same machine.
    quiet : bool
        Silence progress on stderr.
    time_column, trajectory_column, states
        How to read a CSV file or DataFrame (``docs/contract.md#data-columns``).
    inputs : list of str, optional
        Exogenous input columns (``docs/contract.md#inputs``): measured signals
        that drive the system; the equations may use them, they are not modelled.
    interpolation : {"linear", "hold", "cubic"}
        How inputs are read between their samples (``"hold"``: each sample
        until the next, for switched inputs).
    library : Library or dict, optional
        Candidate terms, or options of :class:`~sysid.symbolic.library.Library`
        (``degree``, ``trig``, ``extra``, ``include_constant``).
    neural : dict, optional
        Options of :class:`~sysid.neural.field.NeuralField`.
    distill_options : dict, optional
        Options of :class:`~sysid.symbolic.options.Distiller`.
    select_options : dict, optional
        Options of :class:`~sysid.select.options.Selection`: those of
        :func:`~sysid.select.selection.select_model` (with ``holdout``) and of
        the polish (``polish``, ``polish_negligible``, ``polish_time_limit``).
    expression_search : {"auto", "always", "never"}
        Search over expression trees (rational, Hill, exponential, logarithmic
        terms; :mod:`sysid.symbolic.search`) in addition to the library:
        ``"auto"`` when the library's best fits are poor, within about 40 s.
        Its candidates join the Pareto fronts (``ExpressionSearch.mode``).
    search_options : dict, optional
        Options of :class:`~sysid.symbolic.options.ExpressionSearch` but
        ``mode`` (``operators``, ``max_terms``, ``time_limit``...).
    field : NeuralField, optional
        A field already fitted to these data (e.g. ``result.field`` of an
        earlier run): training is skipped and only the symbolic stages run.
    known : dict state -> str, optional
        Known physics with free constants, e.g. ``{"x": "alpha*x"}``
        (``docs/contract.md#known-physics``): every equation keeps its known
        terms, the field and the distillation work on the remainder, and
        ``result.extra["known"]`` holds each constant's value and standard
        error.
    time_dependent : bool
        Allow terms in the time ``t`` (``docs/contract.md#time-dependent``);
        off by default.

    Returns
    -------
    DiscoveryResult
        Pressing Ctrl-C (``KeyboardInterrupt``) does not lose the work done:
        the result holds what was finished and ``result.extra["interrupted"]``
        names the stage that was stopped.

    Examples
    --------
    >>> import sysid
    >>> ds = sysid.simulate("logistic", noise=0.01, seed=0, n_samples=40)
    >>> sysid.discover(ds, select_options={"time_budjet": 5})
    Traceback (most recent call last):
    ...
    sysid.core.errors.ConfigError: argument 'select_options': unknown option(s) ['time_budjet']...
    """
    est = _estimator(
        seed=seed,
        quiet=quiet,
        library=library,
        neural=neural,
        distill_options=distill_options,
        select_options=select_options,
        expression_search=expression_search,
        search_options=search_options,
        field=field,
        known=known,
        time_dependent=time_dependent,
    )
    est.fit(
        data,
        time_column=time_column,
        trajectory_column=trajectory_column,
        states=states,
        inputs=inputs,
        interpolation=interpolation,
    )
    return replace(est.result_, seed=int(seed))


def _estimator(
    *,
    seed: Any,
    quiet: Any,
    library: Any,
    neural: Any,
    distill_options: Any,
    select_options: Any,
    expression_search: Any,
    search_options: Any,
    field: Any,
    known: Any = None,
    time_dependent: Any = False,
) -> SysID:
    """The :class:`SysID` of :func:`discover`'s arguments, every option checked."""
    check_seed(seed)
    check_quiet(quiet)
    s = int(seed)
    valid_field = [*NeuralField().get_params(), *NeuralField.renamed]
    nf = NeuralField(**_options(neural, "neural", valid_field, seed=s, quiet=quiet))
    if field is not None:
        _check_fitted_field(field)
        nf = field
    valid_search = [n for n in _accepted(ExpressionSearch) if n != "mode"]
    if expression_search not in SEARCH_MODES:
        raise ConfigError(
            f"expression_search must be one of {list(SEARCH_MODES)}, found {expression_search!r}",
            source="argument 'expression_search'",
        )
    check_library_spec(library)
    opts = {"seed": s}
    return SysID(
        library=library,
        field=nf,
        distiller=Distiller(
            **_options(distill_options, "distill_options", _accepted(Distiller), **opts)
        ),
        search=ExpressionSearch(
            mode=expression_search,
            **_options(search_options, "search_options", valid_search, **opts),
        ),
        selection=Selection(
            **_options(select_options, "select_options", _accepted(Selection), **opts)
        ),
        seed=None,  # the seeds are in the components
        quiet=bool(quiet),
        known=known,
        time_dependent=time_dependent,
    )


def _accepted(component: type[Options]) -> list[str]:
    """The option names a component takes: its own and their old names."""
    return [*component.option_names(), *component.renamed]


def _options(
    given: Mapping[str, Any] | None, name: str, valid: Sequence[str], **defaults: Any
) -> dict[str, Any]:
    """``defaults`` updated by the dict ``given`` (argument ``name``), its keys checked."""
    if given is None:
        return dict(defaults)
    if not isinstance(given, Mapping):
        raise ConfigError(
            f"{name} must be a dict of options, found {type(given).__name__}",
            source=f"argument '{name}'",
            hint="components (NeuralField, Distiller, ExpressionSearch, Selection) go to "
            "sysid.SysID(field=..., distiller=..., search=..., selection=...)",
        )
    hints = {
        "library": "the library is discover's own argument: library=Library(...) or a dict",
        "mode": "use discover's expression_search argument",
    }
    for key, hint in hints.items():
        if key in given and key not in valid:
            raise ConfigError(
                f"unknown option(s) [{key!r}]", source=f"argument '{name}'", hint=hint
            )
    unknown_options(given, valid, f"argument '{name}'")
    return {**defaults, **given}


def _check_fitted_field(nf: Any) -> None:
    if not isinstance(nf, NeuralField):
        raise ConfigError(
            f"field must be a fitted NeuralField, found {type(nf).__name__}",
            source="argument 'field'",
        )
    nf._check_fitted()


#: The keyword arguments of :func:`discover` that :func:`recover` passes on.
_DISCOVER_OPTIONS = (
    "time_column",
    "trajectory_column",
    "states",
    "library",
    "neural",
    "distill_options",
    "select_options",
    "expression_search",
    "search_options",
    "field",
    "known",
    "time_dependent",
)


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
        Passed to :func:`discover` (``neural``, ``library``...);
        ``time_dependent`` is on by default for a problem whose equations
        have terms in ``t``.

    Returns
    -------
    DiscoveryResult
        With ``score`` (structure recovered, coefficient error, held-out R^2).
    """
    unknown_options(options, _DISCOVER_OPTIONS, "argument 'options'")
    prob = load_problem(problem)
    options.setdefault("time_dependent", prob.time_dependent)
    data = simulate(prob, noise=noise, seed=seed, n_samples=n_samples, irregular=irregular)
    holdout = None
    if prob.holdout_initial_conditions.shape[0]:
        holdout = simulate(
            prob, noise=noise, seed=seed, n_samples=n_samples, irregular=irregular, holdout=True
        )
    result = discover(data, seed=seed, quiet=quiet, **options)
    result.problem = prob
    result.holdout = holdout
    if result.model is not None:  # None only when Ctrl-C came before any equations
        result.score = score_equations(
            result.model.equations, prob, simulate_model=result.model.simulate
        )
    result.extra["recover"] = {
        "noise": float(noise),
        "irregular": bool(irregular),
        "n_samples": int(n_samples or prob.n_samples),
    }
    return result
