"""Libraries of candidate terms: sympy expressions in the state names, compiled to numpy.

A :class:`Library` is the vocabulary of the symbolic regression: the constant,
every monomial of the states up to a degree, ``sin`` and ``cos`` of each state,
and any terms the user adds. Terms are sympy expressions and are named by their
sympy form, so a fitted equation reads ``0.4*x*y``, never ``f3``.

Examples
--------
>>> import numpy as np
>>> from sysid.symbolic.library import Library
>>> lib = Library(["x", "y"], degree=2, trig=False)
>>> lib.names
['1', 'x', 'y', 'x**2', 'x*y', 'y**2']
>>> lib.evaluate(np.array([[2.0, 3.0]]))
array([[1., 2., 3., 4., 6., 9.]])
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any

import numpy as np
import sympy as sp

from sysid.core.errors import ConfigError, DataError, EquationError
from sysid.core.expressions import parse_equation, state_symbols, term_complexity

__all__ = ["Library"]


def _check_states(states: Sequence[str]) -> tuple[str, ...]:
    if isinstance(states, str) or not isinstance(states, Sequence) or len(states) == 0:
        raise ConfigError(
            f"states must be a non-empty list of names, found {states!r}",
            source="argument 'states'",
            hint='e.g. states=["x", "y"]',
        )
    names = tuple(str(s) for s in states)
    if len(set(names)) != len(names):
        raise ConfigError(
            f"state names are not unique: {list(names)}",
            source="argument 'states'",
            hint="rename the duplicates",
        )
    for name in names:
        if not name.isidentifier():
            raise ConfigError(
                f"state name {name!r} is not an identifier",
                source="argument 'states'",
                hint="use names like x, S, omega",
            )
    return names


class Library:
    """Candidate terms of a right-hand side, as sympy expressions.

    Parameters
    ----------
    states : sequence of str
        State names, in data column order.
    degree : int
        Highest total degree of the monomials (0 gives only the constant).
    trig : bool
        Add ``sin`` and ``cos`` of each state.
    extra : sequence of str or sympy expressions
        User terms, e.g. ``["exp(-x)", "x/(1 + y)"]``. Strings are parsed with
        :func:`sysid.core.expressions.parse_equation` (a whitelist, never ``eval``) and
        may use only the state names. Duplicates of existing terms are dropped.
    include_constant : bool
        Include the constant term ``1``.
    inputs : sequence of str
        Exogenous inputs (:mod:`sysid.data.inputs`): the monomials run over
        states and inputs together (``u``, ``u*x``, ``u**2``...), ``sin`` and
        ``cos`` over the states only, and extra terms may use them.

    Attributes
    ----------
    states : tuple of str
    inputs : tuple of str
    variables : tuple of str
        States then inputs: the columns :meth:`evaluate` reads.
    symbols : tuple of sympy.Symbol
        One per variable.
    terms : list of sympy.Expr
        The candidate terms, without coefficients.
    names : list of str
        ``str`` of each term.

    Examples
    --------
    >>> lib = Library(["theta", "omega"], degree=1, extra=["theta*omega**2"])
    >>> lib.names
    ['1', 'theta', 'omega', 'sin(theta)', 'cos(theta)', 'sin(omega)', 'cos(omega)', \
'omega**2*theta']
    >>> Library(["x"], extra=["y"])
    Traceback (most recent call last):
    ...
    sysid.core.errors.EquationError: library term 'y': unknown name 'y'...
    """

    def __init__(
        self,
        states: Sequence[str],
        degree: int = 3,
        trig: bool = True,
        extra: Sequence[str | sp.Expr] = (),
        include_constant: bool = True,
        inputs: Sequence[str] = (),
    ):
        self.states = _check_states(states)
        self.inputs = _check_states(inputs) if len(inputs) else ()
        if set(self.inputs) & set(self.states):
            raise ConfigError(
                f"inputs {list(self.inputs)} repeat state names {list(self.states)}",
                source="argument 'inputs'",
            )
        self.variables = self.states + self.inputs
        if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)) or degree < 0:
            raise ConfigError(
                f"degree must be an integer >= 0, found {degree!r}",
                source="argument 'degree'",
                hint="3 (the default) covers most mechanics, chemistry and ecology",
            )
        self.degree = int(degree)
        for flag, value in (("trig", trig), ("include_constant", include_constant)):
            if not isinstance(value, (bool, np.bool_)):
                raise ConfigError(
                    f"{flag} must be True or False, found {value!r}",
                    source=f"argument '{flag}'",
                )
        self.trig = bool(trig)
        self.include_constant = bool(include_constant)
        self.symbols = state_symbols(self.variables)
        terms: list[sp.Expr] = []
        for deg in range(0 if self.include_constant else 1, self.degree + 1):
            for combo in itertools.combinations_with_replacement(self.symbols, deg):
                terms.append(sp.Mul(*combo) if combo else sp.Integer(1))
        if self.trig:
            for s in self.symbols[: len(self.states)]:
                terms.extend([sp.sin(s), sp.cos(s)])
        if isinstance(extra, (str, sp.Basic)):
            extra = [extra]
        for item in extra:
            terms.append(self._parse_extra(item))
        seen: set[sp.Expr] = set()
        self.terms: list[sp.Expr] = []
        for term in terms:
            if term not in seen:
                seen.add(term)
                self.terms.append(term)
        if not self.terms:
            raise ConfigError(
                "the library is empty",
                source="Library",
                hint="use degree >= 1, trig=True or extra terms",
            )
        self.names: list[str] = [str(t) for t in self.terms]

    def _parse_extra(self, item: str | sp.Expr) -> sp.Expr:
        where = f"library term {item!r}" if isinstance(item, str) else "library term"
        if isinstance(item, str):
            names = {s.name: s for s in self.symbols}
            expr = parse_equation(item, names, source=where)
        elif isinstance(item, sp.Expr):
            # Map same-named symbols (of any assumptions) onto the state symbols.
            by_name = {s.name: s for s in self.symbols}
            expr = item.xreplace(
                {f: by_name[f.name] for f in item.free_symbols if f.name in by_name}
            )
        else:
            raise EquationError(
                f"expected a string or sympy expression, found {type(item).__name__} {item!r}",
                source="library term",
                hint='write terms like "exp(-x)"',
            )
        unknown = sorted(str(f) for f in expr.free_symbols if f not in self.symbols)
        if unknown:
            what = f"states {list(self.states)}" + (
                f" or inputs {list(self.inputs)}" if self.inputs else ""
            )
            raise EquationError(
                f"term {str(expr)!r} uses {unknown}, which are not {what}",
                source=where,
                hint="library terms may depend on the states (and inputs) only; the time 't' "
                "only in a time-dependent fit (time_dependent=True)",
            )
        if not expr.free_symbols:
            raise EquationError(
                f"term {str(expr)!r} is a constant",
                source=where,
                hint="the constant term is already in the library (include_constant=True)",
            )
        # Strip a numeric factor: the regression supplies the coefficient.
        _, core = expr.as_coeff_Mul()
        return core

    # ------------------------------------------------------------------ views
    def __len__(self) -> int:
        return len(self.terms)

    def __repr__(self) -> str:
        inputs = f", inputs={list(self.inputs)}" if self.inputs else ""
        return f"Library(states={list(self.states)}{inputs}, n_terms={len(self.terms)})"

    @cached_property
    def complexities(self) -> np.ndarray:
        """:func:`term_complexity` of each term."""
        return np.array([term_complexity(t) for t in self.terms], dtype=np.int64)

    def index(self, term: str | sp.Expr) -> int:
        """Position of a term, given as sympy expression or its name.

        Examples
        --------
        >>> Library(["x", "y"], degree=2).index("x*y")
        4
        """
        key = term if isinstance(term, str) else str(term)
        try:
            return self.names.index(key)
        except ValueError:
            raise ConfigError(
                f"term {key!r} is not in the library",
                source="Library",
                hint=f"terms are {self.names}",
            ) from None

    # --------------------------------------------------------------- numbers
    @cached_property
    def _numpy_fn(self) -> Callable[..., Any]:
        return sp.lambdify(self.symbols, self.terms, modules="numpy")

    @cached_property
    def _torch_fn(self) -> Callable[..., Any]:
        return sp.lambdify(self.symbols, self.terms, modules="torch")

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        """Values of every term at the rows of ``x``.

        Parameters
        ----------
        x : ndarray, shape (n, d)
            States (then inputs), one row per sample, columns in :attr:`variables` order.

        Returns
        -------
        ndarray, shape (n, m)
            Column ``j`` is term ``j``, as float64.

        Examples
        --------
        >>> lib = Library(["x"], degree=2, trig=True)
        >>> lib.evaluate(np.array([[0.0], [1.0]])).round(3)
        array([[1.   , 0.   , 0.   , 0.   , 1.   ],
               [1.   , 1.   , 1.   , 0.841, 0.54 ]])
        """
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1 and len(self.variables) == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != len(self.variables):
            raise DataError(
                f"expected states of shape (n, {len(self.variables)}) for "
                f"{list(self.variables)}, found shape {x.shape}",
                source="Library.evaluate",
                hint="pass one row per sample and one column per state",
            )
        with np.errstate(all="ignore"):
            cols = self._numpy_fn(*x.T)
        n = x.shape[0]
        return np.column_stack(
            [np.broadcast_to(np.asarray(c, dtype=np.float64), (n,)) for c in cols]
        )

    def evaluate_torch(self, x: Any) -> Any:
        """Values of every term for a torch tensor ``x`` of shape (n, d): shape (n, m).

        Differentiable, so a torch model can be regressed on the library.

        Examples
        --------
        >>> import torch
        >>> Library(["x"], degree=1, trig=False).evaluate_torch(torch.tensor([[2.0]]))
        tensor([[1., 2.]])
        """
        import torch

        if x.ndim != 2 or x.shape[1] != len(self.variables):
            raise DataError(
                f"expected a tensor of shape (n, {len(self.variables)}), found {tuple(x.shape)}",
                source="Library.evaluate_torch",
            )
        cols = self._torch_fn(*x.unbind(dim=1))
        n = x.shape[0]
        out = [
            c.expand(n) if torch.is_tensor(c) else torch.full((n,), float(c), dtype=x.dtype)
            for c in cols
        ]
        return torch.stack(out, dim=1)
