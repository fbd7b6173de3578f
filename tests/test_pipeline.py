"""End-to-end: discover, recover, result.json, figures, save/load, CLI.

The pipeline runs here with small budgets (``FAST`` in conftest, passed as
options; the CLI tests, which take no stage options, use the ``fast_defaults``
fixture) so the default suite stays quick; the accuracy targets at the default
budgets are checked by the slow tests in ``test_targets.py`` and by ``sysid bench``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import sympy as sp
from conftest import fast_options

import sysid
from sysid.cli import main
from sysid.core.errors import ConfigError, DataError
from sysid.fit.polish import has_inner_constants


@pytest.fixture(scope="module")
def lv_result():
    return sysid.recover(
        "lotka-volterra", noise=0.01, seed=0, n_samples=80, quiet=True, **fast_options()
    )


@pytest.fixture(scope="module")
def lv_saved(lv_result, tmp_path_factory):
    out = tmp_path_factory.mktemp("lv")
    lv_result.save(out)
    return out


def test_recover_finds_lotka_volterra(lv_result):
    s = lv_result.score
    assert s["structure_recovered"] is True, str(lv_result.model)
    assert s["max_coefficient_relative_error"] < 0.02
    assert s["holdout_r2"] > 0.99


def _terms(text: str) -> set[sp.Expr]:
    """The terms of a right-hand side without their coefficients."""
    return {t.as_coeff_Mul()[1] for t in sp.Add.make_args(sp.expand(sp.parse_expr(text)))}


def test_result_json_follows_contract(lv_saved):
    info = json.loads((lv_saved / "result.json").read_text())
    for key in (
        "sysid_version",
        "states",
        "equations",
        "latex",
        "terms",
        "pareto",
        "timings",
        "seed",
        "data",
        "score",
    ):
        assert key in info, key
    assert info["states"] == ["x", "y"]
    assert info["sysid_version"] == sysid.__version__
    for state, text in info["equations"].items():
        expr = sp.parse_expr(text)  # the contract's core: parse_expr reads them back
        assert expr.free_symbols <= {sp.Symbol("x"), sp.Symbol("y")}, state
    assert set(info["latex"]) == {"x", "y"}
    assert all({"state", "term", "coefficient", "stderr"} <= set(t) for t in info["terms"])
    assert all(t["stderr"] is not None and t["stderr"] >= 0 for t in info["terms"])
    for state, entries in info["pareto"].items():
        assert all({"complexity", "loss", "equation"} <= set(e) for e in entries)
        # The winner came from the library fronts: its entry, and only it, is marked,
        # although the final refit changed its constants.
        chosen = [e for e in entries if e["chosen"]]
        assert len(chosen) == 1, state
        assert _terms(chosen[0]["equation"]) == _terms(info["equations"][state])
        assert chosen[0]["equation"] != info["equations"][state]
    assert set(info["timings"]) >= {"neural_s", "symbolic_s", "refine_s", "total_s"}
    assert info["data"]["n_trajectories"] == 3 and info["data"]["n_samples"] == 240
    assert len(info["data"]["sha256"]) == 64
    assert info["score"]["structure_recovered"] is True
    assert set(info["score"]["truth"]) == {"x", "y"}


def test_pareto_figure_marks_the_chosen_model(lv_result):
    fig = lv_result.plot_pareto()
    for ax in fig.axes:  # one panel per state, each with its chosen entry starred
        assert ax.get_legend_handles_labels()[1].count("chosen") == 1


def test_figures_written(lv_saved):
    for name in ("trajectories.png", "phase_portrait.png", "pareto.png", "loss.png"):
        path = lv_saved / name
        assert path.stat().st_size > 5_000, name
    assert not (lv_saved / "figures_failed.txt").exists()


def test_save_load_round_trip(lv_result, lv_saved):
    back = sysid.DiscoveryResult.load(lv_saved)
    assert {s: str(e) for s, e in back.equations.items()} == {
        s: str(e) for s, e in lv_result.equations.items()
    }
    x = np.array([[5.0, 3.0], [1.0, 7.0]])
    np.testing.assert_array_equal(back.model.rhs(x), lv_result.model.rhs(x))
    np.testing.assert_array_equal(back.field.predict(x), lv_result.field.predict(x))
    assert back.data.sha256() == lv_result.data.sha256()
    assert back.score["structure_recovered"] is True
    assert back.verdict == lv_result.verdict and back.diagnostics == json.loads(
        json.dumps(lv_result.diagnostics)
    )


def test_result_is_printable(lv_result):
    text = str(lv_result)
    assert "dx/dt" in text and "dy/dt" in text


def test_same_seed_same_equations(simulated):
    data = simulated("logistic", noise=0.02, seed=1, n_samples=40)
    opts = {**fast_options(), "neural": {"max_epochs": 3, "pretrain_epochs": 40, "width": 8}}
    a = sysid.discover(data, seed=3, quiet=True, **opts)
    b = sysid.discover(data, seed=3, quiet=True, **opts)
    assert {s: str(e) for s, e in a.equations.items()} == {
        s: str(e) for s, e in b.equations.items()
    }
    np.testing.assert_array_equal(a.field.predict(data[0].x), b.field.predict(data[0].x))


def test_bad_seed_and_options(lv_dataset):
    with pytest.raises(
        ConfigError, match=r"seed must be an integer in \[0, 2\*\*63 - 1\], found -1"
    ):
        sysid.discover(lv_dataset, seed=-1)
    with pytest.raises(ConfigError, match=r"argument 'neural': unknown option\(s\) \['widht'\]"):
        sysid.discover(lv_dataset, neural={"widht": 3})
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['degre'\].*'degree'"):
        sysid.discover(lv_dataset, library={"degre": 2})
    with pytest.raises(ConfigError, match="select_options must be a dict"):
        sysid.discover(lv_dataset, select_options=[1, 2])
    with pytest.raises(ConfigError, match=r"time_limit must be a finite number >= 0, found -1"):
        sysid.discover(lv_dataset, select_options={"time_limit": -1})  # before any training
    with pytest.raises(ConfigError, match=r"expression_search must be one of .*found 'yes'"):
        sysid.discover(lv_dataset, expression_search="yes")
    with pytest.raises(ConfigError, match=r"'search_options': unknown option\(s\) \['beam'\]"):
        sysid.discover(lv_dataset, search_options={"beam": 3})


def test_expression_search_joins_the_fronts(simulated):
    """A saturating law: "auto" finds the library poor and runs the search, whose
    candidates (constants inside terms) join the Pareto front. Recovery itself at the
    default budgets is a slow target (tests/test_targets.py)."""
    data = simulated("michaelis-menten", noise=0.0, seed=0, n_samples=60)
    res = sysid.discover(data, seed=0, quiet=True, **fast_options())
    info = res.extra["expression_search"]
    assert info["mode"] == "auto" and info["ran"] is True
    assert info["seconds"] < 60.0
    assert any(has_inner_constants(t) for c in res.fronts["S"] for t in c.terms)
    assert res.to_dict()["expression_search"]["ran"] is True


def test_expression_search_never(simulated):
    data = simulated("logistic", noise=0.01, seed=0, n_samples=40)
    res = sysid.discover(data, seed=0, quiet=True, expression_search="never", **fast_options())
    assert "expression_search" not in res.extra
    assert not any(has_inner_constants(t.term) for t in res.model.terms)


def test_bad_data_type():
    with pytest.raises(DataError, match="cannot read data of type int"):
        sysid.discover(42)


# ------------------------------------------------------------------ CLI
def test_cli_discover_writes_results(fast_defaults, simulated, tmp_path, capsys):
    csv = tmp_path / "logistic.csv"
    simulated("logistic", noise=0.01, seed=2, n_samples=40).to_csv(csv)
    out = tmp_path / "res"
    code = main(["discover", str(csv), "-o", str(out), "--quiet", "--no-figures"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "dN/dt = " in captured.out
    assert "+/-" in captured.out
    info = json.loads((out / "result.json").read_text())
    assert "score" not in info
    assert captured.err == ""


def test_cli_discover_missing_file(tmp_path, capsys):
    code = main(["discover", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("sysid: error: ") and "nope.csv: file not found" in err
    assert "Traceback" not in err


def test_cli_discover_missing_trajectory_column(lv_csv, tmp_path, capsys):
    code = main(["discover", str(lv_csv), "--trajectory-column", "run", "-o", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "trajectory column 'run' not found" in err


def test_cli_discover_output_is_a_file(lv_csv, tmp_path, capsys):
    f = tmp_path / "file.txt"
    f.write_text("x")
    assert main(["discover", str(lv_csv), "-o", str(f)]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err


def test_cli_recover_unknown_problem(capsys):
    assert main(["recover", "lotka-voltera", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "unknown problem 'lotka-voltera'" in err and "did you mean" in err


def test_cli_recover_prints_side_by_side(fast_defaults, tmp_path, capsys):
    code = main(
        [
            "recover",
            "logistic",
            "--noise",
            "0.01",
            "--n-samples",
            "40",
            "-o",
            str(tmp_path / "r"),
            "--quiet",
            "--no-figures",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "found" in out and "true" in out and "dN/dt = " in out
    assert "structure recovered: " in out and "held-out R^2" in out
    assert (tmp_path / "r" / "result.json").exists()


def test_discover_reuses_a_fitted_field(lv_result):
    again = sysid.discover(
        lv_result.data, seed=0, quiet=True, field=lv_result.field, **fast_options()
    )
    assert again.field is lv_result.field
    assert {s: str(e) for s, e in again.equations.items()} == {
        s: str(e) for s, e in lv_result.equations.items()
    }
    with pytest.raises(ConfigError, match="field must be a fitted NeuralField, found str"):
        sysid.discover(lv_result.data, field="field.pt")
    with pytest.raises(ConfigError, match="NeuralField is not fitted yet"):
        sysid.discover(lv_result.data, field=sysid.NeuralField())
    other = sysid.simulate("logistic", n_samples=20)
    with pytest.raises(ConfigError, match=r"fitted to states \['x', 'y'\], the data have \['N'\]"):
        sysid.discover(other, field=lv_result.field)
