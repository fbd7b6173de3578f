"""Ways to show and export a :class:`~sysid.symbolic.model.SymbolicModel`.

LaTeX with ``\\frac{d x}{d t}`` and upright multi-letter names, an HTML block
for notebooks (equations and a table of constants with standard errors), the
constants as text lines (as the command line prints them), a standalone
Python function (source text that needs only the standard library), and the
system as sympy equations ``Eq(Derivative(x(t), t), ...)``.

Examples
--------
>>> from sysid.symbolic.model import SymbolicModel
>>> m = SymbolicModel.from_equations(["x", "Vm"], {"x": "-0.5*x*Vm", "Vm": "x - Vm"})
>>> print(latex_system(m))
\\begin{aligned}
\\frac{d x}{d t} &= - 0.5 \\mathrm{Vm} x \\\\
\\frac{d \\mathrm{Vm}}{d t} &= - \\mathrm{Vm} + x
\\end{aligned}
>>> sympy_equations(m)[0]
Eq(Derivative(x(t), t), -0.5*Vm(t)*x(t))
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING

import sympy as sp
from sympy.printing.pycode import pycode

from sysid.core.errors import ConfigError

if TYPE_CHECKING:
    from sysid.symbolic.model import SymbolicModel

__all__ = [
    "latex_name",
    "latex_symbol_names",
    "latex_system",
    "model_html",
    "coefficient_lines",
    "python_source",
    "sympy_equations",
]

#: Names sympy already sets well: one letter, digits as a subscript, or a Greek letter.
_PLAIN = re.compile(r"[A-Za-z]\d*")
_GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "phi", "chi", "psi", "omega",
}  # fmt: skip


def latex_name(name: str) -> str:
    r"""The LaTeX of a state or input name: ``\mathrm{}`` around multi-letter names.

    Examples
    --------
    >>> latex_name("x"), latex_name("x1"), latex_name("Vm"), latex_name("T_room")
    ('x', 'x_{1}', '\\mathrm{Vm}', '\\mathrm{T\\_room}')
    """
    if _PLAIN.fullmatch(name) or name.lower() in _GREEK:
        return sp.latex(sp.Symbol(name))
    return r"\mathrm{" + name.replace("_", r"\_") + "}"


def latex_symbol_names(model: SymbolicModel) -> dict[sp.Symbol, str]:
    """The LaTeX of every symbol of the model's equations (``symbol_names`` of ``sympy.latex``)."""
    syms = {s for e in model.equations.values() for s in e.free_symbols}
    return {s: latex_name(s.name) for s in syms}


def latex_system(model: SymbolicModel) -> str:
    r"""The equations as one LaTeX ``aligned`` block, ``\frac{d x}{d t} &= ...`` per state."""
    names = latex_symbol_names(model)
    rows = [
        rf"\frac{{d {latex_name(s)}}}{{d t}} &= " + sp.latex(model.equations[s], symbol_names=names)
        for s in model.states
    ]
    return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"


def coefficient_lines(model: SymbolicModel) -> list[str]:
    """The constants of each equation with their standard errors, one line per state.

    Examples
    --------
    >>> from sysid.symbolic.model import SymbolicModel, TermEstimate
    >>> import sympy as sp
    >>> m = SymbolicModel(["x"], [TermEstimate("x", sp.Symbol("x"), -0.512, 0.013)])
    >>> coefficient_lines(m)
    ['  dx/dt coefficients  x: -0.512 +/- 0.013']
    """
    by_state: dict[str, list[str]] = {}
    for term in model.to_dict()["terms"]:
        err = term.get("stderr")
        txt = f"{term['term']}: {term['coefficient']:g}" + (
            " (fixed)" if term.get("fixed") else f" +/- {err:.2g}" if err is not None else ""
        )
        by_state.setdefault(term["state"], []).append(txt)
    return [f"  d{s}/dt coefficients  " + "; ".join(items) for s, items in by_state.items()]


def model_html(model: SymbolicModel) -> str:
    """An HTML block for notebooks: the equations (MathJax) and a table of the constants."""
    rows = []
    for term in model.to_dict()["terms"]:
        err = term.get("stderr")
        rows.append(
            "<tr><td>d{}/dt</td><td><code>{}</code></td><td>{:g}</td><td>{}</td></tr>".format(
                html.escape(term["state"]),
                html.escape(term["term"]),
                term["coefficient"],
                "" if err is None else f"{err:.2g}",
            )
        )
    table = (
        "<table><thead><tr><th>equation</th><th>term</th><th>coefficient</th>"
        "<th>standard error</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )
    return f"<div>$$\n{latex_system(model)}\n$$\n{table}</div>"


def python_source(model: SymbolicModel, name: str = "rhs") -> str:
    """Source text of a standalone function ``name(t, x, u=None)`` returning ``dx/dt``.

    It needs only Python's ``math`` module; ``x`` is the states in the model's
    order, ``u`` the inputs (for a model with inputs).

    Examples
    --------
    >>> from sysid.symbolic.model import SymbolicModel
    >>> m = SymbolicModel.from_equations(["x", "y"], {"x": "y", "y": "-sin(x)"})
    >>> space = {}
    >>> exec(python_source(m), space)
    >>> space["rhs"](0.0, [0.0, 1.0])
    [1.0, -0.0]
    """
    if not name.isidentifier():
        raise ConfigError(f"function name {name!r} is not a Python identifier", source="name")
    lines = [
        "import math",
        "",
        "",
        f"def {name}(t, x, u=None):",
        f'    """dx/dt of {", ".join(model.states)} (equations found by sysid)."""',
        "    _states, _inputs = x, u",
        f"    {', '.join(model.states)}, = _states",
    ]
    if model.inputs:
        lines.append(f"    {', '.join(model.inputs)}, = _inputs")
    body = [pycode(model.equations[s], fully_qualified_modules=True) for s in model.states]
    lines.append("    return [" + ", ".join(f"float({b})" for b in body) + "]")
    return "\n".join(lines) + "\n"


def sympy_equations(model: SymbolicModel) -> list[sp.Eq]:
    """The system as sympy equations ``Eq(Derivative(x(t), t), rhs)`` (``str`` of it re-reads)."""
    t = sp.Symbol("t")
    funcs = {}
    for e in model.equations.values():
        for s in e.free_symbols:
            funcs[s] = sp.Function(s.name)(t)
    return [
        sp.Eq(sp.Derivative(sp.Function(s)(t), t), model.equations[s].xreplace(funcs))
        for s in model.states
    ]
