"""Random laws: the grammar, the filters, reproducibility, problem files, the bench flag."""

from __future__ import annotations

import re

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sysid
from sysid.cli import main
from sysid.core.errors import ConfigError
from sysid.data.problems import problem_from_text
from sysid.data.random_problems import (
    FAMILIES,
    problem_toml,
    random_problem,
    write_random_problems,
)
from sysid.data.simulation import integrate


def test_same_seed_same_law_other_seed_other_law():
    a, b = random_problem(7, n_states=2), random_problem(7, n_states=2)
    assert a.equations == b.equations and a.parameters == b.parameters
    np.testing.assert_array_equal(a.initial_conditions, b.initial_conditions)
    others = {str(random_problem(s, n_states=2).true_equations()) for s in range(8, 12)}
    assert str(a.true_equations()) not in others and len(others) == 4


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n_states=st.integers(1, 3))
def test_every_draw_passes_the_filters(seed, n_states):
    p = random_problem(seed, n_states=n_states)
    assert p.n_states == n_states and p.holdout_initial_conditions.shape == (2, n_states)
    t = np.linspace(*p.t_span, p.n_samples)
    amounts = [j for j, s in enumerate(p.states) if s not in ("q", "p")]
    starts = np.vstack([p.initial_conditions, p.holdout_initial_conditions])
    late = t >= p.t_span[0] + 0.1 * (p.t_span[1] - p.t_span[0])
    moved = False
    for x0 in starts:
        x = integrate(p, x0, t)
        assert np.isfinite(x).all() and np.abs(x).max() <= 50 * max(np.abs(x0).max(), 1.0)
        assert not amounts or x[:, amounts].min() >= 0.0
        span = np.ptp(x, axis=0)
        assert (span >= 0.01 * np.abs(x).max(axis=0)).all()
        moved = moved or bool((np.ptp(x[late], axis=0) >= 0.05 * span).any())
    assert moved
    assert re.match(r"families: .*; draws rejected before this one: ", p.notes)


def test_families_shape_the_terms():
    for seed in range(4):
        p = random_problem(seed, n_states=2, families=["rational"])
        for e in p.true_equations().values():
            other = [t for t in sp.Add.make_args(sp.expand(e)) if t.free_symbols and t.is_Mul]
            assert any(isinstance(f, sp.Pow) and f.exp == -1 for t in other for f in t.args)
    osc = random_problem(0, n_states=2, families=["trig"])
    assert osc.states == ("q", "p") and osc.equations["q"] == "p" and "sin(q)" in osc.equations["p"]
    assert set(FAMILIES) >= {"polynomial", "hill", "exponential", "logarithmic"}


def test_problem_file_text_round_trips():
    p = random_problem(5, n_states=3, n_trajectories=3, n_samples=200)
    q = problem_from_text(problem_toml(p))
    assert q.equations == p.equations and q.parameters == p.parameters
    assert q.n_samples == 200 and q.initial_conditions.shape == (3, 3)
    np.testing.assert_array_equal(q.holdout_initial_conditions, p.holdout_initial_conditions)
    with pytest.raises(ConfigError, match="problem_toml writes problems without inputs"):
        problem_toml(sysid.load_problem("dc-motor"))


def test_write_random_problems_keeps_files_already_there(tmp_path):
    paths = write_random_problems(tmp_path, 2, n_states=1, first_seed=3)
    assert [p.name for p in paths] == ["random-1-0003.toml", "random-1-0004.toml"]
    assert sysid.load_problem(paths[0]).equations == random_problem(3, n_states=1).equations
    paths[0].write_text(paths[0].read_text().replace("Random law 3", "Edited"))
    write_random_problems(tmp_path, 2, n_states=1, first_seed=3)
    assert "Edited" in paths[0].read_text()


@pytest.mark.parametrize(
    ("options", "pattern"),
    [
        ({"n_states": 5}, r"n_states must be an integer from 1 to 4, found 5"),
        ({"n_states": True}, r"n_states must be an integer from 1 to 4"),
        ({"families": ["spline"]}, r"families must be a list of \['polynomial'"),
        ({"families": "hill"}, r"families must be a list of"),
        ({"n_samples": 3}, r"n_samples must be an integer from 8"),
    ],
)
def test_random_problem_checks_its_arguments(options, pattern):
    with pytest.raises(ConfigError, match=pattern):
        random_problem(0, **options)


def test_bench_random_replaces_the_suite_and_checks_before_training(tmp_path, capsys):
    with pytest.raises(ConfigError, match="random laws replace the suite"):
        sysid.bench(["sir"], outdir=tmp_path / "a", random=1)
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['states'\]"):
        sysid.bench(outdir=tmp_path / "b", random=1, random_options={"states": 2})
    code = main(["bench", "--random", "2", "--random-states", "one", "-o", str(tmp_path / "c")])
    _, err = capsys.readouterr()
    assert code == 2 and "--random-states: cannot read state counts 'one'" in err, err
    assert not (tmp_path / "c" / "tasks").exists()


@pytest.mark.slow
def test_bench_random_runs_drawn_laws(tmp_path):
    res = sysid.bench(
        outdir=tmp_path,
        noise=[0.0],
        samplings=["regular"],
        seeds=1,
        workers=1,
        quiet=True,
        random=1,
        random_options={"n_states": 1, "first_seed": 1},
    )
    assert [r["problem"] for r in res.rows] == ["random-1-0001"]
    assert (tmp_path / "random-problems" / "random-1-0001.toml").is_file()
    assert res.rows[0]["error"] == "" and res.rows[0]["holdout_r2"] > 0.9
