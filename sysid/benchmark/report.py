"""The markdown report of a benchmark run (``OUTDIR/report.md``)."""

from __future__ import annotations

from typing import Any

from sysid.benchmark.calibration import calibration_lines

__all__ = ["report_markdown"]


def _fmt(v: Any, spec: str = ".3g") -> str:
    return "-" if v is None else format(v, spec)


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
        "## Median coefficient error (recovered cells) and median held-out R^2",
        "",
        "| method | sampling | noise | recovered | median coef. error | median R^2 "
        "| failed | median s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        lines.append(
            f"| {s['method']} | {s['sampling']} | {s['noise']:g} | {s['recovered']}/{s['cells']} "
            f"| {_fmt(s['median_coef_error'])} | {_fmt(s['median_holdout_r2'], '.4f')} "
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
