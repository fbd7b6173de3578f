"""Does the verdict tell the truth? Verdicts of sysid's cells against their scores.

A recovered cell (exact structure) should be ``good``; a cell whose held-out
R^2 against the truth is below 0.9 should never be ``good``. The table counts
the cells of each kind per verdict; nothing here changes a verdict. A second
table gives the ensemble's inclusion probabilities of the true terms (their
smallest per cell) and of the other terms (their largest) where the structure
was recovered and where it was not.

Examples
--------
>>> rows = [
...     {"method": "sysid", "structure_recovered": True, "holdout_r2": 0.99, "verdict": "good"},
...     {"method": "sysid", "structure_recovered": False, "holdout_r2": 0.5, "verdict": "poor"},
... ]
>>> print("\\n".join(calibration_lines(rows)[2:]))
| cells | good | doubtful | poor | none |
|---|---|---|---|---|
| recovered | 1 | 0 | 0 | 0 |
| not recovered | 0 | 0 | 1 | 0 |
| held-out R^2 < 0.9 | 0 | 0 | 1 | 0 |
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from statistics import median
from typing import Any

__all__ = ["calibration_lines", "inclusion_lines"]

_VERDICTS = ("good", "doubtful", "poor")


def calibration_lines(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Markdown lines: verdict against truth for the sysid rows that carry a verdict column."""
    mine = [r for r in rows if r.get("method") == "sysid" and not r.get("error")]
    if not mine:
        return []
    groups = {
        "recovered": [r for r in mine if r.get("structure_recovered")],
        "not recovered": [r for r in mine if not r.get("structure_recovered")],
        "held-out R^2 < 0.9": [
            r for r in mine if r.get("holdout_r2") is None or float(r["holdout_r2"]) < 0.9
        ],
    }
    lines = [
        "## Verdict against truth (sysid)",
        "",
        "| cells | " + " | ".join(_VERDICTS) + " | none |",
        "|---|" + "---|" * (len(_VERDICTS) + 1),
    ]
    for name, rs in groups.items():
        counts = [sum(r.get("verdict") == v for r in rs) for v in _VERDICTS]
        none = len(rs) - sum(counts)
        lines.append(f"| {name} | " + " | ".join(map(str, counts)) + f" | {none} |")
    lines += _misses(
        "Recovered but not good", [r for r in groups["recovered"] if r.get("verdict") != "good"]
    )
    lines += _misses(
        "Good with held-out R^2 < 0.9",
        [r for r in groups["held-out R^2 < 0.9"] if r.get("verdict") == "good"],
    )
    return lines + inclusion_lines(mine)


def _misses(title: str, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line naming the cells (problem, noise, sampling, seed, verdict) of a kind."""
    if not rows:
        return []
    cells = ", ".join(
        f"{r['problem']} {float(r['noise']):g} {r['sampling']} seed {r['seed']} "
        f"({r.get('verdict')})"
        for r in sorted(rows, key=lambda r: (r["problem"], float(r["noise"]), int(r["seed"])))
    )
    return ["", f"{title} ({len(rows)}): {cells}."]


def _value(row: Mapping[str, Any], key: str) -> float | None:
    v = row.get(key)
    return None if v in (None, "") else float(v)


def inclusion_lines(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Markdown lines: the true terms' smallest inclusion per cell, and the others' largest.

    Examples
    --------
    >>> rows = [{"structure_recovered": True, "inclusion_true_min": 1.0,
    ...          "inclusion_false_max": 0.0}]
    >>> print("\\n".join(inclusion_lines(rows)[5:]))
    | recovered | 1 | 1 | 1 | 1 of 1 | 0 | 0 of 1 |
    """
    with_values = [r for r in rows if _value(r, "inclusion_true_min") is not None]
    if not with_values:
        return []
    lines = [
        "",
        "## Inclusion probabilities of the ensemble (sysid)",
        "",
        "| cells | n | true terms: median of the smallest | lowest | >= 0.75 "
        "| other terms: median of the largest | > 0.5 |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, recovered in (("recovered", True), ("not recovered", False)):
        rs = [r for r in with_values if bool(r.get("structure_recovered")) == recovered]
        if not rs:
            continue
        true = sorted(_value(r, "inclusion_true_min") for r in rs)
        other = sorted(_value(r, "inclusion_false_max") or 0.0 for r in rs)
        high = sum(v >= 0.75 for v in true)
        loud = sum(v > 0.5 for v in other)
        lines.append(
            f"| {name} | {len(rs)} | {median(true):.3g} | {true[0]:.3g} | {high} of {len(rs)} "
            f"| {median(other):.3g} | {loud} of {len(rs)} |"
        )
    return lines
