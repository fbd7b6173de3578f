"""Model files: a known structure with unknown constants, for ``sysid fit`` (gray-box).

A model file is a problem file (``docs/contract.md#problem-files``) whose
constants may be unknown. It names the equations, which constants are known
(``parameters``) and which are to be fitted (``unknown``, each with a start
guess and optional bounds), which states are measured (``observed``, and the
data ``columns`` they are in), the known initial values (``initial_state``)
and the quantities to report (``derived``). :func:`load_model_file` checks all
of it, naming the file and the key, before any fit starts; :meth:`ModelFile.fit`
then calls :func:`sysid.fit.graybox.fit_model`.

A plain problem file works too: without an ``unknown`` table every parameter
is unknown and its value is the start guess. The keys that only simulation
uses (``t_span``, ``n_samples``, ``initial_conditions``,
``holdout_initial_conditions``, ``noise``) are allowed and not used by the fit.

Examples
--------
>>> text = '''
... name = "decay"
... states = ["x"]
... equations = { x = "-k*x" }
... unknown = { k = 1.0 }
... derived = { half_life = "log(2)/k" }
... '''
>>> m = model_file_from_text(text)
>>> m.unknown, m.derived
({'k': 1.0}, {'half_life': 'log(2)/k'})
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sysid.core.errors import EquationError, ProblemFileError, SysidInputError
from sysid.core.expressions import IDENTIFIER, parse_equation
from sysid.data.inputs import check_interpolation
from sysid.data.problems import NAME_PATTERN, read_toml
from sysid.fit._graybox_result import GrayBoxResult
from sysid.fit.graybox import fit_model

__all__ = ["ModelFile", "load_model_file", "model_file_from_text"]

#: Keys of a model file and their TOML types.
_REQUIRED = {"states": list, "equations": dict}
_OPTIONAL: dict[str, Any] = {
    "name": str,
    "title": str,
    "description": str,
    "reference": str,
    "notes": str,
    "parameters": dict,
    "unknown": dict,
    "observed": list,
    "columns": dict,
    "initial_state": (dict, list),
    "initial_guess": dict,
    "t0": (float, int, list),
    "derived": dict,
    "inputs": list,
    "input_interpolation": str,
    "units": dict,
    "time_unit": str,
    # used by simulation only (a problem file is a model file); the fit ignores them
    "t_span": list,
    "n_samples": int,
    "initial_conditions": list,
    "holdout_initial_conditions": list,
    "noise": (float, int, list),
}
#: fit_model's arguments by the model-file key they come from.
_ARGUMENT_KEYS = {"parameters": "unknown", "fixed": "parameters", "bounds": "unknown"}
_TYPE_NAMES = {
    str: "a string",
    list: "a list",
    dict: "a table",
    float: "a number",
    int: "an integer",
}


@dataclass(frozen=True)
class ModelFile:
    """A checked model file (see the module docstring).

    Attributes
    ----------
    name : str
    states : tuple of str
    equations : dict state -> str
        Right-hand sides with the constants as names.
    fixed : dict name -> float
        Known constants (the file's ``parameters`` when it has ``unknown``).
    unknown : dict name -> float
        Constants to fit, with their start guesses.
    bounds : dict name -> (lo, hi)
    observed : list of str or None
        Measured states (None: every state with a data column).
    columns : dict state -> column
    initial_state, initial_guess, t0
        As :func:`sysid.fit.graybox.fit_model` takes them.
    derived : dict name -> str
        Functions of the constants to report with standard errors.
    inputs : tuple of str
        Exogenous input columns of the data the equations use.
    interpolation : str
        How the inputs are read between samples (``"linear"``, ``"hold"`` or ``"cubic"``).
    units : dict state -> str
    time_unit : str or None
    path : Path or None
    """

    name: str
    states: tuple[str, ...]
    equations: dict[str, str]
    fixed: dict[str, float]
    unknown: dict[str, float]
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    observed: list[str] | None = None
    columns: dict[str, str] = field(default_factory=dict)
    initial_state: Any = None
    initial_guess: dict[str, float] | None = None
    t0: Any = None
    derived: dict[str, str] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()
    interpolation: str = "linear"
    title: str = ""
    units: dict[str, str] = field(default_factory=dict)
    time_unit: str | None = None
    path: Path | None = None

    @property
    def source(self) -> str:
        """The file's path, or ``"model"`` for text."""
        return str(self.path) if self.path is not None else "model"

    def fit(
        self,
        data: Any,
        *,
        time_column: str = "t",
        trajectory_column: str | None = "trajectory",
        **options: Any,
    ) -> GrayBoxResult:
        """Fit the unknown constants (and unknown starts) to ``data``.

        ``options`` go to :func:`sysid.fit.graybox.fit_model` (``seed``,
        ``n_starts``, ``time_limit``...). An input error of the fit (a missing
        column, a bound that excludes its guess) names this file.

        Examples
        --------
        >>> import numpy as np
        >>> m = model_file_from_text('states = ["x"]\\nequations = { x = "-k*x" }\\n'
        ...                          'unknown = { k = 1.0 }\\ncolumns = { x = "x0" }')
        >>> t = np.linspace(0.0, 4.0, 30)
        >>> round(m.fit((t, 2.0 * np.exp(-0.7 * t))).parameters["k"], 4)
        0.7
        """
        try:
            result = fit_model(
                {s: self.equations[s] for s in self.states},
                data,
                parameters=self.unknown,
                observed=self.observed,
                initial_state=self.initial_state,
                initial_guess=self.initial_guess,
                fixed=self.fixed,
                bounds=self.bounds or None,
                columns=self.columns or None,
                t0=self.t0,
                inputs=list(self.inputs) or None,
                interpolation=self.interpolation,
                time_column=time_column,
                trajectory_column=trajectory_column,
                **options,
            )
        except SysidInputError as err:
            raise type(err)(err.message, source=self._where(err, data), hint=err.hint) from None
        result.time_unit = self.time_unit or result.time_unit
        return result

    def _where(self, err: SysidInputError, data: Any) -> str:
        """An error of the fit, placed in this file's key (or in the data file)."""
        m = re.match(r"argument '(\w+)'", err.source or "")
        if m is None:
            return err.source or self.source
        key = _ARGUMENT_KEYS.get(m.group(1), m.group(1))
        if key == "data":
            where = str(data) if isinstance(data, (str, os.PathLike)) else "data"
            return f"{where} (read for {self.source})"
        return f"{self.source}, key '{key}'"


def load_model_file(path: str | os.PathLike) -> ModelFile:
    """Read and check a model file (TOML).

    Raises
    ------
    ProblemFileError
        The file is missing, not TOML, or a key is unknown, missing or of a
        wrong type or value; the message names the file and the key.
    """
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProblemFileError(
            "file not found", source=where, hint="give the path of a .toml model file"
        ) from None
    except IsADirectoryError:
        raise ProblemFileError("is a folder", source=where, hint="give a .toml file") from None
    except UnicodeDecodeError:
        raise ProblemFileError("not UTF-8 text", source=where) from None
    return model_file_from_text(text, where, path=Path(path))


def model_file_from_text(text: str, where: str = "model", path: Path | None = None) -> ModelFile:
    """Parse and check a model file's TOML text (see :func:`load_model_file`)."""
    data = read_toml(text, where)
    _check_keys(data, where)
    states = _names(data["states"], "states", where)
    if not states:
        raise ProblemFileError("'states' is empty", source=where, hint="name at least one state")
    equations = _equations(data["equations"], states, where)
    known = _numbers(data.get("parameters", {}), "parameters", where)
    if "unknown" in data:
        unknown, bounds = _unknown(data["unknown"], where)
        fixed = known
    else:  # a plain problem file: every parameter is fitted from its value
        unknown, bounds, fixed = known, {}, {}
    both = sorted(set(unknown) & set(fixed))
    if both:
        raise ProblemFileError(
            f"{both} are both known ('parameters') and unknown ('unknown')",
            source=where,
            hint="name each constant in one of the two tables",
        )
    if not unknown:
        raise ProblemFileError(
            "no unknown constant to fit",
            source=where,
            hint="add a table of start guesses, e.g. unknown = { k = 1.0 }",
        )
    derived = _derived(data.get("derived", {}), where)
    inputs = _names(data.get("inputs", []), "inputs", where)
    interpolation = data.get("input_interpolation", "linear")
    check_interpolation(interpolation, where, "'input_interpolation'", ProblemFileError)
    _parse(equations, derived, [*states, *inputs], unknown, fixed, where)
    name = data.get("name", Path(where).stem if path is not None else "model")
    if "name" in data and not NAME_PATTERN.match(name):
        raise ProblemFileError(
            f"name {name!r} is not lower-case letters and digits joined by dashes",
            source=where,
            hint='e.g. name = "influenza-sir"',
        )
    return ModelFile(
        name=name,
        states=tuple(states),
        equations=equations,
        fixed=fixed,
        unknown=unknown,
        bounds=bounds,
        observed=_observed(data, states, where),
        columns=_columns(data.get("columns", {}), states, where),
        initial_state=_initial_state(data.get("initial_state"), states, where),
        initial_guess=_numbers(data["initial_guess"], "initial_guess", where, states)
        if "initial_guess" in data
        else None,
        t0=data.get("t0"),
        derived=derived,
        inputs=tuple(inputs),
        interpolation=interpolation,
        title=data.get("title", name),
        units={str(k): str(v) for k, v in data.get("units", {}).items()},
        time_unit=data.get("time_unit"),
        path=path,
    )


# ------------------------------------------------------------------ checks
def _parse(
    equations: Mapping[str, str],
    derived: Mapping[str, str],
    states: Sequence[str],
    unknown: Mapping[str, float],
    fixed: Mapping[str, float],
    where: str,
) -> None:
    """Parse every equation and derived quantity now, so a typo fails before the fit."""
    clash = sorted(set(states) & (set(unknown) | set(fixed)))
    if clash:
        raise ProblemFileError(
            f"{clash} named both as a state and as a constant",
            source=where,
            hint="give the constants other names",
        )
    names = [*states, *unknown, *fixed]
    for s, text in equations.items():
        try:
            parse_equation(text, names, source=f"{where}: equations.{s}")
        except EquationError as err:
            raise EquationError(
                err.message,
                source=err.source,
                hint=f"every name must be a state {list(states)}, a constant in 'parameters' "
                "(known) or in 'unknown' (fitted, with a start guess)",
            ) from None
    for name, text in derived.items():
        expr = parse_equation(text, [*unknown, *fixed], source=f"{where}: derived.{name}")
        if any(str(sym) == "t" for sym in expr.free_symbols):
            raise EquationError(
                "uses the time t",
                source=f"{where}: derived.{name}",
                hint="a derived quantity is a function of the constants only",
            )


def _check_keys(data: Mapping[str, Any], where: str) -> None:
    allowed = set(_REQUIRED) | set(_OPTIONAL)
    extra = sorted(set(data) - allowed)
    if extra:
        raise ProblemFileError(
            f"unknown key(s) {extra}",
            source=where,
            hint=f"allowed keys are {sorted(allowed)} (docs/contract.md#model-files)",
        )
    for key in _REQUIRED:
        if key not in data:
            raise ProblemFileError(
                f"required key '{key}' is missing",
                source=where,
                hint="see docs/contract.md#model-files",
            )
    for key, typ in {**_REQUIRED, **_OPTIONAL}.items():
        value = data.get(key)
        if key not in data or isinstance(value, typ) and not isinstance(value, bool):
            continue
        kinds = typ if isinstance(typ, tuple) else (typ,)
        raise ProblemFileError(
            f"'{key}' must be {' or '.join(_TYPE_NAMES[k] for k in kinds)}, found {value!r}",
            source=where,
            hint="see docs/contract.md#model-files",
        )


def _names(values: Sequence[Any], key: str, where: str) -> list[str]:
    out = []
    for v in values:
        if not isinstance(v, str) or not IDENTIFIER.match(v):
            raise ProblemFileError(
                f"'{key}' holds {v!r}, which is not a name",
                source=where,
                hint="names are letters, digits and '_', not starting with a digit",
            )
        out.append(v)
    if len(set(out)) != len(out):
        raise ProblemFileError(f"'{key}' names a state twice: {out}", source=where)
    return out


def _equations(eqs: Mapping[str, Any], states: Sequence[str], where: str) -> dict[str, str]:
    missing = [s for s in states if s not in eqs]
    extra = [s for s in eqs if s not in states]
    if missing or extra:
        raise ProblemFileError(
            f"'equations' must have one right-hand side per state {list(states)}"
            + (f"; missing {missing}" if missing else "")
            + (f"; not states {extra}" if extra else ""),
            source=where,
            hint='write e.g. equations = { x = "-k*x" }',
        )
    for s, text in eqs.items():
        if not isinstance(text, str):
            raise ProblemFileError(
                f"equation of '{s}' must be a string, found {text!r}",
                source=where,
                hint=f'write {s} = "..."',
            )
    return dict(eqs)


def _number(value: Any, what: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ProblemFileError(f"{what} must be a finite number, found {value!r}", source=where)
    return float(value)


def _numbers(
    table: Mapping[str, Any], key: str, where: str, names: Sequence[str] | None = None
) -> dict[str, float]:
    out = {}
    for name, value in table.items():
        if names is not None and name not in names:
            raise ProblemFileError(
                f"'{key}' names {name!r}, which is not a state",
                source=where,
                hint=f"the states are {list(names)}",
            )
        out[str(name)] = _number(value, f"'{key}.{name}'", where)
    return out


def _unknown(
    table: Mapping[str, Any], where: str
) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """Start guesses and bounds: ``k = 1.0`` or ``k = { guess = 1.0, bounds = [0, 5] }``."""
    guesses: dict[str, float] = {}
    bounds: dict[str, tuple[float, float]] = {}
    for name, value in table.items():
        if not isinstance(value, dict):
            guesses[name] = _number(value, f"'unknown.{name}'", where)
            continue
        extra = sorted(set(value) - {"guess", "bounds"})
        if extra or "guess" not in value:
            raise ProblemFileError(
                f"'unknown.{name}' must hold 'guess' and optionally 'bounds'"
                + (f", found {extra}" if extra else ""),
                source=where,
                hint=f"write {name} = {{ guess = 1.0, bounds = [0.0, 10.0] }}",
            )
        guesses[name] = _number(value["guess"], f"'unknown.{name}.guess'", where)
        if "bounds" in value:
            b = value["bounds"]
            if not isinstance(b, list) or len(b) != 2:
                raise ProblemFileError(
                    f"'unknown.{name}.bounds' must be [lo, hi], found {b!r}",
                    source=where,
                    hint="use a very large number for a side without a bound",
                )
            bounds[name] = (
                _number(b[0], f"'unknown.{name}.bounds[0]'", where),
                _number(b[1], f"'unknown.{name}.bounds[1]'", where),
            )
    return guesses, bounds


def _observed(data: Mapping[str, Any], states: Sequence[str], where: str) -> list[str] | None:
    if "observed" not in data:
        return None
    observed = _names(data["observed"], "observed", where)
    bad = [s for s in observed if s not in states]
    if bad or not observed:
        raise ProblemFileError(
            f"'observed' must name at least one of the states {list(states)}"
            + (f"; {bad} are not states" if bad else ""),
            source=where,
        )
    return observed


def _columns(table: Mapping[str, Any], states: Sequence[str], where: str) -> dict[str, str]:
    for s, col in table.items():
        if s not in states or not isinstance(col, str) or not col:
            raise ProblemFileError(
                f"'columns' maps a state to its data column; found {s} = {col!r}",
                source=where,
                hint=f'the states are {list(states)}; write e.g. {states[0]} = "column name"',
            )
    return dict(table)


def _initial_state(value: Any, states: Sequence[str], where: str) -> Any:
    """One table for every trajectory, or a list of tables, one per trajectory."""
    if value is None:
        return None
    if isinstance(value, dict):
        return _numbers(value, "initial_state", where, states)
    if not value or not all(isinstance(v, dict) for v in value):
        raise ProblemFileError(
            "'initial_state' must be a table, or a list of tables (one per trajectory)",
            source=where,
            hint="write e.g. initial_state = { S = 762, I = 1 }",
        )
    return [_numbers(v, f"initial_state[{k}]", where, states) for k, v in enumerate(value)]


def _derived(table: Mapping[str, Any], where: str) -> dict[str, str]:
    for name, expr in table.items():
        if not IDENTIFIER.match(name) or not isinstance(expr, str):
            raise ProblemFileError(
                f"'derived' maps a name to an expression string; found {name} = {expr!r}",
                source=where,
                hint='write e.g. R0 = "beta/gamma"',
            )
    return dict(table)
