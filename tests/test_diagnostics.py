"""Diagnostics: the checks of a model against its data, the verdict, and the ModelWarning."""

from __future__ import annotations

import json
import re
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
    # 20-sample windows from fitted starts still follow the data (R^2 0.97):
    # the model drifts over whole trajectories, it does not miss a state.
    assert {"drifts_over_long_horizons", "correlated_residuals"} <= codes
    assert d["window_r2"]["N"] == pytest.approx(0.97, abs=0.01)
    drift = next(r for r in d["reasons"] if r["code"] == "drifts_over_long_horizons")
    assert "'N' (97%)" in drift["message"] and "constants" in drift["message"]
    assert "result.forecast" in drift["remedy"]


def test_a_model_that_misses_the_dynamics_even_over_windows_is_poor(logistic):
    flat = SymbolicModel.from_equations(["N"], {"N": "-0.5*N"})
    d = diagnose(flat, logistic)
    assert d["window_r2"]["N"] < 0.5 and d["verdict"] == "poor"
    low = next(r for r in d["reasons"] if r["code"] == "low_r2")
    assert re.fullmatch(r"simulated 'N' explains \d+% of its variance on all data", low["message"])
    assert "a state or a term is likely missing" in low["remedy"]


def test_one_state_that_rises_and_falls_points_to_a_hidden_state(infected):
    decay = SymbolicModel.from_equations(["I"], {"I": "5 - 0.1*I"})
    d = diagnose(decay, infected)
    assert d["verdict"] == "poor" and d["data"]["rises_and_falls"] is True
    hidden = next(r for r in d["reasons"] if r["code"] == "hidden_state")
    assert "an unobserved state is likely" in hidden["message"]
    assert "observed = ['I'] and 'sysid fit MODEL.toml DATA.csv'" in hidden["remedy"]


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


# ------------------------------------------------------------ bands and forecast
def _law(se_r: float, se_q: float) -> SymbolicModel:
    n = sysid.parse_equation("N", ["N"])
    return SymbolicModel(
        ["N"], [TermEstimate("N", n, 0.5, se_r), TermEstimate("N", n**2, -0.005, se_q)]
    )


def test_prediction_band_holds_the_model_and_widens_with_the_errors():
    from sysid.report.bands import prediction_band

    t = np.linspace(0, 15, 31)
    narrow = prediction_band(_law(0.005, 5e-5), [2.0], t, seed=1)
    wide = prediction_band(_law(0.02, 2e-4), [2.0], t, seed=1)
    for band in (narrow, wide):
        assert (band["lower"] <= band["model"]).all() and (band["model"] <= band["upper"]).all()
    width = [(b["upper"] - b["lower"])[:, 0] for b in (narrow, wide)]
    assert width[0][0] == pytest.approx(0.0, abs=1e-9)  # the start is held
    assert (width[1][5:] > width[0][5:]).all()
    again = prediction_band(_law(0.02, 2e-4), [2.0], t, seed=1)
    np.testing.assert_array_equal(again["upper"], wide["upper"])  # seeded
    exact = prediction_band(_law(0.0, 0.0), [2.0], t)
    np.testing.assert_allclose(exact["upper"], exact["model"], rtol=1e-12)


def test_prediction_band_follows_the_correlation():
    from sysid.report.bands import prediction_band

    t = np.linspace(0, 15, 31)
    # N' = r N + c N**2 with c = -r/K: r and c drawn against each other (rho = -1) keep
    # the carrying capacity K = -r/c, so the end of the band is narrow; rho = +1 moves K
    together = prediction_band(_law(0.02, 2e-4), [2.0], t, correlation=[[1, -1], [-1, 1]])
    apart = prediction_band(_law(0.02, 2e-4), [2.0], t, correlation=[[1, 1], [1, 1]])
    spread = [(b["upper"] - b["lower"])[-1, 0] for b in (together, apart)]
    assert spread[0] < 0.5 * spread[1]
    with pytest.raises(sysid.ConfigError, match=r"correlation must be 2 x 2 .*found \(1, 1\)"):
        prediction_band(_law(0.02, 2e-4), [2.0], t, correlation=[[1.0]])
    with pytest.raises(sysid.ConfigError, match=r"level must be a finite number in \(0, 1\)"):
        prediction_band(_law(0.02, 2e-4), [2.0], t, level=1.0)


def test_forecast_continues_beyond_the_data(logistic):
    res = sysid.DiscoveryResult(
        model=_law(0.01, 1e-4), field=None, fronts={}, selection=None,
        data=logistic, timings={}, seed=0,
    )  # fmt: skip
    out = res.forecast(10.0, trajectory=1, n_draws=20)
    assert out["t_data_end"] == pytest.approx(logistic[1].t[-1])
    assert out["t"][-1] == pytest.approx(logistic[1].t[-1] + 10.0)
    assert out["model"].shape == (200, 1) and out["n_failed"] == 0
    with pytest.raises(sysid.DataError, match=r"trajectory must be an index in \[0, 3\), found 3"):
        res.forecast(1.0, trajectory=3)
    with pytest.raises(sysid.ConfigError, match=r"duration must be a finite number > 0"):
        res.forecast(-1.0)


def test_a_chaotic_model_that_drifts_is_doubtful_not_poor():
    # Lorenz with sigma 2% off: it follows the data over 20-sample windows and
    # drifts away over whole trajectories, as any chaotic model eventually does.
    ds = sysid.simulate("lorenz", seed=0)
    off = {"x": "-10.2*x + 10.2*y", "y": "-x*z + 28*x - y", "z": "x*y - 2.6667*z"}
    d = diagnose(SymbolicModel.from_equations(["x", "y", "z"], off), ds)
    assert d["r2"]["all"] < 0.9
    assert min(d["window_r2"].values()) > 0.99
    assert d["verdict"] == "doubtful"
    codes = [r["code"] for r in d["reasons"]]
    assert "drifts_over_long_horizons" in codes and "low_r2" not in codes
    (r,) = [r for r in d["reasons"] if r["code"] == "drifts_over_long_horizons"]
    assert re.search(
        r"over windows of 20 samples the model explains .* of 'x' \(100%\)", r["message"]
    )
