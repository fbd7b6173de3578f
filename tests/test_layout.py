"""The package's layout: stages import one way, and no public name hides a module."""

from __future__ import annotations

import ast
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


#: The size rules (docs/architecture.md#small-pieces): lines of code in a function
#: (its docstring not counted: numpydoc parameter lists and examples are kept whole),
#: lines in a module, unless the module says why in a comment starting with this.
MAX_FUNCTION_CODE, MAX_MODULE, LONG_MODULE_NOTE = 80, 600, "# Over 600 lines:"


def _function_code_lengths(source: str) -> dict[str, int]:
    out = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                if isinstance(first.value.value, str):
                    n -= first.end_lineno - first.lineno + 1
            out[f"{node.name} (line {node.lineno})"] = n
    return out


@pytest.mark.parametrize("path", sorted((ROOT / "sysid").rglob("*.py")), ids=lambda p: p.name)
def test_functions_and_modules_are_small(path):
    source = path.read_text(encoding="utf-8")
    long = {f: n for f, n in _function_code_lengths(source).items() if n > MAX_FUNCTION_CODE}
    assert not long, f"{path.name}: functions over {MAX_FUNCTION_CODE} lines of code: {long}"
    n_lines = source.count("\n")
    noted = any(line.startswith(LONG_MODULE_NOTE) for line in source.splitlines())
    assert n_lines <= MAX_MODULE or noted, (
        f"{path.name} has {n_lines} lines: split it along its sections, or say why in a "
        f"comment starting with {LONG_MODULE_NOTE!r}"
    )


def test_the_size_rule_can_fail():
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_CODE))
    doc = "\n".join(["    Doc."] * 100)
    long = f"def f():\n{body}\n"
    documented = f'def g():\n    """\n{doc}\n    """\n    return 1\n'
    assert _function_code_lengths(long + documented) == {
        "f (line 1)": MAX_FUNCTION_CODE + 1,
        f"g (line {MAX_FUNCTION_CODE + 2})": 2,
    }
