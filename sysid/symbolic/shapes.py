"""Private: term shapes for :mod:`sysid.symbolic.search`, generated from a small grammar.

A *shape* is one term of a right-hand side with at most one nonlinear constant
``c`` inside it, e.g. ``S/(c + S)``, ``x**2/(c + x**2)``, ``1/(1 + exp(c - x))``,
``x*log(x)``. The grammar is

    term  := monomial * wrapper(inner)
    inner := x_i | x_i**2
    wrapper := 1 | 1/(c + inner) | exp(c*inner) | 1/(1 + exp(c - inner)) | log(inner)
               | sin(inner) | cos(inner)

with monomials of degree <= 2 (3 for one state) and the wrappers allowed by the
operator set. Each shape knows its sympy template (in the symbol ``c``), a
vectorised numpy evaluator and a grid of starting values for ``c`` scaled to
the data.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import sympy as sp

#: The inner constant of a shape.
C = sp.Symbol("c", real=True)

#: Every operator the grammar knows.
KNOWN_OPERATORS = ("+", "-", "*", "/", "sin", "cos", "exp", "log", "pow")


@dataclass(frozen=True)
class Shape:
    """One term template: ``template`` (sympy, in ``C``) and its numpy evaluator."""

    template: sp.Expr
    fn: Callable[[np.ndarray, float], np.ndarray]
    grid: np.ndarray  # starting values of c (empty: no inner constant)
    bounds: tuple[float, float]  # admissible c

    @property
    def has_constant(self) -> bool:
        return self.grid.size > 0

    def term(self, c: float | None) -> sp.Expr:
        """The sympy term with the constant substituted (a Float)."""
        if not self.has_constant:
            return self.template
        return self.template.xreplace({C: sp.Float(float(c))})


def _monomials(d: int, degree: int) -> list[tuple[int, ...]]:
    out: list[tuple[int, ...]] = []
    for deg in range(degree + 1):
        for combo in itertools.combinations_with_replacement(range(d), deg):
            out.append(combo)
    return out


def _mono_expr(combo: tuple[int, ...], syms: Sequence[sp.Symbol]) -> sp.Expr:
    return sp.Mul(*[syms[i] for i in combo]) if combo else sp.Integer(1)


def _mono_val(combo: tuple[int, ...], x: np.ndarray) -> np.ndarray:
    out = np.ones(x.shape[0])
    for i in combo:
        out = out * x[:, i]
    return out


def build_shapes(
    x: np.ndarray,
    syms: Sequence[sp.Symbol],
    operators: frozenset[str],
    n_grid: int,
) -> list[Shape]:
    """All shapes of the grammar for states ``syms`` sampled at ``x`` (n, d)."""
    d = x.shape[1]
    degree = 3 if d == 1 else 2
    if "*" not in operators:
        degree = 1
    monos = _monomials(d, degree)
    if "pow" not in operators:
        monos = [m for m in monos if len(set(m)) == len(m)]
    shapes: list[Shape] = [_plain(m, syms) for m in monos]
    for i in range(d):
        shapes += _state_shapes(x, syms, i, monos, operators, n_grid)
    # Deduplicate templates (sympy canonical form).
    seen: set[str] = set()
    out = []
    for s in shapes:
        key = sp.srepr(s.template)
        if key not in seen:
            seen.add(key)
            out.append(s)
    return out


_NONE = np.zeros(0)


def _plain(combo: tuple[int, ...], syms: Sequence[sp.Symbol]) -> Shape:
    """The monomial ``combo`` as a shape without constant."""
    return Shape(
        _mono_expr(combo, syms), lambda z, c, combo=combo: _mono_val(combo, z), _NONE, (0, 0)
    )


def _state_shapes(
    x: np.ndarray,
    syms: Sequence[sp.Symbol],
    i: int,
    monos: list[tuple[int, ...]],
    operators: frozenset[str],
    n_grid: int,
) -> list[Shape]:
    """The shapes whose wrapper acts on state ``i`` (or its square)."""
    low_monos = [m for m in monos if len(m) <= 1]
    xi = x[:, i]
    inners: list[tuple[sp.Expr, Callable[[np.ndarray], np.ndarray]]] = [
        (syms[i], lambda z, i=i: z[:, i])
    ]
    if "pow" in operators or "*" in operators:
        inners.append((syms[i] ** 2, lambda z, i=i: z[:, i] ** 2))
    shapes: list[Shape] = []
    for inner_expr, inner_fn in inners:
        u = inner_fn(x)
        u_min, u_scale = float(u.min()), float(np.mean(np.abs(u))) or 1.0
        if "/" in operators:
            # m / (c + u), c beyond the pole at -min(u).
            lo = max(0.0, -u_min)
            grid = lo + u_scale * np.geomspace(1e-2, 1e2, n_grid)
            for m in monos:
                if len(m) > 2:
                    continue
                tmpl = _mono_expr(m, syms) / (C + inner_expr)
                shapes.append(
                    Shape(
                        tmpl,
                        lambda z, c, m=m, f=inner_fn: _mono_val(m, z) / (c + f(z)),
                        grid,
                        (lo + 1e-9 * u_scale, np.inf),
                    )
                )
        if inner_expr != syms[i]:
            continue
        if "exp" in operators:
            shapes += _exp_shapes(xi, inner_expr, inner_fn, low_monos, syms, operators, n_grid)
        if "log" in operators and u_min > 0:
            for m in low_monos:
                tmpl = _mono_expr(m, syms) * sp.log(inner_expr)
                shapes.append(
                    Shape(
                        tmpl,
                        lambda z, c, m=m, f=inner_fn: _mono_val(m, z) * np.log(f(z)),
                        _NONE,
                        (0, 0),
                    )
                )
        for name, sfn, nfn in (("sin", sp.sin, np.sin), ("cos", sp.cos, np.cos)):
            if name in operators:
                shapes.append(
                    Shape(sfn(inner_expr), lambda z, c, g=nfn, i=i: g(z[:, i]), _NONE, (0, 0))
                )
    return shapes


def _exp_shapes(
    xi: np.ndarray,
    inner_expr: sp.Expr,
    inner_fn: Callable[[np.ndarray], np.ndarray],
    low_monos: list[tuple[int, ...]],
    syms: Sequence[sp.Symbol],
    operators: frozenset[str],
    n_grid: int,
) -> list[Shape]:
    """``m * exp(c*x_i)`` and, with ``"/"``, the logistic ``m / (1 + exp(c - x_i))``."""
    span = float(np.ptp(xi)) or 1.0
    scale = float(np.mean(np.abs(xi))) or 1.0
    shapes: list[Shape] = []
    rates = np.geomspace(0.05, 5.0, max(n_grid // 2, 2)) / scale
    grid = np.concatenate([-rates[::-1], rates])
    for m in low_monos:
        tmpl = _mono_expr(m, syms) * sp.exp(C * inner_expr)
        shapes.append(
            Shape(
                tmpl,
                lambda z, c, m=m, f=inner_fn: _mono_val(m, z) * np.exp(c * f(z)),
                grid,
                (-50.0 / scale, 50.0 / scale),
            )
        )
    if "/" in operators:
        grid = np.linspace(xi.min(), xi.max(), n_grid)
        for m in low_monos:
            tmpl = _mono_expr(m, syms) / (1 + sp.exp(C - inner_expr))
            shapes.append(
                Shape(
                    tmpl,
                    lambda z, c, m=m, f=inner_fn: (
                        _mono_val(m, z) / (1.0 + np.exp(np.clip(c - f(z), -700, 700)))
                    ),
                    grid,
                    (float(xi.min()) - 5 * span, float(xi.max()) + 5 * span),
                )
            )
    return shapes
