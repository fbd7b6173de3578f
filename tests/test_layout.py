"""The package's layout: stages import one way, and no public name hides a module."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

import pytest

import sysid

ROOT = Path(__file__).resolve().parents[1]


def _stage_modules() -> list[str]:
    found = pkgutil.walk_packages(sysid.__path__, "sysid.")
    return sorted(m.name for m in found if m.name != "sysid.__main__")


def test_stages_import_one_way():
    """import-linter's layer contract in pyproject.toml holds (CI runs ``lint-imports`` too)."""
    importlinter_cli = pytest.importorskip("importlinter.cli")
    code = importlinter_cli.lint_imports(
        config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True
    )
    assert code == 0, "a module imports from a later stage: run `lint-imports` to see which"


def test_layer_contract_fails_on_a_backwards_import(tmp_path, monkeypatch):
    """The check can fail: a copy of the package where core imports pipeline breaks it."""
    importlinter_cli = pytest.importorskip("importlinter.cli")
    import shutil

    shutil.copytree(ROOT / "sysid", tmp_path / "sysid", ignore=shutil.ignore_patterns("*.pyc"))
    bad = tmp_path / "sysid" / "core" / "errors.py"
    bad.write_text(bad.read_text() + "\nfrom sysid.pipeline import SysID  # noqa: E402\n")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    saved = {k: v for k, v in sys.modules.items() if k == "sysid" or k.startswith("sysid.")}
    for k in saved:
        del sys.modules[k]
    try:
        code = importlinter_cli.lint_imports(
            config_filename=str(tmp_path / "pyproject.toml"), no_cache=True, no_logo=True
        )
    finally:
        for k in [k for k in sys.modules if k == "sysid" or k.startswith("sysid.")]:
            del sys.modules[k]
        sys.modules.update(saved)
    assert code == 1


def test_every_stage_module_imports():
    for name in _stage_modules():
        importlib.import_module(name)


@pytest.mark.parametrize("name", sysid.__all__)
def test_no_public_name_shadows_a_module(name):
    """``sysid.X`` is what ``sysid/__init__`` exports, never a module hidden by a function."""
    modules = {m.split(".")[1] for m in _stage_modules()}
    assert name not in modules, f"sysid.{name} is both a re-exported name and a module"
    assert not isinstance(getattr(sysid, name), type(sys)), f"sysid.{name} is a module"
