"""Recover the law of 'pendulum' from noisy trajectories (about a minute on a laptop CPU).

Run from the repository root::

    python examples/recover_pendulum.py [--noise 0.05] [--seed 0] [--irregular] [-o OUTDIR]
"""

from _recover_example import run

if __name__ == "__main__":
    run("pendulum")
