"""Simulation: physics of the shipped problems, noise, sampling, seeds, bad options."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sysid.core.errors import ConfigError, SimulationError
from sysid.data.dataset import Dataset
from sysid.data.problems import load_problem, problem_from_dict
from sysid.data.simulation import integrate, sample_times, simulate, switch_times

PROBLEMS = [
    "brusselator",
    "culture-under-ramped-drug",
    "dc-motor",
    "drug-infusion",
    "duffing",
    "falling-mass",
    "fitzhugh-nagumo",
    "forced-duffing",
    "gompertz",
    "harmonic-oscillator",
    "heated-room",
    "hill-switch",
    "holling-ii",
    "logistic",
    "lorenz",
    "lotka-volterra",
    "michaelis-menten",
    "pendulum",
    "rossler",
    "selkov",
    "sigmoid-neuron",
    "sir",
    "van-der-pol",
]


def _both(simulated, name: str) -> list:
    """Training and held-out clean trajectories of a shipped problem."""
    return list(simulated(name)) + list(simulated(name, holdout=True))


def _params(name: str) -> dict[str, float]:
    return load_problem(name).parameters


# ------------------------------------------------------------------ every problem
def test_physics_list_covers_the_suite(shipped_problems):
    assert sorted(shipped_problems) == PROBLEMS, "add a physics test for the new problem"


@pytest.mark.parametrize("name", PROBLEMS)
def test_simulation_is_finite_and_informative(simulated, name):
    p = load_problem(name)
    for ds, ics in [(simulated(name), p.initial_conditions)]:
        assert ds.n_trajectories == ics.shape[0]
        for tr, x0 in zip(ds, ics, strict=True):
            assert tr.x.shape == (p.n_samples, p.n_states)
            assert np.isfinite(tr.x).all()
            np.testing.assert_array_equal(tr.x[0], x0)
            assert tr.t[0] == p.t_span[0] and tr.t[-1] == pytest.approx(p.t_span[1])
            # Not a decay to rest in the first 5% of the span: most variation comes later.
            n = tr.n_samples
            tail = tr.x[n // 20 :].std(axis=0) / tr.x.std(axis=0)
            assert tail.max() > 0.3, f"trajectory {tr.name} settles too early: {tail}"
    assert ds.units == p.units and ds.time_unit == p.time_unit and ds.states == p.states


# ------------------------------------------------------------------ mission physics
def test_lotka_volterra_first_integral_is_conserved(simulated):
    c = _params("lotka-volterra")
    for tr in _both(simulated, "lotka-volterra"):
        x, y = tr.x.T
        terms = [c["delta"] * x, -c["gamma"] * np.log(x), c["beta"] * y, -c["alpha"] * np.log(y)]
        v = sum(terms)
        scale = max(np.abs(term).max() for term in terms)  # V itself may be near 0
        np.testing.assert_allclose(v, v[0], rtol=0, atol=1e-8 * scale)
        assert np.ptp(x) > 1.0  # it does oscillate


def test_sir_population_is_constant(simulated):
    for tr in _both(simulated, "sir"):
        s, i, r = tr.x.T
        np.testing.assert_allclose(s + i + r, (s + i + r)[0], rtol=0, atol=1e-10)
        assert (np.diff(s) <= 1e-12).all() and (np.diff(r) >= -1e-12).all()
        assert (tr.x >= -1e-12).all()


def test_damped_pendulum_energy_decreases(simulated):
    c = _params("pendulum")
    for tr in _both(simulated, "pendulum"):
        theta, omega = tr.x.T
        energy = 0.5 * omega**2 - (c["g"] / c["L"]) * np.cos(theta)
        assert (np.diff(energy) <= 1e-9).all()
        assert energy[-1] < energy[0] - 1.0
    # Amplitudes large enough that sin(theta) is far from theta.
    assert max(np.abs(tr.x[:, 0]).max() for tr in simulated("pendulum")) > 2.0


def test_falling_mass_reaches_terminal_velocity(simulated):
    c = _params("falling-mass")
    v_terminal = -np.sqrt(c["g"] / c["k"])
    for tr in _both(simulated, "falling-mass"):
        h, v = tr.x.T
        assert v[-1] == pytest.approx(v_terminal, rel=0.01)
        assert (np.diff(h) < 0).all()
    # From rest: v(t) = -sqrt(g/k) tanh(sqrt(g k) t), and drag visibly matters (|v| << g t).
    tr = simulated("falling-mass")[0]
    assert tr.x[0, 1] == 0.0
    exact = v_terminal * np.tanh(np.sqrt(c["g"] * c["k"]) * tr.t)
    np.testing.assert_allclose(tr.x[:, 1], exact, rtol=1e-8, atol=1e-9)
    assert abs(tr.x[-1, 1]) < 0.5 * c["g"] * tr.t[-1]


# ------------------------------------------------------------------ further systems
def test_harmonic_oscillator_matches_closed_form(simulated):
    c = _params("harmonic-oscillator")
    w, z = c["omega"], c["zeta"]
    wd = w * np.sqrt(1 - z**2)
    for tr in _both(simulated, "harmonic-oscillator"):
        x0, v0 = tr.x[0]
        t = tr.t
        exact = np.exp(-z * w * t) * (x0 * np.cos(wd * t) + (v0 + z * w * x0) / wd * np.sin(wd * t))
        np.testing.assert_allclose(tr.x[:, 0], exact, rtol=0, atol=1e-8)
        energy = 0.5 * tr.x[:, 1] ** 2 + 0.5 * w**2 * tr.x[:, 0] ** 2
        assert (np.diff(energy) <= 1e-10).all()


def test_logistic_matches_closed_form_and_approaches_capacity(simulated):
    c = _params("logistic")
    for tr in _both(simulated, "logistic"):
        n0 = tr.x[0, 0]
        exact = c["K"] / (1 + (c["K"] / n0 - 1) * np.exp(-c["r"] * tr.t))
        np.testing.assert_allclose(tr.x[:, 0], exact, rtol=1e-8)
        assert tr.x[-1, 0] == pytest.approx(c["K"], rel=1e-3)
        assert (np.diff(tr.x[:, 0]) * np.sign(c["K"] - n0) > 0).all()  # monotone towards K


def test_duffing_energy_decreases_and_wells_are_visited(simulated):
    c = _params("duffing")
    for tr in _both(simulated, "duffing"):
        x, y = tr.x.T
        energy = 0.5 * y**2 + 0.5 * c["alpha"] * x**2 + 0.25 * c["beta"] * x**4
        assert (np.diff(energy) <= 1e-10).all()
        assert energy[-1] < energy[0]
    # At least one training trajectory crosses between the wells at x = -1 and x = +1.
    assert any(
        (tr.x[:, 0].min() < -0.5) and (tr.x[:, 0].max() > 0.5) for tr in simulated("duffing")
    )


def test_van_der_pol_converges_to_its_limit_cycle(simulated):
    for tr in _both(simulated, "van-der-pol"):
        late = tr.x[len(tr.t) // 2 :, 0]
        assert np.abs(late).max() == pytest.approx(2.01, abs=0.03)  # amplitude ~2 for mu = 1


def test_lorenz_stays_on_its_bounded_attractor(simulated):
    c = _params("lorenz")
    for tr in _both(simulated, "lorenz"):
        x, y, z = tr.x.T
        assert np.abs(x).max() < 25 and np.abs(y).max() < 35 and z.max() < 55 and z.min() > 0
        # Lorenz's sphere: x^2 + y^2 + (z - sigma - rho)^2 stays below a bound once on it.
        radius = np.sqrt(x**2 + y**2 + (z - c["sigma"] - c["rho"]) ** 2)
        assert radius.max() < 45
        assert (x > 0).any() and (x < 0).any()  # visits both lobes


def test_brusselator_oscillates_around_its_unstable_steady_state(simulated):
    c = _params("brusselator")
    for tr in _both(simulated, "brusselator"):
        assert (tr.x > 0).all()
        late = tr.x[len(tr.t) // 2 :]
        assert np.ptp(late[:, 0]) > 2.0  # a limit cycle, not a decay to (a, b/a)
        assert late[:, 0].min() < c["a"] < late[:, 0].max()


def test_fitzhugh_nagumo_spikes_periodically(simulated):
    for tr in _both(simulated, "fitzhugh-nagumo"):
        v = tr.x[len(tr.t) // 2 :, 0]
        assert v.max() > 1.5 and v.min() < -1.5
        upward = np.flatnonzero((v[:-1] < 0) & (v[1:] >= 0))
        assert len(upward) >= 1


def test_rossler_stays_bounded_with_positive_z(simulated):
    for tr in _both(simulated, "rossler"):
        x, y, z = tr.x.T
        assert (z[0] >= 0) and (z[1:] > 0).all()
        assert np.abs(x).max() < 15 and np.abs(y).max() < 15 and z.max() < 30
        assert z.max() > 5  # the fold happens


def test_selkov_oscillates_with_positive_concentrations(simulated):
    c = _params("selkov")
    x_star = c["b"]
    for tr in _both(simulated, "selkov"):
        assert (tr.x > 0).all()
        late = tr.x[len(tr.t) // 2 :, 0]
        assert late.min() < x_star < late.max() and np.ptp(late) > 0.8


def test_michaelis_menten_matches_lambert_w_solution(simulated):
    from scipy.special import lambertw

    c = _params("michaelis-menten")
    for tr in _both(simulated, "michaelis-menten"):
        s0, km, vmax = tr.x[0, 0], c["Km"], c["vmax"]
        exact = km * lambertw((s0 / km) * np.exp((s0 - vmax * tr.t) / km)).real
        np.testing.assert_allclose(tr.x[:, 0], exact, rtol=1e-7)
        assert (np.diff(tr.x[:, 0]) < 0).all() and (tr.x > 0).all()


def test_gompertz_matches_closed_form(simulated):
    c = _params("gompertz")
    for tr in _both(simulated, "gompertz"):
        n0 = tr.x[0, 0]
        exact = c["K"] * np.exp(np.log(n0 / c["K"]) * np.exp(-c["r"] * tr.t))
        np.testing.assert_allclose(tr.x[:, 0], exact, rtol=1e-7)


def test_hill_switch_is_bistable(simulated):
    c = _params("hill-switch")
    a, b, k = c["a"], c["b"], c["k"]
    root = np.sqrt(a**2 - 4 * b**2 * k**2)
    low, high = (a - root) / (2 * b), (a + root) / (2 * b)  # unstable and stable states
    for tr in _both(simulated, "hill-switch"):
        x = tr.x[:, 0]
        assert np.all(np.diff(x) * np.sign(np.diff(x)[0]) >= 0)  # 1-D flows are monotone
        if x[0] > low:
            assert abs(x[-1] - high) < abs(x[0] - high)  # switched on, towards the high state
        else:
            assert x[-1] < x[0]  # switched off, decaying towards 0


def test_sigmoid_neuron_is_monotone_towards_its_rest_state(simulated):
    c = _params("sigmoid-neuron")
    for tr in _both(simulated, "sigmoid-neuron"):
        x = tr.x[:, 0]
        dx = np.diff(x)
        assert np.all(dx * np.sign(dx[0]) >= 0)
        rate = c["a"] / (1 + np.exp(c["theta"] - x[-1])) - c["b"] * x[-1]
        assert abs(rate) < abs(c["a"] / (1 + np.exp(c["theta"] - x[0])) - c["b"] * x[0])


def test_holling_ii_stays_positive_and_bounded(simulated):
    c = _params("holling-ii")
    for tr in _both(simulated, "holling-ii"):
        assert (tr.x > 0).all()
        assert tr.x[:, 0].max() <= max(c["K"], tr.x[0, 0]) * (1 + 1e-9)


# ------------------------------------------------------------------ options
def test_same_seed_gives_byte_identical_csv(tmp_path):
    paths = []
    for k in range(2):
        ds = simulate("lotka-volterra", noise=0.05, seed=7, irregular=True, n_samples=50)
        paths.append(tmp_path / f"run{k}.csv")
        ds.to_csv(paths[-1])
    assert paths[0].read_bytes() == paths[1].read_bytes()


def test_different_seeds_differ():
    a = simulate("lotka-volterra", noise=0.05, seed=1, n_samples=30)
    b = simulate("lotka-volterra", noise=0.05, seed=2, n_samples=30)
    assert a.sha256() != b.sha256()
    c = simulate("lotka-volterra", irregular=True, seed=1, n_samples=30)
    d = simulate("lotka-volterra", irregular=True, seed=2, n_samples=30)
    assert not np.array_equal(c[0].t, d[0].t)


def test_noise_level_is_relative_to_each_state_sd(simulated):
    clean = simulated("sir", n_samples=1000)
    noisy = simulated("sir", n_samples=1000, noise=0.1, seed=3)
    _, xc = clean.stacked()
    _, xn = noisy.stacked()
    scale = xc.std(axis=0)
    z = (xn - xc) / scale
    np.testing.assert_allclose(z.std(axis=0), 0.1, rtol=0.05)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=0.01)
    # Absolute noise differs per state, in proportion to its spread.
    assert not np.allclose((xn - xc).std(axis=0), (xn - xc).std(axis=0)[0], rtol=0.2)


def test_zero_noise_is_exact_and_seed_free(simulated):
    a = simulated("pendulum", n_samples=20)
    b = simulate("pendulum", n_samples=20, seed=99)
    assert a.sha256() == b.sha256()


def test_irregular_sampling(simulated):
    p = load_problem("lotka-volterra")
    ds = simulated("lotka-volterra", irregular=True, seed=5, n_samples=60)
    grids = [tr.t for tr in ds]
    for t in grids:
        assert t.shape == (60,)
        assert t[0] == p.t_span[0] and t[-1] <= p.t_span[1]
        assert (np.diff(t) > 0).all()
    assert not np.array_equal(grids[0], grids[1]) and not np.array_equal(grids[1], grids[2])
    # The states are the true solution at those times.
    for tr, x0 in zip(ds, p.initial_conditions, strict=True):
        np.testing.assert_array_equal(tr.x, integrate(p, x0, tr.t))


def test_regular_sampling_is_even(simulated):
    tr = simulated("sir", n_samples=7)[0]
    np.testing.assert_allclose(tr.t, np.linspace(0.0, 60.0, 7), rtol=0, atol=0)


def test_sample_times():
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(sample_times((1.0, 2.0), 3, False, rng), [1.0, 1.5, 2.0])
    t = sample_times((1.0, 2.0), 50, True, rng)
    assert t[0] == 1.0 and (np.diff(t) > 0).all() and t[-1] < 2.0


def test_holdout_uses_held_out_initial_conditions(simulated):
    p = load_problem("pendulum")
    ds = simulated("pendulum", holdout=True)
    assert [tr.name for tr in ds] == ["holdout-0", "holdout-1"]
    np.testing.assert_array_equal(np.array([tr.x[0] for tr in ds]), p.holdout_initial_conditions)
    train = simulated("pendulum")
    assert [tr.name for tr in train] == ["0", "1", "2"]
    np.testing.assert_array_equal(np.array([tr.x[0] for tr in train]), p.initial_conditions)


def test_holdout_noise_does_not_change_training_data():
    a = simulate("sir", noise=0.05, seed=4, n_samples=20)
    simulate("sir", noise=0.05, seed=4, n_samples=20, holdout=True)
    b = simulate("sir", noise=0.05, seed=4, n_samples=20)
    assert a.sha256() == b.sha256()


def test_holdout_without_held_out_conditions(valid_problem):
    valid_problem["holdout_initial_conditions"] = []
    p = problem_from_dict(valid_problem)
    with pytest.raises(ConfigError, match=r"problem 'toy-decay'.*Hint: add holdout_initial"):
        simulate(p, holdout=True)


def test_overrides_of_initial_conditions_and_t_span():
    ds = simulate("logistic", initial_conditions=[50.0], t_span=(0.0, 1.0), n_samples=5)
    assert ds.n_trajectories == 1 and ds[0].x[0, 0] == 50.0 and ds[0].t[-1] == 1.0
    with pytest.raises(ConfigError, match=r"initial conditions of shape \(k, 3\), found \(1, 2\)"):
        simulate("sir", initial_conditions=[[1.0, 2.0]])
    with pytest.raises(ConfigError, match=r"t_span must have end > start, found \(1\.0, 0\.0\)"):
        simulate("sir", t_span=(1.0, 0.0))


def test_problem_by_name_path_or_object(shipped_problems):
    p = shipped_problems["logistic"]
    a = simulate("logistic", n_samples=5)
    b = simulate(p.path, n_samples=5)
    c = simulate(p, n_samples=5)
    assert a.sha256() == b.sha256() == c.sha256()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"noise": -0.1}, r"argument 'noise': noise must be a finite number >= 0, found -0\.1"),
        ({"noise": float("nan")}, r"noise must be a finite number >= 0, found nan"),
        ({"noise": "lots"}, r"noise must be a number, found 'lots'"),
        ({"n_samples": 2}, r"argument 'n_samples': n_samples must be an integer >= 3, found 2"),
        ({"n_samples": 10.5}, r"n_samples must be an integer >= 3, found 10\.5"),
        ({"n_samples": True}, r"n_samples must be an integer >= 3, found True"),
        ({"seed": -1}, r"argument 'seed': seed must be an integer in \[0, 2\*\*63 - 1\], found -1"),
        ({"seed": 1.5}, r"seed must be an integer in \[0, 2\*\*63 - 1\], found 1\.5"),
        ({"seed": None}, r"seed must be an integer in \[0, 2\*\*63 - 1\], found None"),
    ],
)
def test_bad_options_raise_config_error(options, message):
    with pytest.raises(ConfigError, match=message):
        simulate("sir", **options)


def test_blow_up_raises_simulation_error(valid_problem):
    valid_problem["equations"] = {"x": "x**2", "y": "-y"}
    valid_problem["t_span"] = [0.0, 2.0]
    p = problem_from_dict(valid_problem)
    with pytest.raises(
        SimulationError, match=r"problem 'toy-decay': simulation from \[1\.0, 2\.0\]"
    ):
        simulate(p)


# ------------------------------------------------------------------ invariants
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 2**32),
    noise=st.floats(0.0, 2.0),
    n_samples=st.integers(3, 40),
    irregular=st.booleans(),
    holdout=st.booleans(),
)
def test_any_options_give_finite_well_shaped_data(seed, noise, n_samples, irregular, holdout):
    ds = simulate(
        "harmonic-oscillator",
        seed=seed,
        noise=noise,
        n_samples=n_samples,
        irregular=irregular,
        holdout=holdout,
    )
    assert isinstance(ds, Dataset) and ds.n_trajectories == (2 if holdout else 3)
    for tr in ds:
        assert tr.x.shape == (n_samples, 2) and tr.t.shape == (n_samples,)
        assert np.isfinite(tr.x).all() and (np.diff(tr.t) > 0).all()
        assert tr.x.dtype == np.float64 and tr.t.dtype == np.float64


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32), noise=st.floats(0.0, 1.0), irregular=st.booleans())
def test_simulated_csv_round_trip_is_exact(tmp_path_factory, seed, noise, irregular):
    ds = simulate("sir", seed=seed, noise=noise, n_samples=10, irregular=irregular, holdout=True)
    path = tmp_path_factory.mktemp("rt") / "sir.csv"
    ds.to_csv(path)
    back = Dataset.from_csv(path)
    assert back.states == ds.states
    assert [tr.name for tr in back] == [tr.name for tr in ds]
    for a, b in zip(ds, back, strict=True):
        np.testing.assert_array_equal(a.t, b.t)
        np.testing.assert_array_equal(a.x, b.x)
    assert back.sha256() == ds.sha256()


def test_evaluation_budget_stops_a_hopeless_solve():
    p = load_problem("lorenz")
    with pytest.raises(
        SimulationError, match=r"'lorenz'.*more than 50 right-hand-side evaluations by t="
    ):
        integrate(p, p.initial_conditions[0], np.linspace(0.0, 5.0, 10), max_evals=50)


def test_old_budget_keyword_still_works_with_a_warning():
    p = load_problem("lorenz")
    t = np.linspace(0.0, 5.0, 10)
    with pytest.warns(DeprecationWarning, match=r"max_evaluations=\.\.\.\) is deprecated"):
        with pytest.raises(SimulationError, match="more than 50 right-hand-side evaluations"):
            integrate(p, p.initial_conditions[0], t, max_evaluations=50)
    with pytest.raises(TypeError, match="unexpected keyword argument 'max_steps'"):
        integrate(p, p.initial_conditions[0], t, max_steps=50)


def test_shipped_problems_fit_the_one_evaluation_budget():
    """Each trajectory of every shipped problem needs well under MAX_EVALS (margin 2x)."""
    from sysid.core.ode import MAX_EVALS

    for name in ("rossler", "fitzhugh-nagumo", "brusselator"):  # the three largest needs
        p = load_problem(name)
        for x0 in p.initial_conditions:
            t = np.linspace(*p.t_span, 50)
            integrate(p, x0, t, max_evals=MAX_EVALS // 2)


def test_stiff_system_falls_back_to_lsoda(valid_problem):
    valid_problem["equations"] = {"x": "-a*1e5*(x - cos(t))", "y": "-y"}
    p = problem_from_dict(valid_problem)
    t = np.linspace(0.0, 2.0, 11)
    x = integrate(p, [1.0, 1.0], t, max_evals=20_000)  # DOP853 would need far more
    np.testing.assert_allclose(x[:, 0], np.cos(t), atol=1e-4)


# ------------------------------------------------------------ driven systems
def _balance(name: str, storage, rate) -> None:
    """d(storage)/dt = rate on a fine clean grid: storage(t) - storage(0) = integral of rate."""
    data = simulate(name, n_samples=4001)
    for tr, sig in zip(data, data.inputs, strict=True):
        u = sig.u[:, 0]
        stored = storage(tr.x, u)
        gained = np.concatenate(
            [[0.0], np.cumsum(np.diff(tr.t) * 0.5 * (rate(tr.x, u)[1:] + rate(tr.x, u)[:-1]))]
        )
        scale = np.abs(stored).max() + np.abs(gained).max()
        np.testing.assert_allclose(stored - stored[0], gained, atol=2e-3 * scale)


def test_forced_duffing_energy_balance():
    p = _params("forced-duffing")
    a, b, d = p["alpha"], p["beta"], p["delta"]
    _balance(
        "forced-duffing",
        lambda x, u: 0.5 * x[:, 1] ** 2 + 0.5 * a * x[:, 0] ** 2 + 0.25 * b * x[:, 0] ** 4,
        lambda x, u: -d * x[:, 1] ** 2 + u * x[:, 1],
    )


def test_dc_motor_power_balance():
    p = _params("dc-motor")
    _balance(
        "dc-motor",
        lambda x, u: 0.5 * p["L"] * x[:, 0] ** 2 + 0.5 * p["J"] * x[:, 1] ** 2,
        lambda x, u: u * x[:, 0] - p["R"] * x[:, 0] ** 2 - p["b"] * x[:, 1] ** 2,
    )


def test_drug_infusion_mass_balance():
    p = _params("drug-infusion")
    _balance(
        "drug-infusion",
        lambda x, u: x[:, 0] + x[:, 1] / p["f"],
        lambda x, u: u - p["ke"] * x[:, 1] / p["f"],
    )


def test_culture_grows_then_dies_once_the_kill_rate_passes_growth(simulated):
    p = _params("culture-under-ramped-drug")
    turn = p["r"] / p["k"]  # after it, dN/dt = N*(r*(1 - N/K) - k*t) < 0 for every N > 0
    for tr in _both(simulated, "culture-under-ramped-drug"):
        late = tr.x[tr.t > turn, 0]
        assert (late > 0).all() and (np.diff(late) < 0).all()
        assert tr.x[:, 0].max() <= max(p["K"], tr.x[0, 0]) + 1e-9  # never above the capacity


def test_heated_room_stays_between_its_equilibria(simulated):
    p = _params("heated-room")
    hot = p["Tout"] + p["h"] / p["k"]  # the steady temperature with every element on
    for tr in _both(simulated, "heated-room"):
        lo, hi = min(tr.x[0, 0], p["Tout"]), max(tr.x[0, 0], hot)
        assert lo - 1e-9 <= tr.x[:, 0].min() and tr.x[:, 0].max() <= hi + 1e-9


def test_relative_noise_is_in_proportion_to_each_value():
    clean = simulate("logistic", seed=0)
    noisy = simulate("logistic", noise=0.1, seed=0, noise_model="relative")
    for c, n in zip(clean, noisy, strict=True):
        ratio = n.x / c.x - 1.0
        assert abs(float(ratio.std()) - 0.1) < 0.02  # 200 draws: sd within 20%
    spread = simulate("logistic", noise=0.1, seed=0)
    small = clean[0].x[:, 0] < 5.0  # values near 2 get far less noise than the spread's
    assert (
        np.abs(noisy[0].x - clean[0].x)[small].max() < np.abs(spread[0].x - clean[0].x)[small].max()
    )
    with pytest.raises(ConfigError, match="unknown noise_model 'odd'"):
        simulate("logistic", noise=0.1, noise_model="odd")


_PULSE = {
    "name": "pulsed-decay",
    "states": ["x"],
    "parameters": {"k": 1.0},
    "equations": {"x": "-k*x + 10*u"},
    # pulses of width 0.02 at t = 3 and 0.01 at t = 6, far shorter than the solver's steps
    "inputs": {"u": "(sign(t - 3) - sign(t - 3.02) + sign(t - 6) - sign(t - 6.01))/2"},
    "t_span": [0.0, 10.0],
    "n_samples": 11,
    "initial_conditions": [[1.0]],
}


def _pulsed_decay_exact(t: np.ndarray) -> np.ndarray:
    """x' = -x + 10 u(t), x(0) = 1, solved piece by piece in closed form."""

    def run(x, a, b, level):  # x' = -x + level on [a, b]
        return level + (x - level) * np.exp(-(b - a))

    out = []
    for tk in t:
        x, a = 1.0, 0.0
        for b, level in ((3.0, 0.0), (3.02, 10.0), (6.0, 0.0), (6.01, 10.0), (np.inf, 0.0)):
            if tk <= b:
                out.append(run(x, a, tk, level))
                break
            x, a = run(x, a, b, level), b
    return np.array(out)[:, None]


def test_short_pulses_of_a_switched_input_are_not_stepped_over():
    p = problem_from_dict(_PULSE)
    t = np.linspace(0.0, 10.0, 11)
    x = integrate(p, [1.0], t)
    np.testing.assert_allclose(x, _pulsed_decay_exact(t), rtol=0, atol=1e-8)
    ds = simulate(p, noise=0.0)
    np.testing.assert_allclose(ds[0].x, _pulsed_decay_exact(ds[0].t), rtol=0, atol=1e-8)


def test_switch_times_are_the_zeros_of_switches_in_time_alone():
    t, x = sp.Symbol("t", real=True), sp.Symbol("x", real=True)
    exprs = [sp.sign(sp.sin(2 * sp.pi * t / 3)) * x + sp.Abs(x - 1), sp.Abs(t - 0.5)]
    got = switch_times(exprs, (0.0, 7.0))
    np.testing.assert_allclose(got, [0.5, 1.5, 3.0, 4.5, 6.0], rtol=0, atol=1e-12)
    assert switch_times([sp.sin(t) + sp.sign(x)], (0.0, 7.0)).size == 0


def test_a_held_input_is_logged_at_its_switches_with_the_value_it_switches_to(tmp_path):
    p = problem_from_dict({**_PULSE, "input_interpolation": "hold"})
    ds = simulate(p, noise=0.0)
    sig = ds.inputs[0]
    logged = ~np.isin(sig.t, ds[0].t)
    np.testing.assert_allclose(sig.t[logged], [3.02, 6.01], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(sig.u[logged, 0], [0.0, 0.0])
    # the samples at t = 3 and 6 sit on a switch and read the value it switches to
    expected = np.zeros(11)
    expected[[3, 6]] = 1.0
    np.testing.assert_array_equal(ds.input_values()[0][:, 0], expected)
    assert sig(3.01) == pytest.approx(1.0) and sig(5.0) == pytest.approx(0.0)
    shifted = simulate(p, noise=0.0, t_span=(0.5, 10.5))  # no sample on a switch
    moved = shifted.inputs[0]
    at = ~np.isin(moved.t, shifted[0].t)
    np.testing.assert_allclose(moved.t[at], [3.0, 3.02, 6.0, 6.01], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(moved.u[at, 0], [1.0, 0.0, 1.0, 0.0])
    # a linearly read input keeps the samples of the states only
    assert simulate(problem_from_dict(_PULSE), noise=0.0).inputs[0].t.size == 11
