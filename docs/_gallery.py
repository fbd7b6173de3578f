"""Write ``docs/gallery.md`` from the example scripts' docstrings (run by ``conf.py``).

Each script in ``examples/`` gets a section: the first paragraph of its
docstring, the command that runs it, the committed figures it makes, and its
source. Generated at every build, so the gallery never lags the scripts.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr):(?=`)")  # Sphinx roles, for Markdown

#: Committed figures each script writes (paths from the repository root).
FIGURES = {
    "update_readme.py": [
        "examples/figures/lotka-volterra.png",
        "examples/figures/lotka-volterra-phase.png",
    ],
    "random_laws.py": ["examples/figures/random_laws.png"],
    "scaling.py": ["examples/bench/scaling_short/scaling.png"],
}

#: Figures of committed benchmark runs (``sysid bench``), with their reports.
BENCH_FIGURES = {
    "examples/bench/full_recovery.png": "examples/bench/full_report.md",
    "examples/bench/mission_recovery.png": "examples/bench/mission_report.md",
}


def _summary(path: Path) -> tuple[str, str]:
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or path.stem
    first, *rest = doc.strip().split("\n\n")
    title, _, more = first.partition("\n")
    text = " ".join((more + " " + (rest[0] if rest else "")).split())
    text = re.sub(r"(?:^|\s)\w*::$", "", text)  # a paragraph that only opens a code block
    return _ROLE.sub("", title.strip().rstrip(".")), _ROLE.sub("", text)


def _figure(rel: str) -> list[str]:
    if not (ROOT / rel).is_file():
        raise FileNotFoundError(f"gallery figure {rel} is missing: run its script")
    return [f"![{Path(rel).stem}](../{rel})", ""]


def write_gallery(target: Path) -> None:
    """Write the gallery page to ``target`` (Markdown, MyST)."""
    lines = [
        "# Gallery",
        "",
        "The scripts in `examples/`, each run from the repository root, and the",
        "figures of committed runs. Every figure here was made by the command",
        "beside it.",
        "",
    ]
    scripts = [p for p in sorted(EXAMPLES.glob("*.py")) if not p.name.startswith("_")]
    scripts.sort(key=lambda p: p.name not in FIGURES)  # the ones with figures first
    for script in scripts:
        title, text = _summary(script)
        lines += [f"## {title}", "", text, "", f"```bash\npython examples/{script.name}\n```", ""]
        for rel in FIGURES.get(script.name, []):
            lines += _figure(rel)
        lines += [f"Source: {{download}}`examples/{script.name} <../examples/{script.name}>`", ""]
    lines += [
        "## A notebook",
        "",
        "`examples/notebook.ipynb` learns the Lotka-Volterra law and shows the result as",
        "a notebook renders it: the equations typeset, the constants with their standard",
        "errors, the verdict, the data beside the model, the vector fields.",
        "",
        "```bash\njupyter nbconvert --to html --execute examples/notebook.ipynb\n```",
        "",
        *_figure("docs/screenshots/notebook.png"),
    ]
    lines += ["## Benchmark runs", ""]
    for rel, report in BENCH_FIGURES.items():
        lines += [f"From `{report}` (its header gives the command and the commit):", ""]
        lines += _figure(rel)
    target.write_text("\n".join(lines), encoding="utf-8")
