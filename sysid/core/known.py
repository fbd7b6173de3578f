"""Known physics: terms of the right-hand side the user already knows, with free constants.

``known={"x": "alpha*x", "y": "-delta*y"}`` says that ``dx/dt`` contains
``alpha*x`` and ``dy/dt`` contains ``-delta*y``, with ``alpha`` and ``delta``
unknown. :func:`parse_known` checks such a mapping against the data's states
and inputs before any training and splits it into :class:`KnownTerm`\\ s: one
named constant times a function of the states (and inputs) each. The neural
field then learns only the remainder, the distillation runs on the remainder,
and every candidate system keeps the known terms, whose constants are refitted
with all the others.

Examples
--------
>>> k = parse_known({"x": "alpha*x", "y": "-delta*y"}, ["x", "y"])
>>> [(t.state, t.constant, t.sign, str(t.term)) for t in k.terms]
[('x', 'alpha', 1.0, 'x'), ('y', 'delta', -1.0, 'y')]
>>> k.constant_value(("y", k.terms[1].term), -0.4)
0.4
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sympy as sp

from sysid.core.errors import ConfigError
from sysid.core.expressions import (
    ALLOWED_CONSTANTS,
    ALLOWED_FUNCTIONS,
    parse_equation,
    state_symbols,
    usable_name,
)

__all__ = ["KnownTerm", "KnownPhysics", "parse_known"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LINEAR_HINT = (
    "known terms are linear in their constants: one named constant times a function "
    "of the states per term, each constant in one term, e.g. {'x': 'a*x - b*x**2'}"
)


@dataclass(frozen=True)
class KnownTerm:
    """One known term ``sign * constant * term`` of the equation of ``state``.

    The term's coefficient in a model is ``sign * value`` of the constant.
    """

    state: str
    constant: str
    sign: float
    term: sp.Expr


@dataclass(frozen=True)
class KnownPhysics:
    """The known terms of a system, checked against its states and inputs."""

    states: tuple[str, ...]
    inputs: tuple[str, ...]
    terms: tuple[KnownTerm, ...]
    text: dict[str, str]

    @property
    def constants(self) -> tuple[str, ...]:
        """The free constants, in the order of :attr:`terms`."""
        return tuple(t.constant for t in self.terms)

    def terms_of(self, state: str) -> list[KnownTerm]:
        """The known terms of one equation."""
        return [t for t in self.terms if t.state == state]

    def required(self) -> dict[str, tuple[sp.Expr, ...]]:
        """State -> the terms every candidate equation of it keeps."""
        return {s: tuple(t.term for t in self.terms_of(s)) for s in self.states if self.terms_of(s)}

    def constant_value(self, key: tuple[str, sp.Expr], coefficient: float) -> float:
        """The value of the constant of the known term ``key = (state, term)``
        whose fitted coefficient is ``coefficient``."""
        for t in self.terms:
            if (t.state, t.term) == key:
                return float(coefficient) / t.sign
        raise KeyError(key)

    def to_dict(self) -> dict[str, str]:
        """The mapping as given (JSON-ready)."""
        return dict(self.text)


def parse_known(
    known: Mapping[str, str] | KnownPhysics | None,
    states: Sequence[str],
    inputs: Sequence[str] = (),
    *,
    source: str = "argument 'known'",
) -> KnownPhysics | None:
    """Check known terms against the states and inputs; None when there are none.

    Parameters
    ----------
    known : mapping state -> str, KnownPhysics or None
        Known part of each equation, e.g. ``{"x": "alpha*x"}``: a sum of terms,
        each a named constant (free, fitted) times a function of the states
        and inputs. Names other than states, inputs, ``t`` and the parser's
        functions and constants (``sin``, ``pi``...) are constants.
    states, inputs : sequence of str
        The data's states and input names.
    source : str
        Where ``known`` comes from, for error messages.

    Raises
    ------
    ConfigError
        ``known`` is not a mapping of state names to strings, names an unknown
        state, uses ``t``, has a term without a named constant (fixed known
        terms are not supported yet), or a constant that enters nonlinearly or
        in several terms, or is named like a state or input.
    EquationError
        A string does not parse.

    Examples
    --------
    >>> parse_known({"z": "k*z"}, ["x"])
    Traceback (most recent call last):
    ...
    sysid.core.errors.ConfigError: argument 'known': 'z' is not a state (states: ['x']). ...
    """
    if known is None:
        return None
    if isinstance(known, KnownPhysics):
        known = known.text
    if not isinstance(known, Mapping):
        raise ConfigError(
            f"known must be a dict state -> equation text, found {type(known).__name__}",
            source=source,
            hint="e.g. known={'x': 'alpha*x'}",
        )
    if not known:
        return None
    states, inputs = tuple(states), tuple(inputs)
    terms: list[KnownTerm] = []
    for state, text in known.items():
        terms.extend(_state_terms(state, text, states, inputs, source))
    seen: dict[str, str] = {}
    for t in terms:
        if t.constant in seen:
            where = sorted({seen[t.constant], t.state})
            raise ConfigError(
                f"constant {t.constant!r} appears in more than one known term "
                f"(equations of {', '.join(map(repr, where))})",
                source=source,
                hint=_LINEAR_HINT,
            )
        seen[t.constant] = t.state
    return KnownPhysics(states, inputs, tuple(terms), {str(k): str(v) for k, v in known.items()})


def _state_terms(
    state: Any, text: Any, states: tuple[str, ...], inputs: tuple[str, ...], source: str
) -> list[KnownTerm]:
    """The known terms of one equation (checked)."""
    if state not in states:
        raise ConfigError(
            f"{state!r} is not a state (states: {list(states)})",
            source=source,
            hint="the keys of known are state names",
        )
    if not isinstance(text, str):
        raise ConfigError(
            f"the known part of {state!r} must be a string, found {type(text).__name__}",
            source=source,
            hint="e.g. known={'x': 'alpha*x'}",
        )
    where = f"{source}, equation of {state!r}"
    variables = set(states) | set(inputs)
    names = {n for n in _NAME.findall(text)} - set(ALLOWED_FUNCTIONS) - set(ALLOWED_CONSTANTS)
    if "t" in names:
        raise ConfigError(
            f"{text!r} uses the time t", source=where, hint="known terms may use states and inputs"
        )
    constants = sorted(names - variables)
    for c in constants:
        if not usable_name(c):
            raise ConfigError(f"{c!r} cannot name a constant", source=where, hint="rename it")
    symbols = dict(zip([*states, *inputs], state_symbols([*states, *inputs]), strict=True))
    symbols.update({c: sp.Symbol(c, real=True) for c in constants})
    expr = sp.expand(parse_equation(text, symbols, source=where))
    if expr == 0:
        raise ConfigError(f"{text!r} is zero", source=where, hint="leave the state out of known")
    var_symbols = [symbols[v] for v in [*states, *inputs]]
    const_symbols = {symbols[c] for c in constants}
    out = []
    for piece in sp.Add.make_args(expr):
        coef, term = piece.as_independent(*var_symbols, as_Add=False)
        number, rest = coef.as_coeff_Mul()
        if term.free_symbols & const_symbols or rest not in const_symbols:
            problem = (
                "has no named constant (fixed known terms are not supported yet)"
                if not piece.free_symbols & const_symbols
                else "is not one named constant times a function of the states"
            )
            raise ConfigError(
                f"the term {piece} of {text!r} {problem}", source=where, hint=_LINEAR_HINT
            )
        # Numbers inside a known term are the user's, not constants to refit: exact rationals.
        term = sp.nsimplify(term, rational=True)
        out.append(KnownTerm(str(state), rest.name, float(number), term))
    return out
