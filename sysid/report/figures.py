"""Matplotlib figures: trajectories, phase portraits, Pareto fronts, loss curves.

Every function returns a :class:`matplotlib.figure.Figure` and, given ``path``,
saves it as PNG. Figures are built with the object-oriented API (no pyplot
state), so they work without a display.

Examples
--------
>>> import numpy as np
>>> from sysid.report.figures import plot_loss
>>> fig = plot_loss({"epoch": [0, 1, 2], "loss": [1.0, 0.5, 0.2]})
>>> len(fig.axes)
1
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from itertools import combinations
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from sysid.core.style import COLORS
from sysid.data.dataset import Dataset
from sysid.select.holdout import n_training

_NUMBER = re.compile(r"\d+\.\d+(?:[eE][-+]?\d+)?")  # constants, shortened in labels

__all__ = [
    "plot_trajectories",
    "plot_phase_portrait",
    "plot_pareto",
    "plot_loss",
    "plot_recovery",
]

Simulator = Callable[[np.ndarray, np.ndarray], np.ndarray]
VectorField = Callable[[np.ndarray], np.ndarray]


def _save(fig: Figure, path: str | os.PathLike | None) -> Figure:
    if path is not None:
        fig.savefig(path, dpi=110, bbox_inches="tight")
    return fig


def _dense_time(t: np.ndarray, n: int = 400) -> np.ndarray:
    return np.linspace(float(t[0]), float(t[-1]), n)


def plot_trajectories(
    data: Dataset,
    model: Simulator | None = None,
    truth: Simulator | None = None,
    *,
    holdout: Dataset | None = None,
    starts: Sequence[np.ndarray] | None = None,
    holdout_starts: Sequence[np.ndarray] | None = None,
    band: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
    held_out_fraction: float | None = None,
    title: str | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """Data against the identified model (and the truth) over time.

    One row per state; training trajectories on the left, held-out ones on
    the right (when given). Model and truth are simulated from ``starts``
    (e.g. the true or the denoised initial states), else from each
    trajectory's first sample, which carries the measurement noise.

    Parameters
    ----------
    data : Dataset
        Training trajectories (drawn as dots).
    model, truth : callable ``(x0, t) -> (len(t), d)``, optional
        The identified model's and the true system's simulators; for data with
        inputs they are called with ``inputs=`` the trajectory's signal.
    holdout : Dataset, optional
        Held-out trajectories, drawn in a second column.
    band : callable ``(x0, t) -> (lower, upper)``, optional
        A prediction band of the model, shaded around its line.
    held_out_fraction : float, optional
        The last part of each training trajectory that the selection held out,
        shaded grey.
    """
    sets = [("training", data, starts)]
    if holdout is not None:
        sets.append(("held out", holdout, holdout_starts))
    d = data.n_states
    fig = Figure(figsize=(5.5 * len(sets), 2.2 * d + 0.6))
    axes = fig.subplots(d, len(sets), squeeze=False, sharex="col")
    for col, (label, ds, x0s) in enumerate(sets):
        for k, tr in enumerate(ds):
            color = COLORS[k % len(COLORS)]
            td = _dense_time(tr.t)
            x0 = tr.x[0] if x0s is None or k >= len(x0s) else np.asarray(x0s[k], dtype=float)
            kw = {} if tr.inputs is None else {"inputs": tr.inputs}
            sims = _simulations(model, truth, band if col == 0 else None, x0, td, kw)
            for j in range(d):
                ax = axes[j, col]
                cut = n_training(len(tr.t), held_out_fraction) if held_out_fraction else None
                if col == 0 and k == 0 and cut is not None and cut < len(tr.t):
                    ax.axvspan(tr.t[cut], tr.t[-1], color="0.92", zorder=0, label="held out")
                if sims.get("band") is not None:
                    lo, hi = sims["band"]
                    ax.fill_between(td, lo[:, j], hi[:, j], color=color, alpha=0.2, lw=0)
                ax.plot(tr.t, tr.x[:, j], "o", ms=3.5, color=color, alpha=0.6)
                if sims.get("truth") is not None:
                    ax.plot(td, sims["truth"][:, j], "--", lw=1.0, color="0.3")
                if sims.get("model") is not None:
                    ax.plot(td, sims["model"][:, j], "-", lw=1.3, color=color)
                if k == 0:
                    unit = ds.units.get(ds.states[j])
                    ax.set_ylabel(f"{ds.states[j]}" + (f" [{unit}]" if unit else ""))
        axes[0, col].set_title(
            f"{label}\ndots data, lines model"
            + (", bands 90% from the constants' errors" * bool(band and col == 0))
            + (", dashed truth" * bool(truth))
            + (", grey held out" * bool(held_out_fraction and col == 0)),
            fontsize=9,
        )
        tl = "t" + (f" [{ds.time_unit}]" if ds.time_unit else "")
        axes[-1, col].set_xlabel(tl)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def _simulations(model, truth, band, x0, td, kw) -> dict[str, Any]:
    """The model's and the truth's trajectories (and the band); a failure is None.

    ``kw`` holds the trajectory's ``inputs`` for a system with inputs.
    """
    sims: dict[str, Any] = {}
    for name, fn in (("model", model), ("truth", truth), ("band", band)):
        if fn is None:
            continue
        try:
            out = fn(x0, td, **kw)
            sims[name] = out if name == "band" else np.asarray(out)
        except Exception:  # noqa: BLE001 - a failed simulation is shown as missing
            sims[name] = None
    return sims


def plot_phase_portrait(
    data: Dataset,
    fields: Mapping[str, VectorField],
    *,
    pairs: Sequence[tuple[int, int]] | None = None,
    grid: int = 25,
    path: str | os.PathLike | None = None,
) -> Figure:
    """Stream plots of vector fields with the data on top.

    One column per field (e.g. ``{"true": f, "neural": g, "symbolic": h}``), one
    row per pair of states. For more than two states, the states not shown are
    held at their data mean.

    Parameters
    ----------
    data : Dataset
    fields : mapping label -> callable ``f(x: (n, d)) -> (n, d)``
    pairs : list of (i, j), optional
        State index pairs; default all pairs (at most 3).
    grid : int
        Grid points per axis.
    """
    d = data.n_states
    if d < 2:
        pairs = [(0, 0)]
    elif pairs is None:
        pairs = list(combinations(range(d), 2))[:3]
    _, x_all = data.stacked()
    lo, hi = np.nanmin(x_all, axis=0), np.nanmax(x_all, axis=0)
    pad = 0.08 * np.where(hi > lo, hi - lo, 1.0)
    lo, hi = lo - pad, hi + pad
    mean = np.nanmean(x_all, axis=0)
    labels = list(fields)
    fig = Figure(figsize=(4.2 * max(1, len(labels)), 3.8 * len(pairs)))
    axes = fig.subplots(len(pairs), max(1, len(labels)), squeeze=False)
    for r, (i, j) in enumerate(pairs):
        gi = np.linspace(lo[i], hi[i], grid)
        gj = np.linspace(lo[j], hi[j], grid) if d > 1 else np.linspace(-1, 1, grid)
        Gi, Gj = np.meshgrid(gi, gj)
        pts = np.tile(mean, (Gi.size, 1))
        pts[:, i] = Gi.ravel()
        if d > 1:
            pts[:, j] = Gj.ravel()
        for c, label in enumerate(labels):
            ax = axes[r, c]
            try:
                v = np.asarray(fields[label](pts), dtype=float)
                U = v[:, i].reshape(Gi.shape)
                V = v[:, j].reshape(Gi.shape) if d > 1 else np.zeros_like(U)
                if np.isfinite(U).all() and np.isfinite(V).all():
                    speed = np.hypot(U, V)
                    lines = ax.streamplot(
                        gi, gj, U, V, color=speed, cmap="viridis", density=0.9, linewidth=0.8
                    ).lines
                    fig.colorbar(lines, ax=ax, label="speed of the field", pad=0.02)
            except Exception:  # noqa: BLE001 - a field that fails is drawn empty
                ax.text(0.5, 0.5, "field failed", transform=ax.transAxes, ha="center")
            for k, tr in enumerate(data):
                yj = tr.x[:, j] if d > 1 else np.zeros(tr.n_samples)
                ax.plot(tr.x[:, i], yj, "o", ms=3.5, color=COLORS[k % len(COLORS)], alpha=0.6)
            ax.set_xlim(lo[i], hi[i])
            if d > 1:
                ax.set_ylim(lo[j], hi[j])
            ax.set_xlabel(data.states[i])
            ax.set_ylabel(data.states[j] if d > 1 else "")
            ax.set_title(f"{label} field")
    fig.tight_layout()
    return _save(fig, path)


def plot_pareto(
    pareto: Mapping[str, Sequence[Mapping[str, Any]]],
    chosen: Mapping[str, str] | None = None,
    *,
    path: str | os.PathLike | None = None,
) -> Figure:
    """Pareto fronts (complexity against loss) per state, the chosen equation marked.

    Parameters
    ----------
    pareto : mapping state -> list of {"complexity", "loss", "equation"}
        As in ``result.json``.
    chosen : mapping state -> equation string, optional
        The selected equation of each state; also marked where an entry has
        ``"chosen": True``.
    """
    states = list(pareto)
    fig = Figure(figsize=(4.0 * max(1, len(states)), 3.4))
    axes = fig.subplots(1, max(1, len(states)), squeeze=False)[0]
    for ax, s in zip(axes, states, strict=False):
        pts = sorted(pareto[s], key=lambda e: e["complexity"])
        cx = [e["complexity"] for e in pts]
        loss = [max(float(e["loss"]), 1e-300) for e in pts]
        ax.semilogy(cx, loss, "o-", color="0.4", ms=4)
        for e in pts:
            is_chosen = e.get("chosen") or (chosen is not None and e["equation"] == chosen.get(s))
            if is_chosen:
                ax.semilogy(
                    [e["complexity"]],
                    [max(float(e["loss"]), 1e-300)],
                    "*",
                    color="#d62728",
                    ms=14,
                    label="chosen",
                )
                text = _NUMBER.sub(lambda m: f"{float(m.group()):.4g}", e["equation"])
                text = text if len(text) < 40 else text[:37] + "..."
                ax.annotate(
                    text,
                    (e["complexity"], max(float(e["loss"]), 1e-300)),
                    textcoords="offset points",
                    xytext=(5, 8),
                    fontsize=7,
                )
        ax.set_title(f"d{s}/dt")
        ax.set_xlabel("complexity")
        ax.set_ylabel("loss")
    fig.tight_layout()
    return _save(fig, path)


def plot_inclusion(ensemble: Mapping[str, Any], *, path: str | os.PathLike | None = None) -> Figure:
    """Inclusion probability of each term per state, chosen terms in colour, 5-95% of coefficients.

    Parameters
    ----------
    ensemble : mapping
        The ``ensemble`` block of ``result.json``.
    """
    terms = ensemble["terms"]
    states = list(terms)
    height = 1.2 + 0.32 * max(len(rows) for rows in terms.values())
    fig = Figure(figsize=(4.2 * max(1, len(states)), height))
    axes = fig.subplots(1, max(1, len(states)), squeeze=False)[0]
    for ax, s in zip(axes, states, strict=False):
        rows = terms[s][::-1]
        y = np.arange(len(rows))
        colours = ["#1f77b4" if r["chosen"] else "0.7" for r in rows]
        ax.barh(y, [r["inclusion"] or 0.0 for r in rows], color=colours)
        labels = []
        for r in rows:
            lo, hi = r["coefficient_q05"], r["coefficient_q95"]
            spread = "" if lo is None else f"  [{lo:.3g}, {hi:.3g}]"
            text = r["term"] if len(r["term"]) < 28 else r["term"][:25] + "..."
            labels.append(text + spread)
        ax.set_yticks(y, labels, fontsize=7)
        ax.set_xlim(0.0, 1.0)
        ax.axvline(0.5, color="0.5", lw=0.8, ls=":")
        ax.set_title(f"d{s}/dt", fontsize=9)
        ax.set_xlabel("inclusion probability")
    fig.suptitle(
        f"{ensemble['finished']} members, each on {ensemble['resample'].removeprefix('a ')}"
        " (blue: chosen; [5%, 95%] of the coefficient)",
        fontsize=8,
    )
    fig.tight_layout()
    return _save(fig, path)


def plot_loss(
    history: Mapping[str, Sequence[float]], *, path: str | os.PathLike | None = None
) -> Figure:
    """Training (and validation) loss against epoch, log scale."""
    fig = Figure(figsize=(5.0, 3.4))
    ax = fig.subplots()
    epochs = history.get("epoch") or list(range(len(history.get("loss", []))))
    for key, style in (("loss", "-"), ("val_loss", "--")):
        values = history.get(key)
        if values is not None and len(values) > 0:
            vals = np.asarray(values, dtype=float)
            ok = np.isfinite(vals) & (vals > 0)
            ax.semilogy(np.asarray(epochs)[: len(vals)][ok], vals[ok], style, label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend()
    fig.tight_layout()
    return _save(fig, path)


def plot_recovery(
    summary: Sequence[Mapping[str, Any]], *, path: str | os.PathLike | None = None
) -> Figure:
    """Exact-structure recovery rate against noise, one line per method and sampling.

    Whiskers span the lowest and the highest rate of a single seed, where the
    rows carry them.

    Parameters
    ----------
    summary : list of dict
        Rows with ``method``, ``sampling``, ``noise`` and ``recovery_rate``, and
        optionally ``recovery_rate_seed_min`` and ``recovery_rate_seed_max``
        (as from :func:`sysid.benchmark.report.summarise`).
    """
    fig = Figure(figsize=(5.5, 3.6))
    ax = fig.subplots()
    lines: dict[tuple[str, str], list[tuple[float, float, float, float]]] = {}
    for s in summary:
        rate = float(s["recovery_rate"])
        lines.setdefault((s["method"], s["sampling"]), []).append(
            (
                float(s["noise"]),
                rate,
                float(s.get("recovery_rate_seed_min", rate)),
                float(s.get("recovery_rate_seed_max", rate)),
            )
        )
    styles = {"regular": "-", "irregular": "--", "sparse": ":"}
    methods = sorted({m for m, _ in lines})
    for (method, sampling), pts in sorted(lines.items()):
        pts.sort()
        color = COLORS[methods.index(method) % len(COLORS)]
        x, y, lo, hi = (100 * np.array(v) for v in zip(*pts, strict=True))
        ax.errorbar(
            x,
            y,
            yerr=[y - lo, hi - y],
            fmt="o" + styles.get(sampling, "-"),
            capsize=3,
            color=color,
            label=f"{method}, {sampling}",
        )
    ax.set_xlabel("noise [% of state sd]")
    ax.set_ylabel("exact structure recovered [%]")
    ax.set_title("whiskers: the range over seeds", fontsize=8)
    ax.set_ylim(-5, 105)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)
