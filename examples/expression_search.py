"""What the expression search adds to ``discover``: recovery and extra seconds.

For each problem and noise level the trajectories are simulated and the neural
field is fitted once; then the symbolic stages run twice on that same field,
``discover(..., field=nf, expression_search="never")`` (the library alone) and
``expression_search="auto"`` (the default: the search runs when the library
fits the field poorly, its candidates join the fronts, and the chosen model's
constants, inner ones too, are refitted through the ODE solver). Printed per
run: structure recovered, largest coefficient error (inner constants
included), and the seconds of the symbolic stages (distillation, search,
selection, polish). The difference of the two is the time the search adds.

Run from the repository root::

    python examples/expression_search.py      # the new laws at 0 noise, the missions at 5 %
    python examples/expression_search.py gompertz --noise 0.01
"""

from __future__ import annotations

import argparse
import time

import sysid

NEW = ["michaelis-menten", "hill-switch", "gompertz", "sigmoid-neuron", "holling-ii"]
MISSION = ["falling-mass", "pendulum", "lotka-volterra", "sir"]


def run(problem: str, noise: float, seed: int) -> dict:
    """Both modes on one field; returns a row of the table."""
    prob = sysid.load_problem(problem)
    data = sysid.simulate(prob, noise=noise, seed=seed)
    t0 = time.perf_counter()
    field = sysid.NeuralField(seed=seed, quiet=True).fit(data)
    row = {"problem": problem, "noise": noise, "neural_s": time.perf_counter() - t0}
    for mode in ("never", "auto"):
        t1 = time.perf_counter()
        res = sysid.discover(data, seed=seed, quiet=True, field=field, expression_search=mode)
        row[f"{mode}_s"] = time.perf_counter() - t1
        s = sysid.score(res.equations, prob)
        row[f"{mode}_ok"] = s["structure_recovered"]
        row[f"{mode}_err"] = s["max_coefficient_relative_error"]
        row[f"{mode}_eq"] = "; ".join(f"d{k}/dt = {v}" for k, v in res.equations.items())
        row["searched"] = res.extra.get("expression_search", {}).get("ran", row.get("searched"))
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("problems", nargs="*", help="default: the 5 new laws and the 4 missions")
    ap.add_argument("--noise", type=float, default=None, help="one noise level for all")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.problems:
        plan = [(p, args.noise or 0.0) for p in args.problems]
    else:
        plan = [(p, 0.0) for p in NEW] + [(p, 0.05) for p in MISSION]
        if args.noise is not None:
            plan = [(p, args.noise) for p, _ in plan]
    print("| problem | noise | search ran | library only | with search | extra s |")
    print("|---|---|---|---|---|---|")
    rows = []
    for problem, noise in plan:
        r = run(problem, noise, args.seed)
        rows.append(r)

        def cell(mode: str, r: dict = r) -> str:
            mark = "yes" if r[f"{mode}_ok"] else "no"
            return f"{mark}, err {r[f'{mode}_err']:.2g}, {r[f'{mode}_s']:.1f} s"

        print(
            f"| {problem} | {noise:g} | {'yes' if r['searched'] else 'no'} | {cell('never')} "
            f"| {cell('auto')} | {r['auto_s'] - r['never_s']:+.1f} |",
            flush=True,
        )
    print()
    for r in rows:
        print(f"{r['problem']} (noise {r['noise']:g}), with search: {r['auto_eq']}")
    worst = max(r["auto_s"] - r["never_s"] for r in rows)
    print(f"\nlargest extra time of the search: {worst:.1f} s")


if __name__ == "__main__":
    main()
