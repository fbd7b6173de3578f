"""Trajectories and datasets: import, validation and export.

A :class:`Dataset` holds one or more :class:`Trajectory` objects that share
state names; each trajectory has its own, possibly irregular, time vector.
Data come from numpy arrays, a pandas DataFrame or a CSV file (contract
section 2) and are validated on the way in: every problem is reported with the
file, column, row or value at fault and a hint how to fix it.

Examples
--------
>>> import numpy as np
>>> from sysid.data.dataset import Dataset
>>> t = np.linspace(0.0, 1.0, 5)
>>> ds = Dataset.from_arrays(t, np.c_[np.exp(-t), np.exp(t)], states=["a", "b"])
>>> ds.n_trajectories, ds.n_samples, ds.states
(1, 5, ('a', 'b'))
>>> ds.to_dataframe().columns.tolist()
['trajectory', 't', 'a', 'b']
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sysid.core.errors import DataError, DataWarning
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

__all__ = ["Trajectory", "Dataset", "load_data", "split_unit", "MIN_SAMPLES"]

#: Fewest samples a trajectory may have: an ODE fit needs a start and a shape.
MIN_SAMPLES = 3


def _row_label(kind: str, index: int, rows: Sequence[Any] | None) -> str:
    """Name row ``index`` of a trajectory the way the user sees it."""
    if rows is None:
        return f"sample {index}"
    label = rows[index]
    return f"{kind} {label}"


@dataclass(frozen=True)
class Trajectory:
    """One experiment: states ``x`` measured at times ``t``.

    Parameters
    ----------
    t : ndarray, shape (n,)
        Strictly increasing sample times.
    x : ndarray, shape (n, d)
        State values; row ``i`` is measured at ``t[i]``.
    name : str
        Identifier of the experiment (the trajectory id column in CSV files).

    Examples
    --------
    >>> import numpy as np
    >>> tr = Trajectory(np.array([0.0, 0.5, 1.0]), np.ones((3, 2)), name="run1")
    >>> tr.n_samples, tr.n_states, tr.duration
    (3, 2, 1.0)
    """

    t: np.ndarray
    x: np.ndarray
    name: str = "0"

    @property
    def n_samples(self) -> int:
        """Number of sample times."""
        return int(self.t.shape[0])

    @property
    def n_states(self) -> int:
        """Number of state variables."""
        return int(self.x.shape[1])

    @property
    def duration(self) -> float:
        """Time between the first and the last sample."""
        return float(self.t[-1] - self.t[0])


@dataclass
class Dataset:
    """Trajectories of a dynamical system that share state names.

    Build one with :meth:`from_arrays`, :meth:`from_dataframe`,
    :meth:`from_csv` or :func:`load_data`; the constructor validates too.

    Parameters
    ----------
    trajectories : list of Trajectory
        The experiments, each on its own time grid.
    states : sequence of str
        State names, in column order of every ``Trajectory.x``.
    time_unit : str, optional
        Unit of the time axis, carried into reports.
    units : dict, optional
        Unit of each state, carried into reports.
    source : str, optional
        Where the data came from (a file path), used in error messages.
    """

    trajectories: list[Trajectory]
    states: tuple[str, ...]
    time_unit: str | None = None
    units: dict[str, str] = field(default_factory=dict)
    source: str | None = None
    time_origin: str | None = None

    def __post_init__(self) -> None:
        self.states = tuple(str(s) for s in self.states)
        where = self.source or "data"
        if len(self.trajectories) == 0:
            raise DataError(
                "no trajectories were given", source=where, hint="pass at least one trajectory"
            )
        if len(set(self.states)) != len(self.states):
            dup = sorted({s for s in self.states if list(self.states).count(s) > 1})
            raise DataError(
                f"state names are not unique: {dup}", source=where, hint="rename the columns"
            )
        checked, dropped = [], []
        for tr in self.trajectories:
            tr_ok, gone = _validated(tr, self.states, where, rows=None)
            checked.append(tr_ok)
            dropped += [f"{g} of trajectory '{tr_ok.name}'" for g in gone]
        self.trajectories = checked
        _warn_dropped(dropped, where)
        _check_observed(self)
        _warn_constant(self)

    # ------------------------------------------------------------------ views
    def __len__(self) -> int:
        return len(self.trajectories)

    def __iter__(self) -> Iterator[Trajectory]:
        return iter(self.trajectories)

    def __getitem__(self, i: int) -> Trajectory:
        return self.trajectories[i]

    def __repr__(self) -> str:
        return (
            f"Dataset(states={list(self.states)}, n_trajectories={self.n_trajectories}, "
            f"n_samples={self.n_samples})"
        )

    @property
    def n_states(self) -> int:
        """Number of state variables."""
        return len(self.states)

    @property
    def n_trajectories(self) -> int:
        """Number of experiments."""
        return len(self.trajectories)

    @property
    def n_samples(self) -> int:
        """Total number of samples over all trajectories."""
        return int(sum(tr.n_samples for tr in self.trajectories))

    def stacked(self) -> tuple[np.ndarray, np.ndarray]:
        """All times and states, concatenated over trajectories.

        Returns
        -------
        t : ndarray, shape (N,)
        x : ndarray, shape (N, d)
        """
        t = np.concatenate([tr.t for tr in self.trajectories])
        x = np.concatenate([tr.x for tr in self.trajectories], axis=0)
        return t, x

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Smallest and largest value of each state over all samples."""
        _, x = self.stacked()
        return np.nanmin(x, axis=0), np.nanmax(x, axis=0)

    def sha256(self) -> str:
        """A fingerprint of the numbers and names (stable across runs)."""
        h = hashlib.sha256()
        h.update(",".join(self.states).encode())
        for tr in self.trajectories:
            h.update(str(tr.name).encode())
            h.update(np.ascontiguousarray(tr.t, dtype="<f8").tobytes())
            h.update(np.ascontiguousarray(tr.x, dtype="<f8").tobytes())
        return h.hexdigest()

    def subset(self, indices: Sequence[int]) -> Dataset:
        """A dataset of the trajectories at ``indices`` (units, source and time origin kept)."""
        return replace(
            self, trajectories=[self.trajectories[i] for i in indices], units=dict(self.units)
        )

    # ------------------------------------------------------------- builders
    @classmethod
    def from_arrays(
        cls,
        t: np.ndarray | Sequence[np.ndarray],
        x: np.ndarray | Sequence[np.ndarray],
        states: Sequence[str] | None = None,
        names: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> Dataset:
        """Build a dataset from arrays.

        Parameters
        ----------
        t : array (n,) or list of arrays
            Times of one trajectory, or a list with one time vector per trajectory.
        x : array (n, d) or list of arrays
            States of one trajectory, or a list matching ``t``. A 1-D array is
            one state.
        states : list of str, optional
            State names; default ``x0, x1, ...``.
        names : list of str, optional
            Trajectory names; default ``0, 1, ...``.

        Examples
        --------
        >>> import numpy as np
        >>> ts = [np.arange(4.0), np.array([0.0, 0.3, 1.1])]
        >>> xs = [np.ones((4, 1)), np.zeros((3, 1))]
        >>> Dataset.from_arrays(ts, xs).n_samples
        7
        """
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
                    f"states must be 2-D (samples x states), found shape {xk.shape} "
                    f"for trajectory {k}",
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
        return cls(trajs, tuple(states), **kwargs)

    @classmethod
    def from_dataframe(
        cls,
        df: pd.DataFrame,
        time_column: str = "t",
        trajectory_column: str | None = "trajectory",
        states: Sequence[str] | None = None,
        source: str | None = None,
        **kwargs: Any,
    ) -> Dataset:
        """Build a dataset from a long-format DataFrame.

        Parameters
        ----------
        df : pandas.DataFrame
            One row per sample.
        time_column : str
            Column of sample times: numbers, or dates (ISO 8601 text or a
            datetime column), which become days since the earliest date
            (``time_unit="days"``, ``time_origin`` the earliest date). A column
            named like a unit (``year``, ``days``, ``hours``...) sets
            ``time_unit``; calendar years become years since the first one.
        trajectory_column : str or None
            Column of trajectory ids; if absent from ``df`` all rows are one
            trajectory.
        states : list of str, optional
            State columns; when given, other columns are ignored. Otherwise
            every column except time and id is a state.
        source : str, optional
            Name used in messages (a file path).

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"t": [0, 1, 2, 0, 1, 2], "x": [1, 2, 3, 4, 5, 6],
        ...                    "trajectory": ["a", "a", "a", "b", "b", "b"]})
        >>> Dataset.from_dataframe(df).n_trajectories
        2
        """
        return cls._from_frame(
            df, time_column, trajectory_column, states, source or "DataFrame", "row", **kwargs
        )

    @classmethod
    def _from_frame(
        cls,
        df: pd.DataFrame,
        time_column: str,
        trajectory_column: str | None,
        states: Sequence[str] | None,
        where: str,
        row_kind: str,
        **kwargs: Any,
    ) -> Dataset:
        """:meth:`from_dataframe`, naming rows by ``df.index`` as ``row_kind`` ("row", "line")."""
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
        # Row labels as the user sees them: file line numbers or frame index.
        row_labels = np.asarray(df.index)
        numeric = {}
        t_unit = _merge_units(header_units, state_cols, time_column, kwargs, where)
        times, unit, origin = _time_values(
            df[time_column], time_column, where, row_kind, row_labels
        )
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
        for col in state_cols:
            numeric[col] = _numeric_column(df[col], col, where, row_kind, row_labels)
        if has_id:
            ids = df[trajectory_column]
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
            ids = None
            groups = [None]
        trajs, dropped = [], []
        for g in groups:
            mask = np.ones(df.shape[0], bool) if ids is None else (ids == g).to_numpy()
            t = numeric[time_column][mask]
            x = np.column_stack([numeric[c][mask] for c in state_cols])
            rows = row_labels[mask]
            tr = Trajectory(t, x, "0" if g is None else str(g))
            tr_ok, gone = _validated(
                tr, tuple(state_cols), where, rows=rows, row_kind=row_kind, time_column=time_column
            )
            trajs.append(tr_ok)
            dropped += gone
        _warn_dropped(dropped, where)
        kwargs.setdefault("source", where)
        return cls(trajs, tuple(state_cols), **kwargs)

    @classmethod
    def from_csv(
        cls,
        path: str | os.PathLike,
        time_column: str = "t",
        trajectory_column: str | None = "trajectory",
        states: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> Dataset:
        """Read a CSV file in the format of contract section 2.

        Examples
        --------
        >>> import tempfile, os, numpy as np
        >>> ds = Dataset.from_arrays(np.arange(3.0), np.arange(3.0), states=["y"])
        >>> path = os.path.join(tempfile.mkdtemp(), "d.csv")
        >>> ds.to_csv(path)
        >>> Dataset.from_csv(path).states
        ('y',)
        """
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
        return cls._from_frame(df, time_column, trajectory_column, states, where, "line", **kwargs)

    # --------------------------------------------------------------- export
    def to_dataframe(
        self, time_column: str = "t", trajectory_column: str = "trajectory"
    ) -> pd.DataFrame:
        """Long-format DataFrame: id, time, one column per state.

        Examples
        --------
        >>> import numpy as np
        >>> ds = Dataset.from_arrays(np.arange(3.0), np.arange(3.0), states=["y"])
        >>> ds.to_dataframe(time_column="time").columns.tolist()
        ['trajectory', 'time', 'y']
        """
        clash = [c for c in (time_column, trajectory_column) if c in self.states]
        if clash or time_column == trajectory_column:
            raise DataError(
                f"column name(s) {clash or [time_column]} would be used twice: states are "
                f"{list(self.states)}, time column '{time_column}', id column "
                f"'{trajectory_column}'",
                source=self.source or "data",
                hint="choose other time_column= / trajectory_column= names",
            )
        frames = []
        for tr in self.trajectories:
            frame = pd.DataFrame(tr.x, columns=list(self.states))
            frame.insert(0, time_column, tr.t)
            frame.insert(0, trajectory_column, tr.name)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    def to_csv(
        self, path: str | os.PathLike, *, units_in_header: bool = False, **kwargs: Any
    ) -> None:
        """Write the dataset as CSV (contract section 2); readable by :meth:`from_csv`.

        Missing values are written as empty cells. Numbers round-trip exactly.

        Parameters
        ----------
        path : str or Path
        units_in_header : bool
            Write ``name [unit]`` headers for the time and the states that have
            a unit (:attr:`time_unit`, :attr:`units`); :meth:`from_csv` reads
            them back. Off by default: plain names, as ``sysid simulate`` writes.
        **kwargs
            ``time_column`` and ``trajectory_column``, as in :meth:`to_dataframe`.

        Examples
        --------
        >>> import io, numpy as np
        >>> x = np.array([[1.0, 5.0], [np.nan, 4.0], [2.0, 3.0]])
        >>> ds = Dataset.from_arrays(np.arange(3.0), x, states=["S", "P"],
        ...                          units={"S": "mM"}, time_unit="days")
        >>> out = io.StringIO()
        >>> ds.to_csv(out, units_in_header=True)
        >>> print(out.getvalue().strip())
        trajectory,t [days],S [mM],P
        0,0,1,5
        0,1,,4
        0,2,2,3
        """
        df = self.to_dataframe(**kwargs)
        if units_in_header:
            time_column = kwargs.get("time_column", "t")
            units = {s: u for s, u in self.units.items() if s in self.states}
            if self.time_unit:
                units[time_column] = self.time_unit
            df = df.rename(columns={c: f"{c} [{u}]" for c, u in units.items() if u})
        df.to_csv(path, index=False, float_format="%.17g")


def load_data(
    source: str | os.PathLike | pd.DataFrame | Dataset | tuple | list,
    *,
    time_column: str = "t",
    trajectory_column: str | None = "trajectory",
    states: Sequence[str] | None = None,
) -> Dataset:
    """Turn any supported input into a :class:`Dataset`.

    Parameters
    ----------
    source : Dataset, str or Path (CSV), DataFrame, or a tuple ``(t, x)``
        ``(t, x)`` may hold one trajectory's arrays or lists of them.
    time_column, trajectory_column
        As in :meth:`Dataset.from_dataframe`.
    states : list of str, optional
        The state columns to keep, in this order, for a CSV file, a DataFrame
        (as in :meth:`Dataset.from_dataframe`) or a Dataset (units kept); for
        ``(t, x)`` arrays, the names of the columns of ``x``.

    Raises
    ------
    DataError
        When a name in ``states`` is not a column of the data.

    Examples
    --------
    >>> import numpy as np
    >>> ds = load_data((np.arange(3.0), np.arange(6.0).reshape(3, 2)))
    >>> ds.states
    ('x0', 'x1')
    >>> load_data(ds, states=["x1"]).states
    ('x1',)
    """
    if isinstance(source, Dataset):
        return source if states is None else _select_states(source, states)
    if isinstance(source, (str, os.PathLike)):
        return Dataset.from_csv(
            source, time_column=time_column, trajectory_column=trajectory_column, states=states
        )
    if isinstance(source, pd.DataFrame):
        return Dataset.from_dataframe(
            source, time_column=time_column, trajectory_column=trajectory_column, states=states
        )
    if isinstance(source, (tuple, list)) and len(source) == 2:
        return Dataset.from_arrays(source[0], source[1], states=states)
    raise DataError(
        f"cannot read data of type {type(source).__name__}",
        source="data",
        hint="pass a CSV path, a pandas DataFrame, a (t, x) tuple of arrays, or a Dataset",
    )


# ---------------------------------------------------------------- helpers


def _select_states(ds: Dataset, states: Sequence[str]) -> Dataset:
    """The state columns ``states`` of ``ds``, in that order, with their units."""
    where = ds.source or "data"
    names = _state_names(states, ds.states, ds.states, where)
    if tuple(names) == ds.states:
        return ds
    if not names:
        raise DataError(
            f"no state columns: states=[] selects none of {list(ds.states)}",
            source=where,
            hint="name at least one measured state",
        )
    cols = [ds.states.index(s) for s in names]
    trajs = [Trajectory(tr.t, tr.x[:, cols], tr.name) for tr in ds.trajectories]
    units = {s: ds.units[s] for s in names if s in ds.units}
    return replace(ds, trajectories=trajs, states=tuple(names), units=units)


def _validated(
    tr: Trajectory,
    states: tuple[str, ...],
    where: str,
    rows: Sequence[Any] | None,
    row_kind: str = "row",
    time_column: str = "t",
) -> tuple[Trajectory, list[str]]:
    """Check one trajectory; return a float64 contiguous copy and the dropped rows.

    Missing states (NaN) are kept; rows where every state is missing are
    dropped and returned as labels (``"line 7"``) for one warning per dataset.
    """
    t = np.ascontiguousarray(tr.t, dtype=np.float64)
    x = np.ascontiguousarray(tr.x, dtype=np.float64)
    label = f"trajectory '{tr.name}'"
    if t.ndim != 1 or x.ndim != 2 or x.shape[0] != t.shape[0]:
        raise DataError(
            f"{label}: times of shape {t.shape} do not match states of shape {x.shape}",
            source=where,
            hint="pass t with shape (n,) and x with shape (n, n_states)",
        )
    if x.shape[1] != len(states):
        raise DataError(
            f"{label} has {x.shape[1]} state columns but {len(states)} state names {list(states)}",
            source=where,
            hint="give one name per state column",
        )
    empty = np.isnan(x).all(axis=1) if x.shape[1] else np.zeros(t.shape[0], bool)
    dropped = [_row_label(row_kind, int(i), rows) for i in np.flatnonzero(empty)]
    if dropped:
        keep = ~empty
        t, x = np.ascontiguousarray(t[keep]), np.ascontiguousarray(x[keep])
        rows = None if rows is None else [r for r, k in zip(rows, keep, strict=True) if k]
    if t.shape[0] < MIN_SAMPLES:
        after = ""
        if dropped:
            after = f" after dropping {len(dropped)} row(s) where every state is missing"
        raise DataError(
            f"{label} has {t.shape[0]} sample(s){after} while at least {MIN_SAMPLES} are needed",
            source=where,
            hint="merge it with another experiment or measure more points",
        )
    bad_t = ~np.isfinite(t)
    if bad_t.any():
        i = int(np.flatnonzero(bad_t)[0])
        raise DataError(
            f"{label}: time column '{time_column}' is {t[i]} at {_row_label(row_kind, i, rows)}",
            source=where,
            hint="every sample needs a finite time; delete that row",
        )
    bad_x = np.isinf(x)
    if bad_x.any():
        i, j = (int(v) for v in np.argwhere(bad_x)[0])
        raise DataError(
            f"{label}: value {x[i, j]} in column '{states[j]}' at "
            f"{_row_label(row_kind, i, rows)} is infinite",
            source=where,
            hint="fix that value, or leave the cell empty to mark it as missing",
        )
    same, back = t[1:] == t[:-1], t[1:] < t[:-1]  # no np.diff: it overflows near 1e308
    if same.any():
        i = int(np.flatnonzero(same)[0]) + 1
        raise DataError(
            f"{label}: duplicate time {t[i]} at {_row_label(row_kind, i, rows)}",
            source=where,
            hint="average or delete repeated measurements; if they are separate experiments "
            "give them a trajectory id column",
        )
    if back.any():
        i = int(np.flatnonzero(back)[0]) + 1
        raise DataError(
            f"{label}: times are not increasing: {t[i]} at {_row_label(row_kind, i, rows)} "
            f"comes after {t[i - 1]}",
            source=where,
            hint="sort the rows by time within each trajectory, or add a trajectory id column",
        )
    return Trajectory(t, x, str(tr.name)), dropped


def _check_observed(ds: Dataset) -> None:
    """Every state column needs at least one measured value over all trajectories."""
    for j, s in enumerate(ds.states):
        if all(np.isnan(tr.x[:, j]).all() for tr in ds.trajectories):
            raise DataError(
                f"state column '{s}' is entirely missing: it has no value in any trajectory",
                source=ds.source or "data",
                hint="delete that column, or name the measured columns with --states / states=",
            )


def _warn_constant(ds: Dataset) -> None:
    _, x = ds.stacked()
    for j, s in enumerate(ds.states):
        col = x[:, j][~np.isnan(x[:, j])]
        if col.min() == col.max():
            warnings.warn(
                f"{ds.source or 'data'}: state column '{s}' is constant ({col[0]}); "
                f"its equation will be trivial (d{s}/dt = 0)",
                DataWarning,
                stacklevel=3,
            )
