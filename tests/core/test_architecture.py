"""The import rules of docs/ARCHITECTURE.md, checked for every production module.

Imports are read with `ast` from the source (top-level and inside functions alike), plus
string imports (`importlib.import_module("x")`, `__import__("x")`, the CLI's `_lazy(parser, "x")`),
so a lazy import cannot slip past. Each rule names its one allowed exception.
"""
from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("itrader", "actors")

# The one production place that composes the sandbox profile: it starts the in-process world
# and registers the sandbox bank's DKIM key (actors/tree.py).
SANDBOX_COMPOSER = "actors.tree"
# `itrader sandbox` serves the twin itself (no daemon, no trust in it): the CLI loads its command.
SANDBOX_LAUNCHER = ("itrader.cli", "itrader.sandbox.command")
# What the twin may use of ours: the receipt renderer (it draws receipts) and the WSGI server class.
SANDBOX_MAY_IMPORT = {"itrader", "itrader.receipts", "itrader.receipts.render", "itrader.web"}
# The pure core: these and everything they import from itrader do no I/O.
PURE_ROOTS = ("itrader.receipts.verify", "itrader.receipts.parse", "itrader.deal", "itrader.dialogue",
              "itrader.pricing", "itrader.allocation", "itrader.recipients", "itrader.errors")
PURE_STDLIB = {"__future__", "abc", "collections", "dataclasses", "datetime", "decimal", "difflib", "enum",
               "functools", "hashlib", "itertools", "math", "re", "string", "typing", "unicodedata", "zoneinfo"}
STRING_IMPORTERS = {"import_module", "__import__", "_lazy"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@lru_cache(maxsize=None)
def all_modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def _absolute(module: str | None, level: int, importer: str, is_package: bool) -> str:
    if not level:
        return module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


@lru_cache(maxsize=None)
def imports_of(name: str) -> frozenset[str]:
    """Every module `name` imports, absolute; `from a import b` counts a.b when b is a module."""
    path = all_modules()[name]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module, node.level, name, path.name == "__init__.py")
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in all_modules())
        elif isinstance(node, ast.Call):
            func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if func in STRING_IMPORTERS:
                found.update(arg.value for arg in node.args
                             if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and "." in arg.value
                             or isinstance(arg, ast.Constant) and arg.value in PACKAGES)
    return frozenset(found)


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _production() -> list[str]:
    return sorted(all_modules())


def test_the_module_walk_sees_lazy_and_string_imports():
    assert "gevent" in imports_of("itrader.cli") and "itrader.sandbox.command" in imports_of("itrader.cli")
    assert "itrader.sandbox.world" in imports_of("actors.tree")  # imported inside a function
    assert {"itrader.receipts.text", "itrader.receipts.errors"} <= imports_of("itrader.receipts.parse")
    assert len(_production()) > 60


@pytest.mark.parametrize("name", [m for m in _production() if _in(m, "itrader")])
def test_itrader_never_imports_actors(name):
    assert not [m for m in imports_of(name) if _in(m, "actors")], f"{name} imports the actor shell"


@pytest.mark.parametrize("name", [m for m in _production() if not _in(m, "itrader.sandbox")])
def test_only_the_composer_imports_the_sandbox(name):
    sandbox = sorted(m for m in imports_of(name) if _in(m, "itrader.sandbox"))
    if name == SANDBOX_COMPOSER:
        return
    if name == SANDBOX_LAUNCHER[0]:
        sandbox = [m for m in sandbox if m != SANDBOX_LAUNCHER[1]]
    assert not sandbox, f"{name} imports the twin: {sandbox}"


@pytest.mark.parametrize("name", [m for m in _production() if _in(m, "itrader.sandbox")])
def test_the_twin_imports_nothing_of_ours_but_the_renderer(name):
    ours = {m for m in imports_of(name) if _in(m, "itrader") and not _in(m, "itrader.sandbox")}
    assert ours <= SANDBOX_MAY_IMPORT, f"{name} imports {sorted(ours - SANDBOX_MAY_IMPORT)}"
    assert not [m for m in imports_of(name) if _in(m, "actors")]


def _pure_closure() -> dict[str, str]:
    """Each itrader module reachable from the pure roots -> the root that reaches it."""
    seen: dict[str, str] = {}
    todo = [(root, root) for root in PURE_ROOTS]
    while todo:
        name, root = todo.pop()
        if name in seen or name not in all_modules():
            continue
        seen[name] = root
        todo.extend((m, root) for m in imports_of(name) if _in(m, "itrader"))
    return seen


@pytest.mark.parametrize("name", sorted(_pure_closure()))
def test_the_pure_core_does_no_io(name):
    outside = {m for m in imports_of(name) if not _in(m, "itrader")}
    impure = sorted(m for m in outside if m.split(".")[0] not in PURE_STDLIB)
    assert not impure, f"{name} (reached from {_pure_closure()[name]}) imports {impure}"


def test_the_pure_receipt_modules_stay_away_from_the_extractor():
    closure = _pure_closure()
    assert {"itrader.receipts.verify", "itrader.receipts.parse", "itrader.receipts.text"} <= set(closure)
    assert "itrader.receipts.extract" not in closure and "itrader.receipts.offload" not in closure


@pytest.mark.parametrize("source, rule", [
    ("from actors.daemon import run_daemon\n", "itrader never imports actors"),
    ("def f():\n    from itrader.sandbox.mail import dns_txt_records\n", "sandbox"),
    ("import importlib\nimportlib.import_module('actors.tree')\n", "itrader never imports actors"),
])
def test_a_forbidden_import_is_caught(tmp_path, monkeypatch, source, rule):
    """The walk is what the rules stand on: a planted import in an itrader module must show."""
    planted = ROOT / "itrader" / "dialogue.py"
    monkeypatch.setitem(all_modules(), "itrader.dialogue", tmp_path / "dialogue.py")
    (tmp_path / "dialogue.py").write_text(planted.read_text(encoding="utf-8") + source, encoding="utf-8")
    imports_of.cache_clear()
    try:
        caught = imports_of("itrader.dialogue")
        assert any(_in(m, "actors") or _in(m, "itrader.sandbox") for m in caught)
    finally:
        imports_of.cache_clear()


# --- the size limits of issue 10: rooms that stay small enough to read -----------------------------------

MAX_ACTOR_CLASS_LINES = 400
MAX_MODULE_LINES = 700


def test_no_production_module_passes_the_size_limit():
    too_long = {name: n for name, path in all_modules().items()
                if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert too_long == {}, f"split these modules (limit {MAX_MODULE_LINES} lines)"


def test_no_actor_class_passes_the_size_limit():
    too_long = {}
    for name, path in all_modules().items():
        if not _in(name, "actors"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > MAX_ACTOR_CLASS_LINES:
                too_long[f"{name}.{node.name}"] = node.end_lineno - node.lineno + 1
    assert too_long == {}, f"thin these actors over collaborators (limit {MAX_ACTOR_CLASS_LINES} lines)"
