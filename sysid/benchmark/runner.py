"""The reproducible problem suite: a grid of problems x noise x sampling x seeds.

Each task simulates a problem, runs one method (sysid, or a baseline such as
PySINDy) on the identical data, and scores the result with the same scorer.
Tasks run in a local process pool (one worker per core) or on an existing Dask
distributed cluster; finished tasks are saved one file each under
``OUTDIR/tasks/``, so a rerun with the same OUTDIR resumes.

Examples
--------
>>> from sysid.benchmark.runner import build_tasks
>>> tasks = build_tasks(["lotka-volterra"], noise=[0.0, 0.05], samplings=["regular"],
...                     seeds=1, methods=["sysid"])
>>> [(t.problem, t.noise, t.sampling, t.seed, t.method) for t in tasks]
[('lotka-volterra', 0.0, 'regular', 0, 'sysid'), ('lotka-volterra', 0.05, 'regular', 0, 'sysid')]
"""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sysid.benchmark.report import environment, report_markdown, summarise
from sysid.core.errors import ConfigError
from sysid.core.options import unknown_options
from sysid.core.renamed import renamed_keywords
from sysid.data.problems import Problem, load_problem, load_problems, problem_from_text

__all__ = [
    "Task",
    "build_tasks",
    "run_task",
    "bench",
    "BenchResult",
    "DEFAULT_NOISE",
    "SAMPLINGS",
    "QUICK",
]

DEFAULT_NOISE = (0.0, 0.01, 0.05, 0.1)
SAMPLINGS = ("regular", "irregular", "sparse")
#: Old keyword names of :func:`bench` and :func:`build_tasks`.
_RENAMED = {"timeout": "time_limit"}
#: The ``--quick`` tier: a few cells that finish in minutes on 2 cores.
QUICK = {
    "problems": ("falling-mass", "pendulum", "lotka-volterra", "sir"),
    "noise": (0.01, 0.05),
    "samplings": ("regular",),
    "seeds": 1,
}
#: How a cell's data are made: the problem's starts with noise scaled by each
#: state's spread, or one start with relative noise.
PROTOCOLS = ("suite", "single")
COLUMNS = [
    "problem",
    "noise",
    "sampling",
    "seed",
    "method",
    "structure_recovered",
    "max_coefficient_relative_error",
    "holdout_r2",
    "seconds",
    "error",
    "equations",
    "verdict",
    "inclusion_true_min",
    "inclusion_false_max",
    "ensemble_seconds",
    "train_r2",
    "protocol",
]


@dataclass(frozen=True)
class Task:
    """One cell of the grid for one method.

    The problem travels as its TOML text, so workers on another machine need
    no access to this machine's files.
    """

    problem: str
    problem_text: str
    noise: float
    sampling: str
    seed: int
    method: str
    time_limit: float = 600.0
    protocol: str = "suite"

    @property
    def key(self) -> str:
        """File-name-safe identifier, stable across runs."""
        key = f"{self.problem}__n{self.noise:g}__{self.sampling}__s{self.seed}__{self.method}"
        return key if self.protocol == "suite" else f"{key}__{self.protocol}"


def _problem_texts(problems: Sequence[str | Problem] | None, folder: str | None) -> list[Problem]:
    if problems:
        pool = {p.name: p for p in load_problems(folder)} if folder else {}
        out = []
        for p in problems:
            if isinstance(p, Problem):
                out.append(p)
            elif str(p) in pool:
                out.append(pool[str(p)])
            else:
                out.append(load_problem(p))
        return out
    return load_problems(folder)


def build_tasks(
    problems: Sequence[str | Problem] | None = None,
    *,
    problems_dir: str | None = None,
    noise: Sequence[float] = DEFAULT_NOISE,
    samplings: Sequence[str] = SAMPLINGS,
    seeds: int = 3,
    methods: Sequence[str] = ("sysid",),
    time_limit: float = 600.0,
    protocol: str = "suite",
    **deprecated: Any,
) -> list[Task]:
    """The grid of tasks, in a fixed order.

    Parameters
    ----------
    problems : list of names, paths or Problem, optional
        Default: every problem in ``problems_dir`` (or the shipped suite).
    problems_dir : str, optional
        A folder of the user's problem files.
    noise : list of float
    samplings : list of {"regular", "irregular", "sparse"}
        ``sparse`` is a regular grid with a quarter of the samples.
    seeds : int
        Seeds ``0 .. seeds-1``.
    methods : list of str
        ``"sysid"`` and baselines (``"pysindy"``).
    time_limit : float
        Seconds a task may take before it is recorded as timed out
        (``timeout`` is its old name, still accepted with a DeprecationWarning).
    protocol : {"suite", "single"}
        ``"suite"``: every training start, noise scaled by each state's spread.
        ``"single"``: the first training start only, with relative noise
        ``x + level * x * eps``; the generalisation test stays the problem's
        held-out starts.
    """
    from sysid.benchmark.baselines import BASELINES

    time_limit = renamed_keywords("build_tasks", deprecated, _RENAMED).get("time_limit", time_limit)

    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {protocol!r}", hint=f"choose from {list(PROTOCOLS)}")
    bad = [s for s in samplings if s not in SAMPLINGS]
    if bad:
        raise ConfigError(f"unknown sampling {bad}", hint=f"choose from {list(SAMPLINGS)}")
    unknown = [m for m in methods if m != "sysid" and m not in BASELINES]
    if unknown:
        raise ConfigError(
            f"unknown method or baseline {unknown}",
            hint=f"choose from {['sysid', *BASELINES]}",
        )
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"seeds must be a positive integer, found {seeds!r}")
    for level in noise:
        if not (isinstance(level, (int, float)) and math.isfinite(level) and level >= 0):
            raise ConfigError(f"noise levels must be numbers >= 0, found {level!r}")
    tasks = []
    for prob in _problem_texts(problems, problems_dir):
        text = prob.path.read_text(encoding="utf-8") if prob.path else ""
        for level in noise:
            for sampling in samplings:
                for seed in range(seeds):
                    for method in methods:
                        tasks.append(
                            Task(
                                prob.name,
                                text,
                                float(level),
                                sampling,
                                seed,
                                method,
                                time_limit,
                                protocol,
                            )
                        )
    return tasks


class _Timeout(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:  # pragma: no cover - signal handler
    raise _Timeout


def _simulate_cell(problem: Problem, task: Task):
    """The cell's data; the ``single`` protocol keeps the first start, with relative noise."""
    from sysid.data.simulation import simulate

    n = problem.n_samples // 4 if task.sampling == "sparse" else problem.n_samples
    data = simulate(
        problem,
        noise=task.noise,
        seed=task.seed,
        n_samples=max(n, 8),
        irregular=task.sampling == "irregular",
        noise_model="relative" if task.protocol == "single" else "spread",
    )
    return data.subset([0]) if task.protocol == "single" else data


def _run_method(problem: Problem, task: Task) -> dict[str, Any]:
    from sysid.report.scoring import score, simulated_r2
    from sysid.symbolic.model import SymbolicModel

    data = _simulate_cell(problem, task)
    if problem.time_dependent:  # both methods get the time as an input: sysid's clock, SINDYc's u
        data = data.with_time()
    if task.method == "sysid":
        from sysid.discovery import discover

        # The cells run in parallel already: the ensemble's members run in this process.
        result = discover(data, seed=task.seed, quiet=True, select_options={"ensemble_jobs": 1})
        if result.interrupted:  # Ctrl-C: a partial result is not the cell's answer
            raise KeyboardInterrupt
        model, verdict = result.model, result.verdict
        extra = _ensemble_columns(result, problem)
    else:
        from sysid.benchmark.baselines import BASELINES

        equations = BASELINES[task.method](data, seed=task.seed)
        inputs = list(data.input_names)
        model = SymbolicModel.from_equations(data.states, equations, inputs=inputs)
        verdict = None
        extra = {}
    s = score(model.equations, problem, simulate_model=model.simulate)
    fit = simulated_r2(model.simulate, data)  # reconstruction: the training data, re-simulated
    return {
        "structure_recovered": bool(s["structure_recovered"]),
        "max_coefficient_relative_error": float(s["max_coefficient_relative_error"]),
        "holdout_r2": s["holdout_r2"],
        "train_r2": float(fit) if np.isfinite(fit) else None,
        "equations": {k: str(v) for k, v in model.equations.items()},
        "verdict": verdict,
        **extra,
    }


def _ensemble_columns(result: Any, problem: Problem) -> dict[str, Any]:
    """Inclusion probabilities of the true terms and of the others, and the ensemble's seconds."""
    from sysid.report.scoring import inclusion_of_truth

    ensemble = result.ensemble
    inc = inclusion_of_truth(ensemble or {}, problem.true_equations(), problem.input_names)
    return {
        "inclusion_true_min": inc["true_min"],
        "inclusion_false_max": inc["false_max"],
        "ensemble_seconds": result.timings.get("ensemble_s"),
    }


def run_task(task: Task) -> dict[str, Any]:
    """Run one task; never raises. Returns a row of ``results.csv`` as a dict."""
    row: dict[str, Any] = {
        "problem": task.problem,
        "noise": task.noise,
        "sampling": task.sampling,
        "seed": task.seed,
        "method": task.method,
        "structure_recovered": False,
        "max_coefficient_relative_error": None,
        "holdout_r2": None,
        "seconds": None,
        "error": "",
        "equations": {},
        "verdict": None,
        "inclusion_true_min": None,
        "inclusion_false_max": None,
        "ensemble_seconds": None,
        "train_r2": None,
        "protocol": task.protocol,
    }
    start = time.perf_counter()
    use_alarm = threading.current_thread() is threading.main_thread() and hasattr(
        signal, "setitimer"
    )
    old = None
    try:
        if use_alarm:
            old = signal.signal(signal.SIGALRM, _alarm)
            signal.setitimer(signal.ITIMER_REAL, task.time_limit)
        problem = problem_from_text(task.problem_text, task.problem)
        row.update(_run_method(problem, task))
    except _Timeout:
        row["error"] = f"timed out after {task.time_limit:g} s"
    except Exception as err:  # noqa: BLE001 - a failing cell is recorded, the suite goes on
        last = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
        where = f" ({Path(last.filename).name}:{last.lineno})" if last else ""
        row["error"] = f"{type(err).__name__}: {err}{where}".replace("\n", " ")[:500]
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            if old is not None:
                signal.signal(signal.SIGALRM, old)
    row["seconds"] = round(time.perf_counter() - start, 3)
    if not row["error"] and row["seconds"] > task.time_limit:
        row["error"] = f"timed out after {task.time_limit:g} s"
    return row


@dataclass
class BenchResult:
    """Rows of a suite run and where they were written."""

    rows: list[dict[str, Any]]
    outdir: Path
    wall_s: float
    environment: dict[str, Any]

    def summary(self) -> list[dict[str, Any]]:
        """Recovery rate and median coefficient error per method, noise and sampling."""
        return summarise(self.rows)


def _load_done(task_dir: Path) -> dict[str, dict[str, Any]]:
    done = {}
    for f in sorted(task_dir.glob("*.json")):
        try:
            done[f.stem] = json.loads(f.read_text())
        except (OSError, json.JSONDecodeError):
            continue  # a half-written file is redone
    return done


def _execute(
    todo: list[Task],
    scheduler: str | None,
    workers: int,
    on_done: Callable[[Task, dict[str, Any]], None],
    quiet: bool,
) -> None:
    from sysid.core.progress import progress_bar

    bar = progress_bar(total=len(todo), desc="bench", unit="task", disable=quiet, file=sys.stderr)
    try:
        if scheduler:
            try:
                from dask.distributed import Client
                from dask.distributed import as_completed as dask_completed
            except ImportError:
                raise ConfigError(
                    "--scheduler needs dask.distributed",
                    hint='install it with: pip install "sysid[distributed]"',
                ) from None
            with Client(scheduler) as client:
                futures = {client.submit(run_task, t, pure=False, key=t.key): t for t in todo}
                for fut in dask_completed(futures):
                    on_done(futures[fut], fut.result())
                    bar.update()
        elif workers <= 1:
            for t in todo:
                on_done(t, run_task(t))
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = {pool.submit(run_task, t): t for t in todo}
                for fut in as_completed(futures):
                    on_done(futures[fut], fut.result())
                    bar.update()
    finally:
        bar.close()


def bench(
    problems: Sequence[str | Problem] | None = None,
    *,
    outdir: str | os.PathLike,
    problems_dir: str | None = None,
    noise: Sequence[float] = DEFAULT_NOISE,
    samplings: Sequence[str] = SAMPLINGS,
    seeds: int = 3,
    baselines: Sequence[str] = (),
    run_sysid: bool = True,
    protocol: str = "suite",
    scheduler: str | None = None,
    workers: int | None = None,
    quick: bool = False,
    time_limit: float = 600.0,
    quiet: bool = False,
    random: int = 0,
    random_options: Mapping[str, Any] | None = None,
    **deprecated: Any,
) -> BenchResult:
    """Run the suite and write ``results.json``, ``results.csv``, ``report.md`` and figures.

    Parameters
    ----------
    problems : list, optional
        Problem names or paths; default all (of ``problems_dir`` or the shipped suite).
    outdir : path
        Output folder; an existing one is resumed (finished tasks are skipped).
    noise, samplings, seeds
        The grid (see :func:`build_tasks`).
    baselines : list of str
        Baseline methods run on the same data, e.g. ``["pysindy"]``.
    protocol : {"suite", "single"}
        How a cell's data are made (see :func:`build_tasks`): ``"single"`` is one
        trajectory with relative noise, as several papers measure.
    run_sysid : bool
        Run sysid itself (default). ``False`` runs only the baselines; a later
        run with the same ``outdir`` adds sysid's cells beside theirs.
    scheduler : str, optional
        Address of a Dask distributed scheduler; default a local process pool.
    workers : int, optional
        Local processes; default the number of cores.
    quick : bool
        The small :data:`QUICK` tier (problems, noise and seeds not given explicitly).
    time_limit : float
        Seconds per task before it is recorded as timed out (``timeout`` is its
        old name, still accepted with a DeprecationWarning).
    random : int
        Run ``random`` random laws per state count instead of the suite
        (:mod:`sysid.data.random_problems`), written to ``OUTDIR/random-problems``
        first (kept on a resume).
    random_options : dict, optional
        ``n_states`` (an int or a list of them, default ``[1, 2]``),
        ``first_seed`` (default 0), ``families``, ``n_trajectories`` (default 1),
        ``n_samples`` (default 150).
    """
    time_limit = renamed_keywords("bench", deprecated, _RENAMED).get("time_limit", time_limit)
    if not run_sysid and not baselines:
        raise ConfigError(
            "nothing to run: sysid is left out and no baseline is given",
            hint="name a baseline (--baseline pysindy-strong) or run sysid",
        )
    if random:
        if problems or problems_dir:
            raise ConfigError(
                "random laws replace the suite: give no problems with them",
                source="argument 'random'",
            )
        problems = _random_suite(random, Path(outdir) / "random-problems", random_options)
    if quick:
        problems = problems or list(QUICK["problems"])
        noise = QUICK["noise"] if tuple(noise) == DEFAULT_NOISE else noise
        samplings = QUICK["samplings"] if tuple(samplings) == SAMPLINGS else samplings
        seeds = min(seeds, QUICK["seeds"])
    tasks = build_tasks(
        problems,
        problems_dir=problems_dir,
        noise=noise,
        samplings=samplings,
        seeds=seeds,
        methods=["sysid"] * bool(run_sysid) + list(baselines),
        time_limit=time_limit,
        protocol=protocol,
    )
    out = Path(outdir)
    task_dir = out / "tasks"
    task_dir.mkdir(parents=True, exist_ok=True)
    done = _load_done(task_dir)
    todo = [t for t in tasks if t.key not in done]
    start = time.perf_counter()

    def on_done(task: Task, row: dict[str, Any]) -> None:
        tmp = task_dir / f"{task.key}.json.tmp"
        tmp.write_text(json.dumps(row, indent=1))
        tmp.replace(task_dir / f"{task.key}.json")
        done[task.key] = row

    n_workers = workers or os.cpu_count() or 1
    _execute(todo, scheduler, n_workers, on_done, quiet)
    wall = time.perf_counter() - start
    rows = [done[t.key] for t in tasks]
    env = environment()
    result = BenchResult(rows, out, wall, env)
    _write_outputs(result, tasks, scheduler, n_workers)
    return result


def _random_suite(n: Any, folder: Path, options: Mapping[str, Any] | None) -> list[Problem]:
    """``n`` random problems per state count, written to ``folder`` and loaded from there."""
    from sysid.data.random_problems import write_random_problems

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"random must be a positive integer, found {n!r}", source="bench")
    opts = dict(options or {})
    unknown_options(
        opts,
        ["n_states", "first_seed", "families", "n_trajectories", "n_samples"],
        "argument 'random_options'",
    )
    counts = opts.pop("n_states", [1, 2])
    paths = []
    for k in [counts] if isinstance(counts, int) else list(counts):
        paths += write_random_problems(folder, n, n_states=k, **opts)
    return [load_problem(p) for p in paths]


def _write_outputs(result: BenchResult, tasks: list[Task], scheduler: str | None, workers: int):
    from sysid.report.figures import plot_recovery

    out = result.outdir
    config = {
        "problems": sorted({t.problem for t in tasks}),
        "noise": sorted({t.noise for t in tasks}),
        "samplings": list(dict.fromkeys(t.sampling for t in tasks)),
        "seeds": sorted({t.seed for t in tasks}),
        "methods": list(dict.fromkeys(t.method for t in tasks)),
        "protocol": tasks[0].protocol if tasks else "suite",
        "executor": f"dask {scheduler}" if scheduler else f"local processes ({workers})",
    }
    summary = result.summary()
    (out / "results.json").write_text(
        json.dumps(
            {
                "config": config,
                "environment": result.environment,
                "wall_s": round(result.wall_s, 2),
                "summary": summary,
                "rows": result.rows,
            },
            indent=1,
        )
    )
    with open(out / "results.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        for r in result.rows:
            writer.writerow({**r, "equations": json.dumps(r.get("equations", {}))})
    plot_recovery(summary, path=out / "recovery.png")
    (out / "report.md").write_text(report_markdown(result, config, summary))


#: Columns of a row that are timings: they differ between runs of the same cells.
_TIMINGS = ("seconds", "ensemble_seconds")


def rows_equal(a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]]) -> bool:
    """True when two runs agree on everything but timings."""

    def strip(rows):
        return [{k: v for k, v in r.items() if k not in _TIMINGS} for r in rows]

    return strip(a) == strip(b)
