"""Known physics: terms of the right-hand side the user already knows.

``known={"x": "alpha*x", "y": "-1.8*y"}`` says that ``dx/dt`` contains
``alpha*x`` with ``alpha`` unknown (a free constant) and ``dy/dt`` contains
``-1.8*y`` exactly (a fixed term). :func:`parse_known` checks such a mapping
against the data's states and inputs before any training and splits it into
:class:`KnownTerm`\\ s: one named constant, or a number, times a function of
the states (and inputs) each. The neural field then learns only the
remainder, the distillation runs on the remainder, and every candidate
system keeps the known terms: free constants are refitted with all the other
coefficients, fixed terms keep their numbers.

Examples
--------
>>> k = parse_known({"x": "alpha*x", "y": "-1.8*y"}, ["x", "y"])
>>> [(t.state, t.constant, t.sign, str(t.term)) for t in k.terms]
[('x', 'alpha', 1.0, 'x'), ('y', None, -1.8, 'y')]
>>> k.constants
('alpha',)
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

__all__ = ["KnownTerm", "KnownPhysics", "parse_known", "check_known_text"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LINEAR_HINT = (
    "known terms are linear in their constants: one named constant (free) or a number "
    "(fixed) times a function of the states per term, each constant in one term, "
    "e.g. {'x': 'a*x - b*x**2 + 0.5*y'}"
)


@dataclass(frozen=True)
class KnownTerm:
    """One known term ``sign * constant * term`` of the equation of ``state``.

    The term's coefficient in a model is ``sign * value`` of the constant; a
    fixed term has no constant (``constant`` None) and the coefficient ``sign``.
    """

    state: str
    constant: str | None
    sign: float
    term: sp.Expr

    @property
    def fixed(self) -> bool:
        """True for a term with a number instead of a named constant."""
        return self.constant is None


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
        return tuple(t.constant for t in self.terms if t.constant is not None)

    def terms_of(self, state: str) -> list[KnownTerm]:
        """The known terms of one equation."""
        return [t for t in self.terms if t.state == state]

    def required(self) -> dict[str, tuple[sp.Expr, ...]]:
        """State -> the terms every candidate equation of it keeps (free and fixed)."""
        return {s: tuple(t.term for t in self.terms_of(s)) for s in self.states if self.terms_of(s)}

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
        Known part of each equation, e.g. ``{"x": "alpha*x - 0.5*x*y"}``: a
        sum of terms, each a named constant (free, fitted) or a number (fixed)
        times a function of the states and inputs. Names other than states,
        inputs, ``t`` and the parser's functions and constants (``sin``,
        ``pi``...) are constants.
    states, inputs : sequence of str
        The data's states and input names.
    source : str
        Where ``known`` comes from, for error messages.

    Raises
    ------
    ConfigError
        ``known`` is not a mapping of state names to strings, names an unknown
        state, uses ``t``, or has a constant that enters nonlinearly or in
        several terms, or one that cannot be a name.
    EquationError
        A string does not parse.

    Examples
    --------
    >>> parse_known({"z": "k*z"}, ["x"])
    Traceback (most recent call last):
    ...
    sysid.core.errors.ConfigError: argument 'known': 'z' is not a state (states: ['x']). ...
    """
    known = check_known_text(known, source)
    if not known:
        return None
    states, inputs = tuple(states), tuple(inputs)
    terms: list[KnownTerm] = []
    for state, text in known.items():
        terms.extend(_state_terms(state, text, states, inputs, source))
    twice = [
        t
        for i, t in enumerate(terms)
        if (t.state, t.term) in {(u.state, u.term) for u in terms[:i]}
    ]
    if twice:
        raise ConfigError(
            f"the term {twice[0].term} of {twice[0].state!r} is known twice",
            source=source,
            hint="give each function of the states one constant or one number",
        )
    seen: dict[str, str] = {}
    for t in terms:
        if t.constant is None:
            continue
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


def check_known_text(known: Any, source: str) -> dict[str, str] | None:
    """``known`` as a plain dict of strings (None for None): its shape only, no states needed.

    The one check of the form of known physics, wherever it is given
    (:class:`~sysid.pipeline.SysID`, :class:`~sysid.neural.field.NeuralField`,
    :func:`parse_known`); the terms are checked against the data by :func:`parse_known`.

    Examples
    --------
    >>> check_known_text({"x": 3}, "argument 'known'")
    Traceback (most recent call last):
    ...
    sysid.core.errors.ConfigError: argument 'known': known must be a dict state -> ...
    """
    if known is None:
        return None
    if isinstance(known, KnownPhysics):
        return dict(known.text)
    if not isinstance(known, Mapping):
        raise ConfigError(
            f"known must be a dict state -> equation text, found {type(known).__name__}",
            source=source,
            hint="e.g. known={'x': 'alpha*x'}",
        )
    for state, text in known.items():
        if not isinstance(state, str) or not isinstance(text, str):
            bad = text if isinstance(state, str) else state
            raise ConfigError(
                "known must be a dict state -> equation text: the known part of "
                f"{state!r} must be a string, found {type(bad).__name__}",
                source=source,
                hint="e.g. known={'x': 'alpha*x'}",
            )
    return dict(known)


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
    where = f"{source}, equation of {state!r}"
    variables = set(states) | set(inputs)
    names = {n for n in _NAME.findall(text)} - set(ALLOWED_FUNCTIONS) - set(ALLOWED_CONSTANTS)
    if "t" in names and "t" not in inputs:  # the clock is an input of time-dependent data
        raise ConfigError(
            f"{text!r} uses the time t",
            source=where,
            hint="known terms may use states and inputs; terms in t need time_dependent=True",
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
        if term.free_symbols & const_symbols or not (rest == 1 or rest in const_symbols):
            raise ConfigError(
                f"the term {piece} of {text!r} is not one named constant (or a number) "
                "times a function of the states",
                source=where,
                hint=_LINEAR_HINT,
            )
        # Numbers inside a known term are the user's, not constants to refit: exact rationals.
        term = sp.nsimplify(term, rational=True)
        constant = None if rest == 1 else rest.name
        out.append(KnownTerm(str(state), constant, float(number), term))
    return out
