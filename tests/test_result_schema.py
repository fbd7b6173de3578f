"""Every kind of written result JSON against the JSON Schemas in ``docs/``.

``docs/result.schema.json`` describes ``result.json`` as ``discover``,
``recover`` and the ``sysid discover`` command write it;
``docs/graybox-result.schema.json`` the file ``fit_model(...).save(path)``
writes. The runs use tiny budgets: the results are not expected to be
accurate, only to be written in the documented form.
"""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from jsonschema import Draft202012Validator, ValidationError

import sysid
from sysid.cli import main

DOCS = Path(__file__).resolve().parent.parent / "docs"

#: A discover run of a few seconds on 2 cores (the neural field barely trains).
QUICK: dict[str, Any] = {
    "neural": {
        "width": 8,
        "max_epochs": 4,
        "pretrain_epochs": 50,
        "time_limit": 1.0,
        "max_window": 2,
        "horizons": (0.5,),
    },
    "library": {"degree": 2, "trig": False},
    "distill_options": {"max_terms": 2},
    "select_options": {"time_limit": 2.0},
    "expression_search": "never",
    "quiet": True,
}


def _validator(name: str) -> Draft202012Validator:
    schema = json.loads((DOCS / name).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)  # no format checker: formats are not asserted


@pytest.fixture(scope="module")
def result_schema() -> Draft202012Validator:
    return _validator("result.schema.json")


@pytest.fixture(scope="module")
def graybox_schema() -> Draft202012Validator:
    return _validator("graybox-result.schema.json")


def _saved(result: Any, outdir: Path) -> dict[str, Any]:
    path = result.save(outdir, figures=False)
    assert path == outdir / "result.json"
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def discovered(tmp_path_factory) -> dict[str, Any]:
    """``result.json`` of :func:`sysid.discover` on two-state data."""
    data = sysid.simulate("lotka-volterra", n_samples=30, noise=0.01, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = sysid.discover(data, seed=0, **QUICK)
    return _saved(result, tmp_path_factory.mktemp("discover"))


@pytest.fixture(scope="module")
def recovered(tmp_path_factory) -> dict[str, Any]:
    """``result.json`` of :func:`sysid.recover` (with a score block)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = sysid.recover("logistic", noise=0.01, seed=0, n_samples=20, **QUICK)
    return _saved(result, tmp_path_factory.mktemp("recover"))


def _decay_fit(equations: dict[str, str], parameters: dict[str, float]) -> sysid.GrayBoxResult:
    t = np.linspace(0.0, 4.0, 30)
    x = 2.0 * np.exp(-0.7 * t) + 0.01 * np.random.default_rng(0).standard_normal(t.size)
    return sysid.fit_model(equations, (t, x), parameters=parameters, columns={"x": "x0"})


# ------------------------------------------------------------ result.json
def test_discover_result_json_matches_schema(result_schema, discovered):
    result_schema.validate(discovered)
    assert "score" not in discovered and "problem" not in discovered
    assert discovered["states"] == ["x", "y"]


def test_recover_result_json_matches_schema(result_schema, recovered):
    result_schema.validate(recovered)
    assert recovered["problem"] == "logistic"
    assert set(recovered["score"]["truth"]) == {"N"}
    assert recovered["recover"] == {"noise": 0.01, "irregular": False, "n_samples": 20}


def test_cli_discover_result_json_matches_schema(result_schema, fast_defaults, tmp_path, capsys):
    csv = tmp_path / "logistic.csv"  # one short trajectory keeps the default-budget run short
    sysid.simulate("logistic", n_samples=12, noise=0.01, seed=2).subset([0]).to_csv(csv)
    out = tmp_path / "res"
    code = main(["discover", str(csv), "-o", str(out), "--quiet", "--no-figures"])
    assert code == 0, capsys.readouterr().err
    info = json.loads((out / "result.json").read_text(encoding="utf-8"))
    result_schema.validate(info)
    assert info["data"]["source"] == str(csv)


def test_result_schema_accepts_the_nulls_the_code_writes(result_schema, recovered):
    info = copy.deepcopy(recovered)
    info["terms"][0]["stderr"] = None  # a standard error that is unknown or not finite
    info["score"]["holdout_r2"] = None  # the identified model failed to simulate
    info["score"]["holdout_error"] = "simulation of the identified model failed or blew up"
    info["selection"]["winner"] = None
    result_schema.validate(info)


@pytest.mark.parametrize("key", ["sysid_version", "states", "equations", "terms", "data"])
def test_result_schema_rejects_a_missing_key(result_schema, discovered, key):
    info = copy.deepcopy(discovered)
    del info[key]
    with pytest.raises(ValidationError, match=rf"'{key}' is a required property"):
        result_schema.validate(info)


def _set(info: dict[str, Any], path: tuple, value: Any) -> None:
    node = info
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("seed",), "0", r"'0' is not of type 'integer'"),
        (("seed",), -1, r"-1 is less than the minimum of 0"),
        (("states",), [], r"\[\] should be non-empty"),
        (("equations", "x"), 1.5, r"1.5 is not of type 'string'"),
        (("terms", 0, "coefficient"), None, r"None is not of type 'number'"),
        (("terms", 0, "stderr"), -0.1, r"-0.1 is less than the minimum of 0"),
        (("data", "sha256"), "abc", r"'abc' does not match"),
        (("data", "n_trajectories"), 2.5, r"2.5 is not of type 'integer'"),
        (("pareto", "x", 0, "chosen"), "yes", r"'yes' is not of type 'boolean'"),
        (("selection", "criterion"), "r2", r"'r2' is not one of \['ebic', 'bic', 'aic'\]"),
        (("timings", "total_s"), "1 s", r"'1 s' is not of type 'number'"),
    ],
)
def test_result_schema_rejects_a_wrong_type(result_schema, discovered, path, value, message):
    info = copy.deepcopy(discovered)
    _set(info, path, value)
    with pytest.raises(ValidationError, match=message):
        result_schema.validate(info)


def test_result_schema_rejects_a_bad_score_block(result_schema, recovered):
    info = copy.deepcopy(recovered)
    info["score"]["structure_recovered"] = "yes"
    with pytest.raises(ValidationError, match=r"'yes' is not of type 'boolean'"):
        result_schema.validate(info)
    del info["score"]["structure_recovered"]
    with pytest.raises(ValidationError, match=r"'structure_recovered' is a required property"):
        result_schema.validate(info)


def test_result_schema_allows_new_top_level_keys(result_schema, discovered):
    result_schema.validate({**discovered, "a_later_block": {"members": 8}})


def test_diagnostics_block_follows_the_schema(result_schema, discovered):
    assert discovered["diagnostics"]["verdict"] in ("good", "doubtful", "poor")
    result_schema.validate(discovered)
    bad = copy.deepcopy(discovered)
    bad["diagnostics"]["verdict"] = "fine"
    with pytest.raises(ValidationError, match=r"'fine' is not one of \['good', 'doubtful'"):
        result_schema.validate(bad)


# ------------------------------------------------------------ gray-box fit
def test_graybox_json_matches_schema(graybox_schema, tmp_path):
    fit = _decay_fit({"x": "-k*x"}, {"k": 1.0})
    info = json.loads(fit.save(tmp_path / "fit.json").read_text(encoding="utf-8"))
    graybox_schema.validate(info)
    assert info["success"] is True and info["stderr"]["k"] > 0


def test_graybox_json_of_an_unidentifiable_fit_matches_schema(graybox_schema, tmp_path):
    # Only the product a*b changes the fit: standard errors are inf, written as null.
    fit = _decay_fit({"x": "-a*b*x"}, {"a": 1.0, "b": 0.5})
    info = json.loads(fit.save(tmp_path / "fit.json").read_text(encoding="utf-8"))
    graybox_schema.validate(info)
    assert info["identifiable"] is False and info["stderr"]["a"] is None


def test_graybox_schema_rejects_a_missing_key_and_a_wrong_type(graybox_schema, tmp_path):
    info = _decay_fit({"x": "-k*x"}, {"k": 1.0}).to_dict()
    bad = {k: v for k, v in info.items() if k != "parameters"}
    with pytest.raises(ValidationError, match=r"'parameters' is a required property"):
        graybox_schema.validate(bad)
    bad = {**info, "nfev": "many"}
    with pytest.raises(ValidationError, match=r"'many' is not of type 'integer'"):
        graybox_schema.validate(bad)


def test_the_two_schemas_tell_the_files_apart(result_schema, graybox_schema, discovered):
    graybox = _decay_fit({"x": "-k*x"}, {"k": 1.0}).to_dict()
    with pytest.raises(ValidationError, match=r"'sysid_version' is a required property"):
        result_schema.validate(graybox)
    with pytest.raises(ValidationError, match=r"is a required property"):
        graybox_schema.validate(discovered)
