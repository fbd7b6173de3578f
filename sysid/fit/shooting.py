"""Private: multiple and single shooting fits of a candidate system to trajectories.

The records are cut into windows (segments); each window is simulated from its
own start state, all windows together in one batch (the systems are
autonomous, so each runs in its own local time). ``scipy.optimize.least_squares``
fits the coefficients and the start states, with the Jacobian from forward
sensitivities. :func:`shoot` runs one fit; :func:`continued_starts` and
:func:`segment_lengths` drive the continuation from short windows to whole
trajectories used by :func:`sysid.fit.refit.refine`.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from sysid.core.ode import CompiledSystem, Guard, GuardTripped, simulate_batch
from sysid.data.dataset import Trajectory

__all__ = [
    "Segment",
    "segments",
    "window_length",
    "Grid",
    "Fit",
    "shoot",
    "standard_errors",
    "continued_starts",
    "segment_lengths",
    "mean_square",
    "MIN_SEGMENT",
]

#: Residual (in units of a state's standard deviation) returned for a failed trial simulation.
_PENALTY = 1e3
#: Fewest samples per multiple-shooting window when windows are shortened.
MIN_SEGMENT = 10
#: Most windows over all trajectories (dense records get longer windows).
MAX_SEGMENTS = 60
#: Noise variance floor (in units of a state's variance) for standard errors: residuals at
#: solver precision (exact data, a constant state) are not noise.
_VAR_FLOOR = 1e-18


@dataclass
class Segment:
    traj: int
    t0: float  # absolute time of the first sample
    tau: np.ndarray  # local times, tau[0] == 0
    x: np.ndarray  # (n, d) measured states, NaN where missing
    start: np.ndarray  # (d,) first guess of the state at tau = 0


def smoothed_state(tr: Trajectory, i: int, half: int = 4) -> np.ndarray:
    """A quadratic in time fitted to the samples around ``i``, evaluated at ``t[i]``.

    A better first guess of a segment's start state than the noisy sample itself
    (a noisy start can put a model where it diverges, e.g. a negative infected
    fraction in SIR). Missing values (NaN) are left out of each state's fit; a
    state with fewer than 4 values nearby takes its observation nearest in time
    (NaN if the state is never observed in ``tr``).
    """
    lo, hi = max(0, i - half), min(tr.n_samples, i + half + 1)
    if hi - lo < 4:
        return nearest_observed(tr, i)
    tau = tr.t[lo:hi] - tr.t[i]
    scale = np.abs(tau).max()
    tau = tau / scale if scale > 0 else tau
    vander = np.stack([np.ones_like(tau), tau, tau**2], axis=1)
    x = tr.x[lo:hi]
    if np.isfinite(x).all():
        return np.linalg.lstsq(vander, x, rcond=None)[0][0]
    out = nearest_observed(tr, i)
    for j in range(x.shape[1]):
        ok = np.isfinite(x[:, j])
        if ok.sum() >= 4:
            out[j] = np.linalg.lstsq(vander[ok], x[ok, j], rcond=None)[0][0]
    return out


def nearest_observed(tr: Trajectory, i: int) -> np.ndarray:
    """``tr.x[i]``, each missing state replaced by its observation nearest in time.

    A state never observed in ``tr`` stays NaN.
    """
    out = tr.x[i].copy()
    for j in np.flatnonzero(np.isnan(out)):
        seen = np.flatnonzero(np.isfinite(tr.x[:, j]))
        if seen.size:
            out[j] = tr.x[seen[np.argmin(np.abs(tr.t[seen] - tr.t[i]))], j]
    return out


def window_length(
    trajs: Sequence[Trajectory], segment_points: int | None, max_segments: int = MAX_SEGMENTS
) -> int | None:
    """Samples per window: ``segment_points``, raised so that at most ``max_segments``
    windows cover all trajectories (each window adds a start state to fit)."""
    if not segment_points:
        return None
    total = sum(tr.n_samples for tr in trajs)
    return max(int(segment_points), int(np.ceil(total / max_segments)))


def segments(trajs: Sequence[Trajectory], segment_points: int | None) -> list[Segment]:
    """Cut trajectories into windows of about ``segment_points`` samples (None: whole).

    A start guess of a state never observed in its trajectory is the median of
    that state over all ``trajs``.
    """
    segs = []
    for k, tr in enumerate(trajs):
        n = tr.n_samples
        n_seg = 1 if not segment_points else max(1, round(n / segment_points))
        edges = np.linspace(0, n, n_seg + 1).round().astype(int)
        for a, b in zip(edges[:-1], edges[1:], strict=True):
            if b - a < 2:
                continue
            segs.append(
                Segment(k, float(tr.t[a]), tr.t[a:b] - tr.t[a], tr.x[a:b], smoothed_state(tr, a))
            )
    if any(np.isnan(sg.start).any() for sg in segs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a state missing everywhere
            fill = np.nanmedian(np.concatenate([tr.x for tr in trajs]), axis=0)
        fill = np.where(np.isfinite(fill), fill, 0.0)
        for sg in segs:
            sg.start = np.where(np.isnan(sg.start), fill, sg.start)
    return segs


class Grid:
    """Union of the segments' local sample times, and where each sample sits in it."""

    def __init__(self, taus: Sequence[np.ndarray]):
        span = max(float(tau[-1]) for tau in taus)
        span = span if span > 0 else 1.0
        keys = [np.rint(tau / span * 2.0**40).astype(np.int64) for tau in taus]
        uniq = np.unique(np.concatenate(keys))
        self.t_eval = uniq * (span / 2.0**40)
        self.index = [np.searchsorted(uniq, k) for k in keys]


class _Timeout(Exception):
    pass


class _Shooting:
    """Residuals and Jacobian of simulated-minus-measured states, for least_squares."""

    def __init__(
        self,
        system: CompiledSystem,
        segs: list[Segment],
        sigma: np.ndarray,
        guard: Guard,
        rtol: float,
        theta_fixed: np.ndarray | None,
        time_limit: float,
    ):
        self.system = system
        self.segs = segs
        self.sigma = sigma
        self.guard = guard
        self.rtol = rtol
        self.theta_fixed = theta_fixed
        self.p = system.n_params if theta_fixed is None else 0
        self.d = system.d
        self.grid = Grid([s.tau for s in segs])
        # Missing values are dropped from the residuals (None: nothing missing).
        seen = [np.isfinite(s.x).ravel() for s in segs]
        self.seen = None if all(m.all() for m in seen) else seen
        self.state = np.concatenate([np.flatnonzero(m) % self.d for m in seen])
        self.n_res = self.state.size
        self._cache: tuple[bytes, Any] | None = None
        self.best: tuple[float, np.ndarray] | None = None
        self.failure: str | None = None
        self.n_sims = 0
        self.deadline = time.perf_counter() + time_limit

    def split(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        theta = z[: self.p] if self.theta_fixed is None else self.theta_fixed
        return theta, z[self.p :].reshape(len(self.segs), self.d)

    def evaluate(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        key = z.tobytes()
        if self._cache is not None and self._cache[0] == key:
            out = self._cache[1]
            if isinstance(out, GuardTripped):
                raise out
            return out
        theta, x0 = self.split(z)
        self.n_sims += 1
        try:
            xs, s_th, s_x0 = simulate_batch(
                self.system,
                theta,
                x0,
                self.grid.t_eval,
                guard=self.guard,
                sensitivities=True,
                rtol=self.rtol,
            )
        except GuardTripped as err:
            self._cache = (key, err)
            raise
        d, p = self.d, self.p
        res, rows = [], []
        n_cols = p + len(self.segs) * d
        for i, seg in enumerate(self.segs):
            idx = self.grid.index[i]
            r = ((xs[i, idx] - seg.x) / self.sigma).ravel()
            block = np.zeros((idx.size * d, n_cols))
            if p:
                block[:, :p] = (s_th[i, idx] / self.sigma[None, :, None]).reshape(-1, p)
            block[:, p + i * d : p + (i + 1) * d] = (
                s_x0[i, idx] / self.sigma[None, :, None]
            ).reshape(-1, d)
            if self.seen is not None:
                r, block = r[self.seen[i]], block[self.seen[i]]
            res.append(r)
            rows.append(block)
        out = (np.concatenate(res), np.vstack(rows))
        self._cache = (key, out)
        return out

    def fun(self, z: np.ndarray) -> np.ndarray:
        if time.perf_counter() > self.deadline:
            raise _Timeout
        try:
            r, _ = self.evaluate(z)
        except GuardTripped as err:
            self.failure = err.reason
            return np.full(self.n_res, _PENALTY)
        cost = float(r @ r)
        if self.best is None or cost < self.best[0]:
            self.best = (cost, z.copy())
        return r

    def jac(self, z: np.ndarray) -> np.ndarray:
        try:
            return self.evaluate(z)[1]
        except GuardTripped:
            return np.zeros((self.n_res, z.size))


@dataclass
class Fit:
    theta: np.ndarray
    x0: np.ndarray  # (n_segments, d)
    residuals: np.ndarray  # scaled by sigma; missing data values have none
    jacobian: np.ndarray
    success: bool
    message: str
    nfev: int
    state: np.ndarray | None = None  # state index of each residual

    def rss(self, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Residual sum of squares per state in data units, and residuals per state."""
        d = sigma.size
        state = np.arange(self.residuals.size) % d if self.state is None else self.state
        if np.array_equal(state, np.arange(state.size) % d):  # a complete (n, d) block
            r = self.residuals.reshape(-1, d) * sigma
            return (r**2).sum(axis=0), np.full(d, r.shape[0])
        r = self.residuals * sigma[state]
        return np.bincount(state, weights=r**2, minlength=d), np.bincount(state, minlength=d)


def shoot(
    system: CompiledSystem,
    segs: list[Segment],
    sigma: np.ndarray,
    guard: Guard,
    theta0: np.ndarray,
    *,
    fit_theta: bool,
    x0: np.ndarray | None,
    rtol: float,
    max_nfev: int,
    time_limit: float,
) -> Fit:
    """Fit start states (and coefficients when ``fit_theta``) of the windows ``segs``.

    A start that cannot be simulated returns a :class:`Fit` with empty
    residuals and the reason in ``message``; running out of ``time_limit``
    keeps the best point seen so far.
    """
    prob = _Shooting(system, segs, sigma, guard, rtol, None if fit_theta else theta0, time_limit)
    start = np.array([s.start for s in segs]) if x0 is None else np.asarray(x0, dtype=float)
    z0 = np.concatenate([theta0 if fit_theta else np.zeros(0), start.ravel()])
    try:
        r0, _ = prob.evaluate(z0)
    except GuardTripped as err:
        return Fit(theta0, start, np.array([]), np.zeros((0, 0)), False, err.reason, 1)
    prob.best = (float(r0 @ r0), z0.copy())
    message = ""
    try:
        sol = least_squares(
            prob.fun,
            z0,
            jac=prob.jac,
            method="trf",
            x_scale="jac",
            max_nfev=max_nfev,
            ftol=1e-10,
            xtol=1e-10,
            gtol=1e-10,
        )
        z, success = sol.x, sol.status > 0
        message = sol.message
        if prob.best is not None and prob.best[0] < 2.0 * sol.cost * (1 - 1e-12):
            z = prob.best[1]
    except _Timeout:
        z, success = prob.best[1], False
        message = f"time limit of {time_limit:g} s reached; the best fit so far is kept"
    try:
        r, jac = prob.evaluate(z)
    except GuardTripped as err:  # pragma: no cover - z was simulated before
        return Fit(theta0, start, np.array([]), np.zeros((0, 0)), False, err.reason, prob.n_sims)
    theta, x0s = prob.split(z)
    return Fit(theta.copy(), x0s.copy(), r, jac, success, message, prob.n_sims, prob.state)


def standard_errors(fit: Fit, d: int, p: int) -> np.ndarray:
    """Standard errors of the first ``p`` parameters, with a noise level per state."""
    r, jac = fit.residuals, fit.jacobian
    n, q = jac.shape
    if p == 0:
        return np.zeros(0)
    if n <= q:
        return np.full(p, np.nan)
    state = np.arange(n) % d if fit.state is None else fit.state
    ss = np.array([r[state == j] @ r[state == j] for j in range(d)])
    counts = np.bincount(state, minlength=d)
    if (counts == counts[0]).all():
        var = ss / (n - q) * d
    else:  # missing values: each state's share of the degrees of freedom
        var = ss / (np.maximum(counts, 1) * (n - q) / n)
    # Floor: residuals at solver precision (exact data, a constant state) are not noise.
    var = np.maximum(var, _VAR_FLOOR)
    jw = jac / np.sqrt(var[state])[:, None]
    try:
        with np.errstate(all="ignore"):
            cov = np.linalg.pinv(jw.T @ jw, rcond=1e-13, hermitian=True)
    except np.linalg.LinAlgError:  # pragma: no cover
        return np.full(p, np.nan)
    return np.sqrt(np.clip(np.diag(cov)[:p], 0.0, None))


def continued_starts(
    system: CompiledSystem,
    fit: Fit,
    old: list[Segment],
    new: list[Segment],
    guard: Guard,
) -> np.ndarray:
    """Start states of longer segments, continued from a fit on shorter ones.

    Each new segment starts inside (or at the start of) an old one; the old
    segment's fitted start is simulated forward to the new start time.
    """
    starts = np.empty((len(new), system.d))
    for i, seg in enumerate(new):
        j = max(k for k, o in enumerate(old) if o.traj == seg.traj and o.t0 <= seg.t0 + 1e-12)
        dt = seg.t0 - old[j].t0
        if dt <= 0:
            starts[i] = fit.x0[j]
            continue
        try:
            xs, _, _ = simulate_batch(
                system, fit.theta, fit.x0[j][None, :], np.array([0.0, dt]), guard=guard
            )
            starts[i] = xs[0, -1]
        except GuardTripped:
            starts[i] = seg.start
    return starts


def segment_lengths(first: int | None, longest: int) -> list[int | None]:
    """Window lengths of the continuation: doubling from ``first`` to whole trajectories."""
    if not first or first >= longest:
        return [None]
    out: list[int | None] = [first]
    while 2 * out[-1] < 0.75 * longest:
        out.append(2 * out[-1])
    return [*out, None]


def mean_square(fit: Fit) -> float:
    return float(fit.residuals @ fit.residuals) / max(fit.residuals.size, 1)
