"""Missing values (issue #7): kept as NaN, masked in every loss; units in CSV headers."""

from __future__ import annotations

import copy
import re
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.integrate import solve_ivp

import sysid
from sysid.core.errors import DataError, DataWarning
from sysid.core.expressions import state_symbols
from sysid.core.ode import CompiledSystem, Guard
from sysid.data.columns import split_unit
from sysid.data.dataset import Dataset, Trajectory
from sysid.fit.engine import Parametrisation, _Residuals
from sysid.fit.graybox import fit_model
from sysid.fit.refit import refine
from sysid.fit.shooting import segments, smoothed_state
from sysid.neural.field import NeuralField, loss_and_grads
from sysid.neural.net import VectorField
from sysid.neural.train import Settings, _Stage, objective
from sysid.neural.windows import fit_scaler, make_windows, observed_span, smooth
from sysid.select.selection import select_model
from sysid.symbolic.sparse import distill

LV = {"x": "1.1*x - 0.4*x*y", "y": "0.1*x*y - 0.4*y"}
LV_TRUE = np.array([1.1, -0.4, 0.1, -0.4])  # x: x, x*y; y: x*y, y
LV_COEF = {("x", "x"): 1.1, ("x", "x*y"): -0.4, ("y", "x*y"): 0.1, ("y", "y"): -0.4}


def _gappy(x: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A copy of ``x`` with about ``fraction`` of the entries NaN, never a whole row."""
    rng = np.random.default_rng(seed)
    out = x.copy()
    hole = rng.random(x.shape) < fraction
    hole[hole.all(axis=1), 0] = False
    out[hole] = np.nan
    return out


def _with_gaps(ds: Dataset, fraction: float = 0.2, seed: int = 0) -> Dataset:
    xs = [_gappy(tr.x, fraction, seed + k) for k, tr in enumerate(ds)]
    return Dataset.from_arrays([tr.t for tr in ds], xs, states=ds.states)


# ------------------------------------------------------------------ data
def test_nan_states_are_kept():
    t = np.arange(5.0)
    x = np.c_[t, t**2]
    x[1, 0] = x[3, 1] = np.nan
    ds = Dataset.from_arrays(t, x, states=["a", "b"])
    assert ds.n_samples == 5
    np.testing.assert_array_equal(np.isnan(ds[0].x), np.isnan(x))
    lo, hi = ds.bounds()
    np.testing.assert_array_equal(lo, [0.0, 0.0])
    np.testing.assert_array_equal(hi, [4.0, 16.0])


def test_rows_with_every_state_missing_are_dropped_with_one_warning(write_file):
    path = write_file(
        "gaps.csv",
        "trajectory,t,x,y\na,0,1,2\na,1,,\na,2,3,NA\na,3,4,5\na,4,nan,NaN\n"
        "b,0,1,2\nb,1,2,3\nb,2,,\nb,3,4,5\n",
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = Dataset.from_csv(path)
    messages = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    assert len(messages) == 1
    assert re.search(
        re.escape(str(path)) + r": dropped 3 rows where every state is missing "
        r"\(line 3, line 6, line 9\)",
        messages[0],
    )
    assert [tr.n_samples for tr in ds] == [3, 3]
    np.testing.assert_array_equal(ds[0].t, [0.0, 2.0, 3.0])
    assert np.isnan(ds[0].x[1, 1])
    with pytest.warns(DataWarning, match=r"arrays: dropped 1 row where every state is missing"):
        Dataset.from_arrays(np.arange(4.0), [[1.0], [np.nan], [2.0], [3.0]])


def test_too_few_rows_left_after_dropping(write_file):
    path = write_file("few.csv", "t,x\n0,1\n1,\n2,\n3,4\n")
    with pytest.raises(
        DataError,
        match=r"has 2 sample\(s\) after dropping 2 row\(s\) where every state is missing "
        r"while at least 3 are needed",
    ):
        Dataset.from_csv(path)


def test_entirely_missing_column_is_an_error(write_file):
    path = write_file(
        "empty.csv", "trajectory,t,x,y\na,0,1,\na,1,2,\na,2,3,\nb,0,1,\nb,1,2,\nb,2,3,\n"
    )
    with pytest.raises(
        DataError,
        match=re.escape(str(path)) + r": state column 'y' is entirely missing: it has no value "
        r"in any trajectory\. Hint: delete that column, or name the measured columns with "
        r"--states",
    ):
        Dataset.from_csv(path)
    assert Dataset.from_csv(path, states=["x"]).states == ("x",)
    # missing in one trajectory only: allowed
    path2 = write_file(
        "half.csv", "trajectory,t,x,y\na,0,1,\na,1,2,\na,2,3,\nb,0,1,5\nb,1,2,6\nb,2,3,7\n"
    )
    assert np.isnan(Dataset.from_csv(path2)[0].x[:, 1]).all()


def test_csv_round_trip_with_gaps(tmp_path, lv_dataset):
    ds = _with_gaps(lv_dataset.subset([0, 1]), 0.3, seed=1)
    path = tmp_path / "gaps.csv"
    ds.to_csv(path)
    text = path.read_text()
    assert ",," in text or text.count(",\n") > 0  # missing values are empty cells
    assert "nan" not in text.lower()
    back = Dataset.from_csv(path)
    assert back.states == ds.states and back.n_trajectories == 2
    for a, b in zip(ds, back, strict=True):
        np.testing.assert_array_equal(a.t, b.t)
        np.testing.assert_array_equal(a.x, b.x)  # NaN compares equal here
    assert back.sha256() == ds.sha256()


def test_sha256_of_complete_data_is_unchanged():
    t = np.linspace(0, 1, 5)
    ds = Dataset.from_arrays(
        [t, t + 1], [np.c_[t, t**2], np.c_[1 - t, t]], states=["a", "b"], names=["p", "q"]
    )
    # the value before missing values were supported (commit 421c9bd)
    assert ds.sha256() == "ef39e059b1e467d3855fbf3eab0335f189f869644c092442adab36857b833ab7"


# ------------------------------------------------------------ neural field
def test_smooth_fits_each_state_on_its_own_samples():
    t = np.linspace(0.0, 2.0, 81)
    x = np.c_[np.sin(t), t**2, np.zeros_like(t)]
    x[30:45, 0] = np.nan
    x[:10, 1] = np.nan
    x[:, 2] = np.nan
    xs, dx = smooth(t, x)
    assert np.isfinite(xs).all() and np.isfinite(dx).all()
    np.testing.assert_allclose(xs[30:45, 0], np.sin(t[30:45]), atol=1e-3)
    np.testing.assert_allclose(dx[30:45, 0], np.cos(t[30:45]), atol=2e-2)
    # before the first observation: held at the first smoothed value, flat
    np.testing.assert_allclose(xs[:10, 1], xs[10, 1], atol=0)
    assert (dx[:10, 1] == 0).all()
    assert (xs[:, 2] == 0).all() and (dx[:, 2] == 0).all()  # never observed
    inside = observed_span(t, x[:, :2])
    assert not inside[:10].any() and inside[10:].all()
    # complete columns are smoothed exactly as before
    xs_full, dx_full = smooth(t, np.c_[np.sin(t)])
    np.testing.assert_array_equal(smooth(t, np.c_[np.sin(t), x[:, 1]])[0][:, 0], xs_full[:, 0])


def test_scaler_ignores_missing_values():
    t = np.linspace(0, 10, 200)
    x = np.c_[np.sin(3 * t), 2 + np.cos(t)]
    gappy = _gappy(x, 0.2, seed=3)
    s = fit_scaler([t], [gappy])
    np.testing.assert_allclose(s.mean, np.nanmean(gappy, axis=0), rtol=0, atol=1e-15)
    np.testing.assert_allclose(s.scale, np.nanstd(gappy, axis=0), rtol=1e-15)
    assert np.isfinite(s.time_scale)
    assert abs(s.time_scale / fit_scaler([t], [x]).time_scale - 1) < 0.05


def _stage_run(w, field, taus, starts):
    stage = _Stage(w, field, taus, starts, Settings(), torch.device("cpu"), torch.float64, 1e-3)
    field.zero_grad(set_to_none=True)
    total, parts, z = objective(stage, "direct", 1e-6, 1e-8, 1.0)
    total.backward()
    grads = [p.grad.clone() for p in field.parameters()] + [stage.S.grad.clone()]
    return total.item(), parts, z.detach().numpy(), grads


def test_masked_entries_do_not_change_the_loss_or_its_gradients():
    tau = np.linspace(0.0, 3.0, 31)
    clean = np.c_[np.sin(tau), np.cos(tau)]
    z = _gappy(clean, 0.25, seed=4)
    val = np.zeros(31, bool)
    val[[5, 17, 26]] = True
    w = make_windows([tau], [z], 6, [val])
    assert (w.obs_mask == 0).sum() == np.isnan(z).sum()
    assert np.isfinite(w.obs).all()
    field = VectorField(2, 8, 2, "tanh", torch.Generator().manual_seed(0))
    loss, parts, zsol, grads = _stage_run(w, field, [tau], [clean])
    # the masked mean over observed training entries, computed by hand
    m = w.train_mask[..., None] * w.obs_mask
    expected = float((((zsol - w.obs) ** 2) * m).sum() / m.sum())
    assert parts["loss"] == pytest.approx(expected, rel=1e-13)
    assert np.isfinite(parts["val_loss"])
    # any value at a missing entry gives the same loss and gradients, to the bit
    w2 = copy.deepcopy(w)
    w2.obs[w.obs_mask == 0] = 123.0
    loss2, parts2, _, grads2 = _stage_run(w2, field, [tau], [clean])
    assert loss2 == loss and parts2 == parts
    for g, g2 in zip(grads, grads2, strict=True):
        assert torch.equal(g, g2)


def test_loss_with_a_missing_row_equals_the_loss_without_it(lv_dataset):
    tr = lv_dataset[0]
    keep = np.ones(tr.n_samples, bool)
    keep[[7, 50]] = False
    x = tr.x.copy()
    x[~keep] = np.nan
    with pytest.warns(DataWarning, match=r"dropped 2 rows"):
        gappy = Dataset.from_arrays(tr.t, x, states=lv_dataset.states)
    cut = Dataset.from_arrays(tr.t[keep], tr.x[keep], states=lv_dataset.states)
    nf = NeuralField(width=8, max_epochs=0, pretrain_epochs=0, quiet=True).fit(cut)
    la, ga = loss_and_grads(nf, gappy, gradient="direct", window=8)
    lb, gb = loss_and_grads(nf, cut, gradient="direct", window=8)
    assert la == lb
    for k in ga:
        np.testing.assert_array_equal(ga[k], gb[k])


def test_neural_field_fits_data_with_gaps(simulated):
    full = simulated("lotka-volterra", noise=0.01, seed=0).subset([0])
    truth = simulated("lotka-volterra", seed=0)[0].x
    ds = _with_gaps(full, 0.2, seed=5)
    errors = []
    for data in (full, ds):
        nf = NeuralField(width=16, max_epochs=20, pretrain_epochs=50, quiet=True).fit(data)
        assert nf.n_epochs_ > 0
        for key in ("loss", "val_loss", "continuity"):
            assert np.isfinite(nf.history_[key]).all(), key
        assert all(np.isfinite(s).all() for s in nf.smoothed_)
        errors.append(np.median(np.abs(nf.smoothed_[0] - truth), axis=0))
    again = nf.smoothed(ds)
    assert np.isfinite(again[0]).all() and again[0].shape == ds[0].x.shape
    # 20% missing costs little: denoised states about as close to the truth
    assert (errors[1] < 1.5 * errors[0]).all(), errors


def test_neural_field_with_a_state_missing_in_whole_trajectories(lv_dataset):
    a, b = lv_dataset[0], lv_dataset[1]
    xa, xb = a.x.copy(), b.x.copy()
    xa[:, 1] = np.nan  # trajectory a measures x only, b measures y only
    xb[:, 0] = np.nan
    ds = Dataset.from_arrays([a.t, b.t], [xa, xb], states=lv_dataset.states)
    nf = NeuralField(width=8, max_epochs=5, pretrain_epochs=20, quiet=True).fit(ds)
    assert np.isnan(nf.pretrain_loss_)  # no time where both states are known: no warm start
    assert np.isfinite(nf.history_["loss"]).all() and len(nf.history_["loss"]) == 5
    assert all(np.isfinite(s).all() for s in nf.smoothed_)


# -------------------------------------------------------- refit, selection
def _lv_system():
    x, y = state_symbols(("x", "y"))
    return CompiledSystem(("x", "y"), [(0, x), (0, x * y), (1, x * y), (1, y)])


def test_shooting_residuals_drop_missing_entries_exactly(lv_dataset):
    tr = lv_dataset[0]
    gappy = Trajectory(tr.t, _gappy(tr.x, 0.2, seed=6), tr.name)
    full, holes = segments([tr], 40), segments([gappy], 40)
    system, sigma, guard = _lv_system(), np.array([1.0, 2.0]), Guard.around(tr.x)
    par, opts = Parametrisation.linear(4), {"rtol": 1e-8, "method": "DOP853"}
    pf = _Residuals(system, full, sigma, guard, par, None, opts)
    pg = _Residuals(system, holes, sigma, guard, par, None, opts)
    z = np.concatenate([LV_TRUE, np.array([s.start for s in full]).ravel()])
    rf, jf = pf.evaluate(z)
    rg, jg = pg.evaluate(z)
    seen = np.concatenate([np.isfinite(s.x).ravel() for s in holes])
    assert pg.n_res == int(seen.sum()) == rg.size < rf.size
    np.testing.assert_array_equal(rg, rf[seen])
    np.testing.assert_array_equal(jg, jf[seen])
    np.testing.assert_array_equal(pg.state, np.tile([0, 1], tr.n_samples)[seen])


def test_start_guesses_skip_missing_values():
    t = np.linspace(0.0, 1.0, 12)
    x = np.c_[1 + t, 2 - t]
    x[0, 0] = np.nan
    x[:, 1] = np.nan
    x[9, 1] = 5.0
    s = smoothed_state(Trajectory(t, x), 0)
    assert s[0] == pytest.approx(1.0, abs=1e-12)  # quadratic through the observed values
    assert s[1] == 5.0  # the nearest observation in time
    other = Trajectory(t, np.c_[1 + t, np.full(12, np.nan)])
    segs = segments([other, Trajectory(t, np.c_[1 + t, 3 + 0 * t])], None)
    assert segs[0].start[1] == 3.0  # never observed in its trajectory: the median elsewhere


def test_refine_with_missing_values(lv_dataset):
    ds = _with_gaps(lv_dataset, 0.2, seed=7)
    fit = refine({"x": "1.0*x - 0.45*x*y", "y": "0.11*x*y - 0.36*y"}, ds)
    assert fit.success, fit.message
    coef = {(s, str(t)): c for (s, t), c in zip(fit.terms, fit.coefficients, strict=True)}
    assert coef == pytest.approx(LV_COEF, rel=0.02)
    assert np.isfinite(fit.stderr).all() and (fit.stderr > 0).all()
    n_seen = sum(np.isfinite(tr.x).sum(axis=0) for tr in ds)
    np.testing.assert_array_equal(fit.n_observed, n_seen)
    assert fit.n_samples == n_seen.max() < ds.n_samples
    assert np.isfinite(fit.rss).all()


def test_select_model_with_missing_values(lv_dataset):
    p = sysid.load_problem("lotka-volterra")
    x = np.concatenate([tr.x for tr in lv_dataset])
    fronts = distill(x, p.rhs(0, x.T).T, p.states)
    model, report = select_model(fronts, _with_gaps(lv_dataset, 0.2, seed=8), time_limit=20.0)
    assert report.winner is not None
    coef = {(t.state, str(t.term)): t.coefficient for t in model.terms}
    assert coef == pytest.approx(LV_COEF, rel=0.01)


def test_select_model_when_a_state_is_measured_only_late(lv_dataset):
    p = sysid.load_problem("lotka-volterra")
    tr = lv_dataset[0]
    x = tr.x.copy()
    x[:170, 1] = np.nan  # y only in the last 15%: the held-out windows would take it all
    data = Dataset.from_arrays(tr.t, x, states=p.states)
    fronts = distill(tr.x, p.rhs(0, tr.x.T).T, p.states)
    model, report = select_model(fronts, data, time_limit=10.0)
    best = report.candidates[report.winner]
    assert best.holdout_rmse == best.train_rmse  # nothing held out: the training fit stands in
    assert {(t.state, str(t.term)) for t in model.terms} == set(LV_COEF)


def test_graybox_fit_with_partial_missing_values():
    t = np.linspace(0.0, 6.0, 40)
    sol = solve_ivp(
        lambda _, v: [-0.5 * v[0], 0.5 * v[0] - 0.3 * v[1]],
        (0.0, 6.0),
        [2.0, 1.0],
        t_eval=t,
        rtol=1e-11,
        atol=1e-12,
    )
    truth = sol.y.T
    x = _gappy(truth, 0.25, seed=9)
    x[0, 1] = np.nan  # the first observation of y is missing: guessed from the next one
    x[0, 0] = 2.0
    df = pd.DataFrame({"t": t, "x": x[:, 0], "y": x[:, 1]})
    res = fit_model({"x": "-a*x", "y": "a*x - b*y"}, df, parameters={"a": 0.3, "b": 0.5})
    assert res.success, res.message
    assert res.parameters["a"] == pytest.approx(0.5, rel=1e-4)
    assert res.parameters["b"] == pytest.approx(0.3, rel=1e-4)
    assert res.initial_states[0]["y"] == pytest.approx(1.0, rel=1e-4)


# -------------------------------------------------------------- end to end
def test_discover_lotka_volterra_with_20_percent_missing(fast_defaults):
    ds = sysid.simulate("lotka-volterra", noise=0.01, seed=0)
    rng = np.random.default_rng(0)
    xs = []
    for tr in ds:
        x = tr.x.copy()
        x[rng.random(x.shape) < 0.2] = np.nan
        xs.append(x)
    with pytest.warns(DataWarning, match=r"dropped \d+ rows where every state is missing"):
        gappy = Dataset.from_arrays([tr.t for tr in ds], xs, states=ds.states)
    result = sysid.discover(gappy, quiet=True)
    terms = {s: set() for s in ds.states}
    for term in result.model.terms:
        terms[term.state].add(str(term.term))
    assert terms == {"x": {"x", "x*y"}, "y": {"y", "x*y"}}
    coef = {(t.state, str(t.term)): t.coefficient for t in result.model.terms}
    assert coef == pytest.approx(LV_COEF, rel=0.02)


# ================================================================ units
# Column headers ``name [unit]`` carry units (issue #7, import).
UNITS_CSV = "trajectory,t [days],S [mM],P\na,0,1,5\na,1,2,4\na,2,3,3\n"


def test_split_unit():
    assert split_unit("S [mM]") == ("S", "mM")
    assert split_unit("  t [days] ") == ("t", "days")
    assert split_unit("rate [1/s]") == ("rate", "1/s")
    assert split_unit("x[1]") == ("x[1]", None)  # no space: part of the name
    assert split_unit("x []") == ("x", None)


def test_units_from_headers(write_file):
    ds = Dataset.from_csv(write_file("u.csv", UNITS_CSV))
    assert ds.states == ("S", "P")
    assert ds.units == {"S": "mM"}
    assert ds.time_unit == "days"


def test_names_match_without_units(write_file):
    path = write_file("u.csv", UNITS_CSV)
    ds = Dataset.from_csv(path, time_column="t", states=["S"])
    assert ds.states == ("S",) and ds.units == {"S": "mM"}
    assert Dataset.from_csv(path, time_column="t [days]", states=["S [mM]"]).states == ("S",)
    data = sysid.load_data(path, states=["P", "S"])
    assert data.states == ("P", "S")
    df = pd.DataFrame({"time [h]": [0.0, 1.0, 2.0], "x [m]": [1.0, 2.0, 4.0]})
    ds = Dataset.from_dataframe(df, time_column="time")
    assert (ds.states, ds.units, ds.time_unit) == (("x",), {"x": "m"}, "h")


def test_units_in_header_and_argument_must_agree(write_file):
    path = write_file("u.csv", UNITS_CSV)
    ok = Dataset.from_csv(path, units={"S": "mM", "P": "uM"}, time_unit="days")
    assert ok.units == {"S": "mM", "P": "uM"}
    with pytest.raises(
        DataError,
        match=r"the unit of 'S' is 'mM' in the column header but 'M' was given\. "
        r"Hint: drop one of them or make them agree",
    ):
        Dataset.from_csv(path, units={"S": "M"})
    with pytest.raises(DataError, match=r"the unit of 't' is 'days' in the column header but 's'"):
        Dataset.from_csv(path, time_unit="s")


def test_bad_unit_headers(write_file):
    with pytest.raises(DataError, match=r"columns 'x \[m\]' and 'x \[cm\]' both name 'x'"):
        Dataset.from_csv(write_file("d.csv", "t,x [m],x [cm]\n0,1,2\n1,2,3\n2,3,4\n"))
    dates = "date [hours],x\n2024-01-01,1\n2024-01-02,2\n2024-01-03,3\n"
    with pytest.raises(DataError, match=r"holds dates, which become days .* given as 'hours'"):
        Dataset.from_csv(write_file("dates.csv", dates), time_column="date")
    ds = Dataset.from_csv(
        write_file("years.csv", "year [years],x\n1900,1\n1901,2\n1902,4\n"), time_column="year"
    )
    assert ds.time_unit == "years" and ds.time_origin == "1900"
    np.testing.assert_array_equal(ds[0].t, [0.0, 1.0, 2.0])


def test_to_csv_units_in_header_round_trip(tmp_path, write_file):
    ds = Dataset.from_csv(write_file("u.csv", UNITS_CSV))
    plain, tagged = tmp_path / "plain.csv", tmp_path / "tagged.csv"
    ds.to_csv(plain)
    ds.to_csv(tagged, units_in_header=True)
    assert plain.read_text().splitlines()[0] == "trajectory,t,S,P"  # the default: plain names
    assert tagged.read_text().splitlines()[0] == "trajectory,t [days],S [mM],P"
    back = Dataset.from_csv(tagged)
    assert (back.units, back.time_unit, back.sha256()) == (ds.units, ds.time_unit, ds.sha256())
    assert Dataset.from_csv(plain).units == {}


def test_graybox_reads_unit_headers(write_file):
    t = np.linspace(0.0, 4.0, 20)
    rows = "\n".join(f"{ti:.17g},{2.0 * np.exp(-0.7 * ti):.17g}" for ti in t)
    path = write_file("decay.csv", "t [s],x [mol]\n" + rows + "\n")
    res = fit_model({"x": "-k*x"}, path, parameters={"k": 0.2})
    assert res.observed == ("x",)
    assert res.parameters["k"] == pytest.approx(0.7, rel=1e-5)
