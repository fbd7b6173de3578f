"""Tests of the candidate-term library."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from sysid.core.errors import ConfigError, DataError, EquationError
from sysid.core.expressions import state_symbols, term_complexity
from sysid.symbolic.library import Library


def test_default_library_has_polynomials_and_trig_named_by_sympy_form():
    lib = Library(["x", "y"])
    # 1 + 2 + 3 + 4 monomials up to degree 3, then sin and cos of each state.
    assert len(lib) == 10 + 4
    assert lib.names[:6] == ["1", "x", "y", "x**2", "x*y", "y**2"]
    assert lib.names[-4:] == ["sin(x)", "cos(x)", "sin(y)", "cos(y)"]
    assert all(isinstance(t, sp.Expr) for t in lib.terms)
    assert lib.names == [str(t) for t in lib.terms]


def test_symbols_are_the_problem_symbols():
    lib = Library(["S", "I", "R"], degree=2)
    assert lib.symbols == state_symbols(["S", "I", "R"])
    assert all(s.is_real for s in lib.symbols)


def test_options_degree_trig_constant():
    lib = Library(["u"], degree=2, trig=False, include_constant=False)
    assert lib.names == ["u", "u**2"]
    assert Library(["u"], degree=0, trig=False).names == ["1"]


def test_evaluate_values_and_shape():
    lib = Library(["x", "y"], degree=2, trig=True)
    x = np.array([[2.0, 3.0], [-1.0, 0.5]])
    theta = lib.evaluate(x)
    assert theta.shape == (2, len(lib))
    assert theta.dtype == np.float64
    expected = np.array(
        [
            [1, 2, 3, 4, 6, 9, np.sin(2), np.cos(2), np.sin(3), np.cos(3)],
            [1, -1, 0.5, 1, -0.5, 0.25, np.sin(-1), np.cos(-1), np.sin(0.5), np.cos(0.5)],
        ]
    )
    np.testing.assert_allclose(theta, expected, rtol=1e-15, atol=0)


def test_extra_terms_from_strings_and_sympy_dedupe_and_strip_factors():
    x = sp.Symbol("x")  # no assumptions: mapped onto the library's real symbol
    lib = Library(["x", "y"], degree=1, trig=False, extra=["exp(-x)", "x/(1 + y)", "3*x", x * 2])
    assert lib.names == ["1", "x", "y", "exp(-x)", "x/(y + 1)"]
    vals = lib.evaluate(np.array([[1.0, 1.0]]))[0]
    np.testing.assert_allclose(vals, [1.0, 1.0, 1.0, np.exp(-1.0), 0.5], rtol=1e-15)


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ("z*x", r"library term 'z\*x': unknown name 'z'"),
        ("__import__('os')", r"unknown function '__import__'"),
        ("x.real", r"forbidden syntax"),
        ("x*t", r"uses \['t'\], which are not states"),
        ("2*pi", r"is a constant"),
        ("x +", r"syntax error"),
    ],
)
def test_bad_extra_terms_raise_equation_error(extra, match):
    with pytest.raises(EquationError, match=match):
        Library(["x", "y"], extra=[extra])


def test_extra_of_wrong_type():
    with pytest.raises(EquationError, match="expected a string or sympy expression, found int"):
        Library(["x"], extra=[3])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"states": []}, r"states must be a non-empty list of names"),
        ({"states": "xy"}, r"states must be a non-empty list of names"),
        ({"states": ["x", "x"]}, r"state names are not unique"),
        ({"states": ["x-1"]}, r"state name 'x-1' is not an identifier"),
        ({"states": ["x"], "degree": -1}, r"degree must be an integer >= 0, found -1"),
        ({"states": ["x"], "degree": 2.5}, r"degree must be an integer >= 0"),
        (
            {"states": ["x"], "degree": 0, "trig": False, "include_constant": False},
            r"the library is empty",
        ),
    ],
)
def test_bad_options_raise_config_error(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        Library(**kwargs)


def test_evaluate_checks_shape():
    lib = Library(["x", "y"], degree=1)
    with pytest.raises(DataError, match=r"expected states of shape \(n, 2\).*found shape \(3, 3\)"):
        lib.evaluate(np.zeros((3, 3)))
    # One state: a flat vector is one column.
    assert Library(["u"], degree=1, trig=False).evaluate(np.array([1.0, 2.0])).shape == (2, 2)


def test_index_and_complexity():
    lib = Library(["x", "y"], degree=2)
    assert lib.index("x*y") == 4
    assert lib.index(lib.terms[2]) == 2
    with pytest.raises(ConfigError, match=r"term 'x\*\*5' is not in the library"):
        lib.index("x**5")
    x, y = lib.symbols
    assert term_complexity(x**2 * y) == 5
    assert list(lib.complexities[:3]) == [1, 1, 1]


def test_torch_evaluation_matches_numpy():
    torch = pytest.importorskip("torch")
    lib = Library(["x", "y"], extra=["exp(-x*y)"])
    x = np.random.default_rng(0).normal(size=(7, 2))
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    out = lib.evaluate_torch(t)
    np.testing.assert_allclose(out.detach().numpy(), lib.evaluate(x), rtol=1e-13, atol=1e-15)
    out.sum().backward()  # differentiable
    assert t.grad is not None and torch.isfinite(t.grad).all()
    with pytest.raises(DataError, match=r"expected a tensor of shape \(n, 2\)"):
        lib.evaluate_torch(torch.zeros(3))
