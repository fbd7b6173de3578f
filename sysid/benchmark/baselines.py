"""Baseline methods the suite compares sysid with (optional extra ``baselines``).

PySINDy runs with one fixed configuration for every problem, never tuned per
problem:

- library: polynomials up to degree 3 plus sin/cos of each state
  (``PolynomialLibrary(3) + FourierLibrary(n_frequencies=1)``), the same
  candidate terms as sysid's default library;
- derivatives: ``SmoothedFiniteDifference`` (Savitzky-Golay smoothing) on each
  trajectory's own, possibly irregular, time grid;
- optimiser: ``STLSQ`` on the raw library columns, threshold chosen from a
  fixed grid of 30 values (``logspace(-3, 1)``) by the smallest corrected Akaike
  information criterion (AICc) of the *simulated* trajectories (Mangan et al.
  2017, Proc. R. Soc. A 473:20170009): each distinct model is simulated from
  every trajectory's first sample and scored on its state residuals
  (normalised by each state's spread); models whose simulation fails are
  skipped. AICc on derivative residuals instead picks dense models.

With exogenous inputs it is SINDYc (Brunton, Proctor & Kutz 2016): the same
configuration with the inputs at the sample times beside the states
(``fit(x, t, x_dot, u=u)``), so the library spans states and inputs, and each
candidate is simulated with the measured input signals.

Examples
--------
>>> import sysid
>>> from sysid.benchmark.baselines import pysindy_available
>>> isinstance(pysindy_available(), bool)
True
"""

from __future__ import annotations

import importlib.util
import re
import warnings
from typing import Any

import numpy as np
import sympy as sp

from sysid.core.errors import ConfigError, SimulationError
from sysid.core.expressions import parse_equation
from sysid.data.dataset import Dataset
from sysid.symbolic.model import SymbolicModel

__all__ = ["pysindy_available", "pysindy_discover", "import_pysindy", "equations_of", "BASELINES"]

_THRESHOLDS = np.logspace(-3, 1, 30)


def pysindy_available() -> bool:
    """True when the optional ``pysindy`` package is installed."""
    return importlib.util.find_spec("pysindy") is not None


def import_pysindy(baseline: str) -> Any:
    """The ``pysindy`` module, or a ConfigError saying how the baseline ``baseline`` gets it."""
    if not pysindy_available():
        raise ConfigError(
            f"the {baseline} baseline needs the optional package 'pysindy'",
            source=f"baseline '{baseline}'",
            hint='install it with: pip install "sysid[baselines]"',
        )
    import pysindy

    return pysindy


def _feature_to_sympy(name: str, states: list[str]) -> sp.Expr:
    """Turn a PySINDy feature name (``'x y^2'``, ``'sin(1 x)'``) into sympy."""
    text = name.strip()
    text = re.sub(r"\b1 ", "1*", text)  # 'sin(1 x)' -> 'sin(1*x)'
    text = text.replace("^", "**").replace(" ", "*")
    return parse_equation(text, states, source="pysindy feature")


def _aicc(rss: float, n: int, k: int) -> float:
    rss = max(rss, 1e-300)
    aic = n * np.log(rss / n) + 2 * k
    if n - k - 1 > 0:
        aic += 2 * k * (k + 1) / (n - k - 1)
    return float(aic)


def pysindy_discover(data: Dataset, *, seed: int = 0) -> dict[str, sp.Expr]:
    """Identify equations with PySINDy in its fixed, documented configuration.

    Parameters
    ----------
    data : Dataset
        Trajectories (several, irregular grids allowed).
    seed : int
        Unused by the deterministic STLSQ; accepted for a uniform interface.

    Returns
    -------
    dict
        State name -> sympy right-hand side (plain symbols).
    """
    ps = import_pysindy("pysindy")
    states = list(data.states)
    names = states + list(data.input_names)
    us = data.input_values()
    xs = [tr.x for tr in data]
    ts = [tr.t for tr in data]
    diff = ps.SmoothedFiniteDifference()
    dxs = [np.asarray(diff(x, t), dtype=float) for x, t in zip(xs, ts, strict=True)]
    best: tuple[float, np.ndarray, list[str]] | None = None
    n_rows = sum(x.shape[0] for x in xs) * len(states)
    spread = np.concatenate(xs).std(axis=0)
    spread = np.where(spread > 0, spread, 1.0)
    seen: set[bytes] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for threshold in _THRESHOLDS:
            lib = ps.PolynomialLibrary(degree=3) + ps.FourierLibrary(n_frequencies=1)
            model = ps.SINDy(
                optimizer=ps.STLSQ(threshold=float(threshold)),
                feature_library=lib,
            )
            try:
                model.fit(xs, t=ts, x_dot=dxs, u=us, feature_names=names)
            except Exception:  # noqa: BLE001 - a failing threshold is skipped
                continue
            coef = np.asarray(model.coefficients(), dtype=float)
            if not np.isfinite(coef).all():
                continue
            support = (coef != 0).tobytes()
            if support in seen:
                continue
            seen.add(support)
            rss = _simulated_rss(coef, model.get_feature_names(), data, spread)
            if rss is None:
                continue
            k = int((coef != 0).sum())
            crit = _aicc(rss, n_rows, k)
            if best is None or crit < best[0]:
                best = (crit, coef, model.get_feature_names())
    if best is None:
        return {s: sp.Integer(0) for s in states}
    _, coef, features = best
    return equations_of(coef, features, states, list(data.input_names))


def equations_of(
    coef: np.ndarray, names: list[str], states: list[str], inputs: list[str] = ()
) -> dict[str, sp.Expr]:
    """The right-hand sides of a PySINDy coefficient matrix over its feature ``names``."""
    features = [_feature_to_sympy(n, [*states, *inputs]) for n in names]
    out = {}
    for i, s in enumerate(states):
        expr = sum(
            (sp.Float(float(c)) * f for c, f in zip(coef[i], features, strict=True) if c != 0),
            sp.Integer(0),
        )
        out[s] = expr.xreplace({sym: sp.Symbol(sym.name) for sym in expr.free_symbols})
    return out


def _simulated_rss(
    coef: np.ndarray, names: list[str], data: Dataset, spread: np.ndarray
) -> float | None:
    """Residual sum of squares of a model simulated from each trajectory's start."""
    inputs = list(data.input_names)
    eqs = equations_of(coef, names, list(data.states), inputs)
    model = SymbolicModel.from_equations(data.states, eqs, inputs=inputs)
    rss = 0.0
    for tr in data:
        try:
            sim = model.simulate(tr.x[0], tr.t, time_limit=5.0, rtol=1e-6, inputs=tr.inputs)
        except SimulationError:
            return None
        rss += float((((sim - tr.x) / spread) ** 2).sum())
    return rss


def _strong(data: Dataset, *, seed: int = 0) -> dict[str, sp.Expr]:
    from sysid.benchmark.strong_sindy import strong_sindy_discover

    return strong_sindy_discover(data, seed=seed)


#: Baseline name -> ``discover(data, seed=) -> {state: sympy expression}``.
BASELINES: dict[str, Any] = {"pysindy": pysindy_discover, "pysindy-strong": _strong}
