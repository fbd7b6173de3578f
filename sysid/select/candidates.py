"""Candidate systems of model selection: checked fronts, their equations, weak terms dropped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import sympy as sp

from sysid.core.errors import ConfigError
from sysid.core.expressions import term_complexity
from sysid.fit.refit import RefitResult
from sysid.symbolic.sparse import Candidate

__all__ = ["checked_fronts", "describe", "pruned_systems"]


def describe(system: Mapping[str, Candidate]) -> dict[str, str]:
    return {s: str(c.expr) for s, c in system.items()}


def pruned_systems(
    system: Mapping[str, Candidate], fit: RefitResult | None, below: float
) -> list[dict[str, Candidate]]:
    """Copies of ``system`` without one weak term each (weakest first), refitted values.

    A candidate's ``required`` terms (known physics) are never dropped.
    """
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
        if str(term) in {str(r) for r in cand.required}:
            continue
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
            required=cand.required,
            fixed=cand.fixed,
        )
        out.append({**system, state: reduced})
    return out


def checked_fronts(fronts: Any, states: tuple[str, ...]) -> dict[str, list[Candidate]]:
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
