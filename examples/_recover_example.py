"""Shared body of the recover-the-law examples (one script per mission problem).

Each example simulates its problem with noise, discovers the law with the
default settings (the same for every problem), prints found against true
equations with the score, and saves the figures next to ``result.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import sysid


def run(problem: str, default_noise: float = 0.05) -> sysid.DiscoveryResult:
    """Parse the example's options, recover ``problem``, print and save the result."""
    parser = argparse.ArgumentParser(description=f"Recover the law of '{problem}' from data.")
    parser.add_argument("--noise", type=float, default=default_noise)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--irregular", action="store_true")
    parser.add_argument("-o", "--output", default=f"examples/out/{problem}")
    args = parser.parse_args()
    start = time.perf_counter()
    result = sysid.recover(problem, noise=args.noise, seed=args.seed, irregular=args.irregular)
    truth = result.problem.true_equations()
    print(f"{problem}: noise {args.noise:g}, seed {args.seed}")
    for s, expr in result.equations.items():
        print(f"  d{s}/dt = {expr}")
        print(f"  {'true'.rjust(len(s) + 5)} = {truth[s]}")
    sc = result.score
    print(
        f"structure recovered: {sc['structure_recovered']}, max coefficient error "
        f"{100 * sc['max_coefficient_relative_error']:.2f}%, held-out R^2 {sc['holdout_r2']}"
    )
    out = Path(args.output)
    result.save(out)
    print(f"{time.perf_counter() - start:.1f} s; figures and result.json in {out}/")
    return result
