"""Tests of SymbolicModel: printing, JSON, numpy right-hand side, guarded simulation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import sympy as sp
from scipy.integrate import solve_ivp

import sysid
from sysid.core.errors import ConfigError, DataError, EquationError, SimulationError
from sysid.symbolic.model import SymbolicModel, TermEstimate, expression_terms, round_to_uncertainty

LV = {"x": "1.1*x - 0.4*x*y", "y": "0.1*x*y - 0.4*y"}


def test_from_equations_prints_readable_sympy():
    m = SymbolicModel.from_equations(["x", "y"], LV)
    assert str(m) == "dx/dt = -0.4*x*y + 1.1*x\ndy/dt = 0.1*x*y - 0.4*y"
    assert m.n_params == 4
    x, y = sp.symbols("x y", real=True)
    assert sp.expand(m.equations["x"] - (1.1 * x - 0.4 * x * y)) == 0
    assert m.latex() == {"x": r"- 0.4 x y + 1.1 x", "y": r"0.1 x y - 0.4 y"}
    assert m.coefficients()[("x", "x*y")] == -0.4
    assert "SymbolicModel(x: -0.4*x*y + 1.1*x" in repr(m)


def test_integer_coefficients_print_as_integers_and_zero_equations():
    m = SymbolicModel.from_equations(["h", "v", "w"], {"h": "v", "v": "-9.81 + 0.1*v**2", "w": "0"})
    assert m.to_dict()["equations"] == {"h": "v", "v": "0.1*v**2 - 9.81", "w": "0"}
    np.testing.assert_allclose(m.rhs(np.array([0.0, -2.0, 5.0])), [-2.0, -9.41, 0.0], rtol=1e-15)


@pytest.mark.parametrize(
    ("value", "stderr", "expected"),
    [
        (1.09987, 0.0031, 1.1),
        (-0.40123, 0.0123, -0.401),  # leading digit 1: two digits of the error
        (9.8100000001, 1e-9, 9.81),  # tiny error: six significant digits
        (0.0123, 0.5, 0.01),  # error larger than the value: one digit kept
        (1234.5678, 12.0, 1235.0),
        (2.5, None, 2.5),
        (0.0, 0.1, 0.0),
        (3.14159265, float("nan"), 3.14159),
    ],
)
def test_round_to_uncertainty(value, stderr, expected):
    assert round_to_uncertainty(value, stderr) == expected


def test_rounded_equations_use_stderr():
    terms = [TermEstimate("x", sp.Symbol("x"), -1.23456789, 0.002)]
    m = SymbolicModel(["x"], terms)
    assert str(m.equations["x"]) == "-1.235*x"
    d = m.to_dict()["terms"][0]
    assert d == {
        "state": "x",
        "term": "x",
        "coefficient": -1.235,
        "stderr": 0.002,
        "unrounded": -1.23456789,
    }


def test_json_round_trip(tmp_path):
    terms = [
        TermEstimate("x", sp.sympify("x"), 1.1003, 0.004),
        TermEstimate("x", sp.sympify("x*y"), -0.40012, 0.0011),
        TermEstimate("y", sp.sympify("sin(x)"), 0.25, None),
    ]
    pareto = {"x": [{"complexity": 2, "loss": 0.5, "n_terms": 1, "equation": "1.0*x"}]}
    m = SymbolicModel(
        ["x", "y"], terms, pareto=pareto, selection={"winner": 0}, bounds=(np.zeros(2), np.ones(2))
    )
    d = m.to_dict()
    assert set(d) >= {"states", "equations", "latex", "terms", "pareto", "selection"}
    json.dumps(d)  # JSON-ready
    for s, text in d["equations"].items():
        assert sp.parse_expr(text) is not None, s
    path = tmp_path / "model.json"
    m.save(path)
    back = SymbolicModel.load(path)
    assert back.to_dict() == d
    x = np.array([[0.3, 2.0], [1.0, -1.0]])
    np.testing.assert_array_equal(back.rhs(x), m.rhs(x))


def test_load_errors(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        SymbolicModel.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        SymbolicModel.load(bad)
    bad.write_text(json.dumps({"states": ["x"]}))
    with pytest.raises(DataError, match="expected keys 'states' and 'terms'"):
        SymbolicModel.load(bad)
    bad.write_text(json.dumps({"states": ["x"], "terms": [{"state": "x", "term": "x"}]}))
    with pytest.raises(DataError, match=r"terms\[0\] is malformed"):
        SymbolicModel.load(bad)
    bad.write_text(
        json.dumps(
            {
                "states": ["x"],
                "terms": [{"state": "x", "term": "__import__('os')", "coefficient": 1.0}],
            }
        )
    )
    with pytest.raises(EquationError, match="unknown function '__import__'"):
        SymbolicModel.load(bad)


@pytest.mark.parametrize(
    ("equations", "error", "match"),
    [
        ({"x": "k*x", "y": "y"}, EquationError, r"equations.x: unknown name 'k'"),
        ({"x": "x"}, ConfigError, r"need one equation per state; missing \['y'\]"),
        ({"x": "x", "y": "y", "z": "1"}, ConfigError, r"unknown \['z'\]"),
    ],
)
def test_from_equations_errors(equations, error, match):
    with pytest.raises(error, match=match):
        SymbolicModel.from_equations(["x", "y"], equations)


def test_terms_of_unknown_state():
    with pytest.raises(ConfigError, match="term of unknown state 'z'"):
        SymbolicModel(["x"], [TermEstimate("z", sp.Symbol("z"), 1.0)])


def test_expression_terms_rejects_parameters():
    x = sp.Symbol("x", real=True)
    with pytest.raises(EquationError, match=r"unknown names \['k'\]"):
        expression_terms(sp.Symbol("k") * x, [x])


def test_rhs_and_ode_match_problem():
    p = sysid.load_problem("pendulum")
    m = SymbolicModel.from_equations(p.states, p.true_equations())
    x = np.random.default_rng(0).normal(size=(10, 2))
    np.testing.assert_allclose(m.rhs(x), p.rhs(0.0, x.T).T, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(m.ode(0.0, x.T), p.rhs(0.0, x.T), rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(m(1.0, x[0]), p.rhs(0.0, x[0]), rtol=1e-14)
    with pytest.raises(DataError, match=r"expected state\(s\) of shape \(2,\) or \(n, 2\)"):
        m.rhs(np.zeros(3))
    sol = solve_ivp(m, (0, 1), [1.0, 0.0], rtol=1e-10, atol=1e-12)
    assert sol.success


def test_simulate_matches_reference_solver():
    p = sysid.load_problem("lotka-volterra")
    m = SymbolicModel.from_equations(p.states, p.true_equations())
    data = sysid.simulate(p)
    tr = data[0]
    sim = m.simulate(tr.x[0], tr.t)
    scale = np.abs(tr.x).max(axis=0)
    assert np.max(np.abs(sim - tr.x) / scale) < 1e-6


def test_simulate_guards_blow_up_and_bad_input():
    m = SymbolicModel.from_equations(["x"], {"x": "x**2"}, bounds=(np.zeros(1), np.ones(1)))
    with pytest.raises(SimulationError, match=r"simulation from \[1.0\] failed: blow-up"):
        m.simulate([1.0], np.linspace(0, 2, 5))
    stiff = SymbolicModel.from_equations(["x"], {"x": "-1e7*x"})
    with pytest.raises(SimulationError, match="right-hand-side evaluations"):
        stiff.simulate([1.0], [0.0, 10.0], max_evals=200)
    with pytest.raises(DataError, match=r"x0 must be 1 finite numbers"):
        m.simulate([1.0, 2.0], [0.0, 1.0])
    with pytest.raises(DataError, match="t must be finite, strictly increasing"):
        m.simulate([0.5], [1.0, 0.0])
