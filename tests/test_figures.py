"""What the figures show: colour bars, whiskers over seeds, the data markers."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.container import ErrorbarContainer

from sysid import Dataset
from sysid.benchmark.report import summarise
from sysid.report.figures import plot_phase_portrait, plot_recovery


def _row(seed: int, recovered: bool, method: str = "sysid") -> dict:
    return {
        "method": method,
        "noise": 0.05,
        "sampling": "regular",
        "seed": seed,
        "structure_recovered": recovered,
        "max_coefficient_relative_error": 0.01 if recovered else None,
        "holdout_r2": 0.99,
        "error": "",
        "seconds": 1.0,
    }


def test_summary_gives_the_range_of_the_rate_over_seeds():
    rows = [_row(0, True), _row(0, True), _row(1, True), _row(1, False), _row(2, False)]
    (s,) = summarise(rows)
    assert s["recovery_rate"] == pytest.approx(3 / 5, abs=1e-12)
    assert s["recovery_rate_seed_min"] == pytest.approx(0.0, abs=1e-12)
    assert s["recovery_rate_seed_max"] == pytest.approx(1.0, abs=1e-12)


def test_recovery_plot_draws_whiskers_over_seeds():
    rows = [_row(0, True), _row(1, False), _row(0, False, "pysindy"), _row(1, False, "pysindy")]
    fig = plot_recovery(summarise(rows))
    bars = [c for c in fig.axes[0].containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 2
    # sysid at 5% noise: the rate 50%, whiskers from seed 1 (0%) to seed 0 (100%)
    segment = bars[1].lines[2][0].get_segments()[0]
    assert sorted(segment[:, 1]) == pytest.approx([0.0, 100.0], abs=1e-9)


def test_summary_of_old_rows_without_seed_still_plots():
    rows = [{k: v for k, v in _row(0, True).items() if k != "seed"}]
    (s,) = summarise(rows)
    assert s["recovery_rate_seed_min"] == s["recovery_rate_seed_max"] == pytest.approx(1.0)
    assert plot_recovery([s]).axes


def test_phase_portrait_has_a_colour_bar_per_field():
    t = np.linspace(0, 5, 60)
    x = np.column_stack([np.cos(t), -np.sin(t)])
    data = Dataset.from_arrays(t, x, states=["x", "y"])

    def rotation(p):
        return np.column_stack([p[:, 1], -p[:, 0]])

    fig = plot_phase_portrait(data, {"true": rotation, "model": rotation})
    bars = [ax for ax in fig.axes if ax.get_ylabel() == "speed of the field"]
    assert len(bars) == 2
    markers = [ln for ln in fig.axes[0].lines if ln.get_marker() == "o"]
    assert markers and markers[0].get_markersize() >= 3


def test_pareto_marks_the_chosen_equation_with_short_constants():
    from sysid.report.figures import plot_pareto

    front = {
        "x": [
            {"complexity": 2, "loss": 0.9, "equation": "1.5*x"},
            {"complexity": 4, "loss": 0.01, "equation": "1.0975569780*x - 0.40127572*x**2"},
        ]
    }
    fig = plot_pareto(front, chosen={"x": "1.0975569780*x - 0.40127572*x**2"})
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.texts] == ["1.098*x - 0.4013*x**2"]
    assert any(ln.get_marker() == "*" for ln in ax.lines)
