"""Check the pysindy-strong baseline against every configuration it contains.

Usage::

    python examples/bench/strong_configurations.py OUT.csv [PROBLEM ...]
        [--noise 0,0.01,0.05,0.1] [--samplings regular] [--seeds 1]

``pysindy-strong`` fits every (form, library) pair of
``sysid.benchmark.strong_sindy.CONFIGURATIONS`` with every threshold and
chooses one model by one rule on the training data. A fair peer must do at
least as well as each configuration alone, chosen by the same rule: this
script applies the rule within each configuration, from the same fits
(``strong_sindy_discover(..., per_configuration=True)``), scores every
choice with the benchmark's scorer on the cell's data (made as ``sysid
bench`` makes them), and prints the exact-structure counts and the shares of
reconstruction and held-out R^2 > 0.9 per configuration. Rows are appended to
OUT.csv cell by cell; a rerun skips the cells already there.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

import sysid
from sysid.benchmark.strong_sindy import strong_sindy_discover
from sysid.report.scoring import score, simulated_r2

_KEYS = ["problem", "noise", "sampling", "seed"]


def _cell_data(problem: sysid.Problem, noise: float, sampling: str, seed: int) -> sysid.Dataset:
    """The cell's data as ``sysid bench`` makes them (suite protocol)."""
    n = problem.n_samples // 4 if sampling == "sparse" else problem.n_samples
    data = sysid.simulate(
        problem, noise=noise, seed=seed, n_samples=max(n, 8), irregular=sampling == "irregular"
    )
    return data.with_time() if problem.time_dependent else data


def _rows(problem: sysid.Problem, noise: float, sampling: str, seed: int) -> list[dict]:
    data = _cell_data(problem, noise, sampling, seed)
    rows = []
    for (form, library), eqs in strong_sindy_discover(
        data, seed=seed, per_configuration=True
    ).items():
        model = sysid.SymbolicModel.from_equations(data.states, eqs, inputs=list(data.input_names))
        s = score(model.equations, problem, simulate_model=model.simulate)
        fit = simulated_r2(model.simulate, data)
        rows.append(
            {
                "problem": problem.name,
                "noise": noise,
                "sampling": sampling,
                "seed": seed,
                "configuration": "chosen" if form == "all" else f"{form}/{library}",
                "structure_recovered": bool(s["structure_recovered"]),
                "holdout_r2": s["holdout_r2"],
                "train_r2": float(fit) if np.isfinite(fit) else None,
                "equations": json.dumps({k: str(v) for k, v in model.equations.items()}),
            }
        )
    return rows


def _summary(rows: pd.DataFrame) -> str:
    rows = rows.assign(
        train=rows["train_r2"].astype(float).clip(lower=0).fillna(0) > 0.9,
        held=rows["holdout_r2"].astype(float).clip(lower=0).fillna(0) > 0.9,
    )
    cells = rows.groupby(_KEYS).ngroups
    lines = [
        f"{cells} cells; a configuration without a usable model in a cell counts as a miss",
        "",
        "| configuration | noise | exact structure | R^2 > 0.9 train | R^2 > 0.9 held out |",
        "|---|---|---|---|---|",
    ]
    per_noise = rows.drop_duplicates(_KEYS)["noise"].value_counts()
    for (config, noise), g in rows.groupby(["configuration", "noise"]):
        n = int(per_noise[noise])
        lines.append(
            f"| {config} | {noise:g} | {int(g['structure_recovered'].sum())}/{n} "
            f"| {g['train'].sum() / n:.0%} | {g['held'].sum() / n:.0%} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", help="CSV to append the rows to")
    parser.add_argument("problems", nargs="*", help="shipped problems (default: all)")
    parser.add_argument("--noise", default="0,0.01,0.05,0.1")
    parser.add_argument("--samplings", default="regular")
    parser.add_argument("--seeds", type=int, default=1)
    args = parser.parse_args(argv)
    problems = sysid.load_problems()
    if args.problems:
        problems = [p for p in problems if p.name in set(args.problems)]
    out = Path(args.output)
    done = pd.read_csv(out) if out.exists() else pd.DataFrame(columns=_KEYS)
    seen = {tuple(r) for r in done[_KEYS].itertuples(index=False)}
    for p in problems:
        for sampling in args.samplings.split(","):
            for noise in (float(v) for v in args.noise.split(",")):
                for seed in range(args.seeds):
                    if (p.name, noise, sampling, seed) in seen:
                        continue
                    new = pd.DataFrame(_rows(p, noise, sampling, seed))
                    new.to_csv(out, mode="a", header=not out.exists(), index=False)
                    print(f"{p.name} noise {noise:g} {sampling} seed {seed}", flush=True)
    print(_summary(pd.read_csv(out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
