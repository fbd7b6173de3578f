"""Peak memory and time of one training step: adjoint vs direct backpropagation.

One training step of :class:`sysid.neural.field.NeuralField` (solve the windows,
compute the multiple-shooting loss, backpropagate) is run on one
Lotka-Volterra trajectory of 100, 1,000 and 10,000 samples (same sample
spacing, so longer trajectories need proportionally more solver steps), with
the whole trajectory as one window, fixed-step rk4, one step per sample. The
step is prepared beforehand with :func:`sysid.neural.field.training_step`, so
building the data tensors is not counted.

How memory is measured
----------------------
``tracemalloc`` does not see torch's allocations, so each configuration runs in
a fresh Python process that

1. imports everything, builds the field and the data, and runs one small
   warm-up step (so lazy one-time allocations are not counted);
2. resets the kernel's peak-RSS counter of the process (writing ``5`` to
   ``/proc/self/clear_refs`` sets ``VmHWM`` to the current resident size);
3. runs the measured step and reads ``VmHWM`` from ``/proc/self/status``.

The step memory is ``VmHWM - VmRSS`` before the step: everything the step
touched at its worst moment (tensors, the autograd graph, Python objects,
allocator overhead), as resident memory; the process peak is ``VmHWM`` itself
(it includes the ~300 MiB of loaded libraries, model and data). Times are the
median of a few more steps. Linux only. Machines shared with other work
inflate the times, not the memory.

What to expect: direct backpropagation keeps the autograd graph of every
solver stage, tens of kB per sample. The adjoint keeps no graph; what still
grows with the length is the solution at every sample (the loss needs it) and
the loss arithmetic on it, about a hundred bytes per sample.

Run::

    python examples/adjoint_memory.py                  # table + adjoint_memory.png
    python examples/adjoint_memory.py --plot out.png --lengths 100 1000
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

LENGTHS = (100, 1_000, 10_000)
SPACING = 0.15  # time between samples (Lotka-Volterra time units)


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        return int(re.search(rf"{field}:\s+(\d+)\s+kB", fh.read()).group(1))


def _dataset(n: int):
    import sysid

    return sysid.simulate(
        "lotka-volterra",
        n_samples=n,
        seed=0,
        noise=0.01,
        t_span=(0.0, SPACING * (n - 1)),
        initial_conditions=[[10.0, 5.0]],
    )


def child(n: int, gradient: str, repeats: int) -> dict:
    """Measure one configuration (runs in a fresh process)."""
    import torch

    from sysid.neural.field import NeuralField, training_step

    torch.set_num_threads(1)
    small, data = _dataset(50), _dataset(n)
    nf = NeuralField(max_epochs=0, pretrain_epochs=20, quiet=True).fit(data)
    opts = dict(gradient=gradient, solver="rk4", substeps=1)
    training_step(nf, small, window=49, **opts)()  # warm-up
    step = training_step(nf, data, window=n - 1, **opts)  # data and windows built here
    before = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    t0 = time.perf_counter()
    step()
    first = time.perf_counter() - t0
    peak = _status_kib("VmHWM")
    times = [first]
    for _ in range(repeats - 1):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return {
        "n": n,
        "gradient": gradient,
        "peak_mib": (peak - before) / 1024.0,
        "process_peak_mib": peak / 1024.0,
        "per_sample_bytes": (peak - before) * 1024.0 / n,
        "step_s": statistics.median(times),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", type=int, nargs="+", default=list(LENGTHS))
    ap.add_argument("--repeats", type=int, default=3, help="timed steps per configuration")
    ap.add_argument("--plot", default="adjoint_memory.png", help="PNG path ('' for none)")
    ap.add_argument("--child", nargs=2, metavar=("N", "GRADIENT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(int(args.child[0]), args.child[1], args.repeats)))
        return 0
    if not os.path.exists("/proc/self/clear_refs"):
        print("needs Linux (/proc/self/clear_refs) to measure peak memory", file=sys.stderr)
        return 1

    rows = []
    for n in args.lengths:
        for g in ("adjoint", "direct"):
            cmd = [sys.executable, __file__, "--child", str(n), g, "--repeats", str(args.repeats)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            row = json.loads(out.strip().splitlines()[-1])
            rows.append(row)
            print(
                f"n={n:6d} {g:8s} peak {row['peak_mib']:8.1f} MiB  step {row['step_s']:7.3f} s",
                flush=True,
            )

    print()
    print(
        "| samples | gradient | step memory (MiB) | process peak (MiB) | "
        "bytes per sample | time per step (s) |"
    )
    print("|---:|---|---:|---:|---:|---:|")
    by = {(r["n"], r["gradient"]): r for r in rows}
    for n in args.lengths:
        for g in ("adjoint", "direct"):
            r = by[(n, g)]
            print(
                f"| {n:,} | {g} | {r['peak_mib']:.2f} | {r['process_peak_mib']:.1f} | "
                f"{r['per_sample_bytes']:,.0f} | {r['step_s']:.3f} |"
            )
    lo, hi = min(args.lengths), max(args.lengths)
    print()
    for g in ("adjoint", "direct"):
        a, b = by[(lo, g)], by[(hi, g)]
        print(
            f"{g}: from {lo:,} to {hi:,} samples the step memory grows "
            f"{b['peak_mib'] / max(a['peak_mib'], 1e-9):.1f}x "
            f"({a['peak_mib']:.2f} -> {b['peak_mib']:.2f} MiB), the process peak "
            f"{b['process_peak_mib'] / a['process_peak_mib']:.2f}x"
        )
    print("(target for the adjoint: < 1.5x)")

    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), constrained_layout=True)
        for g, style in (("adjoint", "o-"), ("direct", "s--")):
            ns = list(args.lengths)
            axes[0].plot(ns, [by[(n, g)]["peak_mib"] for n in ns], style, label=g)
            axes[1].plot(ns, [by[(n, g)]["step_s"] for n in ns], style, label=g)
        axes[0].set(
            xscale="log",
            yscale="log",
            xlabel="samples in the trajectory",
            ylabel="peak memory of one step (MiB, RSS)",
        )
        axes[1].set(
            xscale="log",
            yscale="log",
            xlabel="samples in the trajectory",
            ylabel="time of one step (s)",
        )
        for ax in axes:
            ax.grid(True, which="both", alpha=0.3)
            ax.legend()
        fig.suptitle("NeuralField training step: adjoint vs direct backpropagation (rk4)")
        fig.savefig(args.plot, dpi=120)
        print(f"plot saved to {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
