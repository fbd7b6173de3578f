"""The documentation site lists every public name and every page."""

from __future__ import annotations

import re
from pathlib import Path

import sysid

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_api_reference_lists_every_public_name():
    text = (DOCS / "api" / "index.rst").read_text(encoding="utf-8")
    listed = set(re.findall(r"^   ([A-Za-z_]\w*)$", text, re.MULTILINE))
    public = set(sysid.__all__) - {"__version__"}
    assert public - listed == set(), "add them to docs/api/index.rst"
    assert listed - public == set(), "names in docs/api/index.rst that sysid does not export"


def test_every_page_is_in_the_table_of_contents():
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    pages = {
        p.relative_to(DOCS).with_suffix("").as_posix()
        for p in DOCS.rglob("*.md")
        if "_build" not in p.parts and p.name not in {"README.md", "gallery.md", "index.md"}
    }
    missing = {p for p in pages if not re.search(rf"^{re.escape(p)}$", index, re.MULTILINE)}
    assert missing == set()
