"""Bad input across the public API: each case raises a sysid error that names the culprit.

The cases here complement the per-module tests (test_data, test_problems,
test_neural, test_search, ...): wrong types, shapes, non-positive tolerances,
unknown options and unsafe equation strings reaching the API through its other
doors (``SymbolicModel``, ``refine``, ``score``, ``discover``, ``recover``...).
Every message is checked with ``match``.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import sysid
from sysid import (
    ConfigError,
    DataError,
    EquationError,
    Library,
    NeuralField,
    SymbolicModel,
    load_problem,
    refine,
    select_model,
)
from sysid.symbolic.search import search
from sysid.symbolic.sparse import distill

LV = {"x": "1.1*x - 0.4*x*y", "y": "0.1*x*y - 0.4*y"}
#: A discover run of a second or two, for cases that may (wrongly) start the work.
TINY_RUN = {
    "neural": {"width": 4, "max_epochs": 0, "pretrain_epochs": 5},
    "distill_options": {"max_terms": 1},
    "select_options": {"time_limit": 1.0},
    "expression_search": "never",
}


@pytest.fixture(scope="module")
def small():
    """Lotka-Volterra, 3 trajectories x 30 samples, no noise."""
    return sysid.simulate("lotka-volterra", n_samples=30, seed=0)


@pytest.fixture(scope="module")
def model():
    return SymbolicModel.from_equations(["x", "y"], LV)


@pytest.fixture(scope="module")
def exact(small):
    """Data states and their exact derivatives."""
    p = load_problem("lotka-volterra")
    x = np.concatenate([tr.x for tr in small])
    return x, p.rhs(0.0, x.T).T


@pytest.fixture(scope="module")
def fronts(exact):
    x, dxdt = exact
    return distill(x, dxdt, ["x", "y"], Library(["x", "y"], degree=2, trig=False), max_terms=2)


# ------------------------------------------------------------ SymbolicModel
@pytest.mark.parametrize(
    ("states", "equations", "kwargs", "error", "match"),
    [
        ("xy", {"x": "x", "y": "y"}, {}, ConfigError, r"states must be a non-empty list of names"),
        ([], {}, {}, ConfigError, r"states must be a non-empty list of names, found \[\]"),
        (["x", "x"], {"x": "x"}, {}, ConfigError, r"state names are not unique: \['x'\]"),
        (["x"], ["x"], {}, ConfigError, r"equations must be a dict state -> equation, found list"),
        (["x"], {"x": None}, {}, EquationError, r"equations\.x: expected a string.*NoneType"),
        (["x"], {"x": [1, 2]}, {}, EquationError, r"equations\.x: expected a string.*list"),
        (["x"], {"x": "x"}, {"colour": 1}, ConfigError, r"unknown option\(s\) \['colour'\]"),
        (["x"], {"x": "x"}, {"stderr": [0.1]}, ConfigError, r"stderr must be a dict"),
        (["x"], {"x": float("nan")}, {}, EquationError, r"equations\.x: non-finite number"),
    ],
    ids=lambda v: repr(v)[:20],
)
def test_from_equations_rejects_bad_arguments(states, equations, kwargs, error, match):
    with pytest.raises(error, match=match):
        SymbolicModel.from_equations(states, equations, **kwargs)


def _never_trains(*args, **kwargs):  # pragma: no cover - reached only if a check is late
    raise AssertionError("training started before the bad input was reported")


@pytest.mark.parametrize(
    ("scale", "match"),
    [
        (1e300, r"state 'x' reaches 1e\+300, outside .*overflow.*divide 'x' by 1e\+300"),
        (1e-200, r"state 'y' never exceeds 1e-200.*underflow.*divide 'y' by 1e-200"),
    ],
    ids=["huge", "tiny"],
)
def test_discover_rejects_magnitudes_float64_cannot_hold(small, monkeypatch, scale, match):
    monkeypatch.setattr(NeuralField, "fit", _never_trains)
    which = 0 if scale > 1 else 1
    t, x = small[0].t, small[0].x.copy()
    x[:, which] *= scale / np.abs(x[:, which]).max()
    data = sysid.Dataset.from_arrays(t, x, states=["x", "y"])
    with pytest.raises(DataError, match=match):
        sysid.discover(data, quiet=True)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"x0": "ab"}, DataError, r"SymbolicModel\.simulate: x0 is not numeric, found 'ab'"),
        ({"t": ["0", "soon"]}, DataError, r"t is not numeric, found \['0', 'soon'\]"),
        ({"t": [[0.0, 1.0], [2.0, 3.0]]}, DataError, r"t must be 1-D times, found shape \(2, 2\)"),
        (
            {"t": 5.0},
            DataError,
            r"t must be 1-D times starting at x0's time, found the single number 5\.0\. "
            r"Hint: .*t=np\.linspace\(0, 5\.0, 101\)",
        ),
        ({"rtol": 0.0}, ConfigError, r"rtol must be a finite number > 0, found 0\.0"),
        ({"rtol": -1e-6}, ConfigError, r"rtol must be a finite number > 0, found -1e-06"),
        ({"time_limit": -1}, ConfigError, r"time_limit must be a finite number > 0, found -1"),
        ({"time_limit": float("inf")}, ConfigError, r"time_limit must be a finite number > 0"),
        ({"max_evals": 0}, ConfigError, r"max_evals must be an integer >= 1, found 0"),
        ({"max_evals": 10.5}, ConfigError, r"max_evals must be an integer >= 1, found 10\.5"),
    ],
    ids=lambda v: repr(v)[:24],
)
def test_model_simulate_rejects_bad_arguments(model, kwargs, error, match):
    args = {"x0": [1.0, 1.0], "t": [0.0, 1.0], **kwargs}
    with pytest.raises(error, match=match):
        model.simulate(args.pop("x0"), args.pop("t"), **args)


def test_a_state_named_like_a_python_keyword():
    m = SymbolicModel.from_equations(["lambda", "y"], {"lambda": "-lambda*y", "y": "lambda"})
    assert str(m.equations["lambda"]) == "-lambda*y"
    x = m.simulate([1.0, 1.0], [0.0, 1.0])
    ref = solve_ivp(lambda t, v: [-v[0] * v[1], v[0]], (0, 1), [1.0, 1.0], rtol=1e-10).y[:, -1]
    np.testing.assert_allclose(x[1], ref, rtol=1e-6)
    assert SymbolicModel.from_dict(m.to_dict()).to_dict()["equations"] == m.to_dict()["equations"]
    with pytest.raises(EquationError, match=r"unknown name 'lambda_'"):
        SymbolicModel.from_equations(["lambda"], {"lambda": "-lambda_"})


def test_model_rhs_rejects_text(model):
    with pytest.raises(DataError, match=r"SymbolicModel\.rhs: x is not numeric, found 'ab'"):
        model.rhs("ab")


def test_model_load_and_from_dict_name_the_file(tmp_path, model):
    with pytest.raises(DataError, match=r"is a folder, not a model file"):
        SymbolicModel.load(tmp_path)
    d = model.to_dict()
    d["bounds"] = [[0.0, 0.0]]
    with pytest.raises(DataError, match=r"mine\.json: 'bounds' must be \[lower, upper\]"):
        SymbolicModel.from_dict(d, source="mine.json")


# ------------------------------------------------------- unsafe equations
INJECTIONS = [
    ("x.__class__", r"forbidden syntax 'x\.__class__' \(Attribute\)"),
    ("(lambda: x)()", r"unknown function 'lambda: x'"),
    ("__import__('os').system('touch pwned')", r"unknown function '__import__\('os'\)\.system'"),
    ("().__class__.__bases__[0]", r"forbidden syntax"),
    ("eval('x')", r"unknown function 'eval'"),
    ("globals()", r"unknown function 'globals'"),
    ("open('/etc/passwd')", r"unknown function 'open'"),
    ("{x: 1}", r"forbidden syntax .*\(Dict\)"),
    ("x @ y", r"forbidden syntax .*\(MatMult\)"),
    ("(x := 2)", r"forbidden syntax .*\(NamedExpr\)"),
]


@pytest.mark.parametrize(("text", "match"), INJECTIONS, ids=[i[0][:20] for i in INJECTIONS])
def test_code_in_equations_never_runs(text, match, small, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    entries = [
        lambda: SymbolicModel.from_equations(["x", "y"], {"x": text, "y": "y"}),
        lambda: refine({"x": text, "y": "-0.4*y"}, small),
        lambda: sysid.score({"x": text, "y": "y"}, load_problem("lotka-volterra")),
    ]
    for entry in entries:
        with pytest.raises(EquationError, match=match):
            entry()
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        (lambda d: SymbolicModel.from_equations(["x", "y"], {"x": "k*x", "y": "y"}), r"'k'"),
        (
            lambda d: refine({"x": "alpha*x", "y": "-y"}, d),
            r"equation of 'x'.*unknown name 'alpha'",
        ),
        (lambda d: sysid.score({"x": "x*z", "y": "y"}, load_problem("lotka-volterra")), "'z'"),
        (lambda d: Library(["x", "y"], extra=["exp(-q)"]), r"'exp\(-q\)': unknown name 'q'"),
    ],
    ids=["from_equations", "refine", "score", "Library"],
)
def test_unknown_names_are_named(small, entry, match):
    with pytest.raises(EquationError, match=match):
        entry(small)


def test_fit_model_equation_injection():
    t = np.linspace(0.0, 1.0, 10)
    with pytest.raises(EquationError, match=r"unknown function 'getattr'"):
        sysid.fit_model({"x": "getattr(x, 'real')"}, (t, np.c_[np.exp(-t)]), parameters={"k": 1.0})


# ---------------------------------------------------------------- simulate
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"irregular": "yes"}, r"argument 'irregular': irregular must be True or False"),
        ({"holdout": 1}, r"argument 'holdout': holdout must be True or False, found 1"),
        ({"t_span": (0.0, 1.0, 2.0)}, r"argument 't_span': t_span must have end > start"),
        ({"t_span": "ab"}, r"t_span must have end > start, found 'ab'"),
        ({"t_span": (0.0, float("inf"))}, r"t_span must have end > start, found \(0\.0, inf\)"),
        ({"initial_conditions": "abc"}, r"initial conditions must be numbers, found 'abc'"),
        (
            {"initial_conditions": [[0.9, np.nan, 0.0]]},
            r"initial condition 0 holds the non-finite value nan for state 1",
        ),
    ],
    ids=lambda v: repr(v)[:24],
)
def test_simulate_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        sysid.simulate("sir", n_samples=5, **kwargs)


# ------------------------------------------------------------ NeuralField
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rtol": -1e-6}, r"NeuralField\(rtol=\.\.\.\): rtol must be a finite number > 0"),
        ({"atol": 0.0}, r"NeuralField\(atol=\.\.\.\): atol must be a finite number > 0, found 0"),
        ({"max_step": 0}, r"max_step must be a finite number > 0, found 0"),
        ({"step_tol": float("inf")}, r"step_tol must be a finite number > 0, found inf"),
        ({"continuity": -1.0}, r"continuity must be a finite number >= 0, found -1\.0"),
        ({"width": "8"}, r"width must be an integer >= 1, found '8'"),
        ({"patience": 0}, r"patience must be an integer >= 1, found 0"),
        ({"horizons": "1"}, r"horizons must be a non-empty sequence of positive numbers"),
    ],
    ids=lambda v: repr(v)[:24],
)
def test_neural_field_rejects_bad_hyperparameters(kwargs, match):
    with pytest.raises(ConfigError, match=match):  # when built, before any training
        NeuralField(max_epochs=0, quiet=True, **kwargs)


def test_neural_field_rejects_data_of_other_states(small):
    nf = NeuralField(width=4, max_epochs=0, pretrain_epochs=5, quiet=True).fit(small)
    other = sysid.simulate("sir", n_samples=10)
    with pytest.raises(DataError, match=r"data have states \['S', 'I', 'R'\] but the field"):
        nf.smoothed(other)


# ------------------------------------------------------- discover / recover
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"seed": "1"},
            r"argument 'seed': seed must be an integer in \[0, 2\*\*63 - 1\], found '1'",
        ),
        ({"seed": True}, r"seed must be an integer in \[0, 2\*\*63 - 1\], found True"),
        ({"seed": 10**20}, r"seed must be an integer in .*found 100000000000000000000.*e\.g\. 0"),
        ({"seed": -1}, r"seed must be an integer in \[0, 2\*\*63 - 1\], found -1"),
        ({"quiet": "no"}, r"quiet must be True or False, found 'no'"),
        ({"neural": [("width", 3)]}, r"argument 'neural': neural must be a dict"),
        ({"library": 5}, r"argument 'library': library must be a dict .* found int"),
        ({"distill_options": {"max_term": 3}}, r"unknown option\(s\) \['max_term'\]"),
        ({"select_options": {"timebudget": 1}}, r"unknown option\(s\) \['timebudget'\]"),
        ({"expression_search": "yes"}, r"expression_search must be one of"),
        ({"search_options": {"budget": 1}}, r"argument 'search_options': unknown option"),
        (
            {"distill_options": {"library": {"degree": 2}}},
            r"argument 'distill_options': unknown option\(s\) \['library'\].*discover's own",
        ),
        (
            {"search_options": {"mode": "always"}},
            r"'search_options': unknown option\(s\) \['mode'\].*expression_search",
        ),
        ({"select_options": {"polish": "yes"}}, r"polish must be True or False, found 'yes'"),
        ({"select_options": {"polish_time_limit": 0}}, r"polish_time_limit must be a finite"),
        ({"neural": {"width": 0}}, r"NeuralField\(width=\.\.\.\): width must be an integer"),
        ({"distill_options": {"max_terms": 0}}, r"Distiller\(max_terms=\.\.\.\): max_terms"),
        ({"search_options": {"operators": ["*"]}}, r"operators must include '\+'"),
        ({"library": {"degree": -1}}, r"degree must be an integer >= 0, found -1"),
    ],
    ids=lambda v: repr(v)[:24],
)
def test_discover_rejects_bad_options_before_any_work(small, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        sysid.discover(small, **{"quiet": True, **kwargs})


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"noise": -0.1}, ConfigError, r"argument 'noise': noise must be a finite number >= 0"),
        ({"n_samples": 0}, ConfigError, r"n_samples must be an integer >= 3, found 0"),
        ({"irregular": "sometimes"}, ConfigError, r"irregular must be True or False"),
        ({"problem": "lotka-voltera"}, sysid.ProblemFileError, r"did you mean 'lotka-volterra'"),
    ],
    ids=lambda v: repr(v)[:24],
)
def test_recover_rejects_bad_arguments(kwargs, error, match):
    problem = kwargs.pop("problem", "lotka-volterra")
    with pytest.raises(error, match=match):
        sysid.recover(problem, quiet=True, **kwargs)


# ------------------------------------------------------ distill and friends
def test_search_and_distill_mismatched_states(exact):
    x, dxdt = exact
    with pytest.raises(DataError, match=r"'x' must have shape \(n, 3\), found \(90, 2\)"):
        distill(x, dxdt, ["x", "y", "z"])
    with pytest.raises(DataError, match=r"search: 'dxdt' must have shape \(n, 1\)"):
        search(x[:, :1], dxdt, ["x"])


def test_select_model_rejects_a_holdout_of_other_states(small, fronts):
    other = sysid.simulate("sir", n_samples=10)
    with pytest.raises(ConfigError, match=r"holdout states \['S', 'I', 'R'\] differ"):
        select_model(fronts, small, other)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"time_limit": -1.0},
            r"Selection\(time_limit=\.\.\.\): time_limit must be a finite number >= 0",
        ),
        ({"time_limit": float("nan")}, r"time_limit must be a finite number >= 0, found nan"),
        ({"holdout_fraction": 1.0}, r"holdout_fraction must be in \[0, 1\), found 1\.0"),
        ({"seed": True}, r"seed must be an integer in \[0, 2\*\*63 - 1\], found True"),
        (
            {"seed": 2**63},
            r"seed must be an integer in \[0, 2\*\*63 - 1\], found 9223372036854775808",
        ),
        ({"segment_points": 10.0}, r"segment_points must be None or an integer >= 2, found 10\.0"),
        ({"max_nfev": 2.5}, r"max_nfev must be an integer >= 1, found 2\.5"),
        ({"margin": 0}, r"margin must be a finite number > 0, found 0"),
        ({"rtol": float("inf")}, r"rtol must be a finite number > 0, found inf"),
        ({"ratio": -1}, r"ratio must be a finite number > 0, found -1"),
        ({"improvement": 1.0}, r"improvement must be in \[0, 1\), found 1\.0"),
        ({"prune_below": "5"}, r"prune_below must be a finite number >= 0, found '5'"),
    ],
    ids=lambda v: repr(v)[:24],
)
def test_select_model_rejects_bad_options(small, fronts, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        select_model(fronts, small, **kwargs)


@pytest.mark.parametrize(
    ("fronts_of", "match"),
    [
        (
            lambda f: [f["x"], f["y"]],
            r"fronts must be a dict state -> list of Candidate, found list",
        ),
        (lambda f: {"x": f["x"], "y": ["y"]}, r"front of state 'y' holds an item of type str"),
        (
            lambda f: {"x": [None], "y": f["y"]},
            r"front of state 'x' holds an item of type NoneType",
        ),
        (lambda f: {"x": f["x"], "y": []}, r"no candidates for state\(s\) \['y'\]"),
    ],
    ids=["list", "str item", "None item", "empty"],
)
def test_select_model_rejects_bad_fronts(small, fronts, fronts_of, match):
    with pytest.raises(ConfigError, match=match):
        select_model(fronts_of(fronts), small)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"time_limit": 0}, r"argument 'time_limit': time_limit must be a finite number > 0"),
        (
            {"simulation_time_limit": float("nan")},
            r"simulation_time_limit must be a finite number > 0",
        ),
        ({"max_evals": 0}, r"max_evals must be an integer >= 1, found 0"),
        ({"margin": "5"}, r"margin must be a finite number > 0, found '5'"),
        ({"segment_points": True}, r"segment_points must be None or an integer >= 2"),
    ],
    ids=lambda v: repr(v)[:24],
)
def test_refine_rejects_bad_options(small, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        refine(LV, small, **kwargs)


def test_refine_rejects_a_system_for_other_states(small):
    with pytest.raises(ConfigError, match=r"missing \['y'\], unknown \['z'\]"):
        refine({"x": "x", "z": "1"}, small)
    other = SymbolicModel.from_equations(["a", "b"], {"a": "-a", "b": "-b"})
    with pytest.raises(ConfigError, match=r"model states \['a', 'b'\] differ from data states"):
        refine(other, small)


# ------------------------------------------- not validated yet (other modules)
#: (id, call, error, message wanted, what happened before the check). Cases whose
#: check has been added: they must raise as listed.
FIXED = [
    (
        "distill states",
        lambda d, f, e: distill(e[0], e[1], 3),
        ConfigError,
        r"states must be a non-empty list of names, found 3",
        "symbolic.py: distill iterates over states unchecked (TypeError)",
    ),
    (
        "distill library",
        lambda d, f, e: distill(e[0], e[1], ["x", "y"], library="poly"),
        ConfigError,
        r"library must be a Library, found str",
        "symbolic.py: AttributeError 'str' object has no attribute 'states'",
    ),
    (
        "distill weights",
        lambda d, f, e: distill(e[0], e[1], ["x", "y"], weights="abc"),
        DataError,
        r"'weights' is not numeric",
        "symbolic.py: bare ValueError from np.asarray",
    ),
    (
        "score problem",
        lambda d, f, e: sysid.score(LV, "lotka-volterra"),
        ConfigError,
        r"problem must be a Problem",
        "score.py: AttributeError 'str' object has no attribute 'true_equations'",
    ),
    (
        "recover option",
        lambda d, f, e: sysid.recover("lotka-volterra", quiet=True, widht=3),
        ConfigError,
        r"unknown option\(s\) \['widht'\]",
        "discovery.py: recover passes **options on, TypeError from discover",
    ),
    (
        "Library trig",
        lambda d, f, e: Library(["x"], trig="yes"),
        ConfigError,
        r"trig must be True or False, found 'yes'",
        "library.py: trig is not checked",
    ),
    (
        "select_model time_limit",
        lambda d, f, e: select_model(f, d, time_limit="10"),
        ConfigError,
        r"time_limit must be a finite number >= 0, found '10'",
        "refine.py: select_model does not check time_limit",
    ),
    (
        "select_model holdout_fraction",
        lambda d, f, e: select_model(f, d, holdout_fraction="a"),
        ConfigError,
        r"holdout_fraction must be in \[0, 1\), found 'a'",
        "refine.py: float('a') escapes as a bare ValueError",
    ),
    (
        "select_model max_nfev",
        lambda d, f, e: select_model(f, d, max_nfev=0),
        ConfigError,
        r"max_nfev must be an integer >= 1, found 0",
        "refine.py: scipy's least_squares raises a bare ValueError",
    ),
    (
        "select_model segment_points",
        lambda d, f, e: select_model(f, d, segment_points=1),
        ConfigError,
        r"segment_points must be None or an integer >= 2, found 1",
        "refine.py: max() of an empty sequence in _symbolic_shooting",
    ),
    (
        "select_model seed",
        lambda d, f, e: select_model(f, d, holdout="trajectory", seed=-1),
        ConfigError,
        r"seed must be an integer in \[0, 2\*\*63 - 1\], found -1",
        "refine.py: numpy's default_rng raises a bare ValueError",
    ),
    (
        "refine rtol",
        lambda d, f, e: refine(LV, d, rtol=-1e-8),
        ConfigError,
        r"rtol must be a finite number > 0, found -1e-08",
        "refine.py: scipy's solver raises a bare ValueError",
    ),
    (
        "refine max_nfev",
        lambda d, f, e: refine(LV, d, max_nfev=0),
        ConfigError,
        r"max_nfev must be an integer >= 1, found 0",
        "refine.py: scipy's least_squares raises a bare ValueError",
    ),
    (
        "discover states",
        lambda d, f, e: sysid.discover(d, states=["a", "b"], quiet=True, **TINY_RUN),
        DataError,
        r"state column\(s\) \['a', 'b'\] not found",
        "data.py: load_data ignores states= for a Dataset (runs on x, y)",
    ),
]


@pytest.mark.parametrize(
    ("entry", "error", "match"),
    [pytest.param(call, err, match, id=id_) for id_, call, err, match, _ in FIXED],
)
def test_fixed_validation(small, fronts, exact, entry, error, match):
    with pytest.raises(error, match=match):
        entry(small, fronts, exact)


def test_refine_polish_is_the_deprecated_name_of_continuation(small):
    with pytest.warns(
        DeprecationWarning, match=r"refine\(polish=\.\.\.\) is deprecated.*continuation"
    ):
        old = refine(LV, small, polish=False)
    new = refine(LV, small, continuation=False)
    assert old.method == new.method and old.method.startswith("multiple shooting")
    np.testing.assert_array_equal(old.coefficients, new.coefficients)
