"""Every name docs/design.md uses exists: each path (``bnconform/...``, ``tests/...``, ``benchmarks/...``)
is a file or a folder of the repository, and each dotted name (``bnconform.x.y``) resolves to a module
or to an attribute of one. The design document is read as a map of the code; a renamed module or a
removed function must take its mention with it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DESIGN = REPO / "docs" / "design.md"

PATH = re.compile(r"(?<![\w./-])((?:bnconform|tests|benchmarks|docs)/[\w./<>*-]*[\w/])")
DOTTED = re.compile(r"(?<![\w./-])(bnconform(?:\.\w+)+)")


def _paths(text: str) -> list[str]:
    # a pattern such as bnconform/engines/<name>_engine.py names a family of files, not one
    return sorted({p for p in PATH.findall(text) if "<" not in p and "*" not in p})


def _dotted(text: str) -> list[str]:
    return sorted(set(DOTTED.findall(text)))


def _module_file(parts: list[str]) -> Path | None:
    base = REPO.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _names(body) -> dict[str, ast.AST]:
    """The names a module or class body defines: functions, classes, assignments, imports."""
    names: dict[str, ast.AST] = {}
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names[node.name] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                for leaf in ast.walk(target):
                    if isinstance(leaf, ast.Name):
                        names[leaf.id] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = node
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names[(alias.asname or alias.name).split(".")[0]] = node
        elif isinstance(node, (ast.If, ast.Try)):
            names.update(_names(node.body))
    return names


def resolves(name: str) -> bool:
    """Whether ``name`` is a module of the repository, or a name its source defines (a function, a
    class, a constant, an import; one level into a class), read with :mod:`ast`: nothing is imported."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        path = _module_file(parts[:cut])
        if path is None:
            continue
        rest = parts[cut:]
        if not rest:
            return True
        scope = _names(ast.parse(path.read_text(encoding="utf-8")).body)
        node = scope.get(rest[0])
        if node is None:
            return bool(_module_file(parts[:cut + 1]))  # a submodule the package does not import
        if len(rest) == 1:
            return True
        return isinstance(node, ast.ClassDef) and len(rest) == 2 and rest[1] in _names(node.body)
    return False


def test_every_path_in_the_design_document_exists():
    missing = [p for p in _paths(DESIGN.read_text()) if not (REPO / p.rstrip("/")).exists()]
    assert missing == []


def test_every_dotted_name_in_the_design_document_resolves():
    missing = [n for n in _dotted(DESIGN.read_text()) if not resolves(n)]
    assert missing == []


@pytest.mark.parametrize("text, found", [
    ("see `bnconform/no_such_module.py` and bnconform/cases.py", ["bnconform/no_such_module.py"]),
    ("the class `bnconform.checks.NoSuchCheck`", ["bnconform.checks.NoSuchCheck"]),
])
def test_the_checker_sees_a_stale_name(text, found):
    stale = ([p for p in _paths(text) if not (REPO / p).exists()]
             + [n for n in _dotted(text) if not resolves(n)])
    assert stale == found
