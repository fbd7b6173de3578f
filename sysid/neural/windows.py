"""Normalisation, smoothing and training windows for :mod:`sysid.neural`.

Every trajectory is cut into windows of ``m`` sample intervals. torchdiffeq
solves a batch on one shared time vector, but irregular trajectories do not
share sample times. Because the vector field is autonomous, each window is
solved in its own *sample-index time* ``s``: sample ``i`` of a window sits at
``s = i`` for every window, and the window's real (normalised) time
``tau(s)`` is the monotone cubic (PCHIP) interpolant through its sample
times. By the chain rule the window's states obey
``dz/ds = tau'(s) g(z)``, with ``tau'`` continuous in ``s``, so one solve on
the grid ``s = 0, 1, ..., m`` gives every window's states at exactly its own
sample times. For evenly spaced data ``tau'`` is the constant time step.

Examples
--------
>>> import numpy as np
>>> w = make_windows([np.array([0.0, 0.1, 0.3, 0.35, 0.9])], [np.zeros((5, 1))], m=2)
>>> w.n_windows, w.m
(2, 2)
>>> w.sample_index.tolist()
[[0, 1, 2], [2, 3, 4]]
>>> s = np.linspace(0.0, 2.0, 2001)
>>> rate = w.rate_at(s)  # tau'(s), one column per window, never negative
>>> bool(np.all(rate >= 0))
True
>>> np.round(np.trapezoid(rate, s, axis=0), 6).tolist()  # integrates to each window's span
[0.3, 0.6]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import PchipInterpolator, make_smoothing_spline

__all__ = ["Scaler", "Windows", "make_windows", "smooth", "observed_span", "holdout_masks"]

#: Fewest samples for a smoothing spline with generalised cross-validation.
_MIN_SPLINE = 5


@dataclass(frozen=True)
class Scaler:
    """Maps user units to the normalised units the network sees.

    ``z = (x - mean) / scale`` and ``tau = t / time_scale``; a field ``g(z)`` in
    normalised units is ``f(x) = g(z) * scale / time_scale`` in user units.

    Examples
    --------
    >>> import numpy as np
    >>> s = Scaler(np.array([1.0]), np.array([2.0]), 0.5)
    >>> s.to_z(np.array([[3.0]])).tolist(), s.rate_to_user(np.array([[1.0]])).tolist()
    ([[1.0]], [[4.0]])
    """

    mean: np.ndarray
    scale: np.ndarray
    time_scale: float

    def to_z(self, x: np.ndarray) -> np.ndarray:
        """User states to normalised states."""
        return (np.asarray(x, dtype=np.float64) - self.mean) / self.scale

    def to_x(self, z: np.ndarray) -> np.ndarray:
        """Normalised states to user states."""
        return np.asarray(z, dtype=np.float64) * self.scale + self.mean

    def rate_to_user(self, g: np.ndarray) -> np.ndarray:
        """A normalised rate ``dz/dtau`` to user units ``dx/dt``."""
        return np.asarray(g, dtype=np.float64) * self.scale / self.time_scale

    def to_dict(self) -> dict:
        """Plain, JSON-ready numbers (Python floats round-trip exactly)."""
        return {
            "mean": [float(v) for v in self.mean],
            "scale": [float(v) for v in self.scale],
            "time_scale": float(self.time_scale),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Scaler:
        """Inverse of :meth:`to_dict`."""
        return cls(
            np.asarray(d["mean"], dtype=np.float64),
            np.asarray(d["scale"], dtype=np.float64),
            float(d["time_scale"]),
        )


def smooth(
    t: np.ndarray, x: np.ndarray, use: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Smoothed states and their time derivatives at the sample times.

    One cubic smoothing spline per column
    (:func:`scipy.interpolate.make_smoothing_spline`), its smoothing chosen by
    generalised cross-validation unless the residual disagrees with a noise
    estimate from second differences by more than a factor 2 (GCV can
    interpolate sparse data or flatten them); then the smoothing is moved until
    the residual is at that edge of the band (a discrepancy principle). Short
    series (fewer than 5 samples) fall back to linear interpolation and finite
    differences. Missing values (NaN) are allowed: each column is then smoothed
    on its own observed samples, held constant (slope 0) before its first and
    after its last one, and a column with no observed sample is 0 (the mean,
    in normalised units) with slope 0.

    Parameters
    ----------
    t : array (n,)
        Increasing times.
    x : array (n, d)
        Values.
    use : bool array (n,), optional
        Fit the splines to these samples only (held-out samples stay unseen);
        values are still returned at every time.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.linspace(0, 1, 50)
    >>> xs, dx = smooth(t, np.c_[t**2])
    >>> bool(abs(dx[25, 0] - 2 * t[25]) < 1e-2)
    True
    >>> gappy = np.c_[t**2, t]
    >>> gappy[20:30, 0] = np.nan
    >>> xs, dx = smooth(t, gappy)
    >>> bool(abs(xs[25, 0] - t[25] ** 2) < 1e-2 and abs(dx[25, 0] - 2 * t[25]) < 2e-2)
    True
    """
    t = np.asarray(t, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    use = np.ones(t.shape[0], bool) if use is None else np.asarray(use, bool)
    tf, xf = t[use], x[use]
    if not np.isfinite(xf).all():
        return _smooth_each(t, x, use)
    if tf.shape[0] < _MIN_SPLINE:
        return _interp_fallback(tf, xf, t)
    xs = np.empty_like(x)
    dx = np.empty_like(x)
    for j in range(x.shape[1]):
        col = xf[:, j]
        if np.ptp(col) == 0.0:
            xs[:, j], dx[:, j] = col[0], 0.0
            continue
        try:
            spl = _spline(tf, col)
            xs[:, j], dx[:, j] = spl(t), spl.derivative()(t)
        except (ValueError, np.linalg.LinAlgError):
            xs[:, j] = np.interp(t, tf, col)
            dx[:, j] = np.gradient(xs[:, j], t)
    if not (np.isfinite(xs).all() and np.isfinite(dx).all()):
        return _interp_fallback(tf, xf, t)
    return xs, dx


def _smooth_each(t: np.ndarray, x: np.ndarray, use: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`smooth` with missing values: each column on its own observed samples."""
    xs, dx = np.zeros_like(x), np.zeros_like(x)
    for j in range(x.shape[1]):
        seen = use & np.isfinite(x[:, j])
        idx = np.flatnonzero(seen)
        if idx.size == 0:
            continue  # nothing observed: the mean (0 in normalised units), flat
        xs[:, [j]], dx[:, [j]] = smooth(t, x[:, [j]], seen)
        before, after = t < t[idx[0]], t > t[idx[-1]]
        xs[before, j], xs[after, j] = xs[idx[0], j], xs[idx[-1], j]
        dx[before | after, j] = 0.0
    return xs, dx


def observed_span(t: np.ndarray, x: np.ndarray) -> np.ndarray:
    """True at the times inside every column's observed span (first to last non-NaN).

    Smoothed values there are interpolated, not extrapolated; all True for
    complete data.

    Examples
    --------
    >>> import numpy as np
    >>> observed_span(np.arange(4.0), np.array([[np.nan, 1], [1, 1], [1, np.nan], [1, 1]]))
    array([False,  True,  True,  True])
    """
    t = np.asarray(t, dtype=np.float64)
    inside = np.ones(t.shape[0], bool)
    for col in np.asarray(x, dtype=np.float64).T:
        idx = np.flatnonzero(np.isfinite(col))
        if idx.size == 0:
            return np.zeros(t.shape[0], bool)
        inside &= (t >= t[idx[0]]) & (t <= t[idx[-1]])
    return inside


def _noise_level(y: np.ndarray) -> float:
    """Robust noise estimate from second differences (overestimates on sparse data)."""
    d2 = np.diff(y, 2)
    return float(np.median(np.abs(d2 - np.median(d2))) / 0.6745 / np.sqrt(6.0))


def _spline(t: np.ndarray, y: np.ndarray):
    """A smoothing spline whose residual agrees with the noise level (see :func:`smooth`)."""
    spl = make_smoothing_spline(t, y)
    sigma = _noise_level(y)
    if sigma <= 0:
        return spl
    resid = float(np.sqrt(np.mean((spl(t) - y) ** 2)))
    if 0.5 * sigma <= resid <= 2.0 * sigma:
        return spl
    target = 0.5 * sigma if resid < 0.5 * sigma else 2.0 * sigma  # nearest edge of the band
    scale = float(t[-1] - t[0]) ** 3 / t.shape[0]
    lo, hi = -16.0, 6.0  # log10 of lam / scale; the residual grows with lam
    best = spl
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        cand = make_smoothing_spline(t, y, lam=scale * 10.0**mid)
        r = float(np.sqrt(np.mean((cand(t) - y) ** 2)))
        best = cand
        if r > target:
            hi = mid
        else:
            lo = mid
        if abs(r - target) <= 0.02 * target:
            break
    return best


def _interp_fallback(
    tf: np.ndarray, xf: np.ndarray, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Piecewise-linear values and finite-difference slopes (no smoothing)."""
    xs = np.column_stack([np.interp(t, tf, xf[:, j]) for j in range(xf.shape[1])])
    return xs, np.gradient(xs, t, axis=0)


def fit_scaler(ts: Sequence[np.ndarray], xs: Sequence[np.ndarray]) -> Scaler:
    """Choose state and time scales from data.

    States are centred and divided by their standard deviation. The time scale
    makes the smoothed normalised rates have unit root-mean-square, so one
    normalised time unit is the time the system takes to move about one
    standard deviation. Missing values (NaN) are left out of every statistic.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.linspace(0, 10, 200)
    >>> s = fit_scaler([t], [np.c_[np.sin(3 * t)]])
    >>> round(1 / s.time_scale, 1)  # rms rate of sin(3t)/std = 3
    3.0
    """
    x = np.concatenate(list(xs), axis=0)
    mean = np.nanmean(x, axis=0)
    scale = np.nanstd(x, axis=0)
    scale = np.where(scale > 0, scale, np.where(np.abs(mean) > 0, np.abs(mean), 1.0))
    rates = []
    for t, xk in zip(ts, xs, strict=True):
        _, dx = smooth(t, (xk - mean) / scale)
        rates.append(dx[observed_span(t, xk)])
    r = np.concatenate(rates, axis=0)
    rms = float(np.sqrt(np.mean(r**2))) if r.size else 0.0
    durations = [float(t[-1] - t[0]) for t in ts]
    if not math.isfinite(rms) or rms <= 0:
        time_scale = float(np.median(durations)) or 1.0
    else:
        time_scale = 1.0 / rms
    return Scaler(mean, scale, time_scale)


def holdout_masks(lengths: Sequence[int], fraction: float, seed: int) -> list[np.ndarray]:
    """Pick about ``fraction`` of each trajectory's samples for validation.

    Held-out samples are scattered at random (seeded), so no stretch of the
    trajectory is lost to training; the first sample is never held out.

    Examples
    --------
    >>> [int(m.sum()) for m in holdout_masks([100, 10], 0.1, seed=0)]
    [10, 1]
    """
    rng = np.random.default_rng([int(seed), 7])
    masks = []
    for n in lengths:
        mask = np.zeros(n, dtype=bool)
        k = min(int(round(fraction * n)), n - 2)
        if k > 0:
            mask[1 + rng.choice(n - 1, size=k, replace=False)] = True
        masks.append(mask)
    return masks


@dataclass
class Windows:
    """A batch of equal-length windows over one or more trajectories.

    Attributes
    ----------
    times : ndarray (B, m+1)
        Normalised local times (each window starts at 0).
    obs : ndarray (B, m+1, d)
        Observed normalised states (zeros where nothing was observed).
    train_mask, val_mask : ndarray (B, m+1)
        1.0 where a sample counts in the training / validation loss.
    obs_mask : ndarray (B, m+1, d)
        0.0 where a sample's state is missing (NaN in the data), else 1.0:
        only observed entries count in the losses.
    sample_index : ndarray (B, m+1) of int
        Index of each point in its trajectory; -1 for virtual points (inside a
        long gap, or padding after a short trajectory's end).
    traj : ndarray (B,) of int
        Trajectory of each window.
    start_tau : ndarray (B,)
        Normalised trajectory time of each window's start.
    prev, offset : ndarray (B,) of int
        The window before in the same trajectory (-1 for a first window) and the
        position of this window's start inside it (continuity constraint).
    coef : ndarray (3, m, B)
        ``tau'(s) = a + b u + c u**2`` with ``u = s - floor(s)`` on each interval.
    """

    times: np.ndarray
    obs: np.ndarray
    train_mask: np.ndarray
    val_mask: np.ndarray
    sample_index: np.ndarray
    traj: np.ndarray
    start_tau: np.ndarray
    prev: np.ndarray
    offset: np.ndarray
    coef: np.ndarray
    obs_mask: np.ndarray | None = None

    @property
    def n_windows(self) -> int:
        """Number of windows B."""
        return int(self.times.shape[0])

    @property
    def m(self) -> int:
        """Intervals per window."""
        return int(self.times.shape[1] - 1)

    def rate_at(self, s: np.ndarray) -> np.ndarray:
        """``tau'(s)`` for every window, shape (len(s), B)."""
        s = np.atleast_1d(np.asarray(s, dtype=np.float64))
        i = np.clip(np.floor(s).astype(int), 0, self.m - 1)
        u = (s - i)[:, None]
        a, b, c = self.coef[0][i], self.coef[1][i], self.coef[2][i]
        return a + u * (b + u * c)

    def tau_at(self, s: np.ndarray) -> np.ndarray:
        """Each window's local time ``tau(s)`` (the integral of ``tau'``), shape (len(s), B)."""
        s = np.atleast_1d(np.asarray(s, dtype=np.float64))
        i = np.clip(np.floor(s).astype(int), 0, self.m - 1)
        u = (s - i)[:, None]
        a, b, c = self.coef[0][i], self.coef[1][i], self.coef[2][i]
        return self.times[:, i].T + u * (a + u * (b / 2.0 + u * c / 3.0))

    def max_rate(self) -> float:
        """Largest ``tau'`` over all windows (sets the fixed solver step)."""
        s = (np.arange(self.m)[:, None] + np.linspace(0.0, 1.0, 5)[None, :]).ravel()
        return float(np.max(self.rate_at(s)))

    def start_states(self, taus: Sequence[np.ndarray], states: Sequence[np.ndarray]) -> np.ndarray:
        """Each window's start state, interpolated from per-sample ``states`` (B, d)."""
        out = np.empty((self.n_windows, states[0].shape[1]))
        for b, (k, t0) in enumerate(zip(self.traj, self.start_tau, strict=True)):
            for j in range(out.shape[1]):
                out[b, j] = np.interp(t0, taus[k], states[k][:, j])
        return out


def _with_virtual_points(tau: np.ndarray, max_gap: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Split gaps longer than ``max_gap`` by unobserved points.

    Returns the refined times and, per time, the index of the sample it is
    (-1 for a virtual point).
    """
    index = np.arange(tau.shape[0])
    if max_gap is None or tau.shape[0] < 2:
        return tau, index
    gaps = np.diff(tau)
    pieces = np.where(gaps > max_gap, np.ceil(gaps / max_gap), 1).astype(int)
    if (pieces == 1).all():
        return tau, index
    times, idx = [tau[:1]], [index[:1]]
    for i, p in enumerate(pieces):
        frac = np.arange(1, p + 1) / p
        times.append(tau[i] + frac * gaps[i])
        idx.append(np.r_[-np.ones(p - 1, int), i + 1])
    t = np.concatenate(times)
    t[np.concatenate(idx) >= 0] = tau  # exact sample times
    return t, np.concatenate(idx)


def _window_starts(n: int, m: int) -> list[int]:
    """Start indices of windows of ``m`` intervals covering ``n`` points."""
    if n - 1 <= m:
        return [0]
    starts = list(range(0, n - 1 - m + 1, m))
    if starts[-1] + m < n - 1:
        starts.append(n - 1 - m)
    return starts


def _one_window(
    tau: np.ndarray, orig: np.ndarray, z: np.ndarray, val: np.ndarray, a: int, m: int
) -> tuple[np.ndarray, ...]:
    """The window of ``m`` intervals starting at point ``a`` of one trajectory.

    Returns local times, observed states (zeros where missing), the missing
    entries, which points are real samples, which are held out, and each
    point's sample index (-1: virtual or padding).
    """
    n, d = tau.shape[0], z.shape[1]
    sel = np.arange(a, min(a + m + 1, n))
    loc = tau[sel] - tau[a]
    src = orig[sel]
    real = src >= 0
    ob = np.zeros((sel.shape[0], d))
    ob[real] = z[src[real]]
    missing = np.isnan(ob)
    ob[missing] = 0.0
    v = np.zeros(sel.shape[0], bool)
    v[real] = val[src[real]]
    pad = m + 1 - sel.shape[0]
    if pad:
        step = (tau[-1] - tau[0]) / (n - 1)
        loc = np.concatenate([loc, loc[-1] + step * np.arange(1, pad + 1)])
        ob = np.concatenate([ob, np.zeros((pad, d))], axis=0)
        missing = np.concatenate([missing, np.zeros((pad, d), bool)], axis=0)
        real = np.r_[real, np.zeros(pad, bool)]
        v = np.r_[v, np.zeros(pad, bool)]
        src = np.r_[src, -np.ones(pad, int)]
    return loc, ob, missing, real, v, src


def make_windows(
    taus: Sequence[np.ndarray],
    zs: Sequence[np.ndarray],
    m: int,
    val_masks: Sequence[np.ndarray] | None = None,
    max_gap: float | None = None,
) -> Windows:
    """Cut trajectories into windows of ``m`` intervals (see module docstring).

    Consecutive windows of a trajectory share their boundary point; the last
    window is shifted back to end on the last sample, so windows overlap
    rather than run past the data. A trajectory with ``m`` points or fewer is
    one window, padded by continuing its last time step (padding is masked).

    Parameters
    ----------
    taus : list of arrays (n_k,)
        Normalised sample times per trajectory.
    zs : list of arrays (n_k, d)
        Normalised states per trajectory.
    m : int
        Intervals per window (>= 1).
    val_masks : list of bool arrays, optional
        Samples held out from training and used for validation.
    max_gap : float, optional
        Gaps longer than this are split by unobserved (virtual) points, so one
        long gap does not force small solver steps on every window of the
        shared grid.
    """
    m = int(m)
    if m < 1:
        raise ValueError(f"window length must be >= 1 interval, found {m}")
    times, obs, om, tm, vm, idx, traj, t0s, prev, offset = ([] for _ in range(10))
    for k, (tau0, z) in enumerate(zip(taus, zs, strict=True)):
        tau, orig = _with_virtual_points(np.asarray(tau0, dtype=np.float64), max_gap)
        n = tau.shape[0]
        val = np.zeros(z.shape[0], bool) if val_masks is None else np.asarray(val_masks[k], bool)
        starts = _window_starts(n, m)
        base = len(times)
        for w, a in enumerate(starts):
            loc, ob, missing, real, v, src = _one_window(tau, orig, z, val, a, m)
            times.append(loc)
            obs.append(ob)
            om.append(~missing)
            tm.append((real & ~v).astype(np.float64))
            vm.append((real & v).astype(np.float64))
            idx.append(src)
            traj.append(k)
            t0s.append(tau[a])
            if w == 0:
                prev.append(-1)
                offset.append(0)
            else:
                prev.append(base + w - 1)
                offset.append(a - starts[w - 1])
    times_a = np.asarray(times)
    pchip = PchipInterpolator(np.arange(m + 1, dtype=np.float64), times_a.T, axis=0)
    c = pchip.c  # (4, m, B): tau = c0 u^3 + c1 u^2 + c2 u + c3
    coef = np.stack([c[2], 2.0 * c[1], 3.0 * c[0]])
    return Windows(
        times=times_a,
        obs=np.asarray(obs),
        train_mask=np.asarray(tm),
        val_mask=np.asarray(vm),
        sample_index=np.asarray(idx, dtype=int),
        traj=np.asarray(traj, dtype=int),
        start_tau=np.asarray(t0s, dtype=np.float64),
        prev=np.asarray(prev, dtype=int),
        offset=np.asarray(offset, dtype=int),
        coef=coef,
        obs_mask=np.asarray(om, dtype=np.float64),
    )


def gather_states(w: Windows, pred: np.ndarray, lengths: Sequence[int]) -> list[np.ndarray]:
    """Per-trajectory states from window predictions ``pred`` (B, m+1, d).

    A sample covered by several windows takes the value from the window in
    which it lies earliest (closest to that window's start); each window's
    start is its own shooting state.
    """
    d = pred.shape[2]
    out = [np.full((n, d), np.nan) for n in lengths]
    pos = [np.full(n, np.inf) for n in lengths]
    for b in range(w.n_windows):
        k = w.traj[b]
        for j in range(w.m + 1):
            i = w.sample_index[b, j]
            if i >= 0 and j < pos[k][i]:
                pos[k][i] = j
                out[k][i] = pred[b, j]
    return out
