"""Multiple shooting: cut trajectories into windows, and continue fits to longer ones.

The windows are :class:`~sysid.fit.engine.Segment` s of the one fitting engine
(:mod:`sysid.fit.engine`), each starting at its first sample from a smoothed
guess of its state. :func:`shoot` fits one set of windows;
:func:`continued_starts` and :func:`segment_lengths` drive the continuation
from short windows to whole trajectories used by :func:`sysid.fit.refit.refine`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from sysid.core.ode import CompiledSystem, Guard, GuardTripped, simulate_batch
from sysid.data.dataset import Dataset, Trajectory
from sysid.fit.engine import Fit, Grid, Segment, fit

__all__ = [
    "Segment",
    "segments",
    "window_length",
    "Grid",
    "Fit",
    "shoot",
    "simulate_windows",
    "continued_starts",
    "segment_lengths",
    "mean_square",
    "data_scales",
    "smoothed_state",
    "nearest_observed",
    "MIN_SEGMENT",
]

#: Fewest samples per multiple-shooting window when windows are shortened.
MIN_SEGMENT = 10
#: Most windows over all trajectories (dense records get longer windows).
MAX_SEGMENTS = 60


def data_scales(data: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Each state's spread (the residual weight) and all samples stacked.

    The spread is the standard deviation with missing values left out; a
    constant state takes its largest magnitude (at least 1).
    """
    _, x = data.stacked()
    sigma = np.nanstd(x, axis=0)
    fallback = np.maximum(np.nanmax(np.abs(x), axis=0), 1.0)
    return np.where(sigma > 0, sigma, fallback), x


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
                Segment(
                    k,
                    float(tr.t[a]),
                    tr.t[a:b] - tr.t[a],
                    tr.x[a:b],
                    smoothed_state(tr, a),
                    inputs=tr.inputs,
                )
            )
    if any(np.isnan(sg.start).any() for sg in segs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a state missing everywhere
            fill = np.nanmedian(np.concatenate([tr.x for tr in trajs]), axis=0)
        fill = np.where(np.isfinite(fill), fill, 0.0)
        for sg in segs:
            sg.start = np.where(np.isnan(sg.start), fill, sg.start)
    return segs


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

    One call of the engine (:func:`sysid.fit.engine.fit`), linear coefficients.
    A start that cannot be simulated returns a :class:`Fit` with empty
    residuals and the reason in ``message``; running out of ``time_limit``
    keeps the best point seen so far.
    """
    return fit(
        system,
        segs,
        sigma,
        guard,
        np.asarray(theta0, dtype=float),
        fit_theta=fit_theta,
        x0=x0,
        rtol=rtol,
        max_nfev=max_nfev,
        time_limit=time_limit,
    )


def simulate_windows(
    system: CompiledSystem,
    trajs: Sequence[Trajectory],
    sigma: np.ndarray,
    guard: Guard,
    theta: np.ndarray,
    *,
    segment_points: int | None,
    rtol: float,
    time_limit: float,
) -> Fit:
    """``trajs`` cut into windows, each simulated from a fitted start, the coefficients fixed.

    The held-out test of the selection and the short-horizon R^2 of the
    diagnostics: the error measures the dynamics, not the phase drift a long
    horizon accumulates. Raises :class:`~sysid.core.ode.GuardTripped` when no
    window can be simulated.
    """
    fit_ = shoot(
        system,
        segments(trajs, window_length(trajs, segment_points)),
        sigma,
        guard,
        theta,
        fit_theta=False,
        x0=None,
        rtol=rtol,
        max_nfev=20,
        time_limit=time_limit,
    )
    if fit_.residuals.size == 0:
        raise GuardTripped(fit_.message, "blow-up")
    return fit_


def continued_starts(
    system: CompiledSystem,
    fit_: Fit,
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
            starts[i] = fit_.x0[j]
            continue
        try:
            xs, _, _ = simulate_batch(
                system, fit_.theta, fit_.x0[j][None, :], np.array([0.0, dt]), guard=guard
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


def mean_square(fit_: Fit) -> float:
    """Mean squared (scaled) residual of a fit."""
    return float(fit_.residuals @ fit_.residuals) / max(fit_.residuals.size, 1)
