"""Expression comparison: do two equations have the same terms, up to fitted constants?"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import sympy as sp

from sysid.core.errors import DataError
from sysid.core.expressions import parse_equation

__all__ = ["compare_with_constants", "term_shape", "term_shapes"]


def _normalise_term(term: sp.Expr) -> tuple[sp.Expr, float]:
    """Scale denominators ``(a + b*u)`` to ``(a/b + u)``; return (term, factor).

    A denominator with one non-constant term is made monic in it, so the
    inner constant reads as in ``S/(Km + S)``; otherwise its constant term is
    scaled to 1.
    """
    factor = 1.0
    new = []
    for f in sp.Mul.make_args(term):
        base, expo = f.as_base_exp()
        if isinstance(base, sp.Add) and expo.is_number and expo < 0:
            varying = [a for a in base.args if not a.is_number]
            scale = 0.0
            if len(varying) == 1:
                scale = float(varying[0].as_coeff_Mul()[0])
            if scale == 0.0:
                scale = sum((float(a) for a in base.args if a.is_number), 0.0)
            if scale != 0.0:
                base = sp.expand(base / scale)
                factor *= scale ** float(expo)
                f = base**expo
        new.append(f)
    return sp.Mul(*new), factor


def _numeric(expr: sp.Expr) -> sp.Expr:
    """Evaluate number-valued subexpressions such as ``log(50)`` or ``sqrt(2)`` to Floats."""
    return expr.replace(
        lambda e: e.is_number and not e.is_Atom and not isinstance(e, sp.Pow),
        lambda e: e.evalf(),
    )


def _canonical_terms(expr: sp.Expr) -> list[tuple[sp.Expr, float]]:
    """Expanded (term, coefficient) pairs, rational terms as partial fractions.

    ``x*y/(x + 2)`` and ``y - 2*y/(x + 2)`` are the same function; partial
    fractions in the denominator's symbol make both read the second way.
    """
    out: dict[sp.Expr, float] = {}
    for term, coef in sp.expand(_numeric(expr)).as_coefficients_dict().items():
        num, den = sp.fraction(sp.together(term))
        parts = [(term, 1.0)]
        syms = sorted(den.free_symbols, key=str)
        if len(syms) == 1 and den.is_polynomial(syms[0]) and sp.degree(den, syms[0]) > 0:
            try:
                split = sp.expand(sp.apart(term, syms[0]))
                parts = [(t, float(c)) for t, c in split.as_coefficients_dict().items()]
            except (sp.PolynomialError, NotImplementedError, TypeError, ValueError):
                pass
        for t, c in parts:
            out[t] = out.get(t, 0.0) + float(coef) * c
    return [(t, c) for t, c in out.items() if c != 0.0]


def _split(expr: sp.Expr) -> dict[str, tuple[sp.Expr, float, list[float]]]:
    """Terms keyed by their shape (numbers replaced by a placeholder): (term, coef, constants)."""
    plain = expr.xreplace({s: sp.Symbol(s.name) for s in expr.free_symbols})
    out: dict[str, tuple[sp.Expr, float, list[float]]] = {}
    for term, coef in _canonical_terms(plain):
        t, factor = _normalise_term(term)
        consts = [
            float(a)
            for a in sp.preorder_traversal(t)
            if a.is_number and not (a.is_Integer or a.is_Rational)
        ]
        shape = t.replace(lambda e: e.is_Float, lambda e: sp.Symbol("_c"))
        key = str(shape)
        if key in out:  # same shape twice: keep both under distinct keys
            key = f"{key}#{sum(k.startswith(str(shape)) for k in out)}"
        out[key] = (t, coef * factor, consts)
    return out


def _as_sympy(value: sp.Expr | str, states: list[str], where: str) -> sp.Expr:
    if isinstance(value, sp.Basic):
        return value
    return parse_equation(str(value), states, source=where)


def term_shapes(equation: sp.Expr | str, states: Sequence[str]) -> frozenset[str]:
    """The terms of a right-hand side by shape, numbers masked as the scorer masks them.

    Two right-hand sides with the same shapes differ only in their constants
    (outer and inner): a Pareto entry and the chosen model refitted from it.

    Examples
    --------
    >>> term_shapes("2.1*x*y - 0.5*x", ["x", "y"]) == term_shapes("x*y - 3*x", ["x", "y"])
    True
    """
    return frozenset(_split(_as_sympy(equation, list(states), "term_shapes")))


def term_shape(term: sp.Expr) -> tuple[str, sp.Expr, float]:
    """One term's shape (its numbers masked), the term with monic denominators, and its factor.

    Two terms with the same shape differ only in the constants inside them:
    ``S/(2*S + 4.2)`` is ``S/(S + 2.1)`` with factor 0.5 and has the shape of
    ``S/(S + 1.9)``. The factor multiplies the term's coefficient.

    Examples
    --------
    >>> S = sp.Symbol("S")
    >>> shape, term, factor = term_shape(S / (2 * S + 4.2))
    >>> shape == term_shape(S / (S + 1.9))[0], term, factor
    (True, S/(1.0*S + 2.1), 0.5)
    """
    plain = term.xreplace({s: sp.Symbol(s.name) for s in term.free_symbols})
    t, factor = _normalise_term(_numeric(plain))
    return str(t.replace(lambda e: e.is_Float, lambda e: sp.Symbol("_c"))), t, factor


def compare_with_constants(
    found: Mapping[str, sp.Expr | str], truth: Mapping[str, sp.Expr | str]
) -> dict[str, object]:
    """Like :func:`sysid.report.scoring.compare_equations`, with constants inside terms matched too.

    Both sides are expanded, number-valued subexpressions (``log(50)``)
    evaluated, and rational terms written as partial fractions in their
    denominator's state (``x*y/(x + 2)`` reads ``y - 2*y/(x + 2)``). Terms are
    then matched by their shape (numbers inside replaced by a placeholder,
    denominators made monic, so ``y/(x + 2)`` and ``0.5*y/(0.5*x + 1)``
    match); the coefficient error is the largest
    relative error over the true terms' coefficients *and* inner constants.

    Examples
    --------
    >>> r = compare_with_constants({"S": "-1.5003*S/(S + 2.001)"}, {"S": "-3*S/(2*S + 4)"})
    >>> r["structure_recovered"], round(r["max_coefficient_relative_error"], 4)
    (True, 0.0007)
    """
    states = list(truth)
    res: dict[str, object] = {"per_state": {}}
    all_ok, worst = True, 0.0
    for s in states:
        if s not in found:
            raise DataError(f"no equation for state {s!r}", source="compare_with_constants")
        f = _split(_as_sympy(found[s], states, f"found equation of {s!r}"))
        t = _split(_as_sympy(truth[s], states, f"true equation of {s!r}"))
        missing = [k for k in t if k not in f]
        extra = [k for k in f if k not in t]
        errs = []
        for k, (_, coef, consts) in t.items():
            if k not in f:
                continue
            errs.append(abs(f[k][1] - coef) / abs(coef))
            for a, b in zip(f[k][2], consts, strict=False):
                errs.append(abs(a - b) / max(abs(b), 1e-12))
        ok = not missing and not extra
        all_ok &= ok
        w = max(errs, default=0.0)
        worst = max(worst, w)
        res["per_state"][s] = {  # type: ignore[index]
            "structure_recovered": ok,
            "missing_terms": missing,
            "extra_terms": extra,
            "max_coefficient_relative_error": w,
        }
    res["structure_recovered"] = bool(all_ok)
    res["max_coefficient_relative_error"] = float(worst)
    return res
