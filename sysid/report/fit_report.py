"""What ``sysid fit`` reports: a gray-box fit of a model file, as ``discover`` reports a discovery.

:func:`fit_model_file` reads a model file (:mod:`sysid.fit.model_file`), fits it
to data and returns a :class:`FitReport`: the fitted constants with standard
errors, the derived quantities the file names, the diagnostics and verdict
(:func:`sysid.report.diagnostics.diagnose_fit`), the timings; ``save(OUTDIR)``
writes ``result.json`` (schema ``docs/fit-result.schema.json``) and the figure
``fit.png``.

Examples
--------
>>> import numpy as np
>>> from sysid.fit.model_file import model_file_from_text
>>> m = model_file_from_text('states = ["x"]\\nequations = { x = "-k*x" }\\n'
...                          'unknown = { k = 1.0 }\\ncolumns = { x = "x0" }\\n'
...                          'derived = { half_life = "log(2)/k" }')
>>> t = np.linspace(0.0, 4.0, 30)
>>> rep = fit_model_file(m, (t, 2.0 * np.exp(-0.7 * t)))
>>> rep.verdict, round(rep.derived["half_life"].value, 3)
('good', 0.99)
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sympy as sp

from sysid.core.jsonable import json_safe
from sysid.core.version import __version__
from sysid.fit._graybox_result import DerivedQuantity, GrayBoxResult
from sysid.fit.model_file import ModelFile, load_model_file
from sysid.report.diagnostics import diagnose_fit
from sysid.symbolic.model import round_to_uncertainty

__all__ = ["FitReport", "fit_model_file"]


@dataclass
class FitReport:
    """A gray-box fit of a model file with its derived quantities and diagnostics.

    Attributes
    ----------
    model : ModelFile
    result : GrayBoxResult
        The fit itself (constants, standard errors, covariance, fitted curves).
    derived : dict name -> DerivedQuantity
        The model file's ``derived`` quantities, with delta-method standard errors.
    diagnostics : dict
        The checks and the verdict (:func:`~sysid.report.diagnostics.diagnose_fit`).
    data : dict
        Where the data came from and how they were read.
    timings : dict
        Wall seconds (``fit_s``, ``total_s``).
    seed : int
    """

    model: ModelFile
    result: GrayBoxResult
    derived: dict[str, DerivedQuantity]
    diagnostics: dict[str, Any]
    data: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    seed: int = 0

    @property
    def verdict(self) -> str:
        """``"good"``, ``"doubtful"`` or ``"poor"`` (see :attr:`diagnostics`)."""
        return str(self.diagnostics["verdict"])

    def fitted_equations(self) -> dict[str, sp.Expr]:
        """The right-hand sides with the fitted constants put in; known ones keep their names.

        Each fitted constant is rounded to its standard error, as ``discover``
        rounds its coefficients.
        """
        res = self.result
        values = {
            sp.Symbol(p, real=True): round_to_uncertainty(v, res.stderr[p])
            for p, v in res.parameters.items()
        }
        return {s: e.xreplace(values) for s, e in res.equations.items()}

    def to_dict(self) -> dict[str, Any]:
        """The ``result.json`` of ``sysid fit`` (``docs/contract.md#fit-result``)."""
        res = self.result
        fitted = self.fitted_equations()
        graybox = res.to_dict()
        return json_safe(
            {
                "sysid_version": __version__,
                "command": "fit",
                "model": {
                    "name": self.model.name,
                    "title": self.model.title,
                    "path": None if self.model.path is None else str(self.model.path),
                },
                "states": list(res.states),
                "observed": list(res.observed),
                "equations": {s: str(e) for s, e in res.equations.items()},
                "fitted_equations": {s: str(e) for s, e in fitted.items()},
                "latex": {s: sp.latex(e) for s, e in fitted.items()},
                "parameters": {
                    p: {
                        "value": graybox["parameters"][p],
                        "stderr": graybox["stderr"][p],
                        "interval": graybox["intervals"][p],
                        "log_space": p in res.log_parameters,
                    }
                    for p in res.parameters
                },
                "fixed": graybox["fixed"],
                "derived": {n: q.to_dict() for n, q in self.derived.items()},
                "initial_states": graybox["initial_states"],
                "initial_stderr": graybox["initial_stderr"],
                "t0": graybox["t0"],
                "diagnostics": self.diagnostics,
                "fit": {
                    k: graybox[k]
                    for k in (
                        "success",
                        "message",
                        "nfev",
                        "n_failed_simulations",
                        "failures",
                        "dof",
                        "identifiable",
                        "rms",
                        "rms_normalised",
                        "covariance",
                        "covariance_names",
                        "columns",
                    )
                },
                "fitted": graybox["fitted"],
                "data": self.data,
                "seed": self.seed,
                "timings": {k: round(v, 3) for k, v in self.timings.items()},
            }
        )

    def save(self, outdir: str | os.PathLike, *, figures: bool = True) -> Path:
        """Write ``result.json`` (and ``fit.png`` unless ``figures=False``) to ``outdir``."""
        out = Path(outdir)
        out.mkdir(parents=True, exist_ok=True)
        path = out / "result.json"
        path.write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False))
        if figures and self.result.trajectories:
            self.result.plot(out / "fit.png", title=self.model.title or None)
        return path

    def lines(self) -> list[str]:
        """What ``sysid fit`` prints: equations, constants, derived quantities, verdict."""
        res = self.result
        out = [
            f"{self.model.title or self.model.name}: "
            + ("converged" if res.success else f"NOT converged ({res.message})")
        ]
        width = max(len(s) for s in res.states) + 4
        for s, e in self.fitted_equations().items():
            out.append(f"{f'd{s}/dt'.rjust(width)} = {e}")
        if res.fixed:
            out.append("known: " + ", ".join(f"{p} = {v:g}" for p, v in res.fixed.items()))
        out.append("fitted (± standard error, 95% interval):")
        for p, v in res.parameters.items():
            lo, hi = res.intervals[p]
            out.append(f"  {p} = {v:.5g} ± {res.stderr[p]:.2g}   [{lo:.4g}, {hi:.4g}]")
        for k, se in enumerate(res.initial_stderr):
            for s, e in se.items():
                out.append(
                    f"  {s}({res.t0[k]:g}) [trajectory {res.trajectories[k]['name']}] = "
                    f"{res.initial_states[k][s]:.5g} ± {e:.2g}"
                )
        if self.derived:
            out.append("derived:")
            out += [f"  {n}: {q}" for n, q in self.derived.items()]
        reasons = self.diagnostics["reasons"]
        out.append(f"verdict: {self.verdict}" + ("" if reasons else " (no finding)"))
        out += [f"  - {r['level']}: {r['message']}. Remedy: {r['remedy']}" for r in reasons]
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def fit_model_file(
    model: ModelFile | str | os.PathLike,
    data: Any,
    *,
    time_column: str = "t",
    trajectory_column: str | None = "trajectory",
    seed: int = 0,
    **options: Any,
) -> FitReport:
    """Fit a model file to data: what ``sysid fit MODEL.toml DATA.csv`` does.

    Parameters
    ----------
    model : ModelFile or path
        A checked model file, or the path of one (:func:`~sysid.fit.model_file.load_model_file`).
    data : CSV path, DataFrame, Dataset or ``(t, x)`` arrays
    time_column, trajectory_column
        How to read a CSV file or DataFrame.
    seed : int
        Seeds the perturbed restarts (``n_starts > 1``).
    **options
        More options of :func:`sysid.fit.graybox.fit_model` (``n_starts``,
        ``time_limit``, ``method``, ``rtol``...).

    Returns
    -------
    FitReport
    """
    start = time.perf_counter()
    if not isinstance(model, ModelFile):
        model = load_model_file(model)
    result = model.fit(
        data, time_column=time_column, trajectory_column=trajectory_column, seed=seed, **options
    )
    fit_s = time.perf_counter() - start
    derived = {n: result.derived(e) for n, e in model.derived.items()}
    diagnostics = diagnose_fit(result)
    source = data if isinstance(data, (str, os.PathLike)) else type(data).__name__
    return FitReport(
        model=model,
        result=result,
        derived=derived,
        diagnostics=diagnostics,
        data={
            "source": str(source),
            "time_column": time_column,
            "trajectory_column": trajectory_column,
            "n_trajectories": len(result.trajectories),
            "n_samples": [int(len(tr["t"])) for tr in result.trajectories],
        },
        timings={"fit_s": fit_s, "total_s": time.perf_counter() - start},
        seed=int(seed),
    )
