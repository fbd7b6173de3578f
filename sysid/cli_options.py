"""The method options of ``sysid discover`` and ``sysid recover``: library, field, search, budget.

The command line's face of the Python components (``docs/contract.md#cli-method``):
each flag maps to one option of :class:`~sysid.symbolic.library.Library`,
:class:`~sysid.neural.field.NeuralField`, the expression search or
:class:`~sysid.select.options.Selection`, and is checked here, before any
data are read, with an error that names the flag. Nothing here imports torch
until ``--device`` is checked (``sysid --help`` stays fast).

Examples
--------
>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_method_arguments(parser)
>>> method_options(parser.parse_args(["--degree", "2", "--no-trig", "--max-epochs", "50"]))
{'library': {'degree': 2, 'trig': False}, 'neural': {'max_epochs': 50}}
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from sysid.core.errors import ConfigError

__all__ = ["add_method_arguments", "method_options"]

#: ``--expression-search`` choices (``ExpressionSearch(mode=...)``).
SEARCH_MODES = ("auto", "always", "never")


def add_method_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of the method: term library, neural field, expression search, time budget."""
    group = parser.add_argument_group("method (defaults: one setting for every problem)")
    group.add_argument(
        "--degree", type=int, default=None, metavar="N",
        help="highest degree of the library's monomials (default: 3)",
    )  # fmt: skip
    group.add_argument("--no-trig", action="store_true", help="no sin and cos terms in the library")
    group.add_argument(
        "--extra-term", action="append", default=None, metavar="EXPR", dest="extra",
        help="one more library term, e.g. --extra-term 'x/(1 + x)' (repeat for more)",
    )  # fmt: skip
    group.add_argument(
        "--expression-search", choices=SEARCH_MODES, default=None,
        help="search expression trees: auto (when the library fits poorly; default), "
        "always or never",
    )  # fmt: skip
    group.add_argument(
        "--max-epochs", type=int, default=None, metavar="N",
        help="most training epochs of the neural field (default: the field's own)",
    )  # fmt: skip
    group.add_argument(
        "--device", default=None, metavar="DEV",
        help="torch device of the neural field: cpu (default), cuda, cuda:1, mps",
    )  # fmt: skip
    group.add_argument(
        "--field-time-limit", type=float, default=None, metavar="S",
        help="most seconds of neural-field training (default: the field's own)",
    )  # fmt: skip
    group.add_argument(
        "--selection-time-limit", type=float, default=None, metavar="S",
        help="most seconds of the refit and selection (default: the selection's own)",
    )  # fmt: skip


def _positive(value: float | None, flag: str, integer: bool = False) -> None:
    if value is None:
        return
    ok = value >= 1 if integer else math.isfinite(value) and value > 0
    if not ok:
        what = "an integer >= 1" if integer else "a finite number of seconds > 0"
        raise ConfigError(f"must be {what}, found {value:g}", source=flag)


def _check_device(device: str) -> None:
    """The torch device exists here, or a ConfigError naming ``--device`` (imports torch)."""
    from sysid.neural.options import torch_device

    try:
        torch_device(device)
    except ConfigError as err:
        raise ConfigError(
            err.message, source="--device", hint="--device cpu (the default)"
        ) from None


def method_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``discover`` keyword arguments of the flags given (none: the defaults).

    Raises
    ------
    ConfigError
        A value out of range, naming the flag.
    """
    if args.degree is not None and args.degree < 0:
        raise ConfigError(
            f"must be an integer >= 0, found {args.degree}", source="--degree",
            hint="3 (the default) covers most mechanics, chemistry and ecology",
        )  # fmt: skip
    _positive(args.max_epochs, "--max-epochs", integer=True)
    _positive(args.field_time_limit, "--field-time-limit")
    _positive(args.selection_time_limit, "--selection-time-limit")
    if args.device is not None:
        _check_device(args.device)
    if args.extra is not None and not all(e.strip() for e in args.extra):
        raise ConfigError(
            "an empty term", source="--extra-term", hint="e.g. --extra-term 'x/(1 + x)'"
        )
    library = {
        "degree": args.degree,
        "trig": False if args.no_trig else None,
        "extra": None if args.extra is None else [e.strip() for e in args.extra],
    }
    neural = {
        "max_epochs": args.max_epochs,
        "device": args.device,
        "time_limit": args.field_time_limit,
    }
    out: dict[str, Any] = {}
    for key, given in (("library", library), ("neural", neural)):
        given = {k: v for k, v in given.items() if v is not None}
        if given:
            out[key] = given
    if args.selection_time_limit is not None:
        out["select_options"] = {"time_limit": args.selection_time_limit}
    if args.expression_search is not None:
        out["expression_search"] = args.expression_search
    return out
