"""The ``pysindy-strong`` baseline: PySINDy at its best, in one fixed configuration.

The plain ``pysindy`` baseline (:mod:`sysid.benchmark.baselines`) is one
derivative estimate and one library. A peer is fairly compared only at its
best, so this one tries every combination of

- the form: strong with plain finite differences (``fd``), strong with
  Savitzky-Golay smoothed differences (``sfd``), the same with ensemble
  SINDy (``sfd-ensemble``: 20 bootstrap fits of the rows, median
  coefficients, ``EnsembleOptimizer``), and the **weak form** (``weak``:
  ``WeakPDELibrary`` with 100 test functions of order 4 on one uniform grid
  for all trajectories, over the span they share; without exogenous inputs
  only, and only when the shared span is at least 80% of the shortest one);
- the library: polynomials up to degree 3 (``poly``), and the same plus
  ``sin``/``cos`` of each state (``poly+fourier``, sysid's default library);
- the STLSQ threshold: 20 values, ``logspace(-3, 1)``,

where a trajectory's samples are not evenly spaced (irregular sampling),
its states (and inputs) are first interpolated by a cubic spline onto an even
grid of as many samples over its own span, as a PySINDy user would do: the
finite differences, their Savitzky-Golay smoothing and the weak form's
quadrature all assume one step. Evenly sampled trajectories are used as
they are. The choice below simulates the raw samples, never the resampled ones;

and chooses from the training data only, by one rule: each distinct model
(its set of terms) is simulated from every trajectory's first sample; its
error is the RMS of the state residuals, each state divided by its spread
(missing values left out); models whose simulation fails are dropped; the
sparsest model whose error is within 10% (plus 0.005) of the smallest
error wins, and among equally sparse ones the more accurate. Nothing is
tuned per problem. With inputs it is SINDYc in the strong forms.

Examples
--------
>>> from sysid.benchmark.strong_sindy import CONFIGURATIONS
>>> len(CONFIGURATIONS), CONFIGURATIONS[0]
(8, ('fd', 'poly'))
"""

from __future__ import annotations

import itertools
import warnings
from typing import Any

import numpy as np
import sympy as sp
from scipy.interpolate import CubicSpline

from sysid.core.errors import SimulationError
from sysid.data.dataset import Dataset
from sysid.symbolic.model import SymbolicModel

__all__ = ["CONFIGURATIONS", "strong_sindy_discover"]

FORMS = ("fd", "sfd", "sfd-ensemble", "weak")
LIBRARIES = ("poly", "poly+fourier")
#: Every (form, library) pair tried; each with every threshold.
CONFIGURATIONS = tuple(itertools.product(FORMS, LIBRARIES))
_THRESHOLDS = np.logspace(-3, 1, 20)
_TOLERANCE = (0.10, 0.005)  # relative, absolute: "within 10% (plus 0.005) of the best"


def _library(ps: Any, name: str) -> Any:
    lib = ps.PolynomialLibrary(degree=3)
    return lib + ps.FourierLibrary(n_frequencies=1) if name == "poly+fourier" else lib


def _even(t: np.ndarray) -> bool:
    step = np.diff(t)
    return bool(np.allclose(step, step.mean(), rtol=1e-6, atol=0.0))


def _spline(t: np.ndarray, x: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Each column of ``x`` by a cubic spline through its observed samples, at ``grid``."""
    cols = []
    for col in x.T:
        ok = np.isfinite(col)
        cols.append(CubicSpline(t[ok], col[ok])(grid))
    return np.column_stack(cols)


def _evenly_sampled(data: Dataset) -> tuple[list[np.ndarray], list[np.ndarray], Any]:
    """(times, states, inputs) of each trajectory on an even grid (resampled where uneven)."""
    us = data.input_values()
    ts, xs, out_u = [], [], []
    for k, tr in enumerate(data):
        if _even(tr.t) and not np.isnan(tr.x).any():
            ts.append(tr.t)
            xs.append(tr.x)
            out_u.append(None if us is None else us[k])
            continue
        grid = np.linspace(tr.t[0], tr.t[-1], tr.t.size)
        ts.append(grid)
        xs.append(_spline(tr.t, tr.x, grid))
        out_u.append(None if tr.inputs is None else np.asarray(tr.inputs(grid), dtype=float))
    return ts, xs, (None if us is None else out_u)


def _shared_grid(data: Dataset) -> tuple[np.ndarray, list[np.ndarray]] | None:
    """The trajectories on one even grid over their shared span (for the weak form).

    None when the shared span is under 80% of the shortest trajectory's span.
    """
    lo = max(float(tr.t[0]) for tr in data)
    hi = min(float(tr.t[-1]) for tr in data)
    shortest = min(float(tr.t[-1] - tr.t[0]) for tr in data)
    if not hi - lo >= 0.8 * shortest > 0:
        return None
    n = max(tr.t.size for tr in data)
    grid = np.linspace(lo, hi, n)
    same = all(tr.t.size == n and np.allclose(tr.t, grid, rtol=1e-9) for tr in data)
    if same and not any(np.isnan(tr.x).any() for tr in data):
        return grid, [tr.x for tr in data]
    return grid, [_spline(tr.t, tr.x, grid) for tr in data]


def _fits(ps: Any, data: Dataset, form: str, library: str, seed: int):
    """(coefficients, feature names) of each threshold for one configuration."""
    names = [*data.states, *data.input_names]
    us = data.input_values()
    if form == "weak":
        shared = None if us is not None else _shared_grid(data)
        if shared is None:
            return
        grid, xs = shared
        ts: Any = grid
    else:
        ts, xs, us = _evenly_sampled(data)
    for threshold in _THRESHOLDS:
        opt: Any = ps.STLSQ(threshold=float(threshold))
        if form == "sfd-ensemble":
            opt = ps.EnsembleOptimizer(opt, bagging=True, n_models=20)
        if form == "weak":
            lib = ps.WeakPDELibrary(_library(ps, library), spatiotemporal_grid=grid, K=100, p=4)
        else:
            lib = _library(ps, library)
        diff = ps.FiniteDifference() if form == "fd" else ps.SmoothedFiniteDifference()
        model = ps.SINDy(optimizer=opt, feature_library=lib, differentiation_method=diff)
        np.random.seed(seed)  # noqa: NPY002 - pysindy's ensemble draws from numpy's global one
        try:
            model.fit(xs, t=ts, u=us, feature_names=names)
            coef = np.asarray(model.coefficients(), dtype=float)
            features = model.get_feature_names()
        except Exception:  # noqa: BLE001 - a failing fit is skipped, like a failing threshold
            continue
        if np.isfinite(coef).all():
            yield coef, features


def _simulated_error(model: SymbolicModel, data: Dataset, spread: np.ndarray) -> float | None:
    """RMS of the spread-scaled state residuals over every trajectory (None: it failed)."""
    res = []
    for tr in data:
        try:
            sim = model.simulate(tr.x[0], tr.t, time_limit=5.0, rtol=1e-6, inputs=tr.inputs)
        except SimulationError:
            return None
        res.append(((sim - tr.x) / spread).ravel())
    r = np.concatenate(res)
    r = r[np.isfinite(r)]
    return float(np.sqrt(np.mean(r**2))) if r.size else None


def strong_sindy_discover(
    data: Dataset, *, seed: int = 0, per_configuration: bool = False
) -> dict[str, sp.Expr] | dict[tuple[str, str], dict[str, sp.Expr]]:
    """Identify equations with every configuration of :data:`CONFIGURATIONS`; pick one by the rule.

    Parameters
    ----------
    data : Dataset
        Trajectories (several, irregular grids allowed; inputs for SINDYc).
    seed : int
        Seeds ensemble SINDy's bootstrap.
    per_configuration : bool
        Also apply the rule within each configuration alone, from the same
        fits: the result maps each (form, library) of :data:`CONFIGURATIONS`
        to its choice (missing where it gave no usable model) and ``("all",
        "all")`` to the baseline's own choice. This is how the baseline is
        checked against every configuration it contains.

    Returns
    -------
    dict
        State name -> sympy right-hand side (plain symbols); with
        ``per_configuration``, one such dict per configuration.
    """
    from sysid.benchmark.baselines import equations_of, import_pysindy

    ps = import_pysindy("pysindy-strong")
    states, inputs = list(data.states), list(data.input_names)
    x_all = np.concatenate([tr.x for tr in data])
    spread = np.nanstd(x_all, axis=0)
    spread = np.where(spread > 0, spread, 1.0)
    scored: dict[tuple, tuple[float, int, dict[str, sp.Expr]]] = {}
    found: dict[tuple[str, str], set[tuple]] = {c: set() for c in CONFIGURATIONS}
    state = np.random.get_state()  # noqa: NPY002 - given back below: the caller's draws go on
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for form, library in CONFIGURATIONS:
                for coef, features in _fits(ps, data, form, library, seed):
                    eqs = equations_of(coef, features, states, inputs)
                    key = tuple(sorted((s, str(e)) for s, e in eqs.items()))
                    found[(form, library)].add(key)
                    if key in scored:
                        continue
                    model = SymbolicModel.from_equations(states, eqs, inputs=inputs)
                    err = _simulated_error(model, data, spread)
                    if err is not None and np.isfinite(err):
                        scored[key] = (err, int((coef != 0).sum()), eqs)
    finally:
        np.random.set_state(state)  # noqa: NPY002
    zero = {s: sp.Integer(0) for s in states}
    if not per_configuration:
        return _choose(list(scored.values())) or zero
    out = {("all", "all"): _choose(list(scored.values())) or zero}
    for config, keys in found.items():
        chosen = _choose([scored[k] for k in keys if k in scored])
        if chosen is not None:
            out[config] = chosen
    return out


def _choose(
    candidates: list[tuple[float, int, dict[str, sp.Expr]]],
) -> dict[str, sp.Expr] | None:
    """The rule: the sparsest model within 10% (plus 0.005) of the smallest error."""
    if not candidates:
        return None
    best = min(err for err, _, _ in candidates)
    limit = best * (1 + _TOLERANCE[0]) + _TOLERANCE[1]
    return min((v for v in candidates if v[0] <= limit), key=lambda v: (v[1], v[0]))[2]
