"""Known physics with an unknown remainder: checks, the hybrid field, fronts, the pipeline."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
import torch
from jsonschema import Draft202012Validator

import sysid
from sysid.cli import main
from sysid.core.errors import ConfigError, EquationError
from sysid.core.known import parse_known
from sysid.fit.polish import polish_model
from sysid.neural.field import NeuralField
from sysid.neural.known import KnownPart
from sysid.neural.windows import Scaler
from sysid.select.candidates import pruned_systems
from sysid.symbolic.hybrid import known_constants, with_known
from sysid.symbolic.model import SymbolicModel
from sysid.symbolic.sparse import Candidate

X, Y = sp.symbols("x y", real=True)
DOCS = Path(__file__).resolve().parents[1] / "docs"


# ------------------------------------------------------------------ parsing
def test_parse_splits_terms_into_constant_sign_and_function():
    k = parse_known({"x": "alpha*x - beta*x*y", "y": "c + d*sin(y)*u"}, ["x", "y"], ["u"])
    got = [(t.state, t.constant, t.sign, str(t.term)) for t in k.terms]
    assert got == [
        ("x", "alpha", 1.0, "x"),
        ("x", "beta", -1.0, "x*y"),
        ("y", "c", 1.0, "1"),
        ("y", "d", 1.0, "u*sin(y)"),
    ]
    assert k.constants == ("alpha", "beta", "c", "d")
    assert k.required() == {"x": (X, X * Y), "y": (sp.Integer(1), k.terms[3].term)}
    assert k.to_dict() == {"x": "alpha*x - beta*x*y", "y": "c + d*sin(y)*u"}


def test_parse_numbers_are_fixed_terms():
    k = parse_known({"x": "a*x - 0.5*x*y", "y": "x*y"}, ["x", "y"])
    got = [(t.state, t.constant, t.sign, t.fixed, str(t.term)) for t in k.terms]
    assert got == [
        ("x", "a", 1.0, False, "x"),
        ("x", None, -0.5, True, "x*y"),
        ("y", None, 1.0, True, "x*y"),
    ]
    assert k.constants == ("a",)


def test_parse_keeps_numbers_inside_terms_exact():
    (t,) = parse_known({"x": "v*x/(0.5 + x)"}, ["x"]).terms
    assert not any(a.is_Float for a in sp.preorder_traversal(t.term))
    assert sp.simplify(t.term - X / (sp.Rational(1, 2) + X)) == 0


def test_parse_none_and_empty_mean_no_known_physics():
    assert parse_known(None, ["x"]) is None
    assert parse_known({}, ["x"]) is None


@pytest.mark.parametrize(
    ("known", "error", "pattern"),
    [
        (["x"], ConfigError, r"known must be a dict state -> equation text, found list"),
        ({"z": "k*z"}, ConfigError, r"'z' is not a state \(states: \['x', 'y'\]\)"),
        ({"x": 3}, ConfigError, r"the known part of 'x' must be a string, found int"),
        ({"x": "a*t*x"}, ConfigError, r"uses the time t"),
        ({"x": "exp(k*x)"}, ConfigError, r"is not one named constant \(or a number\) times"),
        ({"x": "a**2*x"}, ConfigError, r"is not one named constant \(or a number\) times"),
        ({"x": "a*x + 0.5*x"}, ConfigError, r"the term x of 'x' is known twice"),
        ({"x": "alpha*x*(1 - x/K)"}, ConfigError, r"is not one named constant"),
        ({"x": "a*x", "y": "a*y"}, ConfigError, r"constant 'a' appears in more than one"),
        ({"x": "a*x - a*x*y"}, ConfigError, r"equations of 'x'\)"),
        ({"x": "lambda*x"}, ConfigError, r"'lambda' cannot name a constant"),
        ({"x": "a*x - a"}, ConfigError, r"appears in more than one known term"),
        ({"x": "a*x - a*x"}, ConfigError, r"is zero"),
        ({"x": "a*"}, EquationError, r"equation of 'x': syntax error"),
        ({"x": "__import__('os')"}, EquationError, r"unknown function '__import__'"),
    ],
)
def test_parse_rejects_with_a_clear_message(known, error, pattern):
    with pytest.raises(error, match=pattern):
        parse_known(known, ["x", "y"])


# ------------------------------------------------------------- neural part
def test_known_part_evaluates_terms_in_normalised_units():
    k = parse_known({"x": "a*x*y", "y": "b*u"}, ["x", "y"], ["u"])

    class _Inputs:  # an InputScaler's numbers
        mean, scale = np.array([1.0]), np.array([2.0])

    scaler = Scaler(np.array([1.0, -1.0]), np.array([2.0, 4.0]), 0.5)
    part = KnownPart(k, scaler, _Inputs(), torch.float64)
    part.set_coefficients(np.array([3.0, -2.0]))
    z = torch.tensor([[0.5, 0.25], [1.0, -1.0]], dtype=torch.float64)
    v = torch.tensor([[1.0], [0.0]], dtype=torch.float64)
    x = z.numpy() * scaler.scale + scaler.mean
    u = v.numpy() * 2.0 + 1.0
    rate_x = np.column_stack([3.0 * x[:, 0] * x[:, 1], -2.0 * u[:, 0]])  # user units
    want = rate_x * scaler.time_scale / scaler.scale
    np.testing.assert_allclose(part(z, v).detach().numpy(), want, rtol=1e-12)
    np.testing.assert_allclose(part.coefficients(), [3.0, -2.0], rtol=1e-12)


def test_neural_field_known_must_be_a_dict_of_strings():
    with pytest.raises(ConfigError, match=r"NeuralField\(known=...\): known must be a dict"):
        NeuralField(known={"x": 1.0})


def test_neural_field_checks_known_against_the_data(simulated):
    ds = simulated("lotka-volterra", n_samples=30, seed=0)
    with pytest.raises(ConfigError, match=r"NeuralField\(known=...\): 'q' is not a state"):
        NeuralField(known={"q": "a*q"}, max_epochs=0, quiet=True).fit(ds)


def test_hybrid_field_is_known_plus_remainder_and_saves(simulated, tmp_path):
    ds = simulated("lotka-volterra", n_samples=40, seed=0)
    nf = NeuralField(known={"x": "alpha*x", "y": "-g*y"}, width=16, max_epochs=5, quiet=True).fit(
        ds
    )
    coef = nf.known_coefficients_
    assert set(coef) == {("x", X), ("y", Y)}
    x = ds[0].x[:7]
    known_rate = np.column_stack([coef[("x", X)] * x[:, 0], coef[("y", Y)] * x[:, 1]])
    np.testing.assert_allclose(
        nf.predict(x) - nf.predict(x, remainder=True), known_rate, rtol=1e-9, atol=1e-12
    )
    nf.save(tmp_path / "f")
    back = NeuralField.load(tmp_path / "f")
    assert back.known == nf.known
    np.testing.assert_array_equal(back.predict(x, remainder=True), nf.predict(x, remainder=True))
    assert NeuralField(width=8, max_epochs=0, quiet=True).fit(ds).known_coefficients_ is None


def test_warm_start_gives_known_terms_the_least_squares_coefficients():
    # Exponential decay: the known term explains the whole rate, its start is the rate -0.7.
    t = np.linspace(0.0, 3.0, 40)
    x = 2.0 * np.exp(-0.7 * t)[:, None]
    nf = NeuralField(known={"x0": "r*x0"}, width=8, max_epochs=0, quiet=True).fit((t, x))
    (c,) = nf.known_coefficients_.values()
    # the spline's derivatives (ends) and the joint warm start with the network move it a little
    assert c == pytest.approx(-0.7, rel=0.1)
    rest = nf.predict(x, remainder=True)
    assert np.sqrt(np.mean(rest**2)) < 0.1 * np.sqrt(np.mean(nf.predict(x) ** 2))


def test_fixed_known_terms_keep_their_number_through_training(simulated):
    ds = simulated("lotka-volterra", n_samples=40, seed=0)
    nf = NeuralField(known={"x": "1.1*x + b*y"}, width=8, max_epochs=3, quiet=True).fit(ds)
    coef = nf.known_coefficients_
    assert coef[("x", X)] == 1.1  # held exactly
    assert coef[("x", Y)] != 0.0  # the free one was fitted


# ------------------------------------------------------------------ fronts
def _cand(state, terms, coef, loss=0.1):
    expr = sp.Add(*[sp.Float(k) * t for k, t in zip(coef, terms, strict=True)])
    return Candidate(state, expr, tuple(terms), np.array(coef, float), 2 * len(terms), loss)


def test_with_known_adds_the_known_terms_to_every_candidate():
    k = parse_known({"x": "a*x"}, ["x", "y"])
    fronts = {
        "x": [_cand("x", [X * Y], [-0.4]), _cand("x", [X, X * Y], [0.2, -0.4], 0.05)],
        "y": [_cand("y", [Y], [-0.3])],
    }
    out = with_known(fronts, k, {("x", X): 1.0}, share={"x": 0.5})
    x_front = out["x"]
    # {x, x*y} twice (the remainder with and without x): the better fit stays
    assert [str(c.expr) for c in x_front] == ["1.0*x", "-0.4*x*y + 1.2*x"]
    assert all(c.required == (X,) for c in x_front)
    np.testing.assert_allclose([c.loss for c in x_front], [0.5, 0.025])
    assert out["y"] == fronts["y"]  # no known terms: unchanged


def test_compiled_system_adds_fixed_terms_without_parameters():
    from sysid.core.ode import CompiledSystem

    sys_ = CompiledSystem(["x", "y"], [(0, X * Y)], fixed=[(0, X, 1.1), (1, Y, -0.4)])
    assert sys_.n_params == 1
    pts = np.array([[2.0, 3.0], [1.0, -1.0]])
    rhs = sys_.rhs(pts, sys_.coefficient_matrix(np.array([-0.4])))
    want = np.column_stack([1.1 * pts[:, 0] - 0.4 * pts[:, 0] * pts[:, 1], -0.4 * pts[:, 1]])
    np.testing.assert_allclose(rhs, want, rtol=1e-14)


def test_refine_holds_fixed_coefficients(lv_dataset):
    from sysid.fit.refit import refine

    x_eq = Candidate("x", X, (X, X * Y), np.array([1.1, -0.3]), 4, 0.0, fixed=(X,))
    system = {"x": x_eq, "y": _cand("y", [X * Y, Y], [0.1, -0.4])}
    fit = refine(system, lv_dataset, time_limit=30)
    assert fit.success
    est = {(t.state, str(t.term)): t for t in fit.term_estimates()}
    assert est[("x", "x")].coefficient == 1.1 and est[("x", "x")].fixed
    assert est[("x", "x")].stderr is None
    assert est[("x", "x*y")].coefficient == pytest.approx(-0.4, rel=0.01)
    assert fit.correlation.shape == (4, 4)
    model = fit.model()
    assert model.to_dict()["terms"][0]["fixed"] is True
    assert SymbolicModel.from_dict(model.to_dict()).terms[0].fixed


def test_polish_keeps_fixed_numbers(lv_dataset):
    from sysid.fit.polish import refit_all
    from sysid.symbolic.terms import TermEstimate

    terms = [
        TermEstimate("x", X, 1.1, None, True),
        TermEstimate("x", X * Y, -0.37),
        TermEstimate("y", X * Y, 0.11),
        TermEstimate("y", Y, -0.42),
    ]
    out, _ = refit_all(SymbolicModel(["x", "y"], terms), lv_dataset)
    got = {(t.state, str(t.term)): t for t in out.terms}
    assert got[("x", "x")].coefficient == 1.1 and got[("x", "x")].fixed
    assert got[("x", "x*y")].coefficient == pytest.approx(-0.4, rel=0.01)


def test_pruning_never_drops_a_required_term(lv_dataset):
    from sysid.fit.refit import refine

    cand = Candidate("x", X + X * Y, (X, X * Y), np.array([1.1, -0.4]), 4, 0.0, required=(X,))
    system = {"x": cand, "y": _cand("y", [X * Y, Y], [0.1, -0.4])}
    fit = refine(system, lv_dataset, time_limit=20)
    fit.stderr = np.full_like(fit.coefficients, 1e9)  # every term looks weak
    pruned = pruned_systems(system, fit, below=5.0)
    assert len(pruned) == 3  # x*y of x, and both terms of y; never x of x
    assert all(X in p["x"].terms for p in pruned)


def test_polish_keeps_required_terms(lv_dataset):
    # coefficients a little off, so that the polish's refit is kept
    m = SymbolicModel.from_equations(
        ["x", "y"], {"x": "1.0*x - 0.37*x*y + 1e-12*y", "y": "0.1*x*y - 0.4*y + 1e-12*x**3"}
    )
    kept = polish_model(m, lv_dataset, required={"x": (Y,)})
    dropped = polish_model(m, lv_dataset)
    assert kept is not None and dropped is not None
    kept_terms = {(t.state, str(t.term)) for t in kept.terms}
    assert ("x", "y") in kept_terms and ("y", "x**3") not in kept_terms
    assert ("x", "y") not in {(t.state, str(t.term)) for t in dropped.terms}


def test_known_constants_divide_by_the_sign():
    k = parse_known({"y": "-g*y"}, ["x", "y"])
    m = SymbolicModel.from_equations(["x", "y"], {"x": "0", "y": "-0.4*y + 0.1*x*y"})
    out = known_constants(k, m)
    assert out["g"]["value"] == pytest.approx(0.4, rel=1e-12)
    assert out["g"]["state"] == "y" and out["g"]["term"] == "y"


# ---------------------------------------------------------------- pipeline
def test_sysid_checks_known_before_training(lv_dataset):
    est = sysid.SysID(known={"z": "a*z"}, quiet=True)
    with pytest.raises(ConfigError, match=r"argument 'known': 'z' is not a state"):
        est.fit(lv_dataset)
    assert getattr(est, "field_", None) is None
    with pytest.raises(ConfigError, match=r"known must be a dict state -> equation text"):
        sysid.SysID(known="a*x", quiet=True).fit(lv_dataset)


def test_sysid_known_must_agree_with_the_field(lv_dataset):
    field = NeuralField(known={"x": "a*x"}, max_epochs=0)
    est = sysid.SysID(known={"x": "b*x"}, field=field, quiet=True)
    with pytest.raises(ConfigError, match=r"differs from the field's known"):
        est.fit(lv_dataset)


def _discover_lv(simulated, known):
    """Lotka-Volterra at 1 % noise with known terms, a short field fit, no ensemble."""
    ds = simulated("lotka-volterra", noise=0.01, seed=0, n_samples=80)
    opts = {"neural": {"max_epochs": 60, "width": 32}, "select_options": {"ensemble": 0}}
    return sysid.discover(ds, known=known, quiet=True, **opts)


def test_discover_with_known_terms_fits_their_constants(simulated, tmp_path):
    res = _discover_lv(simulated, {"x": "alpha*x", "y": "-gamma*y"})
    terms = {(t.state, str(t.term)) for t in res.model.terms}
    assert {("x", "x"), ("y", "y")} <= terms
    known = res.extra["known"]
    assert known["alpha"]["value"] == pytest.approx(1.1, rel=0.05)
    assert known["gamma"]["value"] == pytest.approx(0.4, rel=0.05)
    assert known["alpha"]["stderr"] > 0
    assert res.extra["options"]["known"] == {"x": "alpha*x", "y": "-gamma*y"}
    res.save(tmp_path, figures=False)
    written = json.loads((tmp_path / "result.json").read_text())
    schema = json.loads((DOCS / "result.schema.json").read_text())
    Draft202012Validator(schema).validate(written)
    assert written["known"]["alpha"]["term"] == "x" and written["known"]["gamma"]["sign"] == -1.0


def test_discover_with_fixed_known_terms_keeps_their_numbers(simulated):
    res = _discover_lv(simulated, {"x": "1.1*x", "y": "-0.4*y"})
    terms = {(t.state, str(t.term)): t for t in res.model.terms}
    assert terms[("x", "x")].coefficient == 1.1 and terms[("x", "x")].fixed
    assert terms[("y", "y")].coefficient == -0.4 and terms[("y", "y")].fixed
    assert terms[("x", "x*y")].coefficient == pytest.approx(-0.4, rel=0.05)
    assert "known" not in res.extra  # no named constant to report


# --------------------------------------------------------------------- CLI
@pytest.mark.parametrize(
    ("flags", "pattern"),
    [
        (["--known", "x"], r"--known: 'x' is not STATE=EXPR"),
        (["--known", "x="], r"--known: 'x=' is not STATE=EXPR"),
        (["--known", "x=a*x", "--known", "x=b"], r"--known: state 'x' is given twice"),
        (["--known", "q=a*q"], r"argument 'known': 'q' is not a state"),
        (["--known", "x=exp(k*x)"], r"is not one named constant \(or a number\)"),
    ],
)
def test_cli_known_errors_are_one_line(capsys, lv_csv, tmp_path, flags, pattern):
    code = main(["discover", str(lv_csv), "--output", str(tmp_path / "o"), "--quiet", *flags])
    _, err = capsys.readouterr()
    assert code == 2
    assert len(err.splitlines()) == 1 and re.search(pattern, err), err


def test_cli_recover_checks_known_before_training(capsys, tmp_path):
    argv = ["recover", "lotka-volterra", "--known", "q=a*q", "--output", str(tmp_path / "o")]
    code = main([*argv, "--quiet"])
    _, err = capsys.readouterr()
    assert code == 2
    assert re.search(r"argument 'known': 'q' is not a state", err), err


@pytest.mark.slow
def test_cli_discover_known_writes_the_constants(capsys, lv_csv, tmp_path):
    out = tmp_path / "o"
    argv = ["discover", str(lv_csv), "--known", "x=alpha*x", "--known", "y=-gamma*y"]
    code = main([*argv, "--output", str(out), "--quiet", "--no-figures"])
    printed, _ = capsys.readouterr()
    assert code == 0
    assert re.search(r"known constant alpha \(x: term x\) = 1\.1", printed), printed
    result = json.loads((out / "result.json").read_text())
    assert result["known"]["gamma"]["value"] == pytest.approx(0.4, rel=0.02)


def test_known_terms_may_use_inputs(tmp_path):
    from test_inputs import FORCED  # the forced decay, dx/dt = -k*x + b*F

    path = tmp_path / "forced.toml"
    path.write_text(FORCED)
    data = sysid.simulate(sysid.load_problem(path), seed=0)
    nf = NeuralField(known={"x": "b*F"}, width=8, max_epochs=0, quiet=True).fit(data)
    (key, b), *_ = nf.known_coefficients_.items()
    assert key[0] == "x" and str(key[1]) == "F"
    x, u = data[0].x[:5], data[0].inputs(data[0].t[:5])
    np.testing.assert_allclose(nf.predict(x, u) - nf.predict(x, u, remainder=True), b * u)
    with pytest.raises(ConfigError, match=r"'G' is not a state"):
        NeuralField(known={"G": "b*F"}, max_epochs=0, quiet=True).fit(data)
