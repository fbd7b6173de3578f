"""Frozen, validated option sets: the base of the estimator's components.

A component (:class:`~sysid.symbolic.options.Distiller`,
:class:`~sysid.symbolic.options.ExpressionSearch`,
:class:`~sysid.select.options.Selection`) holds the options of one stage of
:class:`sysid.SysID`. Its defaults live in its signature, it checks every
option when it is built (before any training) and it cannot be changed
afterwards: :meth:`Options.replace` makes a new, checked one.

Examples
--------
>>> from dataclasses import dataclass
>>> @dataclass(frozen=True, repr=False)
... class Budget(Options):
...     seconds: float = 10.0
...
...     def _validate(self) -> None:
...         check_real(self, "seconds", 0.0, strict=True)
>>> Budget()
Budget()
>>> Budget(seconds=2.5).to_dict()
{'seconds': 2.5}
>>> Budget(seconds=-1)
Traceback (most recent call last):
...
sysid.core.errors.ConfigError: Budget(seconds=...): seconds must be a finite number > 0, found -1
>>> Budget().replace(second=1)
Traceback (most recent call last):
...
sysid.core.errors.ConfigError: Budget: unknown option(s) ['second']. Hint: valid options are...
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from sysid.core.errors import ConfigError
from sysid.core.renamed import with_new_names

__all__ = [
    "Options",
    "check_bool",
    "check_bool_value",
    "check_choice",
    "check_choice_value",
    "check_fraction",
    "check_int",
    "check_int_value",
    "check_real",
    "check_real_value",
    "check_seed_value",
    "json_value",
    "MAX_SEED",
    "unknown_options",
]

_O = TypeVar("_O", bound="Options")


def unknown_options(given: Mapping[str, Any], valid: Sequence[str], source: str) -> None:
    """A :class:`ConfigError` naming the keys of ``given`` that are not in ``valid``.

    Examples
    --------
    >>> unknown_options({"widht": 3}, ["width"], "argument 'neural'")
    Traceback (most recent call last):
    ...
    sysid.core.errors.ConfigError: argument 'neural': unknown option(s) ['widht']...
    """
    unknown = sorted(str(k) for k in set(given) - set(valid))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {unknown}",
            source=source,
            hint=f"valid options are {sorted(valid)}",
        )


@dataclasses.dataclass(frozen=True, repr=False)
class Options:
    """Base of the frozen option sets; subclasses are frozen dataclasses.

    Subclasses check their fields in ``_validate`` (called on construction)
    and store the values exactly as given (``sklearn.base.clone`` checks that).
    """

    #: Old option names -> new ones, still accepted (:func:`~sysid.core.renamed.renamed_options`).
    renamed: ClassVar[Mapping[str, str]] = {}

    def __post_init__(self) -> None:
        self._validate()

    def _validate(self) -> None:
        """Check every option; raise :class:`ConfigError` naming the first bad one."""

    def _source(self, name: str) -> str:
        return f"{type(self).__name__}({name}=...)"

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        """The names of the options, in signature order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The options as given (scikit-learn's protocol; ``deep`` has no effect)."""
        return {n: getattr(self, n) for n in self.option_names()}

    def set_params(self, **params: Any) -> None:
        """Refused: options are frozen. Use :meth:`replace`."""
        raise ConfigError(
            f"{type(self).__name__} options cannot be changed in place",
            source=type(self).__name__,
            hint=f"use {type(self).__name__}.replace(...) for a new set, or "
            "SysID.set_params(component__option=value)",
        )

    def replace(self: _O, **changes: Any) -> _O:
        """A new, checked option set with ``changes`` applied."""
        name = type(self).__name__
        changes = with_new_names(name, changes, self.renamed)
        unknown_options(changes, self.option_names(), name)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready options (for ``result.json``)."""
        return {k: json_value(v) for k, v in self.get_params().items()}

    def __sklearn_clone__(self: _O) -> _O:
        return self  # immutable: sharing is safe

    def __repr__(self) -> str:
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        changed = [
            f"{k}={v!r}" for k, v in self.get_params().items() if repr(v) != repr(defaults[k])
        ]
        return f"{type(self).__name__}({', '.join(changed)})"


def json_value(value: Any) -> Any:
    """``value`` as JSON-ready data: numbers, strings, lists; anything else as its repr.

    Examples
    --------
    >>> json_value(("+", "*")), json_value(frozenset({2, 1}))
    (['+', '*'], [1, 2])
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (tuple, list, set, frozenset)):
        items = [json_value(v) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    return repr(value)


# ------------------------------------------------------------- validators
# Value checks (``*_value``: a value, its name and the source to name in the
# message), and the same checks of an option set's field (``owner.name``,
# named as ``Owner(name=...)``): the one set of validators of the package.
def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_int_value(value: Any, name: str, lo: int, source: str) -> None:
    """``value`` an integer >= ``lo``.

    Examples
    --------
    >>> check_int_value(0, "width", 1, "NeuralField(width=...)")
    Traceback (most recent call last):
    ...
    sysid.core.errors.ConfigError: NeuralField(width=...): width must be an integer >= 1, found 0
    """
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < lo:
        raise ConfigError(f"{name} must be an integer >= {lo}, found {value!r}", source=source)


#: The largest seed: seeds are stored as 64-bit signed integers (torch, numpy, CSV columns).
MAX_SEED = 2**63 - 1


def check_seed_value(value: Any, source: str, *, none_ok: bool = False) -> None:
    """``value`` an integer in ``[0, MAX_SEED]`` (or None with ``none_ok``).

    Examples
    --------
    >>> check_seed_value(99999999999999999999, "argument 'seed'")
    Traceback (most recent call last):
    ...
    sysid.core.errors.ConfigError: argument 'seed': seed must be an integer in [0, 2**63 - 1], ...
    """
    if none_ok and value is None:
        return
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not (ok and 0 <= value <= MAX_SEED):
        wanted = "None or an integer" if none_ok else "an integer"
        raise ConfigError(
            f"seed must be {wanted} in [0, 2**63 - 1], found {value!r}",
            source=source,
            hint="any whole number from 0 to 9223372036854775807 works, e.g. 0 or 42",
        )


def check_real_value(
    value: Any,
    name: str,
    lo: float,
    source: str,
    *,
    strict: bool = False,
    hi: float | None = None,
    hint: str | None = None,
) -> None:
    """``value`` a finite number > ``lo`` (``strict``) or >= ``lo``, and < ``hi`` if given."""
    ok = _is_real(value) and math.isfinite(value) and (value > lo if strict else value >= lo)
    if ok and hi is not None:
        ok = value < hi
    if not ok:
        if hi is not None:
            rng = f"in {'(' if strict else '['}{lo:g}, {hi:g})"
        else:
            rng = f"{'>' if strict else '>='} {lo:g}"
        raise ConfigError(
            f"{name} must be a finite number {rng}, found {value!r}", source=source, hint=hint
        )


def check_choice_value(
    value: Any, name: str, choices: Sequence[str], source: str, hint: str | None = None
) -> None:
    """``value`` one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(
            f"{name} must be one of {list(choices)}, found {value!r}", source=source, hint=hint
        )


def check_bool_value(value: Any, name: str, source: str) -> None:
    """``value`` True or False (numpy's bool too)."""
    if not isinstance(value, bool) and type(value).__name__ not in ("bool", "bool_"):
        raise ConfigError(f"{name} must be True or False, found {value!r}", source=source)


def check_int(owner: Options, name: str, lo: int) -> None:
    """``owner.name`` an integer >= ``lo``."""
    check_int_value(getattr(owner, name), name, lo, owner._source(name))


def check_real(
    owner: Options,
    name: str,
    lo: float,
    *,
    strict: bool = False,
    hi: float | None = None,
    hint: str | None = None,
) -> None:
    """``owner.name`` a finite number > ``lo`` (``strict``) or >= ``lo``, and < ``hi`` if given."""
    check_real_value(
        getattr(owner, name), name, lo, owner._source(name), strict=strict, hi=hi, hint=hint
    )


def check_fraction(owner: Options, name: str, hint: str | None = None) -> None:
    """``owner.name`` a number in [0, 1)."""
    value = getattr(owner, name)
    if not (_is_real(value) and math.isfinite(value) and 0.0 <= value < 1.0):
        raise ConfigError(
            f"{name} must be in [0, 1), found {value!r}", source=owner._source(name), hint=hint
        )


def check_choice(
    owner: Options, name: str, choices: Sequence[str], hint: str | None = None
) -> None:
    """``owner.name`` one of ``choices``."""
    check_choice_value(getattr(owner, name), name, choices, owner._source(name), hint)


def check_bool(owner: Options, name: str) -> None:
    """``owner.name`` True or False."""
    check_bool_value(getattr(owner, name), name, owner._source(name))
