"""Exogenous inputs u(t): signals, data files, problem files, simulation and gray-box fits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import sysid
from sysid.cli import main
from sysid.core.ode import CompiledSystem, Guard, batch_inputs, simulate_batch
from sysid.data.inputs import InputSignal

FORCED = """
name = "forced-decay"
states = ["x"]
parameters = { k = 0.5, b = 1.0 }
equations = { x = "-k*x + b*F" }
inputs = { F = "sin(1.3*t)" }
t_span = [0.0, 10.0]
n_samples = 100
initial_conditions = [[1.0], [2.0]]
holdout_initial_conditions = [[0.5]]
"""


@pytest.fixture()
def forced(tmp_path):
    path = tmp_path / "forced.toml"
    path.write_text(FORCED)
    return sysid.load_problem(path)


def _problem(tmp_path, text: str):
    path = tmp_path / "p.toml"
    path.write_text(text)
    return sysid.load_problem(path)


# ----------------------------------------------------------------- signals
def test_signal_linear_and_hold():
    sig = InputSignal(("V",), [0.0, 1.0, 3.0], [[0.0], [2.0], [4.0]])
    assert sig(0.5).tolist() == [1.0]
    assert sig(np.array([2.0, -1.0, 9.0])).ravel().tolist() == [3.0, 0.0, 4.0]
    hold = InputSignal(("V",), sig.t, sig.u, "hold")
    assert hold(np.array([0.99, 1.0, 2.9, 5.0])).ravel().tolist() == [0.0, 2.0, 2.0, 4.0]


def test_signal_checks():
    with pytest.raises(sysid.ConfigError, match="interpolation must be one of"):
        InputSignal(("V",), [0.0, 1.0], [[0.0], [1.0]], "spline")
    with pytest.raises(sysid.DataError, match=r"do not match 2 times and inputs \['V', 'W'\]"):
        InputSignal(("V", "W"), [0.0, 1.0], [[0.0], [1.0]])


# -------------------------------------------------------------------- data
def test_csv_round_trip_with_inputs(tmp_path):
    t = np.linspace(0.0, 5.0, 20)
    ds = sysid.load_data((t, np.exp(-t), np.sin(t)), inputs=["V"])
    assert ds.input_names == ("V",) and ds.states == ("x0",)
    path = tmp_path / "d.csv"
    ds.to_csv(path)
    assert pd.read_csv(path).columns.tolist() == ["trajectory", "t", "x0", "V"]
    back = sysid.load_data(path, inputs=["V"], interpolation="hold")
    assert back.states == ("x0",) and back.inputs[0].interpolation == "hold"
    np.testing.assert_array_equal(back.inputs[0].u[:, 0], np.sin(t))
    assert sysid.load_data(path).states == ("x0", "V")  # without inputs=, a state
    assert back.subset([0]).input_names == ("V",)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"inputs": ["W"]}, r"input column\(s\) \['W'\] not found"),
        ({"inputs": ["t"]}, "both an input and the time"),
        ({"inputs": ["V"], "states": ["V"]}, "both a state and an input"),
        ({"inputs": ["V", "V"]}, "name a column twice"),
        ({"inputs": ["V"], "interpolation": "spline"}, "interpolation must be one of"),
    ],
)
def test_bad_input_columns(tmp_path, kwargs, match):
    path = tmp_path / "d.csv"
    path.write_text("t,x,V\n0,1,0\n1,0.5,1\n2,0.25,0\n3,0.1,1\n")
    with pytest.raises(sysid.SysidInputError, match=match):
        sysid.load_data(path, **kwargs)


def test_missing_input_value_names_the_line(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("t,x,V\n0,1,0\n1,0.5,\n2,0.25,0\n3,0.1,1\n")
    with pytest.raises(sysid.DataError, match=r"input column 'V' is missing at line 3"):
        sysid.load_data(path, inputs=["V"])


def test_inputs_must_cover_the_samples():
    tr = sysid.Trajectory(np.array([0.0, 1.0, 2.0]), np.ones((3, 1)))
    short = InputSignal(("V",), [0.0, 1.0], [[0.0], [1.0]])
    with pytest.raises(sysid.DataError, match=r"cover 0\.\.1, not all of its samples \(0\.\.2\)"):
        sysid.Dataset([tr], ("x",), inputs=[short])
    with pytest.raises(sysid.DataError, match="repeat a state"):
        sysid.Dataset([tr], ("V",), inputs=[InputSignal(("V",), tr.t, np.zeros((3, 1)))])


def test_rows_with_inputs_only_are_input_samples(tmp_path):
    """A logged switch between two measurements is kept, read and written back."""
    path = tmp_path / "d.csv"
    path.write_text("t,x,P\n0,1,0\n1,0.9,0\n1.25,,1\n2,1.1,1\n3,1.3,1\n")
    with pytest.warns(
        sysid.DataWarning,
        match=r"1 row where every state is missing \(line 4\) are read as samples of the "
        r"inputs only",
    ):
        ds = sysid.load_data(path, inputs=["P"], interpolation="hold")
    assert ds[0].t.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert ds.inputs[0].t.tolist() == [0.0, 1.0, 1.25, 2.0, 3.0]
    assert ds.inputs[0](np.array([1.2, 1.25, 1.5])).ravel().tolist() == [0.0, 1.0, 1.0]
    frame = ds.to_dataframe()
    assert frame["t"].tolist() == [0.0, 1.0, 1.25, 2.0, 3.0]
    assert np.isnan(frame["x"][2]) and frame["P"].tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]
    out = tmp_path / "back.csv"
    ds.to_csv(out)
    with pytest.warns(sysid.DataWarning, match="read as samples of the inputs only"):
        back = sysid.load_data(out, inputs=["P"], interpolation="hold")
    np.testing.assert_array_equal(back.inputs[0].t, ds.inputs[0].t)
    np.testing.assert_array_equal(back.inputs[0].u, ds.inputs[0].u)


# ---------------------------------------------------------------- problems
def test_problem_with_inputs_simulates_and_writes_columns(forced, tmp_path):
    assert forced.input_names == ("F",)
    assert str(forced.true_equations()["x"]) == "F - 0.5*x"
    ds = sysid.simulate(forced, noise=0.0, seed=0)
    np.testing.assert_allclose(ds.inputs[1].u[:, 0], np.sin(1.3 * ds[1].t), atol=1e-15)
    # the exact solution of x' = -0.5 x + sin(1.3 t)
    t, w, k = ds[0].t, 1.3, 0.5
    c = 1.0 + w / (k**2 + w**2)
    exact = c * np.exp(-k * t) + (k * np.sin(w * t) - w * np.cos(w * t)) / (k**2 + w**2)
    np.testing.assert_allclose(ds[0].x[:, 0], exact, rtol=1e-7, atol=1e-9)
    assert sysid.simulate(forced, holdout=True).input_names == ("F",)
    path = tmp_path / "f.csv"
    ds.to_csv(path)
    assert "F" in pd.read_csv(path).columns


def test_inputs_per_trajectory(tmp_path):
    text = FORCED.replace(
        'inputs = { F = "sin(1.3*t)" }', 'inputs = { F = ["1 + 0*t", "-1 + 0*t"] }'
    )
    with pytest.raises(sysid.ProblemFileError, match="need their own"):
        _problem(tmp_path, text)
    p = _problem(
        tmp_path, text + 'holdout_inputs = { F = "0.5 + 0*t" }\ninput_interpolation = "hold"\n'
    )
    ds = sysid.simulate(p)
    assert ds.inputs[0].u[0, 0] == 1.0 and ds.inputs[1].u[0, 0] == -1.0
    assert ds.inputs[0].interpolation == "hold"
    assert sysid.simulate(p, holdout=True).inputs[0].u[-1, 0] == 0.5
    with pytest.raises(sysid.ConfigError, match=r"per trajectory \(2\), but 3 starts"):
        sysid.simulate(p, initial_conditions=[[1.0], [2.0], [3.0]])


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ('{ F = "sin(1.3*t)" }', '{ x = "sin(t)" }', "cannot be an input name"),
        ('{ F = "sin(1.3*t)" }', '{ k = "sin(t)" }', "cannot be an input name"),
        ('{ F = "sin(1.3*t)" }', '{ F = "sin(x)" }', "unknown name 'x'"),
        ('{ F = "sin(1.3*t)" }', "{ F = 3 }", "must be an expression of t"),
        ('{ F = "sin(1.3*t)" }', '{ F = ["sin(t)"] }', r"gives 1 signals for 2 rows"),
        ('inputs = { F = "sin(1.3*t)" }', 'input_interpolation = "hold"', "has no 'inputs'"),
    ],
)
def test_bad_problem_inputs(tmp_path, old, new, match):
    with pytest.raises(sysid.SysidInputError, match=match):
        _problem(tmp_path, FORCED.replace(old, new))


def test_interpolation_value_checked(tmp_path):
    with pytest.raises(sysid.ProblemFileError, match="'input_interpolation' must be one of"):
        _problem(tmp_path, FORCED + 'input_interpolation = "spline"\n')


# ------------------------------------------------------------ systems, fits
def test_compiled_system_reads_inputs():
    x, u = sp.symbols("x F", real=True)
    system = CompiledSystem(["x"], [(0, x), (0, u)], inputs=["F"])
    sig = InputSignal(("F",), [0.0, 10.0], [[1.0], [1.0]])
    guard = Guard.around(np.array([[0.0], [3.0]]))
    xs, _, _ = simulate_batch(
        system, np.array([-1.0, 1.0]), np.array([[0.0]]), np.array([0.0, 1.0, 5.0]),
        guard=guard, inputs=batch_inputs([sig], [0.0]),
    )  # fmt: skip
    np.testing.assert_allclose(xs[0, :, 0], 1 - np.exp(-np.array([0.0, 1.0, 5.0])), rtol=1e-7)
    with pytest.raises(ValueError, match=r"needs the inputs \['F'\]"):
        system.terms(np.zeros((1, 1)))


def test_graybox_fit_with_inputs(forced, tmp_path):
    ds = sysid.simulate(forced, noise=0.01, seed=1)
    path = tmp_path / "f.csv"
    ds.to_csv(path)
    res = sysid.fit_model({"x": "-k*x + b*F"}, str(path), parameters={"k": 1.0, "b": 0.5},
                          inputs=["F"])  # fmt: skip
    assert res.parameters["k"] == pytest.approx(0.5, rel=0.01)
    assert res.parameters["b"] == pytest.approx(1.0, rel=0.01)
    same = sysid.fit_model({"x": "-k*x + b*F"}, ds, parameters={"k": 1.0, "b": 0.5})
    assert same.parameters["k"] == pytest.approx(res.parameters["k"], rel=1e-6)
    sim = same.simulate(ds[1].t, trajectory=1)
    np.testing.assert_allclose(sim[:, 0], ds[1].x[:, 0], atol=0.05)
    with pytest.raises(sysid.EquationError, match="unknown name 'G'"):
        sysid.fit_model({"x": "-k*x + b*G"}, ds, parameters={"k": 1.0, "b": 0.5})
    with pytest.raises(sysid.ConfigError, match="inputs must be a non-empty list"):
        sysid.fit_model({"x": "-k*x"}, str(path), parameters={"k": 1.0}, inputs="F")


def test_sysid_fit_with_inputs(forced, tmp_path, capsys):
    ds = sysid.simulate(forced, noise=0.01, seed=1)
    data = tmp_path / "f.csv"
    ds.to_csv(data)
    model = tmp_path / "m.toml"
    model.write_text(
        'states = ["x"]\nequations = { x = "-k*x + b*F" }\nunknown = { k = 1.0, b = 0.5 }\n'
        'inputs = ["F"]\nderived = { tau = "1/k" }\n'
    )
    assert main(["fit", str(model), str(data), "-o", str(tmp_path / "o"), "-q"]) == 0
    out = capsys.readouterr().out
    assert "tau: 1/k = 1.99" in out and "verdict: good" in out
    model.write_text(model.read_text().replace("b*F", "b*G"))
    with pytest.raises(sysid.EquationError, match="unknown name 'G'"):
        sysid.load_model_file(model)


# ----------------------------------------------------------------- discovery
@pytest.fixture(scope="module")
def forced_run(tmp_path_factory):
    """discover on the forced decay (5% noise), FAST budgets, saved once."""
    path = tmp_path_factory.mktemp("forced") / "forced.toml"
    path.write_text(FORCED)
    problem = sysid.load_problem(path)
    data = sysid.simulate(problem, noise=0.05, seed=0)
    csv = path.parent / "forced.csv"
    data.to_csv(csv)
    res = sysid.discover(
        str(csv),
        inputs=["F"],
        quiet=True,
        neural={"width": 24, "max_epochs": 15, "pretrain_epochs": 150, "time_limit": 20.0},
        distill_options={"max_terms": 3},
        select_options={"time_limit": 20.0, "ensemble": 2},
    )
    out = path.parent / "out"
    res.save(out)
    return problem, data, res, out


def test_discover_finds_the_forced_law(forced_run):
    problem, data, res, _ = forced_run
    s = sysid.score(res.equations, problem)
    assert s["structure_recovered"], res.equations
    assert s["max_coefficient_relative_error"] < 0.05
    assert res.model.inputs == ("F",)
    assert res.verdict == "good"
    # the search may run (on states and inputs); the law is still the library's
    assert res.extra["expression_search"]["mode"] == "auto"


def test_result_with_inputs_is_saved_and_reloaded(forced_run):
    import json

    _, data, res, out = forced_run
    doc = json.loads((out / "result.json").read_text())
    assert doc["inputs"] == ["F"] and doc["data"]["interpolation"] == "linear"
    assert (out / "trajectories.png").is_file() and not (out / "phase_portrait.png").exists()
    assert not (out / "figures_failed.txt").exists()
    model = sysid.SymbolicModel.load(out / "model.json")
    assert model.inputs == ("F",)
    sim = model.simulate(data[0].x[0], data[0].t, inputs=data.inputs[0])
    assert np.sqrt(np.mean((sim - data[0].x) ** 2)) < 0.1
    with pytest.raises(sysid.DataError, match=r"the model has inputs \['F'\]: pass inputs="):
        model.simulate(data[0].x[0], data[0].t)
    band = res.forecast(2.0, n_draws=5)
    assert band["inputs_after_data"].startswith("held")
    field = sysid.NeuralField.load(out / "field")
    assert field.input_names_ == ("F",)
    np.testing.assert_array_equal(
        field.predict(data[0].x[:3], data.input_values()[0][:3]),
        res.field.predict(data[0].x[:3], data.input_values()[0][:3]),
    )
    with pytest.raises(sysid.DataError, match=r"fitted with inputs \['F'\]: pass u"):
        field.predict(data[0].x[:3])


def test_recover_scores_held_out_inputs(forced_run):
    problem, _, res, _ = forced_run
    s = sysid.score(res.equations, problem, simulate_model=res.model.simulate)
    assert s["holdout_r2"] is not None and s["holdout_r2"] > 0.99


def test_pysindy_takes_inputs(forced):
    from sysid.benchmark.baselines import pysindy_available, pysindy_discover

    if not pysindy_available():
        pytest.skip("pysindy not installed")
    found = pysindy_discover(sysid.simulate(forced, noise=0.0, seed=0))
    assert sysid.score(found, forced)["structure_recovered"], found


def test_library_with_inputs():
    lib = sysid.Library(["x"], degree=2, trig=True, inputs=["F"])
    assert lib.names == ["1", "x", "F", "x**2", "F*x", "F**2", "sin(x)", "cos(x)"]
    assert lib.evaluate(np.array([[2.0, 3.0]]))[0, :6].tolist() == [1, 2, 3, 4, 6, 9]
    with pytest.raises(sysid.DataError, match=r"expected states of shape \(n, 2\)"):
        lib.evaluate(np.array([[2.0]]))
    with pytest.raises(sysid.ConfigError, match="repeat state names"):
        sysid.Library(["x"], inputs=["x"])


def test_cli_discover_inputs(tmp_path, forced, capsys):
    data = sysid.simulate(forced, noise=0.01, seed=0)
    csv = tmp_path / "f.csv"
    data.to_csv(csv)
    assert main(["discover", str(csv), "--inputs", "G", "-q"]) == 2
    assert "input column(s) ['G'] not found" in capsys.readouterr().err
    assert main(["discover", str(csv), "--inputs", ",", "-q"]) == 2
    assert "--inputs: names no column" in capsys.readouterr().err
    assert main(["discover", str(csv), "--inputs", "F", "--interpolation", "spline"]) == 2
    assert "invalid choice: 'spline'" in capsys.readouterr().err


@settings(max_examples=40, deadline=None)
@given(
    interpolation=st.sampled_from(["linear", "hold"]),
    members=st.integers(1, 6),
    seed=st.integers(0, 10_000),
    t=st.floats(-3.0, 15.0),
)
def test_a_batch_reads_each_member_as_its_own_signal(interpolation, members, seed, t):
    # Irregular grids of different lengths and starts, as in a batch of refit windows.
    rng = np.random.default_rng(seed)
    sigs, starts = [], []
    for _ in range(members):
        n = int(rng.integers(1, 12))
        times = np.cumsum(rng.uniform(0.05, 1.5, n))
        sigs.append(InputSignal(("a", "b"), times, rng.normal(size=(n, 2)), interpolation))
        starts.append(float(rng.uniform(0.0, 4.0)))
    read = batch_inputs(sigs, starts)
    expected = np.stack([s(t0 + t) for s, t0 in zip(sigs, starts, strict=True)])
    np.testing.assert_allclose(read(t), expected, rtol=0, atol=1e-12)
    # with ends, a member holds its inputs past its end and restarts only before it
    ends = rng.uniform(0.0, 8.0, members)
    ended = batch_inputs(sigs, starts, ends)
    held = np.stack([s(t0 + min(t, e)) for s, t0, e in zip(sigs, starts, ends, strict=True)])
    np.testing.assert_allclose(ended(t), held, rtol=0, atol=1e-12)
    local = [s.t - t0 for s, t0 in zip(sigs, starts, strict=True)]
    met = np.unique(np.concatenate([k[k < e] for k, e in zip(local, ends, strict=True)]))
    np.testing.assert_array_equal(ended.breaks, met)


def test_many_restarts_at_input_samples_do_not_spend_the_evaluation_budget():
    # a held input with 3000 samples: every restart costs a fresh step-size search
    x, u = sp.symbols("x F", real=True)
    system = CompiledSystem(["x"], [(0, x), (0, u)], inputs=["F"])
    times = np.linspace(0.0, 30.0, 3001)
    sig = InputSignal(("F",), times, np.ones((times.size, 1)), "hold")
    xs, _, _ = simulate_batch(
        system, np.array([-1.0, 1.0]), np.array([[0.0]]), np.array([0.0, 30.0]),
        guard=Guard(), inputs=batch_inputs([sig], [0.0]),
    )  # fmt: skip
    np.testing.assert_allclose(xs[0, -1, 0], 1 - np.exp(-30.0), rtol=1e-7)
