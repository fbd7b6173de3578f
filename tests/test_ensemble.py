"""Structural uncertainty: the selection repeated on random halves of the data."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

import sysid
from sysid import ConfigError, Dataset, Selection, SymbolicModel, diagnose
from sysid.cli import main
from sysid.report.scoring import inclusion_of_truth
from sysid.select.ensemble import half_sample, run_ensemble
from sysid.symbolic.library import Library

LOGISTIC = {"N": "0.5*N - 0.005*N**2"}


@pytest.fixture(scope="module")
def logistic():
    """Logistic growth, 3 trajectories x 40 samples, 2% noise."""
    return sysid.simulate("logistic", n_samples=40, noise=0.02, seed=0)


@pytest.fixture(scope="module")
def fronts(logistic):
    """Pareto fronts of the library on the true derivatives at the data's points."""
    _, x = logistic.stacked()
    x = x[np.isfinite(x).all(axis=1)]
    dxdt = 0.5 * x - 0.005 * x**2
    return sysid.distill(x, dxdt, ["N"], Library(["N"], degree=3), max_terms=3)


@pytest.fixture(scope="module")
def law():
    return SymbolicModel.from_equations(["N"], LOGISTIC)


@pytest.fixture(scope="module")
def report(fronts, logistic):
    """The selection among the fronts: what the members choose from."""
    return sysid.select_model(fronts, logistic)[1]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ensemble": -1}, r"ensemble must be an integer >= 0, found -1"),
        ({"ensemble": 2.5}, r"ensemble must be an integer >= 0, found 2.5"),
        ({"ensemble_fraction": 1.0}, r"ensemble_fraction must be a finite number in \(0, 1\)"),
        ({"ensemble_fraction": 0}, r"ensemble_fraction must be a finite number in \(0, 1\)"),
        ({"ensemble_jobs": 0}, r"ensemble_jobs must be an integer >= 1, found 0"),
        ({"ensemble_time_limit": 0}, r"ensemble_time_limit must be a finite number > 0"),
    ],
)
def test_bad_ensemble_options_are_refused(options, message):
    with pytest.raises(ConfigError, match=message):
        Selection(**options)


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(min_value=3, max_value=60),
    fraction=st.floats(min_value=0.05, max_value=0.95),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_half_sample_keeps_a_sorted_part_of_each_trajectory(n, fraction, seed):
    t = np.linspace(0.0, 1.0, n)
    ds = Dataset.from_arrays([t, t], [np.exp(-t)[:, None], np.exp(t)[:, None]], states=["x"])
    a = half_sample(ds, fraction, np.random.default_rng(seed))
    b = half_sample(ds, fraction, np.random.default_rng(seed))
    k = round(fraction * n)
    for full, part, again in zip(ds, a, b, strict=True):
        assert part.n_samples == (k if k >= 6 else n)
        assert np.all(np.diff(part.t) > 0)
        assert np.isin(part.t, full.t).all()
        np.testing.assert_array_equal(part.t, again.t)


def test_an_ensemble_on_a_clear_law_includes_its_terms_only(logistic, report, law):
    e = run_ensemble(report, logistic, law, members=4, jobs=1, seed=0)
    assert (e["members"], e["finished"], e["failed"], e["out_of_time"]) == (4, 4, [], False)
    rows = {r["term"]: r for r in e["terms"]["N"]}
    assert set(rows) == {"N", "N**2"}
    assert all(r["chosen"] and r["inclusion"] == 1.0 for r in rows.values())
    assert rows["N"]["coefficient_median"] == pytest.approx(0.5, rel=0.05)
    assert rows["N**2"]["coefficient_q05"] <= rows["N**2"]["coefficient_median"]
    assert rows["N**2"]["coefficient_median"] <= rows["N**2"]["coefficient_q95"]
    assert e["chosen_structure"] == 1.0
    assert sum(s["members"] for s in e["structures"]) == 4
    assert inclusion_of_truth(e, LOGISTIC) == {"true_min": 1.0, "false_max": 0.0}
    json.dumps(e)  # result.json material


def test_the_ensemble_does_not_depend_on_the_number_of_processes(logistic, report, law):
    here = run_ensemble(report, logistic, law, members=3, jobs=1, seed=5)
    there = run_ensemble(report, logistic, law, members=3, jobs=2, seed=5)
    assert there["jobs"] == 2
    for key in ("terms", "structures", "chosen_structure", "finished"):
        assert here[key] == there[key]


def test_an_ensemble_out_of_time_says_so_and_keeps_what_finished(logistic, report, law):
    e = run_ensemble(report, logistic, law, members=4, jobs=1, time_limit=1e-9)
    assert e["out_of_time"] and e["finished"] == 0 and e["chosen_structure"] is None
    assert all(r["inclusion"] is None for r in e["terms"]["N"])
    assert inclusion_of_truth(e, LOGISTIC) == {"true_min": None, "false_max": None}
    assert diagnose(law, logistic, ensemble=e)["verdict"] == "good"


def _block(inclusion: float, finished: int) -> dict:
    return {
        "finished": finished,
        "terms": {
            "N": [
                {"term": "N", "shape": "N", "chosen": True, "inclusion": 1.0},
                {"term": "N**2", "shape": "N**2", "chosen": True, "inclusion": inclusion},
            ]
        },
    }


def test_terms_the_members_disagree_on_make_the_verdict_doubtful(logistic, law):
    d = diagnose(law, logistic, ensemble=_block(0.25, 8))
    assert d["verdict"] == "doubtful"
    (r,) = d["reasons"]
    assert r["code"] == "unstable_structure"
    assert "'N**2' of dN/dt, chosen by 25% of them" in r["message"]
    assert diagnose(law, logistic, ensemble=_block(0.25, 3))["verdict"] == "good"
    assert diagnose(law, logistic, ensemble=_block(0.75, 8))["verdict"] == "good"
    left_out = _block(1.0, 8)
    left_out["terms"]["N"].append({"term": "1", "shape": "1", "chosen": False, "inclusion": 0.75})
    (r,) = diagnose(law, logistic, ensemble=left_out)["reasons"]
    assert "'1' in dN/dt, left out but chosen by 75%" in r["message"]


def test_inclusion_of_truth_matches_terms_as_the_scorer_does():
    block = {
        "finished": 8,
        "structures": [
            {"members": 7, "equations": {"S": "-1.49*S/(S + 2.1)"}},
            {"members": 1, "equations": {"S": "-0.61*S + 0.05*S**2"}},
        ],
    }
    assert inclusion_of_truth(block, {"S": "-1.5*S/(S + 2)"}) == {
        "true_min": 0.875,
        "false_max": 0.125,
    }
    assert inclusion_of_truth(block, {"S": "-1.5*S"})["true_min"] == 0.125
    gompertz = {
        "finished": 2,
        "structures": [{"members": 2, "equations": {"N": "-0.3*N*log(N) + 1.1736*N"}}],
    }
    truth = {"N": "0.3*N*(log(50) - log(N))"}
    assert inclusion_of_truth(gompertz, truth) == {"true_min": 1.0, "false_max": 0.0}


def test_discover_writes_the_ensemble_and_its_figure(logistic, fast_defaults, tmp_path, capsys):
    csv = tmp_path / "logistic.csv"
    logistic.to_csv(csv)
    assert main(["discover", str(csv), "-q", "--ensemble", "2", "-o", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"term inclusion over [12] of 2 ensemble members", out)
    assert re.search(r"^  dN/dt  N", out, re.MULTILINE)
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["ensemble"]["members"] == 2
    schema = json.loads((Path(__file__).parents[1] / "docs" / "result.schema.json").read_text())
    Draft202012Validator(schema).validate(result)
    assert "ensemble_s" in result["timings"]
    assert (tmp_path / "out" / "inclusion.png").stat().st_size > 0


def test_a_bad_ensemble_option_stops_the_cli_before_any_work(logistic, tmp_path, capsys):
    csv = tmp_path / "logistic.csv"
    logistic.to_csv(csv)
    assert main(["discover", str(csv), "--ensemble", "-3", "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "--ensemble: must be 0 or more members, found -3" in err
    assert "fitting the neural vector field" not in err


@pytest.fixture(scope="module")
def without_ensemble(logistic, fast_defaults):
    """A fast discovery with the ensemble off (its field is reused below)."""
    return sysid.discover(logistic, quiet=True, select_options={"ensemble": 0})


def test_ensemble_zero_writes_no_ensemble(without_ensemble, tmp_path):
    without_ensemble.save(tmp_path / "off")
    assert not (tmp_path / "off" / "inclusion.png").exists()
    assert not (tmp_path / "off" / "figures_failed.txt").exists()
    assert without_ensemble.ensemble is None
    assert "ensemble" not in without_ensemble.to_dict()
    assert "ensemble_s" not in without_ensemble.timings
    with pytest.raises(ValueError, match="no ensemble: it was turned off"):
        without_ensemble.plot_inclusion()


def test_ctrl_c_in_the_ensemble_keeps_the_model_and_the_members_done(
    logistic, without_ensemble, monkeypatch
):
    import sysid.select.selection as selection

    real, calls = selection.score_systems, []

    def stop_at_the_second_member(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(selection, "score_systems", stop_at_the_second_member)
    res = sysid.discover(logistic, quiet=True, select_options={"ensemble": 3, "ensemble_jobs": 1})
    assert res.interrupted == "ensemble"
    assert res.model is not None and "ensemble did not finish" in res.extra["partial"]
    assert res.ensemble["interrupted"] and res.ensemble["finished"] == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"members": 0}, r"run_ensemble: members must be an integer >= 1, found 0"),
        ({"fraction": 2}, r"ensemble_fraction must be a finite number in \(0, 1\), found 2"),
        ({"jobs": 0}, r"ensemble_jobs must be an integer >= 1, found 0"),
        ({"seed": -1}, r"seed must be an integer in \[0, 2\*\*63 - 1\]"),
    ],
)
def test_run_ensemble_checks_its_options_first(report, logistic, law, options, message):
    with pytest.raises(ConfigError, match=message):
        sysid.run_ensemble(report, logistic, law, **options)


def test_field_members_retrain_distil_and_select(logistic, tmp_path):
    # Two more runs with the next seeds, tiny budgets: each trains its own field.
    selection_options = Selection(time_limit=10.0, ensemble=0, ensemble_fields=2)
    est = sysid.SysID(
        field=sysid.NeuralField(width=8, max_epochs=3, pretrain_epochs=30, seed=3),
        distiller=sysid.Distiller(max_terms=2),
        selection=selection_options,
        seed=None,
        quiet=True,
    )
    with warnings.catch_warnings():  # tiny budgets: the verdict may be doubtful
        warnings.simplefilter("ignore", sysid.ModelWarning)
        est.fit(logistic)
    fe = est.result_.field_ensemble
    assert fe["seeds"] == [4, 5] and fe["members"] == 2 and not fe["interrupted"]
    assert fe["finished"] + len(fe["failed"]) == 2
    assert sum(s["members"] for s in fe["structures"]) == fe["finished"]
    assert all(0.0 <= r["inclusion"] <= 1.0 for r in fe["terms"]["N"])
    assert est.result_.ensemble is None and "ensemble_s" in est.timings_
    path = est.result_.save(tmp_path / "fields", figures=False)
    schema = json.loads((Path(__file__).parents[1] / "docs" / "result.schema.json").read_text())
    Draft202012Validator(schema).validate(json.loads(path.read_text()))
    with pytest.raises(ConfigError, match="ensemble_fields must be an integer >= 0, found -1"):
        Selection(ensemble_fields=-1)


def _recover_in_worker(_: int) -> str:
    import warnings

    import sysid

    warnings.simplefilter("ignore")
    return str(sysid.recover("logistic", noise=0.01, seed=0, quiet=True).model)


@pytest.mark.slow
def test_a_pool_worker_that_ran_discover_exits():
    # The ensemble's worker processes used to live 300 s after their last task and
    # kept a user's pool worker (and so her pool's shutdown) waiting that long.
    import time
    from concurrent.futures import ProcessPoolExecutor

    from sysid.select.ensemble import IDLE_WORKERS_S

    pool = ProcessPoolExecutor(1)
    assert "dN/dt" in pool.submit(_recover_in_worker, 0).result(timeout=300)
    start = time.perf_counter()
    pool.shutdown(wait=True)
    assert time.perf_counter() - start < IDLE_WORKERS_S + 60.0
