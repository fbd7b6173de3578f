"""Known physics in the Pareto fronts: every candidate keeps the known terms.

The distillation of a hybrid field runs on the network's remainder (the rate
minus the known terms, :meth:`sysid.neural.field.NeuralField.predict` with
``remainder=True``); :func:`with_known` then adds the known terms, with the
field's coefficients, to every candidate of their equation and puts the
known terms alone at the head of its front (the remainder may be nothing).
The known terms are ``required``: the selection and the polish never drop
them, and the refit fits their constants with all the others.

Examples
--------
>>> import numpy as np, sympy as sp
>>> from sysid.core.known import parse_known
>>> from sysid.symbolic.sparse import Candidate
>>> k = parse_known({"x": "a*x"}, ["x", "y"])
>>> x, y = sp.symbols("x y", real=True)
>>> c = Candidate("x", -0.4 * x * y, (x * y,), np.array([-0.4]), 4, 0.01)
>>> front = with_known({"x": [c], "y": []}, k, {("x", x): 1.1})["x"]
>>> [str(f.expr) for f in front]
['1.1*x', '-0.4*x*y + 1.1*x']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import sympy as sp

from sysid.core.expressions import term_complexity
from sysid.core.known import KnownPhysics
from sysid.symbolic.sparse import Candidate

__all__ = ["with_known", "known_constants", "remainder_share"]


def remainder_share(
    states: Sequence[str], whole: np.ndarray, remainder: np.ndarray
) -> dict[str, float]:
    """State -> root mean square of the remainder over that of the whole rate (samples x states).

    Examples
    --------
    >>> remainder_share(["x"], np.array([[2.0], [-2.0]]), np.array([[1.0], [1.0]]))
    {'x': 0.5}
    """
    size = np.sqrt(np.mean(np.asarray(whole, dtype=float) ** 2, axis=0))
    rest = np.sqrt(np.mean(np.asarray(remainder, dtype=float) ** 2, axis=0))
    share = rest / np.where(size > 0, size, 1.0)
    return {s: float(v) for s, v in zip(states, share, strict=True)}


def with_known(
    fronts: Mapping[str, Sequence[Candidate]],
    known: KnownPhysics,
    coefficients: Mapping[tuple[str, sp.Expr], float],
    share: Mapping[str, float] | None = None,
) -> dict[str, list[Candidate]]:
    """Fronts of the remainder -> fronts of the whole rate, with the known terms required.

    Parameters
    ----------
    fronts : dict state -> list of Candidate
        Pareto fronts distilled from the remainder.
    known : KnownPhysics
    coefficients : dict (state, term) -> float
        The known terms' coefficients from the field
        (:attr:`~sysid.neural.field.NeuralField.known_coefficients_`).
    share : dict state -> float, optional
        Size of the remainder relative to the whole rate (root mean squares
        on the distillation's samples; default 1): the candidates' losses,
        relative to the remainder, are multiplied by it so that they are
        relative to the whole rate (the known terms alone then have loss
        ``share``).
    """
    out: dict[str, list[Candidate]] = {}
    for state, front in fronts.items():
        mine = known.terms_of(state)
        if not mine:
            out[state] = list(front)
            continue
        base = {
            t.term: t.sign if t.fixed else float(coefficients.get((state, t.term), 0.0))
            for t in mine
        }
        held = tuple(t.term for t in mine if t.fixed)
        f = 1.0 if share is None else float(share.get(state, 1.0))
        merged = [_known_only(state, base, f, held)]
        merged += [_merged(c, base, f, held) for c in front]
        best: dict[frozenset[str], Candidate] = {}  # one per set of terms: the best fit
        for c in merged:
            key = frozenset(str(t) for t in c.terms)
            if key not in best or c.loss < best[key].loss:
                best[key] = c
        out[state] = sorted(best.values(), key=lambda c: c.complexity)
    return out


def _known_only(
    state: str, base: Mapping[sp.Expr, float], share: float, held: tuple[sp.Expr, ...]
) -> Candidate:
    terms = tuple(base)
    coef = np.array([base[t] for t in terms], dtype=float)
    return _candidate(state, terms, coef, share, 0, "library", terms, held)


def _merged(
    c: Candidate, base: Mapping[sp.Expr, float], share: float, held: tuple[sp.Expr, ...]
) -> Candidate:
    """``c`` (a remainder candidate) plus the known terms; shared free terms add up,
    a fixed term keeps its number."""
    values = dict(base)
    for t, k in zip(c.terms, c.coefficients, strict=True):
        if t not in held:
            values[t] = values.get(t, 0.0) + float(k)
    terms = tuple(values)
    coef = np.array([values[t] for t in terms], dtype=float)
    loss = c.loss * share
    return _candidate(c.state, terms, coef, loss, c.n_library, c.origin, tuple(base), held)


def _candidate(
    state: str,
    terms: tuple[sp.Expr, ...],
    coef: np.ndarray,
    loss: float,
    n_library: int,
    origin: str,
    required: tuple[sp.Expr, ...],
    held: tuple[sp.Expr, ...],
) -> Candidate:
    expr = sp.Add(*[sp.Float(float(k)) * t for k, t in zip(coef, terms, strict=True)])
    complexity = int(sum(term_complexity(t) + 1 for t in terms))
    return Candidate(
        state, expr, terms, coef, complexity, float(loss), (), n_library, origin, required, held
    )


def known_constants(known: KnownPhysics, model: Any) -> dict[str, dict[str, Any]]:
    """The fitted known constants of ``model`` (a SymbolicModel): value, standard error, term.

    A constant whose term is not in the model (it cannot be, unless the
    model came from elsewhere) has value None.
    """
    by_key = {(t.state, str(t.term)): t for t in model.terms}
    out: dict[str, dict[str, Any]] = {}
    for k in known.terms:
        if k.constant is None:  # a fixed term: no constant to report
            continue
        est = by_key.get((k.state, str(k.term)))
        value = None if est is None else float(est.coefficient) / k.sign
        se = None if est is None or est.stderr is None else abs(float(est.stderr) / k.sign)
        out[k.constant] = {
            "state": k.state,
            "term": str(k.term),
            "sign": k.sign,
            "value": value,
            "stderr": se if se is None or np.isfinite(se) else None,
        }
    return out
