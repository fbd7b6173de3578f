"""The arguments of ``sysid bench`` (``docs/contract.md#cli-bench``).

The command itself is in :mod:`sysid.cli`; :func:`sysid.benchmark.runner.bench`
checks every value before a task starts.

Examples
--------
>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_bench_arguments(parser)
>>> args = parser.parse_args(["-o", "out", "--baseline", "pysindy,pysindy-strong", "--no-sysid"])
>>> args.baseline, args.run_sysid, args.protocol
(['pysindy,pysindy-strong'], False, 'suite')
"""

from __future__ import annotations

import argparse

from sysid.cli_random import add_random_arguments

__all__ = ["add_bench_arguments"]


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """The grid, the methods, the executor and the output folder of ``sysid bench``."""
    parser.add_argument("problems", nargs="*", metavar="PROBLEM", help="default: all problems")
    parser.add_argument(
        "--problems", dest="problems_dir", metavar="DIR", help="folder of the user's problem files"
    )
    parser.add_argument(
        "--noise",
        default="0,0.01,0.05,0.1",
        metavar="LIST",
        help="comma-separated noise levels (default: 0,0.01,0.05,0.1)",
    )
    parser.add_argument(
        "--samplings",
        default="regular,irregular,sparse",
        metavar="LIST",
        help="comma-separated samplings (default: regular,irregular,sparse)",
    )
    parser.add_argument(
        "--seeds", type=int, default=3, metavar="N", help="seeds 0..N-1 (default: 3)"
    )
    parser.add_argument(
        "--baseline",
        action="append",
        default=[],
        metavar="NAME",
        help="run baselines on the same data: pysindy, pysindy-strong; a comma-separated "
        "list, or repeat the flag",
    )
    parser.add_argument(
        "--protocol",
        choices=("suite", "single"),
        default="suite",
        help="suite: every training start, noise scaled by each state's spread (default); "
        "single: the first start only, relative noise x + level*x*eps",
    )
    parser.add_argument(
        "--no-sysid",
        action="store_false",
        dest="run_sysid",
        help="run only the baselines; a later run with the same OUTDIR adds sysid's cells",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="address of a Dask distributed scheduler (default: local processes)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="local worker processes (default: number of cores)",
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=600.0,
        metavar="S",
        help="seconds per task before it counts as timed out (default: 600)",
    )
    parser.add_argument(  # the old name of --time-limit, still accepted
        "--timeout", type=float, default=None, dest="old_timeout", help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a small tier that finishes in minutes (for CI and first use)",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="OUTDIR",
        required=True,
        help="folder for results.json, results.csv, report.md and figures; "
        "an existing one is resumed",
    )
    add_random_arguments(parser)
