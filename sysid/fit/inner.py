"""Refit of the constants inside searched terms (``exp(-c*v)``, ``x/(K + x)``)
through the solver."""

from __future__ import annotations

from collections.abc import Mapping

import sympy as sp

from sysid.core.compare import _as_sympy
from sysid.data.dataset import load_data
from sysid.fit.polish import negligible_terms, refit_all
from sysid.symbolic.model import SymbolicModel

__all__ = ["refit_inner_constants"]


def refit_inner_constants(
    equations: Mapping[str, sp.Expr | str],
    data: object,
    *,
    time_limit: float = 30.0,
    max_nfev: int = 100,
    _prune: bool = True,
) -> tuple[dict[str, sp.Expr], bool]:
    """Refit *every* number of a system (inner constants too) through the ODE solver.

    :func:`sysid.select.selection.select_model` refits only the linear coefficients of
    the terms; a constant inside a term (``Km`` in ``S/(Km + S)``) keeps the
    value :func:`sysid.symbolic.search.search` found on derivative samples. This
    turns each Float of ``equations`` into a parameter, fits all of them (and the
    start states) to the trajectories with the one fitting engine
    (:func:`sysid.fit.polish.refit_all`, :mod:`sysid.fit.engine`), starting from
    the current values, within ``time_limit`` seconds per refit, and returns the
    refitted equations and whether the fit
    succeeded (on failure, the input equations). Terms that never exceed
    1e-6 of the largest rate on the data are then dropped and the rest
    refitted once more.

    Examples
    --------
    >>> import sysid
    >>> data = sysid.simulate("michaelis-menten", n_samples=40)
    >>> eqs, ok = refit_inner_constants({"S": "-1.4*S/(S + 2.3)"}, data)
    >>> ok, eqs["S"].evalf(4)
    (True, -1.5*S/(S + 2.0))
    """
    ds = load_data(data)
    states = list(ds.states)
    exprs = {s: _as_sympy(equations[s], states, f"equation of {s!r}") for s in states}
    model = SymbolicModel.from_equations(states, exprs)
    if not model.terms:
        return exprs, True
    fitted = refit_all(model, ds, time_limit=time_limit, max_nfev=max_nfev)
    if fitted is None:
        return exprs, False
    out = fitted[0]
    if _prune:
        dropped = negligible_terms(out, ds, 1e-6)
        if dropped:
            keep = [t for t in out.terms if t not in dropped]
            again = refit_all(
                SymbolicModel(states, keep), ds, time_limit=time_limit, max_nfev=max_nfev
            )
            if again is not None:
                out = again[0]
    return dict(out.equations), True
