"""Simulate a problem's true equations with scipy, with noise and irregular sampling.

Examples
--------
>>> from sysid import load_problem, simulate
>>> ds = simulate(load_problem("lotka-volterra"), noise=0.05, seed=1)
>>> ds.n_trajectories, ds[0].x.shape
(3, (200, 2))
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp
from scipy.optimize import brentq

from sysid.core.errors import ConfigError, SimulationError
from sysid.core.ode import MAX_EVALS, Guard, GuardTripped, guarded_solve
from sysid.core.options import check_seed_value
from sysid.core.renamed import renamed_keywords
from sysid.data.dataset import Dataset, Trajectory
from sysid.data.inputs import InputSignal, off_the_samples
from sysid.data.problems import Problem, load_problem

__all__ = ["NOISE_MODELS", "simulate", "sample_times", "integrate", "switch_times"]

_RTOL = 1e-10
_ATOL = 1e-12
_BLOW_UP = 1e12
#: Functions whose value jumps (sign) or whose slope jumps (Abs) where their argument is 0.
_KINKED = (sp.sign, sp.Abs, sp.Heaviside)
#: Points of the scan for zeros of a switch's argument (then refined by brentq).
_SCAN = 20_000


#: How ``simulate`` scales its noise: by each state's spread, or by each value.
NOISE_MODELS = ("spread", "relative")


def _check_noise(noise: float) -> float:
    try:
        value = float(noise)
    except (TypeError, ValueError):
        raise ConfigError(
            f"noise must be a number, found {noise!r}", source="argument 'noise'"
        ) from None
    if not np.isfinite(value) or value < 0:
        raise ConfigError(
            f"noise must be a finite number >= 0, found {noise!r}",
            source="argument 'noise'",
            hint="0.05 means 5% of each state's standard deviation",
        )
    return value


def _check_span(t_span: object) -> tuple[float, float]:
    """``(start, end)``: two finite numbers with end > start."""
    try:
        start, end = (float(v) for v in t_span)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        start = end = float("nan")
    if not (np.isfinite(start) and np.isfinite(end) and end > start):
        raise ConfigError(
            f"t_span must have end > start, found {t_span!r}",
            source="argument 't_span'",
            hint="two finite numbers (start, end), e.g. (0.0, 10.0)",
        )
    return start, end


def _check_initial_conditions(values: object, n_states: int) -> np.ndarray:
    """Initial conditions as a finite (k, n_states) array."""
    try:
        ics = np.atleast_2d(np.asarray(values, dtype=float))
    except (TypeError, ValueError):
        raise ConfigError(
            f"initial conditions must be numbers, found {values!r}",
            source="argument 'initial_conditions'",
            hint=f"one row of {n_states} numbers per trajectory",
        ) from None
    if ics.ndim == 2 and ics.size and not np.isfinite(ics).all():
        i, j = (int(v) for v in np.argwhere(~np.isfinite(ics))[0])
        raise ConfigError(
            f"initial condition {i} holds the non-finite value {ics[i, j]} for state {j}",
            source="argument 'initial_conditions'",
            hint="give finite starting values",
        )
    return ics


def sample_times(
    t_span: tuple[float, float], n_samples: int, irregular: bool, rng: np.random.Generator
) -> np.ndarray:
    """Sample times in ``t_span``: evenly spaced, or sorted uniform draws starting at t0.

    Examples
    --------
    >>> import numpy as np
    >>> sample_times((0.0, 1.0), 3, False, np.random.default_rng(0))
    array([0. , 0.5, 1. ])
    """
    t0, t1 = t_span
    if not irregular:
        return np.linspace(t0, t1, n_samples)
    t = np.sort(rng.uniform(t0, t1, n_samples))
    t[0] = t0
    return t


def switch_times(exprs: list[sp.Expr], t_span: tuple[float, float]) -> np.ndarray:
    """Times in ``t_span`` where an expression of time alone switches.

    A switch is a zero of the argument of ``sign``, ``Abs`` or ``Heaviside``
    when that argument depends on ``t`` and nothing else (a heater switched
    by ``sign(sin(t))``): the right-hand side jumps or kinks there, and an
    adaptive solver can step over a short pulse without seeing it. Zeros are
    found by a scan of 20 000 points and refined by Brent's method; zeros
    closer than 1e-9 of the span are one switch. A function of the states is
    left to the solver.

    Examples
    --------
    >>> t = sp.Symbol("t", real=True)
    >>> switch_times([1 + sp.sign(sp.sin(t))], (0.0, 7.0)).round(6)
    array([3.141593, 6.283185])
    """
    t = sp.Symbol("t", real=True)
    args = {
        a.args[0]
        for e in exprs
        for a in sp.sympify(e).atoms(*_KINKED)
        if a.args[0].free_symbols == {t}
    }
    grid = np.linspace(float(t_span[0]), float(t_span[1]), _SCAN + 1)
    found: list[float] = []
    for arg in sorted(args, key=sp.default_sort_key):
        fn = sp.lambdify(t, arg, "numpy")
        v = np.broadcast_to(np.asarray(fn(grid), dtype=float), grid.shape)
        found.extend(grid[1:-1][v[1:-1] == 0])
        for i in np.flatnonzero(v[:-1] * v[1:] < 0):
            found.append(brentq(lambda s, fn=fn: float(fn(s)), grid[i], grid[i + 1], xtol=1e-14))
    out = np.unique(np.asarray(found, dtype=float))
    # zeros of several switches at one time, apart by roundoff, are one switch (the last)
    tol = 1e-9 * max(float(t_span[1] - t_span[0]), 1.0)
    return out[np.r_[np.diff(out) > tol, True]] if out.size else out


def integrate(
    problem: Problem,
    x0: np.ndarray,
    t: np.ndarray,
    *,
    max_evals: int = MAX_EVALS,
    trajectory: int = 0,
    holdout: bool = False,
    **deprecated: Any,
) -> np.ndarray:
    """Solve the true equations from ``x0``, returning states at times ``t`` (n, d).

    A problem with inputs is driven by the signals of its training (or, with
    ``holdout``, held-out) trajectory number ``trajectory``.

    DOP853 with tight tolerances first; LSODA (for stiff systems) if that runs
    out of evaluations or fails. Each try goes through the one guarded
    simulator (:func:`sysid.core.ode.guarded_solve`): at most ``max_evals``
    right-hand-side evaluations, and a blow-up when a state leaves its start
    value by more than 1e12 times its magnitude (at least 1). There is no wall
    limit: data must not depend on the machine's speed. ``max_evaluations``
    (the old name of ``max_evals``) still works, with a DeprecationWarning.
    The solver restarts at every switch of the inputs and equations in time
    (:func:`switch_times`), so a short pulse of a switched input is never
    stepped over.

    Raises
    ------
    SimulationError
        If the solver fails (blow-up, stiffness), naming the problem and start.

    Examples
    --------
    >>> import numpy as np
    >>> from sysid import load_problem
    >>> x = integrate(load_problem("logistic"), [50.0], np.array([0.0, 1.0]))
    >>> x.shape
    (2, 1)
    """
    renamed = renamed_keywords("integrate", deprecated, {"max_evaluations": "max_evals"})
    max_evals = int(renamed.get("max_evals", max_evals))
    t = np.asarray(t, dtype=float)
    x0 = np.asarray(x0, dtype=float)
    guard = Guard.around(
        x0[None, :],
        margin=_BLOW_UP,
        floor=1.0,
        least=1.0,
        max_evals=int(max_evals),
        simulation_time_limit=None,
    )
    span = (float(t[0]), float(t[-1]))
    if problem.input_names:
        k = trajectory if problem.inputs.per_trajectory(holdout) else 0
        rhs = problem.vector_field(k, holdout)
        exprs = [*problem.input_expressions(k, holdout).values()]
    else:
        rhs, exprs = problem.rhs, []
    breaks = switch_times([*exprs, *problem.true_equations().values()], span)
    reason = "unknown failure"
    for method in ("DOP853", "LSODA"):
        try:
            y = guarded_solve(
                rhs,
                span,
                x0,
                t,
                guard=guard,
                d=x0.size,
                names=problem.states,
                method=method,
                rtol=_RTOL,
                atol=_ATOL,
                breaks=breaks if breaks.size else None,
            )
        except GuardTripped as err:  # an explicit method may give up on a stiff system
            reason = err.reason
            if err.kind == "blow-up":
                break
            continue
        out = y.T.copy()
        out[0] = x0  # the start exactly (an implicit method may interpolate it)
        return out
    raise SimulationError(
        f"problem '{problem.name}': simulation from {list(map(float, x0))} failed "
        f"({reason}). Remedies: shorten t_span, check the signs of the equations, "
        "or choose initial conditions where the solution stays bounded"
    )


def _start_states(
    problem: Problem, initial_conditions: np.ndarray | None, holdout: bool
) -> tuple[np.ndarray, str]:
    """The initial conditions to simulate, and the prefix of the trajectories' names."""
    if initial_conditions is not None:
        ics = _check_initial_conditions(initial_conditions, problem.n_states)
        prefix = ""
    elif holdout:
        ics = problem.holdout_initial_conditions
        prefix = "holdout-"
    else:
        ics = problem.initial_conditions
        prefix = ""
    if ics.shape[0] == 0 or ics.shape[1] != problem.n_states:
        raise ConfigError(
            f"need initial conditions of shape (k, {problem.n_states}), found {ics.shape}",
            source=f"problem '{problem.name}'",
            hint="add holdout_initial_conditions to the problem file"
            if holdout
            else "give one value per state",
        )
    return ics, prefix


def simulate(
    problem: Problem | str,
    *,
    noise: float = 0.0,
    seed: int = 0,
    n_samples: int | None = None,
    irregular: bool = False,
    holdout: bool = False,
    initial_conditions: np.ndarray | None = None,
    t_span: tuple[float, float] | None = None,
    noise_model: str = "spread",
) -> Dataset:
    """Generate trajectories of a problem with scipy's ``solve_ivp``.

    Parameters
    ----------
    problem : Problem or str
        The system, or a problem name or file path.
    noise : float
        The noise level; see ``noise_model``.
    seed : int
        Seed of the random numbers (noise, irregular times). The same seed gives
        byte-identical data.
    n_samples : int, optional
        Samples per trajectory; default the problem's ``n_samples``.
    irregular : bool
        Sorted uniform random sample times (different per trajectory).
    holdout : bool
        Simulate the held-out initial conditions instead of the training ones.
    initial_conditions : array (k, d), optional
        Override the problem's initial conditions.
    t_span : (float, float), optional
        Override the problem's time span.
    noise_model : {"spread", "relative"}
        ``"spread"`` (default): Gaussian noise with standard deviation ``noise``
        times each state's standard deviation over the clean trajectories.
        ``"relative"``: ``x + noise * x * eps`` with ``eps`` standard normal, so
        each value's noise is in proportion to the value (the convention of
        several papers on symbolic regression of dynamical systems).

    Returns
    -------
    Dataset
        Trajectories named ``"0", "1", ...`` (``"holdout-0", ...`` for held-out ones).

    Examples
    --------
    >>> ds = simulate("sir", n_samples=50, irregular=True, seed=3)
    >>> bool((ds[0].t[1:] > ds[0].t[:-1]).all())
    True
    """
    problem = load_problem(problem)
    noise = _check_noise(noise)
    if noise_model not in NOISE_MODELS:
        raise ConfigError(
            f"unknown noise_model {noise_model!r}",
            source="argument 'noise_model'",
            hint=f"choose from {list(NOISE_MODELS)}",
        )
    n = problem.n_samples if n_samples is None else n_samples
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 3:
        raise ConfigError(
            f"n_samples must be an integer >= 3, found {n_samples!r}",
            source="argument 'n_samples'",
        )
    check_seed_value(seed, "argument 'seed'")
    for name, flag in (("irregular", irregular), ("holdout", holdout)):
        if not isinstance(flag, (bool, np.bool_)):
            raise ConfigError(
                f"{name} must be True or False, found {flag!r}", source=f"argument '{name}'"
            )
    span = problem.t_span if t_span is None else _check_span(t_span)
    ics, prefix = _start_states(problem, initial_conditions, holdout)
    # Independent streams: held-out data do not change the training data of a seed.
    rng = np.random.default_rng([int(seed), 1 if holdout else 0])
    times = [sample_times(span, int(n), irregular, rng) for _ in range(ics.shape[0])]
    _check_input_count(problem, ics.shape[0], holdout)
    clean = [
        integrate(problem, x0, t, trajectory=k, holdout=holdout)
        for k, (x0, t) in enumerate(zip(ics, times, strict=True))
    ]
    if noise > 0 and noise_model == "relative":
        clean = [x + noise * x * rng.standard_normal(x.shape) for x in clean]
    elif noise > 0:
        scale = np.concatenate(clean, axis=0).std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        clean = [x + noise * scale * rng.standard_normal(x.shape) for x in clean]
    trajs = [
        Trajectory(t, x, f"{prefix}{k}") for k, (t, x) in enumerate(zip(times, clean, strict=True))
    ]
    return Dataset(
        trajs,
        problem.states,
        time_unit=problem.time_unit,
        units=dict(problem.units),
        source=f"simulate({problem.name})",
        inputs=input_signals(problem, times, holdout),
    )


def _check_input_count(problem: Problem, n: int, holdout: bool) -> None:
    """Inputs given per trajectory need one signal per simulated start."""
    if not problem.input_names or not problem.inputs.per_trajectory(holdout):
        return
    have = len(next(iter(problem.inputs.table(holdout).values())))
    if have != n:
        raise ConfigError(
            f"problem '{problem.name}' gives its inputs per trajectory ({have}), "
            f"but {n} starts are simulated",
            source="argument 'initial_conditions'",
            hint="simulate as many starts as the problem file has signals",
        )


def input_signals(
    problem: Problem, times: list[np.ndarray], holdout: bool
) -> list[InputSignal] | None:
    """The inputs of each simulated trajectory at its sample ``times``, or None without inputs.

    Exact values of the problem's expressions (no noise: inputs are set, not
    estimated), trajectory ``k`` of the training (or held-out) set. A held
    input (``input_interpolation = "hold"``) that switches between the
    samples is also logged at each switch (:func:`switch_times`) with the
    value it switches to, as a logger of the switches records it; in a data
    file these are rows with the inputs and no state value.
    """
    if not problem.input_names:
        return None
    t = sp.Symbol("t", real=True)
    each = problem.inputs.per_trajectory(holdout)
    hold = problem.inputs.interpolation == "hold"
    out = []
    for k, tk in enumerate(times):
        exprs = problem.input_expressions(k if each else 0, holdout)
        fns = [sp.lambdify(t, e, "numpy") for e in exprs.values()]
        at, read = tk, tk
        if hold and tk.size > 1:
            at, read = _with_switches(tk, switch_times([*exprs.values()], (tk[0], tk[-1])))
        u = np.column_stack([np.broadcast_to(f(read), read.shape) for f in fns]).astype(float)
        out.append(InputSignal(problem.input_names, at, u, problem.inputs.interpolation))
    return out


def _with_switches(t: np.ndarray, switches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sample times ``t`` with the switches among them, and where to read each.

    A switch closer than roundoff to a sample is that sample. A time at a
    switch is read midway to the next time: the value it switches to, which
    a held signal keeps until then.
    """
    tol = 1e-9 * max(float(t[-1] - t[0]), 1.0)
    at = np.union1d(t, switches[off_the_samples(switches, t)])
    near = np.zeros(at.size, dtype=bool)
    if switches.size:
        k = np.clip(np.searchsorted(switches, at), 0, switches.size - 1)
        gap = np.minimum(np.abs(switches[k] - at), np.abs(switches[np.maximum(k - 1, 0)] - at))
        near = gap <= tol
    near[-1] = False  # the last sample has no next time; it is read where it is
    read = at.copy()
    read[near] = (at[near] + at[np.flatnonzero(near) + 1]) / 2
    return at, read
