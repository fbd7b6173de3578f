"""How the cost of ``discover`` grows with samples, trajectories and states.

Three families of runs, each point a fresh process (so its peak memory is its
own), the default ``discover`` with seed 0 and 1% noise:

- ``samples``: Lotka-Volterra-like predator and prey, one trajectory of N samples;
- ``trajectories``: the same system, K trajectories of 100 samples each;
- ``states``: a Lorenz-96 ring of D states (forcing 8), 2 trajectories of 200 samples.

For each family the script writes a table (seconds, peak resident memory of
the process, whether the law was recovered) and the fitted exponent ``b`` of
``seconds ~ size**b`` (least squares on the log-log points), plus a log-log
figure. Points already in ``OUTDIR/points.csv`` are not run again, so an
interrupted run resumes.

Run ``python examples/scaling.py -o scaling`` (the full grid takes hours on 2
cores); ``--samples 100,300,1000 --trajectories 1,3,10 --states 4,6`` for a
short look. The systems are written here as problem files in OUTDIR; they are
not part of the shipped suite.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

PREDATOR_PREY = """
name = "scaling-predator-prey"
states = ["x", "y"]
parameters = {{ a = 0.9, b = 0.5, c = 0.3, d = 0.6 }}
equations = {{ x = "a*x - b*x*y", y = "c*x*y - d*y" }}
t_span = [0.0, {t_end}]
n_samples = {n}
initial_conditions = {starts}
holdout_initial_conditions = [[2.5, 1.2]]
"""

LORENZ96 = """
name = "scaling-lorenz96-{d}"
states = {states}
parameters = {{ F = 8.0 }}
equations = {{ {equations} }}
t_span = [0.0, 4.0]
n_samples = 200
initial_conditions = {starts}
holdout_initial_conditions = {holdout}
"""


def predator_prey(n: int, k: int) -> str:
    """K trajectories of N samples, starts spread over a box; longer series run longer."""
    rng = np.random.default_rng(k)
    starts = rng.uniform([1.0, 0.5], [3.0, 2.0], size=(k, 2)).round(3).tolist()
    t_end = 15.0 * max(1.0, n / 200.0) ** 0.5  # more samples: a denser and longer record
    return PREDATOR_PREY.format(t_end=round(t_end, 3), n=n, starts=starts)


def lorenz96(d: int) -> str:
    """``dx_i/dt = (x_{i+1} - x_{i-2}) x_{i-1} - x_i + F`` on a ring of ``d`` >= 4 states."""
    names = [f"x{i + 1}" for i in range(d)]
    eqs = ", ".join(
        f'{names[i]} = "({names[(i + 1) % d]} - {names[i - 2]})*{names[i - 1]} - {names[i]} + F"'
        for i in range(d)
    )
    rng = np.random.default_rng(d)
    starts = (8.0 + rng.normal(0.0, 1.0, size=(2, d))).round(3).tolist()
    holdout = (8.0 + rng.normal(0.0, 1.0, size=(1, d))).round(3).tolist()
    return LORENZ96.format(
        d=d, states=str(names).replace("'", '"'), equations=eqs, starts=starts, holdout=holdout
    )


def run_point(family: str, size: int, path: str) -> dict:
    """One ``recover`` in this (fresh) process: seconds, peak memory, recovered."""
    import sysid

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sysid.recover(path, noise=0.01, seed=0, quiet=True)
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    return {
        "family": family,
        "size": size,
        "total_samples": res.data.n_samples,
        "seconds": round(seconds, 2),
        "neural_s": round(res.timings.get("neural_s", float("nan")), 2),
        "peak_mib": round(peak_mib, 1),
        "recovered": bool((res.score or {}).get("structure_recovered")),
    }


def _in_fresh_process(job: tuple[str, int, str, str]) -> dict:
    """``run_point`` in a new Python process (its peak memory its own), via ``--point``."""
    family, size, toml, folder = job
    path = Path(folder) / f"{family}-{size}.toml"
    path.write_text(toml)
    cmd = [sys.executable, __file__, "--point", family, str(size), str(path)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _jobs(args: argparse.Namespace, folder: str) -> list[tuple[str, int, str, str]]:
    jobs = [("samples", n, predator_prey(n, 1), folder) for n in args.samples]
    jobs += [("trajectories", k, predator_prey(100, k), folder) for k in args.trajectories]
    jobs += [("states", d, lorenz96(d), folder) for d in args.states]
    return jobs


def _exponent(rows: list[dict]) -> float:
    if len(rows) < 2:
        return float("nan")
    x = np.log([float(r["size"]) for r in rows])
    y = np.log([float(r["seconds"]) for r in rows])
    return float(np.polyfit(x, y, 1)[0])


def report(rows: list[dict], outdir: Path) -> str:
    """The markdown table with the exponents, and the log-log figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = [
        "| family | size | seconds | neural s | peak MiB | recovered |",
        "|---|---|---|---|---|---|",
    ]
    fig, ax = plt.subplots(figsize=(6, 4))
    for family in ("samples", "trajectories", "states"):
        rs = sorted((r for r in rows if r["family"] == family), key=lambda r: int(r["size"]))
        if not rs:
            continue
        for r in rs:
            lines.append(
                f"| {family} | {r['size']} | {float(r['seconds']):.1f} | "
                f"{float(r['neural_s']):.1f} | {float(r['peak_mib']):.0f} | {r['recovered']} |"
            )
        b = _exponent(rs)
        lines.append(f"| {family} | exponent | {b:.2f} | | | |")
        sizes = [int(r["size"]) for r in rs]
        ax.loglog(sizes, [float(r["seconds"]) for r in rs], "o-", label=f"{family} (b = {b:.2f})")
    ax.set_xlabel("samples per trajectory / trajectories / states")
    ax.set_ylabel("seconds of discover")
    ax.legend()
    fig.savefig(outdir / "scaling.png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    text = "\n".join(lines) + "\n"
    (outdir / "scaling.md").write_text(text)
    return text


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default="scaling", help="folder (resumable)")
    parser.add_argument("--samples", type=_ints, default=_ints("100,300,1000,3000,10000,100000"))
    parser.add_argument("--trajectories", type=_ints, default=_ints("1,3,10,30,100,1000"))
    parser.add_argument("--states", type=_ints, default=_ints("4,6,8,10"))
    parser.add_argument(
        "--point", nargs=3, metavar=("FAMILY", "SIZE", "TOML"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.point:  # one point, in the process the loop started for it
        family, size, path = args.point
        print(json.dumps(run_point(family, int(size), path)))
        return
    if any(d < 4 for d in args.states):
        parser.error("--states: a Lorenz-96 ring needs at least 4 states")
    outdir = Path(args.output)
    outdir.mkdir(parents=True, exist_ok=True)
    table = outdir / "points.csv"
    rows = list(csv.DictReader(table.open())) if table.exists() else []
    done = {(r["family"], int(r["size"])) for r in rows}
    for job in _jobs(args, str(outdir)):
        if (job[0], job[1]) in done:
            continue
        row = _in_fresh_process(job)
        print(row, flush=True)
        rows.append(row)
        new = not table.exists()
        with table.open("a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)
    print(report(rows, outdir))


if __name__ == "__main__":
    main()
