"""Private: which supports (sets of library columns) :func:`sysid.symbolic.sparse.distill` refits.

Supports are scored in bulk through the Gram matrix of unit-norm columns.
Sizes with few subsets are enumerated; beyond, a beam grows from the best
smaller supports, joined by the supports of a sequentially thresholded
least-squares (STLSQ) path.
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING

import numpy as np

from sysid.core.expressions import term_complexity
from sysid.symbolic.library import Library

if TYPE_CHECKING:
    from sysid.symbolic.sparse import _System


def _score_supports(
    gram: np.ndarray,
    b: np.ndarray,
    supports: np.ndarray,
    collinearity_tol: float,
    chunk: int = 40_000,
) -> np.ndarray:
    """Residual fractions ``rss / ||y||^2`` of each support for each target.

    ``gram`` is the Gram matrix of unit-norm columns, ``b`` (m, q) the inner
    products with unit-norm targets. Returns (n_supports, q); numerically
    dependent supports get ``inf``.
    """
    out = np.empty((supports.shape[0], b.shape[1]))
    k = supports.shape[1]
    eye = np.eye(k)
    for lo in range(0, supports.shape[0], chunk):
        s = supports[lo : lo + chunk]
        g = gram[s[:, :, None], s[:, None, :]]
        rhs = b[s]  # (n, k, q)
        lam_min = np.linalg.eigvalsh(g)[:, 0]
        good = lam_min > collinearity_tol
        beta = np.linalg.solve(g + 1e-14 * eye, rhs)
        explained = np.einsum("nkq,nkq->nq", rhs, beta)
        res = np.clip(1.0 - explained, 0.0, None)
        res[~good] = np.inf
        out[lo : lo + chunk] = res
    return out


def _stlsq_supports(
    a: np.ndarray, y: np.ndarray, thresholds: np.ndarray, max_iter: int = 20
) -> list[tuple[int, ...]]:
    """Supports along a sequentially thresholded least-squares path (unit-norm columns)."""
    found = []
    for thr in thresholds:
        active = np.ones(a.shape[1], dtype=bool)
        for _ in range(max_iter):
            beta = np.zeros(a.shape[1])
            if active.any():
                beta[active] = np.linalg.lstsq(a[:, active], y, rcond=None)[0]
            new = np.abs(beta) >= thr
            if (new == active).all():
                break
            active = new
        if active.any():
            found.append(tuple(int(i) for i in np.flatnonzero(active)))
    return found


def _level_supports(
    m: int,
    k: int,
    previous: list[list[tuple[int, ...]]],
    extra: set[tuple[int, ...]],
    exhaustive_limit: int,
) -> np.ndarray:
    """Supports of size ``k`` to score: all of them, or a beam around the best smaller ones."""
    if math.comb(m, k) <= exhaustive_limit:
        return np.array(list(itertools.combinations(range(m), k)), dtype=np.int64).reshape(-1, k)
    pool: set[tuple[int, ...]] = set(extra)
    for beam in previous:
        for sup in beam:
            for j in range(m):
                if j not in sup:
                    pool.add(tuple(sorted((*sup, j))))
            # Swaps: replace one member, keeping the size (helps escape a bad beam).
            if len(sup) == k:
                for i, j in itertools.product(range(k), range(m)):
                    if j not in sup:
                        pool.add(tuple(sorted((*sup[:i], *sup[i + 1 :], j))))
    pool = {s for s in pool if len(s) == k}
    return np.array(sorted(pool), dtype=np.int64).reshape(-1, k)


def _support_pools(
    sys_: _System,
    library: Library,
    max_terms: int,
    beam_width: int,
    exhaustive_limit: int,
    n_refit: int,
    collinearity_tol: float,
) -> list[dict[int, list[tuple[int, ...]]]]:
    """Per state and size, the supports to refit exactly, best first.

    Supports are scored through the Gram matrix. Sizes with few subsets are
    enumerated; beyond, a beam grows from the best smaller supports, joined by
    the supports of an STLSQ path (computed only when needed).
    """
    a, y_unit, ynorm, m = sys_.a, sys_.y_unit, sys_.ynorm, sys_.m
    d = y_unit.shape[1]
    gram = a.T @ a
    b = a.T @ y_unit
    max_k = min(max_terms, m)
    # Complexity of each usable column (node count + 1 for its coefficient).
    col_cx = np.array([term_complexity(library.terms[i]) + 1 for i in sys_.cols], dtype=np.int64)
    stlsq: dict[int, list[tuple[int, ...]]] = {}
    pool: list[dict[int, list[tuple[int, ...]]]] = [{} for _ in range(d)]
    beams: list[list[list[tuple[int, ...]]]] = [[] for _ in range(d)]
    for k in range(1, max_k + 1):
        exhaustive = math.comb(m, k) <= exhaustive_limit
        if exhaustive:
            supports = _level_supports(m, k, [], set(), exhaustive_limit)
            scores = _score_supports(gram, b, supports, collinearity_tol)
        for q in range(d):
            if ynorm[q] == 0:
                continue
            if exhaustive:
                sup_q, sc_q = supports, scores[:, q]
            else:
                if q not in stlsq:
                    stlsq[q] = _stlsq_supports(a, y_unit[:, q], np.geomspace(1e-3, 0.5, 12))
                extra = {s for s in stlsq[q] if len(s) == k}
                sup_q = _level_supports(m, k, beams[q][-1:], extra, exhaustive_limit)
                if sup_q.size == 0:
                    continue
                sc_q = _score_supports(gram, b[:, [q]], sup_q, collinearity_tol)[:, 0]
            order = np.argsort(sc_q, kind="stable")
            order = order[np.isfinite(sc_q[order])][:beam_width]
            best = [tuple(int(v) for v in sup_q[i]) for i in order]
            beams[q].append(best)
            pool[q][k] = _chosen(best, col_cx, n_refit)
    return pool


def _chosen(best: list[tuple[int, ...]], col_cx: np.ndarray, n_refit: int) -> list[tuple[int, ...]]:
    """The best few supports, and the best of each complexity.

    A Pareto front needs the simplest good fit, e.g. x + x**3 when x + sin(x)
    is a hair better.
    """
    chosen = list(best[:n_refit])
    seen_cx = {int(col_cx[list(sup)].sum()) for sup in chosen}
    for sup in best[n_refit:]:
        cx = int(col_cx[list(sup)].sum())
        if cx not in seen_cx:
            seen_cx.add(cx)
            chosen.append(sup)
    return chosen
