"""Trajectories and datasets: import, validation and export.

A :class:`Dataset` holds one or more :class:`Trajectory` objects that share
state names; each trajectory has its own, possibly irregular, time vector.
Data come from numpy arrays, a pandas DataFrame or a CSV file
(docs/contract.md#data-files) and are validated on the way in: every problem
is reported with the file, column, row or value at fault and a hint how to
fix it.

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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from sysid.core.errors import ConfigError, DataError
from sysid.data import reading
from sysid.data.columns import _state_names, _warn_dropped, split_unit
from sysid.data.dataset_checks import check_inputs, check_observed, warn_constant
from sysid.data.inputs import TIME, InputSignal, input_values, with_clock, without_clock
from sysid.data.trajectory import MIN_SAMPLES, Trajectory, _validated

__all__ = ["Trajectory", "Dataset", "load_data", "check_scale", "split_unit", "MIN_SAMPLES"]

#: Largest and smallest magnitudes a state may reach for learning equations: the
#: library's cubes and products of such values stay inside float64.
MAX_MAGNITUDE = 1e100
MIN_MAGNITUDE = 1e-100


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
    inputs : list of InputSignal, optional
        Exogenous inputs (:mod:`sysid.data.inputs`): one signal per trajectory,
        all with the same input names, each covering its trajectory's times.
    """

    trajectories: list[Trajectory]
    states: tuple[str, ...]
    time_unit: str | None = None
    units: dict[str, str] = field(default_factory=dict)
    source: str | None = None
    time_origin: str | None = None
    inputs: list[InputSignal] | None = None

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
        check_observed(self)
        if self.inputs is None and checked and all(tr.inputs is not None for tr in checked):
            self.inputs = [tr.inputs for tr in checked]  # trajectories that carry their inputs
        check_inputs(self)
        if self.inputs is not None:  # each trajectory carries its own signal
            pairs = zip(checked, self.inputs, strict=True)
            self.trajectories = [replace(tr, inputs=sig) for tr, sig in pairs]
        warn_constant(self)

    # ------------------------------------------------------------------ views
    def __len__(self) -> int:
        return len(self.trajectories)

    def __iter__(self) -> Iterator[Trajectory]:
        return iter(self.trajectories)

    def __getitem__(self, i: int) -> Trajectory:
        return self.trajectories[i]

    def __repr__(self) -> str:
        inputs = f", inputs={list(self.input_names)}" if self.inputs else ""
        return (
            f"Dataset(states={list(self.states)}{inputs}, n_trajectories={self.n_trajectories}, "
            f"n_samples={self.n_samples})"
        )

    @property
    def input_names(self) -> tuple[str, ...]:
        """Names of the exogenous inputs (empty without inputs)."""
        return self.inputs[0].names if self.inputs else ()

    @property
    def measured_input_names(self) -> tuple[str, ...]:
        """Names of the measured inputs: :attr:`input_names` without the clock ``t``."""
        return self.input_names[:-1] if self.time_dependent else self.input_names

    @property
    def time_dependent(self) -> bool:
        """Whether the inputs end with the clock ``t`` (see :meth:`with_time`)."""
        return bool(self.inputs) and self.inputs[0].clock

    def with_time(self) -> Dataset:
        """The same data with the time as one more input, the clock ``t``.

        A model of these data may have terms in ``t`` (``dx/dt = f(x, u, t)``),
        counted on the data's own clock (from the time origin of dated data).
        Data that have the clock already are returned as they are.

        Examples
        --------
        >>> import numpy as np
        >>> ds = Dataset.from_arrays(np.linspace(0.0, 1.0, 5), np.ones((5, 1)), ["x"])
        >>> ds.with_time().input_names, ds.with_time().time_dependent
        (('t',), True)
        """
        if self.time_dependent:
            return self
        if TIME in self.states:
            raise ConfigError(
                f"a state is called {TIME!r}, the name of the time in time-dependent equations",
                source=self.source or "data",
                hint="rename that state",
            )
        signals = self.inputs or [None] * self.n_trajectories
        clocked = [with_clock(sig, tr.t) for sig, tr in zip(signals, self, strict=True)]
        return replace(
            self,
            trajectories=[replace(tr, inputs=sig) for tr, sig in zip(self, clocked, strict=True)],
            units=dict(self.units),
            inputs=clocked,
        )

    def without_time(self) -> Dataset:
        """The data without the clock input added by :meth:`with_time`."""
        if not self.time_dependent:
            return self
        signals = [without_clock(sig) for sig in self.inputs or []]
        kept = None if signals[0] is None else signals
        trajs = [
            replace(tr, inputs=None if kept is None else sig)
            for tr, sig in zip(self, signals, strict=True)
        ]
        return replace(self, trajectories=trajs, units=dict(self.units), inputs=kept)

    def input_values(self) -> list[np.ndarray] | None:
        """Each trajectory's inputs at its sample times, (n_k, m) arrays; None without inputs."""
        if not self.inputs:
            return None
        return input_values(self.inputs, [tr.t for tr in self.trajectories])

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
        for sig in self.inputs or []:
            h.update((",".join(sig.names) + sig.interpolation).encode())
            h.update(np.ascontiguousarray(sig.t, dtype="<f8").tobytes())
            h.update(np.ascontiguousarray(sig.u, dtype="<f8").tobytes())
        return h.hexdigest()

    def subset(self, indices: Sequence[int]) -> Dataset:
        """The trajectories at ``indices`` (units, source, time origin and inputs kept)."""
        return replace(
            self,
            trajectories=[self.trajectories[i] for i in indices],
            units=dict(self.units),
            inputs=None if self.inputs is None else [self.inputs[i] for i in indices],
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
        **kwargs
            ``u`` (inputs: an array (n, m) per trajectory, on its times),
            ``input_names`` (default ``u0, u1, ...``), ``interpolation``
            (``"linear"``, ``"hold"`` or ``"cubic"``), and the fields of :class:`Dataset`.

        Examples
        --------
        >>> import numpy as np
        >>> ts = [np.arange(4.0), np.array([0.0, 0.3, 1.1])]
        >>> xs = [np.ones((4, 1)), np.zeros((3, 1))]
        >>> Dataset.from_arrays(ts, xs).n_samples
        7
        """
        return reading.from_arrays(cls, t, x, states, names, **kwargs)

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
        **kwargs
            ``inputs`` (the input columns: measured signals that drive the
            system, complete in every row), ``interpolation`` (how inputs are
            read between samples: ``"linear"``, ``"hold"`` or ``"cubic"``), and the fields of
            :class:`Dataset`.

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
        return reading.from_frame(
            cls, df, time_column, trajectory_column, states, where, row_kind, **kwargs
        )

    @classmethod
    def from_csv(
        cls,
        path: str | os.PathLike,
        time_column: str = "t",
        trajectory_column: str | None = "trajectory",
        states: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> Dataset:
        """Read a CSV file in the format of docs/contract.md#data-files.

        Examples
        --------
        >>> import tempfile, os, numpy as np
        >>> ds = Dataset.from_arrays(np.arange(3.0), np.arange(3.0), states=["y"])
        >>> path = os.path.join(tempfile.mkdtemp(), "d.csv")
        >>> ds.to_csv(path)
        >>> Dataset.from_csv(path).states
        ('y',)
        """
        return reading.from_csv(cls, path, time_column, trajectory_column, states, **kwargs)

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
        n_inputs = len(self.measured_input_names)  # the clock, if any, is last: not written
        for k, tr in enumerate(self.trajectories):
            t, x = tr.t, tr.x
            if n_inputs:
                # Input samples between the state samples (a logged switch) are rows
                # with the states empty, as they were read.
                extra = np.setdiff1d(self.inputs[k].t, t)
                t = np.concatenate([t, extra])
                x = np.vstack([x, np.full((extra.size, self.n_states), np.nan)])
                order = np.argsort(t, kind="stable")
                t, x = t[order], x[order]
            frame = pd.DataFrame(x, columns=list(self.states))
            frame.insert(0, time_column, t)
            frame.insert(0, trajectory_column, tr.name)
            if n_inputs:
                u = self.inputs[k](t).reshape(t.size, -1)
                for j, name in enumerate(self.measured_input_names):
                    frame[name] = u[:, j]
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    def to_csv(
        self, path: str | os.PathLike, *, units_in_header: bool = False, **kwargs: Any
    ) -> None:
        """Write the dataset as CSV (docs/contract.md#data-files); readable by :meth:`from_csv`.

        Missing values are written as empty cells. Numbers round-trip exactly.

        Parameters
        ----------
        path : str or Path
        units_in_header : bool
            Write ``name [unit]`` headers for the time and the states that have
            a unit (:attr:`time_unit`, :attr:`units`; docs/contract.md#units);
            :meth:`from_csv` reads them back. Off by default: plain names, as
            ``sysid simulate`` writes.
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
    inputs: Sequence[str] | None = None,
    interpolation: str = "linear",
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
    inputs : list of str, optional
        Input columns of a CSV file or DataFrame (:mod:`sysid.data.inputs`);
        ``(t, x, u)`` arrays carry them as a third item (named by ``inputs``).
    interpolation : {"linear", "hold", "cubic"}
        How inputs are read between their samples.

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
    columns = {
        "time_column": time_column,
        "trajectory_column": trajectory_column,
        "states": states,
    }
    read_inputs = {} if inputs is None else {"inputs": inputs, "interpolation": interpolation}
    if isinstance(source, Dataset):
        if inputs is not None and tuple(inputs) != source.input_names:
            raise DataError(
                f"inputs={list(inputs)} differ from the dataset's {list(source.input_names)}",
                source=source.source or "data",
                hint="a Dataset carries its inputs; leave inputs= out",
            )
        return source if states is None else _select_states(source, states)
    if isinstance(source, (str, os.PathLike)):
        return Dataset.from_csv(source, **columns, **read_inputs)
    if isinstance(source, pd.DataFrame):
        return Dataset.from_dataframe(source, **columns, **read_inputs)
    if isinstance(source, (tuple, list)) and len(source) == 3:
        return Dataset.from_arrays(
            source[0],
            source[1],
            states=states,
            u=source[2],
            input_names=inputs,
            interpolation=interpolation,
        )
    if isinstance(source, (tuple, list)) and len(source) == 2:
        if inputs is not None:
            raise DataError(
                "inputs= names input columns, but the (t, x) arrays have none",
                source="arrays",
                hint="pass (t, x, u) with the input values u",
            )
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
    trajs = [Trajectory(tr.t, tr.x[:, cols], tr.name, tr.inputs) for tr in ds.trajectories]
    units = {s: ds.units[s] for s in names if s in ds.units}
    return replace(ds, trajectories=trajs, states=tuple(names), units=units)


def check_scale(ds: Dataset) -> None:
    """Reject states whose magnitudes float64 equations cannot hold; say how to rescale.

    Checked before any training: a state reaching 1e300 would train for a while
    and then fail when the library's squares and cubes overflow, and a state
    that never exceeds 1e-100 in size underflows the same way.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.linspace(0, 1, 20)
    >>> check_scale(Dataset.from_arrays(t, 1e300 * np.exp(-t)[:, None], states=["x"]))
    Traceback (most recent call last):
    ...
    sysid.core.errors.DataError: arrays: state 'x' reaches 1e+300, ...
    """
    _, x = ds.stacked()
    for j, s in enumerate(ds.states):
        col = np.abs(x[:, j][np.isfinite(x[:, j])])
        if col.size == 0 or col.max() == 0.0:
            continue
        big = float(col.max())
        if MIN_MAGNITUDE <= big <= MAX_MAGNITUDE:
            continue
        word = "reaches" if big > MAX_MAGNITUDE else "never exceeds"
        scale = 10.0 ** np.floor(np.log10(big))
        raise DataError(
            f"state '{s}' {word} {big:.3g}, outside the magnitudes equations can be learnt at "
            f"({MIN_MAGNITUDE:g} to {MAX_MAGNITUDE:g}): its squares and cubes would "
            f"{'overflow' if big > MAX_MAGNITUDE else 'underflow'} in float64",
            source=ds.source or "data",
            hint=f"rescale the column, e.g. divide '{s}' by {scale:.0e} and record the new unit",
        )
