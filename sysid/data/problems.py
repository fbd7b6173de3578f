"""Benchmark problems: TOML files that describe a dynamical system as data.

A problem file (docs/contract.md#problem-files) names the states,
parameters, right-hand sides, time span and initial conditions of a system.
Equations are untrusted text: they are parsed by :func:`parse_equation` with
a whitelist of names and never reach ``eval``.

Examples
--------
>>> from sysid.data.problems import load_problem
>>> p = load_problem("lotka-volterra")
>>> p.states
('x', 'y')
>>> p.true_equations()["x"]
-0.4*x*y + 1.1*x
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp

from sysid.core.errors import ProblemFileError
from sysid.core.expressions import parse_equation, usable_name
from sysid.data.inputs import TIME
from sysid.data.problem_inputs import ProblemInputs, parse_inputs

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "Problem",
    "load_problem",
    "load_problems",
    "list_problems",
    "problems_dir",
    "problem_from_dict",
    "problem_from_text",
]


#: A problem's (or model file's) name: lower-case letters and digits joined by dashes.
NAME_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_REQUIRED = {
    "name": str,
    "states": list,
    "parameters": dict,
    "equations": dict,
    "t_span": list,
    "initial_conditions": list,
}
_OPTIONAL = {
    "title": str,
    "description": str,
    "reference": str,
    "n_samples": int,
    "holdout_initial_conditions": list,
    "units": dict,
    "time_unit": str,
    "noise": (float, int, list),
    "notes": str,
    "inputs": dict,
    "holdout_inputs": dict,
    "input_interpolation": str,
}


@dataclass(frozen=True, eq=False)
class Problem:
    """A dynamical system with known equations, loaded from a problem file.

    Attributes
    ----------
    name, title, description, reference : str
    states : tuple of str
        State names, in data column order.
    parameters : dict of str to float
    equations : dict of str to str
        Right-hand side text of each state's equation, as in the file.
    t_span : tuple of float
    n_samples : int
    initial_conditions : ndarray, shape (k, d)
    holdout_initial_conditions : ndarray, shape (m, d)
    units : dict, time_unit : str or None, noise : float or list or None, notes : str
    path : Path or None
        The file it came from.
    inputs : ProblemInputs
        Exogenous inputs as expressions of time (:mod:`sysid.data.problem_inputs`).
    """

    name: str
    states: tuple[str, ...]
    parameters: dict[str, float]
    equations: dict[str, str]
    t_span: tuple[float, float]
    initial_conditions: np.ndarray
    holdout_initial_conditions: np.ndarray
    n_samples: int = 200
    title: str = ""
    description: str = ""
    reference: str = ""
    units: dict[str, str] = field(default_factory=dict)
    time_unit: str | None = None
    noise: Any = None
    notes: str = ""
    path: Path | None = None
    inputs: ProblemInputs = field(default_factory=ProblemInputs)

    @property
    def time_dependent(self) -> bool:
        """Whether an equation has terms in the time ``t`` (a non-autonomous system)."""
        t = sp.Symbol(TIME, real=True)
        return any(t in e.free_symbols for e in self._parsed.values())

    @property
    def input_names(self) -> tuple[str, ...]:
        """Names of the exogenous inputs (empty for an autonomous problem)."""
        return self.inputs.names

    @property
    def n_states(self) -> int:
        """Number of states."""
        return len(self.states)

    @cached_property
    def symbols(self) -> tuple[sp.Symbol, ...]:
        """sympy symbols of the states (real)."""
        return tuple(sp.Symbol(s, real=True) for s in self.states)

    @cached_property
    def _parsed(self) -> dict[str, sp.Expr]:
        names: dict[str, Any] = {s.name: s for s in self.symbols}
        names.update({u: sp.Symbol(u, real=True) for u in self.input_names})
        names.update({p: sp.Symbol(p, real=True) for p in self.parameters})
        where = str(self.path) if self.path else self.name
        return {
            s: parse_equation(self.equations[s], names, source=f"{where}: equations.{s}")
            for s in self.states
        }

    def symbolic_equations(self) -> dict[str, sp.Expr]:
        """Right-hand sides with parameters as symbols."""
        return dict(self._parsed)

    def true_equations(self) -> dict[str, sp.Expr]:
        """Right-hand sides with the parameter values substituted.

        Examples
        --------
        >>> load_problem("sir").true_equations()["I"]
        0.5*I*S - 0.1*I
        """
        return {s: sp.expand(e.subs(self._values())) for s, e in self._parsed.items()}

    def _values(self) -> dict[sp.Symbol, Any]:
        subs = {sp.Symbol(p, real=True): sp.Float(v) for p, v in self.parameters.items()}
        # Integer-valued parameters stay exact integers: 2*x, not 2.0*x.
        return {k: (sp.Integer(int(v)) if float(v).is_integer() else v) for k, v in subs.items()}

    def input_expressions(self, k: int = 0, holdout: bool = False) -> dict[str, sp.Expr]:
        """The input signals of trajectory ``k`` as expressions of ``t`` (parameters put in).

        Examples
        --------
        >>> load_problem("sir").input_expressions()
        {}
        """
        if not self.input_names:
            return {}
        where = str(self.path) if self.path else self.name
        names = {p: sp.Symbol(p, real=True) for p in self.parameters}
        return {
            u: parse_equation(text, names, source=f"{where}: inputs.{u}").subs(self._values())
            for u, text in self.inputs.texts(k, holdout).items()
        }

    def vector_field(
        self, k: int = 0, holdout: bool = False
    ) -> Callable[[float, np.ndarray], np.ndarray]:
        """The true vector field of trajectory ``k`` as ``f(t, x) -> dx/dt`` for solve_ivp.

        The inputs of that trajectory are put in as expressions of ``t``. ``x``
        may be a vector (d,) or a matrix (d, n) of column states.
        """
        t = sp.Symbol("t", real=True)
        signals = {
            sp.Symbol(u, real=True): e for u, e in self.input_expressions(k, holdout).items()
        }
        exprs = [self.true_equations()[s].subs(signals) for s in self.states]
        fn = sp.lambdify((t, *self.symbols), exprs, modules="numpy")

        def f(time: float, x: np.ndarray) -> np.ndarray:
            out = fn(time, *x)
            return np.array([np.broadcast_to(o, np.shape(x[0])) for o in out], dtype=float)

        return f

    @cached_property
    def rhs(self) -> Callable[[float, np.ndarray], np.ndarray]:
        """The true vector field of the first trajectory (:meth:`vector_field`)."""
        return self.vector_field(0)

    def __repr__(self) -> str:
        return f"Problem(name={self.name!r}, states={list(self.states)})"


def problems_dir() -> Path:
    """The folder of problem files shipped with sysid.

    After ``pip install .`` the files live in the package data folder
    ``sysid/problems_data``; in a source checkout (or an editable install) they
    are the repository's ``problems/`` folder.

    Examples
    --------
    >>> (problems_dir() / "sir.toml").is_file()
    True
    """
    package = Path(__file__).resolve().parents[1]  # sysid/
    candidates = [package / "problems_data"]
    try:
        spec = importlib.util.find_spec("sysid.problems_data")
    except (ImportError, ValueError):  # pragma: no cover
        spec = None
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(p) for p in spec.submodule_search_locations]
    candidates.append(package.parent / "problems")  # source checkout
    for path in candidates:
        if path.is_dir() and any(path.glob("*.toml")):
            return path
    return candidates[-1]  # pragma: no cover


def _check_type(value: Any, expected: Any, key: str, where: str) -> None:
    exp = expected if isinstance(expected, tuple) else (expected,)
    if isinstance(value, bool) or not isinstance(value, exp):
        names = " or ".join(e.__name__ for e in exp)
        raise ProblemFileError(
            f"key '{key}' must be {names}, found {type(value).__name__} {value!r}",
            source=where,
            hint="see docs/contract.md#problem-keys",
        )


def _float_matrix(value: Any, key: str, n_states: int, where: str) -> np.ndarray:
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ProblemFileError(
            f"'{key}' must be a list of lists of numbers, found {value!r}",
            source=where,
            hint=f"write e.g. {key} = [[1.0, 2.0]]",
        ) from None
    if arr.ndim != 2 or arr.shape[1] != n_states or arr.shape[0] == 0:
        raise ProblemFileError(
            f"'{key}' must be a non-empty list of rows of {n_states} numbers (one per state), "
            f"found shape {arr.shape}",
            source=where,
            hint="give one value per state in each initial condition",
        )
    if not np.isfinite(arr).all():
        raise ProblemFileError(f"'{key}' holds non-finite values", source=where)
    return arr


def problem_from_dict(data: Mapping[str, Any], where: str = "problem") -> Problem:
    """Validate a parsed problem file and build a :class:`Problem`."""
    _check_keys(data, where)
    name = data["name"]
    if not NAME_PATTERN.match(name):
        raise ProblemFileError(
            f"name {name!r} must be lower-case letters and digits joined by dashes",
            source=where,
            hint='e.g. name = "lotka-volterra"',
        )
    states, params = _states_and_parameters(data, where)
    eqs = {str(k): v for k, v in data["equations"].items()}
    missing = [s for s in states if s not in eqs]
    extra = [k for k in eqs if k not in states]
    if missing or extra:
        raise ProblemFileError(
            f"equations must have exactly one entry per state; missing {missing}, unknown {extra}",
            source=where,
            hint="write one equation per state, keyed by the state's name",
        )
    t_span, n_samples = _time_grid(data, where)
    ics = _float_matrix(data["initial_conditions"], "initial_conditions", len(states), where)
    hold = data.get("holdout_initial_conditions", [])
    holdout = (
        _float_matrix(hold, "holdout_initial_conditions", len(states), where)
        if hold
        else np.zeros((0, len(states)))
    )
    noise = data.get("noise")
    _check_noise(noise, where)
    inputs = parse_inputs(data, states, params, ics.shape[0], holdout.shape[0], where)
    units = {str(k): str(v) for k, v in data.get("units", {}).items()}
    unknown_units = sorted(set(units) - set(states) - set(inputs.names))
    if unknown_units:
        raise ProblemFileError(
            f"units given for unknown state(s) {unknown_units}; states are {states}"
            + (f", inputs {list(inputs.names)}" if inputs.names else ""),
            source=where,
            hint="key units by state name; the unit of time goes in time_unit",
        )

    problem = Problem(
        name=name,
        states=tuple(states),
        parameters={k: float(v) for k, v in params.items()},
        equations={s: eqs[s] for s in states},
        t_span=t_span,
        initial_conditions=ics,
        holdout_initial_conditions=holdout,
        n_samples=n_samples,
        title=data.get("title", name),
        description=data.get("description", ""),
        reference=data.get("reference", ""),
        units=units,
        time_unit=data.get("time_unit"),
        noise=noise,
        notes=data.get("notes", ""),
        path=Path(where) if where != "problem" else None,
        inputs=inputs,
    )
    for s, text in problem.equations.items():
        if not isinstance(text, str):
            raise ProblemFileError(
                f"equation of '{s}' must be a string, found {text!r}",
                source=where,
                hint=f'write {s} = "..."',
            )
    problem.symbolic_equations()  # parse now: bad equations fail at load time
    return problem


def _check_keys(data: Mapping[str, Any], where: str) -> None:
    """No unknown key, every required key, every value of its type."""
    unknown = sorted(set(data) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise ProblemFileError(
            f"unknown key(s) {unknown}",
            source=where,
            hint=f"allowed keys are {sorted(set(_REQUIRED) | set(_OPTIONAL))}",
        )
    for key, typ in _REQUIRED.items():
        if key not in data:
            raise ProblemFileError(
                f"required key '{key}' is missing",
                source=where,
                hint="see docs/contract.md#problem-keys",
            )
        _check_type(data[key], typ, key, where)
    for key, typ in _OPTIONAL.items():
        if key in data:
            _check_type(data[key], typ, key, where)


def _states_and_parameters(data: Mapping[str, Any], where: str) -> tuple[list[str], dict[str, Any]]:
    """State names and parameter values: usable, distinct names and finite numbers."""
    states = [str(s) for s in data["states"]]
    if not states:
        raise ProblemFileError("'states' is empty", source=where, hint="name at least one state")
    params = dict(data["parameters"])
    for s in states + list(params):
        if not usable_name(s):
            raise ProblemFileError(
                f"{s!r} cannot be used as a state or parameter name",
                source=where,
                hint="use identifiers like x, S, omega that are not function names or 't'",
            )
    if len(set(states)) != len(states) or set(states) & set(params):
        raise ProblemFileError(
            "state and parameter names must be unique and distinct",
            source=where,
            hint="rename the duplicates",
        )
    for p, v in params.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
            raise ProblemFileError(
                f"parameter '{p}' must be a finite number, found {v!r}", source=where
            )
    return states, params


def _time_grid(data: Mapping[str, Any], where: str) -> tuple[tuple[float, float], int]:
    """``t_span`` as ``(start, end)`` with end > start, and ``n_samples`` (>= 3)."""
    t_span = data["t_span"]
    if (
        len(t_span) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in t_span)
        or not t_span[1] > t_span[0]
    ):
        raise ProblemFileError(
            f"t_span must be [start, end] with end > start, found {t_span!r}", source=where
        )
    n_samples = int(data.get("n_samples", 200))
    if n_samples < 3:
        raise ProblemFileError(f"n_samples must be >= 3, found {n_samples}", source=where)
    return (float(t_span[0]), float(t_span[1])), n_samples


def _check_noise(noise: Any, where: str) -> None:
    """``noise`` is absent, a number >= 0, or a list of them."""
    levels = noise if isinstance(noise, list) else [] if noise is None else [noise]
    for level in levels:
        if (
            isinstance(level, bool)
            or not isinstance(level, (int, float))
            or not 0 <= level < np.inf
        ):
            raise ProblemFileError(
                f"noise levels must be numbers >= 0, found {noise!r}",
                source=where,
                hint="write e.g. noise = [0.0, 0.01, 0.05]",
            )


def _load_file(path: Path) -> Problem:
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProblemFileError("file not found", source=where) from None
    except UnicodeDecodeError:
        raise ProblemFileError("not UTF-8 text", source=where) from None
    return problem_from_text(text, where)


def problem_from_text(text: str, where: str = "problem") -> Problem:
    """Parse a problem file's TOML text (e.g. sent to a remote worker).

    Examples
    --------
    >>> p = load_problem("sir")
    >>> problem_from_text(p.path.read_text()).name
    'sir'
    """
    return problem_from_dict(read_toml(text, where), where)


def read_toml(text: str, where: str) -> dict[str, Any]:
    """TOML text as a dict; a syntax error is a :class:`ProblemFileError` naming ``where``."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ProblemFileError(
            f"not valid TOML ({err})", source=where, hint="check quotes, brackets and commas"
        ) from None


def load_problems(path: str | os.PathLike | None = None) -> list[Problem]:
    """Load every problem file in a folder (default: the shipped suite), sorted by name.

    Examples
    --------
    >>> names = [p.name for p in load_problems()]
    >>> "pendulum" in names
    True
    """
    folder = problems_dir() if path is None else Path(path)
    if not folder.exists():
        raise ProblemFileError("folder not found", source=str(folder))
    if folder.is_file():
        return [_load_file(folder)]
    files = sorted(folder.glob("*.toml"))
    if not files:
        raise ProblemFileError(
            "no .toml problem files in this folder", source=str(folder), hint="add some"
        )
    problems = [_load_file(f) for f in files]
    seen: dict[str, Path | None] = {}
    for p in problems:
        if p.name in seen:
            raise ProblemFileError(
                f"problem name '{p.name}' is used twice (also in {seen[p.name]})",
                source=str(p.path),
                hint="problem names must be unique",
            )
        seen[p.name] = p.path
    return sorted(problems, key=lambda p: p.name)


def list_problems(path: str | os.PathLike | None = None) -> list[str]:
    """Names of the problems in a folder (default: the shipped suite)."""
    return [p.name for p in load_problems(path)]


def load_problem(name_or_path: str | os.PathLike | Problem) -> Problem:
    """Load a shipped problem by name, or a user's problem file by path.

    Parameters
    ----------
    name_or_path : str or Path or Problem
        A shipped problem's name (``"sir"``), or the path of a ``.toml`` file.

    Examples
    --------
    >>> load_problem("pendulum").states
    ('theta', 'omega')
    """
    if isinstance(name_or_path, Problem):
        return name_or_path
    text = str(name_or_path)
    path = Path(text)
    if text.endswith(".toml") or path.is_file():
        if not path.exists():
            raise ProblemFileError("file not found", source=text, hint="check the path")
        return _load_file(path)
    candidate = problems_dir() / f"{text}.toml"
    if candidate.is_file():
        problem = _load_file(candidate)
        if problem.name == text:
            return problem
    for problem in load_problems():
        if problem.name == text:
            return problem
    names = list_problems()
    close = [n for n in names if text.lower() in n or n in text.lower()]
    close += difflib.get_close_matches(text.lower(), names, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise ProblemFileError(
        f"unknown problem {text!r}",
        hint=f"{hint}known problems: {', '.join(names)}; or pass a path to a .toml file",
    )
