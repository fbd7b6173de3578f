"""Terms of an equation: a coefficient with its standard error, rounding, reading expressions.

Examples
--------
>>> round_to_uncertainty(0.123456, 0.01)
0.123
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sympy as sp

from sysid.core.errors import EquationError

__all__ = ["TermEstimate", "round_to_uncertainty", "expression_terms"]


def round_to_uncertainty(value: float, stderr: float | None, max_significant: int = 6) -> float:
    """Round ``value`` to the last digit its standard error supports.

    One significant digit of the error is kept (two when it starts with 1); a
    missing, zero or non-finite error keeps ``max_significant`` digits. At least
    one significant digit of the value is always kept.

    Examples
    --------
    >>> round_to_uncertainty(1.09987, 0.0031)
    1.1
    >>> round_to_uncertainty(0.39987, 0.0012)
    0.3999
    >>> round_to_uncertainty(9.8100000001, 1e-9)
    9.81
    >>> round_to_uncertainty(0.0123, 0.5)
    0.01
    """
    value = float(value)
    if value == 0.0 or not math.isfinite(value):
        return value
    mag = math.floor(math.log10(abs(value)))
    decimals = max_significant - 1 - mag
    if stderr is not None and math.isfinite(stderr) and stderr > 0:
        emag = math.floor(math.log10(stderr))
        lead = int(stderr / 10.0**emag)
        decimals = min(decimals, -emag + (1 if lead == 1 else 0))
    decimals = max(decimals, -mag)
    return float(round(value, decimals))


def _number(value: float) -> sp.Expr:
    """A sympy number that prints short: integers as integers."""
    if float(value).is_integer() and abs(value) < 1e15:
        return sp.Integer(int(value))
    return sp.Float(float(value))


def expression_terms(expr: sp.Expr, symbols: Sequence[sp.Symbol]) -> list[tuple[sp.Expr, float]]:
    """Split an expanded right-hand side into (term, coefficient) pairs.

    Examples
    --------
    >>> from sysid.core.expressions import state_symbols
    >>> x, y = state_symbols(["x", "y"])
    >>> expression_terms(1.1 * x - 0.4 * x * y + 2, [x, y])
    [(1, 2.0), (x, 1.1), (x*y, -0.4)]
    """
    expr = sp.expand(sp.sympify(expr))
    if expr == 0:
        return []
    out = []
    for term, coef in expr.as_coefficients_dict().items():
        if not coef.is_number or not term.free_symbols <= set(symbols):
            names = sorted(str(f) for f in expr.free_symbols - set(symbols))
            raise EquationError(
                f"cannot read {str(expr)!r} as numbers times terms of the states "
                f"{[str(s) for s in symbols]}; unknown names {names}",
                source="equation",
                hint="substitute numbers for parameters first",
            )
        out.append((sp.sympify(term), float(coef)))
    return sorted(out, key=lambda tc: sp.default_sort_key(tc[0]))


@dataclass(frozen=True)
class TermEstimate:
    """One coefficient of a model: ``state``'s equation has ``coefficient * term``.

    Attributes
    ----------
    state : str
    term : sympy.Expr
    coefficient : float
        As fitted (full precision).
    stderr : float or None
        Standard error, when known.
    fixed : bool
        A held coefficient (a fixed known term): never fitted, never rounded.
    """

    state: str
    term: sp.Expr
    coefficient: float
    stderr: float | None = None
    fixed: bool = False

    @property
    def rounded(self) -> float:
        """The coefficient rounded to the digits its standard error supports."""
        if self.fixed:
            return float(self.coefficient)
        return round_to_uncertainty(self.coefficient, self.stderr)

    def to_dict(self) -> dict[str, Any]:
        """``{"state", "term", "coefficient", "stderr", "unrounded"}`` for ``result.json``
        (and ``"fixed": true`` for a held coefficient)."""
        out = {
            "state": self.state,
            "term": str(self.term),
            "coefficient": self.rounded,
            "stderr": None if self.stderr is None else float(self.stderr),
            "unrounded": float(self.coefficient),
        }
        if self.fixed:
            out["fixed"] = True
        return out
