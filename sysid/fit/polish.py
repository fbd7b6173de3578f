"""Last touch on a chosen model: drop negligible terms, refit every constant.

:func:`sysid.select.selection.select_model` refits the coefficient of each term through
the ODE solver but keeps numbers *inside* terms (``Km`` in ``S/(Km + S)``) at
the values the expression search found on derivative samples, and on clean
data a few terms with coefficients of 1e-9 can survive (they mop up the small
error of those inner constants). :func:`polish_model` drops terms that never
exceed a small fraction of their equation's largest term on the data, then
fits all numbers together (coefficients and inner constants, with the start
states) to the trajectories with the one fitting engine
(:mod:`sysid.fit.engine`, as gray-box fits and refits do), and keeps
the result only when it simulates the data as well as the input model.

Examples
--------
>>> import sysid
>>> from sysid.symbolic.model import SymbolicModel
>>> data = sysid.simulate("michaelis-menten", n_samples=40)
>>> m = SymbolicModel.from_equations(["S"], {"S": "-1.4*S/(S + 2.3) + 1e-9*S**2"})
>>> print(polish_model(m, data))
dS/dt = -1.5*S/(S + 2.0)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import sympy as sp

from sysid.core.errors import ConfigError
from sysid.core.expressions import state_symbols
from sysid.core.ode import ExpressionSystem, Guard
from sysid.data.dataset import Dataset, Trajectory, load_data
from sysid.fit.engine import covariance, fit
from sysid.fit.shooting import data_scales, segments
from sysid.symbolic.model import SymbolicModel, TermEstimate, round_to_uncertainty

__all__ = [
    "NEGLIGIBLE",
    "has_inner_constants",
    "negligible_terms",
    "polish_model",
    "refit_all",
    "trajectory_rms",
]

#: A term whose largest size on the data stays below this fraction of its
#: equation's largest term is dropped.
NEGLIGIBLE = 1e-4
#: The polished model is kept when its simulation error is at most this factor
#: of the input model's (the start states are noisy samples) plus this much
#: (per-state scaled RMS: differences that small are below any measurement).
_KEEP_IF_WITHIN = 1.02
_KEEP_FLOOR = 1e-4
#: Blow-up box of the refit of every number: the data's range widened by this many
#: ranges, as in :func:`sysid.fit.refit.refine`.
_MARGIN = 5.0
#: Most least-squares evaluations of that refit.
_MAX_NFEV = 200


def has_inner_constants(term: sp.Expr) -> bool:
    """Whether a term holds a fitted number inside it.

    Examples
    --------
    >>> S = sp.Symbol("S")
    >>> has_inner_constants(S / (S + 2.0)), has_inner_constants(S**2)
    (True, False)
    """
    return any(a.is_Float for a in sp.preorder_traversal(term))


def negligible_terms(
    model: SymbolicModel, data: Dataset, rel: float = NEGLIGIBLE
) -> list[TermEstimate]:
    """Terms of ``model`` whose size on the data never reaches ``rel`` of their equation's largest.

    Examples
    --------
    >>> import sysid
    >>> data = sysid.simulate("logistic", n_samples=20)
    >>> m = SymbolicModel.from_equations(["N"], {"N": "0.5*N - 0.005*N**2 + 1e-12*N**3"})
    >>> [str(t.term) for t in negligible_terms(m, data)]
    ['N**3']
    """
    if not (isinstance(rel, (int, float)) and 0.0 <= rel < 1.0):
        raise ConfigError(f"rel must be in [0, 1), found {rel!r}", source="negligible_terms")
    x = np.concatenate([tr.x for tr in data.trajectories])
    values = data.input_values()
    if values is not None:  # states, then the inputs at the same times
        x = np.hstack([x, np.concatenate(values)])
    x = x[np.isfinite(x).all(axis=1)]
    if x.shape[0] == 0:
        return []
    symbols = [*model.symbols, *state_symbols(data.input_names)]
    size: list[float] = []
    for t in model.terms:
        f = sp.lambdify(symbols, t.coefficient * t.term, "numpy")
        with np.errstate(all="ignore"):
            v = np.broadcast_to(np.asarray(f(*x.T), dtype=float), (x.shape[0],))
        size.append(float(np.nanmax(np.abs(v))) if np.isfinite(v).any() else np.inf)
    top = {
        s: max((v for t, v in zip(model.terms, size, strict=True) if t.state == s), default=0.0)
        for s in model.states
    }
    return [t for t, v in zip(model.terms, size, strict=True) if v < rel * top[t.state]]


def polish_model(
    model: SymbolicModel,
    data: Any,
    *,
    negligible: float = NEGLIGIBLE,
    time_limit: float = 15.0,
    required: Mapping[str, Sequence[sp.Expr]] | None = None,
) -> SymbolicModel | None:
    """Drop negligible terms and refit every constant of a model through the ODE solver.

    Parameters
    ----------
    model : SymbolicModel
        The chosen model (from :func:`sysid.select.selection.select_model`).
    data : Dataset or anything :func:`sysid.load_data` reads
        The trajectories it was fitted to.
    negligible : float
        Terms below this fraction of their equation's largest term on the data
        are dropped (:func:`negligible_terms`).
    time_limit : float
        Seconds for the refit.
    required : dict state -> terms, optional
        Terms that are never dropped (known physics).

    Returns
    -------
    SymbolicModel or None
        The polished model, with standard errors for the coefficients and
        inner constants rounded to the digits their own standard errors support
        (all recorded in ``selection["polish"]``), or ``None`` when there is
        nothing to do (no negligible term and no inner constant), the fit fails,
        or the polished model simulates the data worse than ``model`` (by more
        than 2 % plus 1e-4 of the states' spread).
    """
    ds = load_data(data)
    keep_always = {(s, str(t)) for s, terms in (required or {}).items() for t in terms}
    dropped = [
        t
        for t in negligible_terms(model, ds, negligible)
        if (t.state, str(t.term)) not in keep_always
    ]
    keep = [t for t in model.terms if t not in dropped]
    if not dropped and not any(has_inner_constants(t.term) for t in keep):
        return None
    refitted = refit_all(
        SymbolicModel(model.states, keep, pareto=model.pareto, bounds=model.bounds),
        ds,
        time_limit=time_limit,
    )
    if refitted is None:
        return None
    out, constants = refitted
    before = trajectory_rms(model, ds)
    after = trajectory_rms(out, ds)
    if np.isfinite(before) and not after <= _KEEP_IF_WITHIN * before + _KEEP_FLOOR:
        return None
    selection = dict(model.selection)
    selection["polish"] = {
        "dropped_terms": [f"{t.state}: {t.coefficient:.3g}*{t.term}" for t in dropped],
        "inner_constants": constants,
        "rms_before": before,
        "rms_after": after,
    }
    out.selection = selection
    return out


def refit_all(
    model: SymbolicModel, data: Dataset, *, time_limit: float = 15.0, max_nfev: int | None = None
) -> tuple[SymbolicModel, dict[str, dict[str, Any]]] | None:
    """Fit every number of ``model`` (coefficients and inner constants) through the ODE solver.

    Each coefficient and each Float inside a term becomes a parameter of one
    call of the fitting engine (:func:`sysid.fit.engine.fit`), started at its
    current value, with the start state of each trajectory fitted too (single
    shooting, the refit's blow-up box), within ``time_limit`` seconds in all
    (when they run out, the best point so far is kept). Returns the refitted
    model (coefficients with standard errors by the engine's covariance rule,
    inner constants rounded to the digits their standard errors support) and
    the inner constants' estimates, or ``None`` when the fit fails.

    Examples
    --------
    >>> import sysid
    >>> data = sysid.simulate("michaelis-menten", n_samples=40)
    >>> m = SymbolicModel.from_equations(["S"], {"S": "-1.4*S/(S + 2.3)"})
    >>> print(refit_all(m, data)[0])
    dS/dt = -1.5*S/(S + 2.0)
    """
    params, layout, rhs = _parametrised(model)
    if not params:
        return model, {}
    ds = load_data(data)
    if set(model.states) - set(ds.states):
        return None
    res = _fit_every_number(model.states, rhs, params, ds, time_limit, max_nfev or _MAX_NFEV)
    if res is None:
        return None
    theta, stderr = res
    value = dict(zip(params, theta, strict=True))
    se = {k: _finite_or_none(v) for k, v in zip(params, stderr, strict=True)}
    terms, constants = [], {}
    for (state, coef, term, inner), old in zip(layout, model.terms, strict=True):
        if not coef:  # a fixed term
            terms.append(old)
            continue
        sub = {}
        for key in inner:
            sub[sp.Symbol(key)] = sp.Float(round_to_uncertainty(value[key], se[key]))
            constants[key] = {"state": state, "value": float(value[key]), "stderr": se[key]}
        terms.append(TermEstimate(state, term.xreplace(sub), float(value[coef]), se[coef]))
    out = SymbolicModel(
        model.states, terms, pareto=model.pareto, selection=model.selection, bounds=model.bounds
    )
    return out, constants


def _parametrised(
    model: SymbolicModel,
) -> tuple[dict[str, float], list[tuple[str, str, sp.Expr, list[str]]], dict[str, sp.Expr]]:
    """Every number of ``model`` as a named parameter: (values, per-term layout, rhs).

    A fixed term (known physics) keeps its number: it enters ``rhs`` as it is
    and its layout entry has no parameter (``""``).
    """
    params: dict[str, float] = {}
    layout: list[tuple[str, str, sp.Expr, list[str]]] = []
    rhs: dict[str, sp.Expr] = {s: sp.Integer(0) for s in model.states}
    for t in model.terms:
        if t.fixed:
            value = sp.nsimplify(t.coefficient, rational=True)
            layout.append((t.state, "", t.term, []))
            rhs[t.state] = rhs[t.state] + value * t.term
            continue
        coef = f"c_{len(params)}"
        params[coef] = float(t.coefficient)
        inner: list[str] = []

        def name(f: sp.Float, inner: list[str] = inner) -> sp.Symbol:
            key = f"k_{len(params)}"
            params[key] = float(f)
            inner.append(key)
            return sp.Symbol(key)

        term = t.term.replace(lambda z: z.is_Float, name)
        layout.append((t.state, coef, term, inner))
        rhs[t.state] = rhs[t.state] + sp.Symbol(coef) * term
    return params, layout, rhs


def _fit_every_number(
    states: Sequence[str],
    rhs: dict[str, sp.Expr],
    params: dict[str, float],
    ds: Dataset,
    time_limit: float,
    max_nfev: int,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Estimates and standard errors of ``params``, or None when the fit fails."""
    idx = [list(ds.states).index(s) for s in states]
    trajs = [Trajectory(tr.t, tr.x[:, idx], tr.name, tr.inputs) for tr in ds.trajectories]
    sub = Dataset(trajs, tuple(states), source=ds.source)
    try:
        system = ExpressionSystem(
            states, [rhs[s] for s in states], list(params), inputs=ds.input_names
        )
    except ValueError:  # pragma: no cover - a term with a symbol that is no state
        return None
    sigma, x_all = data_scales(sub)
    # The refit's box; each simulation gets a few seconds at most.
    guard = Guard.around(x_all, margin=_MARGIN, simulation_time_limit=min(time_limit, 3.0))
    res = fit(
        system,
        segments(trajs, None),
        sigma,
        guard,
        np.array(list(params.values()), dtype=float),
        max_nfev=max_nfev,
        time_limit=time_limit,
    )
    if not res.ok or not (res.success or res.stopped == "time"):
        return None
    if not np.isfinite(res.theta).all():
        return None
    return res.theta, covariance(res).stderr[: len(params)]


def _finite_or_none(v: float | None) -> float | None:
    return float(v) if v is not None and np.isfinite(v) else None


def trajectory_rms(model: SymbolicModel, data: Dataset, starts: Sequence | None = None) -> float:
    """RMS error, per-state scaled, of ``model`` simulated from each trajectory's first sample.

    Missing entries are skipped; a failed simulation gives ``inf``.

    Examples
    --------
    >>> import sysid
    >>> p = sysid.load_problem("logistic")
    >>> m = SymbolicModel.from_equations(["N"], p.true_equations())
    >>> trajectory_rms(m, sysid.simulate(p, n_samples=20)) < 1e-5
    True
    """
    x_all = np.concatenate([tr.x for tr in data.trajectories])
    scale = np.nanstd(x_all, axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    errs = []
    for i, tr in enumerate(data.trajectories):
        x0 = tr.x[0] if starts is None else np.asarray(starts[i], dtype=float)
        if not np.isfinite(x0).all():
            continue
        try:
            sim = model.simulate(x0, tr.t, inputs=tr.inputs)
        except Exception:  # noqa: BLE001 - a failed simulation is an infinite error
            return float("inf")
        errs.append(((np.asarray(sim, dtype=float) - tr.x) / scale).ravel())
    if not errs:
        return float("nan")
    e = np.concatenate(errs)
    return float(np.sqrt(np.nanmean(e**2)))
