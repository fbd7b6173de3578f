"""Time symbolic distillation + refit on each mission problem (issue 4's benchmark).

For each problem: 5%-noise trajectories from ``sysid.simulate``; derivative
samples that emulate an imperfect neural field (the exact right-hand side at the
noisy states plus Gaussian noise of 5% of each derivative's spread); then
``distill`` (sparse regression, Pareto fronts) and ``select_model`` (refit
through the ODE solver, held-out scoring). Prints one row per problem and
seed, and the slowest time per problem. Target: <= 15 s per problem on 2 CPU
cores.

Run::

    python examples/distill_timing.py                 # mission problems, seed 0
    python examples/distill_timing.py --seeds 3       # seeds 0, 1, 2
    python examples/distill_timing.py sir pendulum --derivative-noise 0.1
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import sysid
from sysid.report.scoring import score
from sysid.select.selection import select_model
from sysid.symbolic.sparse import distill

MISSION = ["falling-mass", "pendulum", "lotka-volterra", "sir"]


def run_one(name: str, seed: int, noise: float, derivative_noise: float) -> dict:
    """Distil and select one problem; return timings and the score."""
    problem = sysid.load_problem(name)
    data = sysid.simulate(problem, noise=noise, seed=seed)
    x = np.concatenate([tr.x for tr in data])
    dxdt = problem.rhs(0.0, x.T).T
    rng = np.random.default_rng([seed, 4])
    dxdt = dxdt + derivative_noise * dxdt.std(axis=0) * rng.standard_normal(dxdt.shape)
    t0 = time.perf_counter()
    fronts = distill(x, dxdt, problem.states, seed=seed)
    t1 = time.perf_counter()
    model, report = select_model(fronts, data, seed=seed)
    t2 = time.perf_counter()
    sc = score(model.equations, problem)
    return {
        "problem": name,
        "seed": seed,
        "distill_s": t1 - t0,
        "refine_s": t2 - t1,
        "total_s": t2 - t0,
        "candidates": len(report.candidates),
        "structure": sc["structure_recovered"],
        "coef_err": sc["max_coefficient_relative_error"],
        "model": "; ".join(f"{s}' = {e}" for s, e in model.equations.items()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problems", nargs="*", default=MISSION)
    parser.add_argument("--seeds", type=int, default=1, help="number of seeds (0, 1, ...)")
    parser.add_argument("--noise", type=float, default=0.05, help="trajectory noise")
    parser.add_argument("--derivative-noise", type=float, default=0.05)
    parser.add_argument("--target", type=float, default=15.0, help="seconds per problem")
    args = parser.parse_args()

    print(
        f"cpus: {os.cpu_count()}  trajectory noise {args.noise:g}  "
        f"derivative noise {args.derivative_noise:g}"
    )
    header = (
        f"{'problem':16} {'seed':>4} {'distill s':>9} {'refine s':>9} {'total s':>8} "
        f"{'cands':>5} {'struct':>6} {'coef err':>9}  model"
    )
    print(header)
    print("-" * len(header))
    rows = []
    for name in args.problems:
        for seed in range(args.seeds):
            r = run_one(name, seed, args.noise, args.derivative_noise)
            rows.append(r)
            print(
                f"{r['problem']:16} {r['seed']:4d} {r['distill_s']:9.2f} {r['refine_s']:9.2f} "
                f"{r['total_s']:8.2f} {r['candidates']:5d} {str(r['structure']):>6} "
                f"{r['coef_err']:9.2e}  {r['model']}",
                flush=True,
            )
    print()
    print(f"{'problem':16} {'max total s':>11} {'recovered':>9}  (target <= {args.target:g} s)")
    for name in args.problems:
        mine = [r for r in rows if r["problem"] == name]
        worst = max(r["total_s"] for r in mine)
        ok = sum(r["structure"] for r in mine)
        flag = "ok" if worst <= args.target else "SLOW"
        print(f"{name:16} {worst:11.2f} {ok:4d}/{len(mine):<4d}  {flag}")


if __name__ == "__main__":
    main()
