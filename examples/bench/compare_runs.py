"""Compare two benchmark runs on the cells they share: laws recovered and coefficient errors.

Usage::

    python examples/bench/compare_runs.py OLD/results.csv NEW/results.csv [--method sysid]

Prints one Markdown table per run pair, by sampling and noise level: cells recovered
(structure) out of the shared cells, and the median largest relative coefficient error
of the recovered cells, old beside new. Then every cell whose verdict changed.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

KEY = ["problem", "noise", "sampling", "seed", "method"]


def _read(path: str) -> pd.DataFrame:
    frame = pd.read_csv(path)
    missing = [
        c
        for c in [*KEY, "structure_recovered", "max_coefficient_relative_error"]
        if c not in frame.columns
    ]
    if missing:
        sys.exit(f"{path}: not a results.csv of `sysid bench` (no column {missing[0]!r})")
    frame["structure_recovered"] = frame["structure_recovered"].astype(str) == "True"
    return frame


def compare(old: pd.DataFrame, new: pd.DataFrame, method: str) -> str:
    """Markdown: recovered counts and median coefficient errors on the shared cells."""
    both = old[old.method == method].merge(
        new[new.method == method], on=KEY, suffixes=("_old", "_new")
    )
    if both.empty:
        return f"no shared cells for method {method!r}"
    lines = [
        "| sampling | noise | cells | recovered old | recovered new "
        "| median coef. error old | median coef. error new |",
        "|---|---|---|---|---|---|---|",
    ]
    for (sampling, noise), g in both.groupby(["sampling", "noise"]):
        row = [sampling, f"{noise:g}", str(len(g))]
        for side in ("old", "new"):
            row.append(str(int(g[f"structure_recovered_{side}"].sum())))
        for side in ("old", "new"):
            ok = g[g[f"structure_recovered_{side}"]]
            err = ok[f"max_coefficient_relative_error_{side}"].median()
            row.append("-" if pd.isna(err) else f"{100 * err:.2f}%")
        lines.append("| " + " | ".join(row) + " |")
    changed = both[both.structure_recovered_old != both.structure_recovered_new]
    lines.append("")
    lines.append(f"cells whose verdict changed: {len(changed)}")
    for _, r in changed.iterrows():
        verdict = "lost" if r.structure_recovered_old else "gained"
        lines.append(f"- {verdict}: {r.problem}, {r.sampling}, noise {r.noise:g}, seed {r.seed}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--method", default="sysid")
    args = parser.parse_args(argv)
    print(compare(_read(args.old), _read(args.new), args.method))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
