"""Tests of the refit through the ODE solver and of model selection."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import sysid
from sysid.core.errors import ConfigError, EquationError
from sysid.fit.refit import RefitResult, refine
from sysid.select.choice import choose as _choose
from sysid.select.choice import explain as _explain
from sysid.select.selection import (
    CandidateScore,
    SelectionReport,
    _select_defaults,
    check_select_options,
    select_model,
)
from sysid.symbolic.model import SymbolicModel
from sysid.symbolic.sparse import Candidate, distill

MISSION = ["falling-mass", "pendulum", "lotka-volterra", "sir"]


def _terms(expr: sp.Expr) -> set[sp.Expr]:
    return set(sp.expand(expr).as_coefficients_dict())


def _biased(problem, factor: float = 1.1) -> dict[str, sp.Expr]:
    """True equations with every coefficient off by 10%, alternating up and down."""
    out, k = {}, 0
    for s, e in problem.true_equations().items():
        parts = []
        for term, c in sp.expand(e).as_coefficients_dict().items():
            parts.append(sp.Float(float(c) * (factor if k % 2 == 0 else 2 - factor)) * term)
            k += 1
        out[s] = sp.Add(*parts)
    return out


@pytest.mark.parametrize("name", MISSION)
def test_refit_corrects_a_biased_start(name):
    p = sysid.load_problem(name)
    data = sysid.simulate(p)
    fit = refine(_biased(p), data)
    assert isinstance(fit, RefitResult) and fit.success, fit.message
    truth = {
        (s, str(t)): float(c)
        for s, e in p.true_equations().items()
        for t, c in sp.expand(e).as_coefficients_dict().items()
    }
    got = {(s, str(t)): c for (s, t), c in zip(fit.terms, fit.coefficients, strict=True)}
    assert set(got) == set(truth)
    for key, c in truth.items():
        assert abs(got[key] - c) <= 5e-3 * abs(c), (key, got[key], c)
    assert np.all(fit.stderr >= 0) and np.all(np.isfinite(fit.stderr))
    assert fit.initial_states.shape == (data.n_trajectories, p.n_states)
    np.testing.assert_allclose(fit.initial_states, p.initial_conditions, rtol=1e-4, atol=1e-6)


def test_refit_on_noisy_data_has_honest_standard_errors():
    p = sysid.load_problem("lotka-volterra")
    data = sysid.simulate(p, noise=0.05, seed=3)
    fit = refine(_biased(p, 1.05), data)
    assert fit.success and fit.converged
    truth = np.array([1.1, -0.4, -0.4, 0.1])  # x, x*y, y, x*y in sorted term order
    order = [("x", "x"), ("x", "x*y"), ("y", "y"), ("y", "x*y")]
    got = dict(zip([(s, str(t)) for s, t in fit.terms], fit.coefficients, strict=True))
    err = dict(zip([(s, str(t)) for s, t in fit.terms], fit.stderr, strict=True))
    for key, c in zip(order, truth, strict=True):
        assert err[key] > 0
        assert abs(got[key] - c) < 4 * err[key], (key, got[key], c, err[key])
        assert err[key] < 0.02 * abs(c)
    # The model rounds coefficients to what the standard errors support.
    model = fit.model()
    for t in model.terms:
        assert abs(t.rounded - t.coefficient) <= max(t.stderr, 1e-12)


def test_multiple_shooting_then_single_shooting():
    p = sysid.load_problem("lotka-volterra")
    data = sysid.simulate(p, noise=0.02, seed=1)
    fit = refine(_biased(p, 1.15), data, segment_points=25)
    assert fit.method == "single shooting"  # the polish was kept
    only_ms = refine(_biased(p, 1.15), data, segment_points=25, continuation=False)
    assert only_ms.method.startswith("multiple shooting (")
    assert only_ms.segment_states.shape == (len(only_ms.segment_t0), 2)
    np.testing.assert_allclose(only_ms.coefficients, fit.coefficients, rtol=0.02)


def test_blow_up_candidate_is_reported_not_raised():
    data = sysid.simulate("lotka-volterra", n_samples=60)
    fit = refine({"x": "0.5*x**2", "y": "-0.4*y"}, data)
    assert not fit.success
    assert fit.message.startswith("blow-up: state 'x' reached")
    assert np.isnan(fit.stderr).all() and np.isinf(fit.rss).all()


def test_system_inputs_candidates_model_and_validation():
    p = sysid.load_problem("sir")
    data = sysid.simulate(p, n_samples=50)
    model = SymbolicModel.from_equations(p.states, _biased(p))
    a = refine(model, data)
    x = np.concatenate([tr.x for tr in data])
    fronts = distill(x, p.rhs(0, x.T).T, p.states)
    b = refine([fronts[s][0] for s in ("S", "I")] + [fronts["R"][0]], data)
    assert a.success and b.success
    with pytest.raises(ConfigError, match=r"missing \['R'\]"):
        refine({"S": "-0.5*S*I", "I": "0.5*S*I"}, data)
    with pytest.raises(EquationError, match=r"equation of 'R': unknown name 'gamma'"):
        refine({"S": "-S*I", "I": "S*I", "R": "gamma*I"}, data)
    with pytest.raises(ConfigError, match="expected a dict state -> equation"):
        refine([1, 2, 3], data)
    q = sp.Symbol("q", real=True)
    alien = Candidate("S", -0.5 * q, (q,), np.array([-0.5]), 2, 0.1)
    with pytest.raises(EquationError, match=r"of 'S' uses \['q'\] \(not states"):
        refine({"S": alien, "I": "0.5*S*I", "R": "0.1*I"}, data)


def _noisy_fronts(name: str, seed: int, deriv_noise: float = 0.05):
    p = sysid.load_problem(name)
    data = sysid.simulate(p, noise=0.05, seed=seed)
    x = np.concatenate([tr.x for tr in data])
    dxdt = p.rhs(0.0, x.T).T
    rng = np.random.default_rng(seed + 1000)
    dxdt = dxdt + deriv_noise * dxdt.std(axis=0) * rng.standard_normal(dxdt.shape)
    return p, data, distill(x, dxdt, p.states)


@pytest.mark.parametrize("name", MISSION)
def test_distill_and_select_recover_structure_from_noisy_data(name):
    """5% derivative noise and 5% trajectory noise: what the pipeline faces."""
    p, data, fronts = _noisy_fronts(name, seed=11)
    model, report = select_model(fronts, data, time_limit=30)
    for s, truth in p.true_equations().items():
        assert _terms(model.equations[s]) == _terms(truth), (s, str(model))
    assert isinstance(report, SelectionReport) and report.winner is not None
    assert report.candidates[report.winner].chosen
    assert "Chose #" in report.explanation
    # Constants close to the truth, with standard errors.
    truth = {
        (s, str(t)): float(c)
        for s, e in p.true_equations().items()
        for t, c in sp.expand(e).as_coefficients_dict().items()
    }
    for t in model.terms:
        assert t.stderr is not None and t.stderr > 0
        assert abs(t.coefficient - truth[(t.state, str(t.term))]) < 0.05 * abs(
            truth[(t.state, str(t.term))]
        )
    d = model.to_dict()
    assert set(d["pareto"]) == set(p.states) and d["selection"]["winner"] == report.winner


def test_blow_up_candidate_is_dropped_with_reason_and_run_succeeds():
    p, data, fronts = _noisy_fronts("lotka-volterra", seed=2)
    x, y = sp.symbols("x y", real=True)
    front = list(fronts["x"])
    true = next(c for c in front if _terms(c.expr) == {x, x * y})
    # A finite-time blow-up (x' = 0.2 x^2 - 0.4 x y) that fits the derivatives almost as
    # well as the truth and is simpler: it becomes the knee, i.e. the first system tried.
    bad = Candidate(
        "x",
        0.2 * x**2 - 0.4 * x * y,
        (x**2, x * y),
        np.array([0.2, -0.4]),
        true.complexity - 1,
        true.loss * 1.05,
    )
    at = next(i for i, c in enumerate(front) if c.complexity >= bad.complexity)
    fronts = {"x": [*front[:at], bad, *front[at:]], "y": fronts["y"]}  # sorted by complexity
    model, report = select_model(fronts, data)
    failed = [c for c in report.candidates if c.status == "failed"]
    assert report.candidates[0].status == "failed"
    assert failed and all("blow-up" in c.reason for c in failed)
    assert "Failed and dropped" in report.explanation
    assert _terms(model.equations["x"]) == {x, x * y}
    assert "failed" in str(report) and "reason: " in str(report)


def test_every_candidate_failing_returns_the_knee_with_explanation():
    data = sysid.simulate("lotka-volterra", n_samples=60)
    x, y = sp.symbols("x y", real=True)
    bx = Candidate("x", 0.5 * x**2, (x**2,), np.array([0.5]), 4, 0.1)
    by = Candidate("y", 0.5 * y**2, (y**2,), np.array([0.5]), 4, 0.1)
    model, report = select_model({"x": [bx], "y": [by]}, data)
    assert report.winner is None
    assert report.explanation.startswith("Every candidate failed")
    assert str(model.equations["x"]) == "0.5*x**2"


def test_holdout_modes_and_validation():
    p, data, fronts = _noisy_fronts("sir", seed=4)
    hold = sysid.simulate(p, noise=0.05, seed=4, holdout=True)
    m1, r1 = select_model(fronts, data, hold)
    m2, r2 = select_model(fronts, data, "trajectory", seed=1)
    assert r1.holdout == "2 separate trajectories" and r2.holdout.startswith("trajectory '")
    for m in (m1, m2):
        for s, truth in p.true_equations().items():
            assert _terms(m.equations[s]) == _terms(truth)
    with pytest.raises(ConfigError, match=r"no candidates for state\(s\) \['R'\]"):
        select_model({"S": fronts["S"], "I": fronts["I"]}, data)
    with pytest.raises(ConfigError, match="criterion must be 'ebic', 'bic' or 'aic'"):
        select_model(fronts, data, criterion="mdl")
    with pytest.raises(ConfigError, match=r"holdout_fraction must be in \[0, 1\)"):
        select_model(fronts, data, holdout_fraction=1.0)
    with pytest.raises(ConfigError, match="holdout must be None, 'windows', 'trajectory'"):
        select_model(fronts, data, holdout="last")
    with pytest.raises(ConfigError, match="needs at least 2 trajectories"):
        select_model(fronts, data.subset([0]), holdout="trajectory")


def test_selection_is_deterministic():
    _, data, fronts = _noisy_fronts("pendulum", seed=5)
    a, ra = select_model(fronts, data)
    b, rb = select_model(fronts, data)
    assert a.to_dict()["equations"] == b.to_dict()["equations"]
    assert [c.score for c in ra.candidates] == [c.score for c in rb.candidates]


def test_constant_state_gets_a_zero_equation(recwarn):
    t = np.linspace(0.0, 5.0, 100)
    x = np.c_[3.0 * np.exp(-0.7 * t), np.full(100, 2.0)]
    data = sysid.Dataset.from_arrays(t, x, states=["a", "b"])  # warns: 'b' is constant
    fronts = distill(x, np.c_[-0.7 * x[:, 0], np.zeros(100)], ["a", "b"])
    model, _ = select_model(fronts, data)
    assert str(model) == "da/dt = -0.7*a\ndb/dt = 0"
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_time_limits_keep_partial_results():
    p = sysid.load_problem("lotka-volterra")
    data = sysid.simulate(p, noise=0.02, n_samples=80)
    fit = refine(_biased(p), data, time_limit=1e-9)
    assert fit.success and not fit.converged
    assert fit.message.startswith("time limit of 1e-09 s reached; the best fit so far is kept")
    _, _, fronts = _noisy_fronts("lotka-volterra", seed=0)
    model, report = select_model(fronts, data, time_limit=0.0)
    assert len(report.candidates) == 1 and report.winner == 0
    assert model.n_params == 4


def test_settling_trajectories_are_judged_on_all_residuals():
    # Gompertz growth at 5 % noise settles at its plateau before the held-out
    # last quarter begins: on held-out residuals alone the 3-coefficient
    # quadratic that reaches the same plateau tied with the law (within 2)
    # and won as the shorter expression. The training residuals tell them apart.
    n = sp.Symbol("N")
    data = sysid.simulate("gompertz", noise=0.05, seed=0)
    quad = Candidate(
        "N",
        3.92 + 0.131 * n - 0.00416 * n**2,
        (sp.Integer(1), n, n**2),
        np.array([3.92, 0.131, -0.00416]),
        8,
        0.14,
        (0, 1, 2),
        6,
    )
    law = Candidate(
        "N",
        1.158 * n - 0.296 * n * sp.log(n),
        (n, n * sp.log(n)),
        np.array([1.158, -0.296]),
        9,
        0.055,
        (),
        18,
        "search",
    )
    model, report = select_model({"N": [quad, law]}, data)
    assert "N*log(N)" in str(model.equations["N"]) and "N**2" not in str(model.equations["N"])
    law_s = report.candidates[report.winner]
    (quad_s,) = [c for c in report.candidates if "N**2" in c.equations["N"]]
    assert law_s.train_rmse < 0.97 * quad_s.train_rmse
    # each part alone and the sum: the score counts every residual
    for c in report.candidates:
        assert c.score is not None and c.train_score is not None and c.holdout_score is not None
        assert c.score < c.train_score and c.score < c.holdout_score
    assert "training and held-out residuals" in str(report)


def test_check_select_options_takes_its_defaults_from_select_model():
    import inspect

    sig = inspect.signature(select_model).parameters
    defaults = _select_defaults()
    assert defaults == {k: sig[k].default for k in defaults}
    assert {"holdout_fraction", "criterion", "time_limit", "prune_below"} <= set(defaults)
    check_select_options()  # the defaults pass
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['holdout'\].*valid options"):
        check_select_options(holdout="windows")
    with pytest.raises(ConfigError, match="prune_below must be a finite number >= 0"):
        check_select_options(prune_below=-1.0)


def test_a_small_spurious_term_does_not_win_on_training_residuals():
    # Brusselator at 1 % noise: a 0.02*y term absorbs a little refit and solver
    # error and scored 3.7 better than the law on all residuals; a longer
    # system needs "very strong" evidence (a lead above the slack of 10).
    x, y = sp.symbols("x y")
    data = sysid.simulate("brusselator", noise=0.01, seed=0)

    def cand(state, terms, coef, support):
        expr = sum((c * t for c, t in zip(coef, terms, strict=True)), sp.Integer(0))
        return Candidate(state, expr, terms, np.array(coef), 2 * len(terms) + 2, 0.06, support, 14)

    law_x = cand("x", (sp.Integer(1), x, x**2 * y), [0.995, -3.93, 0.972], (0, 1, 7))
    long_x = cand(
        "x", (sp.Integer(1), x, y, x**2 * y), [0.899, -3.885, 0.0218, 0.966], (0, 1, 2, 7)
    )
    law_y = cand("y", (x, x**2 * y), [2.918, -0.969], (1, 7))
    model, report = select_model({"x": [law_x, long_x], "y": [law_y]}, data)
    assert sysid.score(model.equations, sysid.load_problem("brusselator"))["structure_recovered"]
    assert len(report.candidates) >= 2


def _score(n_params: int, score: float, origin: str = "library", cx: int = 10) -> CandidateScore:
    return CandidateScore(
        {"x": "x"}, n_params, cx, "ok", train_rmse=0.05, score=score, origin=origin
    )


def test_search_law_needs_strong_evidence_only_against_library_systems_no_larger():
    # gompertz, irregular sampling, 5 % noise: N*log(N) (2 numbers) scored 9.9
    # better than a cubic (4 numbers); shorter and better, it wins.
    assert _choose([_score(4, -3675.6, cx=12), _score(2, -3685.5, "search", cx=9)]) == 1
    # falling mass: a search term on top of the library law (4 numbers against
    # 2) must beat it by 10; 3.0 is not enough.
    assert _choose([_score(2, -3600.0, cx=8), _score(4, -3603.0, "search", cx=14)]) == 0
    assert _choose([_score(2, -3600.0, cx=8), _score(4, -3611.0, "search", cx=14)]) == 1
    # a library system with as many numbers protects the same way
    assert _choose([_score(3, -3599.8, cx=11), _score(3, -3600.4, "search", cx=14)]) == 0


def test_the_law_is_refitted_even_when_long_candidates_fit_the_field_far_better():
    # michaelis-menten at 1 % noise: the neural field's error let a 7-number
    # expression fit it 23 times better than the law; with a plausibility ratio
    # of 10 the law was never refitted to the trajectories.
    s = sp.Symbol("S")
    data = sysid.simulate("michaelis-menten", noise=0.01, seed=0)
    line = Candidate("S", -0.166 * s, (s,), np.array([-0.166]), 2, 0.395, (1,), 6)
    law = Candidate(
        "S", -1.495 * s / (s + 1.984), (s / (s + 1.984),), np.array([-1.495]), 8, 4.8e-3, (), 30,
        "search",
    )  # fmt: skip
    terms = (sp.Integer(1), sp.exp(-0.29 * s), 1 / (s**2 + 0.374), 1 / (s + 1.592))
    coefs = np.array([-1.39, 0.438, 0.0252, 1.402])
    long = Candidate(
        "S", sum((c * t for c, t in zip(coefs, terms, strict=True)), sp.Integer(0)), terms, coefs,
        23, 2.0e-4, (), 30, "search",
    )  # fmt: skip
    model, report = select_model({"S": [line, law, long]}, data, seed=0)
    assert any(c.equations["S"] == str(law.expr) for c in report.candidates)
    assert sysid.score(model.equations, sysid.load_problem("michaelis-menten"))[
        "structure_recovered"
    ]


def test_old_simulation_limit_keyword_still_works_with_a_warning():
    data = sysid.simulate("lotka-volterra", n_samples=40)
    with pytest.warns(DeprecationWarning, match=r"sim_time_limit=\.\.\.\) is deprecated"):
        fit = refine({"x": "1.1*x - 0.4*x*y", "y": "0.1*x*y - 0.4*y"}, data, sim_time_limit=5.0)
    assert fit.success
    with pytest.raises(TypeError, match="unexpected keyword argument 'sim_limit'"):
        refine({"x": "x", "y": "y"}, data, sim_limit=5.0)


def test_the_explanation_describes_the_rule_that_chose():
    # The influenza run: '-0.45*in_bed' (#3) had the lowest EBIC but a training
    # error far above the best; it was not eligible, and the words must say so
    # instead of "within 10 of the lowest (-9.1)" for a model that scored 1.1.
    def sc(n, score, train, cx):
        return CandidateScore(
            {"I": "..."}, n, cx, "ok", train_rmse=train, score=score, holdout_rmse=0.5
        )

    scores = [
        sc(2, 1.08, 0.717, 4),
        sc(1, -5.87, 0.877, 2),
        sc(2, -0.50, 0.681, 6),
        sc(1, -9.09, 0.916, 2),
    ]
    assert _choose(scores) == 0
    words = _explain(scores, 0, "ebic", True)
    assert "of the 2 eligible candidate(s)" in words
    assert "within 10 of the lowest eligible (#2's, -0.5)" in words
    assert (
        "Not eligible (2 of the 4 that simulated): #1 (EBIC -5.9): training error 0.877 "
        "more than 10% above the best (0.681); #3 (EBIC -9.1): training error 0.916" in words
    )
    assert "Runner-up #2: EBIC -0.5 (-1.6)" in words
