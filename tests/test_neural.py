"""Neural vector field: gradients, irregular data, training faults, save/load."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp
from torchdiffeq import odeint

import sysid
from sysid.core.errors import ConfigError, DataError, SysidWarning, TrainingError
from sysid.neural import train as _neural_train
from sysid.neural.field import NeuralField, loss_and_grads
from sysid.neural.net import VectorField, WindowDynamics, solve_windows
from sysid.neural.windows import fit_scaler, holdout_masks, make_windows

TINY = dict(width=8, depth=1, max_epochs=6, pretrain_epochs=50, quiet=True)


@pytest.fixture(scope="module")
def lv() -> sysid.Dataset:
    return sysid.simulate("lotka-volterra", n_samples=25, noise=0.02, seed=0)


@pytest.fixture(scope="module")
def lv_irregular() -> sysid.Dataset:
    return sysid.simulate("lotka-volterra", n_samples=25, noise=0.02, seed=1, irregular=True)


@pytest.fixture(scope="module")
def tiny_field(lv) -> NeuralField:
    return NeuralField(**TINY).fit(lv)


# ------------------------------------------------------------ hyperparameters
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"width": 0}, r"width must be an integer >= 1, found 0"),
        ({"depth": 1.5}, r"depth must be an integer >= 1, found 1.5"),
        ({"activation": "relu"}, r"activation must be one of \['tanh', 'softplus'"),
        ({"gradient": "backprop"}, r"gradient must be one of \['adjoint', 'direct'\]"),
        ({"solver": "rk45"}, r"solver must be one of \['rk4'"),
        ({"max_epochs": -1}, r"max_epochs must be an integer >= 0"),
        ({"time_limit": 0}, r"time_limit must be a finite number > 0, found 0"),
        ({"lr": float("nan")}, r"lr must be a finite number > 0, found nan"),
        ({"val_fraction": 0.5}, r"val_fraction must be a finite number in \[0, 0.5\)"),
        ({"horizons": ()}, r"horizons must be a non-empty sequence"),
        ({"horizons": (1.0, -2.0)}, r"horizons must be a finite number > 0, found -2.0"),
        ({"max_window": 1}, r"max_window must be an integer >= 2"),
        ({"dtype": torch.int32}, r"dtype must be torch.float64 or torch.float32"),
        ({"device": "tpu:x"}, r"device 'tpu:x' is not a torch device"),
        ({"seed": -3}, r"seed must be an integer in \[0, 2\*\*63 - 1\], found -3"),
        ({"n_threads": 0}, r"n_threads must be an integer >= 1"),
        ({"quiet": "yes"}, r"quiet must be True or False"),
    ],
)
def test_bad_hyperparameters_are_named(lv, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        NeuralField(**{**TINY, **kwargs}).fit(lv)


def test_init_checks_options_and_repr_shows_changes():
    with pytest.raises(ConfigError, match=r"NeuralField\(width=\.\.\.\): width must be an integer"):
        NeuralField(width=-5)  # checked when built, before any training
    assert NeuralField(width=16).width == 16
    assert repr(NeuralField(width=16)) == "NeuralField(width=16)"
    assert NeuralField().get_params()["gradient"] == "adjoint"


def test_unfitted_field_says_so():
    with pytest.raises(ConfigError, match="not fitted yet"):
        NeuralField().predict(np.zeros((1, 2)))


# ----------------------------------------------------------------- gradients
@pytest.mark.parametrize("solver", ["dopri5", "rk4"])
def test_adjoint_and_direct_gradients_agree(lv, lv_irregular, solver):
    """torchdiffeq's adjoint gives backprop's gradients (weights and start states)."""
    if solver == "dopri5":  # tight tolerances: both converge to the exact gradient
        data, kw = lv, {"solver": "dopri5", "rtol": 1e-11, "atol": 1e-11}
    else:  # many fixed steps on irregular data: discretisation error ~ step**4
        data, kw = lv_irregular, {"solver": "rk4", "substeps": 40}
    nf = NeuralField(width=8, depth=2, max_epochs=0, pretrain_epochs=30, quiet=True).fit(data)
    la, ga = loss_and_grads(nf, data, gradient="adjoint", window=4, **kw)
    ld, gd = loss_and_grads(nf, data, gradient="direct", window=4, **kw)
    assert la == pytest.approx(ld, rel=1e-12)
    assert set(ga) == set(gd) and "start_states" in ga
    for name in gd:
        scale = np.abs(gd[name]).max()
        np.testing.assert_allclose(ga[name], gd[name], rtol=0, atol=1e-6 * scale, err_msg=name)


# ----------------------------------------------------------- irregular data
def _random_trajectories(seed: int):
    rng = np.random.default_rng(seed)
    taus, zs = [], []
    for n in (7, 12, 4):
        tau = np.r_[0.0, np.cumsum(rng.uniform(0.02, 0.3, n - 1))]
        taus.append(tau)
        zs.append(rng.standard_normal((n, 2)))
    return taus, zs


@pytest.mark.parametrize("solver", ["rk4", "dopri5"])
def test_batched_window_equals_solving_it_alone(solver):
    """One batch on the shared sample-index grid gives each window its own times."""
    taus, zs = _random_trajectories(0)
    w = make_windows(taus, zs, m=4)
    g = VectorField(2, 16, 2, "tanh", torch.Generator().manual_seed(1))
    coef = torch.as_tensor(w.coef)
    y0 = torch.as_tensor(w.start_states(taus, zs))
    with torch.no_grad():
        batch = solve_windows(
            WindowDynamics(g, coef),
            y0,
            gradient="direct",
            solver=solver,
            substeps=64,
            rtol=1e-10,
            atol=1e-12,
        ).numpy()
        for b in range(w.n_windows):
            t = torch.as_tensor(w.times[b])
            alone = odeint(lambda s, z: g(z), y0[b], t, rtol=1e-11, atol=1e-13)
            np.testing.assert_allclose(batch[b], alone.numpy(), rtol=0, atol=1e-8)


class _Integrator(torch.nn.Module):
    """dz/dtau = v: the field integrates its input."""

    def forward(self, z: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return v + 0.0 * z


@pytest.mark.parametrize("logged", [False, True])
def test_the_field_reads_a_switch_logged_between_samples(logged):
    """With a switch logged at t = 1.25 the windows see it; without, only the samples."""
    from sysid.data.inputs import InputSignal
    from sysid.neural.inputs import FINE_READINGS, fit_input_scaler, inputs_of, window_inputs

    t = np.array([0.0, 1.0, 2.0, 3.0])
    ti = np.array([0.0, 1.0, 1.25, 2.0, 3.0]) if logged else t
    signal = InputSignal(("P",), ti, (ti >= 1.25).astype(float)[:, None], "hold")
    ds = sysid.Dataset([sysid.Trajectory(t, np.c_[t])], ("x",), inputs=[signal])
    scaler = fit_input_scaler(ds)
    inputs = inputs_of(ds, scaler, 1.0)
    assert inputs.per_interval == (FINE_READINGS if logged else 1)
    w = make_windows([t], [np.ones((4, 1))], m=3)
    v = window_inputs(w, inputs)
    assert v.shape == (1, 3 * inputs.per_interval + 1, 1)
    # the integral of the held input from 0 to 3 is 1.75; read at the samples only, 1.5
    u = torch.as_tensor(v * scaler.scale + scaler.mean)
    dyn = WindowDynamics(_Integrator(), torch.as_tensor(w.coef), u)
    with torch.no_grad():
        z = solve_windows(dyn, torch.zeros(1, 1), gradient="direct", substeps=8)
    expected, tol = (1.75, 0.5 / FINE_READINGS) if logged else (1.5, 1e-9)
    assert float(z[0, -1, 0]) == pytest.approx(expected, abs=tol)


@settings(max_examples=30, deadline=None)
@given(
    gaps=st.lists(st.floats(0.01, 2.0), min_size=2, max_size=30),
    m=st.integers(1, 8),
    split=st.sampled_from([None, 0.3]),
)
def test_windows_cover_every_sample_and_keep_their_times(gaps, m, split):
    tau = np.r_[0.0, np.cumsum(gaps)]
    z = np.arange(tau.size, dtype=float)[:, None]
    w = make_windows([tau], [z], m, max_gap=split)
    real = w.sample_index >= 0
    assert set(w.sample_index[real].tolist()) == set(range(tau.size))
    # observations and local times are those of the samples each point stands for
    np.testing.assert_array_equal(w.obs[..., 0][real], z[w.sample_index[real], 0])
    local = tau[w.sample_index] - w.start_tau[:, None]
    np.testing.assert_allclose(w.times[real], local[real], atol=1e-12)
    assert (w.train_mask[~real] == 0).all()
    if split is not None:  # virtual points keep every interval short
        assert (
            np.diff(w.times, axis=1)[:, : min(w.m, tau.size - 1)].max()
            <= max(split, 1e-9) * (1 + 1e-9)
            or tau.size - 1 < w.m
        )
    # the time map is monotone and carries s = 0..m onto each window's times exactly
    s = np.linspace(0.0, w.m, 40 * w.m + 1)
    rate = w.rate_at(s)
    assert (rate >= -1e-12).all()
    spans = np.trapezoid(rate, s, axis=0)
    np.testing.assert_allclose(spans, w.times[:, -1], rtol=1e-3)
    # tau(s) is the integral of tau': the points' times at integers, monotone between
    tau_s = w.tau_at(s)
    np.testing.assert_allclose(tau_s[::40].T, w.times, rtol=1e-9, atol=1e-12)
    assert (np.diff(tau_s, axis=0) >= -1e-12).all()
    # continuity links point inside the window before
    for b in np.flatnonzero(w.prev >= 0):
        p = w.prev[b]
        assert w.start_tau[p] + w.times[p, w.offset[b]] == pytest.approx(w.start_tau[b])


def test_irregular_and_regular_data_give_comparable_fields():
    problem = sysid.load_problem("pendulum")
    kw = dict(width=32, max_epochs=60, time_limit=30.0, quiet=True)
    regular = sysid.simulate(problem, n_samples=80, noise=0.01, seed=0)
    irregular = sysid.simulate(problem, n_samples=80, noise=0.01, seed=0, irregular=True)
    clean = sysid.simulate(problem, n_samples=80, seed=0)
    x = np.concatenate([tr.x for tr in clean])
    truth = problem.rhs(0.0, x.T).T
    errs = []
    for data in (regular, irregular):
        f = NeuralField(**kw).fit(data).predict(x)
        errs.append(np.linalg.norm(f - truth, axis=0) / np.linalg.norm(truth, axis=0))
    assert max(errs[0]) < 0.15 and max(errs[1]) < 0.15, errs


# ------------------------------------------------------------- normalisation
def test_fit_is_equivariant_to_units(lv):
    """Rescaled data (other units) give the same field, mapped to the new units."""
    a, c, b = np.array([1000.0, 0.01]), np.array([5.0, -3.0]), 60.0
    scaled = sysid.Dataset.from_arrays(
        [tr.t * b for tr in lv], [tr.x * a + c for tr in lv], states=lv.states
    )
    f1 = NeuralField(**TINY).fit(lv)
    f2 = NeuralField(**TINY).fit(scaled)
    x = lv[0].x
    # equal up to the tolerance of the smoothing-spline fits used for the warm start
    np.testing.assert_allclose(f2.predict(x * a + c), f1.predict(x) * a / b, rtol=1e-3)
    lo, hi = f2.region_
    np.testing.assert_allclose(lo, f1.region_[0] * a + c)


def test_scaler_rates_have_unit_rms():
    t = np.linspace(0.0, 4.0 * np.pi, 801)  # four whole periods
    sc = fit_scaler([t], [np.c_[3.0 + 2.0 * np.sin(2.0 * t)]])
    assert sc.mean[0] == pytest.approx(3.0, abs=1e-2)
    assert sc.scale[0] == pytest.approx(np.sqrt(2.0), rel=1e-2)
    assert 1.0 / sc.time_scale == pytest.approx(2.0, rel=1e-2)  # rms of d/dt sin(2t)*sqrt(2)


def test_holdout_masks_are_seeded_and_spare_the_start():
    a = holdout_masks([50, 20], 0.2, seed=3)
    b = holdout_masks([50, 20], 0.2, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert [int(m.sum()) for m in a] == [10, 4]
    assert not any(m[0] for m in a)


# ---------------------------------------------------------- reproducibility
def test_same_seed_same_history_and_weights(lv):
    f1 = NeuralField(**TINY, seed=4).fit(lv)
    f2 = NeuralField(**TINY, seed=4).fit(lv)
    h1 = {k: v for k, v in f1.history_.items() if k != "time"}
    h2 = {k: v for k, v in f2.history_.items() if k != "time"}
    assert h1 == h2 and len(h1["loss"]) > 0
    for (k1, v1), (k2, v2) in zip(
        f1.field_.state_dict().items(), f2.field_.state_dict().items(), strict=True
    ):
        assert k1 == k2 and torch.equal(v1, v2)
    f3 = NeuralField(**TINY, seed=5).fit(lv)
    assert f3.history_["loss"] != f1.history_["loss"]


# ------------------------------------------------------------------ faults
def _failing_objective(fail_on: set[int] | None = None, exc=None, nan: bool = False):
    """Wrap the training objective to fail on the given training steps (None: always)."""
    real = _neural_train.objective
    calls = {"n": 0}

    def objective(*args, **kwargs):
        calls["n"] += 1
        if fail_on is None or calls["n"] in fail_on:
            if nan:
                total, parts, z = real(*args, **kwargs)
                return total * float("nan"), parts, z
            raise exc
        return real(*args, **kwargs)

    return objective


def test_underflow_is_retried_with_safer_settings(lv, monkeypatch):
    monkeypatch.setattr(
        _neural_train,
        "objective",
        _failing_objective({3}, AssertionError("underflow in dt 0.0")),
    )
    nf = NeuralField(**TINY).fit(lv)
    events = nf.history_["events"]
    assert len(events) == 1 and events[0]["kind"] == "fault"
    assert "underflow in dt" in events[0]["message"]
    assert "learning rate halved" in events[0]["message"]
    assert nf.status_ != "fault" and np.isfinite(nf.predict(lv[0].x)).all()
    assert min(nf.history_["lr"]) < TINY.get("lr", NeuralField().lr)


def test_nan_loss_is_retried(lv, monkeypatch):
    monkeypatch.setattr(_neural_train, "objective", _failing_objective({2}, nan=True))
    nf = NeuralField(**TINY).fit(lv)
    assert "loss is nan" in nf.history_["events"][0]["message"]
    assert np.isfinite(nf.history_["loss"]).all()


def test_adaptive_solver_fault_switches_to_fixed_step(lv, monkeypatch):
    monkeypatch.setattr(
        _neural_train,
        "objective",
        _failing_objective({2}, AssertionError("underflow in dt 1e-300")),
    )
    nf = NeuralField(**{**TINY, "solver": "dopri5"}).fit(lv)
    assert "switched to fixed-step rk4" in nf.history_["events"][0]["message"]


def test_persistent_fault_raises_with_remedies(lv, monkeypatch):
    monkeypatch.setattr(_neural_train, "objective", _failing_objective(None, nan=True))
    with pytest.raises(TrainingError, match=r"Remedies: lower lr .* solver='dopri5'") as info:
        NeuralField(**TINY).fit(lv)
    kept = info.value.field  # the warm-started model is not lost
    assert np.isfinite(kept.predict(lv[0].x)).all()


def test_fault_after_progress_keeps_best_weights(lv, monkeypatch):
    monkeypatch.setattr(
        _neural_train,
        "objective",
        _failing_objective(set(range(4, 100)), RuntimeError("solver blew up")),
    )
    with pytest.warns(SysidWarning, match="keeping the best weights so far. Remedies"):
        nf = NeuralField(**TINY).fit(lv)
    assert nf.status_ == "fault" and "solver blew up" in nf.message_
    assert len(nf.history_["loss"]) == 3
    assert np.isfinite(nf.predict(lv[0].x)).all()


def test_ctrl_c_keeps_the_best_model(lv, monkeypatch):
    monkeypatch.setattr(_neural_train, "objective", _failing_objective({4}, KeyboardInterrupt()))
    with pytest.warns(SysidWarning, match="interrupted by the user"):
        nf = NeuralField(**TINY).fit(lv)
    assert nf.interrupted_ and nf.status_ == "interrupted"
    assert nf.history_["events"][-1]["kind"] == "interrupt"
    assert len(nf.history_["loss"]) == 3
    assert np.isfinite(nf.predict(lv[0].x)).all()


def test_ctrl_c_during_warm_start_keeps_it(lv, monkeypatch):
    calls = {"n": 0}
    real = VectorField.forward

    def forward(self, z):
        calls["n"] += 1
        if calls["n"] == 10:
            raise KeyboardInterrupt
        return real(self, z)

    monkeypatch.setattr(VectorField, "forward", forward)
    with pytest.warns(SysidWarning, match="during the warm start"):
        nf = NeuralField(**TINY).fit(lv)
    assert nf.interrupted_ and nf.n_epochs_ == 0
    assert np.isfinite(nf.predict(lv[0].x)).all()


@pytest.mark.parametrize("stage", [0, 1])
def test_ctrl_c_while_a_stage_calibrates_keeps_the_last_stage(lv, monkeypatch, stage):
    """An interrupt before a stage has a snapshot keeps the one before (or the warm start)."""
    calls = {"n": 0}
    real = _neural_train._Stage.calibrate

    def calibrate(self, tol, k_max=64):
        calls["n"] += 1
        if calls["n"] == stage + 1:
            raise KeyboardInterrupt
        return real(self, tol, k_max)

    monkeypatch.setattr(_neural_train._Stage, "calibrate", calibrate)
    options = {**TINY, "max_epochs": 12}
    with pytest.warns(SysidWarning, match="interrupted by the user"):
        nf = NeuralField(**options).fit(lv)
    assert nf.interrupted_ and nf.status_ == "interrupted"
    assert calls["n"] == stage + 1
    assert (nf.n_epochs_ == 0) if stage == 0 else (nf.n_epochs_ > 0)
    assert np.isfinite(nf.predict(lv[0].x)).all()


def test_time_limit_stops_training(lv):
    nf = NeuralField(**{**TINY, "max_epochs": 10_000, "time_limit": 1.0}).fit(lv)
    assert nf.status_ == "timeout"
    assert nf.fit_time_ < 10.0


# --------------------------------------------------------------- using it
def test_predict_shapes_and_errors(tiny_field, lv):
    x = lv[0].x
    assert tiny_field.predict(x).shape == x.shape
    assert tiny_field.predict(x[0]).shape == (2,)
    np.testing.assert_array_equal(tiny_field(x), tiny_field.predict(x))
    np.testing.assert_array_equal(tiny_field.as_function()(x), tiny_field.predict(x))
    with pytest.raises(DataError, match=r"x must have shape \(n, 2\).*found shape \(4, 3\)"):
        tiny_field.predict(np.zeros((4, 3)))
    with pytest.raises(DataError, match="NaN or infinite"):
        tiny_field.predict(np.array([np.nan, 1.0]))


def test_region_is_the_data_box(tiny_field, lv):
    lo, hi = tiny_field.region_
    np.testing.assert_array_equal(lo, lv.bounds()[0])
    np.testing.assert_array_equal(hi, lv.bounds()[1])


def test_simulate_follows_the_field(tiny_field, lv):
    x0, t = lv[1].x[0], lv[1].t
    ours = tiny_field.simulate(x0, t)
    ref = solve_ivp(
        lambda _t, x: tiny_field.predict(x), (t[0], t[-1]), x0, t_eval=t, rtol=1e-10, atol=1e-10
    )
    np.testing.assert_allclose(ours, ref.y.T, rtol=1e-5, atol=1e-6 * np.abs(ref.y).max())
    with pytest.raises(DataError, match="strictly increasing"):
        tiny_field.simulate(x0, t[::-1])
    with pytest.raises(DataError, match=r"x0 must have shape"):
        tiny_field.simulate(np.zeros(3), t)


def test_smoothed_states_denoise():
    problem = sysid.load_problem("pendulum")
    noisy = sysid.simulate(problem, n_samples=60, noise=0.1, seed=2)
    clean = sysid.simulate(problem, n_samples=60, seed=2)
    nf = NeuralField(width=32, max_epochs=150, quiet=True).fit(noisy)
    sm = nf.smoothed()
    assert [s.shape for s in sm] == [tr.x.shape for tr in noisy]
    err_sm = np.sqrt(np.mean([(s - c.x) ** 2 for s, c in zip(sm, clean, strict=True)]))
    err_raw = np.sqrt(np.mean([(n.x - c.x) ** 2 for n, c in zip(noisy, clean, strict=True)]))
    assert err_sm < 0.6 * err_raw
    other = nf.smoothed(noisy.subset([0]))  # new data: start states refitted, field frozen
    assert other[0].shape == noisy[0].x.shape
    assert np.sqrt(np.mean((other[0] - clean[0].x) ** 2)) < err_raw


def test_save_load_reproduces_predictions(tiny_field, lv, tmp_path):
    tiny_field.save(tmp_path / "field")
    back = NeuralField.load(tmp_path / "field")
    x = np.concatenate([tr.x for tr in lv])
    np.testing.assert_array_equal(back.predict(x), tiny_field.predict(x))
    assert back.get_params() == tiny_field.get_params()
    assert back.history_["loss"] == tiny_field.history_["loss"]
    for a, b in zip(back.smoothed(), tiny_field.smoothed(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert back.versions_["torch"] == torch.__version__
    state = torch.load(tmp_path / "field" / "weights.pt", weights_only=True)
    assert set(state["field"]) == set(tiny_field.field_.state_dict())


def test_load_rejects_a_folder_without_a_field(tmp_path):
    with pytest.raises(ConfigError, match="not a saved NeuralField"):
        NeuralField.load(tmp_path)


def test_progress_bar_on_stderr_unless_quiet(lv, capsys):
    NeuralField(**{**TINY, "quiet": False, "max_epochs": 3}).fit(lv)
    err = capsys.readouterr().err
    assert "neural field" in err and "loss" in err
    NeuralField(**TINY).fit(lv)
    assert capsys.readouterr().err == ""


def test_history_is_plot_ready(tiny_field):
    h = tiny_field.history_
    n = len(h["epoch"])
    for key in ("epoch", "loss", "val_loss", "lr", "window", "stage", "time"):
        assert len(h[key]) == n
    assert h["epoch"] == list(range(n))
    assert all(np.isfinite(h["loss"]))


def test_direct_gradient_and_float32_train(lv):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nf = NeuralField(**TINY, gradient="direct", dtype=torch.float32).fit(lv)
    assert nf.predict(lv[0].x).dtype == np.float64
    assert next(nf.field_.parameters()).dtype == torch.float32
