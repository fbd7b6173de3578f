"""Problem files: the shipped suite, safe equation parsing, validation messages."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import sysid
from sysid.core.errors import EquationError, ProblemFileError, SysidInputError
from sysid.core.expressions import parse_equation
from sysid.data.problems import (
    Problem,
    list_problems,
    load_problem,
    load_problems,
    problem_from_dict,
    problems_dir,
)

REPO_PROBLEMS = Path(__file__).resolve().parent.parent / "problems"
SHIPPED_FILES = sorted(REPO_PROBLEMS.glob("*.toml"))
MISSION = ["falling-mass", "pendulum", "lotka-volterra", "sir"]


# ------------------------------------------------------------------ shipped suite
def test_suite_has_mission_problems_and_six_more(shipped_problems):
    assert set(MISSION) <= set(shipped_problems)
    assert len(shipped_problems) >= len(MISSION) + 6


def test_names_are_unique_and_sorted():
    names = list_problems()
    assert len(names) == len(set(names)) == len(SHIPPED_FILES)
    assert names == sorted(names)


@pytest.mark.parametrize("path", SHIPPED_FILES, ids=lambda p: p.stem)
def test_shipped_file_is_complete(path):
    p = load_problem(path)
    assert p.name == path.stem, "file name must equal the problem name"
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", p.name)
    assert p.title and p.description and p.reference
    assert p.initial_conditions.shape[0] >= 3
    assert p.holdout_initial_conditions.shape[0] >= 2
    assert p.initial_conditions.shape[1] == p.holdout_initial_conditions.shape[1] == p.n_states
    assert p.t_span[1] > p.t_span[0] and p.n_samples >= 3
    # Equations parse, use only states, parameters and t; numbers replace parameters.
    inputs = {sp.Symbol(n, real=True) for n in p.input_names}
    allowed = set(p.symbols) | inputs | {sp.Symbol(n, real=True) for n in p.parameters}
    allowed.add(sp.Symbol("t", real=True))
    for state, expr in p.symbolic_equations().items():
        assert expr.free_symbols <= allowed, state
    for expr in p.true_equations().values():
        assert expr.free_symbols <= set(p.symbols) | inputs | {sp.Symbol("t", real=True)}
    # The vector field is finite at every initial condition.
    for x0 in np.vstack([p.initial_conditions, p.holdout_initial_conditions]):
        assert np.isfinite(p.rhs(p.t_span[0], x0)).all()
    assert set(p.units) <= set(p.states) | set(p.input_names)


def test_load_by_name_equals_load_by_path():
    by_name = load_problem("pendulum")
    by_path = load_problem(REPO_PROBLEMS / "pendulum.toml")
    assert by_name.states == by_path.states
    assert by_name.true_equations() == by_path.true_equations()
    assert load_problem(by_name) is by_name


def test_problems_dir_ships_the_toml_files():
    folder = problems_dir()
    assert folder.is_dir()
    assert {f.name for f in SHIPPED_FILES} <= {f.name for f in folder.glob("*.toml")}


def test_problem_compares_by_identity_and_is_hashable():
    a, b = load_problem("sir"), load_problem("sir")
    assert a == a and a != b  # no "truth value of an array is ambiguous"
    assert len({a, b}) == 2
    assert repr(a) == "Problem(name='sir', states=['S', 'I', 'R'])"


def test_true_equations_keep_integer_parameters_exact(valid_problem):
    p = problem_from_dict(valid_problem)
    assert p.true_equations() == {
        "x": -sp.Float(0.5) * p.symbols[0],
        "y": -2 * p.symbols[1] + sp.sin(sp.Symbol("t", real=True)),
    }


def test_rhs_accepts_a_matrix_of_states(valid_problem):
    valid_problem["equations"]["x"] = "a"  # a constant right-hand side still broadcasts
    p = problem_from_dict(valid_problem)
    x = np.arange(10.0).reshape(2, 5)
    out = p.rhs(0.0, x)
    assert out.shape == (2, 5)
    np.testing.assert_allclose(out[0], 0.5)
    np.testing.assert_allclose(out[1], -2.0 * x[1])


# ------------------------------------------------------------------ loading
def test_load_user_file_and_folder(write_file, tmp_path, valid_toml):
    path = write_file("mine.toml", valid_toml)
    p = load_problem(str(path))
    assert p.name == "toy-decay" and p.path == path and p.time_unit == "s"
    assert [q.name for q in load_problems(tmp_path)] == ["toy-decay"]
    assert [q.name for q in load_problems(path)] == ["toy-decay"]


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(ProblemFileError, match=r"nope\.toml: file not found"):
        load_problem(missing)


def test_invalid_toml(write_file):
    path = write_file("bad.toml", 'name = "x\nstates = [')
    with pytest.raises(ProblemFileError, match=r"bad\.toml: not valid TOML .*Hint: check quotes"):
        load_problem(path)


def test_not_utf8(tmp_path):
    path = tmp_path / "latin.toml"
    path.write_bytes('title = "Lotka–Volterra"'.encode("utf-16"))
    with pytest.raises(ProblemFileError, match=r"latin\.toml: not UTF-8 text"):
        load_problem(path)


def test_folder_errors(tmp_path, write_file, valid_toml):
    with pytest.raises(ProblemFileError, match=r"folder not found"):
        load_problems(tmp_path / "absent")
    with pytest.raises(ProblemFileError, match=r"no \.toml problem files in this folder"):
        load_problems(tmp_path)
    write_file("a.toml", valid_toml)
    write_file("b.toml", valid_toml)
    with pytest.raises(ProblemFileError, match=r"b\.toml: problem name 'toy-decay' is used twice"):
        load_problems(tmp_path)


def test_unknown_problem_name_suggests_close_names():
    with pytest.raises(
        ProblemFileError, match=r"unknown problem 'lotka'.*did you mean 'lotka-volterra'"
    ):
        load_problem("lotka")
    with pytest.raises(ProblemFileError, match=r"unknown problem 'qwerty'.*known problems: .*sir"):
        load_problem("qwerty")


# ------------------------------------------------------------------ malicious files
EVIL = [
    ("__import__('os').system('touch pwned')", r"unknown function '__import__\('os'\)\.system'"),
    ("__import__('os')", r"unknown function '__import__'"),
    ("x.__class__", r"forbidden syntax 'x\.__class__' \(Attribute\)"),
    ("x.__class__.__bases__[0]", r"forbidden syntax .*(Attribute|Subscript)"),
    ("(lambda: x)()", r"unknown function 'lambda: x'"),
    ("lambda q: q", r"forbidden syntax 'lambda q: q' \(Lambda\)"),
    ("eval('x')", r"unknown function 'eval'"),
    ("open('/etc/passwd')", r"unknown function 'open'"),
    ("foo(x)", r"unknown function 'foo'"),
    ("x + zeta", r"unknown name 'zeta'"),
    ("__builtins__", r"unknown name '__builtins__'"),
    ("'abc'", r"forbidden constant 'abc'"),
    ("x + b'a'", r"forbidden constant b'a'"),
    ("x[0]", r"forbidden syntax 'x\[0\]' \(Subscript\)"),
    ("[x for x in ()]", r"forbidden syntax .*\(ListComp\)"),
    ("x if x else 1", r"forbidden syntax .*\(IfExp\)"),
    ("x == 1", r"forbidden syntax .*\(Compare\)"),
    ("x and y", r"forbidden syntax .*\(BoolOp\)"),
    ("sin(x, y)", r"function 'sin' takes exactly one argument"),
    ("sin(x=y)", r"function 'sin' takes exactly one argument"),
    ("sin*x", r"function 'sin' is used without an argument"),
    ("True*x", r"forbidden constant True"),
    ("2j*x", r"forbidden constant 2j"),
    ("x**10**10**10", r"exponent 10000000000 .* too large"),
    ("((10**100)**100)*x", r"the number 1\.00E\+100\*\*100 .* out of range"),
    ("(x+y+a+b)**90", r"would expand to more than 10000 terms"),
    ("1/0", r"infinite or undefined number \(zoo\)"),
    ("x +", r"syntax error in 'x \+'"),
    ("x; import os", r"syntax error"),
    ("-" * 3000 + "x", r"nested too deeply"),
    ("   ", r"empty equation"),
]


@pytest.mark.parametrize(("equation", "token"), EVIL, ids=[e[0][:24] for e in EVIL])
def test_malicious_equation_is_rejected_naming_file_and_token(
    write_file, equation, token, valid_toml
):
    text = valid_toml.replace('x = "-a*x"', "x = " + _toml_string(equation))
    path = write_file("evil.toml", text)
    with pytest.raises(
        (ProblemFileError, EquationError), match=re.escape(str(path)) + ".*" + token
    ):
        load_problem(path)


def _toml_string(text: str) -> str:
    """A TOML literal string holding ``text``."""
    return "'''" + text + "'''" if "'''" not in text else '"' + text + '"'


def test_malicious_equation_runs_no_code(write_file, tmp_path, monkeypatch, valid_toml):
    monkeypatch.chdir(tmp_path)
    sentinel = tmp_path / "pwned"
    text = valid_toml.replace('x = "-a*x"', "x = '''__import__('os').system('touch pwned')'''")
    with pytest.raises(EquationError):
        load_problem(write_file("evil.toml", text))
    assert not sentinel.exists()


def test_equation_errors_are_input_errors():
    with pytest.raises(ValueError, match="unknown name"):
        parse_equation("q", ["x"])
    assert issubclass(EquationError, SysidInputError)


# ------------------------------------------------------------------ parse_equation
def test_parse_equation_accepts_the_whitelist():
    expr = parse_equation(
        "sin(x) + cos(x) + tan(x) + exp(x) + log(x) + sqrt(x) + tanh(x) + Abs(x) + sign(x)"
        " + pi + E + t + x^2 + 2.5e-3",
        ["x"],
    )
    x, t = sp.Symbol("x", real=True), sp.Symbol("t", real=True)
    assert (
        sp.simplify(
            expr
            - (
                sp.sin(x)
                + sp.cos(x)
                + sp.tan(x)
                + sp.exp(x)
                + sp.log(x)
                + sp.sqrt(x)
                + sp.tanh(x)
                + sp.Abs(x)
                + sp.sign(x)
                + sp.pi
                + sp.E
                + t
                + x**2
                + 0.0025
            )
        )
        == 0
    )


def test_parse_equation_uses_given_symbols_and_functions():
    k = sp.Symbol("k", positive=True)
    assert parse_equation("2*k", {"k": k}) == 2 * k
    with pytest.raises(
        EquationError, match=r"unknown function 'sin'.*allowed functions are \['exp'\]"
    ):
        parse_equation("sin(k)", ["k"], functions={"exp": sp.exp})


def test_parse_equation_rejects_non_strings_and_long_text():
    with pytest.raises(EquationError, match=r"my-source: expected a string, got int 3"):
        parse_equation(3, ["x"], source="my-source")
    with pytest.raises(EquationError, match=r"equation is 10001 characters long"):
        parse_equation("x" + "+x" * 5000, ["x"])


# ------------------------------------------------------------------ problem_from_dict
@pytest.mark.parametrize(
    "key", ["name", "states", "parameters", "equations", "t_span", "initial_conditions"]
)
def test_missing_required_key(valid_problem, key):
    del valid_problem[key]
    with pytest.raises(ProblemFileError, match=rf"my\.toml: required key '{key}' is missing"):
        problem_from_dict(valid_problem, "my.toml")


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("name", 3, "str"),
        ("states", "x", "list"),
        ("parameters", [1.0], "dict"),
        ("equations", "x", "dict"),
        ("t_span", 1.0, "list"),
        ("initial_conditions", 1.0, "list"),
        ("title", 1, "str"),
        ("n_samples", 20.5, "int"),
        ("n_samples", True, "int"),
        ("holdout_initial_conditions", "none", "list"),
        ("units", "m", "dict"),
        ("noise", "high", "float or int or list"),
    ],
)
def test_wrong_type(valid_problem, key, value, expected):
    valid_problem[key] = value
    with pytest.raises(ProblemFileError, match=rf"key '{key}' must be {expected}, found"):
        problem_from_dict(valid_problem)


def test_unknown_key(valid_problem):
    valid_problem["colour"] = "red"
    with pytest.raises(ProblemFileError, match=r"unknown key\(s\) \['colour'\].*allowed keys are"):
        problem_from_dict(valid_problem)


@pytest.mark.parametrize("name", ["Lotka", "lotka_volterra", "lotka--volterra", "-x", "a b", ""])
def test_bad_problem_name(valid_problem, name):
    valid_problem["name"] = name
    with pytest.raises(ProblemFileError, match=r"must be lower-case letters and digits"):
        problem_from_dict(valid_problem)


def test_empty_states(valid_problem):
    valid_problem["states"] = []
    with pytest.raises(ProblemFileError, match=r"'states' is empty"):
        problem_from_dict(valid_problem)


@pytest.mark.parametrize("bad", ["x-1", "1x", "sin", "t", "pi", "E", "lambda", "x.y"])
def test_bad_state_or_parameter_name(valid_problem, bad):
    valid_problem["states"] = [bad, "y"]
    with pytest.raises(ProblemFileError, match=rf"'{re.escape(bad)}' cannot be used as a state"):
        problem_from_dict(valid_problem)
    valid_problem["states"] = ["x", "y"]
    valid_problem["parameters"] = {bad: 1.0}
    with pytest.raises(ProblemFileError, match=rf"'{re.escape(bad)}' cannot be used as a state"):
        problem_from_dict(valid_problem)


def test_duplicate_names(valid_problem):
    valid_problem["states"] = ["x", "x"]
    with pytest.raises(ProblemFileError, match=r"must be unique and distinct"):
        problem_from_dict(valid_problem)
    valid_problem["states"] = ["x", "a"]
    with pytest.raises(ProblemFileError, match=r"must be unique and distinct"):
        problem_from_dict(valid_problem)


@pytest.mark.parametrize("value", ["1", float("nan"), float("inf"), True, [1.0]])
def test_parameter_not_a_finite_number(valid_problem, value):
    valid_problem["parameters"]["a"] = value
    with pytest.raises(ProblemFileError, match=r"parameter 'a' must be a finite number"):
        problem_from_dict(valid_problem)


def test_equations_state_mismatch(valid_problem):
    del valid_problem["equations"]["y"]
    with pytest.raises(ProblemFileError, match=r"missing \['y'\], unknown \[\]"):
        problem_from_dict(valid_problem)
    valid_problem["equations"].update(y="x", z="x")
    with pytest.raises(ProblemFileError, match=r"missing \[\], unknown \['z'\]"):
        problem_from_dict(valid_problem)


def test_equation_not_a_string(valid_problem):
    valid_problem["equations"]["y"] = 3.0
    with pytest.raises(ProblemFileError, match=r"equation of 'y' must be a string, found 3\.0"):
        problem_from_dict(valid_problem)


def test_bad_equation_names_file_and_state(valid_problem):
    valid_problem["equations"]["y"] = "x*q"
    with pytest.raises(EquationError, match=r"my\.toml: equations\.y: unknown name 'q'"):
        problem_from_dict(valid_problem, "my.toml")


@pytest.mark.parametrize("t_span", [[2.0, 1.0], [1.0, 1.0], [0.0], [0.0, 1.0, 2.0], ["0", 1.0]])
def test_t_span_order_and_shape(valid_problem, t_span):
    valid_problem["t_span"] = t_span
    with pytest.raises(ProblemFileError, match=r"t_span must be \[start, end\] with end > start"):
        problem_from_dict(valid_problem)


def test_n_samples_too_small(valid_problem):
    valid_problem["n_samples"] = 2
    with pytest.raises(ProblemFileError, match=r"n_samples must be >= 3, found 2"):
        problem_from_dict(valid_problem)


@pytest.mark.parametrize("key", ["initial_conditions", "holdout_initial_conditions"])
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([[1.0]], r"rows of 2 numbers \(one per state\), found shape \(1, 1\)"),
        ([1.0, 2.0], r"found shape \(2,\)"),
        ([[1.0, 2.0, 3.0]], r"found shape \(1, 3\)"),
        ([[1.0, 2.0], [1.0]], r"must be a list of lists of numbers"),
        ([["a", "b"]], r"must be a list of lists of numbers"),
        ([[1.0, float("nan")]], r"holds non-finite values"),
    ],
)
def test_initial_condition_shape(valid_problem, key, value, message):
    valid_problem[key] = value
    with pytest.raises(ProblemFileError, match=rf"'{key}' .*{message}"):
        problem_from_dict(valid_problem)


def test_empty_initial_conditions(valid_problem):
    valid_problem["initial_conditions"] = []
    with pytest.raises(ProblemFileError, match=r"non-empty list of rows"):
        problem_from_dict(valid_problem)
    valid_problem["initial_conditions"] = [[1.0, 2.0]]
    valid_problem["holdout_initial_conditions"] = []
    assert problem_from_dict(valid_problem).holdout_initial_conditions.shape == (0, 2)


def test_units_must_name_states(valid_problem):
    valid_problem["units"] = {"x": "m", "t": "s"}
    with pytest.raises(ProblemFileError, match=r"units given for unknown state\(s\) \['t'\]"):
        problem_from_dict(valid_problem)


@pytest.mark.parametrize("noise", [-0.1, float("nan"), [0.0, -1.0], ["a"]])
def test_noise_levels_must_be_non_negative(valid_problem, noise):
    valid_problem["noise"] = noise
    with pytest.raises(ProblemFileError, match=r"noise levels must be numbers >= 0"):
        problem_from_dict(valid_problem)


def test_optional_keys_are_kept(valid_problem):
    valid_problem.update(noise=[0.0, 0.05], notes="hello")
    p = problem_from_dict(valid_problem)
    assert isinstance(p, Problem)
    assert p.noise == [0.0, 0.05] and p.notes == "hello" and p.units == {"x": "m", "y": "m"}
    assert p.path is None and p.n_samples == 20


def test_problems_dir_finds_package_data_after_install(tmp_path):
    """Mimic ``pip install .``: the package beside ``sysid/problems_data/*.toml``."""
    site = tmp_path / "site"
    shutil.copytree(
        Path(sysid.__file__).parent, site / "sysid", ignore=shutil.ignore_patterns("__pycache__")
    )
    (site / "sysid" / "problems_data").mkdir()
    for f in SHIPPED_FILES:
        shutil.copy(f, site / "sysid" / "problems_data" / f.name)
    code = "import sysid.data.problems as P; print(P.problems_dir()); print(len(P.list_problems()))"
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    folder, count = out.stdout.split()
    assert Path(folder) == site / "sysid" / "problems_data"
    assert int(count) == len(SHIPPED_FILES)
