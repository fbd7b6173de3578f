"""sysid: learn readable ordinary differential equations from measured trajectories.

The four verbs: :func:`load_problem` (benchmark systems as data files),
:func:`simulate` (trajectories with noise and irregular sampling),
:func:`discover` (equations from data; :func:`recover` adds a score against a
known truth) and :func:`bench` (the reproducible problem suite). The stages
are importable on their own: :class:`NeuralField`, :class:`Library`,
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

from .bench import bench
from .data import Dataset, Trajectory, load_data
from .errors import (
    ConfigError,
    DataError,
    DataWarning,
    EquationError,
    ProblemFileError,
    SimulationError,
    SysidError,
    SysidInputError,
    SysidRuntimeError,
    SysidWarning,
    TrainingError,
)
from .graybox import GrayBoxResult, fit_model
from .library import Library
from .model import SymbolicModel
from .neural import NeuralField
from .pipeline import DiscoveryResult, discover, recover
from .polish import polish_model
from .problems import Problem, list_problems, load_problem, load_problems, parse_equation
from .refine import refine, select_model
from .score import score
from .search import extend_fronts, merge_fronts
from .simulate import simulate
from .symbolic import distill

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "Dataset",
    "Trajectory",
    "load_data",
    "Problem",
    "load_problem",
    "load_problems",
    "list_problems",
    "parse_equation",
    "simulate",
    "discover",
    "recover",
    "bench",
    "score",
    "DiscoveryResult",
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
    "SysidError",
    "SysidInputError",
    "SysidRuntimeError",
    "ConfigError",
    "DataError",
    "EquationError",
    "ProblemFileError",
    "SimulationError",
    "TrainingError",
    "SysidWarning",
    "DataWarning",
]
