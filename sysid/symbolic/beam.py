"""Private: the engine of :func:`sysid.symbolic.search.search`.

The grouped library of term-shape columns, bulk scoring of supports through
the Gram matrix, the beam and the exhaustive mixed search over supports, and
the variable-projection refit of inner constants.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence

import numpy as np
import sympy as sp
from scipy.optimize import least_squares

from sysid.core.expressions import term_complexity
from sysid.symbolic.shapes import Shape
from sysid.symbolic.sparse import Candidate


class _Columns:
    """The grouped library of one data set: shape ``g``'s grid values as columns."""

    def __init__(self, shapes: list[Shape], x: np.ndarray, sw: np.ndarray):
        cols, group, cval = [], [], []
        for g, s in enumerate(shapes):
            values = s.grid if s.has_constant else np.array([np.nan])
            for c in values:
                with np.errstate(all="ignore"):
                    v = s.fn(x, float(c)) * sw
                if np.isfinite(v).all() and np.linalg.norm(v) > 0:
                    cols.append(v)
                    group.append(g)
                    cval.append(c)
        self.a = np.array(cols).T if cols else np.zeros((x.shape[0], 0))
        norms = np.linalg.norm(self.a, axis=0)
        self.a = self.a / np.where(norms > 0, norms, 1.0)
        self.group = np.array(group, dtype=np.int64)
        self.c = np.array(cval, dtype=float)
        self.gram = self.a.T @ self.a


def _score(gram: np.ndarray, b: np.ndarray, supports: np.ndarray, tol: float = 1e-10) -> np.ndarray:
    """Residual fraction of each support (unit-norm columns and target); dependent -> inf."""
    k = supports.shape[1]
    g = gram[supports[:, :, None], supports[:, None, :]]
    rhs = b[supports]
    lam = np.linalg.eigvalsh(g)[:, 0]
    beta = np.linalg.solve(g + 1e-14 * np.eye(k), rhs[:, :, None])[:, :, 0]
    res = np.clip(1.0 - np.einsum("nk,nk->n", rhs, beta), 0.0, None)
    res[lam <= tol] = np.inf
    return res


def _distinct(
    sups: np.ndarray, sc: np.ndarray, group: np.ndarray, limit: int
) -> list[tuple[float, tuple[int, ...]]]:
    """Best-scored supports, one per set of shapes (not grid variants of one structure)."""
    order = np.argsort(sc, kind="stable")
    order = order[np.isfinite(sc[order])]
    out, seen = [], set()
    for i in order:
        sup = tuple(int(v) for v in sups[i])
        key = tuple(sorted(int(group[j]) for j in sup))
        if key not in seen:
            seen.add(key)
            out.append((float(sc[i]), sup))
            if len(out) == limit:
                break
    return out


def _score_all(gram: np.ndarray, b: np.ndarray, sups: np.ndarray) -> np.ndarray:
    return np.concatenate(
        [_score(gram, b, sups[lo : lo + 20000]) for lo in range(0, len(sups), 20000)]
        or [np.zeros(0)]
    )


def _mixed(
    cols: _Columns,
    y_unit: np.ndarray,
    max_terms: int,
    plain: np.ndarray,
    limit: int,
    max_supports: int = 400_000,
) -> dict[int, list[tuple[float, tuple[int, ...]]]]:
    """Exhaustive: any few constant-free columns plus one column with an inner constant."""
    b = cols.a.T @ y_unit
    nonlin = np.flatnonzero(~np.isin(np.arange(cols.a.shape[1]), plain))
    out: dict[int, list[tuple[float, tuple[int, ...]]]] = {}
    for k in range(2, max_terms + 1):
        n_plain = math.comb(len(plain), k - 1)
        if n_plain * max(len(nonlin), 1) > max_supports or len(nonlin) == 0:
            break
        p = np.array(list(itertools.combinations(plain.tolist(), k - 1)), dtype=np.int64)
        p = p.reshape(-1, k - 1)
        sups = np.concatenate(
            [np.repeat(p, len(nonlin), axis=0), np.tile(nonlin, len(p))[:, None]], axis=1
        )
        out[k] = _distinct(sups, _score_all(cols.gram, b, sups), cols.group, limit)
    return out


def _beam(
    cols: _Columns, y_unit: np.ndarray, max_terms: int, beam_width: int, deadline: float
) -> dict[int, list[tuple[float, tuple[int, ...]]]]:
    """Best supports per size, by a beam search with at most one column per shape."""
    m = cols.a.shape[1]
    b = cols.a.T @ y_unit
    out: dict[int, list[tuple[float, tuple[int, ...]]]] = {}
    prev: list[tuple[int, ...]] = [()]
    for k in range(1, min(max_terms, m) + 1):
        if k > 1 and time.perf_counter() > deadline:
            break
        pool: set[tuple[int, ...]] = set()
        for sup in prev:
            used = {int(cols.group[i]) for i in sup}
            for j in range(m):
                if int(cols.group[j]) not in used:
                    pool.add(tuple(sorted((*sup, j))))
        if not pool:
            break
        sups = np.array(sorted(pool), dtype=np.int64).reshape(-1, k)
        out[k] = _distinct(sups, _score_all(cols.gram, b, sups), cols.group, beam_width)
        prev = [sup for _, sup in out[k]]
    return out


def _fit_constants(
    shapes: list[Shape],
    groups: list[int],
    c0: list[float],
    x: np.ndarray,
    y: np.ndarray,
    sw: np.ndarray,
    refine: bool,
) -> tuple[list[float], np.ndarray, float, np.ndarray] | None:
    """Variable projection: constants ``c`` (nonlinear), coefficients by least squares.

    Returns (constants, coefficients, residual norm, column norms) or None when
    the columns are not finite/independent.
    """
    nl = [i for i, g in enumerate(groups) if shapes[g].has_constant]

    def design(cs: Sequence[float]) -> np.ndarray:
        vals = list(c0)
        for i, c in zip(nl, cs, strict=True):
            vals[i] = c
        with np.errstate(all="ignore"):
            pairs = zip(groups, vals, strict=True)
            a = np.column_stack([shapes[g].fn(x, float(c)) for g, c in pairs])
        return a * sw[:, None]

    def solve(cs: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        a = design(cs)
        if not np.isfinite(a).all():
            return None
        norms = np.linalg.norm(a, axis=0)
        if (norms == 0).any():
            return None
        an = a / norms
        beta = np.linalg.lstsq(an, y, rcond=None)[0]
        return y - an @ beta, beta / norms, norms

    def fun(cs: np.ndarray) -> np.ndarray:
        out = solve(cs)
        if out is None:
            return np.full(y.shape, 1e3 * (np.linalg.norm(y) + 1.0))
        return out[0]

    cs = np.array([c0[i] for i in nl], dtype=float)
    if refine and nl:
        lo = np.array([shapes[groups[i]].bounds[0] for i in nl])
        hi = np.array([shapes[groups[i]].bounds[1] for i in nl])
        pad = 1e-9 * (np.abs(cs) + 1.0)
        cs = np.minimum(np.maximum(cs, lo + pad), np.where(np.isfinite(hi), hi - pad, np.inf))
        try:
            res = least_squares(
                fun,
                cs,
                bounds=(lo, hi),
                method="trf",
                x_scale="jac",
                ftol=1e-14,
                xtol=1e-14,
                gtol=1e-14,
                max_nfev=60 * len(nl),
            )
            if np.linalg.norm(res.fun) <= np.linalg.norm(fun(cs)):
                cs = res.x
        except (ValueError, np.linalg.LinAlgError):
            pass
    out = solve(cs)
    if out is None:
        return None
    r, coef, norms = out
    vals = list(c0)
    for i, c in zip(nl, cs, strict=True):
        vals[i] = float(c)
    return vals, coef, float(np.linalg.norm(r)), norms


def _candidate(
    state: str,
    shapes: list[Shape],
    groups: list[int],
    cvals: list[float],
    coef: np.ndarray,
    loss: float,
    n_library: int,
) -> Candidate | None:
    terms = tuple(shapes[g].term(c) for g, c in zip(groups, cvals, strict=True))
    order = sorted(range(len(terms)), key=lambda i: sp.default_sort_key(terms[i]))
    terms = tuple(terms[i] for i in order)
    coef = np.asarray([float(coef[i]) for i in order])
    if len({sp.srepr(t) for t in terms}) != len(terms) or not np.isfinite(coef).all():
        return None
    expr = sp.Add(*[sp.Float(float(a)) * t for a, t in zip(coef, terms, strict=True)])
    complexity = int(sum(term_complexity(t) + 1 for t in terms))
    return Candidate(
        state, expr, terms, coef, complexity, float(loss), (), n_library, origin="search"
    )
