"""Shared fixtures: the shipped problems, cached simulations, temporary files.

Expensive objects are built once per test session; tests must treat them as
read-only (copy before changing an array).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sysid import pipeline
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
    """:func:`lv_dataset` written as a CSV file (contract section 2)."""
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


#: Small budgets that keep end-to-end tests quick (accuracy targets are slow tests).
FAST = {
    "neural": {"width": 24, "max_epochs": 15, "pretrain_epochs": 150, "timeout": 20.0},
    "distill": {"max_terms": 3},
    "select": {"time_budget": 20.0},
}


@pytest.fixture(scope="module")
def fast_defaults():
    """Small budgets for every stage of :func:`sysid.discover`, restored after the module.

    Module scope, not session: a session-wide patch leaked into the accuracy
    targets of ``test_targets.py`` when a slow test of another module used it.
    """
    saved = {k: dict(v) for k, v in pipeline.DEFAULTS.items()}
    for k, v in FAST.items():
        pipeline.DEFAULTS[k].update(v)
    yield
    for k, v in saved.items():
        pipeline.DEFAULTS[k].clear()
        pipeline.DEFAULTS[k].update(v)
