"""Discover a predator-prey law from the Hudson's Bay lynx-hare pelt records (21 yearly points).

The series (``examples/data/hudson_bay_lynx_hare.csv``, thousands of pelts per year,
1900-1920) is real data that nobody generated from a known model. We fit on
1900-1915 (16 points), hold out 1916-1920 (5 points), and report how well the
discovered model *simulates* both parts: in-sample and held out.

Run from the repository root::

    python examples/lynx_hare_discover.py [--seed 0] [--small-library] [-o OUTDIR]

Choices made here, explicitly, as a user would:

- time: the ``year`` column is converted to years since 1900 (``t = year - 1900``);
- library: the defaults (polynomials up to degree 3 with sine/cosine terms).
  ``--small-library`` passes ``{"degree": 2, "trig": False}`` instead; on these data
  (seed 0) both choose the same equations.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

import sysid
from sysid.core.errors import SimulationError

DATA = Path(__file__).resolve().parent / "data" / "hudson_bay_lynx_hare.csv"
STATES = ["hare", "lynx"]
SPLIT_YEAR = 1915  # fit on years <= SPLIT_YEAR, hold out the rest


def _metrics(obs: np.ndarray, sim: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RMSE and R^2 per state (R^2 against the mean of ``obs``)."""
    err = sim - obs
    rmse = np.sqrt(np.mean(err**2, axis=0))
    ss_tot = np.sum((obs - obs.mean(axis=0)) ** 2, axis=0)
    r2 = 1.0 - np.sum(err**2, axis=0) / ss_tot
    return rmse, r2


def _report(label: str, obs: np.ndarray, sim: np.ndarray | None) -> None:
    if sim is None:
        print(f"  {label}: simulation failed")
        return
    rmse, r2 = _metrics(obs, sim)
    parts = [f"{s}: RMSE {rmse[j]:.1f}, R^2 {r2[j]:.2f}" for j, s in enumerate(STATES)]
    print(f"  {label}: " + "; ".join(parts))


def _simulate(model: sysid.SymbolicModel, x0: np.ndarray, t: np.ndarray) -> np.ndarray | None:
    try:
        return model.simulate(x0, t)
    except SimulationError as err:
        print(f"  (simulation failed: {err})")
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--small-library", action="store_true", help='library={"degree": 2, "trig": False}'
    )
    parser.add_argument("-o", "--output", default="examples/out/lynx_hare")
    args = parser.parse_args()

    df = pd.read_csv(DATA)
    # Years -> years since 1900 (sysid's time column must be numeric).
    df["t"] = df["year"] - 1900.0
    train = df[df["year"] <= SPLIT_YEAR]
    test = df[df["year"] > SPLIT_YEAR]
    print(
        f"Hudson's Bay lynx-hare pelts: {len(df)} yearly points; fit on {len(train)} "
        f"({int(train.year.min())}-{int(train.year.max())}), hold out {len(test)} "
        f"({int(test.year.min())}-{int(test.year.max())}); t = years since 1900"
    )
    library = {"degree": 2, "trig": False} if args.small_library else None
    print(f"library: {'default' if library is None else library}")

    start = time.perf_counter()
    result = sysid.discover(train[["t", *STATES]], states=STATES, seed=args.seed, library=library)
    elapsed = time.perf_counter() - start
    model = result.model
    print(f"\ndiscovered in {elapsed:.0f} s (2 shared CPU cores):")
    print(model)
    print("\ncoefficients (± standard error from the solver-based refit):")
    for term in model.terms:
        se = "n/a" if term.stderr is None else f"{term.stderr:.3g}"
        rel = (
            ""
            if term.stderr is None or term.coefficient == 0
            else f"  ({100 * term.stderr / abs(term.coefficient):.0f}%)"
        )
        print(f"  d{term.state}/dt  {str(term.term):>10}: {term.coefficient:+.4g} ± {se}{rel}")
    weak = [
        f"{t.term} in d{t.state}/dt"
        for t in model.terms
        if t.stderr is not None and abs(t.coefficient) < 2 * t.stderr
    ]
    if weak:
        print(f"  not significantly different from 0 (|coefficient| < 2 stderr): {weak}")

    t_all = df["t"].to_numpy(float)
    obs_all = df[STATES].to_numpy(float)
    n_train = len(train)
    print("\nfit quality (model simulated from the observed 1900 state, no re-fitting):")
    sim = _simulate(model, obs_all[0], t_all)
    _report("in-sample 1900-1915", obs_all[:n_train], None if sim is None else sim[:n_train])
    _report("held out 1916-1920", obs_all[n_train:], None if sim is None else sim[n_train:])
    print("5-year forecast restarted from the observed 1915 state (parameters unchanged):")
    sim2 = _simulate(model, obs_all[n_train - 1], t_all[n_train - 1 :])
    _report("held out 1916-1920", obs_all[n_train:], None if sim2 is None else sim2[1:])
    print(
        "\nCaveat: 16 noisy yearly points of pelt counts (a proxy for population) cannot pin "
        "down a model tightly; R^2 near 1 on the held-out years should not be expected, and "
        "a negative held-out R^2 means the model predicts worse than the held-out mean."
    )

    out = Path(args.output)
    result.save(out)
    _plot_holdout(model, df, n_train, out / "holdout.png")
    print(f"\nresult.json and figures (trajectories.png, holdout.png, ...) in {out}/")


def _plot_holdout(model: sysid.SymbolicModel, df: pd.DataFrame, n_train: int, path: Path) -> None:
    """All 21 years against the model simulated from 1900; the held-out years shaded."""
    from matplotlib.figure import Figure

    years = df["year"].to_numpy(float)
    t_dense = np.linspace(0.0, years[-1] - 1900.0, 400)
    sim = _simulate(model, df[STATES].to_numpy(float)[0], t_dense)
    fig = Figure(figsize=(7.0, 5.0))
    axes = fig.subplots(2, 1, sharex=True)
    for ax, j, name in zip(axes, range(2), STATES, strict=True):
        ax.axvspan(years[n_train] - 0.5, years[-1] + 0.5, color="0.9", label="held out")
        ax.plot(years[:n_train], df[name][:n_train], "o", ms=4, color="C0", label="fitted on")
        ax.plot(years[n_train:], df[name][n_train:], "s", ms=4, color="C3", label="held out data")
        if sim is not None:
            ax.plot(1900.0 + t_dense, sim[:, j], "-", color="k", lw=1.2, label="model")
        ax.set_ylabel(f"{name} [thousand pelts]")
    axes[0].legend(fontsize=7, loc="upper right")
    axes[0].set_title("Discovered model simulated from 1900; grey: held-out years 1916-1920")
    axes[-1].set_xlabel("year")
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")


if __name__ == "__main__":
    main()
