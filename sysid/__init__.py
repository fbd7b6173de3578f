"""sysid: learn readable ordinary differential equations from measured trajectories.

The four verbs: :func:`load_problem` (benchmark systems as data files),
:func:`simulate` (trajectories with noise and irregular sampling),
:func:`discover` (equations from data, or the :class:`SysID` estimator;
:func:`recover` adds a score against a known truth) and :func:`bench` (the
reproducible problem suite). The stages are importable on their own, and the
folders of the package follow them (see
``docs/architecture.md``): ``sysid.core``, ``sysid.data``, ``sysid.neural``,
``sysid.symbolic``, ``sysid.fit``, ``sysid.select``, ``sysid.report``,
``sysid.pipeline``, ``sysid.discovery``, ``sysid.benchmark`` and ``sysid.cli``. The stage objects:
:class:`NeuralField`, :class:`Library`, :class:`Distiller`, :class:`ExpressionSearch`,
:class:`Selection` (the estimator's components),
:func:`distill`, :func:`extend_fronts` (expression search),
:func:`refine`, :func:`select_model`, :func:`polish_model`, :class:`SymbolicModel`.

Examples
--------
>>> import sysid
>>> ds = sysid.simulate("lotka-volterra", noise=0.01, seed=0)
>>> ds.states
('x', 'y')
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sysid.core.errors import (
    ConfigError,
    DataError,
    DataWarning,
    EquationError,
    ModelWarning,
    ProblemFileError,
    SimulationError,
    SysidError,
    SysidInputError,
    SysidRuntimeError,
    SysidWarning,
    TrainingError,
)
from sysid.core.version import __version__

if TYPE_CHECKING:  # the names below load on first use (PEP 562): `sysid --help` needs no torch
    from sysid.benchmark.runner import bench
    from sysid.core.expressions import parse_equation
    from sysid.data.dataset import Dataset, Trajectory, load_data
    from sysid.data.problems import Problem, list_problems, load_problem, load_problems
    from sysid.data.random_problems import random_problem, write_random_problems
    from sysid.data.simulation import simulate
    from sysid.discovery import discover, recover
    from sysid.fit.graybox import GrayBoxResult, fit_model
    from sysid.fit.model_file import ModelFile, load_model_file
    from sysid.fit.polish import polish_model
    from sysid.fit.refit import refine
    from sysid.neural.field import NeuralField
    from sysid.pipeline import NotFittedError, SysID
    from sysid.report.diagnostics import diagnose, diagnose_fit
    from sysid.report.fit_report import FitReport, fit_model_file
    from sysid.report.result import DiscoveryResult
    from sysid.report.scoring import score
    from sysid.select.ensemble import run_ensemble
    from sysid.select.options import Selection
    from sysid.select.selection import select_model
    from sysid.symbolic.library import Library
    from sysid.symbolic.model import SymbolicModel
    from sysid.symbolic.options import Distiller, ExpressionSearch
    from sysid.symbolic.search import extend_fronts, merge_fronts
    from sysid.symbolic.sparse import distill

#: Public name -> the stage module that defines it, imported on first access.
_LAZY = {
    "bench": "sysid.benchmark.runner",
    "parse_equation": "sysid.core.expressions",
    "Dataset": "sysid.data.dataset",
    "Trajectory": "sysid.data.dataset",
    "load_data": "sysid.data.dataset",
    "Problem": "sysid.data.problems",
    "list_problems": "sysid.data.problems",
    "load_problem": "sysid.data.problems",
    "load_problems": "sysid.data.problems",
    "random_problem": "sysid.data.random_problems",
    "write_random_problems": "sysid.data.random_problems",
    "simulate": "sysid.data.simulation",
    "discover": "sysid.discovery",
    "recover": "sysid.discovery",
    "GrayBoxResult": "sysid.fit.graybox",
    "fit_model": "sysid.fit.graybox",
    "ModelFile": "sysid.fit.model_file",
    "load_model_file": "sysid.fit.model_file",
    "polish_model": "sysid.fit.polish",
    "refine": "sysid.fit.refit",
    "NeuralField": "sysid.neural.field",
    "NotFittedError": "sysid.pipeline",
    "SysID": "sysid.pipeline",
    "diagnose": "sysid.report.diagnostics",
    "diagnose_fit": "sysid.report.diagnostics",
    "FitReport": "sysid.report.fit_report",
    "fit_model_file": "sysid.report.fit_report",
    "run_ensemble": "sysid.select.ensemble",
    "DiscoveryResult": "sysid.report.result",
    "score": "sysid.report.scoring",
    "Selection": "sysid.select.options",
    "select_model": "sysid.select.selection",
    "Library": "sysid.symbolic.library",
    "SymbolicModel": "sysid.symbolic.model",
    "Distiller": "sysid.symbolic.options",
    "ExpressionSearch": "sysid.symbolic.options",
    "extend_fronts": "sysid.symbolic.search",
    "merge_fronts": "sysid.symbolic.search",
    "distill": "sysid.symbolic.sparse",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sysid' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "__version__",
    "Dataset",
    "Trajectory",
    "load_data",
    "Problem",
    "load_problem",
    "load_problems",
    "list_problems",
    "random_problem",
    "write_random_problems",
    "parse_equation",
    "simulate",
    "discover",
    "recover",
    "SysID",
    "Distiller",
    "ExpressionSearch",
    "Selection",
    "bench",
    "score",
    "DiscoveryResult",
    "diagnose",
    "run_ensemble",
    "NeuralField",
    "Library",
    "distill",
    "refine",
    "select_model",
    "extend_fronts",
    "merge_fronts",
    "polish_model",
    "SymbolicModel",
    "fit_model",
    "GrayBoxResult",
    "ModelFile",
    "load_model_file",
    "fit_model_file",
    "FitReport",
    "diagnose_fit",
    "SysidError",
    "SysidInputError",
    "SysidRuntimeError",
    "ConfigError",
    "DataError",
    "EquationError",
    "ProblemFileError",
    "SimulationError",
    "TrainingError",
    "NotFittedError",
    "SysidWarning",
    "DataWarning",
    "ModelWarning",
]
