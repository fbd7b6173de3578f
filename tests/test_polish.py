"""The last touch on a chosen model: negligible terms dropped, every constant refitted."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import sysid
from sysid.core.errors import ConfigError
from sysid.fit.polish import (
    has_inner_constants,
    negligible_terms,
    polish_model,
    trajectory_rms,
)
from sysid.symbolic.model import SymbolicModel


@pytest.fixture(scope="module")
def mm_data():
    return sysid.simulate("michaelis-menten", n_samples=60)


@pytest.fixture(scope="module")
def logistic_data():
    return sysid.simulate("logistic", n_samples=40)


def test_has_inner_constants():
    S, x = sp.symbols("S x")
    assert has_inner_constants(S / (S + 2.5))
    assert has_inner_constants(sp.exp(0.3 * x))
    assert not has_inner_constants(x**3 * S)
    assert not has_inner_constants(sp.sin(x))


def test_negligible_terms_relative_to_the_largest_term(logistic_data):
    m = SymbolicModel.from_equations(["N"], {"N": "0.5*N - 0.005*N**2 + 1e-12*N**3 + 1e-9"})
    assert sorted(str(t.term) for t in negligible_terms(m, logistic_data)) == ["1", "N**3"]
    # a threshold of 0 keeps every term
    assert negligible_terms(m, logistic_data, rel=0.0) == []


def test_negligible_terms_bad_threshold(logistic_data):
    m = SymbolicModel.from_equations(["N"], {"N": "0.5*N"})
    with pytest.raises(ConfigError, match=r"rel must be in \[0, 1\), found 2"):
        negligible_terms(m, logistic_data, rel=2)


def test_polish_refits_inner_constant_and_drops_tiny_terms(mm_data):
    m = SymbolicModel.from_equations(
        ["S"], {"S": "-1.42*S/(S + 2.2) + 3e-9*S**2/(S**2 + 0.86) + 4e-10*exp(0.16*S)"}
    )
    out = polish_model(m, mm_data)
    assert out is not None
    (term,) = out.terms
    assert term.coefficient == pytest.approx(-1.5, rel=1e-5)
    consts = out.selection["polish"]["inner_constants"]
    (c,) = consts.values()
    assert c["value"] == pytest.approx(2.0, rel=1e-5)
    assert len(out.selection["polish"]["dropped_terms"]) == 2
    assert out.selection["polish"]["rms_after"] <= out.selection["polish"]["rms_before"]
    r = sysid.score(out.equations, sysid.load_problem("michaelis-menten"))
    assert r["structure_recovered"] and r["max_coefficient_relative_error"] < 1e-4


def test_polish_leaves_plain_models_alone(logistic_data):
    p = sysid.load_problem("logistic")
    m = SymbolicModel.from_equations(["N"], p.true_equations())
    assert polish_model(m, logistic_data) is None
    assert trajectory_rms(m, logistic_data) < 1e-5


def test_polish_refuses_a_worse_model(logistic_data):
    # Dropping the "negligible" constant 1e-9 is harmless; the quadratic term is real:
    # a model whose only change would lose accuracy is never returned worse.
    m = SymbolicModel.from_equations(["N"], {"N": "0.5*N - 0.005*N**2 + 1e-9"})
    out = polish_model(m, logistic_data)
    assert out is not None
    assert trajectory_rms(out, logistic_data) <= 1.02 * trajectory_rms(m, logistic_data)
    assert [str(t.term) for t in out.terms] == ["N", "N**2"]


def test_select_model_refits_inner_constants_before_comparing(mm_data):
    """A search candidate whose inner constant is 5% off still wins the selection
    against a longer library fit: its constants are refitted to the training part."""
    from sysid.symbolic.search import search
    from sysid.symbolic.sparse import distill

    x = np.concatenate([tr.x for tr in mm_data])
    off = -1.5 * x / (2.1 + x)  # derivatives of a law with Km 5% off
    fronts = sysid.merge_fronts(
        distill(x, off, ["S"], max_terms=3), search(x, off, ["S"], time_limit=10.0)
    )
    model, report = sysid.select_model(fronts, mm_data, seed=0, time_limit=20.0)
    r = sysid.score(model.equations, sysid.load_problem("michaelis-menten"))
    assert r["structure_recovered"], str(model)
    assert r["max_coefficient_relative_error"] < 1e-3


def test_search_systems_need_strong_evidence():
    from sysid.select.choice import SEARCH_EVIDENCE as _SEARCH_EVIDENCE
    from sysid.select.choice import choose as _choose
    from sysid.select.report import CandidateScore

    def sc(origin: str, score: float, cx: int) -> CandidateScore:
        return CandidateScore({}, 2, cx, "ok", train_rmse=0.05, score=score, origin=origin)

    lib = sc("library", -100.0, 8)
    # better, and even shorter, but by less than the evidence bar: the library wins
    assert _choose([lib, sc("search", -100.0 - _SEARCH_EVIDENCE / 2, 6)]) == 0
    # far better: the search wins
    assert _choose([lib, sc("search, refitted", -100.0 - 2 * _SEARCH_EVIDENCE, 12)]) == 1
    # no library system simulated: the search system stands alone
    failed = CandidateScore({}, 2, 8, "failed", "blow-up")
    assert _choose([failed, sc("search", -50.0, 12)]) == 1


def test_fit_model_time_limit_keeps_the_best_point(logistic_data):
    res = sysid.fit_model(
        {"N": "r*N*(1 - N/K)"},
        logistic_data,
        parameters={"r": 0.3, "K": 80.0},
        time_limit=1e-9,
    )
    assert not res.success
    assert res.message.startswith("stopped by time_limit=1e-09 s")
    assert all(np.isfinite(v) for v in res.parameters.values())
    with pytest.raises(ConfigError, match="time_limit must be > 0, found -1"):
        sysid.fit_model({"N": "r*N"}, logistic_data, parameters={"r": 0.3}, time_limit=-1)
    with pytest.raises(ConfigError, match="simulation_time_limit must be > 0, found 0"):
        sysid.fit_model({"N": "r*N"}, logistic_data, parameters={"r": 0.3}, simulation_time_limit=0)
