"""Is the answer to be trusted? Checks of a discovered model against its data, and a verdict.

:func:`diagnose` simulates the chosen equations from their fitted starts over
every trajectory and reports, in the ``diagnostics`` block of ``result.json``:

* ``r2``: simulated R^2 per state and over all states, on all data, and
  ``holdout_r2`` on the selection's held-out part (the last
  ``holdout_fraction`` of each trajectory, cut as the selection cuts it,
  :func:`~sysid.select.holdout.n_training`: the winner was chosen without it,
  its final constants were refitted on all data);
* ``window_r2``: simulated R^2 per state over windows of ``WINDOW`` samples,
  each from a start fitted with the constants fixed (the selection's own
  held-out test): when it is good while the whole-trajectory R^2 is not, the
  model follows the data over short horizons and drifts over long ones
  (chaos, several equilibria, constants a little off), a doubtful finding
  rather than a poor one;
* ``residuals``: per state, the bias (mean residual over the state's spread)
  and the Ljung-Box test of the residuals' autocorrelation (statsmodels'
  ``acorr_ljungbox``, 10 lags or fewer): small p-values mean structure the
  model misses;
* ``constants``: each constant's significance ``|c| / stderr``, and the
  largest correlation between two constants (identifiability);
* ``data``: what the data cannot support: a single observed state that rises
  and falls (no one-state autonomous ODE can), a fitted start outside the
  data's range, a state that barely moves;
* with an ensemble (:func:`~sysid.select.ensemble.run_ensemble`), a chosen
  term that fewer than half of its members choose, or a term most of them
  choose that the model lacks, makes the structure doubtful;
* ``verdict``: ``"good"``, ``"doubtful"`` or ``"poor"``, with each reason
  and a remedy in plain words.

The thresholds are one set for every problem (constants below); nothing here
reads a true equation.

Examples
--------
>>> import numpy as np
>>> import sysid
>>> ds = sysid.simulate("logistic", n_samples=40, seed=0)
>>> law = sysid.SymbolicModel.from_equations(["N"], {"N": "0.5*N - 0.005*N**2"})
>>> d = diagnose(law, ds)
>>> d["verdict"], round(d["r2"]["all"], 4)
('good', 1.0)
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sysid.core.errors import SysidError
from sysid.core.ode import CompiledSystem, Guard, GuardTripped
from sysid.data.dataset import Dataset
from sysid.data.trajectory import Trajectory
from sysid.fit._graybox_result import GrayBoxResult
from sysid.fit.shooting import data_scales, simulate_windows
from sysid.select.holdout import n_training
from sysid.symbolic.model import SymbolicModel

__all__ = ["diagnose", "diagnose_fit", "VERDICTS"]

VERDICTS = ("good", "doubtful", "poor")

#: Simulated R^2 below which the fit is poor, and below which it is doubtful.
POOR_R2 = 0.5
GOOD_R2 = 0.9
#: Ljung-Box p-value below which residuals count as autocorrelated, when their
#: size is above ``RESIDUAL_FLOOR`` of the state's spread (solver-level residuals
#: of clean data are always correlated and say nothing).
LJUNG_BOX_P = 1e-3
RESIDUAL_FLOOR = 0.05
#: |c| / stderr below which a constant is not distinguishable from zero.
SIGNIFICANCE = 2.0
#: |correlation| above which two constants cannot be told apart by the data, when
#: one of them is also within ``CORRELATED_SIGNIFICANCE`` standard errors of zero.
MAX_CORRELATION = 0.999
CORRELATED_SIGNIFICANCE = 10.0
#: A fitted start this far (in spreads) outside the data's range is implausible.
START_MARGIN = 0.25
#: A state whose range is below this fraction of its typical size barely moves.
MIN_MOTION = 1e-3
#: Samples per window of the short-horizon R^2 (the selection's ``segment_points``).
WINDOW = 20
#: A single state that rises and falls by this fraction of its range is not monotone.
TURN = 0.2
#: A chosen term with an ensemble inclusion probability below this, or a term not
#: chosen above it, is unstable; judged only when at least ``MIN_MEMBERS`` finished.
INCLUSION = 0.5
MIN_MEMBERS = 4


def diagnose(
    model: SymbolicModel,
    data: Dataset,
    *,
    initial_states: Sequence[Sequence[float]] | None = None,
    correlation: Sequence[Sequence[float]] | None = None,
    holdout_fraction: float = 0.25,
    ensemble: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``diagnostics`` block of a model fitted to ``data`` (see the module docstring).

    Parameters
    ----------
    model : SymbolicModel
        The chosen equations (with standard errors when known).
    data : Dataset
        The data they were fitted to.
    initial_states : (n_trajectories, d), optional
        Fitted starts; default each trajectory's first sample.
    correlation : (p, p), optional
        Correlation matrix of the model's constants, in the order of its terms.
    holdout_fraction : float
        The held-out last part of each trajectory.
    ensemble : dict, optional
        The ``ensemble`` block of the same run, for the stability of the terms.
    """
    sims = _simulate(model, data, initial_states)
    reasons: list[dict[str, str]] = []
    out: dict[str, Any] = {
        "r2": _r2(data, sims, 0.0),
        "holdout_r2": _r2(data, sims, holdout_fraction),
        "window_r2": _window_r2(model, data),
        "residuals": _residuals(data, sims),
    }
    out["constants"] = _constants(model, correlation)
    out["data"] = _support(data, initial_states)
    reasons += _fit_reasons(out, sims)
    reasons += _constant_reasons(out["constants"])
    reasons += out["data"].pop("reasons")
    reasons += _ensemble_reasons(ensemble)
    worst = max((VERDICTS.index(r["level"]) for r in reasons), default=0)
    out["verdict"] = VERDICTS[worst]
    out["reasons"] = reasons
    return out


def diagnose_fit(result: GrayBoxResult) -> dict[str, Any]:
    """The ``diagnostics`` block of a gray-box fit (:func:`sysid.fit_model`, ``sysid fit``).

    The checks of :func:`diagnose` on the observed states: R^2 of the fitted
    simulation, the residuals' bias and autocorrelation, each unknown constant's
    significance and their largest correlation, the data's support, and the
    fit's own state (converged, identifiable). There is no held-out part (the
    structure was given, not chosen) and no ensemble.

    Examples
    --------
    >>> import numpy as np
    >>> from sysid.fit.graybox import fit_model
    >>> t = np.linspace(0.0, 4.0, 30)
    >>> res = fit_model({"x": "-k*x"}, (t, 2.0 * np.exp(-0.7 * t)),
    ...                 parameters={"k": 1.0}, columns={"x": "x0"})
    >>> diagnose_fit(res)["verdict"]
    'good'
    """
    data = Dataset(
        [Trajectory(tr["t"], tr["data"], name=tr["name"]) for tr in result.trajectories],
        states=result.observed,
    )
    cols = [result.states.index(s) for s in result.observed]
    sims = [tr["x"][:, cols] if np.isfinite(tr["x"]).all() else None for tr in result.trajectories]
    out: dict[str, Any] = {"r2": _r2(data, sims, 0.0), "residuals": _residuals(data, sims)}
    starts = [[x0[s] for s in result.observed] for x0 in result.initial_states]
    out["constants"] = _fit_constants(result)
    out["data"] = _support(data, starts)
    reasons = _fit_reasons({**out, "holdout_r2": {}}, sims)
    reasons += _constant_reasons(out["constants"])
    reasons += [  # a hidden state is what a gray-box model with several states is for
        r
        for r in out["data"].pop("reasons")
        if len(result.states) == 1 or r["code"] != "hidden_state"
    ]
    if not result.identifiable:
        reasons.append(
            _reason(
                "doubtful",
                "unidentifiable",
                "some combination of the unknowns does not change the fit: their standard "
                "errors are infinite",
                "fix one of them at a known value (parameters=), or measure another state",
            )
        )
    if not result.success:
        reasons.append(
            _reason(
                "doubtful",
                "not_converged",
                f"the fit did not converge: {result.message}",
                "give a longer time limit, other start guesses, or more starts (--starts)",
            )
        )
    worst = max((VERDICTS.index(r["level"]) for r in reasons), default=0)
    out["verdict"] = VERDICTS[worst]
    out["reasons"] = reasons
    return out


def _fit_constants(result: GrayBoxResult) -> dict[str, Any]:
    """Each unknown's significance and the largest correlation between two of them."""
    names = list(result.parameters)
    terms = [
        {"name": n, "significance": _significance(result.parameters[n], result.stderr[n])}
        for n in names
    ]
    cov = np.asarray(result.covariance, dtype=float)[: len(names), : len(names)]
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(np.diag(cov))
        corr = cov / np.outer(sd, sd)
    usable = len(names) > 1 and np.isfinite(corr).any()
    return {"terms": terms, **_largest_correlation(corr if usable else None, names)}


# ----------------------------------------------------------- simulations
def _simulate(
    model: SymbolicModel, data: Dataset, starts: Sequence[Sequence[float]] | None
) -> list[np.ndarray | None]:
    """The model's states at each trajectory's sample times (None where it fails)."""
    sims: list[np.ndarray | None] = []
    for k, tr in enumerate(data):
        x0 = np.asarray(starts[k], dtype=float) if starts is not None else _first(tr.x)
        try:
            sims.append(np.asarray(model.simulate(x0, tr.t, inputs=tr.inputs)))
        except SysidError:
            sims.append(None)
    return sims


def _first(x: np.ndarray) -> np.ndarray:
    """Each state's first measured value (missing values skipped)."""
    return np.array([col[np.isfinite(col)][0] for col in x.T])


def _r2(data: Dataset, sims: list[np.ndarray | None], last: float) -> dict[str, float | None]:
    """R^2 (clipped at 0) per state and over all, on the last ``last`` of each trajectory."""
    if any(s is None for s in sims):
        return {**dict.fromkeys(data.states), "all": None}
    obs, fit = [], []
    for tr, sim in zip(data, sims, strict=True):
        start = n_training(len(tr.t), last) if last > 0 else 0
        obs.append(tr.x[start:])
        fit.append(sim[start:])
    y, f = np.concatenate(obs), np.concatenate(fit)
    _, x_all = data.stacked()
    out: dict[str, float | None] = {}
    for j, s in enumerate(data.states):
        ok = np.isfinite(y[:, j])
        var = np.nanvar(x_all[:, j])  # the state's spread over all data
        if ok.sum() < 2 or var == 0:
            out[s] = None
            continue
        out[s] = float(max(0.0, 1.0 - float(np.mean((y[ok, j] - f[ok, j]) ** 2)) / var))
    vals = [v for v in out.values() if v is not None]
    out["all"] = float(np.mean(vals)) if vals else None
    return out


def _window_r2(model: SymbolicModel, data: Dataset) -> dict[str, float | None] | None:
    """R^2 (clipped at 0) per state over windows of ``WINDOW`` samples, starts fitted.

    None when the windows cannot be simulated.
    """
    states = data.states
    sigma, x_all = data_scales(data)
    try:
        fit = simulate_windows(
            CompiledSystem(
                states, [(states.index(t.state), t.term) for t in model.terms], data.input_names
            ),
            list(data.trajectories),
            sigma,
            Guard.around(x_all, margin=5.0, simulation_time_limit=10.0),
            np.array([t.coefficient for t in model.terms], dtype=float),
            segment_points=WINDOW,
            rtol=1e-6,
            time_limit=20.0,
        )
    except (GuardTripped, SysidError, ArithmeticError, ValueError):
        return None  # the whole-trajectory checks stand alone
    rss, n = fit.rss(sigma)
    var = np.nanvar(x_all, axis=0)
    out: dict[str, float | None] = {}
    for j, s in enumerate(states):
        ok = n[j] >= 2 and var[j] > 0
        out[s] = float(max(0.0, 1.0 - rss[j] / n[j] / var[j])) if ok else None
    return out


def _residuals(data: Dataset, sims: list[np.ndarray | None]) -> dict[str, Any]:
    """Per state: bias and size in spreads, Ljung-Box p-value of the residuals."""
    if any(s is None for s in sims):
        return {}
    from statsmodels.stats.diagnostic import acorr_ljungbox

    _, x_all = data.stacked()
    out: dict[str, Any] = {}
    for j, s in enumerate(data.states):
        spread = float(np.nanstd(x_all[:, j])) or 1.0
        pieces = [(tr.x[:, j] - sim[:, j]) / spread for tr, sim in zip(data, sims, strict=True)]
        r = np.concatenate([p[np.isfinite(p)] for p in pieces])
        p_value = None
        if r.size >= 8 and np.std(r) > 0:
            lags = max(1, min(10, r.size // 5))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                p_value = float(acorr_ljungbox(r, lags=[lags])["lb_pvalue"].iloc[0])
        out[s] = {
            "bias": float(np.mean(r)) if r.size else None,
            "rms": float(np.sqrt(np.mean(r**2))) if r.size else None,
            "ljung_box_p": p_value,
        }
    return out


# ------------------------------------------------------------- constants
def _constants(
    model: SymbolicModel, correlation: Sequence[Sequence[float]] | None
) -> dict[str, Any]:
    terms = [
        {
            "state": t.state,
            "term": str(t.term),
            "significance": _significance(float(t.coefficient), 0.0 if t.fixed else t.stderr),
        }
        for t in model.terms
    ]
    c = np.asarray(correlation if correlation is not None else [], dtype=float)
    usable = c.ndim == 2 and c.shape == (len(terms), len(terms)) and len(terms) > 1
    return {"terms": terms, **_largest_correlation(c if usable else None, terms)}


def _significance(value: float, stderr: float | None) -> float | None:
    """``|value| / stderr``; inf for an exact constant, None when the error is unknown."""
    if stderr is None:
        return None
    if np.isfinite(stderr) and stderr > 0:
        return abs(float(value)) / float(stderr)
    return float("inf") if stderr == 0 else None


def _largest_correlation(c: np.ndarray | None, labels: Sequence[Any]) -> dict[str, Any]:
    """The largest off-diagonal ``|c|`` and the two constants it joins (None without ``c``)."""
    if c is None:
        return {"max_correlation": None, "between": None}
    off = np.abs(c - np.diag(np.diag(c)))
    off[~np.isfinite(off)] = 0.0
    i, j = np.unravel_index(int(np.argmax(off)), off.shape)
    name = [x if isinstance(x, str) else _label(x) for x in labels]
    return {"max_correlation": float(off[i, j]), "between": [name[i], name[j]]}


def _label(term: Mapping[str, Any]) -> str:
    """``dx/dt: x*y``: a constant named by its equation and term (or by its name)."""
    return term["name"] if "name" in term else f"d{term['state']}/dt: {term['term']}"


# ---------------------------------------------------------------- reasons
def _reason(level: str, code: str, message: str, remedy: str) -> dict[str, str]:
    return {"level": level, "code": code, "message": message, "remedy": remedy}


def _fit_reasons(out: Mapping[str, Any], sims: list[np.ndarray | None]) -> list[dict[str, str]]:
    if any(s is None for s in sims):
        return [
            _reason(
                "poor",
                "simulation_failed",
                "the equations cannot be simulated over the data (blow-up or solver failure)",
                "try more or longer trajectories, or a smaller library",
            )
        ]
    reasons = []
    windows = out.get("window_r2") or {}
    drifting: set[str] = set()
    for key, part in (("r2", "all data"), ("holdout_r2", "the held-out part")):
        for s, v in out[key].items():
            if s == "all" or v is None or v >= GOOD_R2:
                continue
            if (windows.get(s) or 0.0) >= GOOD_R2:
                drifting.add(s)
                continue
            level = "poor" if v < POOR_R2 else "doubtful"
            reasons.append(
                _reason(
                    level,
                    "low_r2" if key == "r2" else "low_holdout_r2",
                    f"simulated '{s}' explains {100 * v:.0f}% of its variance on {part}",
                    "a state or a term is likely missing: check the notes on the data, "
                    "measure more states, or fit a known structure (sysid.fit_model)",
                )
            )
    if drifting:
        names = ", ".join(f"'{s}' ({100 * windows[s]:.0f}%)" for s in sorted(drifting))
        reasons.append(
            _reason(
                "doubtful",
                "drifts_over_long_horizons",
                f"over windows of {WINDOW} samples the model explains most of the variance of "
                f"{names}, over whole trajectories much less: it follows the data over short "
                "horizons and drifts over long ones (chaos, several equilibria, or constants a "
                "little off)",
                "trust short-horizon predictions; for long ones, check the prediction band "
                "(result.forecast) and add trajectories from other starts",
            )
        )
    for s, info in out["residuals"].items():
        p, rms = info["ljung_box_p"], info["rms"]
        if p is not None and p < LJUNG_BOX_P and rms is not None and rms > RESIDUAL_FLOOR:
            reasons.append(
                _reason(
                    "doubtful",
                    "correlated_residuals",
                    f"the residuals of '{s}' are autocorrelated (Ljung-Box p = {p:.2g}, "
                    f"size {rms:.2g} of its spread): the model misses a systematic part",
                    "look at the trajectory figure for where the model departs from the data",
                )
            )
    return reasons


def _constant_reasons(constants: Mapping[str, Any]) -> list[dict[str, str]]:
    reasons = []
    weak = [
        f"{_label(t)} ({t['significance']:.2g})"
        for t in constants["terms"]
        if t["significance"] is not None and t["significance"] < SIGNIFICANCE
    ]
    if weak:
        reasons.append(
            _reason(
                "doubtful",
                "insignificant_constants",
                f"constants within {SIGNIFICANCE:g} standard errors of zero: " + "; ".join(weak),
                "the data do not pin these terms down: more or longer trajectories, "
                "less noise, or a simpler model",
            )
        )
    rho = constants["max_correlation"]
    # The standard errors already carry the correlation: a correlated pair whose
    # constants are both well determined (gompertz's N and N*log(N)) is no fault.
    sig = {_label(t): t["significance"] for t in constants["terms"]}
    pair = [sig.get(n) for n in constants["between"] or ()]
    loose = any(v is not None and v < CORRELATED_SIGNIFICANCE for v in pair)
    if rho is not None and rho > MAX_CORRELATION and loose:
        a, b = constants["between"]
        reasons.append(
            _reason(
                "doubtful",
                "unidentifiable",
                f"the constants of '{a}' and '{b}' are correlated at {rho:.4f}: the data "
                "cannot tell them apart",
                "add trajectories from other initial conditions that excite both terms",
            )
        )
    return reasons


def _ensemble_reasons(ensemble: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """Terms the ensemble's members do not agree on."""
    if not ensemble or ensemble.get("finished", 0) < MIN_MEMBERS:
        return []
    n = ensemble["finished"]
    unsure = []
    for s, rows in ensemble["terms"].items():
        for r in rows:
            if r["chosen"] and r["inclusion"] < INCLUSION:
                unsure.append(f"'{r['term']}' of d{s}/dt, chosen by {r['inclusion']:.0%} of them")
            elif not r["chosen"] and r["inclusion"] > INCLUSION:
                unsure.append(
                    f"'{r['term']}' in d{s}/dt, left out but chosen by {r['inclusion']:.0%}"
                )
    if not unsure:
        return []
    return [
        _reason(
            "doubtful",
            "unstable_structure",
            f"the selection on {n} random halves of the data disagrees on terms: "
            + "; ".join(unsure),
            "the data do not settle these terms: more or longer trajectories, other initial "
            "conditions, or less noise; result.json's ensemble block lists the alternatives",
        )
    ]


def _support(data: Dataset, starts: Sequence[Sequence[float]] | None) -> dict[str, Any]:
    """What the data can support: monotonicity, plausible starts, states that move."""
    _, x_all = data.stacked()
    lo, hi = np.nanmin(x_all, axis=0), np.nanmax(x_all, axis=0)
    reasons: list[dict[str, str]] = []
    # Driven by inputs (or the clock), one state may rise and fall without a hidden one.
    turns = (
        data.n_states == 1 and not data.inputs and any(_rises_and_falls(tr.x[:, 0]) for tr in data)
    )
    if turns:
        s = data.states[0]
        reasons.append(
            _reason(
                "poor",
                "hidden_state",
                f"the one observed state '{s}' rises and falls; no autonomous one-state "
                "ODE can do that, so an unobserved state is likely",
                "fit a known structure with a hidden compartment, e.g. SIR with only "
                f"'{s}' observed: a model file with observed = ['{s}'] and 'sysid fit "
                "MODEL.toml DATA.csv' (examples/influenza_sir.toml does this)",
            )
        )
    outside = []
    for k, x0 in enumerate(starts or []):
        for j, s in enumerate(data.states):
            span = hi[j] - lo[j]
            if not lo[j] - START_MARGIN * span <= x0[j] <= hi[j] + START_MARGIN * span:
                outside.append(f"'{s}' of trajectory {data[k].name} starts at {x0[j]:.3g}")
    if outside:
        reasons.append(
            _reason(
                "doubtful",
                "start_outside_data",
                "fitted starts far outside the data's range: " + "; ".join(outside[:3]),
                "the equations bend the start to fit later data: a state or a term is "
                "likely missing",
            )
        )
    still = [
        s
        for j, s in enumerate(data.states)
        if hi[j] - lo[j] < MIN_MOTION * max(abs(hi[j]), abs(lo[j]), 1e-300)
    ]
    if still:
        reasons.append(
            _reason(
                "doubtful",
                "state_barely_moves",
                f"state(s) {still} barely move: their equations rest on noise",
                "start trajectories away from equilibrium, or leave those states out (--states)",
            )
        )
    return {"rises_and_falls": bool(turns), "reasons": reasons}


def _rises_and_falls(x: np.ndarray) -> bool:
    """Does ``x`` go up and then down (or down and up) by ``TURN`` of its range?

    Judged on the means of up to 8 consecutive blocks of samples, so that noise
    on a monotone curve (10% near a flat end) does not count as a turn.
    """
    x = x[np.isfinite(x)]
    if x.size < 5:
        return False
    x = np.array([b.mean() for b in np.array_split(x, min(8, x.size // 2))])
    span = float(x.max() - x.min())
    if span == 0:
        return False
    peak, dip = int(np.argmax(x)), int(np.argmin(x))
    up_down = x[peak] - x[0] > TURN * span and x[peak] - x[-1] > TURN * span
    down_up = x[0] - x[dip] > TURN * span and x[-1] - x[dip] > TURN * span
    return bool(up_down or down_up)
