"""The result of a discovery: equations, fronts, timings; ``result.json`` and figures."""

from __future__ import annotations

import base64
import html
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp

from sysid.core.compare import term_shapes
from sysid.core.errors import DataError
from sysid.core.jsonable import json_safe
from sysid.core.options import check_int_value, check_real_value
from sysid.core.version import __version__
from sysid.data.dataset import Dataset
from sysid.data.inputs import without_clock
from sysid.data.problems import Problem, load_problem
from sysid.data.simulation import integrate
from sysid.neural.field import NeuralField
from sysid.select.selection import SelectionReport
from sysid.symbolic.model import SymbolicModel
from sysid.symbolic.show import coefficient_lines, model_html
from sysid.symbolic.sparse import Candidate, front_to_dicts

__all__ = ["DiscoveryResult", "RESULT_FILE"]

RESULT_FILE = "result.json"

#: The model part of ``result.json`` when a run stopped before any equations.
_NO_MODEL: dict[str, Any] = {"equations": {}, "latex": {}, "terms": []}


@dataclass(repr=False)
class DiscoveryResult:
    """Everything :func:`discover` found, with methods to report, plot and save.

    Attributes
    ----------
    model : SymbolicModel or None
        The chosen equations with constants and standard errors; None when the
        run was interrupted before any equations were found (``extra`` then
        names the stage under ``"interrupted"``).
    field : NeuralField
        The fitted neural vector field (the smoother).
    fronts : dict state -> list of Candidate
        Pareto fronts of the distillation.
    selection : SelectionReport
        Every candidate system tried, its scores, and why the winner won.
    data : Dataset
        The data it was fitted to.
    timings : dict
        Seconds per stage: ``neural_s``, ``symbolic_s``, ``refine_s``, ``total_s``.
    seed : int
    score : dict, optional
        Comparison with the truth (only from :func:`recover`).
    problem : Problem, optional
        The problem (only from :func:`recover`).
    holdout : Dataset, optional
        Held-out trajectories (only from :func:`recover`), drawn in figures.
    """

    model: SymbolicModel | None
    field: NeuralField | None
    fronts: dict[str, list[Candidate]]
    selection: SelectionReport | None
    data: Dataset
    timings: dict[str, float]
    seed: int
    score: dict[str, Any] | None = None
    problem: Problem | None = None
    holdout: Dataset | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def equations(self) -> dict[str, sp.Expr]:
        """The chosen right-hand sides, keyed by state name (empty without a model)."""
        return {} if self.model is None else dict(self.model.equations)

    @property
    def states(self) -> tuple[str, ...]:
        return tuple(self.data.states)

    @property
    def diagnostics(self) -> dict[str, Any] | None:
        """The checks of the model against its data and their verdict (:func:`diagnose`)."""
        return self.extra.get("diagnostics")

    @property
    def ensemble(self) -> dict[str, Any] | None:
        """Inclusion probability and coefficient spread of each term over the ensemble.

        The selection repeated on random halves of the data
        (:func:`~sysid.select.ensemble.run_ensemble`); None when it was off.
        """
        return self.extra.get("ensemble")

    @property
    def field_ensemble(self) -> dict[str, Any] | None:
        """The same for runs with other neural-field seeds (``ensemble_fields``), or None."""
        return self.extra.get("field_ensemble")

    @property
    def verdict(self) -> str | None:
        """``"good"``, ``"doubtful"`` or ``"poor"`` (None when not diagnosed)."""
        return (self.diagnostics or {}).get("verdict")

    @property
    def interrupted(self) -> str | None:
        """The stage a Ctrl-C stopped (``"neural"``, ``"distill"``, ...), or None."""
        return self.extra.get("interrupted")

    def __str__(self) -> str:
        """The equations, their constants with standard errors, and the verdict."""
        if self.model is None:
            return f"no equations: interrupted during '{self.interrupted}' before any were found"
        lines = [str(self.model), *coefficient_lines(self.model)]
        if self.interrupted:
            lines.append(f"(partial: interrupted during '{self.interrupted}')")
        if self.verdict is not None:
            reasons = [r["message"] for r in (self.diagnostics or {}).get("reasons", [])]
            lines.append(
                f"verdict: {self.verdict}" + (f" ({'; '.join(reasons)})" if reasons else "")
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        what = "no equations" if self.model is None else f"{self.model.n_params} terms"
        total = self.timings.get("total_s")
        return (
            f"DiscoveryResult(states={list(self.states)}, {what}, verdict={self.verdict!r}"
            + ("" if total is None else f", {total:.1f} s")
            + (f", interrupted={self.interrupted!r}" if self.interrupted else "")
            + ")"
        )

    def _repr_latex_(self) -> str | None:
        return None if self.model is None else self.model._repr_latex_()

    def _repr_html_(self) -> str:
        """For notebooks: the equations and constants, the verdict and the trajectories figure."""
        if self.model is None:
            return f"<p>{html.escape(str(self))}</p>"
        parts = [model_html(self.model)]
        if self.verdict is not None:
            reasons = "".join(
                f"<li>{html.escape(r['message'])} (remedy: {html.escape(r['remedy'])})</li>"
                for r in (self.diagnostics or {}).get("reasons", [])
            )
            parts.append(f"<p>verdict: <b>{self.verdict}</b></p><ul>{reasons}</ul>")
        if self.interrupted:
            parts.append(f"<p>partial: interrupted during '{html.escape(self.interrupted)}'</p>")
        parts.append(self._figure_html())
        return "<div>" + "".join(parts) + "</div>"

    def _figure_html(self) -> str:
        """The trajectories figure as an inline PNG (empty when it cannot be drawn)."""
        import matplotlib.pyplot as plt

        try:
            fig = self.plot_trajectories()
        except Exception:  # noqa: BLE001 - a figure never hides the equations
            return ""
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
        plt.close(fig)
        data = base64.b64encode(buf.getvalue()).decode("ascii")
        return f'<img alt="data and model" src="data:image/png;base64,{data}"/>'

    # ------------------------------------------------------------ exports
    def to_dict(self) -> dict[str, Any]:
        """The ``result.json`` content (``docs/contract.md#result-json``)."""
        model = _NO_MODEL if self.model is None else self.model.to_dict()
        pareto = front_to_dicts(self.fronts) if self.fronts else model.get("pareto", {})
        names = [*self.states, *self.data.input_names]
        chosen = {s: term_shapes(e, names) for s, e in self.equations.items()}
        for s, entries in pareto.items():
            for e in entries:
                e["chosen"] = s in chosen and term_shapes(e["equation"], names) == chosen[s]
        out: dict[str, Any] = {
            "sysid_version": __version__,
            "states": list(self.states),
            "equations": model["equations"],
            "latex": model["latex"],
            "terms": model["terms"],
            "pareto": pareto,
            "timings": {k: round(float(v), 3) for k, v in self.timings.items()},
            "seed": int(self.seed),
            "data": {
                "n_trajectories": self.data.n_trajectories,
                "n_samples": self.data.n_samples,
                "sha256": self.data.sha256(),
                "source": self.data.source,
                "time_unit": self.data.time_unit,
                "time_origin": self.data.time_origin,
                "units": dict(self.data.units),
            },
        }
        measured = list(self.data.measured_input_names)
        if measured:
            out["inputs"] = measured
            out["data"]["inputs"] = list(measured)
            out["data"]["interpolation"] = self.data.inputs[0].interpolation
        if self.data.time_dependent:
            out["time_dependent"] = True
        if self.selection is not None:
            out["selection"] = self.selection.to_dict()
        if self.field is not None:
            out["neural"] = {
                "status": getattr(self.field, "status_", None),
                "message": getattr(self.field, "message_", None),
                "epochs": len(self.field.history_.get("loss", [])),
                "fit_s": round(float(getattr(self.field, "fit_time_", 0.0)), 3),
            }
        if self.score is not None:
            out["score"] = json_safe(self.score)
        if self.problem is not None:
            out["problem"] = self.problem.name
        out.update(self.extra)
        return json_safe(out)

    def forecast(
        self,
        duration: float,
        *,
        trajectory: int = 0,
        n_points: int = 200,
        n_draws: int = 100,
        level: float = 0.9,
        seed: int = 0,
    ) -> dict[str, Any]:
        """The model over a trajectory and ``duration`` beyond its last sample, with a band.

        Simulated from the trajectory's fitted start (the first sample when none
        is known); the band comes from the constants' covariance
        (:func:`sysid.report.bands.prediction_band`, which says what it leaves
        out). Returns its dict plus ``t_data_end``, where the data stop. With
        inputs, they hold their last measured value after the data end
        (``inputs_after_data``); the clock ``t`` of a time-dependent model runs on.
        """
        from sysid.report.bands import prediction_band

        if self.model is None:
            raise DataError(
                f"no equations to forecast: the run was interrupted during '{self.interrupted}'",
                source="DiscoveryResult.forecast",
                hint="run discover again and let it finish",
            )
        if (
            isinstance(trajectory, bool)
            or not isinstance(trajectory, int)
            or not (0 <= trajectory < self.data.n_trajectories)
        ):
            raise DataError(
                f"trajectory must be an index in [0, {self.data.n_trajectories}), "
                f"found {trajectory!r}",
                source="DiscoveryResult.forecast",
            )
        check_real_value(duration, "duration", 0.0, "DiscoveryResult.forecast", strict=True)
        check_int_value(n_points, "n_points", 2, "DiscoveryResult.forecast")
        tr = self.data[trajectory]
        starts = (self.model.selection or {}).get("initial_states")
        x0 = np.asarray(starts[trajectory] if starts else tr.x[0], dtype=float)
        t = np.linspace(tr.t[0], tr.t[-1] + float(duration), n_points)
        band = prediction_band(
            self.model,
            x0,
            t,
            correlation=self._correlation(),
            n_draws=n_draws,
            level=level,
            seed=seed,
            inputs=tr.inputs,
        )
        out = {**band, "t_data_end": float(tr.t[-1])}
        if without_clock(tr.inputs) is not None:  # the clock t runs on past the data
            out["inputs_after_data"] = "held at their last measured values"
        return out

    def to_json(self, indent: int = 2) -> str:
        """``result.json`` as text."""
        return json.dumps(self.to_dict(), indent=indent)

    # ------------------------------------------------------------ figures
    def _truth_simulator(self):
        if self.problem is None:
            return None
        problem = self.problem
        if problem.input_names:  # the true equations, driven by the measured inputs
            truth = SymbolicModel.from_equations(
                problem.states, problem.true_equations(), inputs=problem.input_names
            )
            return truth.simulate
        return lambda x0, t: integrate(problem, x0, t)

    def plot_trajectories(self, path: str | os.PathLike | None = None):
        """Data vs identified model (vs truth), training and held-out trajectories."""
        from sysid.report.figures import plot_trajectories

        starts = holdout_starts = None
        p = self.problem
        if p is not None and p.initial_conditions.shape[0] == self.data.n_trajectories:
            starts = list(p.initial_conditions)  # recover: the true, noise-free starts
            holdout_starts = list(p.holdout_initial_conditions)
        elif self.field is not None:
            try:  # discover: the field's denoised first states
                starts = [s[0] for s in self.field.smoothed(self.data)]
            except Exception:  # noqa: BLE001 - fall back to the first samples
                starts = None
        stage = self.interrupted
        band = None
        if self.model is not None and not stage:
            band = self._band_function()
        held = (self.extra.get("options") or {}).get("selection", {}).get("holdout_fraction")
        return plot_trajectories(
            self.data,
            None if self.model is None else self.model.simulate,
            self._truth_simulator(),
            holdout=self.holdout,
            starts=starts,
            holdout_starts=holdout_starts,
            band=band,
            held_out_fraction=held,
            title=f"partial result: interrupted during '{stage}'" if stage else None,
            path=path,
        )

    def _correlation(self) -> list[list[float]] | None:
        """The correlation of the model's constants from the final refit, when it fits its terms.

        None when unknown, or when the polish changed the terms since the refit.
        """
        corr = (self.model.selection or {}).get("correlation") if self.model else None
        return corr if corr is not None and len(corr) == len(self.model.terms) else None

    def _band_function(self):
        """``(x0, t) -> (lower, upper)``: the 90% band of the constants, 30 draws."""
        from sysid.report.bands import prediction_band

        model, corr = self.model, self._correlation()

        def band(x0, t, inputs=None):
            out = prediction_band(
                model, x0, t, correlation=corr, n_draws=30, seed=self.seed, inputs=inputs
            )
            return out["lower"], out["upper"]

        return band

    def plot_phase_portrait(self, path: str | os.PathLike | None = None):
        """True (when known), neural and symbolic vector fields with the data."""
        from sysid.report.figures import plot_phase_portrait

        fields: dict[str, Any] = {}
        if self.data.inputs:
            raise DataError(
                "no phase portrait for a system with inputs: its vector field depends on them",
                source="DiscoveryResult.plot_phase_portrait",
            )
        if self.problem is not None:
            rhs = self.problem.rhs
            fields["true"] = lambda x: rhs(0.0, x.T).T
        if self.field is not None:
            fields["neural"] = self.field.predict
        if self.model is not None:
            fields["symbolic"] = self.model.rhs
        return plot_phase_portrait(self.data, fields, path=path)

    def plot_pareto(self, path: str | os.PathLike | None = None):
        """Pareto front per state with the chosen equation marked."""
        from sysid.report.figures import plot_pareto

        return plot_pareto(self.to_dict()["pareto"], path=path)

    def plot_inclusion(self, path: str | os.PathLike | None = None):
        """Each term's inclusion probability over the ensemble, the chosen terms marked."""
        from sysid.report.figures import plot_inclusion

        if not self.ensemble or not self.ensemble.get("finished"):
            raise ValueError("no ensemble: it was turned off (ensemble=0) or no member finished")
        return plot_inclusion(self.ensemble, path=path)

    def plot_loss(self, path: str | os.PathLike | None = None):
        """The neural field's training loss curve."""
        from sysid.report.figures import plot_loss

        history = self.field.history_ if self.field is not None else {}
        return plot_loss(history, path=path)

    # ------------------------------------------------------- save / load
    def save(self, outdir: str | os.PathLike, *, figures: bool = True) -> Path:
        """Write ``result.json``, the model, the field, the data and figures to ``outdir``.

        Returns the path of ``result.json``. A figure that fails is skipped
        with its error recorded in ``figures_failed.txt``; the results are kept.
        """
        out = Path(outdir)
        out.mkdir(parents=True, exist_ok=True)
        path = out / RESULT_FILE
        path.write_text(self.to_json())
        if self.model is not None:
            self.model.save(out / "model.json")
        elif (out / "model.json").exists():  # an earlier run's model is not this result's
            (out / "model.json").unlink()
        self.data.to_csv(out / "data.csv")
        if self.holdout is not None:
            self.holdout.to_csv(out / "holdout.csv")
        if self.field is not None:
            self.field.save(out / "field")
        if figures:
            failed = []
            plots = [
                ("trajectories.png", self.plot_trajectories),
                ("phase_portrait.png", self.plot_phase_portrait),
                ("pareto.png", self.plot_pareto),
                ("loss.png", self.plot_loss),
            ]
            if self.ensemble and self.ensemble.get("finished"):  # none with the ensemble off
                plots.insert(3, ("inclusion.png", self.plot_inclusion))
            if self.data.inputs:  # a vector field over the states alone does not exist
                plots = [p for p in plots if p[0] != "phase_portrait.png"]
            for name, fn in plots:
                try:
                    fn(path=out / name)
                except Exception as err:  # noqa: BLE001 - figures never lose results
                    failed.append(f"{name}: {type(err).__name__}: {err}")
            if failed:
                (out / "figures_failed.txt").write_text("\n".join(failed) + "\n")
        return path

    @classmethod
    def load(cls, outdir: str | os.PathLike) -> DiscoveryResult:
        """Read a result written by :meth:`save` (fronts come back as plain dicts)."""
        out = Path(outdir)
        path = out / RESULT_FILE
        if not path.is_file():
            raise DataError("no result.json here", source=str(out), hint="run sysid discover")
        info = json.loads(path.read_text())
        model_file = out / "model.json"
        model = SymbolicModel.load(model_file) if model_file.exists() else None
        meta = info.get("data", {})
        carried = {
            "time_unit": meta.get("time_unit"),
            "units": dict(meta.get("units") or {}),
            "time_origin": meta.get("time_origin"),
        }
        data = Dataset.from_csv(out / "data.csv", **carried)
        data.source = meta.get("source") or data.source
        holdout = None
        if (out / "holdout.csv").exists():
            holdout = Dataset.from_csv(out / "holdout.csv", **carried)
        nf = NeuralField.load(out / "field") if (out / "field").exists() else None
        problem = load_problem(info["problem"]) if info.get("problem") else None
        res = cls(
            model=model,
            field=nf,
            fronts={},
            selection=None,
            data=data,
            timings=dict(info.get("timings", {})),
            seed=int(info.get("seed", 0)),
            score=info.get("score"),
            problem=problem,
            holdout=holdout,
        )
        res.extra["pareto"] = info.get("pareto", {})
        for key in _CARRIED:  # the checks and the ensemble come back as written
            if key in info:
                res.extra[key] = info[key]
        return res


#: Blocks of ``result.json`` that :meth:`DiscoveryResult.load` carries back into ``extra``.
_CARRIED = (
    "diagnostics",
    "ensemble",
    "field_ensemble",
    "interrupted",
    "partial",
    "expression_search",
    "recover",
    "options",
)
