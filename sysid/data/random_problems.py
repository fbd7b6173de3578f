"""Random laws nobody tuned on: problem files drawn from a stated grammar.

A hand-picked suite cannot tell a method from a fit to its examples. This
module draws systems of 1 to 4 states from the grammar below, filters the
degenerate ones (each rejection recorded with its reason), and returns them as
ordinary :class:`~sysid.data.problems.Problem` objects, written as problem
files by :func:`write_random_problems`, so every command works on them
(``sysid bench --random N`` runs them).

The grammar (``docs/contract.md#random-problems``). The states ``x, y, z, w``
are amounts (they stay positive), except with the ``trig`` family, whose
first two states are an angle ``q`` and its rate ``p``. Every amount decays
linearly, ``-d*x``, and gains 1 or 2 further terms, each drawn from a family:

=============  ==============================================================
family         terms (``u``, ``v``: states; the constants drawn as below)
=============  ==============================================================
polynomial     ``c*u``, ``c*u*v``, ``-c*x**2`` (self-limiting)
rational       ``c*u/(K + u)`` (saturating), ``-c*x*v/(K + v)`` (a consumer)
hill           ``c*u**n/(K**n + u**n)`` (switch on), ``c*K**n/(K**n + u**n)``
               (switch off), ``n`` 2, 3 or 4
exponential    ``c*exp(-a*u)``, ``-c*x*exp(-a*u)``
logarithmic    ``-c*x*log(x/K)`` (Gompertz growth)
trig           ``q' = p``, ``p' = -c*sin(q) - d*p`` (+ a term of another family
               in ``p'`` driven by an amount)
=============  ==============================================================

A term that removes an amount (a negative sign) is proportional to it, so the
amounts stay positive. Constants: rates ``c`` and ``d`` log-uniform in
[0.2, 2], half-saturations ``K`` in [0.5, 3], ``a`` in [0.3, 1.5], each
rounded to two significant digits so the laws read as a person would write
them. Starts are log-uniform in [0.1, 4] for amounts, uniform in [-2, 2] for
an angle and [-1, 1] for its rate. The time span is ``3 / min(d)`` (5 to 30).

A draw is rejected, and the next one tried, when the simulation fails or a
state grows beyond 50 times its largest start (``blow-up``), an amount turns
negative (``negative``), every state has settled after the first tenth of
the span (``settled``: a state moves over the last 90% by less than 5% of its
range), a state barely moves (``still``: its range is under 1% of its
size), or a term of the (expanded) law stays under 5% of the largest term of
its equation on every trajectory (``weak``: no data of the draw could show
it). The reasons are in the problem's ``notes``.

Examples
--------
>>> p = random_problem(3, n_states=2)
>>> p.name, p.states
('random-2-0003', ('q', 'p'))
>>> random_problem(3, n_states=2).equations == p.equations  # reproducible by seed
True
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp
import tomli_w

from sysid.core.errors import ConfigError, SimulationError
from sysid.data.problems import Problem, problem_from_dict

__all__ = ["FAMILIES", "random_problem", "write_random_problems", "problem_toml"]

#: The families of terms the grammar draws from.
FAMILIES = ("polynomial", "rational", "hill", "exponential", "logarithmic", "trig")

_AMOUNTS = ("x", "y", "z", "w")
_MAX_DRAWS = 200
#: A draw is ``weak`` when a term of an equation stays under this share of its largest term.
WEAK = 0.05
_SCREEN_EVALS = 20_000


def _sig2(value: float) -> float:
    """``value`` rounded to two significant digits."""
    return float(f"{value:.2g}")


class _Draw:
    """One attempt: a random number generator and the constants drawn so far."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.parameters: dict[str, float] = {}

    def const(self, prefix: str, lo: float, hi: float, log: bool = True) -> str:
        """A new named constant drawn in [lo, hi]; its name."""
        u = self.rng.uniform(math.log(lo), math.log(hi)) if log else self.rng.uniform(lo, hi)
        name = f"{prefix}{len(self.parameters) + 1}"
        self.parameters[name] = _sig2(math.exp(u) if log else u)
        return name

    def pick(self, options: Sequence[Any]) -> Any:
        return options[int(self.rng.integers(len(options)))]


def _term(draw: _Draw, family: str, x: str, amounts: Sequence[str]) -> str:
    """One term of the equation of amount ``x`` from ``family``."""
    u = draw.pick(amounts)
    v = draw.pick([a for a in amounts if a != x] or [x])
    c = draw.const("c", 0.2, 2.0)
    if family == "polynomial":
        shape = draw.pick(["lin", "prod", "self"] if len(amounts) > 1 else ["self"])
        if shape == "lin" and u != x:
            return f"{c}*{u}"
        if shape == "prod":
            return f"{c}*{x}*{v}" if draw.rng.random() < 0.5 else f"-{c}*{x}*{v}"
        return f"-{c}*{x}**2"
    if family == "rational":
        k = draw.const("K", 0.5, 3.0)
        if draw.rng.random() < 0.5 or v == x:
            return f"{c}*{u}/({k} + {u})"
        return f"-{c}*{x}*{v}/({k} + {v})"
    if family == "hill":
        k, n = draw.const("K", 0.5, 3.0), draw.pick([2, 3, 4])
        if draw.rng.random() < 0.5:
            return f"{c}*{u}**{n}/({k}**{n} + {u}**{n})"
        return f"{c}*{k}**{n}/({k}**{n} + {u}**{n})"
    if family == "exponential":
        a = draw.const("a", 0.3, 1.5)
        if draw.rng.random() < 0.5 or v == x:
            return f"{c}*exp(-{a}*{u})"
        return f"-{c}*{x}*exp(-{a}*{v})"
    if family == "logarithmic":
        k = draw.const("K", 0.5, 3.0)
        return f"-{c}*{x}*log({x}/{k})"
    raise ConfigError(f"unknown family {family!r}", hint=f"choose from {list(FAMILIES)}")


def _drive(draw: _Draw, family: str, u: str) -> str:
    """A term that an amount ``u`` adds, from ``family`` (a bounded one for logarithmic)."""
    c = draw.const("c", 0.2, 2.0)
    if family == "polynomial":
        return f"{c}*{u}"
    if family == "hill":
        k, n = draw.const("K", 0.5, 3.0), draw.pick([2, 3, 4])
        return f"{c}*{u}**{n}/({k}**{n} + {u}**{n})"
    if family == "exponential":
        return f"{c}*exp(-{draw.const('a', 0.3, 1.5)}*{u})"
    return f"{c}*{u}/({draw.const('K', 0.5, 3.0)} + {u})"


def _equations(draw: _Draw, n_states: int, families: Sequence[str]) -> tuple[list[str], dict]:
    """State names and equations of one draw."""
    amount_families = [f for f in families if f != "trig"] or ["polynomial"]
    # The oscillator block comes in as often as one family in the draw of families.
    share = 1.0 if list(families) == ["trig"] else 1.0 / len(families)
    oscillator = "trig" in families and n_states >= 2 and draw.rng.random() < share
    states = ["q", "p", *_AMOUNTS[: n_states - 2]] if oscillator else list(_AMOUNTS[:n_states])
    amounts = [s for s in states if s not in ("q", "p")]
    eqs: dict[str, str] = {}
    for x in amounts:
        terms = [f"-{draw.const('d', 0.2, 2.0)}*{x}"]
        for _ in range(int(draw.rng.integers(1, 3))):
            terms.append(_term(draw, draw.pick(amount_families), x, amounts))
        eqs[x] = " + ".join(terms).replace("+ -", "- ")
    if oscillator:
        eqs["q"] = "p"
        pend = f"-{draw.const('c', 0.2, 2.0)}*sin(q) - {draw.const('d', 0.2, 2.0)}*p"
        if amounts:  # driven by an amount
            pend += f" + {_drive(draw, draw.pick(amount_families), draw.pick(amounts))}"
        eqs["p"] = pend.replace("+ -", "- ")
    return states, eqs


def _starts(draw: _Draw, states: Sequence[str], k: int) -> list[list[float]]:
    """``k`` starts: amounts log-uniform in [0.1, 4], an angle in [-2, 2], its rate in [-1, 1]."""
    out = []
    for _ in range(k):
        row = []
        for s in states:
            if s == "q":
                row.append(_sig2(draw.rng.uniform(-2.0, 2.0)))
            elif s == "p":
                row.append(_sig2(draw.rng.uniform(-1.0, 1.0)))
            else:
                row.append(_sig2(math.exp(draw.rng.uniform(math.log(0.1), math.log(4.0)))))
        out.append(row)
    return out


def _defect(problem: Problem, starts: np.ndarray, n: int) -> str | None:
    """Why the draw is degenerate (``blow-up``, ``negative``, ``still``, ``settled``, ``weak``)."""
    from sysid.data.simulation import integrate

    t = np.linspace(*problem.t_span, n)
    amounts = [j for j, s in enumerate(problem.states) if s not in ("q", "p")]
    tenth = t >= problem.t_span[0] + 0.1 * (problem.t_span[1] - problem.t_span[0])
    moving, sizes = False, []
    for x0 in starts:
        try:
            x = integrate(problem, x0, t, max_evals=_SCREEN_EVALS)
        except SimulationError:
            return "blow-up"
        if not np.isfinite(x).all() or np.abs(x).max() > 50 * max(np.abs(x0).max(), 1.0):
            return "blow-up"
        if amounts and x[:, amounts].min() < 0.0:
            return "negative"
        span = x.max(axis=0) - x.min(axis=0)
        size = np.maximum(np.abs(x).max(axis=0), 1e-12)
        if (span < 0.01 * size).any():
            return "still"
        late = x[tenth].max(axis=0) - x[tenth].min(axis=0)
        moving = moving or bool((late >= 0.05 * span).any())
        sizes.append(_term_sizes(problem, x))
    if not moving:
        return "settled"
    worst = min(float(np.min(np.max(sz, axis=0) / np.max(sz))) for sz in zip(*sizes, strict=True))
    return "weak" if worst < WEAK else None


def _term_sizes(problem: Problem, x: np.ndarray) -> list[np.ndarray]:
    """Per state, the RMS size of each term of its true equation along ``x``."""
    out = []
    for e in problem.true_equations().values():
        terms = sp.Add.make_args(sp.expand(e))
        fn = sp.lambdify(problem.symbols, list(terms), modules="numpy")
        values = [np.broadcast_to(v, x.shape[:1]) for v in fn(*x.T)]
        out.append(np.array([np.sqrt(np.mean(v**2)) for v in values]))
    return out


def random_problem(
    seed: int,
    *,
    n_states: int = 2,
    families: Sequence[str] | None = None,
    n_trajectories: int = 1,
    n_samples: int = 150,
) -> Problem:
    """A random law from the grammar of :mod:`sysid.data.random_problems`, reproducible by seed.

    Parameters
    ----------
    seed : int
        The draw; the same seed (and options) gives the same problem.
    n_states : int
        1 to 4.
    families : sequence of str, optional
        Families of :data:`FAMILIES` to draw terms from; default all.
    n_trajectories : int
        Training trajectories (``initial_conditions``); two held-out starts
        are drawn too.
    n_samples : int
        Samples per trajectory.

    Returns
    -------
    Problem
        Named ``random-{n_states}-{seed:04d}``; its ``notes`` record the
        family set and the rejected draws with their reasons.

    Examples
    --------
    >>> p = random_problem(0, n_states=1, families=["hill"])
    >>> p.states, p.n_samples, p.initial_conditions.shape
    (('x',), 150, (1, 1))
    """
    data = _problem_dict(seed, n_states, families, n_trajectories, n_samples)
    return problem_from_dict(data, where=data["name"])


def _check(seed: Any, n_states: Any, families: Any, n_trajectories: Any, n_samples: Any) -> list:
    for name, value, lo, hi in (
        ("seed", seed, 0, 2**32 - 1),
        ("n_states", n_states, 1, 4),
        ("n_trajectories", n_trajectories, 1, 20),
        ("n_samples", n_samples, 8, 100_000),
    ):
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, np.integer))
            or not (lo <= value <= hi)
        ):
            raise ConfigError(
                f"{name} must be an integer from {lo} to {hi}, found {value!r}",
                source="random_problem",
            )
    fams = list(FAMILIES if families is None else families)
    bad = [f for f in fams if f not in FAMILIES]
    if bad or not fams or isinstance(families, str):
        raise ConfigError(
            f"families must be a list of {list(FAMILIES)}, found {families!r}",
            source="random_problem",
            hint='e.g. families=["rational", "hill"]',
        )
    return fams


def _problem_dict(
    seed: int, n_states: int, families: Any, n_trajectories: int, n_samples: int
) -> dict[str, Any]:
    """The problem file's content of the first draw from ``seed`` that passes the filters."""
    fams = _check(seed, n_states, families, n_trajectories, n_samples)
    rng = np.random.default_rng([int(seed), int(n_states)])
    rejected: dict[str, int] = {}
    for _ in range(_MAX_DRAWS):
        draw = _Draw(rng)
        states, eqs = _equations(draw, n_states, fams)
        rates = [v for k, v in draw.parameters.items() if k.startswith("d")]
        span = float(np.clip(3.0 / min(rates), 5.0, 30.0))
        starts = _starts(draw, states, n_trajectories + 2)
        data = _as_dict(seed, n_states, states, draw.parameters, eqs, span, starts, n_samples)
        data["initial_conditions"], data["holdout_initial_conditions"] = (
            starts[:n_trajectories],
            starts[n_trajectories:],
        )
        why = _defect(problem_from_dict(data, data["name"]), np.array(starts), n_samples)
        if why is None:
            data["notes"] = _notes(fams, rejected)
            return data
        rejected[why] = rejected.get(why, 0) + 1
    raise ConfigError(
        f"no usable draw in {_MAX_DRAWS} tries from seed {seed} ({rejected})",
        source="random_problem",
        hint="try other families or fewer states",
    )


def _as_dict(seed, n_states, states, parameters, eqs, span, starts, n_samples) -> dict:
    return {
        "name": f"random-{n_states}-{int(seed):04d}",
        "title": f"Random law {int(seed)} with {n_states} state{'s' if n_states > 1 else ''}",
        "description": "A law drawn by sysid.random_problem from the grammar of "
        "sysid.data.random_problems (docs/contract.md#random-problems).",
        "reference": "none: a random draw",
        "states": list(states),
        "parameters": dict(parameters),
        "equations": dict(eqs),
        "t_span": [0.0, span],
        "n_samples": int(n_samples),
        "initial_conditions": starts,
    }


def _notes(families: Sequence[str], rejected: dict[str, int]) -> str:
    gone = ", ".join(f"{k} {v}" for k, v in sorted(rejected.items())) or "none"
    return f"families: {', '.join(families)}; draws rejected before this one: {gone}"


def problem_toml(problem: Problem) -> str:
    """The problem file text of ``problem`` (any problem without inputs).

    Examples
    --------
    >>> from sysid.data.problems import problem_from_text
    >>> p = random_problem(1, n_states=1)
    >>> problem_from_text(problem_toml(p)).equations == p.equations
    True
    """
    if problem.input_names:
        raise ConfigError("problem_toml writes problems without inputs", source=problem.name)
    data: dict[str, Any] = {
        "name": problem.name,
        "title": problem.title,
        "description": problem.description,
        "reference": problem.reference,
        "states": list(problem.states),
        "parameters": {k: float(v) for k, v in problem.parameters.items()},
        "equations": dict(problem.equations),
        "t_span": [float(v) for v in problem.t_span],
        "n_samples": int(problem.n_samples),
        "initial_conditions": problem.initial_conditions.tolist(),
    }
    if problem.holdout_initial_conditions.shape[0]:
        data["holdout_initial_conditions"] = problem.holdout_initial_conditions.tolist()
    if problem.notes:
        data["notes"] = problem.notes
    return tomli_w.dumps(data)


def write_random_problems(
    folder: str | os.PathLike,
    n: int,
    *,
    first_seed: int = 0,
    progress: Callable[[int], None] | None = None,
    **options: Any,
) -> list[Path]:
    """Write ``n`` random problems (seeds ``first_seed ..``) as files in ``folder``.

    ``options`` are those of :func:`random_problem`. A file already there is
    kept (so a folder can be resumed); returns the paths, in seed order.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(int(n)):
        seed = int(first_seed) + k
        name = f"random-{options.get('n_states', 2)}-{seed:04d}.toml"
        path = out / name
        if not path.is_file():
            tmp = path.with_suffix(".toml.tmp")
            tmp.write_text(problem_toml(random_problem(seed, **options)), encoding="utf-8")
            tmp.replace(path)
        paths.append(path)
        if progress is not None:
            progress(k + 1)
    return paths
