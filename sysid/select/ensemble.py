"""How sure is each term? Inclusion probabilities from a bootstrap of the distillation.

:func:`term_inclusion` resamples the points where the neural field's
derivatives are taken (bootstrap weights, one draw per member), distils each
resample with the library and keeps the knee of each state's Pareto front.
A term's inclusion probability is the fraction of members whose equation has
it; its constant's spread is taken over those members.

It is cheap (no neural training, no ODE refit: a few library regressions) and
opt-in. What it measures is the stability of the derivative-level choice
under resampling of one fitted field; it leaves out the field's own
uncertainty and the trajectory-level selection, so it is optimistic where
the field is wrong.

Examples
--------
>>> import numpy as np
>>> from sysid.symbolic.library import Library
>>> x = np.random.default_rng(0).uniform(0.5, 2.0, (200, 1))
>>> dxdt = 0.5 * x - 0.2 * x**2 + 0.01 * np.random.default_rng(1).normal(size=x.shape)
>>> out = term_inclusion(x, dxdt, ["u"], Library(["u"], degree=3, trig=False), n_members=8)
>>> [(t["term"], t["probability"]) for t in out["terms"] if t["probability"] > 0.5]
[('u', 1.0), ('u**2', 1.0)]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sysid.core.options import check_int_value, check_seed_value
from sysid.symbolic.library import Library
from sysid.symbolic.sparse import distill, knee

__all__ = ["term_inclusion"]


def term_inclusion(
    x: np.ndarray,
    dxdt: np.ndarray,
    states: Sequence[str],
    library: Library,
    *,
    n_members: int = 20,
    seed: int = 0,
    distill_options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Inclusion probability and constant spread of every term that some member keeps.

    Parameters
    ----------
    x, dxdt : ndarray (n, d)
        States and the field's derivatives there.
    states : sequence of str
    library : Library
    n_members : int
        Bootstrap resamples.
    seed : int
    distill_options : mapping, optional
        Options of :func:`~sysid.symbolic.sparse.distill` (its ``seed`` excepted).

    Returns
    -------
    dict
        ``n_members``, ``method`` and ``terms``: one entry per (state, term)
        kept by a member, with ``probability``, ``median``, ``low`` and
        ``high`` (5th and 95th percentiles of its constant over the members
        that keep it), most probable first per state.
    """
    check_int_value(n_members, "n_members", 2, "term_inclusion")
    check_seed_value(seed, "term_inclusion")
    x, dxdt = np.asarray(x, dtype=float), np.asarray(dxdt, dtype=float)
    opts = {k: v for k, v in dict(distill_options or {}).items() if k != "seed"}
    rng = np.random.default_rng(seed)
    kept: dict[tuple[str, str], list[float]] = {}
    for k in range(n_members):
        weights = rng.multinomial(len(x), np.full(len(x), 1.0 / len(x))).astype(float)
        fronts = distill(x, dxdt, states, library, weights=weights, seed=seed + k, **opts)
        for s in states:
            best = knee(fronts[s])
            for term, c in zip(best.terms, best.coefficients, strict=True):
                kept.setdefault((s, str(term)), []).append(float(c))
    terms = []
    for (s, term), cs in kept.items():
        low, mid, high = np.percentile(cs, [5.0, 50.0, 95.0])
        terms.append(
            {
                "state": s,
                "term": term,
                "probability": len(cs) / n_members,
                "median": float(mid),
                "low": float(low),
                "high": float(high),
            }
        )
    order = {s: i for i, s in enumerate(states)}
    terms.sort(key=lambda t: (order[t["state"]], -t["probability"], t["term"]))
    return {
        "n_members": int(n_members),
        "method": "bootstrap of the field's derivative samples; knee of each member's front",
        "terms": terms,
    }
