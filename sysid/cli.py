"""The ``sysid`` command line (``docs/contract.md#command-line``).

Each subcommand is one function ``_cmd_<name>(args) -> int`` registered with
:func:`_command`, together with a function that adds its arguments. The
common wrapper :func:`_run` turns the errors users can fix into one line on
stderr and an exit code: 0 success, 2 bad usage or bad input
(:class:`~sysid.core.errors.SysidInputError`), 1 a failure during the work
(:class:`~sysid.core.errors.SysidRuntimeError`, an unwritable output file).

Adding a subcommand::

    def _add_discover_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("data", metavar="FILE.csv")

    @_command("discover", "learn equations from data", _add_discover_arguments)
    def _cmd_discover(args: argparse.Namespace) -> int:
        ...
        return 0

Examples
--------
>>> main(["problems"])  # doctest: +ELLIPSIS
NAME ...
lotka-volterra ...
0
"""

# Over 600 lines: the whole command line in one place, one section per command in
# the order of `sysid --help` (arguments, then the command); a section is short.

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from sysid.cli_bench import add_bench_arguments
from sysid.cli_options import add_method_arguments, method_options
from sysid.cli_random import random_options
from sysid.core.errors import ConfigError, SysidInputError, SysidRuntimeError

__all__ = ["main"]

PROG = "sysid"


class _UsageError(Exception):
    """Bad command-line usage; reported as one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, not usage + message + exit."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(f"{message} (see '{self.prog} --help')")


@dataclass(frozen=True)
class _Command:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


#: The subcommands, in the order ``sysid --help`` lists them.
_COMMANDS: dict[str, _Command] = {}


def _command(
    name: str, help: str, add_arguments: Callable[[argparse.ArgumentParser], None]
) -> Callable[[Callable[[argparse.Namespace], int]], Callable[[argparse.Namespace], int]]:
    """Register ``run`` as the subcommand ``name`` (a decorator)."""

    def register(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        _COMMANDS[name] = _Command(name, help, add_arguments, run)
        return run

    return register


# ---------------------------------------------------------------- helpers
def _say(args: argparse.Namespace, message: str) -> None:
    """A status line on stderr, unless ``--quiet``."""
    if not getattr(args, "quiet", False):
        print(f"{PROG}: {message}", file=sys.stderr)


def _output_path(value: str | None) -> Path | None:
    """Check an ``-o FILE`` option before the work starts; None or '-' is stdout."""
    if value is None or value == "-":
        return None
    path = Path(value)
    if path.is_dir():
        raise ConfigError(
            "is a folder", source=f"output '{value}'", hint="give a file name, e.g. -o data.csv"
        )
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ConfigError(
            f"folder '{parent}' does not exist",
            source=f"output '{value}'",
            hint="create the folder first or choose another path",
        )
    return path


def _table(rows: Sequence[Sequence[str]], out: TextIO) -> None:
    """Print rows as left-aligned columns separated by two spaces."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [c.ljust(w) for c, w in zip(row[:-1], widths[:-1], strict=True)]
        print("  ".join([*cells, row[-1]]), file=out)


# ---------------------------------------------------------------- problems
def _add_problems_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--problems",
        metavar="DIR",
        help="folder of problem files (.toml) or one file; default: the shipped suite",
    )


@_command("problems", "list the problems (name, states, title)", _add_problems_arguments)
def _cmd_problems(args: argparse.Namespace) -> int:
    """List problems as an aligned table on stdout."""
    from sysid.data.problems import load_problems

    problems = load_problems(args.problems)
    rows = [("NAME", "STATES", "TITLE")]
    rows += [(p.name, ", ".join(p.states), p.title) for p in problems]
    _table(rows, sys.stdout)
    return 0


# ---------------------------------------------------------------- simulate
def _add_problem_sampling_arguments(parser: argparse.ArgumentParser, default_noise: float) -> None:
    """PROBLEM, --noise, --n-samples and --irregular: how a problem's data are simulated."""
    parser.add_argument("problem", metavar="PROBLEM", help="a problem name or a .toml file")
    parser.add_argument(
        "--noise",
        type=float,
        default=default_noise,
        metavar="F",
        help="Gaussian noise, standard deviation F times each state's standard deviation "
        f"(default: {default_noise:g})",
    )
    parser.add_argument(
        "--n-samples",
        type=int,
        default=None,
        metavar="N",
        help="samples per trajectory (default: the problem's n_samples)",
    )
    parser.add_argument(
        "--irregular", action="store_true", help="sorted random sample times per trajectory"
    )


def _add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    _add_problem_sampling_arguments(parser, default_noise=0.0)
    parser.add_argument(
        "-o", "--output", metavar="FILE.csv", help="write the CSV here (default: stdout)"
    )
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default: 0)")
    parser.add_argument(
        "--holdout",
        action="store_true",
        help="simulate the held-out initial conditions instead of the training ones",
    )
    parser.add_argument(
        "--noise-model",
        choices=("spread", "relative"),
        default="spread",
        help="spread: the noise's sd is F times each state's sd (default); "
        "relative: x + F*x*eps, in proportion to each value",
    )


@_command("simulate", "generate trajectories of a problem as CSV", _add_simulate_arguments)
def _cmd_simulate(args: argparse.Namespace) -> int:
    """Simulate a problem and write a CSV file (``docs/contract.md#data-files``)."""
    from sysid.data.problems import load_problem
    from sysid.data.simulation import simulate

    path = _output_path(args.output)
    problem = load_problem(args.problem)
    ds = simulate(
        problem,
        noise=args.noise,
        seed=args.seed,
        n_samples=args.n_samples,
        irregular=args.irregular,
        holdout=args.holdout,
        noise_model=args.noise_model,
    )
    if path is None:
        ds.to_csv(sys.stdout)
        sys.stdout.flush()
    else:
        ds.to_csv(path)
    sizes = sorted({tr.n_samples for tr in ds})
    _say(
        args,
        f"{problem.name}: {ds.n_trajectories} trajectories x {', '.join(map(str, sizes))} samples "
        f"(noise {args.noise:g}, seed {args.seed}) written to {path or 'stdout'}",
    )
    return 0


# ---------------------------------------------------------------- discover / recover
def _outdir(value: str) -> Path:
    """Check an ``-o OUTDIR`` option before the work starts.

    The folder is created (with its parents) and a file is written in it and
    removed, so that a long run never ends in an unwritable place.
    """
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise ConfigError(
            "exists and is not a folder",
            source=f"output '{value}'",
            hint="give a folder name, e.g. -o results",
        )
    base = path
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir():
        raise ConfigError(
            f"cannot be created: '{base}' is not a folder",
            source=f"output '{value}'",
            hint="give a folder name under a folder you may write in, e.g. -o results",
        )
    try:  # the only sure test (permissions, read-only or virtual file systems): write
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise ConfigError(
            f"cannot be written ({err.strerror or err})",
            source=f"output '{value}'",
            hint="choose a folder you may write in, e.g. -o results",
        ) from None
    return path


def _add_seed_outdir(
    parser: argparse.ArgumentParser, default_out: str, ensemble: bool = True
) -> None:
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default: 0)")
    parser.add_argument(
        "-o",
        "--output",
        metavar="OUTDIR",
        default=default_out,
        help=f"folder for result.json and figures (default: {default_out})",
    )
    parser.add_argument(
        "--no-figures", action="store_true", help="write result.json only, no PNG figures"
    )
    if not ensemble:
        return
    parser.add_argument(
        "--ensemble",
        type=int,
        default=None,
        metavar="N",
        help="members of the ensemble that gives each term's inclusion probability: the "
        "selection repeated on N random halves of the data (default: 8; 0: off)",
    )
    parser.add_argument(
        "--ensemble-fields",
        type=int,
        default=None,
        metavar="N",
        help="N more runs with other neural-field seeds, each distilled and selected: how "
        "much the structure depends on the field (default: 0; each costs about a whole run)",
    )


def _add_column_arguments(parser: argparse.ArgumentParser) -> None:
    """How to read a CSV file: its time and trajectory id columns."""
    parser.add_argument(
        "--time-column", default="t", metavar="T", help="name of the time column (default: t)"
    )
    parser.add_argument(
        "--trajectory-column",
        default=None,
        metavar="C",
        help="name of the trajectory id column (default: trajectory, if present)",
    )


def _add_known_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--known",
        action="append",
        default=None,
        metavar="STATE=EXPR",
        help="known physics of one equation: named constants (fitted) or numbers (kept) times "
        "functions of the states, e.g. --known 'x=alpha*x' (repeat for other states; "
        "docs/contract.md#known-physics)",
    )
    parser.add_argument(
        "--time-dependent",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="allow terms in the time t (dx/dt = f(x, u, t); docs/contract.md#time-dependent); "
        "off by default for data, on for a problem whose equations have t",
    )


def _add_discover_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "data", metavar="FILE.csv", help="trajectories (format: docs/contract.md#data-files)"
    )
    _add_column_arguments(parser)
    parser.add_argument(
        "--states",
        default=None,
        metavar="a,b",
        help="comma-separated state columns; other columns are then ignored",
    )
    parser.add_argument(
        "--inputs",
        default=None,
        metavar="u,v",
        help="comma-separated input columns: measured signals that drive the system and "
        "may appear in its equations (docs/contract.md#inputs)",
    )
    parser.add_argument(
        "--interpolation",
        default="linear",
        choices=("linear", "hold", "cubic"),
        help="how inputs are read between samples: linear (default), hold (each sample until "
        "the next: switched inputs) or cubic (a spline: smooth inputs)",
    )
    _add_known_argument(parser)
    _add_seed_outdir(parser, "sysid-discover")
    add_method_arguments(parser)


def _equation_lines(equations, truth=None) -> list[str]:
    """``dx/dt = ...`` lines, with the true right-hand side beside each when given."""
    names = list(equations)
    lhs = [f"d{s}/dt" for s in names]
    width = max(len(x) for x in lhs)
    found = [str(equations[s]) for s in names]
    if truth is None:
        return [f"{left.rjust(width)} = {rhs}" for left, rhs in zip(lhs, found, strict=True)]
    col = max(len("found"), *(len(f) for f in found))
    lines = [f"{' ' * width}   {'found'.ljust(col)}   true"]
    for left, f, s in zip(lhs, found, names, strict=True):
        lines.append(f"{left.rjust(width)} = {f.ljust(col)}   {truth[s]}")
    return lines


def _report_timings(res) -> str:
    t = {k: res.timings.get(k, 0.0) for k in ("total_s", "neural_s", "symbolic_s", "refine_s")}
    ensemble = res.timings.get("ensemble_s")
    return (
        f"time {t['total_s']:.1f} s (neural field {t['neural_s']:.1f} s, distillation "
        f"{t['symbolic_s']:.1f} s, refit and selection {t['refine_s']:.1f} s"
        + ("" if ensemble is None else f", ensemble {ensemble:.1f} s")
        + ")"
    )


#: Exit code after Ctrl-C (128 + SIGINT), also when partial results were saved.
_INTERRUPTED = 130


def _save_result(res, outdir: Path, args: argparse.Namespace, done: str) -> int:
    """Save a discovery result; an interrupted one is saved too, with exit code 130."""
    res.save(outdir, figures=not args.no_figures)
    stage = res.extra.get("interrupted")
    if stage:
        print(
            f"{PROG}: interrupted during '{stage}': partial results (the work finished "
            f"before it) saved to {outdir / 'result.json'}",
            file=sys.stderr,
        )
        return _INTERRUPTED
    _say(args, done)
    return 0


@_command(
    "discover", "learn equations from data; write result.json and figures", _add_discover_arguments
)
def _cmd_discover(args: argparse.Namespace) -> int:
    """Discover equations from a CSV file."""
    from sysid.data.dataset import Dataset
    from sysid.discovery import discover

    method = _method(args)
    outdir = _outdir(args.output)
    states = [s.strip() for s in args.states.split(",") if s.strip()] if args.states else None
    inputs = None
    if args.inputs is not None:
        inputs = [u.strip() for u in args.inputs.split(",") if u.strip()]
        if not inputs:
            raise ConfigError("names no column", source="--inputs", hint="e.g. --inputs u")
    traj_col = args.trajectory_column or "trajectory"
    if args.trajectory_column is not None and Path(args.data).is_file():
        _require_column(args.data, args.trajectory_column)
    data = Dataset.from_csv(
        args.data,
        time_column=args.time_column,
        trajectory_column=traj_col,
        states=states,
        **({} if inputs is None else {"inputs": inputs, "interpolation": args.interpolation}),
    )
    known = _known_option(args.known)
    res = discover(
        data,
        seed=args.seed,
        quiet=args.quiet,
        known=known,
        time_dependent=bool(args.time_dependent),
        **method,
    )
    _print_equations(res)
    return _save_result(
        res, outdir, args, f"{_report_timings(res)}; wrote {outdir / 'result.json'}"
    )


def _known_option(given: Sequence[str] | None) -> dict[str, str] | None:
    """``--known STATE=EXPR`` flags as a dict (None when none was given)."""
    if not given:
        return None
    known: dict[str, str] = {}
    for item in given:
        state, sep, expr = item.partition("=")
        state, expr = state.strip(), expr.strip()
        if not sep or not state or not expr:
            raise ConfigError(
                f"{item!r} is not STATE=EXPR", source="--known", hint="e.g. --known 'x=alpha*x'"
            )
        if state in known:
            raise ConfigError(
                f"state {state!r} is given twice",
                source="--known",
                hint=f"write its known terms in one flag: --known '{state}={known[state]} + ...'",
            )
        known[state] = expr
    return known


def _ensemble_option(args: argparse.Namespace) -> dict[str, int] | None:
    """``select_options`` of ``--ensemble N`` and ``--ensemble-fields N`` (None: defaults)."""
    given = {}
    for key, default in (("ensemble", 8), ("ensemble_fields", 0)):
        value = getattr(args, key)
        if value is not None and value < 0:
            raise ConfigError(
                f"must be 0 or more members, found {value}",
                source="--" + key.replace("_", "-"),
                hint=f"0 turns it off; the default is {default}",
            )
        if value is not None:
            given[key] = value
    return given or None


def _method(args: argparse.Namespace) -> dict:
    """``discover`` keyword arguments of the method flags and ``--ensemble``, checked."""
    method = method_options(args)
    ensemble = _ensemble_option(args)
    if ensemble:
        method["select_options"] = {**method.get("select_options", {}), **ensemble}
    return method


def _print_equations(res, truth=None) -> None:
    """The equations and their standard errors; a partial result says so first."""
    from sysid.symbolic.show import coefficient_lines

    if res.model is None:
        print(f"no equations: interrupted during '{res.interrupted}' before any were found")
        return
    if res.interrupted:
        what = res.extra.get("partial", "unfinished")
        print(f"partial result (interrupted during '{res.interrupted}'): {what}")
    print("\n".join(_equation_lines(res.equations, truth)))
    if truth is None:
        for line in coefficient_lines(res.model):
            print(line)
    for name, c in (res.extra.get("known") or {}).items():
        se = "" if c["stderr"] is None else f" +/- {c['stderr']:.2g}"
        value = "not in the model" if c["value"] is None else f"{c['value']:.6g}{se}"
        print(f"known constant {name} ({c['state']}: term {c['term']}) = {value}")
    for line in _inclusion_lines(res.ensemble, "the selection on random halves of the data"):
        print(line)
    fields = res.extra.get("field_ensemble")
    for line in _inclusion_lines(fields, "runs with other neural-field seeds, each distilled"):
        print(line)
    for line in _verdict_lines(res.diagnostics):
        print(line)


def _inclusion_lines(ensemble, what: str) -> list[str]:
    """Each state's terms with their inclusion probability, the chosen ones first."""
    if not ensemble or not ensemble.get("finished"):
        return []
    lines = [
        f"term inclusion over {ensemble['finished']} of {ensemble['members']} ensemble members "
        f"({what}):"
    ]
    for s, rows in ensemble["terms"].items():
        chosen = [f"{r['term']} {r['inclusion']:.2f}" for r in rows if r["chosen"]]
        other = [f"{r['term']} {r['inclusion']:.2f}" for r in rows if not r["chosen"]]
        text = ", ".join(chosen) + (f"; not chosen: {', '.join(other)}" if other else "")
        lines.append(f"  d{s}/dt  {text}")
    return lines


def _verdict_lines(diag) -> list[str]:
    """The diagnostics verdict, each reason and its remedy (the ModelWarning in full)."""
    if not diag or diag.get("verdict") is None:
        return []
    r2 = diag["holdout_r2"].get("all")
    shown = "n/a" if r2 is None else f"{r2:.3f}"
    lines = [f"verdict: {diag['verdict']} (held-out simulated R^2 {shown})"]
    for r in diag["reasons"]:
        lines += [f"  - {r['level']}: {r['message']}", f"    remedy: {r['remedy']}"]
    return lines


def _require_column(path: str, column: str) -> None:
    import pandas as pd

    from sysid.core.errors import DataError

    try:
        header = [str(c).strip() for c in pd.read_csv(path, nrows=0).columns]
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        return  # Dataset.from_csv reports what is wrong with the file

    if column not in header:
        raise DataError(
            f"trajectory column '{column}' not found; columns are {header}",
            source=path,
            hint="check --trajectory-column, or leave it out for a single trajectory",
        )


# ---------------------------------------------------------------- fit
def _add_fit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model",
        metavar="MODEL.toml",
        help="known equations with unknown constants (format: docs/contract.md#model-files)",
    )
    parser.add_argument(
        "data", metavar="FILE.csv", help="measurements (format: docs/contract.md#data-files)"
    )
    _add_column_arguments(parser)
    parser.add_argument(
        "--starts",
        type=int,
        default=1,
        metavar="N",
        help="starts of the fit: the guesses, then N-1 random perturbations (default: 1)",
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="S",
        help="wall seconds for the whole fit; the best point so far is reported (default: none)",
    )
    _add_seed_outdir(parser, "sysid-fit", ensemble=False)


@_command(
    "fit",
    "fit the unknown constants of known equations to data; write result.json and a figure",
    _add_fit_arguments,
)
def _cmd_fit(args: argparse.Namespace) -> int:
    """Gray-box fit of a model file."""
    from sysid.fit.model_file import load_model_file
    from sysid.report.fit_report import fit_model_file

    model = load_model_file(args.model)
    outdir = _outdir(args.output)
    if args.starts < 1:
        raise ConfigError(f"must be 1 or more, found {args.starts}", source="--starts")
    if args.time_limit is not None and not args.time_limit > 0:
        raise ConfigError(
            f"must be a positive number, found {args.time_limit}", source="--time-limit"
        )
    traj_col = args.trajectory_column or "trajectory"
    if args.trajectory_column is not None and Path(args.data).is_file():
        _require_column(args.data, args.trajectory_column)
    _say(args, f"fitting {', '.join(model.unknown)} of {model.source} to {args.data}")
    report = fit_model_file(
        model,
        args.data,
        time_column=args.time_column,
        trajectory_column=traj_col,
        seed=args.seed,
        n_starts=args.starts,
        time_limit=args.time_limit,
    )
    print("\n".join(report.lines()))
    path = report.save(outdir, figures=not args.no_figures)
    _say(args, f"fit {report.timings['fit_s']:.1f} s; wrote {path}")
    return 0


def _add_recover_arguments(parser: argparse.ArgumentParser) -> None:
    _add_problem_sampling_arguments(parser, default_noise=0.05)
    _add_known_argument(parser)
    _add_seed_outdir(parser, "sysid-recover")
    add_method_arguments(parser)


@_command(
    "recover",
    "simulate a problem, discover its law, score it against the truth",
    _add_recover_arguments,
)
def _cmd_recover(args: argparse.Namespace) -> int:
    """The recover-the-law demo."""
    from sysid.data.problems import load_problem
    from sysid.discovery import recover

    method = _method(args)
    known = _known_option(args.known)
    outdir = _outdir(args.output)
    problem = load_problem(args.problem)
    res = recover(
        problem,
        noise=args.noise,
        seed=args.seed,
        n_samples=args.n_samples,
        irregular=args.irregular,
        quiet=args.quiet,
        **method,
        **({} if known is None else {"known": known}),
        **({} if args.time_dependent is None else {"time_dependent": args.time_dependent}),
    )
    sampling = "irregular" if args.irregular else "regular"
    n = args.n_samples or problem.n_samples
    print(
        f"{problem.name}: {res.data.n_trajectories} trajectories x {n} {sampling} samples, "
        f"noise {args.noise:g}, seed {args.seed}"
    )
    _print_equations(res, problem.true_equations())
    sc = res.score
    if sc is not None:
        r2 = sc["holdout_r2"]
        print(
            f"structure recovered: {'yes' if sc['structure_recovered'] else 'no'}; "
            f"max coefficient error: {100 * sc['max_coefficient_relative_error']:.2f}%; "
            f"held-out R^2: {'failed' if r2 is None else format(r2, '.5f')}"
        )
    print(_report_timings(res))
    figures = "" if args.no_figures else " and figures"
    return _save_result(res, outdir, args, f"wrote {outdir / 'result.json'}{figures}")


# ---------------------------------------------------------------- bench
def _float_list(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(
            f"cannot read noise levels {text!r}",
            source="--noise",
            hint="give comma-separated numbers, e.g. --noise 0,0.01,0.05",
        ) from None


def _time_limit(args: argparse.Namespace) -> float:
    """``--time-limit``, or the deprecated ``--timeout`` (with a note on stderr)."""
    if args.old_timeout is None:
        return float(args.time_limit)
    print("sysid bench: --timeout is deprecated; use --time-limit", file=sys.stderr)
    return float(args.old_timeout)


@_command("bench", "run the problem suite side by side with baselines", add_bench_arguments)
def _cmd_bench(args: argparse.Namespace) -> int:
    """The reproducible problem suite."""
    from sysid.benchmark.runner import DEFAULT_NOISE, SAMPLINGS, bench

    outdir = _outdir(args.output)
    noise = _float_list(args.noise)
    samplings = [s.strip() for s in args.samplings.split(",") if s.strip()]
    if args.quick:
        noise = DEFAULT_NOISE if args.noise == "0,0.01,0.05,0.1" else noise
        samplings = SAMPLINGS if args.samplings == "regular,irregular,sparse" else samplings
    res = bench(
        args.problems or None,
        outdir=outdir,
        problems_dir=args.problems_dir,
        noise=noise,
        samplings=samplings,
        seeds=args.seeds,
        baselines=[b.strip() for arg in args.baseline for b in arg.split(",") if b.strip()],
        run_sysid=args.run_sysid,
        protocol=args.protocol,
        scheduler=args.scheduler,
        workers=args.workers,
        quick=args.quick,
        time_limit=_time_limit(args),
        quiet=args.quiet,
        **({"random": args.random, "random_options": random_options(args)} if args.random else {}),
    )
    rows = [("METHOD", "SAMPLING", "NOISE", "RECOVERED", "MEDIAN COEF ERR", "FAILED")]
    for s in res.summary():
        err = s["median_coef_error"]
        rows.append(
            (
                s["method"],
                s["sampling"],
                f"{s['noise']:g}",
                f"{s['recovered']}/{s['cells']}",
                "-" if err is None else f"{100 * err:.2f}%",
                str(s["failed"]),
            )
        )
    _table(rows, sys.stdout)
    _say(args, f"{len(res.rows)} tasks in {res.wall_s:.0f} s; wrote {outdir / 'report.md'}")
    return 0


# ---------------------------------------------------------------- entry point
def _build_parser() -> argparse.ArgumentParser:
    """The ``sysid`` parser with one subparser per registered command."""
    from sysid.core.version import __version__

    parser = _Parser(
        prog=PROG,
        description="Learn readable ordinary differential equations from measured trajectories.",
        epilog=(
            f"Run '{PROG} COMMAND --help' for the options of a command. File formats, "
            "commands and result.json: docs/contract.md in the sysid repository."
        ),
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-q", "--quiet", action="store_true", help="no progress or status lines on stderr"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for cmd in _COMMANDS.values():
        p = sub.add_parser(
            cmd.name,
            help=cmd.help,
            description=cmd.help[:1].upper() + cmd.help[1:] + ".",
            parents=[common],
        )
        cmd.add_arguments(p)
        p.set_defaults(run=cmd.run)
    return parser


def _one_line(message: object) -> str:
    return " ".join(str(message).split())


def _fail(message: object, code: int) -> int:
    print(f"{PROG}: error: {_one_line(message)}", file=sys.stderr)
    return code


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as ``sysid: warning: ...`` on stderr, without a source file and line.

    Python's own format names where the warning was raised (``<string>:9:`` for
    generated code), which means nothing to a user of the command.
    """
    kind = "" if issubclass(category, UserWarning) else f" ({category.__name__})"
    print(f"{PROG}: warning{kind}: {_one_line(message)}", file=file or sys.stderr)


def _run(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a subcommand; map the errors users can act on to one line and an exit code."""
    from sysid.core.errors import ModelWarning

    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        warnings.simplefilter("ignore", ModelWarning)  # printed in full as the verdict
        return _run_guarded(run, args)


def _run_guarded(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    try:
        return run(args)
    except SysidInputError as err:
        return _fail(err, 2)
    except SysidRuntimeError as err:
        return _fail(err, 1)
    except BrokenPipeError:
        # The reader of stdout went away (``sysid simulate ... | head``): not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as err:
        where = f"{err.filename}: " if err.filename else ""
        return _fail(f"{where}{err.strerror or err}", 1)
    except KeyboardInterrupt:
        return _fail("interrupted", _INTERRUPTED)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``sysid`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit code.

    Examples
    --------
    >>> main(["--version"])  # doctest: +ELLIPSIS
    sysid ...
    0
    >>> main(["simulate", "logistic", "--n-samples", "3", "--quiet"])  # doctest: +ELLIPSIS
    trajectory,t,N
    0,0,2
    0,15,97.36...
    0
    """
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as err:
        return _fail(err, 2)
    except SystemExit as exc:  # --help and --version print and exit 0
        return exc.code if isinstance(exc.code, int) else 0
    if args.command is None:
        return _fail(
            f"no command given; choose one of {', '.join(_COMMANDS)} (see '{PROG} --help')", 2
        )
    return _run(args.run, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
