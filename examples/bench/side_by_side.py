"""Methods of several benchmark runs side by side, on the cells every method has.

Usage::

    python examples/bench/side_by_side.py RUN1/results.csv RUN2/results.csv [...]

Every method of every file takes part (a method in two files: the later file's
rows win). Only cells (problem, noise, sampling, seed) that every method has
are counted. Prints Markdown tables by sampling and noise level: exact
structure, and the share of cells whose simulated reconstruction of the
training data and whose held-out generalisation have R^2 > 0.9 (R^2 clipped
at 0; a failed simulation counts as 0; "-" where a run did not record it),
then each problem's exact-structure count per method.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

CELL = ["problem", "noise", "sampling", "seed"]


def _read(paths: list[str]) -> pd.DataFrame:
    frames = []
    for path in paths:
        frame = pd.read_csv(path)
        if not {*CELL, "method", "structure_recovered"} <= set(frame.columns):
            sys.exit(f"{path}: not a results.csv of `sysid bench`")
        frames.append(frame)
    rows = pd.concat(frames).drop_duplicates([*CELL, "method"], keep="last")
    rows["structure_recovered"] = rows["structure_recovered"].astype(str) == "True"
    n_methods = rows["method"].nunique()
    shared = rows.groupby(CELL)["method"].transform("nunique") == n_methods
    return rows[shared]


def _share(values: pd.Series) -> str:
    """Share above 0.9 ("-" when the run did not record the column)."""
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.isna().all():
        return "-"
    return f"{float((numbers.fillna(0.0) > 0.9).mean()):.0%}"


def tables(rows: pd.DataFrame) -> str:
    """Markdown tables: per method, sampling and noise level; then per problem."""
    methods = list(dict.fromkeys(rows["method"]))
    noises = sorted(rows["noise"].unique())
    out = []
    for title, stat in (
        ("exact structure (cells)", lambda g: f"{int(g.structure_recovered.sum())}/{len(g)}"),
        ("reconstruction R^2 > 0.9", lambda g: _share(g.get("train_r2", pd.Series(dtype=float)))),
        ("generalisation R^2 > 0.9", lambda g: _share(g.holdout_r2)),
    ):
        out += [
            f"### {title}",
            "",
            "| method | sampling | " + " | ".join(f"noise {n:g}" for n in noises) + " |",
        ]
        out.append("|---|---|" + "---|" * len(noises))
        for method in methods:
            for sampling in dict.fromkeys(rows["sampling"]):
                g = rows[(rows.method == method) & (rows.sampling == sampling)]
                cells = [stat(g[g.noise == n]) if (g.noise == n).any() else "-" for n in noises]
                out.append(f"| {method} | {sampling} | " + " | ".join(cells) + " |")
        out.append("")
    per = rows.pivot_table(
        index="problem", columns="method", values="structure_recovered", aggfunc="sum"
    )
    out += [
        "### exact structure per problem (all cells)",
        "",
        "| problem | " + " | ".join(methods) + " |",
    ]
    out.append("|---|" + "---|" * len(methods))
    n_cells = rows.groupby("problem")["seed"].size() // len(methods)
    for problem, r in per.iterrows():
        out.append(
            f"| {problem} | "
            + " | ".join(f"{int(r[m])}/{n_cells[problem]}" for m in methods)
            + " |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="results.csv files of sysid bench")
    args = parser.parse_args(argv)
    print(tables(_read(args.results)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
