"""The example notebook runs and shows a result as a notebook renders it."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "notebook.ipynb"


@pytest.mark.slow
def test_example_notebook_shows_equations_verdict_and_figures():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3").execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert r"\frac{d x}{d t}" in html and "verdict: <b>good</b>" in html
    assert "standard error" in html and "data:image/png;base64," in html
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 1  # the phase portrait
    printed = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "+/-" in printed and "def rhs(" in printed
