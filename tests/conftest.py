"""Shared fixtures: the shipped problems, cached simulations, temporary files.

Expensive objects are built once per test session; tests must treat them as
read-only (copy before changing an array).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

import sysid
from sysid import Distiller, NeuralField, Selection, discovery
from sysid.data.dataset import Dataset
from sysid.data.problems import Problem, load_problems
from sysid.data.simulation import simulate

#: A valid problem as the dict a TOML file parses to; tests copy and break it.
VALID_PROBLEM: dict[str, Any] = {
    "name": "toy-decay",
    "title": "Toy decay",
    "description": "Two decoupled exponential decays.",
    "reference": "none",
    "states": ["x", "y"],
    "parameters": {"a": 0.5, "b": 2.0},
    "equations": {"x": "-a*x", "y": "-b*y + sin(t)"},
    "t_span": [0.0, 2.0],
    "n_samples": 20,
    "initial_conditions": [[1.0, 2.0], [0.5, -1.0], [2.0, 0.0]],
    "holdout_initial_conditions": [[1.5, 1.0], [0.2, 0.3]],
    "units": {"x": "m", "y": "m"},
    "time_unit": "s",
}

VALID_TOML = """\
name = "toy-decay"
title = "Toy decay"
description = "Two decoupled exponential decays."
reference = "none"
states = ["x", "y"]
parameters = { a = 0.5, b = 2.0 }
equations = { x = "-a*x", y = "-b*y + sin(t)" }
t_span = [0.0, 2.0]
n_samples = 20
initial_conditions = [[1.0, 2.0], [0.5, -1.0], [2.0, 0.0]]
holdout_initial_conditions = [[1.5, 1.0], [0.2, 0.3]]
units = { x = "m", y = "m" }
time_unit = "s"
"""


@pytest.fixture(scope="session")
def shipped_problems() -> dict[str, Problem]:
    """Every problem shipped in ``problems/``, by name."""
    return {p.name: p for p in load_problems()}


@pytest.fixture(scope="session")
def simulated() -> Callable[..., Dataset]:
    """``simulated(name, **options)``: :func:`sysid.simulate`, memoised for the session."""
    cache: dict[tuple, Dataset] = {}

    def get(name: str, **options: Any) -> Dataset:
        key = (name, tuple(sorted(options.items())))
        if key not in cache:
            cache[key] = simulate(name, **options)
        return cache[key]

    return get


@pytest.fixture(scope="session")
def lv_dataset(simulated) -> Dataset:
    """Lotka-Volterra, 3 trajectories x 200 samples, 1% noise, seed 0."""
    return simulated("lotka-volterra", noise=0.01, seed=0)


@pytest.fixture(scope="session")
def lv_csv(lv_dataset, tmp_path_factory) -> Path:
    """:func:`lv_dataset` written as a CSV file (docs/contract.md#data-files)."""
    path = tmp_path_factory.mktemp("data") / "lotka-volterra.csv"
    lv_dataset.to_csv(path)
    return path


@pytest.fixture
def valid_problem() -> dict[str, Any]:
    """A fresh, mutable copy of :data:`VALID_PROBLEM`."""
    return copy.deepcopy(VALID_PROBLEM)


@pytest.fixture
def write_file(tmp_path) -> Callable[[str, str], Path]:
    """``write_file(name, text)``: write ``text`` to ``tmp_path / name`` and return the path."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def valid_toml() -> str:
    """The text of a valid problem file (the same problem as :data:`VALID_PROBLEM`)."""
    return VALID_TOML


#: Small budgets that keep end-to-end tests quick (accuracy targets are slow tests):
#: options of discover, by argument.
FAST: dict[str, dict[str, Any]] = {
    "neural": {"width": 24, "max_epochs": 15, "pretrain_epochs": 150, "time_limit": 20.0},
    "distill_options": {"max_terms": 3},
    "select_options": {"time_limit": 20.0, "ensemble": 0},
}


def fast_components() -> dict[str, Any]:
    """:data:`FAST` as fresh components of :class:`sysid.SysID` (``SysID(**fast_components())``)."""
    return {
        "field": NeuralField(**FAST["neural"]),
        "distiller": Distiller(**FAST["distill_options"]),
        "selection": Selection(**FAST["select_options"]),
    }


def fast_options() -> dict[str, dict[str, Any]]:
    """:data:`FAST` as keyword arguments of :func:`sysid.discover` (fresh dicts)."""
    return copy.deepcopy(FAST)


def _with_fast_options(discover: Callable[..., Any]) -> Callable[..., Any]:
    """``discover`` with the :data:`FAST` options under those the caller gives."""

    @functools.wraps(discover)
    def fast_discover(data: Any, **kwargs: Any) -> Any:
        for name, options in FAST.items():
            given = kwargs.get(name)
            if given is None or isinstance(given, Mapping):
                kwargs[name] = {**options, **(given or {})}
        return discover(data, **kwargs)

    return fast_discover


@pytest.fixture(scope="module")
def fast() -> dict[str, Any]:
    """Fast components for ``SysID(**fast)``, built once per module.

    Sharing them is safe: the options are frozen, and SysID trains a copy of
    the field.
    """
    return fast_components()


@pytest.fixture(scope="module")
def fast_defaults():
    """Within the module, :func:`sysid.discover` calls run with the small :data:`FAST` budgets.

    For entry points that take no stage options (the CLI, ``bench``,
    ``recover``): ``sysid.discover`` and ``sysid.discovery.discover`` are replaced
    by a wrapper that adds the fast options under the caller's, and restored
    when the module's tests are done. The library itself has no mutable
    defaults. Module scope, not session: a session-wide patch once leaked into
    the accuracy targets of ``test_targets.py``. Yields :func:`fast_options`.
    """
    with pytest.MonkeyPatch.context() as mp:
        wrapped = _with_fast_options(discovery.discover)
        mp.setattr(discovery, "discover", wrapped)
        mp.setattr(sysid, "discover", wrapped)
        yield fast_options()
