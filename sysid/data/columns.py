"""Reading data columns: CSV layout, time and state columns, units in column names, validation."""

from __future__ import annotations

import csv
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sysid.core.errors import DataError, DataWarning


def _state_names(
    states: Sequence[str], columns: Sequence[str], raw: Sequence[str], where: str
) -> list[str]:
    """The bare names (units stripped) of the state columns asked for, all among ``columns``."""
    names = [split_unit(str(s))[0] for s in states]
    missing = [s for s in names if s not in columns]
    if missing:
        raise DataError(
            f"state column(s) {missing} not found; columns are {list(raw)}",
            source=where,
            hint="check the names given with --states / states=",
        )
    return names


#: pandas >= 3 parses floats exactly by default; older versions need asking.
_READ_CSV_OPTIONS: dict[str, Any] = (
    {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}
)


#: Cells read as missing values in time and state columns (pandas' defaults).
_NA_STRINGS = (
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "<NA>",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "None",
    "n/a",
    "nan",
    "null",
)


def _check_csv_layout(path: Path, where: str) -> list[str]:
    """Check the header and the number of fields on every line; return the header names.

    pandas silently renames duplicate columns (``x``, ``x.1``) and turns a row
    with one field too many into an index, so both are checked here first.
    """
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle, skipinitialspace=True)
            header = next(reader, [])
            names = [h.strip() for h in header]
            if not any(names):
                raise DataError(
                    "the first line (the header) is empty",
                    source=where,
                    hint=(
                        "start the file with the column names, e.g. t,x,y "
                        "(format: docs/contract.md#data-files)"
                    ),
                )
            if len(names) == 1 and any(sep in names[0] for sep in ";\t|"):
                raise DataError(
                    f"the header {header[0]!r} has a single column: the file is not "
                    "comma-separated",
                    source=where,
                    hint="save it as CSV with ',' between columns and '.' as decimal point",
                )
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise DataError(
                    f"duplicate column names {dup} in the header",
                    source=where,
                    hint="give every column a unique name",
                )
            for row in reader:
                if len(row) != len(names) and any(cell.strip() for cell in row):
                    raise DataError(
                        f"line {reader.line_num} has {len(row)} field(s) but the header has "
                        f"{len(names)} ({names})",
                        source=where,
                        hint="check for missing or extra commas; decimals need a '.' not a ','",
                    )
    except UnicodeDecodeError:
        raise DataError(
            "not UTF-8 text", source=where, hint="save the file with UTF-8 encoding"
        ) from None
    except csv.Error as err:
        raise DataError(
            f"not a readable CSV file ({err})",
            source=where,
            hint=(
                "save it as comma-separated text with one header line "
                "(format: docs/contract.md#data-files)"
            ),
        ) from None
    return header  # as pandas will name the columns (leading spaces skipped)


#: ``name [unit]``: a column header that carries its unit (a space before the bracket).
_UNIT_HEADER = re.compile(r"^(?P<name>.*?\S)\s+\[(?P<unit>[^\[\]]*)\]$")


def split_unit(header: str) -> tuple[str, str | None]:
    """``"S [mM]"`` -> ``("S", "mM")``; a header without a unit is its own name.

    Examples
    --------
    >>> split_unit("t [days]"), split_unit("x"), split_unit("x[1]")
    (('t', 'days'), ('x', None), ('x[1]', None))
    """
    m = _UNIT_HEADER.match(header.strip())
    if m is None:
        return header.strip(), None
    unit = m.group("unit").strip()
    return m.group("name"), unit or None


def _bare_columns(raw: Sequence[str], where: str) -> tuple[list[str], dict[str, str]]:
    """Column names without their ``[unit]`` and the units found, by bare name."""
    names, units = [], {}
    for header in raw:
        name, unit = split_unit(header)
        if name in names:
            first = raw[names.index(name)]
            raise DataError(
                f"columns {first!r} and {header!r} both name '{name}'",
                source=where,
                hint="give every column a unique name",
            )
        names.append(name)
        if unit is not None:
            units[name] = unit
    return names, units


def _merge_units(
    header: dict[str, str],
    state_cols: Sequence[str],
    time_column: str,
    kwargs: dict[str, Any],
    where: str,
) -> str | None:
    """Put the header's state units into ``kwargs["units"]``; return the time unit.

    A unit given both in the header and as an argument must agree.
    """
    given = dict(kwargs.get("units") or {})
    pairs = [(s, header[s], given.get(s)) for s in state_cols if s in header]
    if time_column in header:
        pairs.append((time_column, header[time_column], kwargs.get("time_unit")))
    for name, in_header, argument in pairs:
        if argument is not None and str(argument) != in_header:
            raise DataError(
                f"the unit of '{name}' is '{in_header}' in the column header but "
                f"'{argument}' was given",
                source=where,
                hint="drop one of them or make them agree",
            )
    states_units = {s: header[s] for s in state_cols if s in header}
    if states_units or "units" in kwargs:
        kwargs["units"] = {**given, **states_units}
    return header.get(time_column)


def _is_flat_numbers(t: Any) -> bool:
    """True for a plain list of numbers (one trajectory's times)."""
    if isinstance(t, (list, tuple)) and len(t) > 0:
        return all(isinstance(v, (int, float, np.number)) for v in t)
    return False


def _as_float_array(a: Any, name: str) -> np.ndarray:
    try:
        out = np.array(a, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise DataError(
            f"'{name}' is not numeric ({err})",
            source="arrays",
            hint="pass arrays of numbers",
        ) from None
    return out


_TIME_UNITS = {
    "year": "years",
    "years": "years",
    "day": "days",
    "days": "days",
    "hour": "hours",
    "hours": "hours",
    "h": "hours",
    "minute": "minutes",
    "minutes": "minutes",
    "min": "minutes",
    "second": "s",
    "seconds": "s",
    "s": "s",
    "week": "weeks",
    "weeks": "weeks",
}


def _unit_from_name(name: str) -> str | None:
    """A time unit implied by the time column's name (``year`` -> years), else None."""
    return _TIME_UNITS.get(name.strip().lower())


def _time_values(
    col: pd.Series, name: str, where: str, row_kind: str, rows: np.ndarray
) -> tuple[np.ndarray, str | None, str | None]:
    """Numeric times; dates become days since the earliest date (unit and origin returned)."""
    is_dates = pd.api.types.is_datetime64_any_dtype(col)
    if not is_dates and (col.dtype == object or pd.api.types.is_string_dtype(col)):
        as_number = pd.to_numeric(col, errors="coerce")
        if as_number.isna().all() and col.notna().any():
            first = str(col.dropna().iloc[0])
            try:
                pd.to_datetime(pd.Series([first]), format="ISO8601")
                is_dates = True
            except (ValueError, TypeError):
                is_dates = False
    if not is_dates:
        return _numeric_column(col, name, where, row_kind, rows), None, None
    stamps = pd.to_datetime(col, errors="coerce", format="ISO8601")
    bad = stamps.isna() & col.notna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"cannot read {col.iloc[i]!r} in time column '{name}' at {row_kind} {rows[i]} "
            "as a date",
            source=where,
            hint="write dates as YYYY-MM-DD (optionally with a time, HH:MM:SS)",
        )
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    origin = stamps.min()
    days = (stamps - origin) / pd.Timedelta(days=1)
    return days.to_numpy(dtype=np.float64, na_value=np.nan), "days", origin.isoformat()


def _numeric_column(
    col: pd.Series,
    name: str,
    where: str,
    row_kind: str,
    rows: np.ndarray,
    *,
    state: bool = False,
) -> np.ndarray:
    """Convert a column to float64, naming the first non-numeric cell.

    A state column (``state``) that holds mostly text with repeated values is
    taken for an experiment label, and the hint names ``--trajectory-column``.
    """
    if pd.api.types.is_bool_dtype(col):
        raise DataError(
            f"column '{name}' holds true/false values, not numbers",
            source=where,
            hint="store numbers in state and time columns",
        )
    converted = pd.to_numeric(col, errors="coerce")
    bad = converted.isna() & col.notna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        hint = "fix or delete that cell; use numbers with '.' as decimal point"
        labels = col[bad].astype(str).unique()
        if state and 2 * int(bad.sum()) >= int(col.notna().sum()) and len(labels) < bad.sum():
            shown = ", ".join(repr(v) for v in labels[:3]) + (", ..." if len(labels) > 3 else "")
            hint = (
                f"column '{name}' holds labels ({len(labels)} distinct: {shown}); if it names "
                f"the experiment of each row, pass --trajectory-column {name} "
                f"(trajectory_column='{name}' in Python); to leave it out, list the state "
                "columns with --states"
            )
        raise DataError(
            f"non-numeric value {col.iloc[i]!r} in column '{name}' at {row_kind} {rows[i]}",
            source=where,
            hint=hint,
        )
    return converted.to_numpy(dtype=np.float64, na_value=np.nan)


def _warn_dropped(dropped: Sequence[str], where: str, inputs: bool = False) -> None:
    """One warning that counts the rows dropped because every state was missing.

    With input columns such rows still count as samples of the inputs (a
    logged switch between two measurements), and the warning says so.
    """
    if dropped:
        n = len(dropped)
        first = ", ".join(dropped[:3]) + (", ..." if n > 3 else "")
        rows = f"{n} row{'s' * (n != 1)} where every state is missing ({first})"
        message = (
            f"{where}: {rows} are read as samples of the inputs only"
            if inputs
            else f"{where}: dropped {rows}"
        )
        warnings.warn(message, DataWarning, stacklevel=4)
