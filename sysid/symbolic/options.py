"""Options of the symbolic stage of :class:`sysid.SysID`: distillation and expression search.

:class:`Distiller` holds the options of :func:`~sysid.symbolic.sparse.distill`
(the sparse regression over a :class:`~sysid.symbolic.library.Library`),
:class:`ExpressionSearch` those of :func:`~sysid.symbolic.search.search` and
when to run it. Both check every option when built and are frozen.

Examples
--------
>>> Distiller(max_terms=3)
Distiller(max_terms=3)
>>> ExpressionSearch(mode="never").runs
False
>>> Distiller(max_terms=0)
Traceback (most recent call last):
...
sysid.core.errors.ConfigError: Distiller(max_terms=...): max_terms must be an integer >= 1, found 0
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sysid.core.errors import ConfigError
from sysid.core.options import Options, check_choice, check_int, check_real, check_seed_value
from sysid.core.renamed import renamed_options
from sysid.symbolic.search import DEFAULT_OPERATORS
from sysid.symbolic.shapes import KNOWN_OPERATORS

__all__ = ["Distiller", "ExpressionSearch", "SEARCH_MODES"]

#: When :class:`ExpressionSearch` runs: when the library fits poorly, always, never.
SEARCH_MODES = ("auto", "always", "never")


@dataclass(frozen=True, repr=False)
class Distiller(Options):
    """Options of the sparse regression that distils equations from the field.

    Parameters
    ----------
    max_terms : int
        Largest number of terms per equation.
    beam_width : int
        Supports of each size kept for extending to the next size.
    exhaustive_limit : int
        Sizes with at most this many subsets are searched exhaustively.
    n_refit : int
        Best supports of each size refitted exactly before the front is formed.
    collinearity_tol : float
        Supports whose normalised Gram matrix has an eigenvalue below this are skipped.
    max_samples : int
        More derivative samples than this are thinned to this many (seeded).
    seed : int
        Seed of the thinning.

    The candidate terms are not an option of the distiller: they are
    :class:`sysid.SysID`'s ``library``.

    Examples
    --------
    >>> Distiller().get_params()["max_terms"]
    5
    """

    max_terms: int = 5
    beam_width: int = 20
    exhaustive_limit: int = 150_000
    n_refit: int = 3
    collinearity_tol: float = 1e-11
    max_samples: int = 20_000
    seed: int = 0

    def _validate(self) -> None:
        for name in ("max_terms", "beam_width", "exhaustive_limit", "n_refit"):
            check_int(self, name, 1)
        check_int(self, "max_samples", 2)
        check_seed_value(self.seed, self._source("seed"))
        check_real(self, "collinearity_tol", 0.0, strict=True)

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~sysid.symbolic.sparse.distill`."""
        return self.get_params()


@renamed_options(time_budget="time_limit")
@dataclass(frozen=True, repr=False)
class ExpressionSearch(Options):
    """Options of the expression-tree search and when it runs.

    Parameters
    ----------
    mode : {"auto", "always", "never"}
        ``"auto"``: search when the library's best fits are poor
        (:func:`~sysid.symbolic.search.library_fit_is_poor`).
    operators : collection of str
        Allowed operators, a subset of ``DEFAULT_OPERATORS``; ``"+"`` is required.
    max_terms : int
        Largest number of terms per equation.
    time_limit : float
        Seconds for the whole search (all states).
    n_grid, beam_width, n_refine, max_samples, seed
        As in :func:`~sysid.symbolic.search.search`.

    Examples
    --------
    >>> ExpressionSearch(operators=("+", "*", "/")).to_dict()["operators"]
    ['+', '*', '/']
    >>> ExpressionSearch(operators=("*",))
    Traceback (most recent call last):
    ...
    sysid.core.errors.ConfigError: ExpressionSearch(operators=...): operators must include '+'...
    """

    mode: str = "auto"
    operators: Collection[str] = DEFAULT_OPERATORS
    max_terms: int = 4
    time_limit: float = 40.0
    n_grid: int = 24
    beam_width: int = 150
    n_refine: int = 20
    max_samples: int = 3000
    seed: int = 0

    def _validate(self) -> None:
        check_choice(
            self, "mode", SEARCH_MODES, hint="'auto' searches when the library fits poorly"
        )
        self._check_operators()
        check_int(self, "max_terms", 1)
        check_real(self, "time_limit", 0.0)
        check_int(self, "n_grid", 2)
        check_int(self, "beam_width", 1)
        check_int(self, "n_refine", 1)
        check_int(self, "max_samples", 2)
        check_seed_value(self.seed, self._source("seed"))

    def _check_operators(self) -> None:
        ops = self.operators
        source = self._source("operators")
        if isinstance(ops, str) or not isinstance(ops, Collection):
            raise ConfigError(
                f"operators must be a collection of names, found {ops!r}",
                source=source,
                hint=f"e.g. {list(DEFAULT_OPERATORS)}",
            )
        names = [str(o) for o in ops]
        unknown = sorted(set(names) - set(KNOWN_OPERATORS))
        if unknown:
            raise ConfigError(
                f"unknown operator(s) {unknown}",
                source=source,
                hint=f"choose from {list(KNOWN_OPERATORS)}",
            )
        if "+" not in names:
            raise ConfigError(
                "operators must include '+' (terms are summed)", source=source, hint="add '+'"
            )

    @property
    def runs(self) -> bool:
        """Whether the search may run at all (``mode`` is not ``"never"``)."""
        return self.mode != "never"

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~sysid.symbolic.search.search`."""
        out = self.get_params()
        del out["mode"]
        return out
