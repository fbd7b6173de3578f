"""Compare identified equations with a known truth (docs/contract.md#score).

Structure recovered means: after ``sympy.expand``, each right-hand side has
exactly the true set of terms (monomials / function terms), no more, no fewer.
The coefficient error is the largest relative error over the true terms (a
missing true term counts as 100 %). The held-out R^2 compares the identified
model's simulation from the problem's held-out initial conditions with the
clean truth.

Examples
--------
>>> import sympy as sp
>>> x, y = sp.symbols("x y")
>>> truth = {"x": 1.1*x - 0.4*x*y, "y": 0.1*x*y - 0.4*y}
>>> found = {"x": "1.1*x - 0.404*x*y", "y": "0.1*x*y - 0.4*y"}
>>> s = compare_equations(found, truth)
>>> s["structure_recovered"], round(s["max_coefficient_relative_error"], 4)
(True, 0.01)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import sympy as sp

from sysid.core.compare import compare_with_constants, term_shapes
from sysid.core.errors import ConfigError, DataError, EquationError
from sysid.core.expressions import parse_equation
from sysid.data.dataset import Dataset
from sysid.data.problems import Problem
from sysid.data.simulation import input_signals, integrate, sample_times

__all__ = [
    "term_coefficients",
    "compare_equations",
    "holdout_r2",
    "inclusion_of_truth",
    "simulated_r2",
    "score",
]


def _plain(expr: sp.Expr) -> sp.Expr:
    """Replace every symbol by a plain one of the same name (assumptions differ)."""
    return expr.xreplace({s: sp.Symbol(s.name) for s in expr.free_symbols})


def _as_expr(value: Any, states: list[str], where: str) -> sp.Expr:
    if isinstance(value, sp.Basic):
        return _plain(value)
    return _plain(parse_equation(str(value), states, source=where))


def term_coefficients(expr: sp.Expr, tol: float = 0.0) -> dict[sp.Expr, float]:
    """Terms of an expanded expression and their numeric coefficients.

    Terms with ``|coefficient| <= tol`` are dropped.

    Examples
    --------
    >>> x = sp.Symbol("x")
    >>> term_coefficients(sp.sympify("2*x*(x - 1) + 3"))
    {1: 3.0, x: -2.0, x**2: 2.0}
    """
    expanded = sp.expand(_plain(sp.sympify(expr)))
    out: dict[sp.Expr, float] = {}
    for term, coef in expanded.as_coefficients_dict().items():
        if not coef.is_number:  # pragma: no cover - defensive
            raise EquationError(f"coefficient {coef} of {term} is not a number")
        value = float(coef)
        if abs(value) > tol:
            out[term] = out.get(term, 0.0) + value
    return dict(sorted(out.items(), key=lambda kv: sp.default_sort_key(kv[0])))


def compare_equations(
    found: Mapping[str, Any], truth: Mapping[str, Any], tol: float = 1e-12
) -> dict[str, Any]:
    """Structure and coefficient comparison of two systems of equations.

    Parameters
    ----------
    found, truth : mapping state -> sympy expression or string
        Right-hand sides keyed by state name.
    tol : float
        Coefficients at most this large (absolute) count as absent.

    Returns
    -------
    dict
        ``structure_recovered``, ``max_coefficient_relative_error``, and
        ``per_state`` details (missing and extra terms, errors).

    Notes
    -----
    When a side has numbers inside its terms (``S/(Km + S)`` with ``Km`` a
    number, ``exp(0.5*x)``), terms are matched by shape and the inner
    constants count as coefficients (:func:`sysid.core.compare.compare_with_constants`):
    ``-1.5*S/(S + 2.0)`` and ``-3*S/(2*S + 4)`` are the same law.

    Examples
    --------
    >>> r = compare_equations({"S": "-1.49*S/(S + 2.02)"}, {"S": "-1.5*S/(2.0 + S)"})
    >>> r["structure_recovered"], round(r["max_coefficient_relative_error"], 3)
    (True, 0.01)
    """
    states = list(truth)
    missing_states = [s for s in states if s not in found]
    if missing_states:
        raise EquationError(
            f"no equation for state(s) {missing_states}",
            source="score",
            hint="give one equation per state of the problem",
        )
    exprs = {
        **{("found", s): _as_expr(found[s], states, f"found equation of {s}") for s in states},
        **{("truth", s): _as_expr(truth[s], states, f"true equation of {s}") for s in states},
    }
    if any(_has_inner_numbers(e) for e in exprs.values()):
        return compare_with_constants(
            {s: exprs["found", s] for s in states}, {s: exprs["truth", s] for s in states}
        )
    per_state = {}
    all_ok = True
    worst = 0.0
    for s in states:
        f_terms = term_coefficients(exprs["found", s], tol)
        t_terms = term_coefficients(exprs["truth", s], tol)
        missing = [str(k) for k in t_terms if k not in f_terms]
        extra = [str(k) for k in f_terms if k not in t_terms]
        errors = {str(k): abs(f_terms.get(k, 0.0) - c) / abs(c) for k, c in t_terms.items()}
        ok = not missing and not extra
        all_ok &= ok
        state_worst = max(errors.values(), default=0.0)
        worst = max(worst, state_worst)
        per_state[s] = {
            "structure_recovered": ok,
            "missing_terms": missing,
            "extra_terms": extra,
            "max_coefficient_relative_error": state_worst,
        }
    return {
        "structure_recovered": bool(all_ok),
        "max_coefficient_relative_error": float(worst),
        "per_state": per_state,
    }


def inclusion_of_truth(
    ensemble: Mapping[str, Any],
    truth: Mapping[str, sp.Expr | str],
    inputs: Sequence[str] = (),
) -> dict[str, float | None]:
    """The ensemble's inclusion probabilities of the true terms and of the others.

    Terms are matched as the scorer matches them (:func:`~sysid.core.compare.term_shapes`:
    expanded, numbers such as ``log(50)`` evaluated, rational terms as partial
    fractions), over the systems the members chose (``ensemble["structures"]``).

    Parameters
    ----------
    ensemble : mapping
        The ``ensemble`` block of a result (``DiscoveryResult.ensemble``).
    truth : mapping state -> expression
        The true right-hand sides.
    inputs : sequence of str
        Names of exogenous inputs the equations may use.

    Returns
    -------
    dict
        ``true_min``: the smallest inclusion probability of a true term (0 for
        a true term no member chose); ``false_max``: the largest of a term not
        in the truth (0 when there is none). None when no member finished.

    Examples
    --------
    >>> block = {"finished": 4, "structures": [
    ...     {"members": 3, "equations": {"x": "-0.49*x"}},
    ...     {"members": 1, "equations": {"x": "-0.5*x + 0.01*x**2"}}]}
    >>> inclusion_of_truth(block, {"x": "-0.5*x"})
    {'true_min': 1.0, 'false_max': 0.25}
    """
    if not ensemble or not ensemble.get("finished"):
        return {"true_min": None, "false_max": None}
    states, n = list(truth), ensemble["finished"]
    names = [*states, *inputs]
    true_min, false_max = 1.0, 0.0
    for s in states:
        true = term_shapes(_plain(_as_expr(truth[s], names, f"true equation of {s!r}")), names)
        counts: dict[str, int] = {}
        for structure in ensemble["structures"]:
            for k in term_shapes(structure["equations"][s], names):
                counts[k] = counts.get(k, 0) + int(structure["members"])
        true_min = min([true_min, *(counts.get(k, 0) / n for k in true)])
        false_max = max([false_max, *(c / n for k, c in counts.items() if k not in true)])
    return {"true_min": true_min, "false_max": false_max}


def _has_inner_numbers(expr: sp.Expr) -> bool:
    """Whether an expanded term holds a non-integer number inside (a fitted inner constant)."""
    for term in sp.Add.make_args(sp.expand(expr)):
        _, rest = term.as_coeff_Mul()
        for a in sp.preorder_traversal(rest):
            if a.is_Float or (a.is_Rational and not a.is_Integer):
                return True
            if a.is_number and not a.is_Atom:  # log(50), exp(2): numbers written as functions
                return True
    return False


def holdout_r2(
    simulate_model: Callable[[np.ndarray, np.ndarray], np.ndarray],
    problem: Problem,
    *,
    n_samples: int | None = None,
) -> float:
    """R^2 of a model's simulation from the problem's held-out initial conditions.

    The truth is the clean simulation of the problem's equations on the
    regular grid; R^2 is computed per state (over all held-out trajectories)
    and averaged over states. A model whose simulation fails scores ``-inf``.

    Parameters
    ----------
    simulate_model : callable ``(x0, t) -> (len(t), d) array``
    problem : Problem
    n_samples : int, optional
        Grid size; default the problem's ``n_samples``.
    """
    ics = problem.holdout_initial_conditions
    held = ics.shape[0] > 0
    if not held:
        ics = problem.initial_conditions
    n = n_samples or problem.n_samples
    t = sample_times(problem.t_span, n, False, np.random.default_rng(0))
    signals = input_signals(problem, [t] * ics.shape[0], held)
    truths, preds = [], []
    for k, x0 in enumerate(ics):
        truths.append(integrate(problem, x0, t, trajectory=k, holdout=held))
        kw = {} if signals is None else {"inputs": signals[k]}
        try:
            pred = np.asarray(simulate_model(np.asarray(x0, float), t, **kw), dtype=float)
        except Exception:  # a failed simulation is a bad score, not a crash
            return float("-inf")
        if pred.shape != truths[-1].shape or not np.isfinite(pred).all():
            return float("-inf")
        preds.append(pred)
    return _r2(np.concatenate(truths), np.concatenate(preds))


def _r2(y: np.ndarray, yhat: np.ndarray) -> float:
    """R^2 per state (column) over the rows where ``y`` is measured, averaged over states.

    Missing values (NaN in ``y``) are left out; a state without spread counts
    its residual sum of squares alone.
    """
    seen = np.isfinite(y)
    y0 = np.where(seen, y, 0.0)
    counts = np.maximum(seen.sum(axis=0), 1)
    mean = y0.sum(axis=0) / counts
    ss_res = np.where(seen, (y0 - yhat) ** 2, 0.0).sum(axis=0)
    ss_tot = np.where(seen, (y0 - mean) ** 2, 0.0).sum(axis=0)
    ss_tot = np.where(ss_tot > 0, ss_tot, 1.0)
    return float(np.mean(1.0 - ss_res / ss_tot))


def simulated_r2(
    simulate_model: Callable[[np.ndarray, np.ndarray], np.ndarray], data: Dataset
) -> float:
    """R^2 of a model's simulation of measured trajectories, averaged over states.

    Each trajectory is simulated from its first sample where every state is
    measured, at its own sample times from there on; R^2 is computed per
    state over all trajectories (missing values left out). A model whose
    simulation fails scores ``-inf``.

    Parameters
    ----------
    simulate_model : callable ``(x0, t) -> (len(t), d) array``
    data : Dataset

    Examples
    --------
    >>> import sysid
    >>> from sysid.symbolic.model import SymbolicModel
    >>> data = sysid.simulate("logistic", n_samples=30, noise=0.01, seed=0)
    >>> truth = SymbolicModel.from_equations(["N"], sysid.load_problem("logistic").true_equations())
    >>> round(simulated_r2(truth.simulate, data), 3)
    1.0
    """
    truths, preds = [], []
    for tr in data.trajectories:
        full = np.flatnonzero(np.isfinite(tr.x).all(axis=1))
        if full.size == 0 or tr.n_samples - full[0] < 2:
            continue
        k = int(full[0])
        try:
            kw = {} if tr.inputs is None else {"inputs": tr.inputs}
            pred = np.asarray(simulate_model(tr.x[k].copy(), tr.t[k:], **kw), dtype=float)
        except Exception:  # a failed simulation is a bad score, not a crash
            return float("-inf")
        if pred.shape != tr.x[k:].shape or not np.isfinite(pred).all():
            return float("-inf")
        truths.append(tr.x[k:])
        preds.append(pred)
    if not truths:
        raise DataError(
            "no trajectory has a sample where every state is measured, followed by another",
            source=data.source or "data",
            hint="score needs a complete start state and at least two samples per trajectory",
        )
    return _r2(np.concatenate(truths), np.concatenate(preds))


def score(
    found: Mapping[str, Any],
    problem: Problem,
    simulate_model: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> dict[str, Any]:
    """The ``score`` block of ``result.json`` for equations found on a problem.

    Examples
    --------
    >>> from sysid import load_problem
    >>> p = load_problem("lotka-volterra")
    >>> s = score(p.true_equations(), p)
    >>> s["structure_recovered"], s["max_coefficient_relative_error"]
    (True, 0.0)
    """
    if not isinstance(problem, Problem):
        raise ConfigError(
            f"problem must be a Problem, found {type(problem).__name__}",
            source="score",
            hint="load it first: sysid.score(found, sysid.load_problem('lotka-volterra'))",
        )
    cmp = compare_equations(found, problem.true_equations())
    out: dict[str, Any] = {
        "structure_recovered": cmp["structure_recovered"],
        "max_coefficient_relative_error": cmp["max_coefficient_relative_error"],
        "holdout_r2": None,
        "truth": {s: str(e) for s, e in problem.true_equations().items()},
        "per_state": cmp["per_state"],
    }
    if simulate_model is not None:
        r2 = holdout_r2(simulate_model, problem)
        out["holdout_r2"] = r2 if np.isfinite(r2) else None
        if not np.isfinite(r2):
            out["holdout_error"] = "simulation of the identified model failed or blew up"
    return out
