"""Tests of the one fitting engine (:mod:`sysid.fit.engine`) and the one guarded simulator."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import sysid
from sysid.core.expressions import state_symbols
from sysid.core.ode import (
    CompiledSystem,
    ExpressionSystem,
    Guard,
    GuardTripped,
    simulate_batch,
)
from sysid.fit.engine import Parametrisation, Segment, covariance, fit
from sysid.fit.graybox import fit_model
from sysid.fit.polish import refit_all
from sysid.fit.refit import refine
from sysid.symbolic.model import SymbolicModel

LV = {"x": "1.0*x - 0.45*x*y", "y": "0.11*x*y - 0.36*y"}


@pytest.fixture(scope="module")
def lv_noisy():
    return sysid.simulate("lotka-volterra", n_samples=60, noise=0.03, seed=1)


# ------------------------------------------------------------- standard errors
def test_graybox_and_discovery_refits_give_the_same_standard_errors(lv_noisy):
    """The same model on the same data: gray-box fit, refine and the polish refit agree."""
    disc = refine(LV, lv_noisy, segment_points=None)
    assert disc.success and disc.method == "single shooting"
    guesses = {"a": 1.0, "b": -0.45, "c": -0.36, "d": 0.11}
    eqs = {"x": "a*x + b*x*y", "y": "c*y + d*x*y"}
    gray = fit_model(eqs, lv_noisy, parameters=guesses, log_parameters=False)
    assert gray.success, gray.message
    order = {("x", "x"): "a", ("x", "x*y"): "b", ("y", "y"): "c", ("y", "x*y"): "d"}
    names = [order[(s, str(t))] for s, t in disc.terms]
    est = np.array([gray.parameters[n] for n in names])
    se = np.array([gray.stderr[n] for n in names])
    np.testing.assert_allclose(est, disc.coefficients, rtol=1e-6)
    np.testing.assert_allclose(se, disc.stderr, rtol=1e-3)
    # log parameters: the delta method gives the same errors at the same optimum
    logs = fit_model(eqs, lv_noisy, parameters=guesses)
    assert logs.log_parameters == ("a", "d")
    np.testing.assert_allclose([logs.stderr[n] for n in names], disc.stderr, rtol=1e-3)
    # the polish/inner-constant refit of every number (here: every coefficient)
    model = SymbolicModel.from_equations(["x", "y"], LV)
    polished, _ = refit_all(model, lv_noisy)
    by_term = {(t.state, str(t.term)): t for t in polished.terms}
    pol = [by_term[(s, str(t))] for s, t in disc.terms]
    np.testing.assert_allclose([t.coefficient for t in pol], disc.coefficients, rtol=1e-6)
    np.testing.assert_allclose([t.stderr for t in pol], disc.stderr, rtol=1e-3)


def test_each_observed_state_has_its_own_noise_variance(lv_noisy):
    rng = np.random.default_rng(5)  # y gets far more noise than x
    trajs = [
        sysid.Trajectory(tr.t, tr.x + np.c_[0 * tr.t, 0.3 * rng.standard_normal(tr.t.size)])
        for tr in lv_noisy.trajectories
    ]
    noisy = sysid.Dataset(trajs, lv_noisy.states)
    sigma = np.array([np.std(np.concatenate([tr.x[:, j] for tr in trajs])) for j in range(2)])
    system = CompiledSystem(("x", "y"), _lv_params())
    segs = [Segment(k, tr.t[0], tr.t - tr.t[0], tr.x, tr.x[0]) for k, tr in enumerate(trajs)]
    res = fit(
        system, segs, sigma, Guard.around(noisy.stacked()[1]), np.array([1.0, -0.45, -0.36, 0.11])
    )
    cov = covariance(res)
    assert cov.variance[1] > 10 * cov.variance[0]
    n = res.residuals.size
    q = res.jacobian.shape[1]
    assert cov.dof == n - q
    # the rule: v_j = SS_j / (n_j (n - q) / n)
    r0 = res.residuals[res.state == 0]
    assert cov.variance[0] == pytest.approx(r0 @ r0 / (r0.size * (n - q) / n), rel=1e-12)


def test_flat_directions_are_not_identifiable():
    # beta and N enter only as beta/N
    sir = sysid.simulate("sir", n_samples=29)
    data = sysid.Dataset(
        [sysid.Trajectory(tr.t, tr.x[:, 1:2]) for tr in sir.trajectories[:1]], ("I",)
    )
    res = fit_model(
        {"S": "-beta*S*I/N", "I": "beta*S*I/N - gamma*I", "R": "gamma*I"},
        data,
        parameters={"beta": 0.3, "gamma": 0.1, "N": 2.0},
        initial_state={k: float(v) for k, v in zip("SIR", sir[0].x[0], strict=True)},
        max_nfev=30,
    )
    assert not res.identifiable
    assert np.isinf(res.stderr["beta"]) and np.isinf(res.stderr["N"])
    assert np.isfinite(res.stderr["gamma"])  # gamma is not part of the flat direction


# ------------------------------------------------------------- sensitivities
def _lv_params():
    x, y = state_symbols(["x", "y"])
    return [(0, x), (0, x * y), (1, y), (1, x * y)]


def _fd_check(system, theta, x0, tau, t_start=0.0, h=1e-5):
    """Forward sensitivities of simulate_batch against central differences."""
    guard = Guard()
    kw = dict(guard=guard, rtol=1e-12, t_start=t_start)
    xs, s_th, s_x0 = simulate_batch(system, theta, x0, tau, sensitivities=True, **kw)
    for k in range(theta.size):
        dp = np.zeros_like(theta)
        dp[k] = h * max(1.0, abs(theta[k]))
        hi, _, _ = simulate_batch(system, theta + dp, x0, tau, **kw)
        lo, _, _ = simulate_batch(system, theta - dp, x0, tau, **kw)
        fd = (hi - lo) / (2 * dp[k])
        np.testing.assert_allclose(s_th[..., k], fd, rtol=1e-5, atol=1e-7 * np.abs(fd).max())
    for j in range(x0.shape[1]):
        dx = np.zeros_like(x0)
        dx[:, j] = h * np.maximum(1.0, np.abs(x0[:, j]))
        hi, _, _ = simulate_batch(system, theta, x0 + dx, tau, **kw)
        lo, _, _ = simulate_batch(system, theta, x0 - dx, tau, **kw)
        fd = (hi - lo) / (2 * dx[:, j][:, None, None])
        np.testing.assert_allclose(s_x0[..., j], fd, rtol=1e-5, atol=1e-7 * np.abs(fd).max())
    return xs


def test_compiled_system_sensitivities_match_finite_differences():
    system = CompiledSystem(("x", "y"), _lv_params())
    x0 = np.array([[10.0, 5.0], [4.0, 2.0]])  # a batch of two windows
    _fd_check(system, np.array([1.1, -0.4, -0.4, 0.1]), x0, np.linspace(0.0, 6.0, 13))


def test_expression_system_sensitivities_match_finite_differences():
    # non-autonomous, nonlinear in the parameters (an inner constant), started at t0 = 0.7
    q, v, k, c, w = sp.symbols("q v k c w")
    t = sp.Symbol("t")
    system = ExpressionSystem(
        ["q", "v"], [v, -k * q - c * v / (1 + w * v**2) + sp.cos(1.2 * t)], ["k", "c", "w"]
    )
    assert not system.autonomous and system.has_sensitivities
    x0 = np.array([[0.5, 0.1]])
    xs = _fd_check(system, np.array([2.0, 0.3, 0.5]), x0, np.linspace(0.0, 5.0, 11), t_start=0.7)
    assert np.isfinite(xs).all()


def test_sensitivity_and_finite_difference_fits_agree():
    q, v, k, c = sp.symbols("q v k c")
    t = np.linspace(0.0, 8.0, 50)
    rng = np.random.default_rng(0)
    rhs = [v, -k * q - c * v]
    truth = ExpressionSystem(["q", "v"], rhs, ["k", "c"])
    xs, _, _ = simulate_batch(truth, np.array([2.0, 0.3]), np.array([[1.0, 0.0]]), t, guard=Guard())
    y = xs[0] + 0.01 * rng.standard_normal(xs[0].shape)
    seg = [Segment(0, 0.0, t, y, y[0])]
    sigma = y.std(axis=0)
    guard = Guard.around(y)
    par = Parametrisation(np.array([True, True]), np.ones(2))
    out = []
    for sens in (True, False):
        system = ExpressionSystem(["q", "v"], rhs, ["k", "c"], sensitivities=sens)
        res = fit(system, seg, sigma, guard, np.array([1.5, 0.5]), param=par, max_nfev=200)
        assert res.ok and res.success and res.finite_differences is not sens
        out.append((res.theta, covariance(res).stderr))
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-6)
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-3)
    assert out[0][0] == pytest.approx([2.0, 0.3], rel=0.02)


# ------------------------------------------------------------- engine behaviour
def test_time_limit_keeps_the_best_point_and_ctrl_c_propagates(lv_noisy, monkeypatch):
    import sysid.fit.engine as engine

    system = CompiledSystem(("x", "y"), _lv_params())
    trajs = lv_noisy.trajectories
    segs = [Segment(k, tr.t[0], tr.t - tr.t[0], tr.x, tr.x[0]) for k, tr in enumerate(trajs)]
    sigma = lv_noisy.stacked()[1].std(axis=0)
    guard = Guard.around(lv_noisy.stacked()[1], margin=5.0)
    theta0 = np.array([1.0, -0.45, -0.36, 0.11])
    res = fit(system, segs, sigma, guard, theta0, time_limit=0.0)
    assert res.ok and res.stopped == "time" and not res.success
    assert res.message == "time limit of 0 s reached; the best fit so far is kept"
    np.testing.assert_array_equal(res.theta, theta0)  # the only point evaluated
    assert np.isfinite(covariance(res).stderr).all()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "least_squares", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fit(system, segs, sigma, guard, theta0)
    kept = fit(system, segs, sigma, guard, theta0, keep_on_interrupt=True)
    assert kept.stopped == "interrupted" and kept.ok


def test_a_start_that_cannot_be_simulated_is_a_failed_fit(lv_noisy):
    x, y = state_symbols(["x", "y"])
    system = CompiledSystem(("x", "y"), [(0, x**2), (1, y)])
    tr = lv_noisy.trajectories[0]
    seg = [Segment(0, tr.t[0], tr.t - tr.t[0], tr.x, tr.x[0])]
    guard = Guard.around(tr.x, margin=1.0)
    res = fit(system, seg, tr.x.std(axis=0), guard, np.array([1.0, 0.0]))
    assert not res.ok and res.message.startswith("blow-up: state 'x' reached")
    assert res.n_failed == 1 and res.failures[0][1] == res.message


def test_one_blow_up_rule_and_budget_everywhere():
    # the same guard trips the same way for a compiled and an expression system
    x = state_symbols(["x"])[0]
    guard = Guard.around([[0.0], [2.0]], margin=1.0, max_evals=10_000)
    compiled = CompiledSystem(("x",), [(0, x**2)])
    expr = ExpressionSystem(["x"], [sp.Symbol("a") * sp.Symbol("x") ** 2], ["a"])
    reasons = []
    for system in (compiled, expr):
        with pytest.raises(GuardTripped, match=r"blow-up: state 'x' reached 4 at t=0\.75") as err:
            simulate_batch(
                system, np.array([1.0]), np.array([[1.0]]), np.array([0.0, 2.0]), guard=guard
            )
        reasons.append(err.value.reason)
    assert reasons[0] == reasons[1]
    tight = Guard(max_evals=30)
    with pytest.raises(GuardTripped, match="more than 30 right-hand-side evaluations") as err:
        simulate_batch(
            compiled, np.array([-1.0]), np.array([[1.0]]), np.linspace(0, 50, 5), guard=tight
        )
    assert err.value.kind == "steps"
    # a model's simulate and the data simulator report through the same guard
    model = SymbolicModel.from_equations(["x"], {"x": "x**2"})
    with pytest.raises(sysid.SimulationError, match="blow-up: state 'x' reached"):
        model.simulate([1.0], [0.0, 2.0])
