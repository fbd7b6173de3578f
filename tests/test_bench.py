"""The problem suite: grid, outputs, resume, failures, Dask, baseline."""

from __future__ import annotations

import csv
import json

import pytest

from sysid.benchmark import runner as bench_mod
from sysid.benchmark.baselines import pysindy_available
from sysid.benchmark.runner import build_tasks, rows_equal, run_task, summarise
from sysid.core.errors import ConfigError

TINY = {"noise": [0.01], "samplings": ["regular"], "seeds": 1, "workers": 1, "quiet": True}


@pytest.fixture(scope="module")
def tiny_run(fast_defaults, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    return bench_mod.bench(["logistic"], outdir=out, **TINY)


def test_grid_order_and_keys():
    tasks = build_tasks(
        ["logistic", "sir"],
        noise=[0.0, 0.1],
        samplings=["regular", "sparse"],
        seeds=2,
        methods=["sysid", "pysindy"],
    )
    assert len(tasks) == 2 * 2 * 2 * 2 * 2
    assert len({t.key for t in tasks}) == len(tasks)
    assert tasks[0].key == "logistic__n0__regular__s0__sysid"
    assert 'name = "sir"' in tasks[-1].problem_text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"samplings": ["dense"]}, r"unknown sampling \['dense'\]"),
        ({"methods": ["sysid", "eureqa"]}, r"unknown method or baseline \['eureqa'\]"),
        ({"seeds": 0}, "seeds must be a positive integer, found 0"),
        ({"noise": [-0.1]}, "noise levels must be numbers >= 0, found -0.1"),
    ],
)
def test_bad_grid(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        build_tasks(["logistic"], **kwargs)


def test_outputs(tiny_run):
    out = tiny_run.outdir
    assert len(tiny_run.rows) == 1
    row = tiny_run.rows[0]
    assert row["error"] == "" and row["structure_recovered"] is True
    info = json.loads((out / "results.json").read_text())
    assert info["rows"][0]["problem"] == "logistic"
    assert info["environment"]["packages"]["torch"]
    with open(out / "results.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == bench_mod.COLUMNS
    assert rows[0]["structure_recovered"] == "True"
    report = (out / "report.md").read_text()
    assert "Exact-structure recovery rate" in report and "| sysid | regular | 1/1 |" in report
    assert (out / "recovery.png").stat().st_size > 5_000


def test_resume_skips_finished_tasks(tiny_run, monkeypatch):
    def boom(task):
        raise AssertionError("a finished task was run again")

    monkeypatch.setattr(bench_mod, "run_task", boom)
    again = bench_mod.bench(["logistic"], outdir=tiny_run.outdir, **TINY)
    assert rows_equal(again.rows, tiny_run.rows)


def test_failing_task_is_recorded_and_suite_goes_on(fast_defaults, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "blowup.toml").write_text(
        'name = "blowup"\nstates = ["x"]\nparameters = {}\nequations = { x = "x**2" }\n'
        "t_span = [0.0, 5.0]\ninitial_conditions = [[1.0], [2.0], [3.0]]\n"
    )
    (bad / "logistic.toml").write_text((bench_mod.load_problem("logistic").path).read_text())
    res = bench_mod.bench(outdir=tmp_path / "out", problems_dir=str(bad), **TINY)
    by = {r["problem"]: r for r in res.rows}
    assert "SimulationError" in by["blowup"]["error"]
    assert by["blowup"]["structure_recovered"] is False
    assert by["logistic"]["error"] == ""
    assert "## Failed tasks" in (tmp_path / "out" / "report.md").read_text()


def test_time_limit_is_recorded(fast_defaults):
    grid = {"noise": [0.01], "samplings": ["regular"], "seeds": 1}
    task = build_tasks(["logistic"], **grid, time_limit=0.01)[0]
    row = run_task(task)
    assert row["error"] == "timed out after 0.01 s"


def test_summary_rates():
    rows = [
        {
            "method": "m",
            "noise": 0.0,
            "sampling": "regular",
            "structure_recovered": ok,
            "max_coefficient_relative_error": 0.01,
            "holdout_r2": 0.9,
            "error": "",
            "seconds": 1.0,
        }
        for ok in (True, False, True, True)
    ]
    (s,) = summarise(rows)
    assert s["recovered"] == 3 and s["recovery_rate"] == 0.75 and s["cells"] == 4
    assert s["train_r2_over_0.9"] is None  # rows written before the column existed
    assert s["holdout_r2_over_0.9"] == 0.0  # 0.9 itself is not above 0.9
    for r, fit in zip(rows, (0.95, None, 0.5, 0.99), strict=True):
        r["train_r2"] = fit
    (s,) = summarise(rows)
    assert s["train_r2_over_0.9"] == pytest.approx(0.5)


def test_dask_gives_identical_results(tiny_run, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        res = bench_mod.bench(
            ["logistic"], outdir=tmp_path / "dask", scheduler=cluster.scheduler_address, **TINY
        )
    assert rows_equal(res.rows, tiny_run.rows)
    info = json.loads((tmp_path / "dask" / "results.json").read_text())
    assert info["config"]["executor"].startswith("dask ")


@pytest.mark.skipif(not pysindy_available(), reason="pysindy not installed")
def test_pysindy_baseline_runs_on_same_data(fast_defaults, tmp_path):
    res = bench_mod.bench(["logistic"], outdir=tmp_path, baselines=["pysindy"], **TINY)
    methods = {r["method"]: r for r in res.rows}
    assert set(methods) == {"sysid", "pysindy"}
    assert methods["pysindy"]["error"] == ""
    assert "N" in methods["pysindy"]["equations"]


def test_bench_without_sysid_needs_a_baseline(tmp_path):
    with pytest.raises(ConfigError, match="nothing to run: sysid is left out"):
        bench_mod.bench(["logistic"], outdir=tmp_path, run_sysid=False, **TINY)


@pytest.mark.skipif(not pysindy_available(), reason="pysindy not installed")
def test_baselines_first_then_sysid_in_the_same_outdir(fast_defaults, tmp_path, tiny_run):
    only = bench_mod.bench(
        ["logistic"], outdir=tmp_path, baselines=["pysindy"], run_sysid=False, **TINY
    )
    assert [r["method"] for r in only.rows] == ["pysindy"]
    both = bench_mod.bench(["logistic"], outdir=tmp_path, baselines=["pysindy"], **TINY)
    by_method = {r["method"]: r for r in both.rows}
    assert set(by_method) == {"sysid", "pysindy"}
    assert by_method["pysindy"] == only.rows[0]  # resumed, not rerun
    assert rows_equal([by_method["sysid"]], tiny_run.rows)


def test_single_protocol_gives_one_trajectory_with_relative_noise(fast_defaults, tmp_path):
    with pytest.raises(ConfigError, match="unknown protocol 'odd'"):
        build_tasks(["logistic"], protocol="odd")
    (task,) = build_tasks(
        ["logistic"], noise=[0.1], samplings=["regular"], seeds=1, protocol="single"
    )
    assert task.key == "logistic__n0.1__regular__s0__sysid__single"
    res = bench_mod.bench(["logistic"], outdir=tmp_path, protocol="single", **TINY)
    (row,) = res.rows
    assert row["protocol"] == "single" and row["error"] == ""
    info = json.loads((tmp_path / "results.json").read_text())
    assert info["config"]["protocol"] == "single"
    assert "protocol: single" in (tmp_path / "report.md").read_text()
