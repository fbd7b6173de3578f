"""The random-law options of ``sysid bench``: ``--random N`` and how the laws are drawn.

Each flag maps to an argument of :func:`sysid.data.random_problems.random_problem`
(``docs/contract.md#random-problems``); the values are checked by it, before any
training, with an error that names the argument.

Examples
--------
>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_random_arguments(parser)
>>> args = parser.parse_args(["--random", "5", "--random-states", "1,3"])
>>> args.random, random_options(args)["n_states"]
(5, [1, 3])
"""

from __future__ import annotations

import argparse
from typing import Any

from sysid.core.errors import ConfigError

__all__ = ["add_random_arguments", "random_options"]


def add_random_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--random*`` flags of ``sysid bench``."""
    group = parser.add_argument_group("random laws (docs/contract.md#random-problems)")
    group.add_argument(
        "--random",
        type=int,
        default=0,
        metavar="N",
        help="run N random laws per state count instead of the suite; they are written to "
        "OUTDIR/random-problems as problem files",
    )
    group.add_argument(
        "--random-states",
        default="1,2",
        metavar="LIST",
        help="comma-separated state counts, 1 to 4 (default: 1,2)",
    )
    group.add_argument(
        "--random-seed", type=int, default=0, metavar="S", help="the first law's seed (default: 0)"
    )
    group.add_argument(
        "--random-families",
        default=None,
        metavar="LIST",
        help="comma-separated families of terms (default: all: polynomial, rational, hill, "
        "exponential, logarithmic, trig)",
    )
    group.add_argument(
        "--random-trajectories",
        type=int,
        default=1,
        metavar="K",
        help="training trajectories per law (default: 1)",
    )
    group.add_argument(
        "--random-samples",
        type=int,
        default=150,
        metavar="N",
        help="samples per trajectory (default: 150)",
    )


def random_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``random_options`` of :func:`sysid.bench` from the parsed flags."""
    try:
        counts = [int(v) for v in args.random_states.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(
            f"cannot read state counts {args.random_states!r}",
            source="--random-states",
            hint="give comma-separated integers from 1 to 4, e.g. --random-states 1,2",
        ) from None
    out: dict[str, Any] = {
        "n_states": counts,
        "first_seed": args.random_seed,
        "n_trajectories": args.random_trajectories,
        "n_samples": args.random_samples,
    }
    if args.random_families:
        out["families"] = [f.strip() for f in args.random_families.split(",") if f.strip()]
    return out
