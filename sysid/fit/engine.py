"""The one engine that fits the constants of a symbolic ODE through the solver.

Gray-box fits (:func:`sysid.fit.graybox.fit_model`), discovery refits
(:func:`sysid.fit.refit.refine`), the polish and the refit of inner constants
(:mod:`sysid.fit.polish`, :mod:`sysid.fit.inner`) all call :func:`fit` and
:func:`covariance` here.

The data are cut into segments (:class:`Segment`), each simulated from its own start
state (known entries stay, the others are fitted) through the one guarded
simulator (:func:`sysid.core.ode.simulate_batch`): all segments of an
autonomous system in one batch, in local time; those of a non-autonomous one
grouped by start time. ``scipy.optimize.least_squares`` ("trf", Jacobian
scaling) minimises the residuals over the parameters (possibly in log space
or with bounds, :class:`Parametrisation`) and the free start states; the
Jacobian comes from forward sensitivities (finite differences only for a
system without derivatives). A trial point whose simulation fails gets a
large residual and the fit steps back; a fit that runs out of ``time_limit``
(wall seconds of the whole call) or is interrupted (Ctrl-C) keeps the best
point evaluated so far.

The covariance rule
-------------------
Every standard error in sysid comes from :func:`covariance`:

* residuals ``r_i = (x_sim_j(t_i) - y_ij) / s_j``, one per measured value, with
  ``s_j`` state ``j``'s spread in the data (a weight; it cancels below);
* the noise variance of each measured state, ``v_j = SS_j / (n_j (n - q) / n)``:
  its residual sum of squares over its share of the ``n - q`` residual degrees
  of freedom (``n`` residuals, ``q`` fitted unknowns including start states),
  floored at 1e-18 (residuals at solver precision are not noise);
* ``J = dr/dz`` at the returned point, from the sensitivities;
* ``cov_z = (J^T V^-1 J)^-1`` with ``V = diag(v_j(i))``, computed from the SVD
  of ``V^-1/2 J`` with unit columns. Unknowns that take part in a direction
  whose singular value is below 1e-7 of the largest (1e-5 for a
  finite-difference Jacobian) are not identifiable: their variance is inf;
* natural units by the delta method, ``cov = D cov_z D`` with
  ``D = d(theta, x0)/dz`` (``theta`` for log parameters, the scale for linear
  ones, 1 for start states).

With one measured state this is the classic ``s^2 (J^T J)^-1``. The errors
assume independent residuals; correlated errors (e.g. cumulative counts)
make them too small.

Examples
--------
>>> import numpy as np
>>> import sympy as sp
>>> from sysid.core.ode import batch_inputs, ExpressionSystem, Guard
>>> t = np.linspace(0.0, 4.0, 30)
>>> x = 2.0 * np.exp(-0.7 * t) + 0.01 * np.random.default_rng(0).standard_normal(30)
>>> seg = Segment(0, 0.0, t, x[:, None], np.array([2.0]))
>>> system = ExpressionSystem(["x"], [-sp.Symbol("k") * sp.Symbol("x")], ["k"])
>>> res = fit(system, [seg], np.array([x.std()]), Guard.around(x[:, None]), np.array([1.0]))
>>> round(float(res.theta[0]), 2), round(float(res.x0[0, 0]), 2)
(0.7, 2.0)
>>> cov = covariance(res)
>>> cov.dof, bool(0 < cov.stderr[0] < 0.01)
(28, True)
"""

# Over 600 lines: the one engine (segments, parametrisation, the least-squares
# problem, the multi-start fit and the one covariance rule) shares its types;
# split, the rule every standard error follows would be scattered over files.

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from sysid.core.ode import (
    CompiledSystem,
    ExpressionSystem,
    Guard,
    GuardTripped,
    batch_inputs,
    simulate_batch,
)

__all__ = [
    "Segment",
    "Parametrisation",
    "Grid",
    "Fit",
    "Covariance",
    "fit",
    "covariance",
    "PENALTY",
]

System = CompiledSystem | ExpressionSystem

#: Residual (in units of a state's spread) returned for a failed trial simulation.
PENALTY = 1e3
#: Noise variance floor (in units of a state's spread squared).
_VAR_FLOOR = 1e-18
#: Identifiability: smallest singular value (relative) of the unit-column weighted Jacobian.
_RANK_TOL = 1e-7
_RANK_TOL_FD = 1e-5
#: An unknown whose share of a near-null direction exceeds this is not identifiable.
_NULL_SHARE = 1e-6
#: Relative step of finite differences (in the fitted coordinates).
_DIFF_STEP = 1e-4
#: Most failed trial simulations kept word for word (the count is always kept).
_MAX_FAILURES_KEPT = 10


@dataclass
class Segment:
    """A stretch of one trajectory, simulated from its own start state.

    Attributes
    ----------
    traj : int
        Index of its trajectory.
    t0 : float
        Absolute time where the simulation starts (at or before the first sample).
    tau : ndarray (n,)
        Sample times relative to ``t0`` (increasing, >= 0).
    x : ndarray (n, d)
        Measured states, NaN where missing or not observed (no residual).
    start : ndarray (d,)
        The start state at ``t0``: known values and first guesses.
    free : ndarray (d,) of bool or None
        Start entries that are fitted (None: all).
    inputs : callable or None
        The trajectory's exogenous inputs, absolute time -> values (k,)
        (:class:`sysid.data.inputs.InputSignal`), for a system with inputs.
    """

    traj: int
    t0: float
    tau: np.ndarray
    x: np.ndarray
    start: np.ndarray
    free: np.ndarray | None = None
    inputs: Any = None

    def free_states(self) -> np.ndarray:
        d = self.start.size
        return np.arange(d) if self.free is None else np.flatnonzero(self.free)


@dataclass(frozen=True)
class Parametrisation:
    """How the parameters ``theta`` are fitted: ``log(theta)`` or ``theta / scale``, bounds.

    Examples
    --------
    >>> par = Parametrisation(np.array([True, False]), np.array([1.0, 2.0]))
    >>> par.to_z(np.array([np.e, 4.0])).tolist(), par.derivative(np.array([3.0, 4.0])).tolist()
    ([1.0, 2.0], [3.0, 2.0])
    """

    log: np.ndarray
    scale: np.ndarray
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None

    @classmethod
    def linear(cls, p: int) -> Parametrisation:
        """Every parameter fitted as it is, unbounded."""
        return cls(np.zeros(p, dtype=bool), np.ones(p))

    def to_z(self, theta: np.ndarray) -> np.ndarray:
        theta = np.asarray(theta, dtype=float)
        return np.where(self.log, np.log(np.where(self.log, theta, 1.0)), theta / self.scale)

    def from_z(self, z: np.ndarray) -> np.ndarray:
        return np.where(self.log, np.exp(np.clip(z, -700.0, 700.0)), z * self.scale)

    def derivative(self, theta: np.ndarray) -> np.ndarray:
        """``d theta / d z`` at ``theta``."""
        return np.where(self.log, theta, self.scale)

    def z_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of the fitted coordinates."""
        p = self.log.size
        lo = np.full(p, -np.inf) if self.lower is None else np.asarray(self.lower, float)
        hi = np.full(p, np.inf) if self.upper is None else np.asarray(self.upper, float)
        with np.errstate(divide="ignore", invalid="ignore"):
            zlo = np.where(self.log, np.where(lo > 0, np.log(np.abs(lo)), -np.inf), lo / self.scale)
            zhi = np.where(self.log, np.log(np.abs(hi)), hi / self.scale)
        return zlo, np.where(np.isnan(zhi), np.inf, zhi)


class Grid:
    """Union of the segments' local sample times, and where each sample sits in it."""

    def __init__(self, taus: list[np.ndarray]):
        span = max(float(tau[-1]) for tau in taus)
        span = span if span > 0 else 1.0
        keys = [np.rint(tau / span * 2.0**40).astype(np.int64) for tau in taus]
        uniq = np.unique(np.concatenate(keys))
        self.t_eval = uniq * (span / 2.0**40)
        self.index = [np.searchsorted(uniq, k) for k in keys]


class _Timeout(Exception):
    pass


@dataclass
class Fit:
    """What :func:`fit` found; empty ``residuals`` when no start could be simulated.

    ``success`` says whether least squares met its tolerances; ``stopped`` is
    ``"time"`` or ``"interrupted"`` when the fit was cut short (the best point
    evaluated so far is kept).
    """

    theta: np.ndarray
    x0: np.ndarray  # (n_segments, d) start states
    residuals: np.ndarray  # scaled by sigma; missing data values have none
    jacobian: np.ndarray
    success: bool
    message: str
    nfev: int
    state: np.ndarray | None = None  # state index of each residual
    n_failed: int = 0
    failures: list[tuple[np.ndarray, str]] = field(default_factory=list)
    stopped: str = ""
    dnat: np.ndarray = field(default_factory=lambda: np.zeros(0))  # d(theta, x0)/dz
    finite_differences: bool = False
    z: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def ok(self) -> bool:
        """Whether a fit was obtained (the model simulates)."""
        return self.residuals.size > 0

    def rss(self, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Residual sum of squares per state in data units, and residuals per state."""
        d = sigma.size
        state = np.arange(self.residuals.size) % d if self.state is None else self.state
        r = self.residuals * sigma[state]
        return np.bincount(state, weights=r**2, minlength=d), np.bincount(state, minlength=d)


class _Residuals:
    """Residuals and Jacobian of simulated-minus-measured states, for least_squares."""

    def __init__(
        self,
        system: System,
        segs: list[Segment],
        sigma: np.ndarray,
        guard: Guard,
        param: Parametrisation,
        theta_fixed: np.ndarray | None,
        options: dict[str, Any],
    ):
        self.system, self.segs, self.sigma, self.guard = system, segs, sigma, guard
        self.param, self.theta_fixed, self.options = param, theta_fixed, options
        self.p = system.n_params if theta_fixed is None else 0
        self.d = system.d
        self.sens = getattr(system, "has_sensitivities", True)
        self.free = [s.free_states() for s in segs]
        self.offset = np.cumsum([self.p] + [f.size for f in self.free])
        self.n_cols = int(self.offset[-1])
        keys = [0.0 if system.autonomous else float(s.t0) for s in segs]
        self.groups: dict[float, list[int]] = {}
        for i, k in enumerate(keys):
            self.groups.setdefault(k, []).append(i)
        self.grids = {k: Grid([segs[i].tau for i in m]) for k, m in self.groups.items()}
        self.inputs = {  # the signals of each batch, and their kinks, built once
            k: batch_inputs(
                [segs[i].inputs for i in m],
                [segs[i].t0 for i in m],
                [float(segs[i].tau[-1]) for i in m],
            )
            for k, m in self.groups.items()
        }
        self.seen = [np.isfinite(s.x).ravel() for s in segs]
        self.state = np.concatenate([np.flatnonzero(m) % self.d for m in self.seen])
        self.n_res = self.state.size
        self._cache: tuple[bytes, Any] | None = None
        self.best: tuple[float, np.ndarray] | None = None
        self.n_sims = 0
        self.n_failed = 0
        self.failures: list[tuple[np.ndarray, str]] = []
        self.deadline = math.inf

    def split(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        theta = self.param.from_z(z[: self.p]) if self.theta_fixed is None else self.theta_fixed
        x0 = np.array([s.start for s in self.segs], dtype=float)
        for i, f in enumerate(self.free):
            x0[i, f] = z[self.offset[i] : self.offset[i + 1]]
        return theta, x0

    def z_of(self, theta: np.ndarray, x0: np.ndarray) -> np.ndarray:
        zt = self.param.to_z(theta) if self.theta_fixed is None else np.zeros(0)
        return np.concatenate([zt, *[x0[i, f] for i, f in enumerate(self.free)]])

    def simulate(self, z: np.ndarray, sensitivities: bool) -> list[tuple]:
        """Per segment: states, theta- and start-sensitivities at its samples."""
        theta, x0 = self.split(z)
        self.n_sims += 1
        out: list[tuple] = [()] * len(self.segs)
        for key, members in self.groups.items():
            grid = self.grids[key]
            xs, s_th, s_x0 = simulate_batch(
                self.system,
                theta,
                x0[members],
                grid.t_eval,
                guard=self.guard,
                sensitivities=sensitivities,
                rtol=self.options["rtol"],
                method=self.options["method"],
                t_start=key,
                inputs=self.inputs[key],
            )
            for m, i in enumerate(members):
                idx = grid.index[m]
                sens = (s_th[m, idx], s_x0[m, idx]) if sensitivities else (None, None)
                out[i] = (xs[m, idx], *sens)
        return out

    def evaluate(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        key = z.tobytes()
        if self._cache is not None and self._cache[0] == key:
            if isinstance(self._cache[1], GuardTripped):
                raise self._cache[1]
            return self._cache[1]
        try:
            sims = self.simulate(z, self.sens)
        except GuardTripped as err:
            self._cache = (key, err)
            raise
        out = self._assemble(z, sims)
        self._cache = (key, out)
        return out

    def _assemble(self, z: np.ndarray, sims: list[tuple]) -> tuple[np.ndarray, np.ndarray | None]:
        d, p, sig = self.d, self.p, self.sigma
        dth = self.param.derivative(self.param.from_z(z[:p])) if p else np.zeros(0)
        res, rows = [], []
        for i, (seg, (x, s_th, s_x0)) in enumerate(zip(self.segs, sims, strict=True)):
            r = ((x - seg.x) / sig).ravel()[self.seen[i]]
            res.append(r)
            if s_x0 is None:
                continue
            block = np.zeros((x.shape[0] * d, self.n_cols))
            if p:
                block[:, :p] = (s_th * (dth / sig[:, None])).reshape(-1, p)
            f = self.free[i]
            if f.size:
                block[:, self.offset[i] : self.offset[i + 1]] = (
                    s_x0[:, :, f] / sig[None, :, None]
                ).reshape(-1, f.size)
            rows.append(block[self.seen[i]])
        jac = np.vstack(rows) if rows else None
        return np.concatenate(res), jac

    def fun(self, z: np.ndarray) -> np.ndarray:
        if time.perf_counter() > self.deadline:
            raise _Timeout
        try:
            r, _ = self.evaluate(z)
        except GuardTripped as err:
            self.n_failed += 1
            if len(self.failures) < _MAX_FAILURES_KEPT:
                self.failures.append((self.split(z)[0].copy(), err.reason))
            return np.full(self.n_res, PENALTY)
        self.note(r, z)
        return r

    def note(self, r: np.ndarray, z: np.ndarray) -> None:
        cost = float(r @ r)
        if self.best is None or cost < self.best[0]:
            self.best = (cost, z.copy())

    def jac(self, z: np.ndarray) -> np.ndarray:
        try:
            return self.evaluate(z)[1]
        except GuardTripped:
            return np.zeros((self.n_res, z.size))

    def fd_jacobian(self, z: np.ndarray) -> np.ndarray:
        """Central differences of the residuals (for systems without sensitivities)."""
        cols = []
        for k in range(z.size):
            h = _DIFF_STEP * max(1.0, abs(float(z[k])))
            zp, zm = z.copy(), z.copy()
            zp[k] += h
            zm[k] -= h
            try:
                cols.append((self.evaluate(zp)[0] - self.evaluate(zm)[0]) / (2 * h))
            except GuardTripped:
                cols.append(np.full(self.n_res, np.nan))
        return np.stack(cols, axis=1) if cols else np.zeros((self.n_res, 0))


def fit(
    system: System,
    segs: list[Segment],
    sigma: np.ndarray,
    guard: Guard,
    theta0: np.ndarray,
    *,
    param: Parametrisation | None = None,
    fit_theta: bool = True,
    x0: np.ndarray | None = None,
    theta_starts: list[np.ndarray] | None = None,
    rtol: float = 1e-8,
    method: str = "DOP853",
    max_nfev: int = 60,
    time_limit: float | None = None,
    keep_on_interrupt: bool = False,
) -> Fit:
    """Fit the parameters (when ``fit_theta``) and the free start states of ``segs``.

    Parameters
    ----------
    system : CompiledSystem or ExpressionSystem
    segs : list of Segment
    sigma : ndarray (d,)
        Each state's spread: residuals are divided by it.
    guard : Guard
        Limits of every simulation.
    theta0 : ndarray (p,)
        Starting (or, without ``fit_theta``, fixed) parameters.
    param : Parametrisation, optional
        Log space, scales and bounds (default: linear, unbounded).
    x0 : ndarray (n_segments, d), optional
        Start states (default: each segment's ``start``).
    theta_starts : list of ndarray, optional
        Further starting parameters; the best fit over all starts wins.
    rtol, method
        Solver tolerance and ``solve_ivp`` method.
    max_nfev : int
        Most least-squares function evaluations per start.
    time_limit : float, optional
        Wall seconds of the whole fit; the best point so far is kept when they run out.
    keep_on_interrupt : bool
        Ctrl-C returns the best point so far (``stopped="interrupted"``) instead
        of raising KeyboardInterrupt (for interactive front ends).

    Returns
    -------
    Fit
        Empty residuals and the reason in ``message`` when no start simulates.
    """
    param = Parametrisation.linear(system.n_params) if param is None else param
    options = {"rtol": rtol, "method": method}
    prob = _Residuals(system, segs, sigma, guard, param, None if fit_theta else theta0, options)
    start = np.array([s.start for s in segs], dtype=float) if x0 is None else np.asarray(x0)
    thetas = [np.asarray(theta0, dtype=float), *(theta_starts or [])]
    if time_limit is not None:
        prob.deadline = time.perf_counter() + float(time_limit)
    outcome = _run_starts(
        prob,
        [prob.z_of(th, start) for th in thetas],
        max_nfev,
        param,
        time_limit,
        keep_on_interrupt,
    )
    if prob.best is None:
        return Fit(
            thetas[0],
            start,
            np.zeros(0),
            np.zeros((0, 0)),
            False,
            outcome[1],
            prob.n_sims,
            n_failed=prob.n_failed,
            failures=prob.failures,
        )
    z = prob.best[1]
    prob.deadline = math.inf
    r, jac = prob.evaluate(z)
    if jac is None:
        jac = prob.fd_jacobian(z)
    theta, x0s = prob.split(z)
    dnat = np.concatenate(
        [param.derivative(theta) if fit_theta else np.zeros(0), np.ones(prob.n_cols - prob.p)]
    )
    converged, message, stopped = outcome
    return Fit(
        theta.copy(),
        x0s,
        r,
        jac,
        converged,
        message,
        prob.n_sims,
        prob.state,
        prob.n_failed,
        prob.failures,
        stopped,
        dnat,
        not prob.sens,
        z.copy(),
    )


def _run_starts(
    prob: _Residuals,
    starts: list[np.ndarray],
    max_nfev: int,
    param: Parametrisation,
    time_limit: float | None,
    keep_on_interrupt: bool,
) -> tuple[bool, str, str]:
    """Least squares from each start that simulates: (converged, message, stopped)."""
    lo = np.concatenate([param.z_bounds()[0][: prob.p], np.full(prob.n_cols - prob.p, -np.inf)])
    hi = np.concatenate([param.z_bounds()[1][: prob.p], np.full(prob.n_cols - prob.p, np.inf)])
    best_cost, converged, message, stopped = math.inf, False, "", ""
    try:
        for z0 in starts:
            try:
                r0, _ = prob.evaluate(z0)
            except GuardTripped as err:
                prob.n_failed += 1
                if len(prob.failures) < _MAX_FAILURES_KEPT:
                    prob.failures.append((prob.split(z0)[0].copy(), err.reason))
                message = message or err.reason
                continue
            prob.note(r0, z0)
            sol = least_squares(
                prob.fun,
                np.clip(z0, lo, hi),
                jac=prob.jac if prob.sens else "3-point",
                bounds=(lo, hi),
                method="trf",
                x_scale="jac",
                max_nfev=max_nfev,
                ftol=1e-10,
                xtol=1e-10,
                gtol=1e-10,
                diff_step=None if prob.sens else _DIFF_STEP,
            )
            if sol.cost < best_cost:
                best_cost, converged, message = sol.cost, bool(sol.status > 0), str(sol.message)
    except _Timeout:
        stopped, converged = "time", False
        message = f"time limit of {time_limit:g} s reached; the best fit so far is kept"
    except KeyboardInterrupt:
        if prob.best is None or not keep_on_interrupt:
            raise
        stopped, converged = "interrupted", False
        message = "interrupted (Ctrl-C); the best fit so far is kept"
    return converged, message, stopped


@dataclass
class Covariance:
    """Uncertainty of a :class:`Fit` by the covariance rule of this module.

    Attributes
    ----------
    cov : ndarray (q, q)
        Covariance of ``[theta..., free start states...]`` in natural units.
    stderr : ndarray (q,)
        Standard errors (inf: not identifiable; NaN: no residual degrees of freedom).
    cov_z : ndarray (q, q)
        Covariance in the fitted coordinates (``log(theta)`` for log parameters).
    identifiable : bool
        False when some unknowns take part in a (nearly) flat direction.
    dof : int
        Residual degrees of freedom ``n - q``.
    variance : ndarray (d,)
        Noise variance per state, in units of its spread squared (NaN: no residual).
    """

    cov: np.ndarray
    stderr: np.ndarray
    cov_z: np.ndarray
    identifiable: bool
    dof: int
    variance: np.ndarray


def covariance(fit: Fit) -> Covariance:
    """The covariance of the fitted unknowns (see the module docstring for the rule)."""
    r, jac = fit.residuals, fit.jacobian
    n, q = jac.shape if jac.ndim == 2 else (0, 0)
    d = fit.x0.shape[1] if fit.x0.ndim == 2 else 1
    state = np.arange(n) % d if fit.state is None else fit.state
    counts = np.bincount(state, minlength=d)
    ss = np.bincount(state, weights=r**2, minlength=d)
    dof = n - q
    nan = np.full((q, q), np.nan)
    if dof <= 0 or not np.isfinite(jac).all():
        return Covariance(
            nan, np.full(q, np.nan), nan.copy(), True, max(dof, 0), np.full(d, np.nan)
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.where(counts > 0, ss / (counts * dof / n), np.nan)
    var = np.maximum(var, _VAR_FLOOR)
    a = jac / np.sqrt(var[state])[:, None]
    norms = np.linalg.norm(a, axis=0)
    dead = norms == 0
    a = a / np.where(dead, 1.0, norms)
    _, s, vt = np.linalg.svd(a, full_matrices=False)
    tol = (_RANK_TOL_FD if fit.finite_differences else _RANK_TOL) * (s[0] if s.size else 0.0)
    flat = s <= tol
    bad = dead | ((vt[flat] ** 2).sum(axis=0) > _NULL_SHARE)
    keep = ~flat
    cov_n = (vt[keep].T / s[keep] ** 2) @ vt[keep]
    scale = np.where(dead, 1.0, norms)
    cov_z = cov_n / np.outer(scale, scale)
    cov_z[bad, :] = np.nan
    cov_z[:, bad] = np.nan
    cov_z[bad, bad] = np.inf
    dnat = fit.dnat if fit.dnat.size == q else np.ones(q)
    with np.errstate(invalid="ignore"):
        cov = cov_z * np.outer(dnat, dnat)
    cov[bad, bad] = np.inf
    stderr = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    return Covariance(cov, stderr, cov_z, not bad.any(), dof, var)
