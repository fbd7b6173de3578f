"""Bad inputs, each through the command line or the Python API: exit code and message.

Every case runs with the neural field's ``fit`` and the gray-box fit replaced
by a tripwire, so the table also shows that none of them starts training or
fitting: a bad input is reported before any work. Run from the repository root::

    python examples/bad_inputs.py [-o examples/bad_inputs.md]

and it writes a Markdown table (one row per case) and exits 1 if any case
trained, crashed with a traceback, or was accepted.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

import sysid
from sysid.cli import main as cli
from sysid.fit import graybox
from sysid.neural.field import NeuralField


class _Trained(Exception):
    """Raised by the tripwire: training started."""


def _tripwire(*args, **kwargs):
    raise _Trained


def _files(root: Path) -> dict[str, str]:
    """Data files with one fault each; their paths by name."""
    t = np.linspace(0, 5, 30)
    good = "t,x,y\n" + "".join(f"{a:g},{np.exp(-a):g},{np.cos(a):g}\n" for a in t)
    texts = {
        "good": good,
        "empty": "",
        "header_only": "t,x\n",
        "labels": "t,x,experiment\n0,1,A\n1,0.5,A\n2,0.25,A\n0,2,B\n1,1,B\n2,0.5,B\n",
        "no_time": "time,x\n0,1\n1,2\n2,3\n",
        "dup_columns": "t,x,x\n0,1,1\n1,2,2\n2,3,3\n",
        "repeated_time": "t,x\n0,1\n0,2\n1,3\n2,4\n",
        "too_few": "t,x\n0,1\n1,2\n",
        "all_missing": "t,x,y\n0,1,\n1,2,\n2,3,\n3,4,\n",
        "huge": "t,x\n" + "".join(f"{a:g},{1e300 * np.exp(-a):g}\n" for a in t),
        "tiny": "t,x\n" + "".join(f"{a:g},{1e-200 * np.exp(-a):g}\n" for a in t),
        "inf_time": "t,x\n0,1\ninf,2\n2,3\n3,4\n",
        "bool_column": "t,x\n0,true\n1,false\n2,true\n3,false\n",
    }
    lines = good.splitlines()
    lines[5] = lines[5].split(",")[0] + ",abc," + lines[5].split(",")[2]
    texts["text_cell"] = "\n".join(lines) + "\n"
    out = {}
    for name, text in texts.items():
        path = root / f"{name}.csv"
        path.write_text(text)
        out[name] = str(path)
    out["missing_file"] = str(root / "nope.csv")
    (root / "bad.toml").write_text(
        'name = "x"\nstates = ["x"]\nequations = { x = "__import__(1)" }\n'
    )
    out["bad_toml"] = str(root / "bad.toml")
    model = 'states = ["x"]\nequations = { x = "-k*x" }\n'
    models = {
        "model_key": model + "unknown = { k = 1.0 }\nguesses = { k = 1 }\n",
        "model_name": 'states = ["x"]\nequations = { x = "-k*x*z" }\nunknown = { k = 1.0 }\n',
        "model_none": model,
        "model_bounds": model + "unknown = { k = { guess = 5.0, bounds = [0.0, 1.0] } }\n",
        "model_derived": model + 'unknown = { k = 1.0 }\nderived = { tau = "k*t" }\n',
        "model_column": model + 'unknown = { k = 1.0 }\ncolumns = { x = "conc" }\n',
        "model_ok": model + "unknown = { k = 1.0 }\n",
    }
    for name, text in models.items():
        (root / f"{name}.toml").write_text(text)
        out[name] = str(root / f"{name}.toml")
    return out


def _cli_cases(f: dict[str, str]) -> list[tuple[str, list[str]]]:
    d = ["discover"]
    return [
        ("no command", []),
        ("unknown command", ["learn"]),
        ("discover: missing file", [*d, f["missing_file"]]),
        ("discover: empty file", [*d, f["empty"]]),
        ("discover: header only", [*d, f["header_only"]]),
        ("discover: text in a state cell", [*d, f["text_cell"]]),
        ("discover: experiment labels", [*d, f["labels"]]),
        ("discover: no time column", [*d, f["no_time"]]),
        ("discover: duplicate columns", [*d, f["dup_columns"]]),
        ("discover: repeated times", [*d, f["repeated_time"]]),
        ("discover: too few samples", [*d, f["too_few"]]),
        ("discover: a state entirely missing", [*d, f["all_missing"]]),
        ("discover: values near 1e300", [*d, f["huge"]]),
        ("discover: values near 1e-200", [*d, f["tiny"]]),
        ("discover: infinite time", [*d, f["inf_time"]]),
        ("discover: true/false column", [*d, f["bool_column"]]),
        ("discover: unknown --states", [*d, f["good"], "--states", "x,z"]),
        ("discover: unknown --trajectory-column", [*d, f["good"], "--trajectory-column", "run"]),
        ("discover: seed too large", [*d, f["good"], "--seed", "99999999999999999999"]),
        ("discover: negative seed", [*d, f["good"], "--seed", "-1"]),
        ("discover: seed not a number", [*d, f["good"], "--seed", "one"]),
        ("discover: -o under a file", [*d, f["good"], "-o", "/dev/null/x"]),
        ("discover: -o is a file", [*d, f["good"], "-o", f["good"]]),
        ("discover: --inputs names no column of the file", [*d, f["good"], "--inputs", "u"]),
        ("discover: a state given as an input", [*d, f["good"], "--inputs", "x", "--states", "x"]),
        (
            "discover: unknown --interpolation",
            [*d, f["good"], "--inputs", "y", "--interpolation", "q"],
        ),
        ("discover: negative --ensemble", [*d, f["good"], "--ensemble", "-2"]),
        ("discover: --ensemble not a number", [*d, f["good"], "--ensemble", "many"]),
        ("recover: unknown problem", ["recover", "no-such-problem"]),
        ("recover: negative noise", ["recover", "sir", "--noise", "-0.1"]),
        ("recover: noise nan", ["recover", "sir", "--noise", "nan"]),
        ("recover: too few samples", ["recover", "sir", "--n-samples", "2"]),
        ("recover: problem file without parameters", ["recover", f["bad_toml"]]),
        ("simulate: -o in a missing folder", ["simulate", "sir", "-o", "/no/such/dir/x.csv"]),
        ("fit: missing model file", ["fit", f["missing_file"] + ".toml", f["good"]]),
        ("fit: unknown model-file key", ["fit", f["model_key"], f["good"]]),
        ("fit: undeclared name in an equation", ["fit", f["model_name"], f["good"]]),
        ("fit: nothing unknown", ["fit", f["model_none"], f["good"]]),
        ("fit: guess outside its bounds", ["fit", f["model_bounds"], f["good"]]),
        ("fit: derived quantity uses t", ["fit", f["model_derived"], f["good"]]),
        ("fit: mapped column not in the data", ["fit", f["model_column"], f["good"]]),
        ("fit: --starts 0", ["fit", f["model_ok"], f["good"], "--starts", "0"]),
        ("bench: unknown problem", ["bench", "no-such-problem", "-o", "/tmp/b"]),
        ("bench: bad noise list", ["bench", "sir", "--noise", "0,a", "-o", "/tmp/b"]),
    ]


def _api_cases(f: dict[str, str]) -> list[tuple[str, Callable[[], object]]]:
    good = sysid.load_data(f["good"])
    m = sysid.SymbolicModel.from_equations(["x"], {"x": "-x"})
    return [
        ("discover: seed 2**64", lambda: sysid.discover(good, seed=2**64)),
        ("discover: seed True", lambda: sysid.discover(good, seed=True)),
        ("discover: unknown neural option", lambda: sysid.discover(good, neural={"widht": 8})),
        ("discover: width 0", lambda: sysid.discover(good, neural={"width": 0})),
        ("discover: library degree -1", lambda: sysid.discover(good, library={"degree": -1})),
        ("discover: values near 1e300", lambda: sysid.discover(f["huge"])),
        ("discover: quiet 'no'", lambda: sysid.discover(good, quiet="no")),
        ("discover: search mode 'yes'", lambda: sysid.discover(good, expression_search="yes")),
        ("SysID: bad selection option", lambda: sysid.SysID(selection=sysid.Selection(seed=-1))),
        (
            "discover: ensemble_fraction 1.5",
            lambda: sysid.discover(good, select_options={"ensemble_fraction": 1.5}),
        ),
        ("Selection: ensemble_jobs 0", lambda: sysid.Selection(ensemble_jobs=0)),
        ("NeuralField: lr 0", lambda: sysid.NeuralField(lr=0)),
        ("NeuralField: device 'tpu'", lambda: sysid.NeuralField(device="tpu")),
        ("simulate: noise -1", lambda: sysid.simulate("sir", noise=-1)),
        ("simulate: seed 1.5", lambda: sysid.simulate("sir", seed=1.5)),
        ("SymbolicModel.simulate: scalar time", lambda: m.simulate([1.0], 5.0)),
        ("SymbolicModel.simulate: decreasing times", lambda: m.simulate([1.0], [1.0, 0.0])),
        (
            "SymbolicModel: code in an equation",
            lambda: sysid.SymbolicModel.from_equations(["x"], {"x": "__import__('os')"}),
        ),
        (
            "fit_model: seed -1",
            lambda: sysid.fit_model({"x": "-k*x"}, good, parameters={"k": 1.0}, seed=-1),
        ),
    ]


def _run_cli(argv: list[str]) -> tuple[str, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli(argv)
    return str(code), " ".join(err.getvalue().split())


def _run_api(call: Callable[[], object]) -> tuple[str, str]:
    try:
        call()
    except sysid.SysidInputError as exc:
        return type(exc).__name__, " ".join(str(exc).split())
    return "accepted", ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default="examples/bad_inputs.md")
    args = parser.parse_args()
    NeuralField.fit = _tripwire  # any training ends the case with _Trained
    graybox.fit = _tripwire  # as does any gray-box fit (sysid fit, fit_model)
    rows, bad = [], 0
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        files = _files(Path(tmp))
        cases = [("CLI", n, lambda a=a: _run_cli(a)) for n, a in _cli_cases(files)]
        cases += [("API", n, lambda c=c: _run_api(c)) for n, c in _api_cases(files)]
        for kind, name, run in cases:
            try:
                result, message = run()
            except _Trained:
                result, message = "TRAINED", "training started"
            except Exception as exc:  # noqa: BLE001 - reported as a defect in the table
                result, message = "CRASH", f"{type(exc).__name__}: {exc}"
            ok = result not in ("TRAINED", "CRASH", "accepted", "0")
            bad += not ok
            message = message.replace(tmp, "TMP").replace("|", "\\|")
            rows.append(f"| {kind} | {name} | {result} | {message[:300]} |")
    head = [
        "# Bad inputs: exit code (CLI) or error class (API), and the message",
        "",
        f"`python examples/bad_inputs.py`: {len(rows)} cases, none starts training "
        f"(training replaced by a tripwire); {bad} defect(s).",
        "",
        "| | case | exit / error | message |",
        "|---|---|---|---|",
    ]
    Path(args.output).write_text("\n".join(head + rows) + "\n")
    print(f"{len(rows)} cases, {bad} defect(s); wrote {args.output}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
