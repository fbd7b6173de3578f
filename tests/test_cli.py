"""The ``sysid`` command: subcommands, exit codes, one-line errors."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import sysid
from sysid.cli import main
from sysid.data.dataset import Dataset
from sysid.data.problems import list_problems


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _assert_one_line_error(err: str, pattern: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("sysid: error: ")
    assert "Traceback" not in err
    assert re.search(pattern, lines[0]), lines[0]


# ------------------------------------------------------------------ top level
def test_version(capsys):
    code, out, _ = _run(capsys, "--version")
    assert code == 0 and out.strip() == f"sysid {sysid.__version__}"


@pytest.mark.parametrize("argv", [["--help"], ["problems", "--help"], ["simulate", "--help"]])
def test_help(capsys, argv):
    code, out, err = _run(capsys, *argv)
    assert code == 0 and out.startswith("usage: sysid") and err == ""
    if argv[0] == "simulate":
        for option in [
            "--noise",
            "--seed",
            "--n-samples",
            "--irregular",
            "--holdout",
            "-o",
            "--quiet",
        ]:
            assert option in out


def test_no_command(capsys):
    code, out, err = _run(capsys)
    assert code == 2 and out == ""
    _assert_one_line_error(err, r"no command given; choose one of problems, simulate")


@pytest.mark.parametrize(
    ("argv", "pattern"),
    [
        (["frobnicate"], r"invalid choice: 'frobnicate'.*see 'sysid --help'"),
        (["simulate"], r"the following arguments are required: PROBLEM"),
        (["simulate", "sir", "--noise", "lots"], r"argument --noise: invalid float value: 'lots'"),
        (["simulate", "sir", "--seed", "1.5"], r"argument --seed: invalid int value: '1\.5'"),
        (["simulate", "sir", "--bogus"], r"unrecognized arguments: --bogus"),
        (["problems", "extra"], r"unrecognized arguments: extra"),
    ],
)
def test_bad_usage_exits_2_with_one_line(capsys, argv, pattern):
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    _assert_one_line_error(err, pattern)


# ------------------------------------------------------------------ problems
def test_problems_lists_an_aligned_table(capsys):
    code, out, err = _run(capsys, "problems")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "STATES", "TITLE"]
    assert [line.split()[0] for line in lines[1:]] == list_problems()
    states_col = lines[0].index("STATES")
    title_col = lines[0].index("TITLE")
    for line in lines[1:]:
        assert line[states_col - 2 : states_col] == "  " and line[states_col] != " "
        assert line[title_col - 2 : title_col] == "  " and line[title_col] != " "
    lv = next(line for line in lines if line.startswith("lotka-volterra "))
    assert "x, y" in lv and "Lotka-Volterra predator-prey" in lv


def test_problems_from_a_folder(capsys, tmp_path, valid_toml):
    (tmp_path / "toy.toml").write_text(valid_toml)
    code, out, _ = _run(capsys, "problems", "--problems", str(tmp_path))
    assert code == 0 and out.splitlines()[1].split()[:3] == ["toy-decay", "x,", "y"]


def test_problems_bad_folder(capsys, tmp_path):
    code, out, err = _run(capsys, "problems", "--problems", str(tmp_path / "none"))
    assert code == 2 and out == ""
    _assert_one_line_error(err, r"none: folder not found")


def test_problems_bad_file_names_file_and_token(capsys, tmp_path, valid_toml):
    bad = valid_toml.replace('x = "-a*x"', "x = \"__import__('os')\"")
    (tmp_path / "evil.toml").write_text(bad)
    code, _, err = _run(capsys, "problems", "--problems", str(tmp_path))
    assert code == 2
    _assert_one_line_error(err, r"evil\.toml: equations\.x: unknown function '__import__'")


# ------------------------------------------------------------------ simulate
def test_simulate_to_stdout_is_a_valid_dataset(capsys):
    code, out, err = _run(capsys, "simulate", "lotka-volterra", "--n-samples", "20")
    assert code == 0
    assert "lotka-volterra: 3 trajectories x 20 samples" in err
    ds = Dataset.from_dataframe(pd.read_csv(io.StringIO(out), dtype={"trajectory": str}))
    reference = sysid.simulate("lotka-volterra", n_samples=20)
    assert ds.sha256() == reference.sha256()


def test_simulate_to_file_equals_stdout(capsys, tmp_path):
    path = tmp_path / "out.csv"
    options = ["--noise", "0.05", "--seed", "3", "--irregular", "--n-samples", "15"]
    code, out, err = _run(capsys, "simulate", "sir", "-o", str(path), *options)
    assert code == 0 and out == "" and str(path) in err
    code, out, _ = _run(capsys, "simulate", "sir", "--quiet", *options)
    assert code == 0
    assert path.read_bytes() == out.encode()
    expected = sysid.simulate("sir", noise=0.05, seed=3, irregular=True, n_samples=15)
    assert Dataset.from_csv(path).sha256() == expected.sha256()


def test_simulate_holdout_and_quiet(capsys, tmp_path):
    path = tmp_path / "hold.csv"
    code, out, err = _run(capsys, "simulate", "pendulum", "--holdout", "--quiet", "-o", str(path))
    assert code == 0 and out == "" and err == ""
    assert [tr.name for tr in Dataset.from_csv(path)] == ["holdout-0", "holdout-1"]


def test_simulate_user_problem_file(capsys, tmp_path, valid_toml):
    toml = tmp_path / "toy.toml"
    toml.write_text(valid_toml)
    code, out, _ = _run(capsys, "simulate", str(toml), "--quiet")
    assert code == 0 and out.splitlines()[0] == "trajectory,t,x,y"
    assert len(out.splitlines()) == 1 + 3 * 20


@pytest.mark.parametrize(
    ("argv", "pattern"),
    [
        (["simulate", "lotka"], r"unknown problem 'lotka'.*did you mean 'lotka-volterra'"),
        (["simulate", "missing.toml"], r"missing\.toml: file not found"),
        (["simulate", "sir", "--noise", "-0.5"], r"argument 'noise': noise must be .* >= 0"),
        (["simulate", "sir", "--noise", "nan"], r"noise must be a finite number"),
        (["simulate", "sir", "--n-samples", "2"], r"n_samples must be an integer >= 3, found 2"),
        (
            ["simulate", "sir", "--seed", "-1"],
            r"seed must be an integer in \[0, 2\*\*63 - 1\], found -1",
        ),
    ],
)
def test_simulate_bad_input_exits_2(capsys, argv, pattern):
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    _assert_one_line_error(err, pattern)


def test_simulate_bad_output_path(capsys, tmp_path):
    code, _, err = _run(capsys, "simulate", "sir", "-o", str(tmp_path / "no" / "x.csv"))
    assert code == 2
    _assert_one_line_error(err, r"output '.*x\.csv': folder '.*no' does not exist")
    code, _, err = _run(capsys, "simulate", "sir", "-o", str(tmp_path))
    assert code == 2
    _assert_one_line_error(err, r"is a folder.*-o data\.csv")


def test_simulate_failure_exits_1(capsys, tmp_path, valid_toml):
    toml = tmp_path / "blowup.toml"
    toml.write_text(valid_toml.replace('x = "-a*x"', 'x = "x**2"'))
    code, out, err = _run(capsys, "simulate", str(toml), "-o", str(tmp_path / "x.csv"))
    assert code == 1 and out == ""
    _assert_one_line_error(err, r"problem 'toy-decay': simulation from \[1\.0, 2\.0\] failed")
    assert not (tmp_path / "x.csv").exists()


def test_unwritable_output_exits_1(capsys, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "x.csv"))

    monkeypatch.setattr(Dataset, "to_csv", refuse)
    code, _, err = _run(capsys, "simulate", "sir", "-o", str(tmp_path / "x.csv"))
    assert code == 1
    _assert_one_line_error(err, r"x\.csv: Permission denied")


# ------------------------------------------------------------------ installed script
def _console_script() -> str | None:
    beside = Path(sys.executable).with_name("sysid")
    return str(beside) if beside.exists() else shutil.which("sysid")


def test_installed_console_script(tmp_path):
    script = _console_script()
    if script is None:
        pytest.skip("the sysid console script is not installed (pip install -e .)")
    ok = subprocess.run([script, "problems"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "lotka-volterra" in ok.stdout
    bad = subprocess.run(
        [script, "simulate", "sir", "--noise", "-1"], capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith("sysid: error: argument 'noise'")
    assert len(bad.stderr.splitlines()) == 1 and "Traceback" not in bad.stderr
    usage = subprocess.run([script, "simulate"], capture_output=True, text=True, timeout=120)
    assert usage.returncode == 2 and len(usage.stderr.splitlines()) == 1


# ------------------------------------------------- checked before any training
@pytest.mark.parametrize(
    ("extra", "pattern"),
    [
        (["-o", "/dev/null/x"], r"output '/dev/null/x': cannot be created: '/dev/null' is not a"),
        (["-o", "{csv}"], r"output '.*lv\.csv': exists and is not a folder"),
        (["--seed", "99999999999999999999"], r"seed must be an integer in \[0, 2\*\*63 - 1\]"),
    ],
    ids=["output-under-a-file", "output-is-a-file", "seed-overflow"],
)
def test_discover_checks_output_and_seed_before_training(
    capsys, tmp_path, monkeypatch, extra, pattern
):
    from sysid import discovery

    def never(*args, **kwargs):  # pragma: no cover - reached only if the check is late
        raise AssertionError("training started before the bad argument was reported")

    monkeypatch.setattr(discovery.NeuralField, "fit", never)
    csv = tmp_path / "lv.csv"
    sysid.simulate("lotka-volterra", n_samples=20).to_csv(csv)
    argv = [a.replace("{csv}", str(csv)) for a in extra]
    code, out, err = _run(capsys, "discover", str(csv), *argv)
    assert code == 2 and out == ""
    _assert_one_line_error(err, pattern)


def test_output_folder_that_cannot_be_written(capsys, tmp_path, monkeypatch):
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    code, _, err = _run(capsys, "recover", "sir", "-o", str(tmp_path / "out"))
    assert code == 2
    _assert_one_line_error(err, r"output '.*out': cannot be written \(Permission denied\)")


def test_experiment_labels_point_to_the_trajectory_column(capsys, tmp_path):
    csv = tmp_path / "runs.csv"
    csv.write_text("t,x,experiment\n0,1,A\n1,0.5,A\n2,0.25,A\n0,2,B\n1,1,B\n2,0.5,B\n")
    code, out, err = _run(capsys, "discover", str(csv))
    assert code == 2 and out == ""
    _assert_one_line_error(
        err,
        r"non-numeric value 'A' in column 'experiment' at line 2\. Hint: column 'experiment' "
        r"holds labels \(2 distinct: 'A', 'B'\); .*--trajectory-column experiment",
    )
    csv.write_text("t,x\n0,1\n1,0.5\n2,oops\n3,0.2\n")  # one bad cell is still a typo
    code, _, err = _run(capsys, "discover", str(csv))
    assert code == 2 and "fix or delete that cell" in err


def test_warnings_are_one_plain_line(capsys, tmp_path):
    csv = tmp_path / "gaps.csv"
    csv.write_text("t,x,y\n0,1,\n1,,\n2,0.25,1\n3,1,2\n")
    code, out, err = _run(capsys, "discover", str(csv), "--seed", "-1")
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert lines[0] == f"sysid: warning: {csv}: dropped 1 row where every state is missing (line 3)"
    assert lines[1].startswith("sysid: error: argument 'seed'") and len(lines) == 2


def test_the_bad_input_table_has_no_defect(tmp_path):
    # examples/bad_inputs.py: ~50 bad inputs (CLI and API), each with training replaced
    # by a tripwire; exit 1 if one trains, crashes or is accepted.
    script = Path(__file__).resolve().parents[1] / "examples" / "bad_inputs.py"
    out = tmp_path / "bad.md"
    done = subprocess.run(
        [sys.executable, str(script), "-o", str(out)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 defect(s)" in done.stdout and out.read_text().count("\n| ") >= 45


def test_help_and_the_package_import_load_no_torch():
    # `sysid --help` answers without importing torch: the package's public names
    # load on first use. (Its speed is measured with `time sysid --help`, not here.)
    code = (
        "import sys, contextlib, io, sysid, sysid.cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    sysid.cli.main(['--help']); sysid.cli.main(['discover', '--help'])\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "sysid.NeuralField\n"
        "assert 'torch' in sys.modules\n"
        "print(sorted(set(sysid.__all__) - set(dir(sysid))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
