"""Does the verdict tell the truth? Verdicts of sysid's cells against their scores.

A recovered cell (exact structure) should be ``good``; a cell whose held-out
R^2 against the truth is below 0.9 should never be ``good``. The table counts
the cells of each kind per verdict; nothing here changes a verdict.

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
from typing import Any

__all__ = ["calibration_lines"]

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
    return lines
