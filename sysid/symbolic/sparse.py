"""Sparse regression of derivatives on a term library: a Pareto front per state.

Given states ``x`` and derivative samples ``dx/dt`` (from the neural field, or
exact), :func:`distill` finds for each state the best equation with 1, 2, ...
terms and returns the non-dominated ones as a Pareto front of
:class:`Candidate` equations (complexity against error).

The search works on the library's columns normalised to unit (weighted) norm:

* best-subset search over small supports, exhaustive while the number of
  subsets is modest and a beam search beyond, scored in bulk through the Gram
  matrix;
* a sequentially thresholded least squares (STLSQ) path whose supports join
  the pool;
* supports whose columns are (numerically) linearly dependent are skipped, so
  a collinear library (e.g. SIR, where ``S + I + R`` is constant) still yields
  the sparsest form instead of a minimum-norm mixture;
* the best few supports of each size, and the best of each complexity among
  the beam, are refitted exactly (QR least squares).

Examples
--------
>>> import numpy as np
>>> import sysid
>>> from sysid.symbolic.sparse import distill, knee
>>> p = sysid.load_problem("lotka-volterra")
>>> x = np.concatenate([tr.x for tr in sysid.simulate(p)])
>>> fronts = distill(x, p.rhs(0.0, x.T).T, p.states)
>>> print(knee(fronts["x"]))
-0.4*x*y + 1.1*x
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from sysid.core.errors import ConfigError, DataError, DataWarning
from sysid.core.expressions import term_complexity
from sysid.core.ode import single_threaded
from sysid.symbolic.library import Library, _check_states
from sysid.symbolic.subsets import _support_pools

__all__ = ["Candidate", "distill", "knee", "plausible", "front_to_dicts", "beats", "loss_key"]

#: Losses (relative residual norms) closer than this, relatively or absolutely, are
#: equal: which candidate enters a front never depends on rounding, e.g. on the
#: BLAS kernel a CPU happens to get.
LOSS_RTOL = 1e-9
LOSS_ATOL = 1e-12


def beats(a: float, b: float) -> bool:
    """Loss ``a`` is lower than loss ``b`` by more than rounding.

    Examples
    --------
    >>> beats(0.5, 0.6), beats(1e-16, 3e-16), beats(0.3, 0.3 * (1 + 1e-13))
    (True, False, False)
    """
    return a < b - max(LOSS_RTOL * abs(b), LOSS_ATOL)


def loss_key(loss: float) -> float:
    """A loss rounded for sorting: losses equal up to rounding sort as ties.

    Examples
    --------
    >>> loss_key(0.1234567891234) == loss_key(0.1234567891299), loss_key(1e-16) == loss_key(4e-15)
    (True, True)
    """
    return float(f"{max(loss, LOSS_ATOL):.8g}") if math.isfinite(loss) else math.inf


@dataclass(frozen=True)
class Candidate:
    """One candidate right-hand side of one state.

    Attributes
    ----------
    state : str
        The state whose derivative this is.
    expr : sympy.Expr
        ``sum(coefficients * terms)``.
    terms : tuple of sympy.Expr
        The library terms used (the support).
    coefficients : ndarray (k,)
        Least-squares coefficients, in the user's units.
    complexity : int
        Size of the expression: each term's node count plus one for its coefficient.
    loss : float
        Relative root-mean-square error of the derivative fit,
        ``||dxdt - fit|| / ||dxdt||`` (weighted).
    support : tuple of int
        Indices of the terms in the library.
    n_library : int
        Number of terms the support was chosen from (0 when unknown); used by
        the extended BIC of :func:`sysid.select.selection.select_model`.
    origin : str
        ``"library"`` (sparse regression, :func:`distill`) or ``"search"``
        (expression search, :func:`sysid.symbolic.search.search`); the selection asks
        stronger evidence of the latter.
    required : tuple of sympy.Expr
        Terms that stay in every variant of this candidate (known physics,
        :func:`sysid.symbolic.hybrid.with_known`): never pruned or dropped.
    fixed : tuple of sympy.Expr
        Required terms whose coefficient is held (fixed known terms): every
        refit keeps their numbers.
    """

    state: str
    expr: sp.Expr
    terms: tuple[sp.Expr, ...]
    coefficients: np.ndarray = field(repr=False)
    complexity: int
    loss: float
    support: tuple[int, ...] = ()
    n_library: int = 0
    origin: str = "library"
    required: tuple[sp.Expr, ...] = ()
    fixed: tuple[sp.Expr, ...] = ()

    @property
    def n_terms(self) -> int:
        """Number of terms."""
        return len(self.terms)

    @property
    def n_params(self) -> int:
        """Fitted numbers: a coefficient per term (not held ones), and the constants in terms."""
        inner = sum(1 for t in self.terms for a in sp.preorder_traversal(t) if a.is_Float)
        return len(self.terms) - len(self.fixed) + inner

    def __str__(self) -> str:
        return str(self.expr)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (the ``pareto`` entries of ``result.json``)."""
        return {
            "complexity": int(self.complexity),
            "loss": float(self.loss),
            "n_terms": self.n_terms,
            "equation": str(self.expr),
            "origin": self.origin,
        }


def front_to_dicts(fronts: dict[str, list[Candidate]]) -> dict[str, list[dict[str, Any]]]:
    """The ``pareto`` block of ``result.json`` from :func:`distill`'s output."""
    return {s: [c.to_dict() for c in front] for s, front in fronts.items()}


# ------------------------------------------------------------------ checks
def _as_matrix(a: Any, name: str, d: int | None) -> np.ndarray:
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"'{name}' is not numeric", source="distill") from None
    if arr.ndim == 1 and d == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or (d is not None and arr.shape[1] != d):
        want = f"(n, {d})" if d is not None else "(n, d)"
        raise DataError(
            f"'{name}' must have shape {want}, found {arr.shape}",
            source="distill",
            hint="pass one row per sample and one column per state",
        )
    bad = ~np.isfinite(arr)
    if bad.any():
        i, j = (int(v) for v in np.argwhere(bad)[0])
        raise DataError(
            f"'{name}' holds a non-finite value {arr[i, j]} at row {i}, column {j}",
            source="distill",
            hint="drop or fill those samples",
        )
    return arr


def _check_int(value: Any, name: str, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
        raise ConfigError(
            f"{name} must be an integer >= {lo}, found {value!r}", source=f"argument '{name}'"
        )
    return int(value)


# Over 80 lines only by its docstring (the numpydoc parameter list); the body is short.
@single_threaded
def distill(
    x: np.ndarray,
    dxdt: np.ndarray,
    states: Sequence[str],
    library: Library | None = None,
    *,
    weights: np.ndarray | None = None,
    max_terms: int = 5,
    beam_width: int = 20,
    exhaustive_limit: int = 150_000,
    n_refit: int = 3,
    collinearity_tol: float = 1e-11,
    max_samples: int = 20_000,
    seed: int = 0,
) -> dict[str, list[Candidate]]:
    """Pareto fronts of sparse equations for the derivatives of each state.

    Parameters
    ----------
    x : ndarray (n, d) or (n, d + k)
        States at which the derivatives are sampled (data states, and
        optionally extra points inside the data's region), followed by the
        inputs there when the library has ``k`` inputs.
    dxdt : ndarray (n, d)
        Derivative samples (from the neural field, or exact).
    states : sequence of str
        State names, in column order.
    library : Library, optional
        Candidate terms; default ``Library(states)`` (degree 3 and sin/cos).
    weights : ndarray (n,), optional
        Non-negative sample weights (e.g. lower for densified points).
    max_terms : int
        Largest number of terms per equation.
    beam_width : int
        Supports of each size kept for extending to the next size (and supports
        per size kept once the exhaustive search stops).
    exhaustive_limit : int
        Sizes with at most this many subsets are searched exhaustively.
    n_refit : int
        Best supports of each size refitted exactly before the front is formed.
    collinearity_tol : float
        Supports whose normalised Gram matrix has an eigenvalue below this are
        linearly dependent and skipped.
    max_samples : int
        More samples than this are thinned to this many (seeded).
    seed : int
        Seed of the thinning; the search itself is deterministic.

    Returns
    -------
    dict of str to list of Candidate
        For each state, the Pareto front ordered by increasing complexity
        (and decreasing loss).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).uniform(-2, 2, size=(200, 2))
    >>> dxdt = np.c_[-0.5 * x[:, 0] * x[:, 1], 2.0 * np.sin(x[:, 0])]
    >>> fronts = distill(x, dxdt, ["a", "b"])
    >>> [str(knee(fronts[s])) for s in ("a", "b")]
    ['-0.5*a*b', '2.0*sin(a)']
    """
    states = _check_states(states)
    d = len(states)
    library = _check_library(library, states)
    x = _as_matrix(x, "x", len(library.variables))
    dxdt = _as_matrix(dxdt, "dxdt", d)
    if x.shape[0] != dxdt.shape[0]:
        raise DataError(
            f"x has {x.shape[0]} rows but dxdt has {dxdt.shape[0]}",
            source="distill",
            hint="pass one derivative sample per state sample",
        )
    max_terms = _check_int(max_terms, "max_terms", 1)
    beam_width = _check_int(beam_width, "beam_width", 1)
    n_refit = _check_int(n_refit, "n_refit", 1)
    _check_int(seed, "seed", 0)
    n = x.shape[0]
    w = _sample_weights(weights, n)
    if n > max_samples:
        keep = np.sort(np.random.default_rng(seed).choice(n, max_samples, replace=False))
        x, dxdt, w, n = x[keep], dxdt[keep], w[keep], max_samples
    if n < 2:
        raise DataError(f"found {n} sample(s) while at least 2 are needed", source="distill")
    sys_ = _System.build(library, x, dxdt, w)
    pool = _support_pools(
        sys_, library, max_terms, beam_width, exhaustive_limit, n_refit, collinearity_tol
    )
    return _fronts(sys_, pool, states, library)


def _fronts(
    sys_: _System,
    pool: list[dict[int, list[tuple[int, ...]]]],
    states: tuple[str, ...],
    library: Library,
) -> dict[str, list[Candidate]]:
    """Refit every pooled support exactly; the Pareto front of each state."""
    fronts: dict[str, list[Candidate]] = {}
    for q, state in enumerate(states):
        if sys_.ynorm[q] == 0:
            fronts[state] = [Candidate(state, sp.Integer(0), (), np.zeros(0), 1, 0.0, (), sys_.m)]
            continue
        cands = []
        for k in sorted(pool[q]):
            for sup in pool[q][k]:
                cands.append(
                    _exact_candidate(
                        state,
                        sup,
                        sys_.a,
                        sys_.y[:, q],
                        sys_.ynorm[q],
                        sys_.norms,
                        sys_.cols,
                        library,
                    )
                )
        fronts[state] = _pareto(cands)
    return fronts


def _check_library(library: Library | None, states: tuple[str, ...]) -> Library:
    """``library``, or the default ``Library(states)``; a ConfigError if it does not fit."""
    if library is None:
        library = Library(states)
    elif not isinstance(library, Library):
        raise ConfigError(
            f"library must be a Library, found {type(library).__name__}",
            source="argument 'library'",
            hint="e.g. Library(states, degree=2, trig=False)",
        )
    elif tuple(library.states) != states:
        raise ConfigError(
            f"library states {list(library.states)} differ from states {list(states)}",
            source="argument 'library'",
            hint="build the library with the same state names, in the same order",
        )
    return library


def _sample_weights(weights: Any, n: int) -> np.ndarray:
    """The ``n`` sample weights (all ones by default), checked."""
    if weights is None:
        return np.ones(n)
    try:
        w = np.asarray(weights, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise DataError(
            f"'weights' is not numeric: {weights!r:.60}",
            source="distill",
            hint="pass one non-negative number per sample",
        ) from None
    if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any() or not (w > 0).any():
        raise DataError(
            f"weights must be {n} finite non-negative numbers, not all zero; found shape {w.shape}",
            source="distill",
            hint="pass one weight per sample",
        )
    return w


@dataclass
class _System:
    """The weighted regression: unit-norm usable library columns and targets."""

    a: np.ndarray  # (n, m) usable columns, each of unit norm
    norms: np.ndarray  # norm of every library column (weighted)
    cols: np.ndarray  # library index of each usable column
    y: np.ndarray  # (n, d) weighted targets
    ynorm: np.ndarray  # (d,) their norms
    y_unit: np.ndarray  # (n, d) targets of unit norm (zero targets left as they are)

    @property
    def m(self) -> int:
        return int(self.a.shape[1])

    @classmethod
    def build(cls, library: Library, x: np.ndarray, dxdt: np.ndarray, w: np.ndarray) -> _System:
        theta = library.evaluate(x)
        sw = np.sqrt(w)
        a_full = theta * sw[:, None]
        finite = np.isfinite(a_full).all(axis=0)
        if not finite.all():
            bad = [library.names[i] for i in np.flatnonzero(~finite)]
            warnings.warn(
                f"distill: library term(s) {bad} are not finite at some samples and are left "
                "out; restrict user terms to where they are defined",
                DataWarning,
                stacklevel=4,  # the caller of distill (through single_threaded)
            )
            a_full = np.where(np.isfinite(a_full), a_full, 0.0)
        norms = np.linalg.norm(a_full, axis=0)
        usable = finite & (norms > 0)
        cols = np.flatnonzero(usable)
        a = a_full[:, cols] / norms[cols]
        y = dxdt * sw[:, None]
        ynorm = np.linalg.norm(y, axis=0)
        y_unit = y / np.where(ynorm > 0, ynorm, 1.0)
        return cls(a, norms, cols, y, ynorm, y_unit)


def _exact_candidate(
    state: str,
    sup: tuple[int, ...],
    a: np.ndarray,
    y: np.ndarray,
    ynorm: float,
    norms: np.ndarray,
    cols: np.ndarray,
    library: Library,
) -> Candidate:
    """Refit one support by QR least squares and express it in the user's units."""
    idx = list(sup)
    beta = np.linalg.lstsq(a[:, idx], y, rcond=None)[0]
    loss = float(np.linalg.norm(y - a[:, idx] @ beta) / ynorm)
    lib_idx = tuple(int(cols[i]) for i in idx)
    coef = beta / norms[list(lib_idx)]
    terms = tuple(library.terms[i] for i in lib_idx)
    expr = sp.Add(*[sp.Float(float(c)) * t for c, t in zip(coef, terms, strict=True)])
    complexity = int(sum(term_complexity(t) + 1 for t in terms))
    return Candidate(state, expr, terms, coef, complexity, loss, lib_idx, a.shape[1])


def _pareto(cands: list[Candidate]) -> list[Candidate]:
    """Non-dominated candidates (complexity, loss), by increasing complexity."""
    cands = sorted(cands, key=lambda c: (c.complexity, loss_key(c.loss), c.support))
    front: list[Candidate] = []
    seen: set[tuple[int, ...]] = set()
    for c in cands:
        if tuple(sorted(c.support)) in seen:
            continue
        if front and not beats(c.loss, front[-1].loss):
            continue
        if front and c.complexity == front[-1].complexity:
            front[-1] = c
        else:
            front.append(c)
        seen.add(tuple(sorted(c.support)))
    return front


def knee(front: Sequence[Candidate], *, improvement: float = 0.2, floor: float = 1e-7) -> Candidate:
    """The simplest candidate that no more complex one improves on by much.

    Candidate ``i`` is chosen when its loss is below ``floor`` or when every
    more complex candidate ``j`` has a loss above
    ``(1 - improvement) ** max(k_j - k_i, 1) * loss_i`` (``k``: number of
    terms, inner constants counting as well): each extra fitted number must cut the
    error by ``improvement`` on average.

    Parameters
    ----------
    front : list of Candidate
        A Pareto front, by increasing complexity.
    improvement : float
        Fraction by which the loss must drop per extra term.
    floor : float
        Loss below which a candidate is taken as exact.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.linspace(0.1, 2.0, 50)[:, None]
    >>> front = distill(x, 3.0 * x**2, ["u"])["u"]
    >>> print(knee(front))
    3.0*u**2
    """
    front = list(front)
    if not front:
        raise ConfigError("the Pareto front is empty", source="knee")
    for i, c in enumerate(front):
        if c.loss <= floor:
            return c
        if all(
            o.loss >= (1.0 - improvement) ** max(o.n_params - c.n_params, 1) * c.loss
            for o in front[i + 1 :]
        ):
            return c
    return front[-1]  # pragma: no cover - the last candidate always qualifies


def plausible(
    front: Sequence[Candidate],
    *,
    ratio: float = 10.0,
    improvement: float = 0.2,
    floor: float = 1e-7,
) -> list[Candidate]:
    """Candidates worth a trajectory refit: the knee, simpler ones within ``ratio`` of
    its loss, and the next more complex one.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.linspace(0.1, 2.0, 50)[:, None]
    >>> front = distill(x, 3.0 * x**2 + 1.0, ["u"])["u"]
    >>> [c.n_terms for c in front], [c.n_terms for c in plausible(front)]
    ([1, 1, 2], [2])

    The exact law ends the front: a longer candidate cannot beat its loss by
    more than rounding (:func:`beats`), whichever BLAS kernel computed it.
    """
    front = list(front)
    best = knee(front, improvement=improvement, floor=floor)
    i = front.index(best)
    out = [c for c in front[:i] if c.loss <= ratio * max(best.loss, floor)]
    out.append(best)
    if i + 1 < len(front):
        out.append(front[i + 1])
    return out
