"""Datasets: CSV / DataFrame / array import, validation messages, export."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sysid.core.errors import DataError, DataWarning
from sysid.data.dataset import Dataset, Trajectory, load_data

T3 = np.array([0.0, 0.5, 1.0])
X3 = np.array([[1.0, 2.0], [1.5, 2.5], [2.5, 2.0]])


@pytest.fixture
def csv(write_file):
    """``csv(text)``: write a CSV file and return its path (as str, for messages)."""

    def make(text: str, name: str = "data.csv") -> str:
        return str(write_file(name, text))

    return make


def _where(path: str) -> str:
    return re.escape(path) + ": "


# ------------------------------------------------------------------ files
def test_missing_file(tmp_path):
    path = tmp_path / "absent.csv"
    with pytest.raises(DataError, match=_where(str(path)) + r"file not found\. Hint: check"):
        Dataset.from_csv(path)


def test_folder_instead_of_file(tmp_path):
    with pytest.raises(DataError, match=r"is a folder, not a CSV file"):
        Dataset.from_csv(tmp_path)


def test_empty_file(csv):
    path = csv("")
    with pytest.raises(DataError, match=_where(path) + r"file is empty"):
        Dataset.from_csv(path)


def test_blank_header(csv):
    path = csv("\n\n")
    with pytest.raises(DataError, match=_where(path) + r"the first line \(the header\) is empty"):
        Dataset.from_csv(path)


def test_header_only(csv):
    path = csv("t,x,y\n")
    with pytest.raises(DataError, match=_where(path) + r"no data rows"):
        Dataset.from_csv(path)


def test_not_utf8(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("t,x\n0,1\n1,2\n2,3\n# température\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1\.csv: not UTF-8 text"):
        Dataset.from_csv(path)


def test_semicolon_separated(csv):
    path = csv("t;x\n0;1\n1;2\n2;3\n")
    with pytest.raises(DataError, match=r"header 't;x' has a single column: the file is not comma"):
        Dataset.from_csv(path)


def test_duplicate_column_names(csv):
    path = csv("t,x,x\n0,1,2\n1,2,3\n2,3,4\n")
    with pytest.raises(DataError, match=r"duplicate column names \['x'\] in the header"):
        Dataset.from_csv(path)


@pytest.mark.parametrize(
    ("text", "line", "n"), [("t,x\n0,1,5\n1,2,3\n2,3,4\n", 2, 3), ("t,x\n0,1\n1\n2,3\n", 3, 1)]
)
def test_wrong_number_of_fields(csv, text, line, n):
    with pytest.raises(DataError, match=rf"line {line} has {n} field\(s\) but the header has 2"):
        Dataset.from_csv(csv(text))


# ------------------------------------------------------------------ columns
def test_unknown_time_column(csv):
    path = csv("time,x\n0,1\n1,2\n2,3\n")
    with pytest.raises(
        DataError, match=r"time column 't' not found; columns are \['time', 'x'\].*--time-column"
    ):
        Dataset.from_csv(path)
    assert Dataset.from_csv(path, time_column="time").states == ("x",)
    with pytest.raises(DataError, match=r"time column 'when' not found"):
        Dataset.from_csv(path, time_column="when")


def test_missing_states_column(csv):
    path = csv("t,x,y\n0,1,2\n1,2,3\n2,3,5\n")
    with pytest.raises(DataError, match=r"state column\(s\) \['z'\] not found; columns are"):
        Dataset.from_csv(path, states=["x", "z"])


def test_state_cannot_be_time_column(csv):
    path = csv("t,x\n0,1\n1,2\n2,3\n")
    with pytest.raises(DataError, match=r"column\(s\) \['t'\] cannot be both a state and the time"):
        Dataset.from_csv(path, states=["t", "x"])


def test_no_state_columns(csv):
    with pytest.raises(DataError, match=r"no state columns: only \['t'\]"):
        Dataset.from_csv(csv("t\n0\n1\n2\n"))


def test_extra_columns_ignored_only_with_states(csv):
    path = csv("t,x,y,comment\n0,1,2,ok\n1,2,3,ok\n2,3,5,late\n")
    ds = Dataset.from_csv(path, states=["y", "x"])
    assert ds.states == ("y", "x")
    np.testing.assert_array_equal(ds[0].x, [[2.0, 1.0], [3.0, 2.0], [5.0, 3.0]])
    with pytest.raises(DataError, match=r"non-numeric value 'ok' in column 'comment' at line 2"):
        Dataset.from_csv(path)


# ------------------------------------------------------------------ cells
def test_non_numeric_cell_names_column_and_line(csv):
    path = csv("t,x\n0,1\n1,abc\n2,3\n")
    with pytest.raises(
        DataError, match=_where(path) + r"non-numeric value 'abc' in column 'x' at line 3"
    ):
        Dataset.from_csv(path)


def test_non_numeric_time(csv):
    with pytest.raises(DataError, match=r"non-numeric value '1s' in column 't' at line 3"):
        Dataset.from_csv(csv("t,x\n0,1\n1s,2\n2,3\n"))


def test_line_numbers_count_blank_lines(csv):
    with pytest.raises(DataError, match=r"non-numeric value '2,5' in column 'x' at line 5"):
        Dataset.from_csv(csv('t,x\n0,1\n\n1,2\n2,"2,5"\n'))


def test_boolean_column(csv):
    with pytest.raises(DataError, match=r"column 'x' holds true/false values, not numbers"):
        Dataset.from_csv(csv("t,x\n0,true\n1,false\n2,true\n"))


@pytest.mark.parametrize("cell", ["nan", "", "NA", "NaN"])
def test_missing_values_are_kept(csv, cell):
    ds = Dataset.from_csv(csv(f"t,x,y\n0,1,2\n1,{cell},3\n2,3,4\n"))
    assert np.isnan(ds[0].x[1, 0]) and ds[0].x[1, 1] == 3.0
    assert ds.n_samples == 3


@pytest.mark.parametrize(("cell", "shown"), [("inf", "inf"), ("-1e999", "-inf")])
def test_infinite_values(csv, cell, shown):
    path = csv(f"t,x,y\n0,1,2\n1,{cell},3\n2,3,4\n")
    with pytest.raises(
        DataError,
        match=rf"trajectory '0': value {shown} in column 'x' at line 3 is infinite.*empty",
    ):
        Dataset.from_csv(path)


def test_missing_time(csv):
    with pytest.raises(DataError, match=r"time column 't' is nan at line 4.*finite time"):
        Dataset.from_csv(csv("t,x\n0,1\n1,2\n,3\n3,4\n"))


def test_missing_trajectory_id(csv):
    path = csv("trajectory,t,x\na,0,1\na,1,2\n,2,3\n")
    with pytest.raises(DataError, match=r"empty trajectory id in column 'trajectory' at line 4"):
        Dataset.from_csv(path)


# ------------------------------------------------------------------ times
def test_times_not_increasing_names_trajectory_and_line(csv):
    path = csv("trajectory,t,x\na,0,1\na,1,2\na,2,3\nb,0,1\nb,2,2\nb,1,3\n")
    with pytest.raises(
        DataError,
        match=r"trajectory 'b': times are not increasing: 1\.0 at line 7 comes after 2\.0.*"
        r"sort the rows",
    ):
        Dataset.from_csv(path)


def test_duplicate_times(csv):
    path = csv("t,x\n0,1\n1,2\n1,3\n2,4\n")
    with pytest.raises(
        DataError, match=r"trajectory '0': duplicate time 1\.0 at line 4.*trajectory id column"
    ):
        Dataset.from_csv(path)


def test_too_few_samples(csv):
    path = csv("trajectory,t,x\na,0,1\na,1,2\na,2,3\nb,0,1\nb,1,2\n")
    with pytest.raises(
        DataError, match=r"trajectory 'b' has 2 sample\(s\) while at least 3 are needed"
    ):
        Dataset.from_csv(path)


# ------------------------------------------------------------------ trajectories
def test_several_trajectories_with_irregular_grids(csv):
    path = csv(
        "trajectory,t,x,y\n"
        "run-a,0.0,1,2\nrun-a,0.3,2,3\nrun-a,1.1,3,5\n"
        "run-b,0.0,4,1\nrun-b,0.7,5,1\nrun-b,0.9,6,2\nrun-b,2.5,7,3\n"
    )
    ds = Dataset.from_csv(path)
    assert [tr.name for tr in ds] == ["run-a", "run-b"]
    np.testing.assert_array_equal(ds[0].t, [0.0, 0.3, 1.1])
    np.testing.assert_array_equal(ds[1].t, [0.0, 0.7, 0.9, 2.5])
    assert ds[1].x.shape == (4, 2) and ds.n_samples == 7 and ds.source == path


def test_trajectory_ids_are_text(csv):
    path = csv("trajectory,t,x\n01,0,1\n01,1,2\n01,2,3\n1,0,1\n1,1,2\n1,2,4\n")
    assert [tr.name for tr in Dataset.from_csv(path)] == ["01", "1"]


def test_custom_id_column_and_no_id_column(csv):
    path = csv("experiment,time,x\ne1,0,1\ne1,1,2\ne1,2,3\ne2,0,1\ne2,1,2\ne2,2,4\n")
    ds = Dataset.from_csv(path, time_column="time", trajectory_column="experiment")
    assert [tr.name for tr in ds] == ["e1", "e2"]
    with pytest.raises(DataError, match=r"non-numeric value 'e1' in column 'experiment'"):
        Dataset.from_csv(path, time_column="time", trajectory_column=None)


def test_interleaved_rows_are_grouped_by_id(csv):
    path = csv("trajectory,t,x\na,0,1\nb,0,5\na,1,2\nb,1,6\na,2,3\nb,2,7\n")
    ds = Dataset.from_csv(path)
    np.testing.assert_array_equal(ds[1].x[:, 0], [5.0, 6.0, 7.0])


def test_constant_state_column_warns(csv):
    path = csv("t,x,y\n0,1,5\n1,2,5\n2,3,5\n")
    with pytest.warns(DataWarning, match=r"state column 'y' is constant \(5\.0\).*dy/dt = 0"):
        ds = Dataset.from_csv(path)
    assert ds.states == ("x", "y")


def test_varying_columns_do_not_warn(lv_csv):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Dataset.from_csv(lv_csv)


# ------------------------------------------------------------------ DataFrame
def test_dataframe_input():
    df = pd.DataFrame({"t": T3, "x": X3[:, 0], "y": X3[:, 1]})
    ds = Dataset.from_dataframe(df)
    assert ds.states == ("x", "y") and ds.n_trajectories == 1 and ds[0].name == "0"
    np.testing.assert_array_equal(ds[0].x, X3)
    assert load_data(df).sha256() == ds.sha256()


def test_dataframe_messages_name_rows_by_index():
    df = pd.DataFrame({"t": [0.0, 1.0, 2.0], "x": [1.0, "?", 3.0]}, index=[10, 11, 12])
    with pytest.raises(
        DataError, match=r"DataFrame: non-numeric value '\?' in column 'x' at row 11"
    ):
        Dataset.from_dataframe(df)
    df = pd.DataFrame({"t": [0.0, 2.0, 1.0], "x": [1.0, 2.0, 3.0]})
    with pytest.raises(DataError, match=r"times are not increasing: 1\.0 at row 2"):
        Dataset.from_dataframe(df)


def test_dataframe_errors():
    with pytest.raises(DataError, match=r"expected a pandas DataFrame, got dict"):
        Dataset.from_dataframe({"t": [0, 1, 2]})
    with pytest.raises(DataError, match=r"no data rows"):
        Dataset.from_dataframe(pd.DataFrame({"t": [], "x": []}))
    df = pd.DataFrame([[0.0, 1.0, 2.0], [1.0, 2.0, 3.0], [2.0, 3.0, 5.0]], columns=["t", "x", "x"])
    with pytest.raises(DataError, match=r"duplicate column names \['x'\]"):
        Dataset.from_dataframe(df)


# ------------------------------------------------------------------ arrays
def test_arrays_single_and_several_trajectories():
    ds = Dataset.from_arrays(T3, X3, states=["a", "b"])
    assert ds.states == ("a", "b") and ds.n_samples == 3 and ds.source == "arrays"
    ds = Dataset.from_arrays(
        [T3, np.arange(4.0)], [X3, np.arange(8.0).reshape(4, 2)], names=["p", "q"]
    )
    assert ds.states == ("x0", "x1") and [tr.name for tr in ds] == ["p", "q"]
    ds = Dataset.from_arrays([0.0, 1.0, 2.0], [3.0, 1.0, 2.0])  # plain lists, one state
    assert ds.states == ("x0",) and ds[0].x.shape == (3, 1)
    assert load_data((T3, X3)).sha256() == Dataset.from_arrays(T3, X3).sha256()


def test_arrays_mismatched_lengths_and_transposed_hint():
    with pytest.raises(
        DataError,
        match=r"trajectory 0 has 3 times but 2 rows of states \(shape \(2, 3\)\).*transposed",
    ):
        Dataset.from_arrays(T3, X3.T)
    with pytest.raises(
        DataError, match=r"has 3 times but 4 rows.*one row of states per sample time"
    ):
        Dataset.from_arrays(T3, np.ones((4, 2)))
    with pytest.raises(DataError, match=r"got 2 time vectors but 1 state arrays"):
        Dataset.from_arrays([T3, T3], [X3])


def test_arrays_inconsistent_state_counts():
    with pytest.raises(DataError, match=r"trajectory 1 has 3 states but trajectory 0 has 2"):
        Dataset.from_arrays([T3, T3], [X3, np.ones((3, 3))])


def test_arrays_bad_shapes_and_values():
    with pytest.raises(DataError, match=r"times must be 1-D, found shape \(3, 1\)"):
        Dataset.from_arrays([T3[:, None]], [X3])
    with pytest.raises(DataError, match=r"states must be 2-D .* found shape \(3, 2, 1\)"):
        Dataset.from_arrays(T3, X3[:, :, None])
    with pytest.raises(DataError, match=r"'x' is not numeric"):
        Dataset.from_arrays(T3, [["a", "b"]] * 3)
    with pytest.raises(
        DataError, match=r"3 state names \['a', 'b', 'c'\] given for 2 state columns"
    ):
        Dataset.from_arrays(T3, X3, states=["a", "b", "c"])
    with pytest.raises(DataError, match=r"value inf in column 'b' at sample 1 is infinite"):
        Dataset.from_arrays(T3, np.where(X3 == 2.5, np.inf, X3), states=["a", "b"])
    with pytest.raises(DataError, match=r"times are not increasing: 0\.5 at sample 2"):
        Dataset.from_arrays(np.array([0.0, 1.0, 0.5]), X3)
    with pytest.raises(DataError, match=r"has 2 sample\(s\) while at least 3"):
        Dataset.from_arrays(T3[:2], X3[:2])


def test_constructor_validates():
    with pytest.raises(DataError, match=r"no trajectories were given"):
        Dataset([], ("x",))
    with pytest.raises(DataError, match=r"state names are not unique: \['x'\]"):
        Dataset([Trajectory(T3, X3)], ("x", "x"))
    with pytest.raises(DataError, match=r"has 2 state columns but 1 state names \['x'\]"):
        Dataset([Trajectory(T3, X3)], ("x",))
    with pytest.warns(DataWarning, match=r"arrays: state column 'c' is constant"):
        Dataset.from_arrays(T3, np.c_[T3, np.ones(3)], states=["b", "c"])


def test_load_data_states_select_and_reorder_a_dataset():
    ds = Dataset.from_arrays(
        [T3, np.arange(4.0)],
        [X3, np.arange(8.0).reshape(4, 2)],
        states=["x", "y"],
        units={"x": "m", "y": "s"},
        time_unit="h",
        time_origin="2020-01-01",
        source="lab.csv",
    )
    swapped = load_data(ds, states=["y", "x"])
    assert swapped.states == ("y", "x") and swapped.units == {"y": "s", "x": "m"}
    assert (swapped.time_unit, swapped.time_origin, swapped.source) == (
        "h",
        "2020-01-01",
        "lab.csv",
    )
    for tr, orig in zip(swapped, ds, strict=True):
        assert tr.name == orig.name
        np.testing.assert_array_equal(tr.t, orig.t)
        np.testing.assert_array_equal(tr.x, orig.x[:, ::-1])
    only_y = load_data(ds, states=["y [s]"])  # a unit in the name is ignored, as for a CSV
    assert only_y.states == ("y",) and only_y.units == {"y": "s"}
    np.testing.assert_array_equal(only_y[1].x[:, 0], ds[1].x[:, 1])
    assert load_data(ds, states=["x", "y"]) is ds and load_data(ds) is ds


def test_load_data_states_mean_the_same_for_every_input_kind(tmp_path):
    df = pd.DataFrame({"t": T3, "x": X3[:, 0], "y": X3[:, 1]})
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    ds = load_data(df)
    picked = [load_data(src, states=["y", "x"]) for src in (df, str(path), ds)]
    assert len({p.sha256() for p in picked}) == 1 and picked[0].states == ("y", "x")
    missing = r"state column\(s\) \['a', 'b'\] not found; columns are "
    cases = [
        (df, r"DataFrame: " + missing + r"\['t', 'x', 'y'\]"),
        (str(path), _where(str(path)) + missing + r"\['t', 'x', 'y'\]"),
        (ds, r"DataFrame: " + missing + r"\['x', 'y'\]"),
    ]
    for src, match in cases:
        with pytest.raises(DataError, match=match):
            load_data(src, states=["a", "x", "b"])


def test_load_data_states_that_leave_rows_empty():
    x = np.array([[1.0, np.nan], [np.nan, 2.0], [2.0, 3.0], [3.0, np.nan]])
    ds = Dataset.from_arrays(np.arange(4.0), x, states=["a", "b"])
    with pytest.warns(DataWarning, match=r"dropped 1 row where every state is missing"):
        only_a = load_data(ds, states=["a"])
    np.testing.assert_array_equal(only_a[0].t, [0.0, 2.0, 3.0])
    with pytest.raises(DataError, match=r"no state columns: states=\[\] selects none of"):
        load_data(ds, states=[])


def test_load_data_rejects_other_types():
    with pytest.raises(DataError, match=r"cannot read data of type int.*pass a CSV path"):
        load_data(3)


# ------------------------------------------------------------------ views and export
def test_views(lv_dataset):
    ds = lv_dataset
    assert len(ds) == ds.n_trajectories == 3 and ds.n_states == 2
    t, x = ds.stacked()
    assert t.shape == (600,) and x.shape == (600, 2)
    lo, hi = ds.bounds()
    np.testing.assert_array_equal(lo, x.min(axis=0))
    np.testing.assert_array_equal(hi, x.max(axis=0))
    sub = ds.subset([2, 0])
    assert [tr.name for tr in sub] == ["2", "0"] and sub.units == ds.units
    assert repr(ds) == "Dataset(states=['x', 'y'], n_trajectories=3, n_samples=600)"
    assert ds[0].duration == pytest.approx(30.0) and ds[0].n_states == 2


def test_csv_round_trip_of_simulated_data(lv_dataset, lv_csv):
    back = Dataset.from_csv(lv_csv)
    assert back.sha256() == lv_dataset.sha256()
    assert load_data(str(lv_csv)).sha256() == lv_dataset.sha256()
    header = lv_csv.read_text().splitlines()[0]
    assert header == "trajectory,t,x,y"


def test_csv_with_other_column_names(lv_dataset, tmp_path):
    path = tmp_path / "renamed.csv"
    lv_dataset.to_csv(path, time_column="time", trajectory_column="run")
    back = Dataset.from_csv(path, time_column="time", trajectory_column="run")
    assert back.sha256() == lv_dataset.sha256()


def test_export_refuses_clashing_column_names():
    ds = Dataset.from_arrays(T3, X3, states=["t", "x"])
    with pytest.raises(DataError, match=r"column name\(s\) \['t'\] would be used twice"):
        ds.to_dataframe()
    assert ds.to_dataframe(time_column="time").columns.tolist() == ["trajectory", "time", "t", "x"]


_finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.data(),
    n_traj=st.integers(1, 3),
    n_states=st.integers(1, 3),
)
def test_csv_round_trip_is_exact(tmp_path_factory, data, n_traj, n_states):
    ts, xs = [], []
    for _ in range(n_traj):
        n = data.draw(st.integers(3, 8))
        t = data.draw(hnp.arrays(np.float64, n, elements=_finite, unique=True))
        ts.append(np.sort(t))
        xs.append(data.draw(hnp.arrays(np.float64, (n, n_states), elements=_finite)))
    names = data.draw(
        st.lists(
            st.sampled_from(["NA", "None", "nan", "01", "1", "a-b", "x_1"]),
            min_size=n_traj,
            max_size=n_traj,
            unique=True,
        )
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        ds = Dataset.from_arrays(ts, xs, states=[f"s{j}" for j in range(n_states)], names=names)
        path = tmp_path_factory.mktemp("rt") / "d.csv"
        ds.to_csv(path)
        back = Dataset.from_csv(path)
    assert back.states == ds.states
    assert [tr.name for tr in back] == names
    for a, b in zip(ds, back, strict=True):
        np.testing.assert_array_equal(a.t, b.t)
        np.testing.assert_array_equal(a.x, b.x)


def test_trajectory_ids_that_look_missing_are_names(csv):
    path = csv("trajectory,t,x\nNA,0,1\nNA,1,2\nNA,2,3\nNone,0,1\nNone,1,2\nNone,2,4\n")
    assert [tr.name for tr in Dataset.from_csv(path)] == ["NA", "None"]


# ------------------------------------------------------------ time columns
def test_dates_become_days_since_first(tmp_path):
    path = tmp_path / "dates.csv"
    path.write_text("date,cases\n2020-03-01,1\n2020-03-02,3\n2020-03-04T12:00:00,9\n")
    ds = Dataset.from_csv(path, time_column="date")
    np.testing.assert_array_equal(ds[0].t, [0.0, 1.0, 3.5])
    assert ds.time_unit == "days" and ds.time_origin == "2020-03-01T00:00:00"


def test_datetime_dtype_frame():
    df = pd.DataFrame(
        {"when": pd.to_datetime(["2021-01-01", "2021-01-03", "2021-01-04"]), "x": [1.0, 2, 4]}
    )
    ds = Dataset.from_dataframe(df, time_column="when")
    np.testing.assert_array_equal(ds[0].t, [0.0, 2.0, 3.0])
    assert ds.time_unit == "days"


def test_bad_date_is_named(tmp_path):
    path = tmp_path / "dates.csv"
    path.write_text("date,cases\n2020-03-01,1\n2020-03-02,3\nsoon,9\n")
    with pytest.raises(DataError, match=r"cannot read 'soon' in time column 'date' at line 4"):
        Dataset.from_csv(path, time_column="date")


def test_calendar_years_become_offsets(tmp_path):
    path = tmp_path / "years.csv"
    path.write_text("year,hare\n1900,30\n1901,47.2\n1903,77.4\n")
    ds = Dataset.from_csv(path, time_column="year")
    np.testing.assert_array_equal(ds[0].t, [0.0, 1.0, 3.0])
    assert ds.time_unit == "years" and ds.time_origin == "1900"


def test_time_unit_from_column_name(tmp_path):
    path = tmp_path / "hours.csv"
    path.write_text("hours,x\n0,1\n1,2\n2,4\n")
    ds = Dataset.from_csv(path, time_column="hours")
    assert ds.time_unit == "hours" and ds.time_origin is None
    np.testing.assert_array_equal(ds[0].t, [0.0, 1.0, 2.0])
