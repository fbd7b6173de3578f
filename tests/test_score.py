"""Scoring against a known truth (docs/contract.md#score)."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from sysid import load_problem
from sysid.core.errors import EquationError
from sysid.data.simulation import integrate
from sysid.report.scoring import compare_equations, holdout_r2, score, term_coefficients


def test_true_equations_score_perfectly():
    p = load_problem("sir")
    s = score(p.true_equations(), p, simulate_model=lambda x0, t: integrate(p, x0, t))
    assert s["structure_recovered"] is True
    assert s["max_coefficient_relative_error"] == 0.0
    assert s["holdout_r2"] == pytest.approx(1.0, abs=1e-12)
    assert set(s["truth"]) == {"S", "I", "R"}


def test_extra_term_breaks_structure():
    p = load_problem("lotka-volterra")
    found = {"x": "1.1*x - 0.4*x*y + 1e-3*x**2", "y": "0.1*x*y - 0.4*y"}
    s = score(found, p)
    assert s["structure_recovered"] is False
    assert s["per_state"]["x"]["extra_terms"] == ["x**2"]
    assert s["max_coefficient_relative_error"] == pytest.approx(0.0, abs=1e-12)


def test_missing_term_counts_as_full_error():
    p = load_problem("lotka-volterra")
    s = score({"x": "1.1*x", "y": "0.1*x*y - 0.4*y"}, p)
    assert s["structure_recovered"] is False
    assert s["per_state"]["x"]["missing_terms"] == ["x*y"]
    assert s["max_coefficient_relative_error"] == pytest.approx(1.0)


def test_structure_after_expand_and_assumptions_ignored():
    x = sp.Symbol("x", positive=True)  # other assumptions than the truth's symbols
    y = sp.Symbol("y")
    truth = {"x": "1.1*x - 0.4*x*y", "y": "0.1*x*y - 0.4*y"}
    found = {"x": x * (1.1 - 0.4 * y), "y": 0.1 * y * (x - 4)}
    cmp = compare_equations(found, truth)
    assert cmp["structure_recovered"] is True
    assert cmp["max_coefficient_relative_error"] == pytest.approx(0.0, abs=1e-12)


def test_function_terms_and_constants():
    p = load_problem("pendulum")
    found = {"theta": "omega", "omega": "-9.9*sin(theta) - 0.3*omega"}
    s = score(found, p)
    assert s["structure_recovered"] is True
    assert s["max_coefficient_relative_error"] == pytest.approx(0.09 / 9.81, rel=1e-9)
    fm = load_problem("falling-mass")
    assert score({"h": "v", "v": "0.1*v**2 - 9.81"}, fm)["structure_recovered"] is True
    assert score({"h": "v", "v": "0.1*v**2"}, fm)["structure_recovered"] is False


def test_term_coefficients_merges_and_drops_tiny():
    e = sp.sympify("x + x + 1e-15*y")
    assert term_coefficients(e, tol=1e-12) == {sp.Symbol("x"): 2.0}


def test_missing_state_is_an_error():
    p = load_problem("lotka-volterra")
    with pytest.raises(EquationError, match=r"no equation for state\(s\) \['y'\]"):
        score({"x": "x"}, p)


def test_unsafe_found_equation_rejected():
    p = load_problem("lotka-volterra")
    with pytest.raises(EquationError, match="unknown function '__import__'"):
        score({"x": "__import__('os')", "y": "y"}, p)


def test_holdout_r2_of_blowup_is_minus_inf():
    p = load_problem("lotka-volterra")

    def bad(x0, t):
        return np.full((len(t), 2), np.inf)

    assert holdout_r2(bad, p) == float("-inf")
    s = score(p.true_equations(), p, simulate_model=bad)
    assert s["holdout_r2"] is None and "failed" in s["holdout_error"]


def test_holdout_r2_penalises_wrong_model():
    p = load_problem("lotka-volterra")
    r2 = holdout_r2(lambda x0, t: np.tile(x0, (len(t), 1)), p)
    assert r2 < 0.5
