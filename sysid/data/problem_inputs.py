"""The ``inputs`` of problem files: exogenous signals written as expressions of time.

A problem with inputs (docs/contract.md#problem-inputs) names each input and
its signal, the same for every trajectory or one per trajectory::

    inputs = { F = "gamma*cos(omega*t)" }                       # every trajectory
    inputs = { V = ["2*sign(sin(0.5*t))", "1 + 0*t", "sin(t)"] }  # one per initial condition
    holdout_inputs = { V = "1.5*cos(0.3*t)" }                    # the held-out trajectories
    input_interpolation = "hold"                                 # how data files are read

The expressions use ``t``, the parameters, numbers and the parser's
functions; equations use the input names like states. Simulation evaluates
them exactly; the data carry the input columns at the sample times, without
noise (an input is set or measured, not estimated).

Examples
--------
>>> spec = parse_inputs({"inputs": {"F": "a*cos(t)"}}, ["x"], {"a": 2.0}, 2, 0, "p.toml")
>>> spec.names, spec.training["F"]
(('F',), ('a*cos(t)', 'a*cos(t)'))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sysid.core.errors import ProblemFileError
from sysid.core.expressions import parse_equation, usable_name
from sysid.data.inputs import check_interpolation

__all__ = ["ProblemInputs", "parse_inputs"]


@dataclass(frozen=True)
class ProblemInputs:
    """Checked inputs of a problem file: per input, one expression text per trajectory."""

    names: tuple[str, ...] = ()
    training: dict[str, tuple[str, ...]] = field(default_factory=dict)
    holdout: dict[str, tuple[str, ...]] = field(default_factory=dict)
    interpolation: str = "linear"

    def table(self, holdout: bool = False) -> dict[str, tuple[str, ...]]:
        """Per input, one expression per trajectory of the training (or held-out) set."""
        return self.holdout if holdout else self.training

    def per_trajectory(self, holdout: bool = False) -> bool:
        """Does any input differ between the trajectories of the set?"""
        return any(len(set(v)) > 1 for v in self.table(holdout).values())

    def texts(self, k: int, holdout: bool = False) -> dict[str, str]:
        """The expressions of trajectory ``k`` (of the training or held-out set)."""
        table = self.table(holdout)
        return {name: table[name][k] for name in self.names}


def parse_inputs(
    data: Mapping[str, Any],
    states: Sequence[str],
    parameters: Mapping[str, float],
    n_training: int,
    n_holdout: int,
    where: str,
) -> ProblemInputs:
    """Check ``inputs``, ``holdout_inputs`` and ``input_interpolation`` of a problem file."""
    raw = data.get("inputs", {})
    if not raw:
        for key in ("holdout_inputs", "input_interpolation"):
            if key in data:
                raise ProblemFileError(
                    f"'{key}' is given but the problem has no 'inputs'", source=where
                )
        return ProblemInputs()
    if not isinstance(raw, dict):
        raise ProblemFileError(
            f"'inputs' must be a table name -> expression of t, found {raw!r}",
            source=where,
            hint='write e.g. inputs = { F = "0.5*cos(1.2*t)" }',
        )
    names = tuple(str(n) for n in raw)
    for n in names:
        _check_name(n, states, parameters, where)
    training = {
        n: _texts(raw[n], n, n_training, "inputs", "initial_conditions", where) for n in names
    }
    hold_raw = data.get("holdout_inputs")
    if hold_raw is None:
        shared = {n: v for n, v in raw.items() if isinstance(v, str)}
        if n_holdout and len(shared) < len(names):
            raise ProblemFileError(
                "'inputs' gives one signal per training trajectory; the held-out trajectories "
                "need their own",
                source=where,
                hint="add holdout_inputs = { ... } (a string, or one per held-out start)",
            )
        hold_raw = shared
    if not isinstance(hold_raw, dict) or sorted(hold_raw) != sorted(names):
        raise ProblemFileError(
            f"'holdout_inputs' must give every input {list(names)}, found {hold_raw!r}",
            source=where,
        )
    holdout = {
        n: _texts(hold_raw[n], n, n_holdout, "holdout_inputs", "holdout_initial_conditions", where)
        for n in names
    }
    interpolation = data.get("input_interpolation", "linear")
    check_interpolation(interpolation, where, "'input_interpolation'", ProblemFileError)
    allowed = list(parameters)
    for table, key in ((training, "inputs"), (holdout, "holdout_inputs")):
        for n, texts in table.items():
            for k, text in enumerate(dict.fromkeys(texts)):
                parse_equation(
                    text,
                    allowed,
                    source=f"{where}: {key}.{n}" + (f"[{k}]" if len(set(texts)) > 1 else ""),
                )
    return ProblemInputs(names, training, holdout, interpolation)


def _check_name(
    name: str, states: Sequence[str], parameters: Mapping[str, float], where: str
) -> None:
    if not usable_name(name) or name in states or name in parameters:
        raise ProblemFileError(
            f"{name!r} cannot be an input name: inputs need identifiers distinct from the "
            "states, the parameters, 't' and the function names",
            source=where,
        )


def _texts(value: Any, name: str, n: int, key: str, rows: str, where: str) -> tuple[str, ...]:
    """One expression per trajectory: a string for all, or a list of ``n`` strings."""
    if isinstance(value, str):
        return (value,) * n
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        if len(value) != n:
            raise ProblemFileError(
                f"'{key}.{name}' gives {len(value)} signals for {n} rows of '{rows}'",
                source=where,
                hint="give one signal per initial condition, or one string for all",
            )
        return tuple(value)
    raise ProblemFileError(
        f"'{key}.{name}' must be an expression of t (a string) or a list of them, found {value!r}",
        source=where,
        hint=f'write e.g. {name} = "0.5*cos(1.2*t)"',
    )
