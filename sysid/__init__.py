"""sysid: learn readable ordinary differential equations from measured trajectories.

The public surface: problems (:func:`load_problem`, :func:`list_problems`),
data (:class:`Dataset`, :func:`load_data`), simulation (:func:`simulate`).

Examples
--------
>>> import sysid
>>> ds = sysid.simulate("lotka-volterra", noise=0.01, seed=0)
>>> ds.states
('x', 'y')
"""

from __future__ import annotations

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
from .problems import Problem, list_problems, load_problem, load_problems, parse_equation
from .simulate import simulate

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
