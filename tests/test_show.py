"""How a model and a result show themselves: LaTeX, notebooks, text, Python and sympy exports."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import sysid
from sysid.symbolic.model import SymbolicModel, TermEstimate


def _model(a: float = -0.512, b: float = 0.25) -> SymbolicModel:
    x, vm, f = sp.symbols("x Vm F", real=True)
    terms = [
        TermEstimate("x", x * vm, a, 0.013),
        TermEstimate("x", sp.sin(x), 1.5, None),
        TermEstimate("Vm", vm, b, 0.002),
        TermEstimate("Vm", f, 2.0, 0.1),
    ]
    return SymbolicModel(["x", "Vm"], terms, inputs=["F"])


def test_latex_has_derivatives_and_upright_multi_letter_names():
    tex = _model()._repr_latex_()
    assert tex.startswith("$$\\begin{aligned}") and tex.endswith("\\end{aligned}$$")
    assert r"\frac{d x}{d t} &= " in tex and r"\frac{d \mathrm{Vm}}{d t} &= " in tex
    assert r"\mathrm{Vm} x" in tex and r"\sin{\left(x \right)}" in tex


def test_notebook_html_shows_the_equations_and_the_standard_errors():
    page = _model()._repr_html_()
    assert "$$" in page and "<table>" in page
    assert "<td>dx/dt</td>" in page
    assert "<td>-0.512</td><td>0.013</td>" in page
    assert "<td>1.5</td><td></td>" in page  # no standard error: an empty cell


@settings(max_examples=30, deadline=None)
@given(
    a=st.floats(-10, 10, allow_nan=False),
    b=st.floats(-10, 10, allow_nan=False),
    x=st.lists(st.floats(-5, 5, allow_nan=False), min_size=2, max_size=2),
    f=st.floats(-5, 5, allow_nan=False),
)
def test_the_exported_python_function_computes_the_model(a, b, x, f):
    model = _model(a, b)
    space: dict = {}
    exec(model.to_python("field"), space)  # noqa: S102 - our own generated source
    got = space["field"](0.0, x, [f])
    np.testing.assert_allclose(got, model.rhs(np.array(x), np.array([f])), rtol=1e-12, atol=1e-12)


def test_python_export_rejects_a_bad_function_name():
    with pytest.raises(sysid.ConfigError, match=r"function name '2rhs' is not a Python identifier"):
        _model().to_python("2rhs")


def test_sympy_export_reads_back_as_differential_equations():
    eqs = _model().to_sympy()
    t = sp.Symbol("t")
    assert eqs[0].lhs == sp.Derivative(sp.Function("x")(t), t)
    assert sp.sympify(str(eqs)) == eqs
    lin = SymbolicModel.from_equations(["x"], {"x": "-0.5*x"}).to_sympy()[0]
    sol = sp.dsolve(lin)
    assert sp.simplify(sol.rhs.diff(t) + 0.5 * sol.rhs) == 0


@pytest.fixture(scope="module")
def result(simulated):
    ds = simulated("logistic", noise=0.01, seed=0)
    return sysid.DiscoveryResult(
        model=SymbolicModel.from_equations(["N"], {"N": "0.8*N - 0.08*N**2"}),
        field=None,
        fronts={},
        selection=None,
        data=ds,
        timings={"total_s": 12.34},
        seed=0,
        extra={"diagnostics": {"verdict": "doubtful", "reasons": [
            {"code": "low_r2", "message": "R^2 of N is 0.5", "remedy": "more data"}]}},
    )  # fmt: skip


def test_a_result_prints_constants_and_verdict_and_has_a_short_repr(result):
    text = str(result)
    assert text.splitlines()[0] == "dN/dt = -0.08*N**2 + 0.8*N"
    assert "dN/dt coefficients" in text and "verdict: doubtful (R^2 of N is 0.5)" in text
    assert repr(result) == "DiscoveryResult(states=['N'], 2 terms, verdict='doubtful', 12.3 s)"


def test_a_result_in_a_notebook_has_equations_verdict_and_figure(result):
    page = result._repr_html_()
    assert r"\frac{d N}{d t}" in page and "verdict: <b>doubtful</b>" in page
    assert "remedy: more data" in page and 'src="data:image/png;base64,' in page
