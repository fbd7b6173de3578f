"""Recover the law of 'falling-mass' from noisy trajectories (about a minute on a laptop CPU).

Run from the repository root::

    python examples/recover_falling_mass.py [--noise 0.05] [--seed 0] [--irregular] [-o OUTDIR]
"""

from _recover_example import run

if __name__ == "__main__":
    run("falling-mass")
