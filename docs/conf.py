"""Sphinx configuration of the sysid documentation (``docs/``).

Build: ``pip install -e ".[docs]" && sphinx-build -W -b html docs docs/_build/html``.
The pages are Markdown (MyST) so that they read the same on GitHub; the API
reference is generated from the numpydoc docstrings.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")

from sysid import __version__  # noqa: E402

project = "sysid"
author = "the sysid developers"
copyright = "2026, the sysid developers"  # noqa: A001 - Sphinx's name
release = version = __version__

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "README.md"]
myst_heading_anchors = 4
myst_enable_extensions = ["colon_fence", "html_image"]

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"  # numpydoc writes the types from the docstrings
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# The contract's examples of result.json elide parts with "..." (not strict JSON).
suppress_warnings = ["misc.highlighting_failure"]

intersphinx_mapping: dict[str, tuple[str, None]] = {}  # no network at build time

html_theme = "furo"
html_title = f"sysid {release}"
html_static_path = ["_static"]
html_extra_path: list[str] = []


#: ``<a id="name"></a>`` on a line of its own: the anchors the pages use on GitHub.
_ANCHOR = re.compile(r'^<a id="([A-Za-z0-9_-]+)"></a>\s*$', re.MULTILINE)


def _anchors_as_targets(app, docname, source):  # noqa: ANN001 - Sphinx's event
    """Turn the pages' HTML anchors into MyST targets, so ``page.md#name`` links resolve."""
    source[0] = _ANCHOR.sub(r"(\1)=", source[0])


def _skip_routing(app, what, name, obj, skip, options):  # noqa: ANN001, PLR0913 - Sphinx's event
    """Leave out scikit-learn's generated ``set_*_request`` methods of the estimator."""
    return True if re.fullmatch(r"set_\w+_request", name) else None


def setup(app):  # noqa: ANN001, ANN201 - Sphinx's hook
    """Generate the gallery page from the example scripts before reading."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _gallery import write_gallery

    app.connect("builder-inited", lambda _app: write_gallery(Path(__file__).parent / "gallery.md"))
    app.connect("source-read", _anchors_as_targets)
    app.connect("autodoc-skip-member", _skip_routing)
