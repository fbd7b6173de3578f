"""Time as a variable: the clock input, time-dependent models, the pipeline and the bench."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from jsonschema import Draft202012Validator
from scipy.integrate import solve_ivp

import sysid
from sysid.benchmark.runner import Task, run_task
from sysid.cli import main
from sysid.core.errors import ConfigError, DataError
from sysid.core.ode import batch_inputs
from sysid.data.dataset import Dataset
from sysid.data.inputs import InputSignal, with_clock, without_clock
from sysid.symbolic.model import SymbolicModel

DOCS = Path(__file__).resolve().parents[1] / "docs"
PROBLEM = "culture-under-ramped-drug"


# ------------------------------------------------------------------ the clock
def test_clock_reads_the_time_itself_also_outside_the_samples():
    clock = with_clock(None, np.array([0.0, 1.0, 2.0]))
    assert clock.names == ("t",) and clock.clock
    assert clock(7.25).tolist() == [7.25]
    np.testing.assert_allclose(clock(np.array([-1.0, 0.3, 9.0])).ravel(), [-1.0, 0.3, 9.0])
    assert clock.kinks.size == 0  # a clock alone is smooth: the solver never restarts


def test_clock_beside_held_inputs_is_exact_and_keeps_their_kinks():
    held = InputSignal(("P",), [0.0, 1.0, 2.0], [[0.0], [1.0], [0.5]], "hold")
    both = with_clock(held)
    assert both.names == ("P", "t") and both.interpolation == "hold"
    assert both(1.5).tolist() == [1.0, 1.5]
    np.testing.assert_allclose(both(np.array([0.5, 3.0])), [[0.0, 0.5], [0.5, 3.0]])
    assert both.kinks.tolist() == [0.0, 1.0, 2.0]
    assert with_clock(both) is both
    assert without_clock(both).names == ("P",) and without_clock(held) is held


def test_clock_signal_checks():
    with pytest.raises(DataError, match="an input may not be called 't': that is the time"):
        InputSignal(("t",), [0.0, 1.0], [[0.0], [1.0]])
    with pytest.raises(DataError, match="a signal with a clock has the input 't' last"):
        InputSignal(("t",), [0.0, 1.0], [[0.0], [2.0]], clock=True)


def test_batch_reader_gives_each_member_its_absolute_time():
    sigs = [with_clock(None, np.array([0.0, 4.0])), with_clock(None, np.array([10.0, 14.0]))]
    at = batch_inputs(sigs, [0.0, 10.0])
    np.testing.assert_allclose(at(1.5), [[1.5], [11.5]])
    assert at.breaks.size == 0
    held = [
        with_clock(InputSignal(("P",), [0.0, 2.0, 4.0], [[1.0], [3.0], [0.0]], "hold")),
        with_clock(InputSignal(("P",), [1.0, 3.0, 5.0], [[2.0], [5.0], [6.0]], "hold")),
    ]
    at = batch_inputs(held, [0.0, 1.0])
    np.testing.assert_allclose(at(2.5), [[3.0, 2.5], [5.0, 3.5]])
    assert at.breaks.tolist() == [0.0, 2.0, 4.0]


# ------------------------------------------------------------------ data
def test_dataset_with_time_adds_the_clock_and_writes_no_column():
    t = np.linspace(0.0, 2.0, 9)
    ds = Dataset.from_arrays(t, np.exp(-t)[:, None], ["x"])
    clocked = ds.with_time()
    assert clocked.input_names == ("t",) and clocked.time_dependent
    assert clocked.with_time() is clocked
    np.testing.assert_allclose(clocked.input_values()[0].ravel(), t)
    assert clocked.to_dataframe().columns.tolist() == ["trajectory", "t", "x"]
    back = clocked.without_time()
    assert back.inputs is None and not back.time_dependent


def test_dataset_with_time_keeps_measured_inputs():
    t = np.linspace(0.0, 2.0, 9)
    ds = sysid.load_data((t, np.exp(-t)[:, None], np.c_[np.sin(t)]), inputs=["V"])
    clocked = ds.with_time()
    assert clocked.input_names == ("V", "t")
    assert clocked.to_dataframe().columns.tolist() == ["trajectory", "t", "x0", "V"]
    assert clocked.without_time().input_names == ("V",)


def test_dataset_with_time_rejects_a_state_called_t():
    ds = Dataset.from_arrays(np.linspace(0.0, 1.0, 5), np.arange(5.0)[:, None], ["t"])
    with pytest.raises(ConfigError, match="a state is called 't'.*Hint: rename that state"):
        ds.with_time()


# ------------------------------------------------------------------ models
def test_model_with_t_simulates_like_solve_ivp():
    model = SymbolicModel.from_equations(["T"], {"T": "-0.3*T + 0.15*t + 6"})
    assert model.inputs == ("t",)
    t = np.linspace(0.0, 20.0, 11)
    ref = solve_ivp(
        lambda s, y: -0.3 * y + 0.15 * s + 6, (0, 20), [80.0], t_eval=t, rtol=1e-11, atol=1e-11
    )
    np.testing.assert_allclose(model.simulate([80.0], t)[:, 0], ref.y[0], rtol=1e-6)
    # Started at t = 5, the clock reads 5 there, not 0.
    later = model.simulate([80.0], t + 5.0)[:, 0]
    ref5 = solve_ivp(
        lambda s, y: -0.3 * y + 0.15 * s + 6, (5, 25), [80.0], t_eval=t + 5, rtol=1e-11
    )
    np.testing.assert_allclose(later, ref5.y[0], rtol=1e-6)
    via_ode = solve_ivp(model.ode, (0, 20), [80.0], t_eval=t, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(via_ode.y[0], ref.y[0], rtol=1e-8)


def test_model_with_an_input_and_t_puts_the_clock_last_and_round_trips():
    model = SymbolicModel.from_equations(["x"], {"x": "-x + 0.5*t*u"}, inputs=["u"])
    assert model.inputs == ("u", "t")
    again = SymbolicModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert again.inputs == ("u", "t")
    t = np.linspace(0.0, 3.0, 7)
    ref = solve_ivp(lambda s, y: -y + 0.5 * s * 2.0, (0, 3), [1.0], t_eval=t, rtol=1e-11)
    np.testing.assert_allclose(
        again.simulate([1.0], t, inputs=np.full(t.size, 2.0))[:, 0], ref.y[0], rtol=1e-6
    )
    with pytest.raises(DataError, match=r"the model has inputs \['u'\]: pass inputs="):
        model.simulate([1.0], t)


# ------------------------------------------------------------------ pipeline
def test_sysid_checks_time_dependent_before_training():
    ds = sysid.simulate("logistic", noise=0.0, seed=0, n_samples=20)
    with pytest.raises(ConfigError, match="argument 'time_dependent': time_dependent must be True"):
        sysid.SysID(time_dependent="yes").fit(ds)


def test_problem_with_t_is_time_dependent():
    assert sysid.load_problem(PROBLEM).time_dependent
    assert not sysid.load_problem("sir").time_dependent


def test_discover_time_dependent_finds_the_term_in_t(tmp_path):
    ds = sysid.simulate(PROBLEM, noise=0.01, seed=0, n_samples=60)
    opts = {"neural": {"max_epochs": 150, "width": 32}, "select_options": {"ensemble": 0}}
    res = sysid.discover(ds, time_dependent=True, quiet=True, **opts)
    assert res.model.inputs == ("t",)
    cmp = sysid.score(res.equations, sysid.load_problem(PROBLEM))
    assert cmp["structure_recovered"], res.equations
    assert cmp["max_coefficient_relative_error"] < 0.05
    # It rises and falls, yet with the clock one state suffices: no hidden state is suspected.
    assert "hidden_state" not in {r["code"] for r in res.diagnostics["reasons"]}
    res.save(tmp_path, figures=False)
    written = json.loads((tmp_path / "result.json").read_text())
    Draft202012Validator(json.loads((DOCS / "result.schema.json").read_text())).validate(written)
    assert written["time_dependent"] is True and "inputs" not in written
    assert "t" in written["equations"]["N"]


def test_cli_time_dependent_flag_is_checked_like_the_others(capsys, tmp_path):
    csv = tmp_path / "d.csv"
    sysid.simulate(PROBLEM, noise=0.0, seed=0, n_samples=20).to_csv(csv)
    code = main(
        ["discover", str(csv), "--time-dependent", "--known", "q=a*q", "-o", str(tmp_path / "o")]
    )
    _, err = capsys.readouterr()
    assert code == 2 and re.search(r"argument 'known': 'q' is not a state", err), err


def test_bench_gives_the_baseline_the_time_as_an_input():
    pytest.importorskip("pysindy")
    text = sysid.load_problem(PROBLEM).path.read_text()
    row = run_task(Task(PROBLEM, text, 0.0, "regular", 0, "pysindy"))
    assert row["error"] == "", row["error"]
    assert "t" in row["equations"]["N"]


def test_known_terms_in_t_need_time_dependent():
    ds = sysid.simulate(PROBLEM, noise=0.0, seed=0, n_samples=20)
    with pytest.raises(ConfigError, match="uses the time t.*terms in t need time_dependent=True"):
        sysid.SysID(known={"N": "-k*t*N"}).fit(ds)
    nf = sysid.NeuralField(known={"N": "-k*t*N"}, width=8, max_epochs=0, quiet=True)
    nf.fit(ds.with_time())
    assert [str(term) for _, term in nf.known_coefficients_] == ["N*t"]


def test_a_time_dependent_field_needs_time_dependent_data():
    ds = sysid.simulate(PROBLEM, noise=0.0, seed=0, n_samples=20)
    nf = sysid.NeuralField(width=8, max_epochs=0, quiet=True).fit(ds.with_time())
    with pytest.raises(ConfigError, match=r"inputs \['t'\].*pass time_dependent=True"):
        sysid.SysID(field=nf).fit(ds)


def test_forecast_runs_the_clock_on_past_the_data():
    ds = sysid.simulate(PROBLEM, noise=0.0, seed=0, n_samples=40)
    opts = {"neural": {"max_epochs": 0, "width": 8}, "select_options": {"ensemble": 0}}
    res = sysid.discover(ds, time_dependent=True, quiet=True, expression_search="never", **opts)
    fc = res.forecast(6.0, n_points=13, n_draws=5)
    assert "inputs_after_data" not in fc
    t = np.asarray(fc["t"])
    x0 = res.model.selection["initial_states"][0]
    np.testing.assert_allclose(fc["model"], res.model.simulate(x0, t), rtol=1e-6)
