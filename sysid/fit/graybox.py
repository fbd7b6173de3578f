"""Known-structure ("gray-box") fitting: the user's equations, unknown parameters.

The user writes the model's right-hand sides with named unknown parameters
(``{"S": "-beta*S*I/N", ...}``), says which states are measured and which
initial values are known, and :func:`fit_model` estimates the parameters (and
the unknown initial values) through the ODE solver (scipy's ``solve_ivp``) by
nonlinear least squares (scipy's ``least_squares``). States that are not
observed are simulated and need no data column.

Uncertainty comes from the Jacobian at the optimum: ``cov = s^2 (J^T J)^-1``
with ``s^2`` the residual variance, mapped back through the log transform of
positive parameters (delta method). Derived quantities such as ``beta/gamma``
get delta-method standard errors from :meth:`GrayBoxResult.derived`.

Examples
--------
>>> import numpy as np
>>> from sysid.fit.graybox import fit_model
>>> t = np.linspace(0.0, 4.0, 30)
>>> res = fit_model({"x": "-k*x"}, (t, 2.0 * np.exp(-0.7 * t)), parameters={"k": 1.0},
...                 columns={"x": "x0"})
>>> round(res.parameters["k"], 4), round(res.initial_states[0]["x"], 4)
(0.7, 2.0)
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import sympy as sp
from scipy import stats
from scipy.integrate import solve_ivp
from scipy.optimize import least_squares

from sysid.core.errors import ConfigError, DataError, EquationError
from sysid.core.expressions import ALLOWED_CONSTANTS, ALLOWED_FUNCTIONS, parse_equation
from sysid.data.columns import split_unit
from sysid.data.dataset import Dataset, load_data

__all__ = ["fit_model", "GrayBoxResult", "DerivedQuantity"]

_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_UNKNOWN_NAME_RE = re.compile(r"unknown name '([A-Za-z_][A-Za-z0-9_]*)'")
_METHODS = ("DOP853", "RK45", "RK23", "Radau", "BDF", "LSODA")
#: Relative finite-difference step of the Jacobian (in the fitted coordinates).
_DIFF_STEP = 1e-4
#: Smallest singular value of the (scaled) Jacobian, relative to the largest, for
#: the unknowns to count as identifiable (the finite-difference noise is ~1e-6).
_RANK_TOL = 1e-5
#: Most failures kept word for word in a result (the count is always kept).
_MAX_FAILURES_KEPT = 10


class _OutOfTime(Exception):
    """The fit's ``total_time`` ran out."""


class _SimulationFailed(Exception):
    """A guarded simulation stopped; the message says why."""


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
        k = len(self.parameters)
        grad = np.array([float(sp.diff(expr, syms[p]).subs(subs)) for p in self.parameters])
        cov = self.covariance[:k, :k]
        var = float(grad @ cov @ grad) if k else 0.0
        se = math.sqrt(var) if var >= 0 and np.isfinite(var) else math.nan
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
        return self._simulator(self._theta(), x0, self.t0[trajectory], t)

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
        return _json_safe(
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


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return _finite_or_none(float(obj))
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def _quantile(dof: int) -> float:
    """Two-sided 95% quantile of Student's t (normal when dof is unknown)."""
    return float(stats.t.ppf(0.975, dof)) if dof > 0 else float(stats.norm.ppf(0.975))


def _number(value: Any, what: str, source: str, hint: str | None = None) -> float:
    """``value`` as a finite float, or a ConfigError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(
            f"{what} must be a number, found {type(value).__name__} {value!r}",
            source=source,
            hint=hint,
        )
    v = float(value)
    if not np.isfinite(v):
        raise ConfigError(f"{what} must be finite, found {v}", source=source, hint=hint)
    return v


def _check_name(name: Any, what: str, source: str) -> str:
    reserved = set(ALLOWED_FUNCTIONS) | set(ALLOWED_CONSTANTS) | {"t"}
    if not isinstance(name, str) or not _IDENT_RE.match(name) or name in reserved:
        raise ConfigError(
            f"{what} name {name!r} is not a usable identifier",
            source=source,
            hint="use names like S, I, beta that are not function names, pi, E or t",
        )
    return name


def _check_mapping(value: Any, source: str, example: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"expected a dict, found {type(value).__name__} {value!r}",
            source=source,
            hint=f"write e.g. {example}",
        )
    return dict(value)


def _parse_equations(
    equations: Any, params: Sequence[str], fixed: Sequence[str]
) -> tuple[tuple[str, ...], dict[str, sp.Expr]]:
    if not isinstance(equations, Mapping) or not equations:
        raise ConfigError(
            f"equations must be a non-empty dict state -> right-hand side, found {equations!r}",
            source="argument 'equations'",
            hint='write e.g. {"x": "-k*x"}',
        )
    states = tuple(_check_name(s, "state", "argument 'equations'") for s in equations)
    clash = sorted((set(states) & set(params)) | (set(states) & set(fixed)))
    if clash:
        raise ConfigError(
            f"{clash} named both as state and as parameter/constant",
            source="argument 'parameters'",
            hint="states are the keys of equations; give parameters other names",
        )
    names = list(states) + list(params) + list(fixed)
    parsed = {}
    for s in states:
        where = f"equations[{s!r}]"
        try:
            parsed[s] = parse_equation(equations[s], names, source=where)
        except EquationError as err:
            m = _UNKNOWN_NAME_RE.search(err.message)
            if m is None:
                raise
            raise EquationError(
                err.message,
                source=where,
                hint=f"'{m.group(1)}' is neither a state {list(states)}, an unknown parameter "
                f"(give an initial guess in parameters={{'{m.group(1)}': ...}}) nor a constant "
                f"(give its value in fixed=)",
            ) from None
    return states, parsed


def _available_columns(data: Any) -> list[str] | None:
    """Column names (without ``[unit]``) of a CSV path, DataFrame or Dataset (None for arrays)."""
    if isinstance(data, Dataset):
        return list(data.states)
    if isinstance(data, pd.DataFrame):
        return [split_unit(str(c))[0] for c in data.columns]
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if not path.is_file():
            raise DataError("file not found", source=str(path), hint="check the path")
        try:
            return [split_unit(str(c))[0] for c in pd.read_csv(path, nrows=0).columns]
        except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as err:
            raise DataError(f"cannot read the header ({err})", source=str(path)) from None
    return None


def _log_choice(
    log_parameters: Any, guesses: Mapping[str, float], bounds: Mapping[str, tuple[float, float]]
) -> tuple[str, ...]:
    if isinstance(log_parameters, str) and log_parameters == "auto":
        return tuple(
            p for p, g in guesses.items() if g > 0 and (p not in bounds or bounds[p][0] >= 0)
        )
    if log_parameters is True:
        chosen = list(guesses)
    elif log_parameters is False or log_parameters is None:
        chosen = []
    elif isinstance(log_parameters, (list, tuple, set)):
        chosen = list(log_parameters)
        unknown = sorted(set(chosen) - set(guesses))
        if unknown:
            raise ConfigError(
                f"log_parameters names unknown parameter(s) {unknown}",
                source="argument 'log_parameters'",
                hint=f"parameters are {list(guesses)}",
            )
    else:
        raise ConfigError(
            f"log_parameters must be 'auto', True, False or a list of names, "
            f"found {log_parameters!r}",
            source="argument 'log_parameters'",
        )
    bad = [p for p in chosen if guesses[p] <= 0 or (p in bounds and bounds[p][0] < 0)]
    if bad:
        raise ConfigError(
            f"parameter(s) {bad} cannot be fitted in log space: their guess or lower bound "
            "is not positive",
            source="argument 'log_parameters'",
            hint="use 'auto' or give positive guesses and bounds",
        )
    return tuple(p for p in guesses if p in chosen)


def _make_simulator(
    states: Sequence[str],
    exprs: Mapping[str, sp.Expr],
    params: Sequence[str],
    fixed: Mapping[str, float],
    *,
    method: str,
    rtol: float,
    max_evals: int,
    time_limit: float,
    blowup: float,
):
    """A guarded simulator ``(theta, x0, t0, t_eval) -> x (n, d)``."""
    t_sym = sp.Symbol("t", real=True)
    st = [sp.Symbol(s, real=True) for s in states]
    ps = [sp.Symbol(p, real=True) for p in params]
    subs = {sp.Symbol(k, real=True): sp.Float(v) for k, v in fixed.items()}
    rhs = [exprs[s].subs(subs) for s in states]
    fn = sp.lambdify((t_sym, st, ps), rhs, modules="numpy")
    d = len(states)

    def simulate(theta: np.ndarray, x0: np.ndarray, t0: float, t_eval: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        count = [0]
        limit = blowup * max(1.0, float(np.max(np.abs(x0))))

        def f(t: float, x: np.ndarray) -> np.ndarray:
            count[0] += 1
            if count[0] > max_evals:
                raise _SimulationFailed(
                    f"more than {max_evals} right-hand-side evaluations by t={t:.4g} (stiff or "
                    "exploding model); try method='LSODA' or a larger max_evals"
                )
            if count[0] % 100 == 0 and time.perf_counter() - start > time_limit:
                raise _SimulationFailed(
                    f"time limit of {time_limit:g} s reached at t={t:.4g}; try a larger "
                    "time_limit or method='LSODA'"
                )
            out = np.empty(d)
            out[:] = fn(t, x, theta)
            return out

        def escape(t: float, x: np.ndarray) -> float:
            m = float(np.max(np.abs(x)))
            return limit - m if np.isfinite(m) else -1.0

        escape.terminal = True  # type: ignore[attr-defined]
        t_eval = np.asarray(t_eval, dtype=float)
        t_end = float(t_eval[-1])
        if t_end <= t0:
            return np.repeat(np.asarray(x0, float)[None, :], t_eval.size, axis=0)
        scale = np.maximum(np.abs(x0), 1e-12 * limit)
        with np.errstate(all="ignore"):
            try:
                sol = solve_ivp(
                    f,
                    (t0, t_end),
                    np.asarray(x0, dtype=float),
                    method=method,
                    t_eval=t_eval,
                    rtol=rtol,
                    atol=rtol * 1e-3 * np.maximum(scale, scale.max() * 1e-6),
                    events=[escape],
                )
            except (FloatingPointError, OverflowError, ZeroDivisionError) as err:
                raise _SimulationFailed(f"arithmetic error in the model ({err})") from None
        if sol.status == 1:
            te = float(sol.t_events[0][0])
            raise _SimulationFailed(
                f"blow-up: a state exceeded {limit:.3g} in magnitude at t={te:.4g}"
            )
        if sol.status != 0 or sol.y.shape[1] != t_eval.size:
            raise _SimulationFailed(f"ODE solver failed: {sol.message}")
        x = sol.y.T
        if not np.isfinite(x).all():
            raise _SimulationFailed("non-finite state (blow-up)")
        return x

    return simulate


# --------------------------------------------------------------------------- main entry
def fit_model(
    equations: Mapping[str, str],
    data: Any,
    *,
    parameters: Mapping[str, float],
    observed: Sequence[str] | None = None,
    initial_state: Mapping[str, float | None] | Sequence[Mapping[str, float | None]] | None = None,
    initial_guess: Mapping[str, float] | None = None,
    fixed: Mapping[str, float] | None = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    columns: Mapping[str, str] | None = None,
    t0: float | Sequence[float] | None = None,
    log_parameters: str | bool | Sequence[str] = "auto",
    time_column: str = "t",
    trajectory_column: str | None = "trajectory",
    seed: int = 0,
    n_starts: int = 1,
    method: str = "DOP853",
    rtol: float = 1e-8,
    max_nfev: int = 200,
    max_evals: int = 50_000,
    time_limit: float = 10.0,
    blowup: float = 1e6,
    total_time: float | None = None,
) -> GrayBoxResult:
    """Fit the unknown parameters of a model with known structure through the ODE solver.

    Parameters
    ----------
    equations : dict state -> str
        Right-hand sides ``d(state)/dt``, e.g. ``{"S": "-beta*S*I/N", ...}``. Parsed
        safely (:func:`sysid.core.expressions.parse_equation`): only states, parameters,
        fixed constants, ``t`` and whitelisted functions are allowed.
    data : CSV path, DataFrame, Dataset or ``(t, x)`` arrays
        The measurements; one or several trajectories (trajectory id column).
    parameters : dict name -> float
        Every unknown parameter with an initial guess.
    observed : list of str, optional
        States measured in ``data`` (default: every state that has a column).
        The other states are simulated only; they need no column.
    initial_state : dict state -> float or None, or a list of such dicts (one per trajectory)
        Known initial values at ``t0``; a missing state or ``None`` is estimated.
    initial_guess : dict state -> float, optional
        Starting values of estimated initial states (default: the first
        measured value for observed states, skipping missing ones; required for
        unobserved ones).
    fixed : dict name -> float, optional
        Known constants (e.g. ``{"N": 763}``).
    bounds : dict name -> (lo, hi), optional
        Bounds of parameters (``-inf``/``inf`` allowed).
    columns : dict state -> column name, optional
        Data column of each observed state when it differs from the state's name
        (e.g. ``{"I": "in_bed"}``). For ``(t, x)`` arrays the columns are ``x0, x1, ...``.
    t0 : float or list of float, optional
        Where the simulation starts (per trajectory); default the first sample
        time. May be earlier (e.g. day 0 of an epidemic whose data begin on day 1).
    log_parameters : "auto", bool or list of str
        Which parameters are fitted as ``log(p)``. ``"auto"`` (default): those
        with a positive guess and no negative lower bound. Log space keeps rates
        positive and makes the fit scale-free; its intervals are positive.
    time_column, trajectory_column
        How to read a CSV file or DataFrame.
    seed : int
        Seeds the perturbed restarts (``n_starts > 1``).
    n_starts : int
        Number of starts; the first is the guess, the others perturb it
        (log-normal, 50%) and the best fit wins.
    method, rtol
        ``solve_ivp`` method and relative tolerance.
    max_nfev : int
        Most least-squares function evaluations per start (Jacobian evaluations
        not counted).
    max_evals, time_limit, blowup
        The guard of every simulation: most right-hand-side evaluations, most
        wall seconds, and the magnitude (times the largest initial value) counted
        as a blow-up. A trial point whose simulation fails is rejected and the
        fit continues; failures are counted in the result.
    total_time : float, optional
        Wall seconds for the whole fit. When they run out, the best point
        evaluated so far is reported (``success`` False, no standard errors),
        as after Ctrl-C.

    Returns
    -------
    GrayBoxResult

    Notes
    -----
    The residuals are ``(simulated - observed) / spread`` per observed state
    (spread: its standard deviation over the data), so states in different
    units weigh alike; missing values (NaN) are skipped. The covariance is
    ``s^2 (J^T J)^+`` at the optimum in the fitted coordinates, mapped to the
    parameters by the delta method (``se(p) = p * se(log p)`` in log space).
    The Jacobian is a central difference with a relative step of 1e-4 in the
    fitted coordinates, well above the solver's error at the default ``rtol``.
    A (nearly) rank-deficient Jacobian marks the result ``identifiable=False``
    with infinite standard errors. Ctrl-C during the fit returns the best point
    evaluated so far (``success=False``, no standard errors). The errors assume
    independent residuals of equal variance (after normalisation); correlated
    errors (e.g. cumulative counts) make them too small.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.linspace(0.0, 10.0, 40)
    >>> x = np.c_[np.cos(1.5 * t)]                     # only the position is measured
    >>> res = fit_model({"q": "v", "v": "-w**2*q"}, (t, x), parameters={"w": 1.3},
    ...                 columns={"q": "x0"}, initial_state={"q": 1.0, "v": 0.0})
    >>> round(res.parameters["w"], 4)
    1.5
    """
    # ---------------------------------------------------------------- options
    guesses_in = _check_mapping(parameters, "argument 'parameters'", "{'beta': 1.0}")
    if not guesses_in:
        raise ConfigError(
            "no unknown parameters given",
            source="argument 'parameters'",
            hint="name every unknown parameter with an initial guess, e.g. {'beta': 1.0}",
        )
    guesses = {
        _check_name(p, "parameter", "argument 'parameters'"): _number(
            v, f"initial guess of parameter '{p}'", "argument 'parameters'"
        )
        for p, v in guesses_in.items()
    }
    fixed_d = {
        _check_name(k, "constant", "argument 'fixed'"): _number(
            v, f"fixed value of '{k}'", "argument 'fixed'"
        )
        for k, v in _check_mapping(fixed, "argument 'fixed'", "{'N': 763}").items()
    }
    both = sorted(set(guesses) & set(fixed_d))
    if both:
        raise ConfigError(
            f"{both} given both as unknown parameter and as fixed constant",
            source="argument 'fixed'",
            hint="a name is either estimated (parameters=) or known (fixed=)",
        )
    for name, value, lo, _hi in (
        ("seed", seed, 0, None),
        ("n_starts", n_starts, 1, None),
        ("max_nfev", max_nfev, 1, None),
        ("max_evals", max_evals, 10, None),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
            raise ConfigError(
                f"{name} must be an integer >= {lo}, found {value!r}", source=f"argument '{name}'"
            )
    checked = [("rtol", rtol), ("time_limit", time_limit), ("blowup", blowup)]
    if total_time is not None:
        checked.append(("total_time", total_time))
    for name, value in checked:
        v = _number(value, name, f"argument '{name}'")
        if v <= 0:
            raise ConfigError(f"{name} must be > 0, found {v}", source=f"argument '{name}'")
    if method not in _METHODS:
        raise ConfigError(
            f"unknown solver method {method!r}", source="argument 'method'", hint=f"use {_METHODS}"
        )
    states, exprs = _parse_equations(equations, list(guesses), list(fixed_d))
    used = set().union(*(e.free_symbols for e in exprs.values()))
    used_names = {s.name for s in used}
    unused = [p for p in guesses if p not in used_names]
    if unused:
        raise ConfigError(
            f"parameter(s) {unused} appear in no equation and cannot be estimated",
            source="argument 'parameters'",
            hint="remove them or fix a typo in the equations",
        )
    bounds_d: dict[str, tuple[float, float]] = {}
    for p, b in _check_mapping(bounds, "argument 'bounds'", "{'beta': (0, 10)}").items():
        if p not in guesses:
            raise ConfigError(
                f"bounds given for {p!r}, which is not an unknown parameter",
                source="argument 'bounds'",
                hint=f"unknown parameters are {list(guesses)}",
            )
        if not isinstance(b, (tuple, list)) or len(b) != 2:
            raise ConfigError(
                f"bounds of '{p}' must be a pair (lo, hi), found {b!r}", source="argument 'bounds'"
            )
        lo, hi = (
            float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan
            for v in b
        )
        if math.isnan(lo) or math.isnan(hi) or not lo < hi:
            raise ConfigError(
                f"bounds of '{p}' must be numbers with lo < hi, found {b!r}",
                source="argument 'bounds'",
                hint="use -inf or inf for a missing side",
            )
        if not lo <= guesses[p] <= hi:
            raise ConfigError(
                f"initial guess {guesses[p]:g} of '{p}' is outside its bounds [{lo:g}, {hi:g}]",
                source="argument 'parameters'",
                hint="start inside the bounds",
            )
        bounds_d[p] = (lo, hi)
    logs = _log_choice(log_parameters, guesses, bounds_d)
    cols = _check_mapping(columns, "argument 'columns'", "{'I': 'in_bed'}")
    for s, c in cols.items():
        if s not in states:
            raise ConfigError(
                f"columns maps {s!r}, which is not a state; states are {list(states)}",
                source="argument 'columns'",
                hint="key the mapping by state name: {state: column}",
            )
        if not isinstance(c, str):
            raise ConfigError(f"column of '{s}' must be a string, found {c!r}", source="columns")

    # ------------------------------------------------------------------- data
    available = _available_columns(data)
    if available is None and isinstance(data, (tuple, list)) and len(data) == 2:
        x_arr = np.asarray(data[1] if not isinstance(data[1], list) else data[1][0])
        available = [f"x{i}" for i in range(1 if x_arr.ndim == 1 else x_arr.shape[-1])]
    available_states = [c for c in (available or []) if c not in (time_column, trajectory_column)]
    if observed is None:
        obs = tuple(s for s in states if cols.get(s, s) in available_states)
        if not obs:
            raise DataError(
                f"no state of the model {list(states)} has a data column; columns are "
                f"{available_states}",
                source="argument 'data'",
                hint="name the columns like the states, or pass columns={state: column}",
            )
    else:
        if isinstance(observed, str) or not isinstance(observed, Sequence) or not observed:
            raise ConfigError(
                f"observed must be a non-empty list of state names, found {observed!r}",
                source="argument 'observed'",
                hint=f"e.g. observed={list(states[:1])}",
            )
        obs = tuple(observed)
        bad = [s for s in obs if s not in states]
        if bad:
            raise ConfigError(
                f"observed state(s) {bad} are not states of the model {list(states)}",
                source="argument 'observed'",
            )
        if len(set(obs)) != len(obs):
            raise ConfigError(f"observed has duplicates: {list(obs)}", source="observed")
        missing = [s for s in obs if cols.get(s, s) not in available_states]
        if available is not None and missing:
            raise DataError(
                f"observed state(s) {missing} have no data column "
                f"({[cols.get(s, s) for s in missing]}); columns are {available_states}",
                source="argument 'data'",
                hint="pass columns={state: column} or rename the data's columns",
            )
    want = [cols.get(s, s) for s in obs]
    ds = load_data(
        data,
        time_column=time_column,
        trajectory_column=trajectory_column,
        states=None if isinstance(data, (tuple, list)) else want,
    )
    idx = [list(ds.states).index(c) for c in want]
    t_data = [np.asarray(tr.t, float) for tr in ds]
    y_data = [np.asarray(tr.x, float)[:, idx] for tr in ds]
    n_traj = len(t_data)

    # --------------------------------------------------- starts and initial states
    if t0 is None:
        t0s = [float(t[0]) for t in t_data]
    elif isinstance(t0, (int, float, np.integer, np.floating)) and not isinstance(t0, bool):
        t0s = [_number(t0, "t0", "argument 't0'")] * n_traj
    else:
        if not isinstance(t0, Sequence) or len(t0) != n_traj:
            raise ConfigError(
                f"t0 must be a number or one number per trajectory ({n_traj}), found {t0!r}",
                source="argument 't0'",
            )
        t0s = [_number(v, "t0", "argument 't0'") for v in t0]
    for k, (a, t) in enumerate(zip(t0s, t_data, strict=True)):
        if a > t[0]:
            raise ConfigError(
                f"t0={a:g} is after the first sample time {t[0]:g} of trajectory {k}",
                source="argument 't0'",
                hint="the simulation must start at or before the first sample",
            )
    if initial_state is None:
        known_list: list[dict] = [{} for _ in range(n_traj)]
    elif isinstance(initial_state, Mapping):
        known_list = [dict(initial_state) for _ in range(n_traj)]
    elif isinstance(initial_state, Sequence) and not isinstance(initial_state, str):
        if len(initial_state) != n_traj or not all(isinstance(m, Mapping) for m in initial_state):
            raise ConfigError(
                f"initial_state must be a dict or a list of {n_traj} dicts (one per "
                f"trajectory), found {initial_state!r}",
                source="argument 'initial_state'",
            )
        known_list = [dict(m) for m in initial_state]
    else:
        raise ConfigError(
            f"initial_state must be a dict state -> value, found {initial_state!r}",
            source="argument 'initial_state'",
            hint="e.g. {'S': 762, 'I': 1, 'R': 0}",
        )
    guess0 = _check_mapping(initial_guess, "argument 'initial_guess'", "{'S': 700}")
    for where, mapping in [("initial_state", m) for m in known_list] + [("initial_guess", guess0)]:
        bad = [s for s in mapping if s not in states]
        if bad:
            raise ConfigError(
                f"{bad} are not states of the model {list(states)}",
                source=f"argument '{where}'",
                hint="key initial values by state name",
            )
    known: list[dict[str, float]] = []
    for mapping in known_list:
        known.append(
            {
                s: _number(v, f"initial value of '{s}'", "argument 'initial_state'")
                for s, v in mapping.items()
                if v is not None
            }
        )
    x0_free: list[tuple[int, str]] = []  # (trajectory, state) estimated
    x0_start: list[float] = []
    for k in range(n_traj):
        for s in states:
            if s in known[k]:
                continue
            if s in guess0:
                g = _number(guess0[s], f"initial guess of '{s}'", "argument 'initial_guess'")
            elif s in obs and np.isfinite(col := y_data[k][:, obs.index(s)]).any():
                g = float(col[np.isfinite(col)][0])  # its first measured value
            else:
                why = "it has no value in this trajectory" if s in obs else "it is unobserved"
                raise ConfigError(
                    f"the initial value of state '{s}' (trajectory {k}) is neither known nor "
                    f"guessed, and {why}",
                    source="argument 'initial_state'",
                    hint=f"give it in initial_state={{'{s}': ...}} (known) or "
                    f"initial_guess={{'{s}': ...}} (estimated)",
                )
            x0_free.append((k, s))
            x0_start.append(g)

    # ---------------------------------------------------------- residual setup
    all_y = np.concatenate(y_data, axis=0)
    n_obs = int(np.isfinite(all_y).sum())
    params = list(guesses)
    n_unknown = len(params) + len(x0_free)
    if n_obs <= n_unknown:
        raise DataError(
            f"{n_obs} observed values cannot determine {n_unknown} unknowns "
            f"({len(params)} parameters, {len(x0_free)} initial values)",
            source="argument 'data'",
            hint="measure more samples, fix some parameters, or give known initial values",
        )
    spread = np.array(
        [
            np.nanstd(all_y[:, j])
            if np.nanstd(all_y[:, j]) > 0
            else max(np.nanmax(np.abs(all_y[:, j])), 1.0)
            for j in range(len(obs))
        ]
    )
    obs_idx = [states.index(s) for s in obs]
    masks = [np.isfinite(y) for y in y_data]
    # Step scale of estimated initial values: the state's spread in the data; an
    # unobserved state's own guess, else the largest observed spread (units unknown).
    x0_scale = np.array(
        [
            max(abs(v), spread[obs.index(s)] if s in obs else 0.0, 1e-8)
            if s in obs or v != 0
            else float(spread.max())
            for v, (_, s) in zip(x0_start, x0_free, strict=True)
        ]
    )
    simulate = _make_simulator(
        states,
        exprs,
        params,
        fixed_d,
        method=method,
        rtol=rtol,
        max_evals=int(max_evals),
        time_limit=float(time_limit),
        blowup=float(blowup),
    )
    is_log = np.array([p in logs for p in params])
    theta_guess = np.array([guesses[p] for p in params])
    p_scale = np.where(is_log, 1.0, np.maximum(np.abs(theta_guess), 1e-8))

    def to_z(theta: np.ndarray, x0v: np.ndarray) -> np.ndarray:
        zp = np.where(is_log, np.log(np.where(is_log, theta, 1.0)), theta / p_scale)
        return np.concatenate([zp, np.asarray(x0v) / x0_scale])

    def from_z(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        zp = z[: len(params)]
        theta = np.where(is_log, np.exp(np.clip(zp, -700, 700)), zp * p_scale)
        return theta, z[len(params) :] * x0_scale

    def x0_of(k: int, x0v: np.ndarray) -> np.ndarray:
        x0 = np.array([known[k].get(s, np.nan) for s in states], dtype=float)
        for v, (kk, s) in zip(x0v, x0_free, strict=True):
            if kk == k:
                x0[states.index(s)] = v
        return x0

    failures: list[str] = []
    counts = {"nfev": 0, "failed": 0}
    last_failure = [""]
    track: dict[str, Any] = {"cost": math.inf, "z": None}  # best point evaluated
    n_res = int(sum(m.sum() for m in masks))
    penalty = 1e3  # residual value of a failed simulation (the solver steps back)

    stop_at = [math.inf if total_time is None else time.perf_counter() + float(total_time)]

    def residuals(z: np.ndarray) -> np.ndarray:
        if time.perf_counter() > stop_at[0] and track["z"] is not None:
            raise _OutOfTime
        counts["nfev"] += 1
        theta, x0v = from_z(z)
        out = []
        try:
            for k in range(n_traj):
                t_eval = t_data[k]
                x = simulate(theta, x0_of(k, x0v), t0s[k], t_eval)
                r = (x[:, obs_idx] - y_data[k]) / spread
                out.append(r[masks[k]])
        except _SimulationFailed as err:
            counts["failed"] += 1
            last_failure[0] = str(err)
            if len(failures) < _MAX_FAILURES_KEPT:
                failures.append(f"{dict(zip(params, theta.round(6).tolist(), strict=True))}: {err}")
            return np.full(n_res, penalty)
        res = np.concatenate(out)
        cost = 0.5 * float(res @ res)
        if cost < track["cost"]:
            track["cost"], track["z"] = cost, np.array(z, dtype=float)
        return res

    z_lo = np.full(n_unknown, -np.inf)
    z_hi = np.full(n_unknown, np.inf)
    for i, p in enumerate(params):
        if p in bounds_d:
            lo, hi = bounds_d[p]
            if is_log[i]:
                z_lo[i] = np.log(lo) if lo > 0 else -np.inf
                z_hi[i] = np.log(hi) if np.isfinite(hi) else np.inf
            else:
                z_lo[i], z_hi[i] = lo / p_scale[i], hi / p_scale[i]
    z_start = to_z(theta_guess, np.array(x0_start))
    rng = np.random.default_rng(int(seed))
    starts = [z_start]
    for _ in range(int(n_starts) - 1):
        theta_k = theta_guess * np.exp(0.5 * rng.standard_normal(len(params)))
        starts.append(np.clip(to_z(theta_k, np.array(x0_start)), z_lo + 1e-12, z_hi - 1e-12))

    def _least_squares(z_init: np.ndarray) -> Any:
        return least_squares(
            residuals,
            z_init,
            bounds=(z_lo, z_hi),
            x_scale=1.0,
            max_nfev=int(max_nfev),
            method="trf",
            # Central differences with a step far above the solver's error: a
            # Jacobian (and covariance) that solver noise does not dominate.
            jac="3-point",
            diff_step=_DIFF_STEP,
        )

    best = None
    first_failed = None
    interrupted = False
    try:
        for z_init in starts:
            r0 = residuals(z_init)
            if np.all(r0 == penalty):
                first_failed = first_failed or last_failure[0]
                continue
            sol = _least_squares(z_init)
            if best is None or sol.cost < best.cost:
                best = sol
    except (KeyboardInterrupt, _OutOfTime) as stop:
        # Ctrl-C or total_time: keep the best point evaluated so far (no standard errors).
        if track["z"] is None:
            raise
        why = "interrupted (Ctrl-C)"
        if isinstance(stop, _OutOfTime):
            why = f"stopped by total_time={total_time:g} s"
        interrupted = True
        if best is None or track["cost"] < best.cost:
            best = SimpleNamespace(
                x=track["z"],
                jac=None,
                cost=track["cost"],
                success=False,
                message=f"{why}: the best point evaluated so far is reported, "
                "without standard errors",
            )
        else:
            best.message = f"{why} after a completed start ({best.message})"
            best.success = False
    stop_at[0] = math.inf  # the final evaluations below are not cut short
    if best is None:
        return _failed_result(
            states,
            obs,
            exprs,
            guesses,
            logs,
            fixed_d,
            known,
            x0_free,
            x0_start,
            t0s,
            ds,
            t_data,
            y_data,
            cols,
            counts,
            failures,
            f"the initial guess could not be simulated ({first_failed}); try other guesses, "
            "bounds, or method='LSODA'",
        )

    # ------------------------------------------------------------- uncertainty
    z = best.x
    theta, x0v = from_z(z)
    r = residuals(z)
    final_failed = bool(np.all(r == penalty))
    dof = max(n_res - n_unknown, 0)
    s2 = float(r @ r) / dof if dof > 0 else math.nan
    # an interrupted fit has no Jacobian: NaN errors, identifiability unknown
    jac = np.full((1, n_unknown), math.nan) if best.jac is None else np.asarray(best.jac, float)
    try:
        cov_z = s2 * np.linalg.pinv(jac.T @ jac, rcond=1e-12, hermitian=True)
        sv = np.linalg.svd(jac, compute_uv=False)
    except np.linalg.LinAlgError:  # pragma: no cover - defensive
        cov_z = np.full((n_unknown, n_unknown), math.nan)
        sv = np.zeros(1)
    # A (nearly) rank-deficient Jacobian: some combination of the unknowns does
    # not change the simulated observations; its standard errors are meaningless.
    identifiable = best.jac is None or bool(sv.size and sv[-1] > _RANK_TOL * max(sv[0], 1e-300))
    if not identifiable:
        cov_z[:] = math.inf
    # d(natural)/d(z): p for log parameters, the scale otherwise
    dnat = np.concatenate([np.where(is_log, theta, p_scale), x0_scale])
    with np.errstate(invalid="ignore"):
        cov = cov_z * np.outer(dnat, dnat)
        cov = np.where(np.isinf(cov_z), math.inf, cov)
        se_z = np.sqrt(np.clip(np.diag(cov_z), 0.0, None))
        se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    if final_failed:
        se[:] = math.nan
    q = _quantile(dof)
    est = {p: float(v) for p, v in zip(params, theta, strict=True)}
    stderr = {p: float(se[i]) for i, p in enumerate(params)}
    intervals = {}
    for i, p in enumerate(params):
        if is_log[i]:
            intervals[p] = (
                float(theta[i] * np.exp(-q * se_z[i])),
                float(theta[i] * np.exp(q * se_z[i])),
            )
        else:
            intervals[p] = (float(theta[i] - q * se[i]), float(theta[i] + q * se[i]))
    init_states = [
        {s: float(v) for s, v in zip(states, x0_of(k, x0v), strict=True)} for k in range(n_traj)
    ]
    init_se: list[dict[str, float]] = [{} for _ in range(n_traj)]
    names = list(params)
    for j, (k, s) in enumerate(x0_free):
        init_se[k][s] = float(se[len(params) + j])
        names.append(f"{s}(t0)[traj {k}]")

    # ---------------------------------------------------------- fitted curves
    trajs, rms_acc = [], [[] for _ in obs]
    for k in range(n_traj):
        x0 = x0_of(k, x0v)
        try:
            x = simulate(theta, x0, t0s[k], t_data[k])
        except _SimulationFailed:
            x = np.full((t_data[k].size, len(states)), np.nan)
        t_dense = np.linspace(t0s[k], float(t_data[k][-1]), 400)
        try:
            x_dense = simulate(theta, x0, t0s[k], t_dense)
        except _SimulationFailed:
            x_dense = None
        for j, si in enumerate(obs_idx):
            m = masks[k][:, j]
            rms_acc[j].append(x[m, si] - y_data[k][m, j])
        trajs.append(
            {
                "name": ds[k].name,
                "t": t_data[k],
                "x": x,
                "data": y_data[k],
                "t_dense": t_dense,
                "x_dense": x_dense,
            }
        )
    rms = {s: float(np.sqrt(np.mean(np.concatenate(rms_acc[j]) ** 2))) for j, s in enumerate(obs)}
    success = bool(best.success) and not final_failed
    message = str(best.message)
    if final_failed:
        message = "the final parameters could not be simulated: " + last_failure[0]
    elif not best.success and not interrupted:
        message += "; try a larger max_nfev or better initial guesses"
    if not identifiable:
        message += (
            "; the unknowns are not identifiable from these data (the Jacobian is rank "
            "deficient): fix some parameters, give known initial values, or observe more "
            "states; standard errors are reported as inf"
        )
    at_bound = [
        p
        for i, p in enumerate(params)
        if np.isclose(z[i], z_lo[i], rtol=0, atol=1e-6)
        or np.isclose(z[i], z_hi[i], rtol=0, atol=1e-6)
    ]
    if at_bound:
        message += (
            f"; parameter(s) {at_bound} ended at a bound: their standard errors and "
            "intervals are unreliable (widen the bounds if the model allows)"
        )
    return GrayBoxResult(
        states=states,
        observed=obs,
        equations=exprs,
        parameters=est,
        stderr=stderr,
        intervals=intervals,
        log_parameters=logs,
        fixed=fixed_d,
        initial_states=init_states,
        initial_stderr=init_se,
        t0=t0s,
        covariance=cov,
        covariance_names=names,
        trajectories=trajs,
        rms=rms,
        rms_normalised=float(np.sqrt(np.mean(r**2))),
        success=success,
        message=message,
        nfev=counts["nfev"],
        n_failed_simulations=counts["failed"],
        failures=failures,
        dof=dof,
        identifiable=identifiable,
        columns={s: cols.get(s, s) for s in obs},
        time_unit=ds.time_unit,
        time_column=str(time_column),
        _simulator=simulate,
    )


def _failed_result(
    states,
    obs,
    exprs,
    guesses,
    logs,
    fixed_d,
    known,
    x0_free,
    x0_start,
    t0s,
    ds,
    t_data,
    y_data,
    cols,
    counts,
    failures,
    message,
) -> GrayBoxResult:
    """A result for a fit that could not start: the guesses, NaN errors, the reason."""
    n_traj = len(t_data)
    init = []
    for k in range(n_traj):
        x0 = {s: known[k].get(s, math.nan) for s in states}
        for v, (kk, s) in zip(x0_start, x0_free, strict=True):
            if kk == k:
                x0[s] = float(v)
        init.append(x0)
    n = len(guesses) + len(x0_free)
    return GrayBoxResult(
        states=states,
        observed=obs,
        equations=exprs,
        parameters=dict(guesses),
        stderr={p: math.nan for p in guesses},
        intervals={p: (math.nan, math.nan) for p in guesses},
        log_parameters=logs,
        fixed=fixed_d,
        initial_states=init,
        initial_stderr=[{s: math.nan for kk, s in x0_free if kk == k} for k in range(n_traj)],
        t0=t0s,
        covariance=np.full((n, n), math.nan),
        covariance_names=list(guesses) + [f"{s}(t0)[traj {k}]" for k, s in x0_free],
        trajectories=[
            {
                "name": ds[k].name,
                "t": t_data[k],
                "x": np.full((t_data[k].size, len(states)), math.nan),
                "data": y_data[k],
                "t_dense": None,
                "x_dense": None,
            }
            for k in range(n_traj)
        ],
        rms={s: math.nan for s in obs},
        rms_normalised=math.nan,
        success=False,
        message=message,
        nfev=counts["nfev"],
        n_failed_simulations=counts["failed"],
        failures=failures,
        dof=0,
        columns={s: cols.get(s, s) for s in obs},
        time_unit=ds.time_unit,
        _simulator=None,
    )
