"""The safe expression parser: untrusted equation text to sympy, without ``eval``."""

from __future__ import annotations

import ast
import keyword
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import sympy as sp

from sysid.core.errors import EquationError

__all__ = [
    "IDENTIFIER",
    "usable_name",
    "ALLOWED_FUNCTIONS",
    "ALLOWED_CONSTANTS",
    "FUNCTION_COST",
    "parse_equation",
    "state_symbols",
    "term_complexity",
]

#: Functions a problem file's equations may call, by name.
ALLOWED_FUNCTIONS: dict[str, Any] = {
    "sin": sp.sin,
    "cos": sp.cos,
    "tan": sp.tan,
    "exp": sp.exp,
    "log": sp.log,
    "sqrt": sp.sqrt,
    "tanh": sp.tanh,
    "Abs": sp.Abs,
    "sign": sp.sign,
}


#: Constants a problem file's equations may use.
ALLOWED_CONSTANTS: dict[str, Any] = {"pi": sp.pi, "E": sp.E}


_MAX_EXPONENT = 100


_MAX_EXPANDED_TERMS = 10_000


_ALLOWED_AST = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.Call,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.Pow,
    ast.USub,
    ast.UAdd,
)


def parse_equation(
    text: str,
    names: Mapping[str, sp.Basic] | Sequence[str],
    *,
    source: str = "equation",
    functions: Mapping[str, Any] | None = None,
) -> sp.Expr:
    """Parse an equation string safely into a sympy expression.

    Only numbers, the operators ``+ - * / **``, parentheses, the given
    ``names``, ``t``, the whitelisted functions (:data:`ALLOWED_FUNCTIONS`) and
    ``pi``/``E`` are accepted; anything else raises :class:`EquationError`
    naming the offending token. The text is checked as a Python syntax tree
    before sympy sees it, so no code is ever evaluated.

    Parameters
    ----------
    text : str
        The expression, e.g. ``"alpha*x - beta*x*y"``.
    names : sequence of str or mapping name -> sympy symbol
        Allowed variable names.
    source : str
        Where the text comes from, for error messages.
    functions : mapping, optional
        Allowed functions; default :data:`ALLOWED_FUNCTIONS`.

    Examples
    --------
    >>> parse_equation("a*sin(x) - x**2", ["a", "x"])
    a*sin(x) - x**2
    >>> parse_equation("__import__('os')", ["x"])
    Traceback (most recent call last):
    ...
    sysid.core.errors.EquationError: equation: unknown function '__import__' in...
    """
    functions = dict(ALLOWED_FUNCTIONS if functions is None else functions)
    if isinstance(names, Mapping):
        symbols = {str(k): v for k, v in names.items()}
    else:
        symbols = {str(n): sp.Symbol(str(n), real=True) for n in names}
    symbols.setdefault("t", sp.Symbol("t", real=True))
    text, symbols = _keyword_names(text, symbols)
    tree, py_text = _syntax_tree(text, source)
    _check_tree(tree, py_text, text, symbols, functions, source)
    try:
        expr = _build(tree.body, symbols, functions, source, text)
    except RecursionError:
        raise EquationError(
            f"{_short(text)} is nested too deeply", source=source, hint="simplify the expression"
        ) from None
    if expr.has(sp.zoo, sp.oo, sp.nan):
        raise EquationError(
            f"{_short(text)} evaluates to an infinite or undefined number ({expr})",
            source=source,
            hint="check for a division by zero",
        )
    if _expanded_size(expr) > _MAX_EXPANDED_TERMS:
        raise EquationError(
            f"{_short(text)} would expand to more than {_MAX_EXPANDED_TERMS} terms",
            source=source,
            hint="write the right-hand side in a simpler form",
        )
    return expr


def _keyword_names(text: Any, symbols: dict[str, sp.Basic]) -> tuple[Any, dict[str, sp.Basic]]:
    """Names that are Python keywords (a state ``lambda``) renamed so that the text parses.

    Each such name becomes ``_kw_<name>_`` in the text and in ``symbols`` (which
    keeps the user's symbol), so ``-lambda*y`` parses to ``-lambda*y``.
    """
    taken = [n for n in symbols if keyword.iskeyword(n)]
    if not taken or not isinstance(text, str):
        return text, symbols
    symbols = dict(symbols)
    for name in taken:
        alias = f"_kw_{name}_"
        text = re.sub(rf"(?<![\w.]){name}(?!\w)", alias, text)
        symbols[alias] = symbols.pop(name)
    return text, symbols


def _syntax_tree(text: Any, source: str) -> tuple[ast.Expression, str]:
    """Parse ``text`` (``^`` read as ``**``) as a Python expression; return it and its text."""
    if not isinstance(text, str):
        raise EquationError(
            f"expected a string, got {type(text).__name__} {text!r}",
            source=source,
            hint="write the equation as text in quotes",
        )
    if not text.strip():
        raise EquationError("empty equation", source=source, hint="write the right-hand side")
    if len(text) > 10_000:
        raise EquationError(
            f"equation is {len(text)} characters long", source=source, hint="shorten it"
        )
    py_text = text.replace("^", "**")
    try:
        tree = ast.parse(py_text.strip(), mode="eval")
    except SyntaxError as err:
        raise EquationError(
            f"syntax error in {_short(text)} at column {err.offset}",
            source=source,
            hint="use + - * / ** and parentheses",
        ) from None
    except (RecursionError, MemoryError):
        raise EquationError(
            f"{_short(text)} is nested too deeply", source=source, hint="simplify the expression"
        ) from None
    return tree, py_text


def _check_tree(
    tree: ast.Expression,
    py_text: str,
    text: str,
    symbols: Mapping[str, sp.Basic],
    functions: Mapping[str, Any],
    source: str,
) -> None:
    """Reject any node but numbers, known names, whitelisted calls and arithmetic."""
    allowed_names = set(symbols) | set(ALLOWED_CONSTANTS)
    called: set[int] = set()  # ids of the Name nodes that are called as functions
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_AST):
            token = ast.get_source_segment(py_text.strip(), node) or type(node).__name__
            raise EquationError(
                f"forbidden syntax {token!r} ({type(node).__name__}) in {_short(text)}",
                source=source,
                hint="only numbers, names, + - * / **, parentheses and whitelisted functions "
                "are allowed",
            )
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in functions:
                fname = (
                    node.func.id
                    if isinstance(node.func, ast.Name)
                    else ast.get_source_segment(py_text.strip(), node.func) or ast.dump(node.func)
                )
                raise EquationError(
                    f"unknown function '{fname}' in {_short(text)}",
                    source=source,
                    hint=f"allowed functions are {sorted(functions)}",
                )
            if node.keywords or len(node.args) != 1:
                raise EquationError(
                    f"function '{node.func.id}' takes exactly one argument in {_short(text)}",
                    source=source,
                    hint="write e.g. sin(x)",
                )
            called.add(id(node.func))
        elif isinstance(node, ast.Name):
            if node.id in functions and node.id not in symbols and id(node) not in called:
                raise EquationError(
                    f"function '{node.id}' is used without an argument in {_short(text)}",
                    source=source,
                    hint=f"write e.g. {node.id}(x)",
                )
            if node.id not in allowed_names and node.id not in functions:
                raise EquationError(
                    f"unknown name '{node.id}' in {_short(text)}",
                    source=source,
                    hint=f"known names are {sorted(allowed_names - {'t'})} and t",
                )
        elif isinstance(node, ast.Constant) and (
            isinstance(node.value, bool) or not isinstance(node.value, (int, float))
        ):
            raise EquationError(
                f"forbidden constant {node.value!r} in {_short(text)}",
                source=source,
                hint="only numbers may appear as constants",
            )


def _short(text: str, limit: int = 80) -> str:
    """The text quoted for a message, cut to ``limit`` characters."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."


def _expanded_size(expr: sp.Basic) -> float:
    """An upper bound of the number of terms of ``sympy.expand(expr)``, without expanding."""
    if isinstance(expr, sp.Add):
        return sum(_expanded_size(a) for a in expr.args)
    if isinstance(expr, sp.Mul):
        return math.prod(_expanded_size(a) for a in expr.args)
    if isinstance(expr, sp.Pow) and expr.exp.is_Integer and int(expr.exp) > 1:
        n, k = int(expr.exp), _expanded_size(expr.base)
        return float(math.comb(int(min(k, 1e6)) + n - 1, n)) if k > 1 else 1.0
    return 1.0


def _build(
    node: ast.AST,
    symbols: Mapping[str, Any],
    functions: Mapping[str, Any],
    source: str = "equation",
    text: str = "",
) -> sp.Expr:
    """Turn a checked syntax tree into a sympy expression (no eval)."""
    if isinstance(node, ast.Constant):
        v = node.value
        return sp.Integer(v) if isinstance(v, int) else sp.Float(v)
    if isinstance(node, ast.Name):
        if node.id in symbols:
            return symbols[node.id]
        return ALLOWED_CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp):
        operand = _build(node.operand, symbols, functions, source, text)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.Call):
        return functions[node.func.id](_build(node.args[0], symbols, functions, source, text))
    if isinstance(node, ast.BinOp):
        a = _build(node.left, symbols, functions, source, text)
        b = _build(node.right, symbols, functions, source, text)
        op = type(node.op)
        if op is ast.Add:
            return a + b
        if op is ast.Sub:
            return a - b
        if op is ast.Mult:
            return a * b
        if op is ast.Div:
            return a / b
        _check_power(a, b, source, text)
        return a**b
    raise EquationError(f"cannot read {ast.dump(node)}")  # pragma: no cover


def _check_power(base: sp.Expr, exp: sp.Expr, source: str, text: str) -> None:
    """Refuse powers whose evaluation would take unbounded time or memory."""
    if not exp.is_Number:
        return
    if abs(exp) > _MAX_EXPONENT:
        raise EquationError(
            f"exponent {exp} in {_short(text)} is too large (at most {_MAX_EXPONENT})",
            source=source,
            hint="write the power with a smaller exponent",
        )
    if base.is_Number and base != 0 and abs(exp) * abs(float(sp.log(abs(base), 10))) > 300:
        raise EquationError(
            f"the number {sp.N(base, 3)}**{exp} in {_short(text)} is out of range",
            source=source,
            hint="use numbers between 1e-300 and 1e300",
        )


#: A name of a state, parameter or input: letters, digits and '_', not starting with a digit.
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def usable_name(name: str) -> bool:
    """Can ``name`` be a state, parameter or input? An identifier, not a Python keyword,
    not a function or constant of the parser, not the time ``t``.

    Examples
    --------
    >>> usable_name("omega"), usable_name("sin"), usable_name("t"), usable_name("2x")
    (True, False, False, False)
    """
    return bool(
        IDENTIFIER.match(name)
        and not keyword.iskeyword(name)
        and name not in ALLOWED_FUNCTIONS
        and name not in ALLOWED_CONSTANTS
        and name != "t"
    )


def state_symbols(states: Sequence[str]) -> tuple[sp.Symbol, ...]:
    """Real sympy symbols for state names (the same symbols :class:`~sysid.Problem` uses).

    Examples
    --------
    >>> state_symbols(["S", "I"])
    (S, I)
    """
    return tuple(sp.Symbol(str(s), real=True) for s in states)


#: Nodes a function application (sin, cos, exp, log...) counts for.
FUNCTION_COST = 3


def term_complexity(term: sp.Expr) -> int:
    """Size of a term: the nodes of its sympy expression tree, functions counting 3.

    A transcendental function costs more than a power, so that between two
    equally good fits ``a*x + b*x**3`` beats ``a*x + b*sin(x)`` (on a small
    range ``sin(x)`` imitates ``x - x**3/6``): the simpler law in the usual
    sense wins the ties of selection.

    Examples
    --------
    >>> x, y = state_symbols(["x", "y"])
    >>> term_complexity(sp.Integer(1)), term_complexity(x), term_complexity(x * y)
    (1, 1, 3)
    >>> term_complexity(x**3), term_complexity(sp.sin(x))
    (3, 4)
    """
    return sum(
        FUNCTION_COST if isinstance(node, sp.Function) else 1
        for node in sp.preorder_traversal(term)
    )
