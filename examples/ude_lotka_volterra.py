"""The Lotka-Volterra scenario of the universal-differential-equation paper, measured.

Rackauckas et al. (2020) fit ``dx/dt = alpha*x + NN_1(x, y)``,
``dy/dt = -delta*y + NN_2(x, y)`` to one short trajectory (t in [0, 3], 31
samples, noise a fraction of each state's mean) and ask whether sparse
regression on the networks finds the two interaction terms. This script runs
``sysid.discover`` on the same kind of data, either plain (``--mode plain``:
no known terms, it must find all four) or with the linear terms known and
their constants free (``--mode known``: ``known={"x0": "alpha*x0", "x1":
"-delta*x1"}``, fitted with the rest), or with them known exactly as in
the paper (``--mode fixed``: ``known={"x0": "1.3*x0", "x1": "-1.8*x1"}``),
and counts, per noise level over seeds 0..9:

- ``interactions``: both interaction terms (``x*y`` in each equation) present;
- ``exact``: exactly the four terms of the law, nothing more.

Run ``python examples/ude_lotka_volterra.py --mode known`` (about 10 minutes on 2 cores);
``--seeds 3`` for a quick look. The data are simulated here, not shipped as a
problem file: the scenario is the paper's, not part of our suite.
"""

from __future__ import annotations

import argparse
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import sympy as sp
from scipy.integrate import solve_ivp

import sysid

ALPHA, BETA, GAMMA, DELTA = 1.3, 0.9, 0.8, 1.8
X0 = (0.44249296, 4.6280594)


def scenario(noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """31 samples on [0, 3], Gaussian noise of ``noise`` times each state's mean."""

    def f(_t, z):
        x, y = z
        return [ALPHA * x - BETA * x * y, GAMMA * x * y - DELTA * y]

    t = np.linspace(0.0, 3.0, 31)
    x = solve_ivp(f, (0.0, 3.0), X0, t_eval=t, rtol=1e-10, atol=1e-12).y.T
    rng = np.random.default_rng(seed)
    return t, x + noise * x.mean(axis=0) * rng.standard_normal(x.shape)


#: The known linear terms of ``--mode known`` (the array's states are x0, x1), and of
#: ``--mode fixed`` (the paper's setting: the two linear rates known exactly).
KNOWN = {"x0": "alpha*x0", "x1": "-delta*x1"}
FIXED = {"x0": f"{ALPHA}*x0", "x1": f"-{DELTA}*x1"}


def one(args: tuple[float, int, str]) -> dict:
    noise, seed, mode = args
    t, x = scenario(noise, seed)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        known = {"known": KNOWN, "fixed": FIXED}.get(mode)
        res = sysid.discover((t, x), seed=seed, quiet=True, known=known)
    found = {(e.state, str(e.term)) for e in res.model.terms} if res.model else set()
    x_, y_ = res.states  # x0, x1 for arrays
    xy = str(sp.Symbol(x_) * sp.Symbol(y_))
    law = {(x_, x_), (x_, xy), (y_, y_), (y_, xy)}
    return {
        "noise": noise,
        "seed": seed,
        "interactions": {(x_, xy), (y_, xy)} <= found,
        "exact": found == law,
        "equations": str(res.model).replace("\n", "; ") if res.model else "none",
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--noise", default="0.01,0.05")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--mode", choices=("plain", "known", "fixed"), default="plain")
    a = parser.parse_args()
    jobs = [(float(n), s, a.mode) for n in a.noise.split(",") for s in range(a.seeds)]
    with ProcessPoolExecutor(a.workers) as pool:
        rows = list(pool.map(one, jobs))
    for r in rows:
        print(f"noise {r['noise']:g} seed {r['seed']}: {r['equations']} ({r['seconds']:.0f} s)")
    print("\n| noise (of the mean) | both interaction terms | exact law | median s |")
    print("|---|---|---|---|")
    for n in sorted({r["noise"] for r in rows}):
        rs = [r for r in rows if r["noise"] == n]
        k = len(rs)
        print(
            f"| {n:g} | {sum(r['interactions'] for r in rs)}/{k} | "
            f"{sum(r['exact'] for r in rs)}/{k} | {np.median([r['seconds'] for r in rs]):.0f} |"
        )


if __name__ == "__main__":
    main()
