"""Prediction bands: the spread of simulated trajectories when the constants vary as fitted.

Constants are drawn from a normal distribution with the fitted values as mean
and the covariance of the final refit (standard errors and their correlation;
independent when no correlation is known). Each draw is simulated from the
same start; draws that fail to simulate are dropped and counted. What the band
leaves out: the uncertainty of the start, of the constants inside terms (the
``K`` of ``S/(K + S)``), and of the structure itself.

Examples
--------
>>> import numpy as np
>>> import sysid
>>> from sysid.symbolic.model import TermEstimate
>>> N = sysid.parse_equation("N", ["N"])
>>> law = sysid.SymbolicModel(["N"], [TermEstimate("N", N, 0.5, 0.02),
...                                   TermEstimate("N", N**2, -0.005, 0.0002)])
>>> band = prediction_band(law, [2.0], np.linspace(0, 20, 5), seed=0)
>>> bool((band["lower"] <= band["model"]).all() and (band["model"] <= band["upper"]).all())
True
>>> band["n_draws"], band["n_failed"]
(100, 0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sysid.core.errors import ConfigError, SysidError
from sysid.core.options import check_int_value, check_real_value, check_seed_value
from sysid.symbolic.model import SymbolicModel, TermEstimate

__all__ = ["prediction_band"]


def prediction_band(
    model: SymbolicModel,
    x0: Sequence[float] | np.ndarray,
    t: Sequence[float] | np.ndarray,
    *,
    correlation: Sequence[Sequence[float]] | None = None,
    n_draws: int = 100,
    level: float = 0.9,
    seed: int = 0,
    inputs: Any = None,
) -> dict[str, Any]:
    """The model's simulation from ``x0`` over ``t`` and a band of level ``level``.

    Parameters
    ----------
    model : SymbolicModel
        Equations with standard errors (terms without one are held fixed).
    x0, t
        Start and output times, as for :meth:`SymbolicModel.simulate`.
    correlation : (p, p), optional
        Correlation of the constants, in the order of ``model.terms``.
    n_draws : int
        Draws of the constants.
    level : float
        Central probability of the band, in (0, 1).
    seed : int
    inputs : InputSignal, optional
        The inputs of a model with inputs (:meth:`SymbolicModel.simulate`).

    Returns
    -------
    dict
        ``t``, ``model`` (the fitted model's states), ``lower``, ``upper``
        (each ``(len(t), d)``), ``level``, ``n_draws`` and ``n_failed``.
    """
    src = "prediction_band"
    check_int_value(n_draws, "n_draws", 2, src)
    check_real_value(level, "level", 0.0, src, strict=True, hi=1.0)
    check_seed_value(seed, src)
    t = np.asarray(t, dtype=float)
    base = model.simulate(x0, t, inputs=inputs)  # bad x0 or t: the model's own clear error
    draws = _draws(model, correlation, n_draws, seed)
    sims = []
    for coef in draws:
        terms = [
            TermEstimate(e.state, e.term, float(c), e.stderr)
            for e, c in zip(model.terms, coef, strict=True)
        ]
        try:
            drawn = SymbolicModel(model.states, terms, bounds=model.bounds)
            sims.append(drawn.simulate(x0, t, inputs=inputs))
        except SysidError:
            continue
    stack = np.stack(sims) if sims else base[None]  # no draw simulated: no band
    tail = 50.0 * (1.0 - level)
    lower, upper = np.percentile(stack, [tail, 100.0 - tail], axis=0)
    return {
        "t": t,
        "model": base,
        "lower": np.minimum(lower, base),
        "upper": np.maximum(upper, base),
        "level": float(level),
        "n_draws": int(n_draws),
        "n_failed": int(n_draws - len(sims)),
    }


def _draws(
    model: SymbolicModel, correlation: Sequence[Sequence[float]] | None, n: int, seed: int
) -> np.ndarray:
    """``n`` draws of the constants (n, p) from their fitted covariance."""
    mean = np.array([e.coefficient for e in model.terms], dtype=float)
    se = np.array(
        [e.stderr if e.stderr is not None and np.isfinite(e.stderr) else 0.0 for e in model.terms]
    )
    p = mean.size
    corr = np.eye(p)
    if correlation is not None:
        c = np.asarray(correlation, dtype=float)
        if c.shape != (p, p):
            raise ConfigError(
                f"correlation must be {p} x {p} (one row per term of the model), found {c.shape}",
                source="prediction_band",
            )
        corr = np.where(np.isfinite(c), c, 0.0)
        np.fill_diagonal(corr, 1.0)
    cov = corr * np.outer(se, se)
    rng = np.random.default_rng(seed)
    # method="eigh" tolerates the semi-definite covariances of nearly collinear terms
    return rng.multivariate_normal(mean, cov, size=n, method="eigh")
