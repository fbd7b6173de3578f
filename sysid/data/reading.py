"""Building a :class:`~sysid.data.dataset.Dataset` from arrays, a DataFrame or a CSV file.

The readers behind :meth:`Dataset.from_arrays`, :meth:`Dataset.from_dataframe`
and :meth:`Dataset.from_csv` (format: docs/contract.md#data-files). Each
takes the class to build, so subclasses of ``Dataset`` get instances of
themselves.

Examples
--------
>>> import numpy as np
>>> from sysid.data.dataset import Dataset
>>> from_arrays(Dataset, np.arange(3.0), np.arange(3.0), ["y"], None).states
('y',)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sysid.core.errors import DataError
from sysid.data.columns import (
    _NA_STRINGS,
    _READ_CSV_OPTIONS,
    _as_float_array,
    _bare_columns,
    _check_csv_layout,
    _is_flat_numbers,
    _merge_units,
    _numeric_column,
    _state_names,
    _time_values,
    _unit_from_name,
    _warn_dropped,
    split_unit,
)
from sysid.data.inputs import InputSignal, check_interpolation
from sysid.data.trajectory import Trajectory, _validated

if TYPE_CHECKING:
    from sysid.data.dataset import Dataset

__all__ = ["from_arrays", "from_frame", "from_csv"]


# ----------------------------------------------------------------- arrays
def from_arrays(
    cls: type[Dataset],
    t: np.ndarray | Sequence[np.ndarray],
    x: np.ndarray | Sequence[np.ndarray],
    states: Sequence[str] | None,
    names: Sequence[str] | None,
    **kwargs: Any,
) -> Dataset:
    """:meth:`Dataset.from_arrays`: one ``(t, x)`` pair, or lists of them."""
    u = kwargs.pop("u", None)
    input_names = kwargs.pop("input_names", None)
    interpolation = kwargs.pop("interpolation", "linear")
    single = (isinstance(t, np.ndarray) and t.ndim <= 1) or _is_flat_numbers(t)
    if single:
        ts, xs = [t], [x]
    else:
        ts, xs = list(t), list(x)
        if len(ts) != len(xs):
            raise DataError(
                f"got {len(ts)} time vectors but {len(xs)} state arrays",
                source="arrays",
                hint="pass one state array per time vector",
            )
    trajs = []
    n_states = None
    for k, (tk, xk) in enumerate(zip(ts, xs, strict=True)):
        tk, xk = _array_pair(k, tk, xk, single)
        if n_states is None:
            n_states = xk.shape[1]
        elif xk.shape[1] != n_states:
            raise DataError(
                f"trajectory {k} has {xk.shape[1]} states but trajectory 0 has {n_states}",
                source="arrays",
                hint="every trajectory needs the same state columns",
            )
        name = str(names[k]) if names is not None else str(k)
        trajs.append(Trajectory(tk, xk, name))
    if states is None:
        states = [f"x{i}" for i in range(n_states or 0)]
    states = list(states)
    if len(states) != n_states:
        raise DataError(
            f"{len(states)} state names {states} given for {n_states} state columns",
            source="arrays",
            hint="give one name per column of x",
        )
    kwargs.setdefault("source", "arrays")
    if u is not None:
        us = [u] if single else list(u)
        kwargs["inputs"] = _array_signals(trajs, us, input_names, interpolation)
    elif input_names is not None:
        raise DataError(
            "input names were given without input values", source="arrays", hint="pass u="
        )
    return cls(trajs, tuple(states), **kwargs)


def _array_signals(
    trajs: Sequence[Trajectory], us: Sequence[Any], names: Sequence[str] | None, interpolation: str
) -> list[InputSignal]:
    """One input signal per trajectory from arrays ``u`` (n_k, m) on the trajectories' times."""
    if len(us) != len(trajs):
        raise DataError(
            f"got {len(us)} input arrays for {len(trajs)} trajectories",
            source="arrays",
            hint="pass one input array per trajectory",
        )
    out = []
    for k, (tr, uk) in enumerate(zip(trajs, us, strict=True)):
        uk = _as_float_array(uk, f"u[{k}]")
        uk = uk[:, None] if uk.ndim == 1 else uk
        if uk.ndim != 2 or uk.shape[0] != tr.t.shape[0]:
            raise DataError(
                f"inputs of trajectory {k} have shape {uk.shape}; {tr.t.shape[0]} rows are needed",
                source="arrays",
                hint="pass one row of inputs per sample time",
            )
        if not np.isfinite(uk).all():
            i, j = (int(v) for v in np.argwhere(~np.isfinite(uk))[0])
            raise DataError(
                f"input {j} of trajectory {k} is {uk[i, j]} at row {i}",
                source="arrays",
                hint="inputs must be known at every sample: fill the gap or drop the row",
            )
        names_k = list(names) if names is not None else [f"u{i}" for i in range(uk.shape[1])]
        if len(names_k) != uk.shape[1]:
            raise DataError(
                f"{len(names_k)} input names {names_k} given for {uk.shape[1]} input columns",
                source="arrays",
            )
        out.append(InputSignal(tuple(names_k), tr.t, uk, interpolation))
    return out


def _array_pair(k: int, tk: Any, xk: Any, single: bool) -> tuple[np.ndarray, np.ndarray]:
    """Times (n,) and states (n, d) of trajectory ``k`` as float arrays, shapes checked."""
    tk = _as_float_array(tk, f"t[{k}]" if not single else "t")
    xk = _as_float_array(xk, f"x[{k}]" if not single else "x")
    if tk.ndim != 1:
        raise DataError(
            f"times must be 1-D, found shape {tk.shape} for trajectory {k}",
            source="arrays",
            hint="pass a vector of sample times",
        )
    if xk.ndim == 1:
        xk = xk[:, None]
    if xk.ndim != 2:
        raise DataError(
            f"states must be 2-D (samples x states), found shape {xk.shape} for trajectory {k}",
            source="arrays",
            hint="reshape to (n_samples, n_states)",
        )
    if xk.shape[0] != tk.shape[0]:
        if xk.shape[1] == tk.shape[0]:
            hint = "the state array looks transposed: pass x.T"
        else:
            hint = "pass one row of states per sample time"
        raise DataError(
            f"trajectory {k} has {tk.shape[0]} times but {xk.shape[0]} rows of states "
            f"(shape {xk.shape})",
            source="arrays",
            hint=hint,
        )
    return tk, xk


# ------------------------------------------------------------------ frames
def from_frame(
    cls: type[Dataset],
    df: pd.DataFrame,
    time_column: str,
    trajectory_column: str | None,
    states: Sequence[str] | None,
    where: str,
    row_kind: str,
    **kwargs: Any,
) -> Dataset:
    """:meth:`Dataset.from_dataframe`; rows are named by ``df.index`` as ``row_kind``.

    ``row_kind`` is ``"row"`` (a frame's index) or ``"line"`` (a CSV file's
    line numbers). ``inputs`` (in ``kwargs``) names the input columns.
    """
    inputs = kwargs.pop("inputs", None)
    interpolation = check_interpolation(kwargs.pop("interpolation", "linear"))
    if not isinstance(df, pd.DataFrame):
        raise DataError(
            f"expected a pandas DataFrame, got {type(df).__name__}",
            source=where,
            hint="use Dataset.from_arrays for numpy arrays",
        )
    if df.shape[0] == 0:
        raise DataError(
            "no data rows", source=where, hint="the file or frame has a header but no samples"
        )
    columns = [str(c) for c in df.columns]
    df = df.copy()
    df.columns = columns
    if len(set(columns)) != len(columns):
        dup = sorted({c for c in columns if columns.count(c) > 1})
        raise DataError(f"duplicate column names {dup}", source=where, hint="rename them")
    raw = columns
    columns, header_units = _bare_columns(raw, where)
    df.columns = columns
    time_column = split_unit(str(time_column))[0]
    if trajectory_column is not None:
        trajectory_column = split_unit(str(trajectory_column))[0]
    if time_column not in columns:
        raise DataError(
            f"time column '{time_column}' not found; columns are {raw}",
            source=where,
            hint="name the time column with --time-column / time_column=",
        )
    has_id = trajectory_column is not None and trajectory_column in columns
    input_cols = _frame_inputs(inputs, columns, raw, time_column, trajectory_column, where)
    if states is None and input_cols:
        states = [c for c in columns if c not in {time_column, trajectory_column, *input_cols}]
    state_cols = _frame_states(columns, raw, time_column, trajectory_column, has_id, states, where)
    clash = sorted(set(state_cols) & set(input_cols))
    if clash:
        raise DataError(
            f"column(s) {clash} cannot be both a state and an input",
            source=where,
            hint="name each column once, in --states or in --inputs",
        )
    # Row labels as the user sees them: file line numbers or frame index.
    row_labels = np.asarray(df.index)
    t_unit = _merge_units(header_units, state_cols, time_column, kwargs, where)
    numeric = _frame_times(
        df[time_column], time_column, t_unit, where, row_kind, row_labels, kwargs
    )
    for col in state_cols:
        numeric[col] = _numeric_column(df[col], col, where, row_kind, row_labels, state=True)
    for col in input_cols:
        numeric[col] = _numeric_column(df[col], col, where, row_kind, row_labels)
    ids = df[trajectory_column] if has_id else None
    trajs = _frame_trajectories(
        numeric,
        ids,
        trajectory_column,
        time_column,
        state_cols,
        where,
        row_kind,
        row_labels,
        bool(input_cols),
    )
    if input_cols:
        kwargs["inputs"] = _frame_signals(
            numeric, ids, time_column, input_cols, interpolation, where, row_kind, row_labels
        )
    kwargs.setdefault("source", where)
    return cls(trajs, tuple(state_cols), **kwargs)


def _frame_inputs(
    inputs: Sequence[str] | None,
    columns: list[str],
    raw: list[str],
    time_column: str,
    trajectory_column: str | None,
    where: str,
) -> list[str]:
    """The input columns named by ``inputs``: present, distinct, not the time or id."""
    if inputs is None:
        return []
    if isinstance(inputs, str):
        inputs = [c.strip() for c in inputs.split(",") if c.strip()]
    names = [split_unit(str(c).strip())[0] for c in inputs]
    missing = [c for c in names if c not in columns]
    if missing:
        raise DataError(
            f"input column(s) {missing} not found; columns are {raw}",
            source=where,
            hint="check the names given with --inputs / inputs=",
        )
    if len(set(names)) != len(names):
        raise DataError(f"inputs name a column twice: {names}", source=where)
    if not names:
        raise DataError(
            "inputs=[] names no column",
            source=where,
            hint="name the input columns, e.g. --inputs u",
        )
    clash = [c for c in names if c in (time_column, trajectory_column)]
    if clash:
        raise DataError(
            f"column(s) {clash} cannot be both an input and the time or id column",
            source=where,
        )
    return names


def _frame_signals(
    numeric: dict[str, np.ndarray],
    ids: pd.Series | None,
    time_column: str,
    input_cols: list[str],
    interpolation: str,
    where: str,
    row_kind: str,
    row_labels: np.ndarray,
) -> list[InputSignal]:
    """One input signal per trajectory: every row of it, inputs complete."""
    groups = [None] if ids is None else list(dict.fromkeys(ids.tolist()))
    out = []
    for g in groups:
        mask = np.ones(row_labels.shape[0], bool) if ids is None else (ids == g).to_numpy()
        u = np.column_stack([numeric[c][mask] for c in input_cols])
        bad = ~np.isfinite(u)
        if bad.any():
            i, j = (int(v) for v in np.argwhere(bad)[0])
            raise DataError(
                f"input column '{input_cols[j]}' is {'missing' if np.isnan(u[i, j]) else u[i, j]}"
                f" at {row_kind} {row_labels[mask][i]}",
                source=where,
                hint="an input must be known at every sample time: fill the gap (e.g. with "
                "the value before it) or delete that row",
            )
        out.append(InputSignal(tuple(input_cols), numeric[time_column][mask], u, interpolation))
    return out


def _frame_states(
    columns: list[str],
    raw: list[str],
    time_column: str,
    trajectory_column: str | None,
    has_id: bool,
    states: Sequence[str] | None,
    where: str,
) -> list[str]:
    """The state columns: ``states`` if given, else every column but time and id."""
    reserved = {time_column} | ({trajectory_column} if has_id else set())
    if states is None:
        state_cols = [c for c in columns if c not in reserved]
    else:
        state_cols = _state_names(states, columns, raw, where)
        clash = [s for s in state_cols if s in reserved]
        if clash:
            raise DataError(
                f"column(s) {clash} cannot be both a state and the time or id column",
                source=where,
                hint="name other state columns",
            )
    if not state_cols:
        raise DataError(
            f"no state columns: only {raw}",
            source=where,
            hint="add at least one column of measured states",
        )
    return state_cols


def _frame_times(
    column: pd.Series,
    time_column: str,
    t_unit: str | None,
    where: str,
    row_kind: str,
    row_labels: np.ndarray,
    kwargs: dict[str, Any],
) -> dict[str, np.ndarray]:
    """``{time_column: times}``; sets ``time_unit`` and ``time_origin`` in ``kwargs``.

    Dates become days since the first date; calendar years become years since
    the first one.
    """
    numeric = {}
    times, unit, origin = _time_values(column, time_column, where, row_kind, row_labels)
    numeric[time_column] = times
    if unit is not None:
        if t_unit is not None and _unit_from_name(t_unit) != "days":
            raise DataError(
                f"time column '{time_column}' holds dates, which become days since the "
                f"first date, but its unit is given as '{t_unit}'",
                source=where,
                hint="drop the unit or write [days]",
            )
        kwargs.setdefault("time_unit", t_unit or unit)
        kwargs.setdefault("time_origin", origin)
    elif "time_unit" not in kwargs:
        kwargs["time_unit"] = t_unit or _unit_from_name(time_column)
        finite = times[np.isfinite(times)]
        is_years = _unit_from_name(kwargs["time_unit"] or "") == "years"
        if is_years and finite.size and finite.min() >= 1000:
            # Calendar years become years since the first one (origin kept).
            first = float(finite.min())
            numeric[time_column] = times - first
            kwargs.setdefault("time_origin", f"{first:g}")
    return numeric


def _frame_trajectories(
    numeric: dict[str, np.ndarray],
    ids: pd.Series | None,
    trajectory_column: str | None,
    time_column: str,
    state_cols: list[str],
    where: str,
    row_kind: str,
    row_labels: np.ndarray,
    with_inputs: bool = False,
) -> list[Trajectory]:
    """One validated trajectory per id in ``ids`` (all rows when ``ids`` is None)."""
    if ids is not None:
        if ids.isna().any():
            i = int(np.flatnonzero(ids.isna().to_numpy())[0])
            raise DataError(
                f"empty trajectory id in column '{trajectory_column}' at {row_kind} "
                f"{row_labels[i]}",
                source=where,
                hint="give every row a trajectory id",
            )
        groups = list(dict.fromkeys(ids.tolist()))
    else:
        groups = [None]
    n_rows = row_labels.shape[0]
    trajs, dropped = [], []
    for g in groups:
        mask = np.ones(n_rows, bool) if ids is None else (ids == g).to_numpy()
        t = numeric[time_column][mask]
        x = np.column_stack([numeric[c][mask] for c in state_cols])
        rows = row_labels[mask]
        tr = Trajectory(t, x, "0" if g is None else str(g))
        tr_ok, gone = _validated(
            tr, tuple(state_cols), where, rows=rows, row_kind=row_kind, time_column=time_column
        )
        trajs.append(tr_ok)
        dropped += gone
    _warn_dropped(dropped, where, with_inputs)
    return trajs


# -------------------------------------------------------------------- CSV
def from_csv(
    cls: type[Dataset],
    path: str | os.PathLike,
    time_column: str,
    trajectory_column: str | None,
    states: Sequence[str] | None,
    **kwargs: Any,
) -> Dataset:
    """:meth:`Dataset.from_csv`: rows are named by their line in the file."""
    path = Path(path)
    where = str(path)
    if not path.exists():
        raise DataError("file not found", source=where, hint="check the path")
    if path.is_dir():
        raise DataError("is a folder, not a CSV file", source=where, hint="name a .csv file")
    if path.stat().st_size == 0:
        raise DataError(
            "file is empty", source=where, hint="a header line and data rows are needed"
        )
    header = _check_csv_layout(path, where)
    # Ids are text ("01" and "1" differ; "NA" is a name); only an empty id is missing.
    bare_id = None if trajectory_column is None else split_unit(str(trajectory_column))[0]
    id_header = next((h for h in header if split_unit(h)[0] == bare_id), None)
    has_id = id_header is not None
    na_values = {c: ([""] if c == id_header else list(_NA_STRINGS)) for c in header}
    try:
        df = pd.read_csv(
            path,
            skipinitialspace=True,
            skip_blank_lines=False,  # keep one row per line: exact line numbers
            index_col=False,
            dtype={id_header: str} if has_id else None,
            keep_default_na=False,
            na_values=na_values,
            encoding="utf-8",
            **_READ_CSV_OPTIONS,
        )
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        msg = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        raise DataError(
            f"not a readable CSV file ({msg})",
            source=where,
            hint="save it as comma-separated text with one header line",
        ) from None
    df.index = pd.RangeIndex(2, 2 + df.shape[0])  # line numbers; the header is line 1
    df = df[~df.isna().all(axis=1)]  # blank lines
    kwargs.setdefault("source", where)
    return from_frame(cls, df, time_column, trajectory_column, states, where, "line", **kwargs)
