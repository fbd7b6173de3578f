"""How accurate is the learned vector field? Adjoint vs direct training time.

For each mission problem, simulate 3 trajectories x 200 samples with 5% noise,
fit a :class:`sysid.neural.field.NeuralField` with the default hyperparameters (the
same for every problem), and compare the learned field with the true one at
the *clean* data states::

    relative error of state j = ||f_learned_j - f_true_j|| / ||f_true_j||

(norms over all data points). The fit is timed once with the adjoint gradient
(the default) and once with direct backpropagation through the solver.

Targets (issue 3): error <= 10% on every state of every problem, training
<= 60 s wall per problem on 2 CPU cores, adjoint time within 3x of direct.

Run::

    python examples/field_accuracy.py                 # all four, both gradients
    python examples/field_accuracy.py pendulum --gradient adjoint
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import sysid
from sysid.neural.field import NeuralField

PROBLEMS = ["falling-mass", "pendulum", "lotka-volterra", "sir"]


def field_errors(nf: NeuralField, problem: sysid.Problem, clean: sysid.Dataset) -> np.ndarray:
    """Relative error per state of the learned field at the clean states."""
    x = np.concatenate([tr.x for tr in clean], axis=0)
    f_true = problem.rhs(0.0, x.T).T
    f_learned = nf.predict(x)
    return np.linalg.norm(f_learned - f_true, axis=0) / np.linalg.norm(f_true, axis=0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("problems", nargs="*", default=PROBLEMS)
    ap.add_argument("--noise", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-samples", type=int, default=200)
    ap.add_argument("--irregular", action="store_true")
    ap.add_argument("--gradient", choices=["both", "adjoint", "direct"], default="both")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--progress", action="store_true", help="show the progress bars")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    grads = ["adjoint", "direct"] if args.gradient == "both" else [args.gradient]

    rows = []
    for name in args.problems:
        problem = sysid.load_problem(name)
        kw = dict(noise=args.noise, seed=args.seed, n_samples=args.n_samples)
        data = sysid.simulate(problem, irregular=args.irregular, **kw)
        clean = sysid.simulate(problem, irregular=args.irregular, **{**kw, "noise": 0.0})
        for g in grads:
            nf = NeuralField(gradient=g, time_limit=args.time_limit, quiet=not args.progress)
            t0 = time.perf_counter()
            nf.fit(data)
            wall = time.perf_counter() - t0
            err = field_errors(nf, problem, clean)
            rows.append((name, g, wall, nf.n_epochs_, nf.status_, err, problem.states))
            states = " ".join(f"{s}={e:6.2%}" for s, e in zip(problem.states, err, strict=True))
            print(
                f"{name:15s} {g:8s} {wall:6.1f} s {nf.n_epochs_:5d} ep  {nf.status_:10s} "
                f"max={err.max():6.2%}  {states}",
                flush=True,
            )

    print()
    print("| problem | gradient | fit time (s) | epochs | status | error per state | max error |")
    print("|---|---|---:|---:|---|---|---:|")
    for name, g, wall, ep, status, err, states in rows:
        per = ", ".join(f"{s} {e:.1%}" for s, e in zip(states, err, strict=True))
        print(f"| {name} | {g} | {wall:.1f} | {ep} | {status} | {per} | {err.max():.1%} |")
    if len(grads) == 2:
        print()
        print("| problem | adjoint / direct time |")
        print("|---|---:|")
        by = {(r[0], r[1]): r[2] for r in rows}
        for name in args.problems:
            print(f"| {name} | {by[(name, 'adjoint')] / by[(name, 'direct')]:.2f} |")
    worst = max(r[5].max() for r in rows)
    slowest = max(r[2] for r in rows)
    print()
    print(f"worst field error {worst:.1%} (target <= 10%)")
    print(f"slowest fit {slowest:.1f} s (target <= 60 s)")
    print(f"torch threads: {torch.get_num_threads()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
