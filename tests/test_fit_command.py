"""``sysid fit MODEL.toml DATA.csv``: model files, the gray-box report and its result.json."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest

import sysid
from sysid.cli import main
from sysid.fit.model_file import model_file_from_text

ROOT = Path(__file__).resolve().parents[1]
FLU_MODEL = ROOT / "examples" / "influenza_sir.toml"
FLU_DATA = ROOT / "examples" / "data" / "boarding_school_influenza_1978.csv"
SCHEMA = json.loads((ROOT / "docs" / "fit-result.schema.json").read_text())

DECAY = """
name = "decay"
states = ["x"]
equations = { x = "-k*x" }
unknown = { k = 1.0 }
derived = { half_life = "log(2)/k" }
"""

X = 'states = ["x"]\nequations = { x = "-k*x" }\n'


def _write(tmp_path: Path, text: str, name: str = "model.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _decay_csv(tmp_path: Path, k: float = 0.7, noise: float = 0.0) -> Path:
    t = np.linspace(0.0, 4.0, 30)
    x = 2.0 * np.exp(-k * t) * (1 + noise * np.random.default_rng(0).standard_normal(t.size))
    path = tmp_path / "decay.csv"
    path.write_text(
        "t,x\n" + "".join(f"{float(a)!r},{float(b)!r}\n" for a, b in zip(t, x, strict=True))
    )
    return path


def test_influenza_is_one_command(tmp_path, capsys):
    out = tmp_path / "flu"
    code = main(["fit", str(FLU_MODEL), str(FLU_DATA), "--time-column", "day", "-o", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "R0: beta/gamma = 3.76" in printed
    assert "dI/dt = " in printed and "verdict: good" in printed
    doc = json.loads((out / "result.json").read_text())
    jsonschema.validate(doc, SCHEMA)
    r0 = doc["derived"]["R0"]
    assert r0["value"] == pytest.approx(3.764, abs=0.01)
    assert r0["stderr"] == pytest.approx(0.123, rel=0.05)
    assert doc["parameters"]["beta"]["value"] == pytest.approx(1.669, abs=0.005)
    assert doc["observed"] == ["I"] and doc["fixed"] == {"N": 763.0}
    assert doc["fitted_equations"]["R"] == "0.443*I"
    assert doc["diagnostics"]["verdict"] == "good"
    assert (out / "fit.png").stat().st_size > 10_000


def test_a_problem_file_is_a_model_file(tmp_path):
    """Without 'unknown', every parameter is fitted from its value; starts are estimated."""
    data = sysid.simulate("lotka-volterra", noise=0.0, seed=0)
    csv = tmp_path / "lv.csv"
    data.to_csv(csv)
    rep = sysid.fit_model_file(ROOT / "problems" / "lotka-volterra.toml", str(csv))
    truth = sysid.load_problem("lotka-volterra").parameters
    for p, v in truth.items():
        assert rep.result.parameters[p] == pytest.approx(v, rel=1e-4)
    assert rep.verdict == "good"
    assert len(rep.result.initial_stderr) == data.n_trajectories
    doc = rep.to_dict()
    jsonschema.validate(doc, SCHEMA)
    assert doc["model"]["name"] == "lotka-volterra"


def test_hidden_state_with_unknown_start(tmp_path):
    """Only q is measured; v is simulated from an estimated start."""
    t = np.linspace(0.0, 10.0, 60)
    q = 1.0 * np.cos(1.5 * t) + 0.4 / 1.5 * np.sin(1.5 * t)
    csv = tmp_path / "q.csv"
    csv.write_text(
        "t,q\n" + "".join(f"{float(a)!r},{float(b)!r}\n" for a, b in zip(t, q, strict=True))
    )
    model = _write(
        tmp_path,
        'states = ["q", "v"]\nequations = { q = "v", v = "-w**2*q" }\n'
        "unknown = { w = { guess = 1.3, bounds = [0.1, 10.0] } }\n"
        'observed = ["q"]\ninitial_guess = { v = 0.0 }\n',
    )
    rep = sysid.fit_model_file(model, str(csv))
    assert rep.result.parameters["w"] == pytest.approx(1.5, rel=1e-5)
    assert rep.result.initial_states[0]["v"] == pytest.approx(0.4, abs=1e-4)
    assert "v(0)" in "\n".join(rep.lines())


def test_wrong_structure_is_not_good(tmp_path):
    """Logistic data fitted by exponential decay: the diagnostics say so."""
    t = np.linspace(0.0, 10.0, 50)
    x = 10.0 / (1.0 + 9.0 * np.exp(-t))
    rep = sysid.fit_model_file(
        model_file_from_text(
            'states = ["x"]\nequations = { x = "-k*x" }\nunknown = { k = 0.5 }\n'
            'columns = { x = "x0" }'
        ),
        (t, x),
    )
    assert rep.verdict != "good"
    assert {r["code"] for r in rep.diagnostics["reasons"]} & {"low_r2", "correlated_residuals"}


def test_report_derived_quantity(tmp_path):
    rep = sysid.fit_model_file(_write(tmp_path, DECAY), str(_decay_csv(tmp_path, noise=0.01)))
    half = rep.derived["half_life"]
    assert half.value == pytest.approx(np.log(2) / 0.7, rel=0.02)
    assert 0 < half.stderr < 0.05
    assert half.interval[0] < half.value < half.interval[1]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("states = [", "not valid TOML"),
        (DECAY + "bogus = 1\n", r"unknown key\(s\) \['bogus'\]"),
        ('equations = { x = "-k*x" }\nunknown = { k = 1.0 }', "required key 'states'"),
        (
            'states = "x"\nequations = { x = "-k*x" }\nunknown = { k = 1.0 }',
            "'states' must be a list",
        ),
        ("states = []\nequations = {}\nunknown = { k = 1.0 }", "'states' is empty"),
        ('states = ["x"]\nequations = { y = "-k*y" }\nunknown = { k = 1.0 }', r"missing \['x'\]"),
        ('states = ["x"]\nequations = { x = 3 }\nunknown = { k = 1.0 }', "must be a string"),
        ('states = ["x"]\nequations = { x = "-k*z" }\nunknown = { k = 1.0 }', "unknown name 'z'"),
        ('states = ["x"]\nequations = { x = "-k*x" }', "no unknown constant"),
        ('states = ["x"]\nequations = { x = "-k*x" }\nunknown = { k = "a" }', "finite number"),
        (
            'states = ["x"]\nequations = { x = "-k*x" }\nunknown = { k = { start = 1 } }',
            "must hold 'guess'",
        ),
        (
            X + "unknown = { k = { guess = 1, bounds = 3 } }",
            r"bounds' must be \[lo, hi\]",
        ),
        (
            X + "unknown = { k = 1 }\nparameters = { k = 2 }",
            "both known",
        ),
        ('states = ["x"]\nequations = { x = "-x*x" }\nunknown = { x = 1 }', "both as a state"),
        (DECAY + 'observed = ["y"]\n', r"\['y'\] are not states"),
        (DECAY + 'columns = { y = "col" }\n', "'columns' maps a state"),
        (DECAY + "initial_state = [1, 2]\n", "'initial_state' must be a table"),
        (DECAY + "initial_guess = { y = 1 }\n", "'initial_guess' names 'y'"),
        (DECAY.replace('"log(2)/k"', '"k*t"'), "uses the time t"),
        (DECAY.replace('"log(2)/k"', '"log(2)/q"'), "unknown name 'q'"),
        (DECAY.replace('name = "decay"', 'name = "Decay Model"'), "lower-case letters"),
    ],
)
def test_model_file_errors(tmp_path, text, match):
    with pytest.raises(sysid.SysidInputError, match=match):
        sysid.load_model_file(_write(tmp_path, text))


def test_model_file_error_names_file(tmp_path):
    path = _write(tmp_path, DECAY + "bogus = 1\n")
    with pytest.raises(sysid.ProblemFileError, match=str(path)):
        sysid.load_model_file(path)
    with pytest.raises(sysid.ProblemFileError, match="file not found"):
        sysid.load_model_file(tmp_path / "absent.toml")
    with pytest.raises(sysid.ProblemFileError, match="is a folder"):
        sysid.load_model_file(tmp_path)


def test_fit_errors_name_the_model_key(tmp_path):
    csv = _decay_csv(tmp_path)
    bounded = DECAY.replace("k = 1.0", "k = { guess = 1.0, bounds = [2.0, 3.0] }")
    with pytest.raises(sysid.ConfigError, match=r"model.toml, key 'unknown'.*outside its bounds"):
        sysid.fit_model_file(_write(tmp_path, bounded), str(csv))
    mapped = DECAY + 'columns = { x = "nope" }\n'
    with pytest.raises(sysid.DataError, match=r"decay.csv \(read for .*model.toml\).*'nope'"):
        sysid.fit_model_file(_write(tmp_path, mapped), str(csv))


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--starts", "0"], "--starts: must be 1 or more"),
        (["--time-limit", "-1"], "--time-limit: must be a positive number"),
        (["--trajectory-column", "run"], "run"),
    ],
)
def test_cli_errors(tmp_path, capsys, extra, match):
    model = _write(tmp_path, DECAY)
    code = main(["fit", str(model), str(_decay_csv(tmp_path)), "-o", str(tmp_path / "o"), *extra])
    assert code == 2
    assert match in capsys.readouterr().err


def test_cli_bad_model_file_exits_2(tmp_path, capsys):
    code = main(["fit", str(tmp_path / "absent.toml"), str(FLU_DATA)])
    assert code == 2
    assert "absent.toml: file not found" in capsys.readouterr().err


def test_no_figures(tmp_path):
    out = tmp_path / "o"
    model = _write(tmp_path, DECAY)
    assert (
        main(["fit", str(model), str(_decay_csv(tmp_path)), "-o", str(out), "--no-figures", "-q"])
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == ["result.json"]
