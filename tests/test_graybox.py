"""Tests of known-structure fitting (:mod:`sysid.fit.graybox`)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import solve_ivp

from sysid.core.errors import ConfigError, DataError, EquationError
from sysid.fit.graybox import GrayBoxResult, fit_model

SIR = {"S": "-beta*S*I/N", "I": "beta*S*I/N - gamma*I", "R": "gamma*I"}
TRUE = {"beta": 1.6, "gamma": 0.45}
N = 763.0
X0 = {"S": 762.0, "I": 1.0, "R": 0.0}
GUESS = {"beta": 1.0, "gamma": 0.3}


def _sir(t: np.ndarray, x0=(762.0, 1.0, 0.0), beta=1.6, gamma=0.45, t0=0.0) -> np.ndarray:
    def f(_, x):
        s, i, _r = x
        return [-beta * s * i / N, beta * s * i / N - gamma * i, gamma * i]

    sol = solve_ivp(f, (t0, t[-1]), list(x0), t_eval=t, rtol=1e-11, atol=1e-9, method="DOP853")
    return sol.y.T


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    """Only I is in the data (S and R are not measured)."""
    t = np.linspace(0.0, 14.0, 29)
    return pd.DataFrame({"t": t, "I": _sir(t)[:, 1]})


@pytest.fixture(scope="module")
def clean_fit(clean) -> GrayBoxResult:
    return fit_model(SIR, clean, parameters=GUESS, fixed={"N": N}, initial_state=X0, observed=["I"])


def test_recovers_sir_rates_from_infected_only(clean_fit):
    res = clean_fit
    assert res.success, res.message
    assert res.observed == ("I",)
    for p, v in TRUE.items():
        assert abs(res.parameters[p] - v) / v < 0.02, (p, res.parameters[p])
    assert res.log_parameters == ("beta", "gamma")  # positive guesses -> log space
    # unobserved states are simulated over the data times and a dense grid
    tr = res.trajectories[0]
    assert tr["x"].shape == (29, 3) and tr["x_dense"].shape[1] == 3
    truth = _sir(tr["t"])
    np.testing.assert_allclose(tr["x"], truth, rtol=0, atol=0.02 * N)
    # total population is conserved by the model
    np.testing.assert_allclose(tr["x_dense"].sum(axis=1), N, rtol=1e-6)
    assert res.rms["I"] < 1.0


def test_noisy_fit_has_honest_standard_errors():
    t = np.linspace(0.0, 14.0, 29)
    i_true = _sir(t)[:, 1]
    rng = np.random.default_rng(3)
    noisy = i_true + 0.03 * i_true.std() * rng.standard_normal(t.size)
    res = fit_model(
        SIR,
        pd.DataFrame({"t": t, "I": noisy}),
        parameters=GUESS,
        fixed={"N": N},
        initial_state=X0,
    )
    assert res.success
    for p, v in TRUE.items():
        est, se = res.parameters[p], res.stderr[p]
        assert 0 < se < 0.1 * v, (p, se)
        assert abs(est - v) < 4 * se + 1e-9, (p, est, se)
        lo, hi = res.intervals[p]
        assert lo < est < hi
    assert res.dof == 29 - 2


def test_estimated_initial_states_and_initial_guess(clean):
    # I(0) estimated from a guess taken from the data, S(0) estimated from a user guess
    res = fit_model(
        SIR,
        clean,
        parameters=GUESS,
        fixed={"N": N},
        initial_state={"R": 0.0, "I": None},
        initial_guess={"S": 700.0},
        bounds={"beta": (0.01, 10.0)},
    )
    assert res.success, res.message
    x0 = res.initial_states[0]
    assert abs(x0["I"] - 1.0) < 0.02
    assert abs(x0["S"] - 762.0) / 762.0 < 0.02
    assert set(res.initial_stderr[0]) == {"S", "I"}
    assert res.covariance.shape == (4, 4)
    for p, v in TRUE.items():
        assert abs(res.parameters[p] - v) / v < 0.02


def test_unobserved_state_without_initial_value_is_refused(clean):
    with pytest.raises(
        ConfigError,
        match=r"state 'S' \(trajectory 0\) is neither known nor guessed, and it is unobserved",
    ):
        fit_model(SIR, clean, parameters=GUESS, fixed={"N": N}, initial_state={"R": 0})


def test_start_before_first_sample_and_column_mapping():
    t = np.arange(1.0, 15.0)
    x = _sir(np.r_[0.0, t])[1:, 1]
    df = pd.DataFrame({"day": t, "in_bed": x})
    res = fit_model(
        SIR,
        df,
        parameters=GUESS,
        fixed={"N": N},
        initial_state=X0,
        columns={"I": "in_bed"},
        time_column="day",
        t0=0.0,
    )
    assert res.t0 == [0.0] and res.columns == {"I": "in_bed"}
    for p, v in TRUE.items():
        assert abs(res.parameters[p] - v) / v < 0.02
    assert res.trajectories[0]["t_dense"][0] == 0.0
    sim = res.simulate([0.0, 1.0])
    np.testing.assert_allclose(sim[0], [762.0, 1.0, 0.0])
    with pytest.raises(DataError, match="before the simulation start"):
        res.simulate([-1.0, 0.0])


def test_several_trajectories_with_own_initial_states():
    t = np.linspace(0.0, 12.0, 25)
    a = _sir(t, x0=(762.0, 1.0, 0.0))[:, 1]
    b = _sir(t, x0=(700.0, 10.0, 53.0))[:, 1]
    df = pd.DataFrame({"trajectory": ["a"] * 25 + ["b"] * 25, "t": np.r_[t, t], "I": np.r_[a, b]})
    res = fit_model(
        SIR,
        df,
        parameters=GUESS,
        fixed={"N": N},
        initial_state=[{"S": 762, "I": 1, "R": 0}, {"S": 700, "I": 10, "R": 53}],
    )
    assert len(res.trajectories) == 2
    for p, v in TRUE.items():
        assert abs(res.parameters[p] - v) / v < 0.02


def test_derived_quantity_delta_method_matches_numerical_gradient(clean_fit):
    res = clean_fit
    r0 = res.derived("beta/gamma")
    b, g = res.parameters["beta"], res.parameters["gamma"]
    assert r0.value == pytest.approx(b / g, rel=1e-12)
    # numerical gradient of beta/gamma, then sqrt(g^T C g)
    h = 1e-6
    grad = np.array([(b + h - (b - h)) / g / (2 * h), (b / (g + h) - b / (g - h)) / (2 * h)])
    se_num = float(np.sqrt(grad @ res.covariance[:2, :2] @ grad))
    assert r0.stderr == pytest.approx(se_num, rel=1e-5)
    assert r0.interval[0] < r0.value < r0.interval[1]
    assert res.derived("N*beta").value == pytest.approx(N * b)
    with pytest.raises(EquationError, match="unknown name 'S'"):
        res.derived("beta*S")


def test_linear_parameters_and_negative_guesses():
    t = np.linspace(0.0, 6.0, 40)
    x = np.cos(1.5 * t) * np.exp(-0.1 * t)
    res = fit_model(
        {"q": "v", "v": "-w2*q + c*v"},
        (t, x),
        parameters={"w2": 2.0, "c": -0.3},
        columns={"q": "x0"},
        initial_state={"q": 1.0},
        initial_guess={"v": 0.0},
    )
    assert res.log_parameters == ("w2",)  # c has a negative guess: linear
    assert res.parameters["c"] == pytest.approx(-0.2, abs=2e-3)
    assert res.parameters["w2"] == pytest.approx(2.25 + 0.01, rel=2e-3)
    assert res.initial_states[0]["v"] == pytest.approx(-0.1, abs=2e-3)


def test_to_dict_is_json_and_figure_is_saved(clean_fit, tmp_path):
    d = clean_fit.to_dict()
    text = json.dumps(d)
    assert json.loads(text)["parameters"]["beta"] == pytest.approx(clean_fit.parameters["beta"])
    assert d["observed"] == ["I"] and d["fixed"] == {"N": N}
    fig = clean_fit.plot(tmp_path / "fit.png")
    assert (tmp_path / "fit.png").stat().st_size > 1000
    assert len(fig.axes) == 3
    path = clean_fit.save(tmp_path / "fit.json")
    assert json.loads(path.read_text())["success"] is True
    assert "beta" in str(clean_fit)


def test_blow_up_during_fit_is_survived_and_reported():
    t = np.linspace(0.0, 4.0, 30)
    x = np.exp(0.5 * t)
    # small blow-up box: a trial step of the fit overshoots and blows up
    res = fit_model(
        {"x": "a*x"},
        (t, x),
        parameters={"a": 0.05},
        columns={"x": "x0"},
        initial_state={"x": 1.0},
        margin=0.5,
    )
    assert res.success, res.message
    assert res.parameters["a"] == pytest.approx(0.5, rel=1e-4)
    assert res.n_failed_simulations > 0
    assert "blow-up" in res.failures[0]


def test_guess_that_cannot_be_simulated_gives_a_failed_result():
    t = np.linspace(0.0, 5.0, 20)
    res = fit_model(
        {"x": "a*x"},
        (t, np.exp(-t)),
        parameters={"a": 4.0},
        columns={"x": "x0"},
        initial_state={"x": 1.0},
    )
    assert not res.success
    assert "initial guess could not be simulated" in res.message
    assert "blow-up" in res.message
    assert np.isnan(res.stderr["a"])
    json.dumps(res.to_dict())


# ------------------------------------------------------------------ bad input
def _df() -> pd.DataFrame:
    t = np.linspace(0.0, 14.0, 15)
    return pd.DataFrame({"t": t, "I": _sir(t)[:, 1]})


BASE = dict(parameters=GUESS, fixed={"N": N}, initial_state=X0)

BAD = [
    (dict(equations={"S": "-beta*S*I/M", "I": "I", "R": "I"}), EquationError, "unknown name 'M'"),
    (dict(equations={"S": "__import__('os')", "I": "I", "R": "I"}), EquationError, "__import__"),
    (dict(equations={"S": "S.__class__", "I": "I", "R": "I"}), EquationError, "forbidden syntax"),
    (dict(equations={}), ConfigError, "non-empty dict"),
    (dict(equations={"S": "", "I": "I", "R": "I"}), EquationError, "empty equation"),
    (dict(equations={"sin": "1", "I": "I"}), ConfigError, "state name 'sin'"),
    (dict(parameters={"beta": 1.0}), EquationError, r"unknown name 'gamma'.*initial guess"),
    (dict(parameters={}), ConfigError, "no unknown parameters"),
    (dict(parameters={"beta": "1", "gamma": 0.3}), ConfigError, "guess of parameter 'beta'"),
    (dict(parameters={"beta": np.nan, "gamma": 0.3}), ConfigError, "must be finite"),
    (dict(parameters={**GUESS, "delta": 1.0}), ConfigError, r"\['delta'\] appear in no"),
    (dict(parameters={**GUESS, "S": 1.0}), ConfigError, "both as state and as parameter"),
    (dict(fixed={"N": N, "beta": 1.0}), ConfigError, "both as unknown parameter and as fixed"),
    (dict(fixed={"N": "763"}), ConfigError, "fixed value of 'N'"),
    (dict(observed=["Q"]), ConfigError, r"\['Q'\] are not states"),
    (dict(observed=["S"]), DataError, r"observed state\(s\) \['S'\] have no data column"),
    (dict(observed=[]), ConfigError, "non-empty list"),
    (
        dict(columns={"I": "in_bed"}),
        DataError,
        r"the column\(s\) \['in_bed'\] of state\(s\) \['I'\] are not in the data",
    ),
    (dict(columns={"Z": "I"}), ConfigError, "columns maps 'Z'"),
    (dict(initial_state={"S": 762, "I": 1, "Q": 0}), ConfigError, r"\['Q'\] are not states"),
    (dict(initial_state={"S": "many", "I": 1, "R": 0}), ConfigError, "initial value of 'S'"),
    (dict(initial_state=[X0, X0]), ConfigError, "list of 1 dicts"),
    (dict(bounds={"beta": (5.0, 1.0)}), ConfigError, "lo < hi"),
    (dict(bounds={"beta": 3.0}), ConfigError, r"must be a pair \(lo, hi\)"),
    (dict(bounds={"beta": (2.0, 5.0)}), ConfigError, "outside its bounds"),
    (dict(bounds={"zeta": (0.0, 1.0)}), ConfigError, "'zeta', which is not an unknown"),
    (dict(log_parameters=["beta", "x"]), ConfigError, r"unknown parameter\(s\) \['x'\]"),
    (dict(parameters={"beta": -1.0, "gamma": 0.3}, log_parameters=True), ConfigError, "log"),
    (dict(t0=3.0), ConfigError, "after the first sample time"),
    (dict(method="Euler"), ConfigError, "unknown solver method 'Euler'"),
    (dict(rtol=0.0), ConfigError, "rtol must be > 0"),
    (dict(max_nfev=0), ConfigError, "max_nfev must be an integer >= 1"),
    (dict(seed=-1), ConfigError, r"seed must be an integer in \[0, 2\*\*63 - 1\]"),
]


@pytest.mark.parametrize(("change", "error", "match"), BAD, ids=[b[2][:30] for b in BAD])
def test_bad_input_is_named(change, error, match):
    kwargs = {**BASE, **change}
    equations = kwargs.pop("equations", SIR)
    with pytest.raises(error, match=match):
        fit_model(equations, _df(), **kwargs)


def test_too_few_observations_for_the_unknowns():
    df = pd.DataFrame({"t": [0.0, 1.0, 2.0], "I": [1.0, 4.0, 9.0]})
    with pytest.raises(DataError, match="3 observed values cannot determine 5 unknowns"):
        fit_model(SIR, df, parameters=GUESS, fixed={"N": N}, initial_guess={"S": 700, "R": 0})


def test_missing_csv_and_wrong_time_column(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        fit_model(SIR, tmp_path / "nope.csv", **BASE)
    path = tmp_path / "d.csv"
    _df().rename(columns={"t": "day"}).to_csv(path, index=False)
    with pytest.raises(DataError, match="day|'t'"):
        fit_model(SIR, path, **BASE)
    res = fit_model(SIR, path, time_column="day", **BASE)
    assert res.success


def test_parameter_at_bound_is_flagged_and_restarts_are_seeded():
    t = np.linspace(0.0, 4.0, 30)
    data = (t, np.exp(0.5 * t))
    kw = dict(parameters={"a": 0.1}, columns={"x": "x0"}, initial_state={"x": 1.0})
    res = fit_model({"x": "a*x"}, data, bounds={"a": (0.01, 0.3)}, **kw)
    assert res.parameters["a"] == pytest.approx(0.3)
    assert "['a'] ended at a bound" in res.message
    runs = [fit_model({"x": "a*x"}, data, n_starts=3, seed=7, **kw) for _ in range(2)]
    assert runs[0].parameters == runs[1].parameters
    assert runs[0].parameters["a"] == pytest.approx(0.5, rel=1e-6)


def test_unidentifiable_parameters_are_reported(clean):
    # N enters only through beta/N: beta and N cannot both be estimated
    res = fit_model(SIR, clean, parameters={**GUESS, "N": 500.0}, initial_state=X0, max_nfev=50)
    assert not res.identifiable
    assert "not identifiable" in res.message
    assert np.isinf(res.stderr["beta"]) and np.isinf(res.stderr["N"])
    assert res.to_dict()["stderr"]["beta"] is None


def test_standard_errors_cover_the_truth_over_noise_seeds():
    t = np.linspace(0.0, 14.0, 29)
    i_true = _sir(t)[:, 1]
    covered, ratios = 0, []
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        noisy = i_true + 0.05 * i_true.std() * rng.standard_normal(t.size)
        res = fit_model(
            SIR,
            (t, noisy),
            parameters=GUESS,
            fixed={"N": N},
            initial_state=X0,
            columns={"I": "x0"},
        )
        z = (res.parameters["beta"] - TRUE["beta"]) / res.stderr["beta"]
        ratios.append(z)
        lo, hi = res.intervals["beta"]
        covered += lo <= TRUE["beta"] <= hi
    # nominal 95% intervals: at least 16 of 20 cover (P(<16) ~ 1.6% if exact)
    assert covered >= 16, (covered, ratios)
    # the spread of the errors matches the stderr within a factor 2
    assert 0.5 < float(np.std(ratios)) < 2.0, ratios


def test_ctrl_c_keeps_the_best_point_so_far(clean, monkeypatch):
    import sysid.fit.engine as engine

    def interrupted(fun, z0, **kwargs):
        for step in np.linspace(0.0, 1.0, 5):  # walk towards the truth, then Ctrl-C
            fun(z0 + step * (np.log([1.6, 0.45]) - z0))
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "least_squares", interrupted)
    res = fit_model(SIR, clean, parameters=GUESS, fixed={"N": N}, initial_state=X0)
    assert not res.success
    assert res.message.startswith("interrupted (Ctrl-C)")
    assert res.parameters["beta"] == pytest.approx(1.6, rel=1e-9)
    # the standard errors are those of the kept point (one rule for every fit)
    assert 0 < res.stderr["beta"] < 1e-3
    json.dumps(res.to_dict())


def test_old_keywords_still_work_with_a_warning(clean):
    kw = dict(parameters=GUESS, fixed={"N": N}, initial_state=X0)
    with pytest.warns(
        DeprecationWarning, match=r"total_time=\.\.\.\) is deprecated; use time_limit="
    ):
        res = fit_model(SIR, clean, total_time=1e-9, **kw)
    assert res.message.startswith("stopped by time_limit=1e-09 s")
    with pytest.warns(DeprecationWarning, match=r"blowup=\.\.\.\) is deprecated; use margin="):
        res = fit_model(SIR, clean, blowup=1e6, **kw)
    assert res.success
    with pytest.raises(TypeError, match="unexpected keyword argument 'total_tim'"):
        fit_model(SIR, clean, total_tim=1.0, **kw)


def test_time_dependent_rhs_and_missing_values():
    # a forced oscillator: the equations use t; a third of the v samples are missing
    t = np.linspace(0.0, 8.0, 60)
    sol = solve_ivp(
        lambda tt, x: [x[1], -2.0 * x[0] - 0.3 * x[1] + np.cos(1.2 * tt)],
        (0.0, 8.0),
        [0.5, 0.0],
        t_eval=t,
        rtol=1e-11,
        atol=1e-12,
    )
    q, v = sol.y[0], sol.y[1].copy()
    v[1::3] = np.nan
    res = fit_model(
        {"q": "v", "v": "-k*q - c*v + cos(1.2*t)"},
        pd.DataFrame({"t": t, "q": q, "v": v}),
        parameters={"k": 1.5, "c": 0.5},
    )
    assert res.success, res.message
    assert res.parameters["k"] == pytest.approx(2.0, rel=1e-5)
    assert res.parameters["c"] == pytest.approx(0.3, rel=1e-5)
    assert res.initial_states[0]["q"] == pytest.approx(0.5, rel=1e-5)
    assert res.dof == 60 + 40 - 4
