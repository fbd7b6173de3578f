"""The SysID estimator and its components: fit, predict, simulate, score, params, checks.

One fit of Lotka-Volterra with small budgets (the ``fast`` components, a
degree-2 library, no expression search) serves the tests of the fitted
estimator; every check of a bad option runs before any training (the field's
``fit`` is replaced by a function that fails the test).
"""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import pandas as pd
import pytest
from conftest import FAST
from sklearn.base import clone
from sklearn.exceptions import NotFittedError as SklearnNotFittedError

import sysid
from sysid import (
    ConfigError,
    DataError,
    Distiller,
    ExpressionSearch,
    Library,
    NeuralField,
    NotFittedError,
    Selection,
    SymbolicModel,
    SysID,
)
from sysid.data.simulation import integrate
from sysid.fit.polish import polish_model
from sysid.report.scoring import simulated_r2
from sysid.select.selection import select_model
from sysid.symbolic.search import search
from sysid.symbolic.sparse import distill

LIBRARY = {"degree": 2, "trig": False}
NO_SEARCH = ExpressionSearch(mode="never")


@pytest.fixture(scope="module")
def lv():
    """Lotka-Volterra, 3 trajectories x 60 samples, 1% noise."""
    return sysid.simulate("lotka-volterra", noise=0.01, seed=0, n_samples=60)


@pytest.fixture(scope="module")
def fitted(lv, fast):
    est = SysID(library=LIBRARY, search=NO_SEARCH, seed=0, quiet=True, **fast)
    returned = est.fit(lv)
    return est, returned


@pytest.fixture(scope="module")
def est(fitted):
    return fitted[0]


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if a neural field starts training."""

    def boom(self, data):
        raise AssertionError("training started before the options were checked")

    monkeypatch.setattr(NeuralField, "fit", boom)


# ------------------------------------------------------------------ fit
def test_fit_returns_self_and_sets_the_fitted_attributes(fitted, lv, fast):
    est, returned = fitted
    assert returned is est
    assert isinstance(est.model_, SymbolicModel) and est.model_.states == ("x", "y")
    assert isinstance(est.field_, NeuralField) and est.field_.states_ == ("x", "y")
    assert est.field_ is not fast["field"] and not hasattr(fast["field"], "field_")
    assert set(est.fronts_) == {"x", "y"} and all(est.fronts_.values())
    assert est.selection_ is not None and est.selection_.winner is not None
    assert est.states_ == ("x", "y") and est.n_features_in_ == 2 and est.seed_ == 0
    assert est.data_.sha256() == lv.sha256()
    assert set(est.timings_) == {"neural_s", "symbolic_s", "refine_s", "diagnose_s", "total_s"}
    assert "expression_search" not in est.extra_ and "interrupted" not in est.extra_


def test_fit_finds_lotka_volterra(est):
    coefs = {k: v for k, v in est.model_.coefficients().items()}
    truth = {("x", "x"): 1.1, ("x", "x*y"): -0.4, ("y", "x*y"): 0.1, ("y", "y"): -0.4}
    assert set(coefs) == set(truth), str(est.model_)
    for key, value in truth.items():
        assert coefs[key] == pytest.approx(value, rel=0.02), key


def test_result_holds_the_fit_and_its_options(est):
    res = est.result_
    assert isinstance(res, sysid.DiscoveryResult)
    assert res.model is est.model_ and res.field is est.field_ and res.seed == 0
    info = res.to_dict()
    options = info["options"]
    assert options["seed"] == 0
    assert options["distiller"] == {**Distiller(**FAST["distill_options"]).to_dict(), "seed": 0}
    assert options["selection"]["time_limit"] == 20.0 and options["selection"]["polish"] is True
    assert options["search"]["mode"] == "never"
    assert options["library"]["degree"] == 2 and options["library"]["trig"] is False
    assert options["neural"]["width"] == 24 and options["neural"]["dtype"] == "torch.float64"


def test_predict_gives_the_model_derivatives(est, lv):
    x = np.concatenate([tr.x for tr in lv])
    dxdt = est.predict(x)
    assert dxdt.shape == x.shape
    np.testing.assert_array_equal(dxdt, est.model_.rhs(x))
    truth = sysid.load_problem("lotka-volterra").rhs(0.0, x.T).T
    assert np.abs(dxdt - truth).max() < 0.02 * np.abs(truth).max()


def test_simulate_follows_the_truth(est):
    p = sysid.load_problem("lotka-volterra")
    t = np.linspace(0.0, 10.0, 50)
    x0 = p.holdout_initial_conditions[0]
    x = est.simulate(x0, t)
    assert x.shape == (50, 2)
    np.testing.assert_array_equal(x, est.model_.simulate(x0, t))
    truth = integrate(p, x0, t)
    assert np.abs(x - truth).max() < 0.02 * np.ptp(truth, axis=0).max()


def test_score_is_the_simulated_r2(est, lv):
    s = est.score(lv)
    assert isinstance(s, float) and 0.999 < s <= 1.0
    assert s == simulated_r2(est.model_.simulate, lv)
    clean = sysid.simulate("lotka-volterra", n_samples=60, holdout=True)
    assert est.score(clean) > 0.999


def test_score_reads_a_dataframe_and_names_other_states(est, lv, tmp_path):
    path = tmp_path / "lv.csv"
    lv.to_csv(path)
    assert est.score(str(path)) == pytest.approx(est.score(lv), rel=1e-12)
    with pytest.raises(DataError, match=r"data have states \['N'\], the model \['x', 'y'\]"):
        est.score(sysid.simulate("logistic", n_samples=20))


def test_a_model_that_blows_up_scores_minus_infinity(lv):
    bad = SymbolicModel.from_equations(["x", "y"], {"x": "x**2", "y": "y"})
    assert simulated_r2(bad.simulate, lv) == float("-inf")


def test_discover_is_sysid_fit(est, lv):
    res = sysid.discover(
        lv,
        seed=0,
        quiet=True,
        library=LIBRARY,
        neural=FAST["neural"],
        distill_options=FAST["distill_options"],
        select_options=FAST["select_options"],
        expression_search="never",
    )
    assert {s: str(e) for s, e in res.equations.items()} == {
        s: str(e) for s, e in est.model_.equations.items()
    }
    x = np.array([[5.0, 3.0], [1.0, 7.0]])
    np.testing.assert_array_equal(res.field.predict(x), est.field_.predict(x))
    assert res.seed == 0


def test_a_fitted_field_is_reused(est, lv, fast):
    again = SysID(
        library=LIBRARY, field=est.field_, search=NO_SEARCH, selection=fast["selection"], quiet=True
    )
    again.fit(lv)
    assert again.field_ is est.field_
    assert {s: str(e) for s, e in again.model_.equations.items()} == {
        s: str(e) for s, e in est.model_.equations.items()
    }
    with pytest.raises(ConfigError, match=r"fitted to states \['x', 'y'\], the data have \['N'\]"):
        again.fit(sysid.simulate("logistic", n_samples=20))


# ------------------------------------------------------- not fitted yet
@pytest.mark.parametrize(
    "call",
    [
        lambda e: e.predict([[1.0, 2.0]]),
        lambda e: e.simulate([1.0, 2.0], [0.0, 1.0]),
        lambda e: e.score(sysid.simulate("lotka-volterra", n_samples=10)),
    ],
    ids=["predict", "simulate", "score"],
)
def test_not_fitted_yet(call):
    with pytest.raises(NotFittedError, match=r"this SysID is not fitted yet.*call fit\(data\)"):
        call(SysID())
    with pytest.raises(SklearnNotFittedError):
        call(SysID())
    with pytest.raises(ConfigError):
        call(SysID())


# --------------------------------------------------- params (scikit-learn)
def test_get_params_lists_the_components():
    sel = Selection(time_limit=5.0)
    est = SysID(selection=sel, seed=3)
    shallow = est.get_params(deep=False)
    assert shallow == {
        "library": None,
        "field": None,
        "distiller": None,
        "search": None,
        "selection": sel,
        "seed": 3,
        "quiet": False,
        "known": None,
        "time_dependent": False,
    }
    deep = est.get_params()
    assert deep["selection__time_limit"] == 5.0 and deep["selection__polish"] is True
    assert repr(est) == "SysID(seed=3, selection=Selection(time_limit=5.0))"


def test_set_params_builds_new_components():
    sel = Selection(time_limit=5.0)
    nf = NeuralField(width=8)
    est = SysID(selection=sel, field=nf)
    assert (
        est.set_params(selection__polish=False, field__depth=3, seed=7, distiller__n_refit=2) is est
    )
    assert est.selection == Selection(time_limit=5.0, polish=False) and est.selection is not sel
    assert sel.polish is True  # the old component is untouched
    assert est.field.depth == 3 and est.field.width == 8 and nf.depth == 2
    assert est.distiller == Distiller(n_refit=2) and est.seed == 7


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"seeed": 1}, r"SysID\.set_params: unknown option\(s\) \['seeed'\].*'seed'"),
        ({"selection__time_budjet": 1}, r"Selection: unknown option\(s\) \['time_budjet'\]"),
        ({"field__widht": 3}, r"NeuralField: unknown option\(s\) \['widht'\]"),
        ({"selection__time_limit": -1}, r"time_limit must be a finite number >= 0, found -1"),
        ({"field__width": 0}, r"NeuralField\(width=\.\.\.\): width must be an integer >= 1"),
    ],
    ids=lambda v: repr(v)[:24],
)
def test_set_params_checks_the_new_options(params, match):
    with pytest.raises(ConfigError, match=match):
        SysID().set_params(**params)


def test_clone_round_trip(est):
    copy = clone(est)
    assert type(copy) is SysID and copy is not est
    assert copy.get_params(deep=False).keys() == est.get_params(deep=False).keys()
    assert copy.selection is est.selection and copy.distiller is est.distiller  # frozen: shared
    assert copy.field is not est.field and copy.field.get_params() == est.field.get_params()
    assert not hasattr(copy, "model_")
    with pytest.raises(NotFittedError):
        copy.predict([[1.0, 1.0]])


def test_components_are_frozen():
    sel = Selection()
    with pytest.raises(dataclasses.FrozenInstanceError):
        sel.time_limit = 1.0  # type: ignore[misc]
    with pytest.raises(ConfigError, match=r"Selection options cannot be changed in place"):
        sel.set_params(time_limit=1.0)
    assert sel.replace(time_limit=1.0) == Selection(time_limit=1.0)
    with pytest.raises(ConfigError, match=r"Selection: unknown option\(s\) \['budget'\]"):
        sel.replace(budget=1.0)
    assert clone(sel) is sel


# ------------------------------------------------ components check options
@pytest.mark.parametrize(
    ("cls", "kwargs", "match"),
    [
        (
            Distiller,
            {"max_terms": 0},
            r"Distiller\(max_terms=\.\.\.\): max_terms must be an integer",
        ),
        (Distiller, {"beam_width": 2.5}, r"beam_width must be an integer >= 1, found 2\.5"),
        (Distiller, {"exhaustive_limit": -1}, r"exhaustive_limit must be an integer >= 1"),
        (Distiller, {"n_refit": True}, r"n_refit must be an integer >= 1, found True"),
        (Distiller, {"collinearity_tol": 0}, r"collinearity_tol must be a finite number > 0"),
        (Distiller, {"max_samples": 1}, r"max_samples must be an integer >= 2, found 1"),
        (
            Distiller,
            {"seed": -1},
            r"Distiller\(seed=\.\.\.\): seed must be an integer in \[0, 2\*\*63 - 1\]",
        ),
        (ExpressionSearch, {"mode": "yes"}, r"mode must be one of \['auto', 'always', 'never'\]"),
        (ExpressionSearch, {"operators": "+*"}, r"operators must be a collection of names"),
        (ExpressionSearch, {"operators": ["+", "tan"]}, r"unknown operator\(s\) \['tan'\]"),
        (ExpressionSearch, {"operators": ["*"]}, r"operators must include '\+'"),
        (ExpressionSearch, {"max_terms": 0}, r"max_terms must be an integer >= 1, found 0"),
        (ExpressionSearch, {"time_limit": -1.0}, r"time_limit must be a finite number >= 0"),
        (ExpressionSearch, {"time_limit": float("inf")}, r"time_limit must be a finite"),
        (ExpressionSearch, {"n_grid": 1}, r"n_grid must be an integer >= 2, found 1"),
        (ExpressionSearch, {"beam_width": 0}, r"beam_width must be an integer >= 1"),
        (ExpressionSearch, {"n_refine": 0}, r"n_refine must be an integer >= 1"),
        (ExpressionSearch, {"max_samples": 0}, r"max_samples must be an integer >= 2"),
        (
            ExpressionSearch,
            {"seed": "0"},
            r"seed must be an integer in \[0, 2\*\*63 - 1\], found '0'",
        ),
        (Selection, {"holdout": "last"}, r"holdout must be None, 'windows', 'trajectory' or a"),
        (Selection, {"holdout_fraction": 1.0}, r"holdout_fraction must be in \[0, 1\), found 1\.0"),
        (Selection, {"criterion": "mdl"}, r"criterion must be 'ebic', 'bic' or 'aic', found 'mdl'"),
        (Selection, {"seed": 1.5}, r"seed must be an integer in \[0, 2\*\*63 - 1\], found 1\.5"),
        (Selection, {"time_limit": "10"}, r"time_limit must be a finite number >= 0, found '10'"),
        (Selection, {"segment_points": 1}, r"segment_points must be None or an integer >= 2"),
        (Selection, {"max_nfev": 0}, r"max_nfev must be an integer >= 1, found 0"),
        (Selection, {"margin": 0}, r"margin must be a finite number > 0, found 0"),
        (Selection, {"rtol": -1e-6}, r"rtol must be a finite number > 0, found -1e-06"),
        (Selection, {"ratio": float("nan")}, r"ratio must be a finite number > 0, found nan"),
        (Selection, {"improvement": 1.0}, r"improvement must be in \[0, 1\), found 1\.0"),
        (Selection, {"prune_below": -1}, r"prune_below must be a finite number >= 0, found -1"),
        (Selection, {"polish": 1}, r"Selection\(polish=\.\.\.\): polish must be True or False"),
        (Selection, {"polish_negligible": 1.0}, r"polish_negligible must be in \[0, 1\)"),
        (Selection, {"polish_time_limit": 0}, r"polish_time_limit must be a finite number > 0"),
    ],
    ids=lambda v: repr(v)[:28],
)
def test_components_check_their_options_when_built(cls, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        cls(**kwargs)


def test_component_defaults_are_the_stage_defaults():
    """The components' signatures are the defaults; the stage functions agree with them."""

    def defaults(fn):  # the old names (``**deprecated``) have no default
        params = inspect.signature(fn).parameters.items()
        return {k: p.default for k, p in params if p.kind is not p.VAR_KEYWORD}

    d = defaults(distill)
    assert {k: d[k] for k in Distiller.option_names()} == Distiller().get_params()
    s = defaults(search)
    own = ExpressionSearch().get_params()
    # The pipeline's search budget (40 s) is its own; the rest are search()'s.
    assert own.pop("mode") == "auto" and own.pop("time_limit") == 40.0
    assert {k: s[k] for k in own} == own
    sel = Selection().get_params()
    m = defaults(select_model)
    assert all(sel[k] == m[k] for k in m if k not in ("fronts", "data"))
    p = defaults(polish_model)
    assert Selection().polish_kwargs() == {k: p[k] for k in ("negligible", "time_limit")}


# ------------------------------------------- SysID checks before training
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"seed": -1},
            ConfigError,
            r"seed must be None or an integer in \[0, 2\*\*63 - 1\], found -1",
        ),
        ({"seed": 1.5}, ConfigError, r"argument 'seed': seed must be None or an integer in"),
        ({"quiet": "no"}, ConfigError, r"argument 'quiet': quiet must be True or False"),
        ({"selection": {"time_limit": 1}}, ConfigError, r"selection must be a Selection or None"),
        ({"field": "field.pt"}, ConfigError, r"field must be a NeuralField or None, found str"),
        ({"distiller": Selection()}, ConfigError, r"distiller must be a Distiller or None"),
        (
            {"search": "never"},
            ConfigError,
            r"search must be an ExpressionSearch or None, found str",
        ),
        ({"library": 5}, ConfigError, r"library must be a dict of Library options or a Library"),
        ({"library": {"degre": 2}}, ConfigError, r"unknown option\(s\) \['degre'\].*'degree'"),
        ({"library": {"degree": -1}}, ConfigError, r"degree must be an integer >= 0, found -1"),
        (
            {"library": Library(["a", "b"])},
            ConfigError,
            r"library states \['a', 'b'\] differ from the data's \['x', 'y'\]",
        ),
    ],
    ids=lambda v: repr(v)[:24],
)
def test_fit_checks_its_arguments_before_training(lv, no_training, kwargs, error, match):
    with pytest.raises(error, match=match):
        SysID(**{"quiet": True, **kwargs}).fit(lv)


def _bad_frame() -> pd.DataFrame:
    return pd.DataFrame({"t": [0.0, 1.0, 2.0, 3.0], "x": [1.0, 2.0, "a", 4.0], "y": [1.0] * 4})


@pytest.mark.parametrize(
    ("data", "options", "match"),
    [
        (42, {}, r"cannot read data of type int"),
        (_bad_frame(), {}, r"non-numeric value 'a' in column 'x' at row 2"),
        ("missing.csv", {}, r"missing\.csv: file not found"),
        (None, {"states": ["a", "b"]}, r"state column\(s\) \['a', 'b'\] not found"),
    ],
    ids=["int", "text cell", "no file", "states"],
)
def test_fit_checks_the_data_before_training(lv, no_training, data, options, match):
    with pytest.raises(DataError, match=match):
        SysID(quiet=True).fit(lv if data is None else data, **options)


@pytest.mark.parametrize("polish", [True, False])
def test_polish_is_an_option_of_the_selection(est, lv, monkeypatch, polish):
    calls = []

    def record(model, data, **options):
        calls.append(options)
        return None  # nothing to polish: the selected model stays

    monkeypatch.setattr(sysid.pipeline, "polish_model", record)
    sel = Selection(**FAST["select_options"], polish=polish, polish_time_limit=3.0)
    again = SysID(library=LIBRARY, field=est.field_, search=NO_SEARCH, selection=sel, quiet=True)
    again.fit(lv)
    assert calls == ([{"negligible": 1e-4, "time_limit": 3.0}] if polish else [])
    assert again.extra_["options"]["selection"]["polish"] is polish
