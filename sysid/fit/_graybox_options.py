"""Argument checks of :func:`sysid.fit.graybox.fit_model`, and the data it reads.

:func:`prepare` turns the arguments into a :class:`Spec` (model, data, what is
known and what is estimated), or raises a :class:`~sysid.core.errors.ConfigError`,
:class:`~sysid.core.errors.DataError` or :class:`~sysid.core.errors.EquationError`
naming the argument, the value and a remedy.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sympy as sp

from sysid.core.errors import ConfigError, DataError, EquationError
from sysid.core.expressions import (
    ALLOWED_CONSTANTS,
    ALLOWED_FUNCTIONS,
    IDENTIFIER,
    parse_equation,
)
from sysid.core.options import check_seed_value
from sysid.data.columns import split_unit
from sysid.data.dataset import Dataset, load_data
from sysid.data.inputs import check_interpolation

__all__ = ["METHODS", "Spec", "check_options", "prepare"]

_UNKNOWN_NAME_RE = re.compile(r"unknown name '([A-Za-z_][A-Za-z0-9_]*)'")
#: The ``solve_ivp`` methods a fit may use.
METHODS = ("DOP853", "RK45", "RK23", "Radau", "BDF", "LSODA")


def _number(value: Any, what: str, source: str, hint: str | None = None) -> float:
    """``value`` as a finite float, or a ConfigError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(
            f"{what} must be a number, found {type(value).__name__} {value!r}",
            source=source,
            hint=hint,
        )
    v = float(value)
    if not np.isfinite(v):
        raise ConfigError(f"{what} must be finite, found {v}", source=source, hint=hint)
    return v


def _check_name(name: Any, what: str, source: str) -> str:
    reserved = set(ALLOWED_FUNCTIONS) | set(ALLOWED_CONSTANTS) | {"t"}
    if not isinstance(name, str) or not IDENTIFIER.match(name) or name in reserved:
        raise ConfigError(
            f"{what} name {name!r} is not a usable identifier",
            source=source,
            hint="use names like S, I, beta that are not function names, pi, E or t",
        )
    return name


def _check_mapping(value: Any, source: str, example: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"expected a dict, found {type(value).__name__} {value!r}",
            source=source,
            hint=f"write e.g. {example}",
        )
    return dict(value)


def _parse_equations(
    equations: Any, params: Sequence[str], fixed: Sequence[str], inputs: Sequence[str] = ()
) -> tuple[tuple[str, ...], dict[str, sp.Expr]]:
    if not isinstance(equations, Mapping) or not equations:
        raise ConfigError(
            f"equations must be a non-empty dict state -> right-hand side, found {equations!r}",
            source="argument 'equations'",
            hint='write e.g. {"x": "-k*x"}',
        )
    states = tuple(_check_name(s, "state", "argument 'equations'") for s in equations)
    clash = sorted(
        (set(states) | set(inputs)) & (set(params) | set(fixed)) | set(states) & set(inputs)
    )
    if clash:
        raise ConfigError(
            f"{clash} named both as state and as parameter/constant",
            source="argument 'parameters'",
            hint="states are the keys of equations; give parameters other names",
        )
    names = list(states) + list(inputs) + list(params) + list(fixed)
    parsed = {}
    for s in states:
        where = f"equations[{s!r}]"
        try:
            parsed[s] = parse_equation(equations[s], names, source=where)
        except EquationError as err:
            m = _UNKNOWN_NAME_RE.search(err.message)
            if m is None:
                raise
            raise EquationError(
                err.message,
                source=where,
                hint=f"'{m.group(1)}' is neither a state {list(states)}, an input, an unknown "
                f"parameter (give an initial guess in parameters={{'{m.group(1)}': ...}}) nor a "
                "constant (give its value in fixed=)",
            ) from None
    return states, parsed


def _available_columns(data: Any) -> list[str] | None:
    """Column names (without ``[unit]``) of a CSV path, DataFrame or Dataset (None for arrays)."""
    if isinstance(data, Dataset):
        return list(data.states)
    if isinstance(data, pd.DataFrame):
        return [split_unit(str(c))[0] for c in data.columns]
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if not path.is_file():
            raise DataError("file not found", source=str(path), hint="check the path")
        try:
            return [split_unit(str(c))[0] for c in pd.read_csv(path, nrows=0).columns]
        except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as err:
            raise DataError(f"cannot read the header ({err})", source=str(path)) from None
    return None


def _log_choice(
    log_parameters: Any, guesses: Mapping[str, float], bounds: Mapping[str, tuple[float, float]]
) -> tuple[str, ...]:
    if isinstance(log_parameters, str) and log_parameters == "auto":
        return tuple(
            p for p, g in guesses.items() if g > 0 and (p not in bounds or bounds[p][0] >= 0)
        )
    if log_parameters is True:
        chosen = list(guesses)
    elif log_parameters is False or log_parameters is None:
        chosen = []
    elif isinstance(log_parameters, (list, tuple, set)):
        chosen = list(log_parameters)
        unknown = sorted(set(chosen) - set(guesses))
        if unknown:
            raise ConfigError(
                f"log_parameters names unknown parameter(s) {unknown}",
                source="argument 'log_parameters'",
                hint=f"parameters are {list(guesses)}",
            )
    else:
        raise ConfigError(
            f"log_parameters must be 'auto', True, False or a list of names, "
            f"found {log_parameters!r}",
            source="argument 'log_parameters'",
        )
    bad = [p for p in chosen if guesses[p] <= 0 or (p in bounds and bounds[p][0] < 0)]
    if bad:
        raise ConfigError(
            f"parameter(s) {bad} cannot be fitted in log space: their guess or lower bound "
            "is not positive",
            source="argument 'log_parameters'",
            hint="use 'auto' or give positive guesses and bounds",
        )
    return tuple(p for p in guesses if p in chosen)


# --------------------------------------------------------------------------- the prepared fit
@dataclass
class Spec:
    """A checked gray-box problem: the model, the data and what is known or estimated."""

    states: tuple[str, ...]
    exprs: dict[str, sp.Expr]
    guesses: dict[str, float]
    fixed: dict[str, float]
    bounds: dict[str, tuple[float, float]]
    logs: tuple[str, ...]
    cols: dict[str, str]
    obs: tuple[str, ...]
    ds: Dataset
    inputs: tuple[str, ...]
    t_data: list[np.ndarray]
    y_data: list[np.ndarray]  # per trajectory (n, n_observed), NaN where missing
    t0s: list[float]
    known: list[dict[str, float]]  # per trajectory, known initial values
    x0_free: list[tuple[int, str]]  # (trajectory, state) estimated
    x0_start: list[float]  # their first guesses


def check_options(
    *,
    seed: Any,
    n_starts: Any,
    max_nfev: Any,
    max_evals: Any,
    rtol: Any,
    time_limit: Any,
    simulation_time_limit: Any,
    margin: Any,
    method: Any,
) -> None:
    """The numeric options of :func:`~sysid.fit.graybox.fit_model`, or a ConfigError naming one."""
    check_seed_value(seed, "argument 'seed'")
    for name, value, lo in (
        ("n_starts", n_starts, 1),
        ("max_nfev", max_nfev, 1),
        ("max_evals", max_evals, 10),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
            raise ConfigError(
                f"{name} must be an integer >= {lo}, found {value!r}", source=f"argument '{name}'"
            )
    checked = [("rtol", rtol), ("simulation_time_limit", simulation_time_limit), ("margin", margin)]
    if time_limit is not None:
        checked.append(("time_limit", time_limit))
    for name, value in checked:
        v = _number(value, name, f"argument '{name}'")
        if v <= 0:
            raise ConfigError(f"{name} must be > 0, found {v}", source=f"argument '{name}'")
    if method not in METHODS:
        raise ConfigError(
            f"unknown solver method {method!r}", source="argument 'method'", hint=f"use {METHODS}"
        )


def prepare(
    equations: Any,
    data: Any,
    *,
    parameters: Any,
    observed: Any,
    initial_state: Any,
    initial_guess: Any,
    fixed: Any,
    bounds: Any,
    columns: Any,
    t0: Any,
    log_parameters: Any,
    time_column: str,
    trajectory_column: str | None,
    inputs: Any = None,
    interpolation: str = "linear",
) -> Spec:
    """Check every argument of a gray-box fit and read its data."""
    guesses, fixed_d = _guesses_and_fixed(parameters, fixed)
    input_names = _check_inputs(inputs, data)
    check_interpolation(interpolation)
    states, exprs = _parse_equations(equations, list(guesses), list(fixed_d), input_names)
    used = {s.name for e in exprs.values() for s in e.free_symbols}
    unused = [p for p in guesses if p not in used]
    if unused:
        raise ConfigError(
            f"parameter(s) {unused} appear in no equation and cannot be estimated",
            source="argument 'parameters'",
            hint="remove them or fix a typo in the equations",
        )
    bounds_d = _check_bounds(bounds, guesses)
    logs = _log_choice(log_parameters, guesses, bounds_d)
    cols = _check_columns(columns, states)
    obs = _observed(observed, data, states, cols, time_column, trajectory_column)
    want = [cols.get(s, s) for s in obs]
    ds = load_data(
        data,
        time_column=time_column,
        trajectory_column=trajectory_column,
        states=None if isinstance(data, (tuple, list)) else want,
        inputs=(input_names or None) if not isinstance(data, Dataset) else None,
        interpolation=interpolation,
    )
    if set(ds.input_names) != set(input_names):
        raise DataError(
            f"the data's inputs {list(ds.input_names)} differ from inputs={list(input_names)}",
            source="argument 'inputs'",
            hint="name the input columns of the data in inputs=",
        )
    idx = [list(ds.states).index(c) for c in want]
    t_data = [np.asarray(tr.t, float) for tr in ds]
    y_data = [np.asarray(tr.x, float)[:, idx] for tr in ds]
    t0s = _start_times(t0, t_data)
    known, guess0 = _known_states(initial_state, initial_guess, states, len(t_data))
    x0_free, x0_start = _free_starts(states, obs, known, guess0, y_data)
    spec = Spec(
        states,
        exprs,
        guesses,
        fixed_d,
        bounds_d,
        logs,
        cols,
        obs,
        ds,
        ds.input_names,
        t_data,
        y_data,
        t0s,
        known,
        x0_free,
        x0_start,
    )
    _check_enough(spec)
    return spec


def _check_inputs(inputs: Any, data: Any) -> tuple[str, ...]:
    """Input names: a list of columns, or those of a Dataset with inputs."""
    if inputs is None:
        return data.input_names if isinstance(data, Dataset) else ()
    if isinstance(inputs, str) or not isinstance(inputs, Sequence) or not inputs:
        raise ConfigError(
            f"inputs must be a non-empty list of column names, found {inputs!r}",
            source="argument 'inputs'",
            hint="e.g. inputs=['V']",
        )
    return tuple(_check_name(u, "input", "argument 'inputs'") for u in inputs)


def _guesses_and_fixed(parameters: Any, fixed: Any) -> tuple[dict[str, float], dict[str, float]]:
    guesses_in = _check_mapping(parameters, "argument 'parameters'", "{'beta': 1.0}")
    if not guesses_in:
        raise ConfigError(
            "no unknown parameters given",
            source="argument 'parameters'",
            hint="name every unknown parameter with an initial guess, e.g. {'beta': 1.0}",
        )
    guesses = {
        _check_name(p, "parameter", "argument 'parameters'"): _number(
            v, f"initial guess of parameter '{p}'", "argument 'parameters'"
        )
        for p, v in guesses_in.items()
    }
    fixed_d = {
        _check_name(k, "constant", "argument 'fixed'"): _number(
            v, f"fixed value of '{k}'", "argument 'fixed'"
        )
        for k, v in _check_mapping(fixed, "argument 'fixed'", "{'N': 763}").items()
    }
    both = sorted(set(guesses) & set(fixed_d))
    if both:
        raise ConfigError(
            f"{both} given both as unknown parameter and as fixed constant",
            source="argument 'fixed'",
            hint="a name is either estimated (parameters=) or known (fixed=)",
        )
    return guesses, fixed_d


def _check_bounds(bounds: Any, guesses: Mapping[str, float]) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    for p, b in _check_mapping(bounds, "argument 'bounds'", "{'beta': (0, 10)}").items():
        if p not in guesses:
            raise ConfigError(
                f"bounds given for {p!r}, which is not an unknown parameter",
                source="argument 'bounds'",
                hint=f"unknown parameters are {list(guesses)}",
            )
        if not isinstance(b, (tuple, list)) or len(b) != 2:
            raise ConfigError(
                f"bounds of '{p}' must be a pair (lo, hi), found {b!r}", source="argument 'bounds'"
            )
        lo, hi = (
            float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan
            for v in b
        )
        if math.isnan(lo) or math.isnan(hi) or not lo < hi:
            raise ConfigError(
                f"bounds of '{p}' must be numbers with lo < hi, found {b!r}",
                source="argument 'bounds'",
                hint="use -inf or inf for a missing side",
            )
        if not lo <= guesses[p] <= hi:
            raise ConfigError(
                f"initial guess {guesses[p]:g} of '{p}' is outside its bounds [{lo:g}, {hi:g}]",
                source="argument 'parameters'",
                hint="start inside the bounds",
            )
        out[p] = (lo, hi)
    return out


def _check_columns(columns: Any, states: Sequence[str]) -> dict[str, str]:
    cols = _check_mapping(columns, "argument 'columns'", "{'I': 'in_bed'}")
    for s, c in cols.items():
        if s not in states:
            raise ConfigError(
                f"columns maps {s!r}, which is not a state; states are {list(states)}",
                source="argument 'columns'",
                hint="key the mapping by state name: {state: column}",
            )
        if not isinstance(c, str):
            raise ConfigError(f"column of '{s}' must be a string, found {c!r}", source="columns")
    return cols


def _observed(
    observed: Any,
    data: Any,
    states: tuple[str, ...],
    cols: Mapping[str, str],
    time_column: str,
    trajectory_column: str | None,
) -> tuple[str, ...]:
    """The observed states: given, or every state with a data column."""
    available = _available_columns(data)
    if available is None and isinstance(data, (tuple, list)) and len(data) == 2:
        x_arr = np.asarray(data[1] if not isinstance(data[1], list) else data[1][0])
        available = [f"x{i}" for i in range(1 if x_arr.ndim == 1 else x_arr.shape[-1])]
    have = [c for c in (available or []) if c not in (time_column, trajectory_column)]
    if observed is None:
        absent = [s for s in cols if cols[s] not in have]
        if available is not None and absent:  # a mapped column says: this state is measured
            raise DataError(
                f"the column(s) {[cols[s] for s in absent]} of state(s) {absent} are not in the "
                f"data; columns are {have}",
                source="argument 'data'",
                hint="correct the column names in columns={state: column}",
            )
        obs = tuple(s for s in states if cols.get(s, s) in have)
        if not obs:
            raise DataError(
                f"no state of the model {list(states)} has a data column; columns are {have}",
                source="argument 'data'",
                hint="name the columns like the states, or pass columns={state: column}",
            )
        return obs
    if isinstance(observed, str) or not isinstance(observed, Sequence) or not observed:
        raise ConfigError(
            f"observed must be a non-empty list of state names, found {observed!r}",
            source="argument 'observed'",
            hint=f"e.g. observed={list(states[:1])}",
        )
    obs = tuple(observed)
    bad = [s for s in obs if s not in states]
    if bad:
        raise ConfigError(
            f"observed state(s) {bad} are not states of the model {list(states)}",
            source="argument 'observed'",
        )
    if len(set(obs)) != len(obs):
        raise ConfigError(f"observed has duplicates: {list(obs)}", source="observed")
    missing = [s for s in obs if cols.get(s, s) not in have]
    if available is not None and missing:
        raise DataError(
            f"observed state(s) {missing} have no data column "
            f"({[cols.get(s, s) for s in missing]}); columns are {have}",
            source="argument 'data'",
            hint="pass columns={state: column} or rename the data's columns",
        )
    return obs


def _start_times(t0: Any, t_data: list[np.ndarray]) -> list[float]:
    n_traj = len(t_data)
    if t0 is None:
        t0s = [float(t[0]) for t in t_data]
    elif isinstance(t0, (int, float, np.integer, np.floating)) and not isinstance(t0, bool):
        t0s = [_number(t0, "t0", "argument 't0'")] * n_traj
    else:
        if not isinstance(t0, Sequence) or len(t0) != n_traj:
            raise ConfigError(
                f"t0 must be a number or one number per trajectory ({n_traj}), found {t0!r}",
                source="argument 't0'",
            )
        t0s = [_number(v, "t0", "argument 't0'") for v in t0]
    for k, (a, t) in enumerate(zip(t0s, t_data, strict=True)):
        if a > t[0]:
            raise ConfigError(
                f"t0={a:g} is after the first sample time {t[0]:g} of trajectory {k}",
                source="argument 't0'",
                hint="the simulation must start at or before the first sample",
            )
    return t0s


def _known_states(
    initial_state: Any, initial_guess: Any, states: tuple[str, ...], n_traj: int
) -> tuple[list[dict[str, float]], dict[str, Any]]:
    """Known initial values per trajectory, and the guesses of estimated ones."""
    if initial_state is None:
        known_list: list[dict] = [{} for _ in range(n_traj)]
    elif isinstance(initial_state, Mapping):
        known_list = [dict(initial_state) for _ in range(n_traj)]
    elif isinstance(initial_state, Sequence) and not isinstance(initial_state, str):
        if len(initial_state) != n_traj or not all(isinstance(m, Mapping) for m in initial_state):
            raise ConfigError(
                f"initial_state must be a dict or a list of {n_traj} dicts (one per "
                f"trajectory), found {initial_state!r}",
                source="argument 'initial_state'",
            )
        known_list = [dict(m) for m in initial_state]
    else:
        raise ConfigError(
            f"initial_state must be a dict state -> value, found {initial_state!r}",
            source="argument 'initial_state'",
            hint="e.g. {'S': 762, 'I': 1, 'R': 0}",
        )
    guess0 = _check_mapping(initial_guess, "argument 'initial_guess'", "{'S': 700}")
    for where, mapping in [("initial_state", m) for m in known_list] + [("initial_guess", guess0)]:
        bad = [s for s in mapping if s not in states]
        if bad:
            raise ConfigError(
                f"{bad} are not states of the model {list(states)}",
                source=f"argument '{where}'",
                hint="key initial values by state name",
            )
    known = [
        {
            s: _number(v, f"initial value of '{s}'", "argument 'initial_state'")
            for s, v in mapping.items()
            if v is not None
        }
        for mapping in known_list
    ]
    return known, guess0


def _free_starts(
    states: tuple[str, ...],
    obs: tuple[str, ...],
    known: list[dict[str, float]],
    guess0: Mapping[str, Any],
    y_data: list[np.ndarray],
) -> tuple[list[tuple[int, str]], list[float]]:
    """The estimated initial values (trajectory, state) and their first guesses."""
    x0_free: list[tuple[int, str]] = []
    x0_start: list[float] = []
    for k in range(len(y_data)):
        for s in states:
            if s in known[k]:
                continue
            if s in guess0:
                g = _number(guess0[s], f"initial guess of '{s}'", "argument 'initial_guess'")
            elif s in obs and np.isfinite(col := y_data[k][:, obs.index(s)]).any():
                g = float(col[np.isfinite(col)][0])  # its first measured value
            else:
                why = "it has no value in this trajectory" if s in obs else "it is unobserved"
                raise ConfigError(
                    f"the initial value of state '{s}' (trajectory {k}) is neither known nor "
                    f"guessed, and {why}",
                    source="argument 'initial_state'",
                    hint=f"give it in initial_state={{'{s}': ...}} (known) or "
                    f"initial_guess={{'{s}': ...}} (estimated)",
                )
            x0_free.append((k, s))
            x0_start.append(g)
    return x0_free, x0_start


def _check_enough(spec: Spec) -> None:
    n_obs = int(sum(np.isfinite(y).sum() for y in spec.y_data))
    n_unknown = len(spec.guesses) + len(spec.x0_free)
    if n_obs <= n_unknown:
        raise DataError(
            f"{n_obs} observed values cannot determine {n_unknown} unknowns "
            f"({len(spec.guesses)} parameters, {len(spec.x0_free)} initial values)",
            source="argument 'data'",
            hint="measure more samples, fix some parameters, or give known initial values",
        )
