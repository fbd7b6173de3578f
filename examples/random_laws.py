"""Twelve random laws and their trajectories: what ``sysid bench --random`` runs.

Usage::

    python examples/random_laws.py [-o examples/figures/random_laws.png] [--first-seed 0]

Draws laws ``first_seed .. first_seed + 5`` with one state and the same seeds with two
(:func:`sysid.random_problem`, the grammar of ``docs/contract.md#random-problems``),
simulates each from its training and held-out starts, and plots them in a 3 x 4 grid,
each panel titled with the law's equations. Prints the rejected draws per reason.
"""

from __future__ import annotations

import argparse
import collections
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import sysid  # noqa: E402
from sysid.data.simulation import integrate  # noqa: E402


def _panel(ax, problem) -> None:
    t = np.linspace(*problem.t_span, problem.n_samples)
    starts = np.vstack([problem.initial_conditions, problem.holdout_initial_conditions])
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, x0 in enumerate(starts):
        x = integrate(problem, x0, t)
        for j, s in enumerate(problem.states):
            style = "-" if k < problem.initial_conditions.shape[0] else ":"
            ax.plot(t, x[:, j], style, color=colors[j], lw=1.2, label=s if k == 0 else None)
    eqs = [f"{s}' = {e}" for s, e in problem.true_equations().items()]
    wrapped = "\n".join(textwrap.fill(e, 44) for e in eqs)
    ax.set_title(f"{problem.name}\n{wrapped}", fontsize=6.5, loc="left")
    ax.tick_params(labelsize=6)
    ax.legend(fontsize=6, loc="upper right")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default="examples/figures/random_laws.png")
    parser.add_argument("--first-seed", type=int, default=0)
    args = parser.parse_args()
    problems = [
        sysid.random_problem(args.first_seed + k, n_states=n) for n in (1, 2) for k in range(6)
    ]
    rejected: collections.Counter[str] = collections.Counter()
    for p in problems:
        for part in p.notes.rsplit(": ", 1)[-1].split(", "):
            if part != "none":
                reason, count = part.split()
                rejected[reason] += int(count)
    fig, axes = plt.subplots(3, 4, figsize=(13, 9.5))
    for ax, p in zip(axes.ravel(), problems, strict=True):
        _panel(ax, p)
    fig.suptitle("12 random laws (solid: training start, dotted: held-out starts)", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print(f"wrote {args.output}; draws rejected before these 12: {dict(rejected) or 'none'}")


if __name__ == "__main__":
    main()
