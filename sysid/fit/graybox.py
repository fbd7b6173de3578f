"""Known-structure ("gray-box") fitting: the user's equations, unknown parameters.

The user writes the model's right-hand sides with named unknown parameters
(``{"S": "-beta*S*I/N", ...}``), says which states are measured and which
initial values are known, and :func:`fit_model` estimates the parameters (and
the unknown initial values) through the ODE solver. States that are not
observed are simulated and need no data column.

:func:`fit_model` is a front end of the one fitting engine
(:mod:`sysid.fit.engine`): it checks the arguments
(:mod:`sysid.fit._graybox_options`), states the problem in the engine's terms
(an :class:`~sysid.core.ode.ExpressionSystem`, one segment per trajectory
starting at its ``t0``, parameters in log space or scaled, bounds) and turns
the engine's fit and covariance into a :class:`GrayBoxResult`. Uncertainty
follows the engine's covariance rule (forward-sensitivity Jacobian, a noise
variance per observed state, delta method through the log transform);
derived quantities such as ``beta/gamma`` get delta-method standard errors
from :meth:`GrayBoxResult.derived`.

Examples
--------
>>> import numpy as np
>>> from sysid.fit.graybox import fit_model
>>> t = np.linspace(0.0, 4.0, 30)
>>> res = fit_model({"x": "-k*x"}, (t, 2.0 * np.exp(-0.7 * t)), parameters={"k": 1.0},
...                 columns={"x": "x0"})
>>> round(res.parameters["k"], 4), round(res.initial_states[0]["x"], 4)
(0.7, 2.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import sympy as sp

from sysid.core.ode import (
    MAX_EVALS,
    SIMULATION_TIME_LIMIT,
    ExpressionSystem,
    Guard,
    GuardTripped,
    batch_inputs,
    simulate_batch,
)
from sysid.core.renamed import renamed_keywords
from sysid.fit._graybox_options import Spec, check_options, prepare
from sysid.fit._graybox_result import DerivedQuantity, GrayBoxResult, _quantile
from sysid.fit.engine import Covariance, Fit, Parametrisation, Segment, covariance, fit

__all__ = ["fit_model", "GrayBoxResult", "DerivedQuantity"]


# --------------------------------------------------------------------------- main entry
#: Old keyword names of :func:`fit_model` and their new words.
_RENAMED = {"total_time": "time_limit", "blowup": "margin"}
_RENAMED_NOTES = {
    "total_time": "wall seconds of the whole fit",
    "blowup": "the box is now each state's range widened by `margin` ranges",
}


def fit_model(
    equations: Mapping[str, str],
    data: Any,
    *,
    parameters: Mapping[str, float],
    observed: Sequence[str] | None = None,
    initial_state: Mapping[str, float | None] | Sequence[Mapping[str, float | None]] | None = None,
    initial_guess: Mapping[str, float] | None = None,
    fixed: Mapping[str, float] | None = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    columns: Mapping[str, str] | None = None,
    t0: float | Sequence[float] | None = None,
    log_parameters: str | bool | Sequence[str] = "auto",
    time_column: str = "t",
    trajectory_column: str | None = "trajectory",
    inputs: Sequence[str] | None = None,
    interpolation: str = "linear",
    seed: int = 0,
    n_starts: int = 1,
    method: str = "DOP853",
    rtol: float = 1e-8,
    max_nfev: int = 200,
    max_evals: int = MAX_EVALS,
    simulation_time_limit: float = SIMULATION_TIME_LIMIT,
    margin: float = 1e6,
    time_limit: float | None = None,
    **deprecated: Any,
) -> GrayBoxResult:
    """Fit the unknown parameters of a model with known structure through the ODE solver.

    Parameters
    ----------
    equations : dict state -> str
        Right-hand sides ``d(state)/dt``, e.g. ``{"S": "-beta*S*I/N", ...}``. Parsed
        safely (:func:`sysid.core.expressions.parse_equation`): only states, parameters,
        fixed constants, ``t`` and whitelisted functions are allowed.
    data : CSV path, DataFrame, Dataset or ``(t, x)`` arrays
        The measurements; one or several trajectories (trajectory id column).
    parameters : dict name -> float
        Every unknown parameter with an initial guess.
    observed : list of str, optional
        States measured in ``data`` (default: every state that has a column).
        The other states are simulated only; they need no column.
    initial_state : dict state -> float or None, or a list of such dicts (one per trajectory)
        Known initial values at ``t0``; a missing state or ``None`` is estimated.
    initial_guess : dict state -> float, optional
        Starting values of estimated initial states (default: the first
        measured value for observed states, skipping missing ones; required for
        unobserved ones).
    fixed : dict name -> float, optional
        Known constants (e.g. ``{"N": 763}``).
    bounds : dict name -> (lo, hi), optional
        Bounds of parameters (``-inf``/``inf`` allowed).
    columns : dict state -> column name, optional
        Data column of each observed state when it differs from the state's name
        (e.g. ``{"I": "in_bed"}``). For ``(t, x)`` arrays the columns are ``x0, x1, ...``.
    t0 : float or list of float, optional
        Where the simulation starts (per trajectory); default the first sample
        time. May be earlier (e.g. day 0 of an epidemic whose data begin on day 1).
    log_parameters : "auto", bool or list of str
        Which parameters are fitted as ``log(p)``. ``"auto"`` (default): those
        with a positive guess and no negative lower bound. Log space keeps rates
        positive and makes the fit scale-free; its intervals are positive.
    time_column, trajectory_column
        How to read a CSV file or DataFrame.
    inputs : list of str, optional
        Exogenous input columns (docs/contract.md#inputs): measured signals the
        equations use by name, read between samples by ``interpolation``
        (``"linear"``, ``"hold"`` or ``"cubic"``). A Dataset brings its own inputs.
    interpolation : {"linear", "hold", "cubic"}
    seed : int
        Seeds the perturbed restarts (``n_starts > 1``).
    n_starts : int
        Number of starts; the first is the guess, the others perturb it
        (log-normal, 50%) and the best fit wins.
    method, rtol
        ``solve_ivp`` method and relative tolerance.
    max_nfev : int
        Most least-squares function evaluations per start (Jacobian evaluations
        not counted).
    max_evals, simulation_time_limit, margin
        The guard of every simulation (:mod:`sysid.core.ode`): most right-hand-side
        evaluations, most wall seconds of one simulation, and the box: a state
        more than ``margin`` times its range (at least its largest magnitude, over
        the data and the initial values) outside that range is a blow-up. A trial
        point whose simulation fails is rejected and the fit continues; failures
        are counted in the result.
    time_limit : float, optional
        Wall seconds for the whole fit. When they run out, the best point
        evaluated so far is reported (``success`` False), as after Ctrl-C.
    **deprecated
        ``total_time`` (now ``time_limit``) and ``blowup`` (now ``margin``) still
        work, with a DeprecationWarning.

    Returns
    -------
    GrayBoxResult

    Notes
    -----
    The residuals are ``(simulated - observed) / spread`` per observed state
    (spread: its standard deviation over the data), so states in different
    units weigh alike; missing values (NaN) are skipped. The fit and its
    covariance are those of the one fitting engine (:mod:`sysid.fit.engine`):
    the Jacobian comes from forward sensitivities, each observed state has its
    own noise variance, and the delta method maps log-space errors to the
    parameters (``se(p) = p * se(log p)``). Unknowns in a (nearly) flat
    direction of the fit make the result ``identifiable=False`` with infinite
    standard errors. Ctrl-C during the fit returns the best point evaluated so
    far (``success=False``).

    Examples
    --------
    >>> import numpy as np
    >>> t = np.linspace(0.0, 10.0, 40)
    >>> x = np.c_[np.cos(1.5 * t)]                     # only the position is measured
    >>> res = fit_model({"q": "v", "v": "-w**2*q"}, (t, x), parameters={"w": 1.3},
    ...                 columns={"q": "x0"}, initial_state={"q": 1.0, "v": 0.0})
    >>> round(res.parameters["w"], 4)
    1.5
    """
    new = renamed_keywords("fit_model", deprecated, _RENAMED, notes=_RENAMED_NOTES)
    time_limit = new.get("time_limit", time_limit)
    margin = new.get("margin", margin)
    check_options(
        seed=seed,
        n_starts=n_starts,
        max_nfev=max_nfev,
        max_evals=max_evals,
        rtol=rtol,
        time_limit=time_limit,
        simulation_time_limit=simulation_time_limit,
        margin=margin,
        method=method,
    )
    spec = prepare(
        equations,
        data,
        parameters=parameters,
        observed=observed,
        initial_state=initial_state,
        initial_guess=initial_guess,
        fixed=fixed,
        bounds=bounds,
        columns=columns,
        t0=t0,
        log_parameters=log_parameters,
        time_column=time_column,
        trajectory_column=trajectory_column,
        inputs=inputs,
        interpolation=interpolation,
    )
    guard_kw = {"max_evals": int(max_evals), "simulation_time_limit": float(simulation_time_limit)}
    prob = _EngineProblem(spec, float(margin), guard_kw)
    res = _engine_fit(prob, spec, seed, n_starts, rtol, method, max_nfev, time_limit)
    run = _simulator(prob, float(rtol), method)
    if not res.ok:
        why = f"the initial guess could not be simulated ({res.message}); try other guesses, "
        return _failed_result(spec, res, why + "bounds, or method='LSODA'", str(time_column))
    return _result(spec, prob, res, covariance(res), run, time_limit, str(time_column))


def _engine_fit(
    prob: _EngineProblem,
    spec: Spec,
    seed: int,
    n_starts: int,
    rtol: float,
    method: str,
    max_nfev: int,
    time_limit: float | None,
) -> Fit:
    """The engine's fit from the guesses and ``n_starts - 1`` log-normal perturbations."""
    theta0 = np.array(list(spec.guesses.values()))
    rng = np.random.default_rng(int(seed))
    extra = [theta0 * np.exp(0.5 * rng.standard_normal(theta0.size)) for _ in range(n_starts - 1)]
    return fit(
        prob.system,
        prob.segs,
        prob.sigma,
        prob.guard,
        theta0,
        param=prob.param,
        theta_starts=extra,
        rtol=float(rtol),
        method=method,
        max_nfev=int(max_nfev),
        time_limit=None if time_limit is None else float(time_limit),
        keep_on_interrupt=True,
    )


class _EngineProblem:
    """A gray-box problem in the engine's terms: system, segments, weights, guard, parameters."""

    def __init__(self, spec: Spec, margin: float, guard_kw: dict[str, Any]):
        states, params = spec.states, list(spec.guesses)
        subs = {sp.Symbol(k, real=True): sp.Float(v) for k, v in spec.fixed.items()}
        self.system = ExpressionSystem(
            states, [spec.exprs[s].subs(subs) for s in states], params, inputs=spec.inputs
        )
        self.signals = spec.ds.inputs or [None] * len(spec.t_data)
        d = len(states)
        self.obs_idx = [states.index(s) for s in spec.obs]
        all_y = np.concatenate(spec.y_data, axis=0)
        self.spread = np.array([_spread(all_y[:, j]) for j in range(len(spec.obs))])
        self.sigma = np.ones(d)
        self.sigma[self.obs_idx] = self.spread
        self.segs = []
        for k, (t, y) in enumerate(zip(spec.t_data, spec.y_data, strict=True)):
            x = np.full((t.size, d), np.nan)
            x[:, self.obs_idx] = y
            start = np.array([spec.known[k].get(s, np.nan) for s in states])
            free = np.isnan(start)
            for v, (kk, s) in zip(spec.x0_start, spec.x0_free, strict=True):
                if kk == k:
                    start[states.index(s)] = v
            seg = Segment(k, spec.t0s[k], t - spec.t0s[k], x, start, free, self.signals[k])
            self.segs.append(seg)
        points = np.vstack([*(s.x for s in self.segs), *(s.start[None, :] for s in self.segs)])
        self.guard = Guard.around(points, margin=margin, floor=1.0, **guard_kw)
        is_log = np.array([p in spec.logs for p in params])
        guess = np.array([spec.guesses[p] for p in params])
        lo = np.array([spec.bounds.get(p, (-np.inf, np.inf))[0] for p in params])
        hi = np.array([spec.bounds.get(p, (-np.inf, np.inf))[1] for p in params])
        scale = np.where(is_log, 1.0, np.maximum(np.abs(guess), 1e-8))
        self.param = Parametrisation(is_log, scale, lo, hi)


def _spread(y: np.ndarray) -> float:
    """A state's weight: its standard deviation, else its largest magnitude (at least 1)."""
    sd = float(np.nanstd(y))
    return sd if sd > 0 else max(float(np.nanmax(np.abs(y))), 1.0)


def _simulator(prob: _EngineProblem, rtol: float, method: str):
    """The fitted model's guarded simulator ``(theta, x0, t0, t) -> x (n, d)``."""

    def run(theta: np.ndarray, x0: np.ndarray, t0: float, t: np.ndarray, k: int = 0) -> np.ndarray:
        tau = np.asarray(t, dtype=float) - t0
        xs, _, _ = simulate_batch(
            prob.system,
            theta,
            np.asarray(x0, dtype=float)[None, :],
            np.maximum(tau, 0.0),
            guard=prob.guard,
            rtol=rtol,
            method=method,
            t_start=t0,
            inputs=batch_inputs([prob.signals[k]], [t0]),
        )
        return xs[0]

    return run


def _result(
    spec: Spec,
    prob: _EngineProblem,
    res: Fit,
    cov: Covariance,
    run: Any,
    time_limit: float | None,
    time_column: str,
) -> GrayBoxResult:
    """The :class:`GrayBoxResult` of a fit that simulated."""
    params = list(spec.guesses)
    p = len(params)
    theta = res.theta
    q = _quantile(cov.dof)
    se_z = np.sqrt(np.clip(np.diag(cov.cov_z), 0.0, None))
    intervals = {}
    for i, name in enumerate(params):
        if prob.param.log[i]:
            with np.errstate(over="ignore"):  # an unidentifiable rate: the interval is (0, inf)
                intervals[name] = (
                    float(theta[i] * np.exp(-q * se_z[i])),
                    float(theta[i] * np.exp(q * se_z[i])),
                )
        else:
            intervals[name] = (
                float(theta[i] - q * cov.stderr[i]),
                float(theta[i] + q * cov.stderr[i]),
            )
    init_se: list[dict[str, float]] = [{} for _ in spec.t_data]
    names = list(params)
    for j, (k, s) in enumerate(spec.x0_free):
        init_se[k][s] = float(cov.stderr[p + j])
        names.append(f"{s}(t0)[traj {k}]")
    trajs, rms = _curves(spec, prob, res, run)
    r = res.residuals
    return GrayBoxResult(
        states=spec.states,
        observed=spec.obs,
        equations=spec.exprs,
        parameters={n: float(v) for n, v in zip(params, theta, strict=True)},
        stderr={n: float(cov.stderr[i]) for i, n in enumerate(params)},
        intervals=intervals,
        log_parameters=spec.logs,
        fixed=spec.fixed,
        initial_states=[
            {s: float(v) for s, v in zip(spec.states, x0, strict=True)} for x0 in res.x0
        ],
        initial_stderr=init_se,
        t0=spec.t0s,
        covariance=cov.cov,
        covariance_names=names,
        trajectories=trajs,
        rms=rms,
        rms_normalised=float(np.sqrt(np.mean(r**2))),
        success=res.success and not res.stopped,
        message=_message(spec, prob, res, cov, time_limit),
        nfev=res.nfev,
        n_failed_simulations=res.n_failed,
        failures=[
            f"{dict(zip(params, th.round(6).tolist(), strict=True))}: {why}"
            for th, why in res.failures
        ],
        dof=cov.dof,
        identifiable=cov.identifiable,
        columns={s: spec.cols.get(s, s) for s in spec.obs},
        time_unit=spec.ds.time_unit,
        time_column=time_column,
        _simulator=run,
    )


def _message(
    spec: Spec, prob: _EngineProblem, res: Fit, cov: Covariance, time_limit: float | None
) -> str:
    """What happened, in words: convergence, stops, identifiability, bounds."""
    if res.stopped == "time":
        message = (
            f"stopped by time_limit={time_limit:g} s: the best point evaluated so far is reported"
        )
    elif res.stopped == "interrupted":
        message = "interrupted (Ctrl-C): the best point evaluated so far is reported"
    else:
        message = res.message
        if not res.success:
            message += "; try a larger max_nfev or better initial guesses"
    if not cov.identifiable:
        message += (
            "; the unknowns are not identifiable from these data (the Jacobian is rank "
            "deficient): fix some parameters, give known initial values, or observe more "
            "states; standard errors are reported as inf"
        )
    params = list(spec.guesses)
    z_lo, z_hi = prob.param.z_bounds()
    z = res.z[: len(params)]
    at_bound = [
        name
        for i, name in enumerate(params)
        if np.isclose(z[i], z_lo[i], rtol=0, atol=1e-6)
        or np.isclose(z[i], z_hi[i], rtol=0, atol=1e-6)
    ]
    if at_bound:
        message += (
            f"; parameter(s) {at_bound} ended at a bound: their standard errors and "
            "intervals are unreliable (widen the bounds if the model allows)"
        )
    return message


def _curves(
    spec: Spec, prob: _EngineProblem, res: Fit, run: Any
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Fitted curves at the data times and on a dense grid, and the RMS per observed state."""
    trajs, acc = [], [[] for _ in spec.obs]
    d = len(spec.states)
    for k, (t, y) in enumerate(zip(spec.t_data, spec.y_data, strict=True)):
        try:
            x = run(res.theta, res.x0[k], spec.t0s[k], t, k)
        except GuardTripped:
            x = np.full((t.size, d), np.nan)
        t_dense = np.linspace(spec.t0s[k], float(t[-1]), 400)
        try:
            x_dense = run(res.theta, res.x0[k], spec.t0s[k], t_dense, k)
        except GuardTripped:
            x_dense = None
        for j, si in enumerate(prob.obs_idx):
            m = np.isfinite(y[:, j])
            acc[j].append(x[m, si] - y[m, j])
        trajs.append(
            {
                "name": spec.ds[k].name,
                "t": t,
                "x": x,
                "data": y,
                "t_dense": t_dense,
                "x_dense": x_dense,
            }
        )
    rms = {s: float(np.sqrt(np.mean(np.concatenate(acc[j]) ** 2))) for j, s in enumerate(spec.obs)}
    return trajs, rms


def _failed_result(spec: Spec, res: Fit, message: str, time_column: str) -> GrayBoxResult:
    """A result for a fit that could not start: the guesses, NaN errors, the reason."""
    n_traj = len(spec.t_data)
    init = []
    for k in range(n_traj):
        x0 = {s: spec.known[k].get(s, math.nan) for s in spec.states}
        for v, (kk, s) in zip(spec.x0_start, spec.x0_free, strict=True):
            if kk == k:
                x0[s] = float(v)
        init.append(x0)
    n = len(spec.guesses) + len(spec.x0_free)
    d = len(spec.states)
    return GrayBoxResult(
        states=spec.states,
        observed=spec.obs,
        equations=spec.exprs,
        parameters=dict(spec.guesses),
        stderr={p: math.nan for p in spec.guesses},
        intervals={p: (math.nan, math.nan) for p in spec.guesses},
        log_parameters=spec.logs,
        fixed=spec.fixed,
        initial_states=init,
        initial_stderr=[{s: math.nan for kk, s in spec.x0_free if kk == k} for k in range(n_traj)],
        t0=spec.t0s,
        covariance=np.full((n, n), math.nan),
        covariance_names=list(spec.guesses) + [f"{s}(t0)[traj {k}]" for k, s in spec.x0_free],
        trajectories=[
            {
                "name": spec.ds[k].name,
                "t": t,
                "x": np.full((t.size, d), math.nan),
                "data": y,
                "t_dense": None,
                "x_dense": None,
            }
            for k, (t, y) in enumerate(zip(spec.t_data, spec.y_data, strict=True))
        ],
        rms={s: math.nan for s in spec.obs},
        rms_normalised=math.nan,
        success=False,
        message=message,
        nfev=res.nfev,
        n_failed_simulations=res.n_failed,
        failures=[],
        dof=0,
        columns={s: spec.cols.get(s, s) for s in spec.obs},
        time_unit=spec.ds.time_unit,
        time_column=time_column,
        _simulator=None,
    )
