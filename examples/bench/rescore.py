"""Score the equations of an older benchmark run with today's scorer.

Usage::

    python examples/bench/rescore.py RUN/results.csv OUT.csv [--problems DIR] [--method M]

A run made before a column existed (``train_r2``, the simulated reconstruction
of the training data, came after commit 9f43faf) can be set beside newer runs
without running its methods again: every row's equations are taken as they
were written, the cell's data are simulated again from the problem file with
the row's noise, sampling and seed (the data are a function of those), and the
equations are scored on them. ``holdout_r2`` and the exact structure are
scored again too; the script reports how many rows differ from what the run
wrote, which checks that the data and the scorer are the same as the run's.
Rows with an error or without equations keep their values.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

import numpy as np
import pandas as pd

import sysid
from sysid.report.scoring import score, simulated_r2


def _cell_data(problem: sysid.Problem, row: pd.Series) -> sysid.Dataset:
    """The cell's data as ``sysid bench`` makes them (suite protocol)."""
    n = problem.n_samples // 4 if row["sampling"] == "sparse" else problem.n_samples
    data = sysid.simulate(
        problem,
        noise=float(row["noise"]),
        seed=int(row["seed"]),
        n_samples=max(n, 8),
        irregular=row["sampling"] == "irregular",
    )
    return data.with_time() if problem.time_dependent else data


def _rescore(row: pd.Series, problem: sysid.Problem) -> dict[str, object]:
    equations = json.loads(row["equations"]) if isinstance(row["equations"], str) else {}
    if not equations:
        return {}
    data = _cell_data(problem, row)
    model = sysid.SymbolicModel.from_equations(
        data.states, equations, inputs=list(data.input_names)
    )
    s = score(model.equations, problem, simulate_model=model.simulate)
    fit = simulated_r2(model.simulate, data)
    return {
        "structure_recovered": bool(s["structure_recovered"]),
        "holdout_r2": s["holdout_r2"],
        "train_r2": float(fit) if np.isfinite(fit) else None,
    }


def _same(a: object, b: object) -> bool:
    fa, fb = pd.to_numeric(a, errors="coerce"), pd.to_numeric(b, errors="coerce")
    if pd.isna(fa) and pd.isna(fb):
        return True
    if pd.isna(fa) or pd.isna(fb):
        return False
    return math.isclose(float(fa), float(fb), rel_tol=1e-6, abs_tol=1e-9)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="results.csv of a sysid bench run")
    parser.add_argument("output", help="where to write the rescored rows (CSV)")
    parser.add_argument("--problems", help="folder of problem files (default: shipped)")
    parser.add_argument("--method", help="rescore only this method's rows")
    args = parser.parse_args(argv)
    rows = pd.read_csv(args.results)
    if args.method:
        rows = rows[rows["method"] == args.method].copy()
    problems = {p.name: p for p in sysid.load_problems(args.problems)}
    missing = sorted(set(rows["problem"]) - set(problems))
    if missing:
        sys.exit(f"{args.results}: no problem file for {', '.join(missing)}")
    rows["train_r2"] = rows.get("train_r2", pd.Series(np.nan, index=rows.index)).astype(object)
    changed = {"structure_recovered": 0, "holdout_r2": 0}
    for i, row in rows.iterrows():
        if isinstance(row.get("error"), str) and row["error"]:
            continue
        new = _rescore(row, problems[row["problem"]])
        for key in changed:
            if key in new and not _same(row[key], new[key]):
                changed[key] += 1
        for key, value in new.items():
            rows.at[i, key] = value
    rows.to_csv(args.output, index=False)
    print(
        f"{len(rows)} rows rescored into {args.output}; differing from the run: "
        + ", ".join(f"{k} {v}" for k, v in changed.items())
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
