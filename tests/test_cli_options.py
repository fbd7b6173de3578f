"""The method flags of discover and recover: checked before any data are read, passed on."""

from __future__ import annotations

import json
import re

import pytest

from sysid.cli import main


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("flags", "pattern"),
    [
        (["--degree", "-1"], r"--degree: must be an integer >= 0, found -1"),
        (["--max-epochs", "0"], r"--max-epochs: must be an integer >= 1, found 0"),
        (["--field-time-limit", "nan"], r"--field-time-limit: must be a finite number .* nan"),
        (["--selection-time-limit", "-2"], r"--selection-time-limit: .* > 0, found -2"),
        (["--extra-term", " "], r"--extra-term: an empty term"),
        (["--device", "nonsense"], r"device 'nonsense' is not a torch device"),
        (["--expression-search", "sometimes"], r"invalid choice: 'sometimes'"),
    ],
)
def test_bad_method_flags_stop_before_any_work(capsys, lv_csv, flags, pattern, tmp_path):
    for argv in (["discover", str(lv_csv)], ["recover", "logistic"]):
        code, out, err = _run(capsys, *argv, *flags, "-o", str(tmp_path / "out"))
        assert code == 2 and out == ""
        assert len(err.strip().splitlines()) == 1
        assert re.search(pattern, err), err
        assert not (tmp_path / "out").exists()


def test_method_flags_reach_the_components(capsys, tmp_path):
    out = tmp_path / "rec"
    flags = [
        "--degree", "2", "--no-trig", "--extra-term", "N/(1 + N)", "--max-epochs", "30",
        "--expression-search", "never", "--selection-time-limit", "20", "--ensemble", "0",
    ]  # fmt: skip
    code, stdout, _ = _run(
        capsys, "recover", "logistic", *flags, "-q", "--no-figures", "-o", str(out)
    )
    assert code == 0 and "dN/dt" in stdout
    opts = json.loads((out / "result.json").read_text())["options"]
    assert opts["library"] == {"degree": 2, "trig": False, "include_constant": True, "n_terms": 4}
    assert opts["neural"]["max_epochs"] == 30
    assert opts["search"]["mode"] == "never"
    assert opts["selection"]["time_limit"] == 20.0 and opts["selection"]["ensemble"] == 0
