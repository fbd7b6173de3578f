"""Old option names: accepted for a while, with a :class:`DeprecationWarning` each.

The package has one word for one idea (``time_limit`` for the wall seconds
of a whole call, ``simulation_time_limit`` for one simulation, ``margin`` for
the blow-up box...). Where a word changed, the old one still works and warns:
:func:`renamed_keywords` for the keyword arguments of a function,
:func:`renamed_options` for the constructor and ``replace`` of an option set.

Examples
--------
>>> import warnings
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     renamed_keywords("search", {"time_budget": 20.0}, {"time_budget": "time_limit"})
{'time_limit': 20.0}
>>> str(caught[0].message)
'search(time_budget=...) is deprecated; use time_limit=...'
>>> renamed_keywords("search", {"time_budgte": 20.0}, {"time_budget": "time_limit"})
Traceback (most recent call last):
...
TypeError: search() got an unexpected keyword argument 'time_budgte'
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from sysid.core.errors import ConfigError

__all__ = ["renamed_keywords", "renamed_options", "with_new_names"]

_T = TypeVar("_T", bound=type)


def renamed_keywords(
    owner: str,
    given: Mapping[str, Any],
    renamed: Mapping[str, str],
    *,
    notes: Mapping[str, str] | None = None,
    stacklevel: int = 3,
) -> dict[str, Any]:
    """The deprecated keywords ``given`` under their new names, warning once for each.

    Parameters
    ----------
    owner : str
        The function or class the keywords belong to (named in the messages).
    given : mapping
        The deprecated keywords a caller passed (a function's ``**deprecated``).
    renamed : mapping
        Old name -> new name.
    notes : mapping, optional
        Old name -> a few words on what the new option means, added to the warning.
    stacklevel : int
        Passed to :func:`warnings.warn` (3 points at the caller of ``owner``).

    Raises
    ------
    TypeError
        For a name that is not a deprecated one, as Python does for an unknown keyword.
    """
    unknown = sorted(set(given) - set(renamed))
    if unknown:
        raise TypeError(f"{owner}() got an unexpected keyword argument {unknown[0]!r}")
    notes = notes or {}
    out = {}
    for name, value in given.items():
        new = renamed[name]
        note = f" ({notes[name]})" if name in notes else ""
        warnings.warn(
            f"{owner}({name}=...) is deprecated; use {new}=...{note}",
            DeprecationWarning,
            stacklevel=stacklevel,
        )
        out[new] = value
    return out


def renamed_options(**old_to_new: str) -> Callable[[_T], _T]:
    """Class decorator: the constructor and ``replace`` also take the old names.

    For an option set (a frozen dataclass). The old names are not fields, so
    ``get_params``, ``repr`` and ``result.json`` show only the new words. The
    class records the names in ``renamed`` (old -> new). Passing an old name and
    its new one together is an error.

    Examples
    --------
    >>> import dataclasses, warnings
    >>> @renamed_options(seconds="time_limit")
    ... @dataclasses.dataclass(frozen=True)
    ... class Budget:
    ...     time_limit: float = 10.0
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     Budget(seconds=2.0)
    Budget(time_limit=2.0)
    """

    def decorate(cls: _T) -> _T:
        init = cls.__init__
        renamed = {**getattr(cls, "renamed", {}), **old_to_new}

        @functools.wraps(init)
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            init(self, *args, **with_new_names(cls.__name__, kwargs, renamed))

        cls.__init__ = __init__  # type: ignore[misc]
        cls.renamed = renamed  # type: ignore[attr-defined]
        return cls

    return decorate


def with_new_names(owner: str, kwargs: Mapping[str, Any], renamed: Mapping[str, str]) -> dict:
    """``kwargs`` with the old names in ``renamed`` replaced by the new (a warning each).

    Passing an old name and its new one together is a :class:`ConfigError`.
    """
    kwargs = dict(kwargs)
    old = {k: kwargs.pop(k) for k in list(kwargs) if k in renamed}
    both = sorted(k for k in old if renamed[k] in kwargs)
    if both:
        new = renamed[both[0]]
        raise ConfigError(
            f"both {both[0]!r} and its new name {new!r} given",
            source=owner,
            hint=f"pass only {new}=...",
        )
    return {**kwargs, **renamed_keywords(owner, old, renamed, stacklevel=4)}
