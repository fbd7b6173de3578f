"""Faults during long work are survived, reported, and lose no finished work.

NaN losses and solver step underflow while fitting the neural field, stiff and
blowing-up candidate models, time limits, and Ctrl-C (``KeyboardInterrupt``)
at each stage of :func:`sysid.discover` and of ``sysid discover``. Faults are
injected by monkeypatching one function; each run uses tiny budgets.
"""

from __future__ import annotations

import copy
import functools
import json
import warnings

import numpy as np
import pytest
import sympy as sp
from conftest import VALID_PROBLEM

import sysid
from sysid import (
    DiscoveryResult,
    SimulationError,
    SymbolicModel,
    SysidWarning,
    TrainingError,
    discovery,
    pipeline,
    select_model,
)
from sysid.cli import main
from sysid.core.expressions import state_symbols, term_complexity
from sysid.data import simulation as simulate_module
from sysid.data.problems import problem_from_dict
from sysid.neural import train as _neural_train
from sysid.select import selection as selection_module
from sysid.symbolic.sparse import Candidate

#: A discover run of a few seconds (the result is not expected to be accurate).
TINY = {
    "neural": {"width": 8, "max_epochs": 4, "pretrain_epochs": 50},
    "library": {"degree": 2, "trig": False},
    "distill_options": {"max_terms": 2},
    "select_options": {"time_limit": 2.0, "ensemble": 0},
    "expression_search": "never",
    "quiet": True,
}


@pytest.fixture(scope="module")
def lv():
    """Lotka-Volterra, 3 trajectories x 40 samples, 1% noise."""
    return sysid.simulate("lotka-volterra", n_samples=40, noise=0.01, seed=0)


def _faulty_objective(fail_on, make_fault):
    """``objective`` that fails at the given calls (1-based): raises, or returns NaN."""
    real = _neural_train.objective
    calls = {"n": 0}

    @functools.wraps(real)
    def objective(*args, **kwargs):
        calls["n"] += 1
        total, parts, z = real(*args, **kwargs)
        if fail_on is None or calls["n"] in fail_on:
            fault = make_fault()
            if fault is None:
                return total * float("nan"), parts, z
            raise fault
        return total, parts, z

    return objective


def _interrupting(real, after: int = 0):
    """``real`` with its signature, raising KeyboardInterrupt on call ``after + 1``."""
    calls = {"n": 0}

    @functools.wraps(real)
    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > after:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    return wrapper


def _finite_model(res: DiscoveryResult) -> bool:
    return all(np.isfinite(float(c)) for c in res.model.coefficients().values())


# --------------------------------------------------------- the neural field
@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (lambda: None, "loss is nan"),
        (lambda: AssertionError("underflow in dt 1e-300"), "underflow in dt"),
    ],
    ids=["nan-loss", "step-underflow"],
)
def test_discover_survives_a_numerical_fault_in_training(lv, monkeypatch, fault, message):
    monkeypatch.setattr(_neural_train, "objective", _faulty_objective({2}, fault))
    res = sysid.discover(lv, **TINY)
    events = res.field.history_["events"]
    assert any(message in e["message"] and e["kind"] == "fault" for e in events)
    info = res.to_dict()["neural"]
    assert info["status"] in {"converged", "max_epochs", "timeout"}
    assert np.isfinite(res.field.history_["loss"]).all()
    assert _finite_model(res) and "interrupted" not in res.extra


def test_persistent_nan_loss_is_reported_with_remedies_and_the_warm_start(lv, monkeypatch):
    monkeypatch.setattr(_neural_train, "objective", _faulty_objective(None, lambda: None))
    with pytest.raises(TrainingError, match=r"loss is nan.*Remedies: lower lr") as info:
        sysid.discover(lv, **TINY)
    kept = info.value.field  # the spline warm start is not lost
    assert kept.status_ == "fault"
    assert np.isfinite(kept.predict(lv[0].x)).all()


def test_neural_time_limit_still_gives_a_usable_result(lv):
    neural = {"width": 8, "max_epochs": 100_000, "pretrain_epochs": 50, "time_limit": 0.5}
    res = sysid.discover(lv, **{**TINY, "neural": neural})
    info = res.to_dict()["neural"]
    assert info["status"] == "timeout" and "time_limit=0.5" in info["message"]
    # On a loaded machine the preparation and warm start use up the 0.5 s and no
    # training epoch runs: the warm-start field must then serve just as well.
    assert info["fit_s"] < 5.0 and 0 <= info["epochs"] < 100_000
    assert res.selection is not None and res.selection.winner is not None
    x = res.model.simulate(lv[0].x[0], lv[0].t[:10])
    assert x.shape == (10, 2) and np.isfinite(x).all()


# ------------------------------------------------- stiff and exploding models
def test_stiff_candidate_fails_fast_with_a_named_reason():
    vdp = SymbolicModel.from_equations(["u", "v"], {"u": "v", "v": "1000*(1 - u**2)*v - u"})
    with pytest.raises(SimulationError, match=r"more than 5000 right-hand-side evaluations.*stiff"):
        vdp.simulate([2.0, 0.0], np.linspace(0.0, 3000.0, 50), max_evals=5000)


def test_simulation_time_limit_is_a_simulation_error():
    vdp = SymbolicModel.from_equations(["u", "v"], {"u": "v", "v": "1000*(1 - u**2)*v - u"})
    with pytest.raises(SimulationError, match=r"simulation from \[2\.0, 0\.0\] failed: .*time"):
        vdp.simulate([2.0, 0.0], np.linspace(0.0, 3000.0, 50), max_evals=10**9, time_limit=0.05)


def test_stiff_problem_is_simulated_by_the_stiff_fallback():
    robertson = copy.deepcopy(VALID_PROBLEM)
    robertson.update(
        states=["a", "b", "c"],
        parameters={"k1": 0.04, "k2": 1e4, "k3": 3e7},
        equations={"a": "-k1*a + k2*b*c", "b": "k1*a - k2*b*c - k3*b**2", "c": "k3*b**2"},
        t_span=[0.0, 40.0],
        initial_conditions=[[1.0, 0.0, 0.0]],
        holdout_initial_conditions=[],
        units={},
    )
    x = sysid.simulate(problem_from_dict(robertson), n_samples=20)[0].x
    assert np.isfinite(x).all()
    np.testing.assert_allclose(x.sum(axis=1), 1.0, atol=1e-8)  # mass is conserved
    np.testing.assert_allclose(x[-1], [0.7158, 9.185e-6, 0.2842], rtol=1e-3)  # Hairer-Wanner


def _candidate(state: str, terms, coefs, loss: float) -> Candidate:
    expr = sp.Add(*[sp.Float(c) * t for c, t in zip(coefs, terms, strict=True)])
    complexity = sum(term_complexity(t) + 1 for t in terms)
    return Candidate(state, expr, tuple(terms), np.array(coefs, float), complexity, loss, (), 10)


@pytest.fixture(scope="module")
def lv_clean():
    return sysid.simulate("lotka-volterra", n_samples=60, seed=0)


def test_blowing_up_candidate_is_dropped_with_its_reason(lv_clean):
    x, y = state_symbols(["x", "y"])
    good_x = _candidate("x", [x, x * y], [1.1, -0.4], 0.05)
    exploding_x = _candidate("x", [x, x * y, x**3], [1.1, -0.4, 0.5], 0.01)  # the knee
    good_y = _candidate("y", [x * y, y], [0.1, -0.4], 0.01)
    model, report = select_model(
        {"x": [good_x, exploding_x], "y": [good_y]}, lv_clean, time_limit=20.0
    )
    failed = [c for c in report.candidates if c.status == "failed"]
    assert len(failed) == 1 and "x**3" in failed[0].equations["x"]
    assert "blow-up" in failed[0].reason
    assert report.winner is not None and report.candidates[report.winner].status == "ok"
    assert "Failed and dropped: #0: refit: blow-up" in report.explanation
    assert str(model.equations["x"]) == "-0.4*x*y + 1.1*x"
    assert report.to_dict()["candidates"][0]["reason"] == failed[0].reason


def test_when_every_candidate_fails_the_knee_is_returned_with_the_reasons(lv_clean):
    x, y = state_symbols(["x", "y"])
    fronts = {
        "x": [_candidate("x", [x**2], [2.0], 0.1)],
        "y": [_candidate("y", [y**3], [1.0], 0.1)],
    }
    model, report = select_model(fronts, lv_clean, time_limit=5.0)
    assert report.winner is None
    assert all(c.status == "failed" and c.reason for c in report.candidates)
    assert "Every candidate failed" in report.explanation and "Remedies" in report.explanation
    assert model.coefficients() == {("x", "x**2"): 2.0, ("y", "y**3"): 1.0}


# ---------------------------------------------------------------- Ctrl-C
def _patch_stage(monkeypatch, stage: str) -> dict:
    """Make ``stage`` raise KeyboardInterrupt; return extra discover options."""
    if stage == "neural":  # inside the training loop, after one good epoch
        monkeypatch.setattr(
            _neural_train, "objective", _faulty_objective({2}, lambda: KeyboardInterrupt())
        )
    elif stage == "distill":
        monkeypatch.setattr(pipeline, "distill", _interrupting(pipeline.distill))
    elif stage == "search":
        monkeypatch.setattr(pipeline, "search", _interrupting(pipeline.search))
        return {"expression_search": "always"}
    else:  # inside select_model: the second refit of a candidate
        monkeypatch.setattr(selection_module, "refine", _interrupting(selection_module.refine, 1))
    return {}


@pytest.mark.parametrize("stage", ["neural", "distill", "search", "select"])
def test_ctrl_c_returns_the_work_done_so_far(lv, monkeypatch, tmp_path, stage):
    options = {**TINY, **_patch_stage(monkeypatch, stage)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SysidWarning)  # "interrupted by the user"
        res = sysid.discover(lv, **options)
    assert res.extra["interrupted"] == stage == res.interrupted
    assert res.field is not None and np.isfinite(res.field.predict(lv[0].x)).all()
    info = res.to_dict()
    assert info["interrupted"] == stage and "total_s" in info["timings"]
    res.save(tmp_path, figures=True)
    back = DiscoveryResult.load(tmp_path)
    if stage == "distill":  # no front was finished: no equations, never dx/dt = 0
        assert res.model is None and res.equations == {} and info["equations"] == {}
        assert str(res) == "no equations: interrupted during 'distill' before any were found"
        assert back.model is None and not (tmp_path / "model.json").exists()
        assert "partial" not in info
        return
    # The partial field (neural) or the finished fronts are distilled: the knees, every
    # state with at least one term, and the result says what they are.
    assert res.model.states == ("x", "y") and _finite_model(res)
    assert all(len(res.model.equations[s].args) > 0 for s in ("x", "y"))
    assert all(e != 0 for e in res.equations.values())
    assert "not refitted" in info["partial"] and "partial: interrupted" in str(res)
    if stage == "neural":
        assert "partially trained field" in info["partial"]
    if stage in ("search", "select"):  # the fronts were finished: nothing of them is lost
        assert set(res.fronts) == {"x", "y"} and all(res.fronts.values())
        assert res.model.n_params > 0
    assert back.model.to_dict()["equations"] == res.model.to_dict()["equations"]
    assert json.loads((tmp_path / "result.json").read_text())["interrupted"] == stage


def test_second_ctrl_c_while_distilling_a_partial_field_gives_no_equations(lv, monkeypatch):
    _patch_stage(monkeypatch, "neural")
    monkeypatch.setattr(pipeline, "distill", _interrupting(pipeline.distill))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SysidWarning)
        est = sysid.SysID(
            field=sysid.NeuralField(**TINY["neural"]),
            library=TINY["library"],
            distiller=sysid.Distiller(max_terms=2),
            search=sysid.ExpressionSearch(mode="never"),
            quiet=True,
        ).fit(lv)
    res = est.result_
    assert res.interrupted == "neural" and res.model is None and res.fronts == {}
    with pytest.raises(sysid.NotFittedError, match="interrupted during 'neural'.*fit.data. again"):
        est.predict(lv[0].x)


def test_cli_discover_saves_partial_results_on_ctrl_c(
    lv, fast_defaults, monkeypatch, tmp_path, capsys
):
    # Interrupted after the field is fitted, while distilling equations from it.
    tiny = functools.partial(discovery.discover, neural=dict(TINY["neural"]))
    monkeypatch.setattr(discovery, "discover", tiny)  # the CLI takes no stage options
    monkeypatch.setattr(pipeline, "distill", _interrupting(pipeline.distill))
    csv, out = tmp_path / "lv.csv", tmp_path / "out"
    lv.to_csv(csv)
    code = main(["discover", str(csv), "-o", str(out), "--no-figures", "--quiet"])
    captured = capsys.readouterr()
    assert code == 130
    assert "interrupted during 'distill'" in captured.err and "result.json" in captured.err
    # No front was finished: no equation is printed or saved, least of all dx/dt = 0.
    assert "dx/dt" not in captured.out
    assert "no equations: interrupted during 'distill'" in captured.out
    saved = json.loads((out / "result.json").read_text())
    assert saved["interrupted"] == "distill" and saved["equations"] == {}
    assert saved["neural"]["epochs"] == 4
    assert (out / "field" / "weights.pt").is_file() and not (out / "model.json").exists()


def test_cli_discover_ctrl_c_while_training_prints_the_partial_knees(
    lv, fast_defaults, monkeypatch, tmp_path, capsys
):
    tiny = functools.partial(discovery.discover, neural=dict(TINY["neural"]))
    monkeypatch.setattr(discovery, "discover", tiny)
    _patch_stage(monkeypatch, "neural")
    csv, out = tmp_path / "lv.csv", tmp_path / "out"
    lv.to_csv(csv)
    code = main(["discover", str(csv), "-o", str(out), "--quiet"])
    printed = capsys.readouterr().out
    assert code == 130
    assert printed.startswith("partial result (interrupted during 'neural'): the knees")
    assert "dx/dt = " in printed and "dx/dt = 0\n" not in printed
    assert (out / "trajectories.png").is_file() and (out / "model.json").is_file()


def test_cli_ctrl_c_elsewhere_is_one_line_and_exit_130(monkeypatch, capsys):
    monkeypatch.setattr(simulate_module, "integrate", _interrupting(lambda *a, **k: None))
    assert main(["simulate", "sir", "--quiet"]) == 130
    assert capsys.readouterr().err.strip() == "sysid: error: interrupted"
