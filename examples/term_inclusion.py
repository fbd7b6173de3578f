"""Inclusion probabilities of the terms of the mission problems at 5% and 10% noise.

For each problem and noise level: ``sysid.recover`` (seed 0, the default
configuration), then ``result.term_inclusion(20)`` (a bootstrap of the
distillation of the fitted field, see ``sysid/select/ensemble.py``). Prints
a Markdown table: the true terms' inclusion probabilities, the most probable
spurious term, and the seconds of the discovery and of the bootstrap. Run
from the repository root::

    python examples/term_inclusion.py [--noise 0.05,0.1] [--members 20]
"""

from __future__ import annotations

import argparse
import time
import warnings

import sympy as sp

import sysid

MISSION = ["falling-mass", "pendulum", "lotka-volterra", "sir"]


def _true_terms(problem) -> set[tuple[str, str]]:
    out = set()
    for s, rhs in problem.true_equations().items():
        for term in sp.Add.make_args(sp.expand(rhs)):
            out.add((s, str(term.as_coeff_Mul()[1])))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise", default="0.05,0.1")
    parser.add_argument("--members", type=int, default=20)
    args = parser.parse_args()
    print("| problem | noise | recovered | true terms (inclusion) | top spurious | discover s "
          "| bootstrap s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for name in MISSION:
        problem = sysid.load_problem(name)
        truth = _true_terms(problem)
        for noise in (float(v) for v in args.noise.split(",")):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0 = time.perf_counter()
                res = sysid.recover(name, noise=noise, seed=0, quiet=True)
                t1 = time.perf_counter()
                inc = res.term_inclusion(args.members, seed=0)
                t2 = time.perf_counter()
            probs = {(t["state"], t["term"]): t["probability"] for t in inc["terms"]}
            true = "; ".join(f"{s}: {t} {probs.get((s, t), 0.0):.2f}" for s, t in sorted(truth))
            extra = [(p, k) for k, p in probs.items() if k not in truth]
            top = max(extra, default=None)
            spur = f"{top[1][0]}: {top[1][1]} {top[0]:.2f}" if top else "none"
            rec = "yes" if res.score["structure_recovered"] else "no"
            print(
                f"| {name} | {noise:g} | {rec} | {true} | {spur} | {t1 - t0:.1f} | {t2 - t1:.1f} |"
            )


if __name__ == "__main__":
    main()
