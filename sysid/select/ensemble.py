"""Structural uncertainty: the model selection repeated on random parts of the data.

Each member of the ensemble keeps a random part of every trajectory's samples
(half by default, drawn without replacement, in time order) and chooses among
the main selection's best candidate systems (its winner and up to ``rivals - 1``
runners-up by score) by the selection's own rule: each system refitted through
the ODE solver on the member's training part, scored with its held-out part
(:func:`~sysid.select.selection.score_systems`). A term's *inclusion
probability* is the share of finished members whose chosen system has it; the
spread of its coefficient is taken over those members. Terms that no
candidate of the main run has get no probability: the ensemble measures how
firmly the data decide between the alternatives the distillation found.

Why half of the samples: for a statistic that is smooth in the data, its
spread over half-samples drawn without replacement matches its sampling
spread on the whole data (for a mean of ``n`` values of variance ``s2``:
``s2 / (n/2) * (1 - 1/2) = s2 / n``), so the members' constants spread about
as much as a fit to new data of the same size would. Members are independent
of each other and run in processes (joblib) where cores allow; the result does
not depend on how many, only on the seed (and on which members finished within
the time limit).
"""

from __future__ import annotations

import os
import time
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import sympy as sp

from sysid.core.compare import term_shape
from sysid.core.errors import SysidError
from sysid.core.options import MAX_SEED, check_int_value
from sysid.data.dataset import MIN_SAMPLES, Dataset, Trajectory
from sysid.select.options import Selection
from sysid.select.report import SelectionReport
from sysid.symbolic.model import SymbolicModel
from sysid.symbolic.sparse import Candidate

__all__ = [
    "failed_member",
    "half_sample",
    "model_member",
    "rivals",
    "run_ensemble",
    "summarize",
    "RESAMPLE",
    "RIVALS",
]

#: Candidate systems every member chooses among: the main winner and the best others,
#: those whose score is within ``RIVAL_MARGIN`` of the winner's. On half of the
#: data a score difference shrinks to about half; one of 100 (ten times the
#: selection's tie slack) is beyond what resampling turns around.
RIVALS = 8
RIVAL_MARGIN = 100.0

#: How a member's data are drawn, in words (``result.json``'s ``ensemble.resample``).
RESAMPLE = "a random {:.0%} of each trajectory's samples, without replacement"

#: Seconds an idle ensemble worker process lives (reused by the next run within it).
IDLE_WORKERS_S = 30.0

#: A trajectory with fewer samples than this is kept whole in every member.
_MIN_KEPT = 2 * MIN_SAMPLES


def half_sample(data: Dataset, fraction: float, rng: np.random.Generator) -> Dataset:
    """A random ``fraction`` of each trajectory's samples, in time order.

    A trajectory that would keep fewer than ``2 * MIN_SAMPLES`` samples is
    kept whole.

    Examples
    --------
    >>> import sysid
    >>> ds = sysid.simulate("logistic", n_samples=40, seed=0)
    >>> half = half_sample(ds, 0.5, np.random.default_rng(0))
    >>> [tr.n_samples for tr in half], bool(np.all(np.diff(half[0].t) > 0))
    ([20, 20, 20], True)
    """
    trajectories = []
    for tr in data.trajectories:
        k = int(round(fraction * tr.n_samples))
        if k < _MIN_KEPT:
            trajectories.append(tr)
            continue
        idx = np.sort(rng.choice(tr.n_samples, size=k, replace=False))
        trajectories.append(Trajectory(tr.t[idx], tr.x[idx], tr.name, tr.inputs))
    with warnings.catch_warnings():  # the full data's warnings were given already
        warnings.simplefilter("ignore")
        return replace(data, trajectories=trajectories, units=dict(data.units))


def rivals(report: SelectionReport, n: int = RIVALS) -> list[dict[str, Candidate]]:
    """The winner's system and up to ``n - 1`` others within ``RIVAL_MARGIN`` of its score."""
    scores = report.candidates
    top = scores[report.winner].score if report.winner is not None else np.inf
    ok = [
        i
        for i, c in enumerate(scores)
        if c.status == "ok" and i != report.winner and c.score <= top + RIVAL_MARGIN
    ]
    ok.sort(key=lambda i: scores[i].score)
    first = [] if report.winner is None else [report.winner]
    return [report.systems[i] for i in [*first, *ok][:n]]


def _terms(
    states: Sequence[str], terms: Sequence[tuple[str, sp.Expr, float]]
) -> dict[str, list[tuple[str, str, float]]]:
    """Each state's (state, term, coefficient) as (shape, label, coefficient), shapes masked."""
    out: dict[str, list[tuple[str, str, float]]] = {s: [] for s in states}
    for state, term, coef in terms:
        shape, norm, factor = term_shape(sp.sympify(term))
        label = norm.xreplace(  # readable: 4 digits, and v/(h + 4078.0), not v/(1.0*h + ...)
            {f: sp.Integer(1) if float(f) == 1.0 else sp.Float(f, 4) for f in norm.atoms(sp.Float)}
        )
        out[state].append((shape, str(label), float(coef) * factor))
    return out


def _member(
    systems: Sequence[Mapping[str, Candidate]],
    data: Dataset,
    index: int,
    fraction: float,
    seed: int,
    select_kwargs: Mapping[str, Any],
) -> dict[str, Any]:
    """One member: its half-sample, its choice among ``systems``, its terms (or why it failed)."""
    from sysid.select.selection import score_systems  # the members' entry point in a process

    rng = np.random.default_rng([seed, index])
    part = half_sample(data, fraction, rng)
    kwargs = {**select_kwargs, "seed": (seed + index + 1) % MAX_SEED}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            winner, scores, fits = score_systems(systems, part, **kwargs)
    except (SysidError, ArithmeticError, ValueError) as err:
        return failed_member(index, f"{type(err).__name__}: {err}")
    if winner is None:
        return failed_member(index, "every system failed: " + "; ".join(c.reason for c in scores))
    fit = fits[winner]
    terms = [(s, t, c) for (s, t), c in zip(fit.terms, fit.coefficients, strict=True)]
    rhs = {s: sp.Integer(0) for s in data.states}
    for s, t, c in terms:
        rhs[s] += sp.Float(c, 4) * t
    return {
        "member": index,
        "status": "ok",
        "equations": {s: str(e) for s, e in rhs.items()},
        "terms": _terms(data.states, terms),
    }


def _run_members(
    systems: Sequence[Mapping[str, Candidate]],
    data: Dataset,
    members: int,
    fraction: float,
    jobs: int,
    time_limit: float,
    seed: int,
    select_kwargs: Mapping[str, Any],
) -> tuple[list[dict[str, Any]], bool, bool]:
    """The members' results in order; whether the time ran out; whether Ctrl-C came."""
    deadline = time.perf_counter() + time_limit
    results: list[dict[str, Any]] = []
    out_of_time = False

    def limited(remaining: float) -> dict[str, Any]:
        return {**select_kwargs, "time_limit": min(select_kwargs["time_limit"], remaining)}

    try:
        if jobs == 1:
            for i in range(members):
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    out_of_time = True
                    break
                results.append(_member(systems, data, i, fraction, seed, limited(remaining)))
        else:
            from joblib import Parallel, delayed

            kwargs = limited(time_limit)
            # Idle workers end after IDLE_WORKERS_S (loky's default, 300 s, kept a process
            # that ran discover, such as a user's pool worker, from exiting for minutes).
            parallel = Parallel(
                n_jobs=jobs,
                return_as="generator",
                timeout=time_limit + 30.0,
                idle_worker_timeout=IDLE_WORKERS_S,
            )
            tasks = (
                delayed(_member)(systems, data, i, fraction, seed, kwargs) for i in range(members)
            )
            for result in parallel(tasks):
                results.append(result)
                if time.perf_counter() > deadline and len(results) < members:
                    out_of_time = True
                    break
    except KeyboardInterrupt:
        return results, out_of_time, True
    except TimeoutError:
        out_of_time = True
    return results, out_of_time, False


def run_ensemble(
    report: SelectionReport,
    data: Dataset,
    model: SymbolicModel,
    *,
    n_rivals: int = RIVALS,
    members: int = 8,
    fraction: float = 0.5,
    jobs: int | None = None,
    time_limit: float = 60.0,
    seed: int = 0,
    select_kwargs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Inclusion probability of each term and spread of its coefficient over an ensemble.

    Parameters
    ----------
    report : SelectionReport
        The main run's selection; every member chooses among its
        :func:`rivals`.
    data : Dataset
        The data of the main run.
    model : SymbolicModel
        The main run's chosen model; its terms are marked ``chosen``.
    n_rivals : int
        How many of the main run's systems the members choose among.
    members, fraction, jobs, time_limit, seed
        As :class:`~sysid.select.options.Selection`'s ``ensemble`` options.
    select_kwargs : dict, optional
        Keyword arguments of :func:`~sysid.select.selection.select_model` for
        every member (its ``seed`` is replaced per member; its ``time_limit``
        is capped by what is left of ``time_limit``).

    Returns
    -------
    dict
        The ``ensemble`` block of ``result.json`` (``docs/contract.md#result-json``):
        ``members``, ``finished``, ``failed``, ``resample``, ``seconds``,
        ``terms`` (per state: ``term``, ``shape`` (its numbers masked,
        :func:`~sysid.core.compare.term_shape`), ``chosen``, ``inclusion``,
        ``coefficient_median``, ``coefficient_q05``, ``coefficient_q95``),
        ``structures`` (distinct chosen systems and how many members chose
        each), ``chosen_structure`` (the share that chose the main run's),
        ``out_of_time`` and ``interrupted``.
    """
    start = time.perf_counter()
    check_int_value(members, "members", 1, "run_ensemble")
    Selection(  # the same checks as the options of SysID and discover
        ensemble=members,
        ensemble_fraction=fraction,
        ensemble_jobs=jobs,
        ensemble_time_limit=time_limit,
        seed=seed,
    )
    select_kwargs = {"time_limit": 60.0, **(select_kwargs or {})}
    n_jobs = min(members, jobs or os.cpu_count() or 1)
    systems = rivals(report, n_rivals)
    results, out_of_time, interrupted = _run_members(
        systems, data, members, fraction, n_jobs, time_limit, seed, select_kwargs
    )
    summary: dict[str, Any] = {
        "members": int(members),
        "resample": RESAMPLE.format(fraction),
        "fraction": float(fraction),
        "jobs": int(n_jobs),
        "rivals": len(systems),
        **summarize(model, results, systems),
        "out_of_time": bool(out_of_time),
        "interrupted": bool(interrupted),
        "seconds": round(time.perf_counter() - start, 3),
    }
    return summary


def failed_member(index: int, reason: str) -> dict[str, Any]:
    """A member that chose no system, and why (for :func:`summarize`)."""
    return {"member": index, "status": "failed", "reason": reason}


def model_member(index: int, model: SymbolicModel) -> dict[str, Any]:
    """A finished member whose choice is ``model`` (for :func:`summarize`)."""
    return {
        "member": index,
        "status": "ok",
        "equations": {s: str(e) for s, e in model.equations.items()},
        "terms": _terms(model.states, [(t.state, t.term, t.coefficient) for t in model.terms]),
    }


def summarize(
    model: SymbolicModel,
    results: Sequence[Mapping[str, Any]],
    systems: Sequence[Mapping[str, Candidate]] = (),
) -> dict[str, Any]:
    """``finished``, ``failed``, ``terms``, ``structures`` and ``chosen_structure`` of members.

    ``results`` are :func:`model_member` and :func:`failed_member` entries.
    Every term of the chosen ``model`` and of the ``systems`` offered to the
    members is listed, those no member chose with inclusion 0.
    """
    ok = [r for r in results if r["status"] == "ok"]
    failed = [{"member": r["member"], "reason": r["reason"]} for r in results if r not in ok]
    chosen = _terms(model.states, [(t.state, t.term, t.coefficient) for t in model.terms])
    offered = _terms(
        model.states,
        [
            (s, t, k)
            for sys_ in systems
            for s, c in sys_.items()
            for t, k in zip(c.terms, c.coefficients, strict=True)
        ],
    )
    n = len(ok)
    terms: dict[str, list[dict[str, Any]]] = {}
    for s in model.states:
        labels = {shape: label for shape, label, _ in chosen[s]}
        for shape, label, _ in offered[s]:
            labels.setdefault(shape, label)
        coefs: dict[str, list[float]] = {}
        for r in ok:
            for shape, label, coef in r["terms"][s]:
                labels.setdefault(shape, label)
                coefs.setdefault(shape, []).append(coef)
        rows = []
        for shape, label in labels.items():
            values = np.asarray(coefs.get(shape, []), dtype=float)
            row = {
                "term": label,
                "shape": shape,
                "chosen": any(shape == c[0] for c in chosen[s]),
                "inclusion": round(len(values) / n, 4) if n else None,
            }
            for key, q in (
                ("coefficient_median", 50),
                ("coefficient_q05", 5),
                ("coefficient_q95", 95),
            ):
                row[key] = float(np.percentile(values, q)) if values.size else None
            rows.append(row)
        rows.sort(key=lambda r: (not r["chosen"], -(r["inclusion"] or 0.0)))
        terms[s] = rows

    def key(terms_of: Mapping[str, Sequence[tuple[str, str, float]]]) -> tuple:
        return tuple(tuple(sorted(t[0] for t in terms_of[s])) for s in model.states)

    counts = Counter(key(r["terms"]) for r in ok)
    example = {key(r["terms"]): r["equations"] for r in reversed(ok)}
    main = key(chosen)
    structures = [
        {"members": c, "chosen": k == main, "equations": example[k]}
        for k, c in counts.most_common()
    ]
    return {
        "finished": n,
        "failed": failed,
        "terms": terms,
        "structures": structures,
        "chosen_structure": round(counts.get(main, 0) / n, 4) if n else None,
    }
