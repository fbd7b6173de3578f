"""What a gray-box fit found: :class:`GrayBoxResult` and :class:`DerivedQuantity`.

Both are built by :func:`sysid.fit.graybox.fit_model`; their uncertainty follows
the one covariance rule of :mod:`sysid.fit.engine`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp
from scipy import stats

from sysid.core.errors import ConfigError, DataError, EquationError, SimulationError
from sysid.core.expressions import parse_equation
from sysid.core.jsonable import json_safe
from sysid.core.ode import GuardTripped

__all__ = ["GrayBoxResult", "DerivedQuantity"]


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class DerivedQuantity:
    """A function of the fitted parameters with a delta-method standard error.

    Attributes
    ----------
    expression : str
    value : float
    stderr : float
    interval : (float, float)
        95% interval ``value ± q * stderr`` (``q`` the Student-t quantile).
    """

    expression: str
    value: float
    stderr: float
    interval: tuple[float, float]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "expression": self.expression,
            "value": _finite_or_none(self.value),
            "stderr": _finite_or_none(self.stderr),
            "interval": [_finite_or_none(v) for v in self.interval],
        }

    def __str__(self) -> str:
        lo, hi = self.interval
        return f"{self.expression} = {self.value:.4g} ± {self.stderr:.2g} (95%: {lo:.4g}..{hi:.4g})"


@dataclass
class GrayBoxResult:
    """What :func:`fit_model` found.

    Attributes
    ----------
    states : tuple of str
        All states of the model, in the order of the ``equations`` dict.
    observed : tuple of str
        The states compared with data.
    equations : dict of str to sympy.Expr
        The parsed right-hand sides (parameters as symbols).
    parameters : dict of str to float
        Estimates of the unknown parameters.
    stderr : dict of str to float
        Standard errors of the estimates (NaN when not identifiable).
    intervals : dict of str to (float, float)
        95% intervals. For parameters fitted in log space the interval is
        ``exp(log(p) ± q*se_log)`` (positive, asymmetric), otherwise ``p ± q*se``.
    log_parameters : tuple of str
        Parameters fitted as ``log(p)``.
    fixed : dict of str to float
        Known constants.
    initial_states : list of dict
        Per trajectory, every state's value at the simulation start ``t0``.
    initial_stderr : list of dict
        Per trajectory, standard errors of the estimated initial values (known ones absent).
    t0 : list of float
        Per trajectory, the simulation start.
    covariance : ndarray
        Covariance of ``[parameters..., estimated initial values...]`` in natural units.
    covariance_names : list of str
        Names of the covariance rows (``"beta"``, ``"S(0)[traj 0]"``...).
    trajectories : list of dict
        Per trajectory: ``name``, ``t`` (data times), ``x`` (simulated, all states,
        shape (n, d)), ``data`` (observed values, (n, n_observed)), ``t_dense``,
        ``x_dense`` (a fine grid from ``t0`` to the last sample).
    rms : dict of str to float
        Root-mean-square residual per observed state, in data units.
    rms_normalised : float
        Overall RMS of the residuals divided by each state's spread.
    success : bool
    message : str
    nfev : int
        Model simulations during the fit.
    n_failed_simulations : int
        Trial points whose simulation failed (blow-up, step or time limit); they
        were rejected and the fit went on.
    failures : list of str
        The first few failure reasons.
    dof : int
        Residual degrees of freedom (observations minus fitted unknowns).
    identifiable : bool
        False when the Jacobian at the optimum is (nearly) rank deficient: some
        combination of unknowns does not change the fit; standard errors are inf.
    """

    states: tuple[str, ...]
    observed: tuple[str, ...]
    equations: dict[str, sp.Expr]
    parameters: dict[str, float]
    stderr: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    log_parameters: tuple[str, ...]
    fixed: dict[str, float]
    initial_states: list[dict[str, float]]
    initial_stderr: list[dict[str, float]]
    t0: list[float]
    covariance: np.ndarray
    covariance_names: list[str]
    trajectories: list[dict[str, Any]]
    rms: dict[str, float]
    rms_normalised: float
    success: bool
    message: str
    nfev: int
    n_failed_simulations: int
    failures: list[str]
    dof: int
    identifiable: bool = True
    columns: dict[str, str] = field(default_factory=dict)
    time_unit: str | None = None
    time_column: str = "t"
    _simulator: Any = field(default=None, repr=False)

    # ---------------------------------------------------------------- queries
    def derived(self, expression: str) -> DerivedQuantity:
        """Evaluate a function of the parameters with a delta-method standard error.

        ``stderr = sqrt(g^T C g)`` with ``g`` the gradient of the expression with
        respect to the fitted parameters and ``C`` their covariance.

        Parameters
        ----------
        expression : str
            Uses parameter names, fixed constants and the whitelisted functions,
            e.g. ``"beta/gamma"`` or ``"log(2)/k"``.

        Examples
        --------
        >>> import numpy as np
        >>> from sysid.fit.graybox import fit_model
        >>> t = np.linspace(0.0, 4.0, 30)
        >>> res = fit_model({"x": "-k*x"}, (t, 2.0 * np.exp(-0.7 * t)),
        ...                 parameters={"k": 1.0}, columns={"x": "x0"})
        >>> round(res.derived("log(2)/k").value, 3)
        0.99
        """
        names = list(self.parameters) + list(self.fixed)
        expr = parse_equation(expression, names, source=f"derived({expression!r})")
        if expr.free_symbols & {sp.Symbol("t", real=True)}:
            raise EquationError(
                f"{expression!r} uses the time t",
                source="derived",
                hint="a derived quantity is a function of parameters and constants only",
            )
        syms = {n: sp.Symbol(n, real=True) for n in names}
        subs = {syms[n]: v for n, v in {**self.fixed, **self.parameters}.items()}
        value = float(expr.subs(subs))
        grad = np.array([float(sp.diff(expr, syms[p]).subs(subs)) for p in self.parameters])
        used = np.flatnonzero(grad != 0)  # a parameter not in the expression adds nothing
        cov = self.covariance[np.ix_(used, used)]
        with np.errstate(invalid="ignore"):
            var = float(grad[used] @ cov @ grad[used]) if used.size else 0.0
        se = math.sqrt(var) if var >= 0 and not math.isnan(var) else math.nan
        q = _quantile(self.dof)
        return DerivedQuantity(str(expression), value, se, (value - q * se, value + q * se))

    def simulate(self, t: Sequence[float] | np.ndarray, trajectory: int = 0) -> np.ndarray:
        """The fitted model's states (all of them) at times ``t``, shape (len(t), d).

        The simulation starts at the trajectory's ``t0`` from its fitted initial
        state; ``t`` must be increasing and not before ``t0``.
        """
        if not 0 <= trajectory < len(self.initial_states):
            raise ConfigError(
                f"trajectory {trajectory} does not exist; there are {len(self.initial_states)}",
                source="GrayBoxResult.simulate",
            )
        t = np.asarray(t, dtype=float).ravel()
        if t.size == 0 or not np.isfinite(t).all() or (np.diff(t) < 0).any():
            raise DataError("t must be finite, increasing times", source="GrayBoxResult.simulate")
        if t[0] < self.t0[trajectory] - 1e-12:
            raise DataError(
                f"t starts at {t[0]:g}, before the simulation start t0={self.t0[trajectory]:g}",
                source="GrayBoxResult.simulate",
            )
        x0 = np.array([self.initial_states[trajectory][s] for s in self.states])
        if self._simulator is None:
            raise SimulationError("the fit failed: there is no fitted model to simulate")
        try:
            return self._simulator(self._theta(), x0, self.t0[trajectory], t, trajectory)
        except GuardTripped as err:
            raise SimulationError(
                f"simulation of the fitted model failed: {err.reason}",
                source="GrayBoxResult.simulate",
            ) from None

    def _theta(self) -> np.ndarray:
        return np.array(list(self.parameters.values()), dtype=float)

    # ---------------------------------------------------------------- reports
    def summary(self) -> str:
        """A plain-text table of estimates, errors and intervals."""
        lines = [
            f"gray-box fit: {'converged' if self.success else 'NOT converged'} ({self.message})",
            f"  states {list(self.states)}, observed {list(self.observed)}, "
            f"{self.nfev} simulations, {self.n_failed_simulations} failed",
        ]
        for p, v in self.parameters.items():
            lo, hi = self.intervals[p]
            log = " (log space)" if p in self.log_parameters else ""
            lines.append(f"  {p} = {v:.5g} ± {self.stderr[p]:.2g}   95%: [{lo:.4g}, {hi:.4g}]{log}")
        for k, (x0, se) in enumerate(zip(self.initial_states, self.initial_stderr, strict=True)):
            parts = [
                f"{s}={x0[s]:.4g}" + (f"±{se[s]:.2g}" if s in se else " (known)")
                for s in self.states
            ]
            lines.append(f"  initial state [traj {k}, t0={self.t0[k]:g}]: " + ", ".join(parts))
        rms = ", ".join(f"{s}: {v:.4g}" for s, v in self.rms.items())
        lines.append(f"  residual RMS {rms} (normalised {self.rms_normalised:.3g})")
        return "\n".join(lines)

    __str__ = summary

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of everything but the dense trajectories."""
        return json_safe(
            {
                "states": list(self.states),
                "observed": list(self.observed),
                "columns": dict(self.columns),
                "equations": {s: str(e) for s, e in self.equations.items()},
                "parameters": self.parameters,
                "stderr": self.stderr,
                "intervals": {p: list(v) for p, v in self.intervals.items()},
                "log_parameters": list(self.log_parameters),
                "fixed": self.fixed,
                "initial_states": self.initial_states,
                "initial_stderr": self.initial_stderr,
                "t0": self.t0,
                "covariance": self.covariance.tolist(),
                "covariance_names": self.covariance_names,
                "rms": self.rms,
                "rms_normalised": self.rms_normalised,
                "success": self.success,
                "message": self.message,
                "nfev": self.nfev,
                "n_failed_simulations": self.n_failed_simulations,
                "failures": self.failures,
                "dof": self.dof,
                "identifiable": self.identifiable,
                "fitted": [
                    {"name": tr["name"], "t": tr["t"].tolist(), "x": tr["x"].tolist()}
                    for tr in self.trajectories
                ],
            }
        )

    def plot(self, path: str | os.PathLike | None = None, *, title: str | None = None):
        """Observed data (dots) against the fitted model (lines); unobserved states dashed.

        Returns a :class:`matplotlib.figure.Figure`; saved as PNG when ``path`` is given.
        """
        from matplotlib.figure import Figure

        from sysid.core.style import COLORS

        d = len(self.states)
        fig = Figure(figsize=(6.5, 2.1 * d + 0.7))
        axes = fig.subplots(d, 1, squeeze=False, sharex=True)[:, 0]
        for k, tr in enumerate(self.trajectories):
            color = COLORS[k % len(COLORS)]
            for j, s in enumerate(self.states):
                ax = axes[j]
                if tr["x_dense"] is not None:
                    style = "-" if s in self.observed else "--"
                    ax.plot(tr["t_dense"], tr["x_dense"][:, j], style, lw=1.4, color=color)
                if s in self.observed:
                    col = self.observed.index(s)
                    ax.plot(tr["t"], tr["data"][:, col], "o", ms=3.5, color=color, alpha=0.8)
                if k == 0:
                    label = self.columns.get(s, s)
                    label = s if label == s else f"{s} ({label})"
                    ax.set_ylabel(label + ("" if s in self.observed else "\n(not observed)"))
        axes[-1].set_xlabel(self.time_column + (f" [{self.time_unit}]" if self.time_unit else ""))
        axes[0].set_title(title or "dots: data; lines: fitted model; dashed: unobserved states")
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=110, bbox_inches="tight")
        return fig

    def save(self, path: str | os.PathLike) -> Path:
        """Write :meth:`to_dict` as JSON to ``path``."""
        import json

        out = Path(path)
        out.write_text(json.dumps(self.to_dict(), indent=2))
        return out


# --------------------------------------------------------------------------- helpers
def _finite_or_none(v: float) -> float | None:
    return float(v) if v is not None and np.isfinite(v) else None


def _quantile(dof: int) -> float:
    """Two-sided 95% quantile of Student's t (normal when dof is unknown)."""
    return float(stats.t.ppf(0.975, dof)) if dof > 0 else float(stats.norm.ppf(0.975))
