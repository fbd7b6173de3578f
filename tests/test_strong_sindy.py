"""The pysindy-strong baseline: every configuration tried, one rule on training data."""

from __future__ import annotations

import numpy as np
import pytest

import sysid
from sysid.benchmark.runner import build_tasks
from sysid.cli import main
from sysid.core.errors import ConfigError

pytest.importorskip("pysindy")

from sysid.benchmark.strong_sindy import CONFIGURATIONS, strong_sindy_discover  # noqa: E402


def test_strong_baseline_recovers_an_easy_law_and_keeps_the_global_generator():
    ds = sysid.simulate("lotka-volterra", noise=0.01, seed=0, n_samples=60)
    np.random.seed(5)  # noqa: NPY002 - the caller's global draws must go on unchanged
    expected = np.random.rand()  # noqa: NPY002
    np.random.seed(5)  # noqa: NPY002
    found = strong_sindy_discover(ds, seed=1)
    assert np.random.rand() == expected  # noqa: NPY002
    score = sysid.score(found, sysid.load_problem("lotka-volterra"))
    assert score["structure_recovered"], found
    assert score["max_coefficient_relative_error"] < 0.02
    # the same fits, the rule applied within each configuration alone as well
    each = strong_sindy_discover(ds, seed=1, per_configuration=True)
    assert {s: str(e) for s, e in each[("all", "all")].items()} == {
        s: str(e) for s, e in found.items()
    }
    assert set(each) - {("all", "all")} <= set(CONFIGURATIONS)
    assert ("sfd", "poly") in each and set(each[("sfd", "poly")]) == {"x", "y"}


@pytest.mark.slow
def test_strong_baseline_same_seed_same_equations():
    ds = sysid.simulate("logistic", noise=0.05, seed=0, n_samples=60)
    one, two = (strong_sindy_discover(ds, seed=3) for _ in range(2))
    assert {s: str(e) for s, e in one.items()} == {s: str(e) for s, e in two.items()}


def test_configurations_cover_the_forms_and_libraries():
    forms = {f for f, _ in CONFIGURATIONS}
    assert forms == {"fd", "sfd", "sfd-ensemble", "weak"}
    assert {lib for _, lib in CONFIGURATIONS} == {"poly", "poly+fourier"}


def test_bench_takes_a_list_of_baselines(tmp_path, capsys):
    tasks = build_tasks(
        ["logistic"],
        noise=[0.0],
        samplings=["regular"],
        seeds=1,
        methods=["sysid", "pysindy", "pysindy-strong"],
    )
    assert [t.method for t in tasks] == ["sysid", "pysindy", "pysindy-strong"]
    with pytest.raises(ConfigError, match=r"unknown method or baseline \['pysindy-strng'\]"):
        build_tasks(["logistic"], methods=["sysid", "pysindy-strng"])
    code = main(["bench", "logistic", "--baseline", "pysindy,nope", "-o", str(tmp_path / "o")])
    _, err = capsys.readouterr()
    assert code == 2 and "unknown method or baseline ['nope']" in err, err
