"""The summary and the markdown report of a benchmark run (``OUTDIR/report.md``)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from sysid.benchmark.calibration import calibration_lines

__all__ = ["environment", "report_markdown", "summarise"]


def _fmt(v: Any, spec: str = ".3g") -> str:
    return "-" if v is None else format(v, spec)


def summarise(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Group rows by (method, noise, sampling) into rates and medians."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["method"], float(r["noise"]), r["sampling"]), []).append(r)
    out = []
    for (method, noise, sampling), rs in sorted(groups.items()):
        errs = [
            r["max_coefficient_relative_error"]
            for r in rs
            if r["structure_recovered"] and r["max_coefficient_relative_error"] is not None
        ]
        r2 = [r["holdout_r2"] for r in rs if r["holdout_r2"] is not None]
        good = {k: _share_over(rs, k) for k in ("train_r2", "holdout_r2")}
        by_seed = _rate_by_seed(rs)
        out.append(
            {
                "method": method,
                "noise": noise,
                "sampling": sampling,
                "cells": len(rs),
                "recovered": sum(bool(r["structure_recovered"]) for r in rs),
                "recovery_rate": sum(bool(r["structure_recovered"]) for r in rs) / len(rs),
                "recovery_rate_seed_min": min(by_seed),
                "recovery_rate_seed_max": max(by_seed),
                "median_coef_error": float(np.median(errs)) if errs else None,
                "median_holdout_r2": float(np.median(r2)) if r2 else None,
                "train_r2_over_0.9": good["train_r2"],
                "holdout_r2_over_0.9": good["holdout_r2"],
                "failed": sum(bool(r["error"]) for r in rs),
                "median_seconds": float(np.median([r["seconds"] or 0.0 for r in rs])),
            }
        )
    return out


def _rate_by_seed(rows: list[dict[str, Any]]) -> list[float]:
    """Exact-structure rate of each seed's cells (one value when rows carry no seed)."""
    seeds: dict[Any, list[bool]] = {}
    for r in rows:
        seeds.setdefault(r.get("seed"), []).append(bool(r["structure_recovered"]))
    return [sum(v) / len(v) for v in seeds.values()]


def _share_over(rows: list[dict[str, Any]], key: str, level: float = 0.9) -> float | None:
    """Share of ``rows`` whose ``key`` exceeds ``level`` (a missing value counts as 0).

    None when no row has the column (rows written before it existed).
    """
    if not any(key in r for r in rows):
        return None
    return sum((r.get(key) or 0.0) > level for r in rows) / len(rows)


def report_markdown(result: Any, config: dict[str, Any], summary: list[dict[str, Any]]) -> str:
    """The report: the run's settings and machine, recovery rates, errors, calibration."""
    env = result.environment
    lines = [
        "# sysid benchmark report",
        "",
        f"- problems: {', '.join(config['problems'])}",
        f"- noise levels: {', '.join(f'{n:g}' for n in config['noise'])}; samplings: "
        f"{', '.join(config['samplings'])}; seeds: {len(config['seeds'])}",
        f"- methods: {', '.join(config['methods'])}; executor: {config['executor']}",
        "- protocol: "
        + (
            "single (the first training start only, relative noise x + level*x*eps)"
            if config.get("protocol") == "single"
            else "suite (every training start, noise scaled by each state's spread)"
        ),
        f"- wall time of this run: {result.wall_s:.1f} s (resumed tasks are not counted)",
        f"- machine: {env['cpu']}, {env['cores']} cores, Python {env['python']}, {env['platform']}",
        "- packages: " + ", ".join(f"{k} {v}" for k, v in env["packages"].items() if v),
        f"- git commit: {env['git_commit'] or 'unknown'}",
        "",
        "## Exact-structure recovery rate",
        "",
        "| method | sampling | " + " | ".join(f"noise {n:g}" for n in config["noise"]) + " |",
        "|---|---|" + "---|" * len(config["noise"]),
    ]
    by = {(s["method"], s["sampling"], s["noise"]): s for s in summary}
    for method in config["methods"]:
        for sampling in config["samplings"]:
            cells = []
            for n in config["noise"]:
                s = by.get((method, sampling, n))
                cells.append(f"{s['recovered']}/{s['cells']}" if s else "-")
            lines.append(f"| {method} | {sampling} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Median coefficient error (recovered cells), held-out R^2, R^2 > 0.9",
        "",
        "R^2 > 0.9: the share of cells whose simulated R^2 (clipped at 0) exceeds 0.9 on the",
        "training data (reconstruction) and from the held-out starts (generalisation).",
        "",
        "| method | sampling | noise | recovered | median coef. error | median R^2 "
        "| R^2 > 0.9 train | R^2 > 0.9 held out | failed | median s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        lines.append(
            f"| {s['method']} | {s['sampling']} | {s['noise']:g} | {s['recovered']}/{s['cells']} "
            f"| {_fmt(s['median_coef_error'])} | {_fmt(s['median_holdout_r2'], '.4f')} "
            f"| {_fmt(s.get('train_r2_over_0.9'), '.0%')} "
            f"| {_fmt(s.get('holdout_r2_over_0.9'), '.0%')} "
            f"| {s['failed']} | {s['median_seconds']:.1f} |"
        )
    calibration = calibration_lines(result.rows)
    if calibration:
        lines += ["", *calibration]
    errors = [r for r in result.rows if r["error"]]
    if errors:
        lines += ["", "## Failed tasks", ""]
        for r in errors:
            lines.append(
                f"- {r['problem']} noise {r['noise']:g} {r['sampling']} seed {r['seed']} "
                f"{r['method']}: {r['error']}"
            )
    lines += ["", "![recovery rate against noise](recovery.png)", ""]
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    """The machine and package versions of a run, for the report's header."""
    import importlib.metadata as md

    versions = {}
    for pkg in ("sysid", "torch", "torchdiffeq", "numpy", "scipy", "sympy", "pysindy", "dask"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = None
    try:
        commit = (
            subprocess.run(
                ["git", "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                timeout=5,
                cwd=Path(__file__).resolve().parent,
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "packages": versions,
        "git_commit": commit,
    }
