"""What the ensemble costs and says: the mission problems with the default settings.

For each problem and noise level, ``sysid.recover`` runs with the default
ensemble (8 members, every core) and the script writes one table row: the
run's seconds, the ensemble's seconds and their share of the run, the members
finished, the share that chose the chosen structure, and each state's terms
with their inclusion probabilities (chosen terms first). Then the median and
the worst extra time. Run from the project root::

    python examples/ensemble_cost.py -o examples/bench/ensemble_cost.md
"""

from __future__ import annotations

import argparse
import platform
import statistics
import warnings
from pathlib import Path

import sysid

PROBLEMS = ("falling-mass", "lotka-volterra", "pendulum", "sir")


def _terms(ensemble: dict) -> str:
    parts = []
    for s, rows in ensemble["terms"].items():
        words = [
            f"{r['term']} {r['inclusion']:.2f}{'' if r['chosen'] else ' (not chosen)'}"
            for r in rows
        ]
        parts.append(f"d{s}/dt: " + ", ".join(words))
    return "; ".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise", default="0.05,0.1", help="comma-separated noise levels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", default="examples/bench/ensemble_cost.md")
    args = parser.parse_args()
    noises = [float(v) for v in args.noise.split(",")]
    rows, extra = [], []
    for problem in PROBLEMS:
        for noise in noises:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", sysid.ModelWarning)
                res = sysid.recover(problem, noise=noise, seed=args.seed, quiet=True)
            e, t = res.ensemble, res.timings
            share = t["ensemble_s"] / (t["total_s"] - t["ensemble_s"])
            extra.append(t["ensemble_s"])
            rows.append(
                f"| {problem} | {noise:g} | {res.score['structure_recovered']} | {res.verdict} "
                f"| {t['total_s']:.1f} | {t['ensemble_s']:.1f} | {100 * share:.0f}% "
                f"| {e['finished']}/{e['members']} | {e['rivals']} | {e['chosen_structure']:.2f} "
                f"| {_terms(e)} |"
            )
            print(rows[-1], flush=True)
    lines = [
        "# The ensemble on the mission problems: its time and its inclusion probabilities",
        "",
        f"`python examples/ensemble_cost.py` (seed {args.seed}, default settings: 8 members, "
        f"every core); {platform.processor() or platform.machine()}, "
        f"sysid {sysid.__version__}.",
        "",
        "| problem | noise | recovered | verdict | run s | ensemble s | extra | finished "
        "| rivals | chose the chosen | inclusion per term |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Ensemble seconds: median {statistics.median(extra):.1f}, worst {max(extra):.1f} "
        f"(extra time over the rest of the run: the column 'extra').",
    ]
    Path(args.output).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
