"""The components of :class:`~sysid.pipeline.SysID`: checked, built from options, and the library.

A component is one stage's options object (:class:`~sysid.neural.field.NeuralField`,
:class:`~sysid.symbolic.options.Distiller`, :class:`~sysid.symbolic.options.ExpressionSearch`,
:class:`~sysid.select.options.Selection`); the library is given as a
:class:`~sysid.symbolic.library.Library` or a dict of its options.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType
from typing import Any

import sympy as sp

from sysid.core.errors import ConfigError
from sysid.core.known import check_known_text
from sysid.core.options import Options, json_value, unknown_options
from sysid.core.renamed import with_new_names
from sysid.data.dataset import Dataset
from sysid.neural.field import NeuralField
from sysid.select.options import Selection
from sysid.symbolic.library import Library
from sysid.symbolic.model import SymbolicModel, TermEstimate
from sysid.symbolic.options import Distiller, ExpressionSearch
from sysid.symbolic.sparse import Candidate, knee

__all__ = [
    "knee_model",
    "known_of",
    "library_origin",
    "options_record",
    "COMPONENTS",
    "LIBRARY_OPTIONS",
    "check_field_states",
    "check_library_spec",
    "component",
    "library_for",
    "with_options",
]

#: Options of :class:`~sysid.symbolic.library.Library` that a dict ``library`` may hold.
LIBRARY_OPTIONS = ("degree", "trig", "extra", "include_constant")
#: The component classes of :class:`SysID`, by parameter name (``None`` builds the default).
COMPONENTS: Mapping[str, type] = MappingProxyType(
    {
        "field": NeuralField,
        "distiller": Distiller,
        "search": ExpressionSearch,
        "selection": Selection,
    }
)


def component(value: Any, name: str) -> Any:
    """``value`` checked to be the component ``name`` (None: the default one)."""
    cls = COMPONENTS[name]
    if value is None:
        return cls()
    if not isinstance(value, cls):
        raise ConfigError(
            f"{name} must be {_article(cls.__name__)} {cls.__name__} or None, "
            f"found {type(value).__name__}",
            source=f"argument '{name}'",
            hint=f"e.g. {name}={cls.__name__}(...)",
        )
    return value


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def with_options(current: Any, name: str, changes: dict[str, Any]) -> Any:
    """A new component ``name``: ``current`` (or the default) with ``changes``."""
    comp = component(current, name)
    if isinstance(comp, Options):
        return comp.replace(**changes)
    params = comp.get_params()
    changes = with_new_names(type(comp).__name__, changes, getattr(comp, "renamed", {}))
    unknown_options(changes, list(params), type(comp).__name__)
    return type(comp)(**{**params, **changes})


def library_for(
    spec: Library | Mapping[str, Any] | None, states: Sequence[str], inputs: Sequence[str] = ()
) -> Library:
    """The library for ``states`` (and ``inputs``): as given, from a dict of options, or default."""
    if isinstance(spec, Library):
        if tuple(spec.states) != tuple(states):
            raise ConfigError(
                f"library states {list(spec.states)} differ from the data's {list(states)}",
                source="argument 'library'",
                hint="build the library with the data's state names, in the same order",
            )
        if tuple(spec.inputs) != tuple(inputs):
            raise ConfigError(
                f"library inputs {list(spec.inputs)} differ from the data's {list(inputs)}",
                source="argument 'library'",
                hint="build the library with inputs=, the data's input names in the same order",
            )
        return spec
    check_library_spec(spec)
    return Library(states, **dict(spec or {}), inputs=tuple(inputs))


def check_library_spec(spec: Any) -> None:
    if spec is None or isinstance(spec, Library):
        return
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"library must be a dict of Library options or a Library, found {type(spec).__name__}",
            source="argument 'library'",
            hint="e.g. library={'degree': 2, 'trig': False}",
        )
    unknown_options(spec, LIBRARY_OPTIONS, "argument 'library'")


def check_field_states(nf: NeuralField, ds: Dataset) -> None:
    if tuple(nf.states_) != tuple(ds.states):
        raise ConfigError(
            f"the field was fitted to states {list(nf.states_)}, the data have {list(ds.states)}",
            source="argument 'field'",
            hint="pass the field of a run on the same data",
        )
    fitted = tuple(nf.inputs_.names) if getattr(nf, "inputs_", None) is not None else ()
    if fitted != tuple(ds.input_names):
        clock = "t" in fitted and not ds.time_dependent
        raise ConfigError(
            f"the field was fitted with inputs {list(fitted)}, the data have "
            f"{list(ds.input_names)}",
            source="argument 'field'",
            hint="the field's run was time-dependent: pass time_dependent=True"
            if clock
            else "pass the field of a run on the same data and inputs",
        )


def knee_model(states: Sequence[str], fronts: Mapping[str, Sequence[Candidate]]) -> SymbolicModel:
    """The knee of each front as a model (no refit): the fallback of an interrupted run."""
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


def known_of(known: Any, nf: NeuralField, fitted: bool) -> dict[str, str] | None:
    """The known physics of a fit: the estimator's, or the field's when only it has one."""
    mine = check_known_text(known, "argument 'known'")
    theirs = nf.known
    if mine is None or (theirs is not None and dict(theirs) == mine):
        return None if theirs is None else dict(theirs)
    if fitted or theirs is not None:
        raise ConfigError(
            f"known={mine} differs from the field's known={theirs}",
            source="argument 'known'",
            hint="give known physics once: to SysID, or to the field"
            + (" (a fitted field was trained with its own)" if fitted else ""),
        )
    return mine


def library_origin(
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


def options_record(plan: Any, lib: Library, seed: int | None) -> dict[str, Any]:
    """Every component's options, JSON-ready (``result.json``'s ``options``).

    ``plan`` is a :class:`~sysid.pipeline.SysID` fit's checked components
    (``field``, ``distiller``, ``search``, ``selection``, ``known``).
    """
    return {
        "seed": seed,
        "library": {
            "degree": lib.degree,
            "trig": lib.trig,
            "include_constant": lib.include_constant,
            "n_terms": len(lib.terms),
        },
        "known": None if plan.known is None else plan.known.to_dict(),
        "neural": {k: json_value(v) for k, v in plan.field.get_params().items()},
        "distiller": plan.distiller.to_dict(),
        "search": plan.search.to_dict(),
        "selection": plan.selection.to_dict(),
    }
