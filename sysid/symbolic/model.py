"""The symbolic model: readable equations with uncertainties, a fast simulator, JSON export.

A :class:`SymbolicModel` is the answer of a discovery: one right-hand side per
state, each a sum of coefficient times term, with the standard error of every
coefficient. Coefficients are shown rounded to the digits their uncertainty
supports, and the rounded equations are what the model simulates, prints and
exports, so what a user reads is what was validated.

Examples
--------
>>> import numpy as np
>>> from sysid.symbolic.model import SymbolicModel
>>> m = SymbolicModel.from_equations(["x", "y"], {"x": "1.1*x - 0.4*x*y", "y": "0.1*x*y - 0.4*y"})
>>> print(m)
dx/dt = -0.4*x*y + 1.1*x
dy/dt = 0.1*x*y - 0.4*y
>>> m.rhs(np.array([1.0, 2.0]))
array([ 0.3, -0.6])
>>> m.simulate([10.0, 5.0], np.linspace(0, 1, 3)).shape
(3, 2)
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp

from sysid.core.errors import ConfigError, DataError, EquationError, SimulationError
from sysid.core.expressions import parse_equation, state_symbols
from sysid.core.ode import (
    MAX_EVALS,
    SIMULATION_TIME_LIMIT,
    CompiledSystem,
    Guard,
    GuardTripped,
    batch_inputs,
    simulate_batch,
)
from sysid.data.inputs import TIME, signal_for
from sysid.symbolic.show import (
    latex_symbol_names,
    latex_system,
    model_html,
    python_source,
    sympy_equations,
)
from sysid.symbolic.terms import TermEstimate, _number, expression_terms, round_to_uncertainty

__all__ = ["TermEstimate", "SymbolicModel", "round_to_uncertainty", "expression_terms"]

#: Keyword arguments of :class:`SymbolicModel` that :meth:`SymbolicModel.from_equations` passes on.
_MODEL_OPTIONS = ("pareto", "selection", "bounds", "inputs")


def _check_state_names(states: Any, source: str) -> tuple[str, ...]:
    """State names as a tuple: a non-empty sequence of distinct strings."""
    if isinstance(states, (str, bytes)) or not isinstance(states, Sequence) or not states:
        raise ConfigError(
            f"states must be a non-empty list of names, found {states!r}",
            source=source,
            hint='e.g. states=["x", "y"]',
        )
    names = tuple(str(s) for s in states)
    dup = sorted({s for s in names if names.count(s) > 1})
    if dup:
        raise ConfigError(f"state names are not unique: {dup}", source=source)
    return names


def _float_array(value: Any, what: str, source: str) -> np.ndarray:
    """``value`` as a float array, or a :class:`DataError` naming ``what``."""
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise DataError(
            f"{what} is not numeric, found {value!r}", source=source, hint="pass numbers"
        ) from None


def _check_positive(value: Any, name: str, source: str, integer: bool = False) -> float:
    """A finite number > 0 (an integer >= 1 when ``integer``), or a :class:`ConfigError`."""
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    ok = isinstance(value, kinds) and not isinstance(value, bool)
    if not ok or not math.isfinite(float(value)) or value <= 0:
        what = "an integer >= 1" if integer else "a finite number > 0"
        raise ConfigError(f"{name} must be {what}, found {value!r}", source=source)
    return float(value)


def _equation_expr(s: str, eq: Any, names: Mapping[str, sp.Symbol]) -> sp.Expr:
    """The right-hand side of state ``s``: text parsed safely, or a sympy expression or number.

    It must hold only finite numbers; it may depend on the time ``t``.
    """
    if isinstance(eq, str):
        expr = parse_equation(eq, names, source=f"equations.{s}")
    elif isinstance(eq, sp.Basic) or (
        isinstance(eq, (int, float, np.integer, np.floating)) and not isinstance(eq, bool)
    ):
        expr = sp.sympify(eq)
        expr = expr.xreplace({f: names[f.name] for f in expr.free_symbols if f.name in names})
    else:
        raise EquationError(
            f"expected a string, sympy expression or number, found {type(eq).__name__} {eq!r}",
            source=f"equations.{s}",
            hint="write the equation as text in quotes",
        )
    if not all(c.is_finite for c in expr.atoms(sp.Number)):
        raise EquationError(f"non-finite number in {expr}", source=f"equations.{s}")
    return expr


class SymbolicModel:
    """A system of ODEs ``dx/dt = f(x)``: sympy equations with coefficient uncertainties.

    Parameters
    ----------
    states : sequence of str
        State names, in data column order.
    terms : sequence of TermEstimate
        The coefficients; a state without terms has ``dx/dt = 0``.
    pareto : dict, optional
        The ``pareto`` block (state -> list of ``{"complexity", "loss", "equation"}``).
    selection : dict, optional
        How the model was chosen (see :class:`sysid.select.selection.SelectionReport`).
    bounds : (ndarray, ndarray), optional
        Range of the data the model was fitted on; used to detect blow-ups.
    inputs : sequence of str
        Exogenous inputs the terms may use (``dx/dt = f(x, u)``); a simulation
        then needs the input signal.

    Attributes
    ----------
    equations : dict of str to sympy.Expr
        Right-hand sides with rounded coefficients.
    """

    def __init__(
        self,
        states: Sequence[str],
        terms: Sequence[TermEstimate],
        *,
        pareto: Mapping[str, Any] | None = None,
        selection: Mapping[str, Any] | None = None,
        bounds: tuple[np.ndarray, np.ndarray] | None = None,
        inputs: Sequence[str] | None = None,
    ):
        self.states = _check_state_names(states, "SymbolicModel")
        named = () if not inputs else _check_state_names(inputs, "SymbolicModel inputs")
        if set(named) & set(self.states):
            raise ConfigError(f"inputs {list(named)} repeat state names", source="SymbolicModel")
        self.symbols = state_symbols(self.states)
        by_name = {s.name: s for s in (*self.symbols, *state_symbols(named))}
        fixed = []
        for t in terms:
            if t.state not in self.states:
                raise ConfigError(
                    f"term of unknown state {t.state!r}",
                    source="SymbolicModel",
                    hint=f"states are {list(self.states)}",
                )
            term = sp.sympify(t.term)
            term = term.xreplace(
                {f: by_name[f.name] for f in term.free_symbols if f.name in by_name}
            )
            fixed.append(TermEstimate(t.state, term, float(t.coefficient), t.stderr, bool(t.fixed)))
        used = sorted({f.name for t in fixed for f in t.term.free_symbols} - set(self.states))
        if inputs is None:  # the terms' other names are inputs
            named = tuple(used)
        elif set(used) - set(named):
            raise ConfigError(
                f"terms use {sorted(set(used) - set(named))}, which are neither states "
                f"{list(self.states)} nor inputs {list(named)}",
                source="SymbolicModel",
            )
        if TIME in named:  # the clock comes last, as in time-dependent data
            named = (*(u for u in named if u != TIME), TIME)
        self.inputs: tuple[str, ...] = tuple(named)
        self.terms: list[TermEstimate] = fixed
        self.pareto = dict(pareto) if pareto else {}
        self.selection = dict(selection) if selection else {}
        self.bounds = (
            None
            if bounds is None
            else (np.asarray(bounds[0], dtype=float), np.asarray(bounds[1], dtype=float))
        )
        eqs = {s: sp.Integer(0) for s in self.states}
        for t in self.terms:
            eqs[t.state] = eqs[t.state] + _number(t.rounded) * t.term
        self.equations: dict[str, sp.Expr] = eqs

    # ------------------------------------------------------------- builders
    @classmethod
    def from_equations(
        cls,
        states: Sequence[str],
        equations: Mapping[str, str | sp.Expr],
        stderr: Mapping[tuple[str, str], float] | None = None,
        **kwargs: Any,
    ) -> SymbolicModel:
        """Build a model from equation strings (parsed safely) or sympy expressions.

        Parameters
        ----------
        states : sequence of str
        equations : mapping state -> str or sympy.Expr
            Numbers times terms of the states, e.g. ``"1.1*x - 0.4*x*y"``.
        stderr : mapping (state, term name) -> float, optional

        Examples
        --------
        >>> SymbolicModel.from_equations(["h", "v"], {"h": "v", "v": "-9.81 + 0.1*v^2"}).equations
        {'h': v, 'v': 0.1*v**2 - 9.81}
        >>> SymbolicModel.from_equations(["x"], {"x": "k*x"})
        Traceback (most recent call last):
        ...
        sysid.core.errors.EquationError: equations.x: unknown name 'k'...
        """
        src = "SymbolicModel.from_equations"
        states = _check_state_names(states, src)
        if not isinstance(equations, Mapping):
            raise ConfigError(
                f"equations must be a dict state -> equation, found {type(equations).__name__}",
                source=src,
                hint='e.g. {"x": "-0.5*x"}',
            )
        unknown_kw = sorted(set(kwargs) - set(_MODEL_OPTIONS))
        if unknown_kw:
            raise ConfigError(
                f"unknown option(s) {unknown_kw}",
                source=src,
                hint=f"allowed options are {list(_MODEL_OPTIONS)}",
            )
        if stderr is not None and not isinstance(stderr, Mapping):
            raise ConfigError(
                f"stderr must be a dict (state, term) -> float, found {type(stderr).__name__}",
                source=src,
            )
        inputs = tuple(kwargs.get("inputs", ()))
        symbols = state_symbols(states) + state_symbols(inputs)
        names = {s.name: s for s in symbols}
        missing = [s for s in states if s not in equations]
        extra = [s for s in equations if s not in states]
        if missing or extra:
            raise ConfigError(
                f"need one equation per state; missing {missing}, unknown {extra}",
                source="SymbolicModel.from_equations",
                hint=f"states are {list(states)}",
            )
        stderr = dict(stderr or {})
        terms = []
        exprs = {s: _equation_expr(s, equations[s], names) for s in states}
        time = sp.Symbol(TIME, real=True)
        if TIME not in names and any(time in e.free_symbols for e in exprs.values()):
            symbols = [*symbols, time]  # time-dependent: the clock is one more input
            kwargs = {**kwargs, "inputs": (*inputs, TIME)} if "inputs" in kwargs else kwargs
        for s, expr in exprs.items():
            for term, coef in expression_terms(expr, symbols):
                terms.append(TermEstimate(s, term, coef, stderr.get((s, str(term)))))
        return cls(states, terms, **kwargs)

    # ---------------------------------------------------------------- views
    def __repr__(self) -> str:
        eqs = ", ".join(f"{s}: {e}" for s, e in self.equations.items())
        return f"SymbolicModel({eqs})"

    def __str__(self) -> str:
        return "\n".join(f"d{s}/dt = {self.equations[s]}" for s in self.states)

    def _repr_latex_(self) -> str:
        return f"$${latex_system(self)}$$"

    def _repr_html_(self) -> str:
        return model_html(self)

    def to_python(self, name: str = "rhs") -> str:
        """Source text of a standalone function ``name(t, x, u=None)`` giving ``dx/dt``.

        It needs only Python's ``math`` module
        (:func:`~sysid.symbolic.show.python_source`).
        """
        return python_source(self, name)

    def to_sympy(self) -> list[sp.Eq]:
        """The system as ``Eq(Derivative(x(t), t), rhs)``, one per state.

        Its ``str`` reads back with ``sympy.sympify`` (e.g. for ``sympy.dsolve``).
        """
        return sympy_equations(self)

    def latex(self) -> dict[str, str]:
        r"""LaTeX of each right-hand side (multi-letter names upright, in ``\mathrm{}``).

        Examples
        --------
        >>> SymbolicModel.from_equations(["x"], {"x": "-0.5*x**2"}).latex()
        {'x': '- 0.5 x^{2}'}
        """
        names = latex_symbol_names(self)
        return {s: sp.latex(self.equations[s], symbol_names=names) for s in self.states}

    @property
    def n_params(self) -> int:
        """Number of coefficients."""
        return len(self.terms)

    def coefficients(self) -> dict[tuple[str, str], float]:
        """Rounded coefficients keyed by (state, term name)."""
        return {(t.state, str(t.term)): t.rounded for t in self.terms}

    def to_dict(self) -> dict[str, Any]:
        """The model's part of ``result.json``: states, equations, latex, terms, pareto.

        Examples
        --------
        >>> d = SymbolicModel.from_equations(["x"], {"x": "-2*x"}).to_dict()
        >>> d["equations"], d["terms"][0]["coefficient"]
        ({'x': '-2*x'}, -2.0)
        """
        out: dict[str, Any] = {
            "states": list(self.states),
            **({"inputs": list(self.inputs)} if self.inputs else {}),
            "equations": {s: str(self.equations[s]) for s in self.states},
            "latex": self.latex(),
            "terms": [t.to_dict() for t in self.terms],
            "pareto": self.pareto,
        }
        if self.selection:
            out["selection"] = self.selection
        if self.bounds is not None:
            out["bounds"] = [self.bounds[0].tolist(), self.bounds[1].tolist()]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "model") -> SymbolicModel:
        """Inverse of :meth:`to_dict` (also reads a ``result.json``)."""
        try:
            states = [str(s) for s in data["states"]]
            raw_terms = list(data["terms"])
        except (KeyError, TypeError):
            raise DataError(
                "expected keys 'states' and 'terms'",
                source=source,
                hint="pass a dict written by SymbolicModel.to_dict or a result.json",
            ) from None
        inputs = [str(u) for u in data.get("inputs", [])]
        names = {s.name: s for s in state_symbols([*states, *inputs])}
        terms = []
        for i, item in enumerate(raw_terms):
            try:
                state = str(item["state"])
                term = parse_equation(str(item["term"]), names, source=f"{source}: terms[{i}]")
                coef = float(item.get("unrounded", item["coefficient"]))
                err = item.get("stderr")
            except EquationError:
                raise
            except (KeyError, TypeError, ValueError) as exc:
                raise DataError(
                    f"terms[{i}] is malformed ({exc})",
                    source=source,
                    hint="each term needs 'state', 'term' and 'coefficient'",
                ) from None
            se = None if err is None else float(err)
            terms.append(TermEstimate(state, term, coef, se, bool(item.get("fixed", False))))
        bounds = data.get("bounds")
        if bounds is not None:
            try:
                bounds = (np.array(bounds[0], dtype=float), np.array(bounds[1], dtype=float))
                if bounds[0].shape != (len(states),) or bounds[1].shape != (len(states),):
                    raise ValueError("wrong shape")
            except (TypeError, ValueError, IndexError, KeyError):
                raise DataError(
                    f"'bounds' must be [lower, upper], one number per state each, "
                    f"found {data.get('bounds')!r}",
                    source=source,
                ) from None
        return cls(
            states,
            terms,
            pareto=data.get("pareto"),
            selection=data.get("selection"),
            bounds=bounds,
            inputs=inputs,
        )

    def save(self, path: str | os.PathLike) -> None:
        """Write the model as JSON (readable by :meth:`load`)."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike) -> SymbolicModel:
        """Read a model written by :meth:`save` (or the model part of a ``result.json``)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError("file not found", source=str(path), hint="check the path") from None
        except IsADirectoryError:
            raise DataError(
                "is a folder, not a model file",
                source=str(path),
                hint="pass the model.json written by SymbolicModel.save",
            ) from None
        except UnicodeDecodeError:
            raise DataError("not UTF-8 text", source=str(path)) from None
        except json.JSONDecodeError as err:
            raise DataError(f"not valid JSON ({err})", source=str(path)) from None
        return cls.from_dict(data, source=str(path))

    # -------------------------------------------------------------- numbers
    @cached_property
    def _compiled(self) -> tuple[CompiledSystem, np.ndarray]:
        params, theta = [], []
        for t in self.terms:
            params.append((self.states.index(t.state), t.term))
            theta.append(t.rounded)
        return CompiledSystem(self.states, params, self.inputs), np.array(theta, dtype=float)

    def rhs(self, x: np.ndarray, u: np.ndarray | None = None) -> np.ndarray:
        """``dx/dt`` at state(s) ``x`` (and inputs ``u``): (d,) -> (d,), or (n, d) -> (n, d)."""
        system, theta = self._compiled
        if self.inputs and u is None:
            raise DataError(
                f"the model has inputs {list(self.inputs)}: pass their values u",
                source="SymbolicModel.rhs",
            )
        arr = _float_array(x, "x", "SymbolicModel.rhs")
        single = arr.ndim == 1
        arr2 = arr[None, :] if single else arr
        if arr2.ndim != 2 or arr2.shape[1] != len(self.states):
            raise DataError(
                f"expected state(s) of shape ({len(self.states)},) or (n, {len(self.states)}), "
                f"found {arr.shape}",
                source="SymbolicModel.rhs",
            )
        uu = None if u is None else np.atleast_2d(_float_array(u, "u", "SymbolicModel.rhs"))
        out = system.rhs(arr2, system.coefficient_matrix(theta), uu)
        return out[0] if single else out

    def ode(self, t: float, x: np.ndarray) -> np.ndarray:
        """``f(t, x)`` for ``scipy.integrate.solve_ivp``; ``x`` of shape (d,) or (d, n).

        A model whose only input is the time ``t`` reads it from ``t``.
        """
        arr = np.asarray(x, dtype=float)
        if self.inputs == (TIME,):
            u = np.full((1 if arr.ndim == 1 else arr.shape[1], 1), float(t))
            return self.rhs(arr, u[0]) if arr.ndim == 1 else self.rhs(arr.T, u).T
        if self.inputs:
            raise DataError(
                f"the model has inputs {list(self.inputs)}: use simulate(x0, t, inputs=...)",
                source="SymbolicModel.ode",
            )
        if arr.ndim == 1:
            return self.rhs(arr)
        return self.rhs(arr.T).T

    __call__ = ode

    def simulate(
        self,
        x0: Sequence[float] | np.ndarray,
        t: Sequence[float] | np.ndarray,
        *,
        max_evals: int = MAX_EVALS,
        time_limit: float = SIMULATION_TIME_LIMIT,
        rtol: float = 1e-8,
        inputs: Any = None,
    ) -> np.ndarray:
        """Integrate from ``x0`` at ``t[0]`` and return the states at times ``t``.

        A model with inputs needs ``inputs``: an
        :class:`~sysid.data.inputs.InputSignal` (absolute time), or an array
        (len(t), k) of input values at the times ``t`` (read linearly between them).

        One guarded simulation (:mod:`sysid.core.ode`): at most ``max_evals``
        right-hand-side evaluations and ``time_limit`` wall seconds; a blow-up is
        a non-finite state or one more than 1000 widths outside the range of the
        fitted data and ``x0`` (a width: that range, at least its largest
        magnitude and 1). Each raises :class:`~sysid.core.errors.SimulationError`
        naming the reason.

        Returns
        -------
        ndarray (n, d)

        Examples
        --------
        >>> m = SymbolicModel.from_equations(["x"], {"x": "x**2"})
        >>> m.simulate([1.0], [0.0, 2.0])
        Traceback (most recent call last):
        ...
        sysid.core.errors.SimulationError: simulation from [1.0] failed: blow-up: state 'x'...
        """
        src = "SymbolicModel.simulate"
        x0 = _float_array(x0, "x0", src).ravel()
        t_arr = _float_array(t, "t", src)
        if t_arr.ndim == 0:  # one number is not a time grid: the start would be that time
            raise DataError(
                f"t must be 1-D times starting at x0's time, found the single number {t!r}",
                source=src,
                hint=f"pass the times to return, e.g. t=np.linspace(0, {t!r}, 101)",
            )
        if t_arr.ndim > 1:
            raise DataError(f"t must be 1-D times, found shape {t_arr.shape}", source=src)
        t = t_arr.ravel()
        _check_positive(max_evals, "max_evals", src, integer=True)
        _check_positive(time_limit, "time_limit", src)
        _check_positive(rtol, "rtol", src)
        d = len(self.states)
        if x0.shape != (d,) or not np.isfinite(x0).all():
            raise DataError(
                f"x0 must be {d} finite numbers (one per state {list(self.states)}), found {x0}",
                source="SymbolicModel.simulate",
            )
        if t.size == 0 or not np.isfinite(t).all() or (np.diff(t) <= 0).any():
            raise DataError(
                "t must be finite, strictly increasing times", source="SymbolicModel.simulate"
            )
        pts = x0[None, :]
        if self.bounds is not None:
            pts = np.vstack([pts, self.bounds[0], self.bounds[1]])
        # The solver's absolute tolerance follows x0 (scale None), as for any start.
        guard = Guard.around(
            pts,
            margin=1e3,
            floor=1.0,
            least=1.0,
            max_evals=int(max_evals),
            simulation_time_limit=float(time_limit),
        )
        guard = dataclasses.replace(guard, scale=None)
        system, theta = self._compiled
        signal = self._signal(inputs, t)
        try:
            x, _, _ = simulate_batch(
                system,
                theta,
                x0[None, :],
                t - t[0],
                guard=guard,
                rtol=rtol,
                inputs=None if signal is None else batch_inputs([signal], [float(t[0])]),
            )
        except GuardTripped as err:
            raise SimulationError(
                f"simulation from {x0.tolist()} failed: {err.reason}. Remedies: shorten the "
                "time span, start inside the data's range, or choose another candidate model"
            ) from None
        return x[0]

    def _signal(self, inputs: Any, t: np.ndarray) -> Any:
        """The input signal of a simulation over ``t``, checked (None without inputs).

        The clock ``t`` of a time-dependent model is never passed: it is the time.
        """
        return signal_for(self.inputs, inputs, t, "SymbolicModel.simulate")
