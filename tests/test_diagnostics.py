"""Diagnostics: the checks of a model against its data, the verdict, and the ModelWarning."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from test_faults import TINY

import sysid
from sysid import Dataset, ModelWarning, SymbolicModel, diagnose
from sysid.symbolic.model import TermEstimate


@pytest.fixture(scope="module")
def logistic():
    return sysid.simulate("logistic", n_samples=40, seed=0)


@pytest.fixture(scope="module")
def infected():
    """SIR with only I observed: one state that rises and falls."""
    sir = sysid.simulate("sir", n_samples=40, noise=0.01, seed=0)
    return Dataset.from_arrays(sir[0].t, sir[0].x[:, [1]], states=["I"])


def test_the_true_law_is_good(logistic):
    law = SymbolicModel.from_equations(["N"], {"N": "0.5*N - 0.005*N**2"})
    d = diagnose(law, logistic)
    assert d["verdict"] == "good" and d["reasons"] == []
    assert d["r2"]["N"] == pytest.approx(1.0, abs=1e-8)
    assert d["holdout_r2"]["all"] == pytest.approx(1.0, abs=1e-8)
    assert abs(d["residuals"]["N"]["bias"]) < 1e-6


def test_wrong_constants_are_not_good_and_say_why(logistic):
    off = SymbolicModel.from_equations(["N"], {"N": "0.3*N - 0.003*N**2"})
    d = diagnose(off, logistic)
    assert d["verdict"] in ("doubtful", "poor")
    codes = {r["code"] for r in d["reasons"]}
    assert {"low_r2", "correlated_residuals"} <= codes
    low = next(r for r in d["reasons"] if r["code"] == "low_r2")
    assert low["message"] == "simulated 'N' explains 70% of its variance on all data"
    assert "a state or a term is likely missing" in low["remedy"]


def test_one_state_that_rises_and_falls_points_to_a_hidden_state(infected):
    decay = SymbolicModel.from_equations(["I"], {"I": "5 - 0.1*I"})
    d = diagnose(decay, infected)
    assert d["verdict"] == "poor" and d["data"]["rises_and_falls"] is True
    hidden = next(r for r in d["reasons"] if r["code"] == "hidden_state")
    assert "an unobserved state is likely" in hidden["message"]
    assert "sysid.fit_model(equations, data, observed=['I']" in hidden["remedy"]


def test_weak_and_correlated_constants_and_implausible_starts(logistic):
    weak = SymbolicModel(
        ["N"],
        [
            TermEstimate("N", sysid.parse_equation("N", ["N"]), 0.5, 0.01),
            TermEstimate("N", sysid.parse_equation("N**2", ["N"]), -0.005, 0.004),
        ],
    )
    starts = [[tr.x[0, 0]] for tr in logistic]
    starts[1] = [-500.0]
    d = diagnose(
        weak, logistic, correlation=[[1.0, -0.9995], [-0.9995, 1.0]], initial_states=starts
    )
    by_code = {r["code"]: r for r in d["reasons"]}
    assert by_code["insignificant_constants"]["message"] == (
        "constants within 2 standard errors of zero: dN/dt: N**2 (1.2)"
    )
    assert "correlated at 0.9995" in by_code["unidentifiable"]["message"]
    assert "'N' of trajectory 1 starts at -500" in by_code["start_outside_data"]["message"]
    assert d["constants"]["between"] == ["dN/dt: N", "dN/dt: N**2"]
    assert d["verdict"] != "good"


def test_a_state_that_barely_moves(logistic):
    t = logistic[0].t
    x = np.c_[logistic[0].x[:, 0], 1000.0 + 1e-6 * np.sin(t)]
    ds = Dataset.from_arrays(t, x, states=["N", "c"])
    law = SymbolicModel.from_equations(["N", "c"], {"N": "0.5*N - 0.005*N**2", "c": "0"})
    d = diagnose(law, ds)
    moved = next(r for r in d["reasons"] if r["code"] == "state_barely_moves")
    assert moved["message"] == "state(s) ['c'] barely move: their equations rest on noise"


def test_a_model_that_cannot_be_simulated_is_poor(logistic):
    blow = SymbolicModel.from_equations(["N"], {"N": "N**3"})
    d = diagnose(blow, logistic)
    assert d["verdict"] == "poor" and d["reasons"][0]["code"] == "simulation_failed"
    assert d["r2"]["all"] is None


def test_discover_warns_and_records_the_verdict(infected, tmp_path):
    with pytest.warns(ModelWarning, match=r"verdict poor: .*an unobserved state is likely"):
        res = sysid.discover(infected, **TINY)
    assert res.verdict == "poor" and res.diagnostics["reasons"]
    res.save(tmp_path, figures=False)
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["diagnostics"]["verdict"] == "poor"
    assert "diagnose_s" in saved["timings"]


@pytest.mark.slow
def test_discover_of_a_recoverable_law_gives_no_model_warning(logistic):
    with warnings.catch_warnings():  # the default configuration: a tiny run fits too loosely
        warnings.simplefilter("error", ModelWarning)
        res = sysid.discover(logistic, quiet=True)
    assert res.verdict == "good", res.diagnostics["reasons"]
