"""Old option names keep working, with a DeprecationWarning, and mean the new word.

One word for one idea: ``time_limit`` is the wall seconds of a whole call,
``simulation_time_limit`` those of one simulation (docs/architecture.md).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import sysid
from sysid.benchmark.runner import build_tasks
from sysid.cli import main
from sysid.core.errors import ConfigError
from sysid.symbolic.search import extend_fronts, search
from sysid.symbolic.sparse import distill


@pytest.mark.parametrize("component", [sysid.Selection, sysid.ExpressionSearch])
def test_option_sets_take_time_budget_as_the_old_name_of_time_limit(component):
    with pytest.warns(DeprecationWarning, match=rf"{component.__name__}\(time_budget=\.\.\.\)"):
        old = component(time_budget=7.0)
    assert old == component(time_limit=7.0) and old.time_limit == 7.0
    assert "time_budget" not in old.get_params() and "time_budget" not in repr(old)
    with pytest.warns(DeprecationWarning, match=r"use time_limit="):
        assert old.replace(time_budget=3.0).time_limit == 3.0


def test_an_old_name_and_its_new_name_together_are_refused():
    with pytest.raises(ConfigError, match=r"both 'time_budget' and its new name 'time_limit'"):
        sysid.Selection(time_budget=1.0, time_limit=2.0)


def test_an_old_name_is_still_checked():
    with (
        pytest.warns(DeprecationWarning),
        pytest.raises(ConfigError, match=r"time_limit must be a finite number >= 0, found -1"),
    ):
        sysid.Selection(time_budget=-1)


def test_neural_field_takes_timeout_as_the_old_name_of_time_limit():
    with pytest.warns(DeprecationWarning, match=r"NeuralField\(timeout=\.\.\.\) is deprecated"):
        nf = sysid.NeuralField(timeout=12.0)
    assert nf.time_limit == 12.0 and "timeout" not in nf.get_params()


def test_estimator_set_params_maps_old_names():
    est = sysid.SysID()
    with pytest.warns(DeprecationWarning, match=r"timeout=\.\.\.\) is deprecated"):
        est.set_params(field__timeout=9.0)
    with pytest.warns(DeprecationWarning, match=r"time_budget=\.\.\.\) is deprecated"):
        est.set_params(selection__time_budget=8.0)
    assert est.field.time_limit == 9.0 and est.selection.time_limit == 8.0


def test_a_field_saved_with_the_old_name_loads(tmp_path, lv_dataset):
    nf = sysid.NeuralField(width=4, max_epochs=1, pretrain_epochs=5, quiet=True).fit(lv_dataset)
    nf.save(tmp_path / "field")
    cfg_path = tmp_path / "field" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["params"]["timeout"] = cfg["params"].pop("time_limit")
    cfg_path.write_text(json.dumps(cfg))
    back = sysid.NeuralField.load(tmp_path / "field")
    assert back.time_limit == nf.time_limit


def test_functions_take_time_budget_as_the_old_name_of_time_limit():
    s = np.linspace(0.1, 10.0, 60)[:, None]
    y = -1.5 * s / (2.0 + s)
    with pytest.warns(DeprecationWarning, match=r"search\(time_budget=\.\.\.\) is deprecated"):
        fronts = search(s, y, ["S"], time_budget=0.0)
    assert set(fronts) == {"S"}
    with pytest.warns(DeprecationWarning, match=r"extend_fronts\(time_budget=\.\.\.\)"):
        extend_fronts(distill(s, y, ["S"]), s, y, ["S"], force=True, time_budget=0.0)
    with pytest.raises(TypeError, match=r"search\(\) got an unexpected keyword argument 'budget'"):
        search(s, y, ["S"], budget=1.0)


def test_bench_takes_timeout_as_the_old_name_of_time_limit(tmp_path, capsys):
    with pytest.warns(DeprecationWarning, match=r"build_tasks\(timeout=\.\.\.\) is deprecated"):
        task = build_tasks(["logistic"], noise=[0.0], samplings=["regular"], seeds=1, timeout=3)[0]
    assert task.time_limit == 3
    args = ["bench", "logistic", "--noise", "0", "--samplings", "regular", "--seeds", "1"]
    code = main([*args, "--workers", "1", "--timeout", "0.01", "-o", str(tmp_path), "--quiet"])
    assert code == 0
    assert "--timeout is deprecated; use --time-limit" in capsys.readouterr().err
    row = json.loads((tmp_path / "results.json").read_text())["rows"][0]
    assert row["error"] == "timed out after 0.01 s"
