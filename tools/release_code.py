"""Which releases of a package carry the same code as the one an entry was measured on.

A known-deviation entry's version range is a claim about every release in it, not only the ones the
suite ran. This prints, for each release wheel in a folder, a short hash of each named function's
source (its AST, so comments, docstrings and formatting do not count), and groups the releases whose
functions are all identical::

    pip download --no-deps keras==3.8.0 keras==3.9.0 ... -d wheels/
    python tools/release_code.py wheels/ keras \\
        keras/src/layers/normalization/batch_normalization.py:BatchNormalization._moments \\
        keras/src/backend/torch/nn.py:batch_normalization

A target written ``path:qualname~regex`` asks instead whether the function's source (comments
included) matches ``regex``: ``+`` or ``.``; the line that carries an entry's mechanism is often
reformatted between releases while the mechanism stays. A function a release lacks (a renamed file or
method) prints as ``-``. Used for the version ranges of
docs/history.md (which functions each entry's mechanism lives in is written beside the entry's range).
"""

from __future__ import annotations

import ast
import copy
import hashlib
import re
import sys
import zipfile
from pathlib import Path

from packaging.version import Version


def _strip_docstrings(node: ast.AST) -> ast.AST:
    for child in ast.walk(node):
        body = getattr(child, "body", None)
        if (isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            child.body = body[1:] or [ast.Pass()]
    return node


def find(tree: ast.Module, qualname: str) -> ast.AST | None:
    """The function or class ``qualname`` (``Class.method`` or ``function``) of a module's AST."""
    scope: list[ast.stmt] = tree.body
    node = None
    for part in qualname.split("."):
        node = next((n for n in scope if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                     and n.name == part), None)
        if node is None:
            return None
        scope = node.body
    return node


def digest(source: str, tree: ast.Module, qualname: str) -> str:
    """Eight hex digits of the AST of ``qualname`` in ``source`` (parsed: ``tree``; docstrings
    dropped), or ``-``; for ``qualname~regex``, ``+`` when the function's source matches ``regex``,
    else ``.``."""
    qualname, tilde, pattern = qualname.partition("~")
    node = find(tree, qualname)
    if node is None:
        return "-"
    if tilde:
        return "+" if re.search(pattern, ast.get_source_segment(source, node) or "") else "."
    return hashlib.sha256(ast.dump(_strip_docstrings(copy.deepcopy(node))).encode()).hexdigest()[:8]


def wheels(folder: Path, package: str) -> list[tuple[Version, Path]]:
    """``(version, wheel)`` of every wheel of ``package`` in ``folder``, oldest first."""
    found = []
    for path in folder.glob("*.whl"):
        match = re.match(rf"{re.escape(package)}-([^-]+)-", path.name)
        if match:
            found.append((Version(match.group(1)), path))
    return sorted(found)


def table(folder: Path, package: str, targets: list[str]) -> list[str]:
    """One line per release: its version and one hash per ``path:qualname`` of ``targets``, then the
    runs of consecutive releases whose hashes are all equal."""
    lines, runs = [], []
    for version, wheel in wheels(folder, package):
        with zipfile.ZipFile(wheel) as zf:
            names = set(zf.namelist())
            parsed: dict[str, tuple[str, ast.Module]] = {}  # each file read and parsed once
            row = []
            for target in targets:
                path, _, qualname = target.partition(":")
                if path not in names:
                    row.append("-")
                    continue
                if path not in parsed:
                    source = zf.read(path).decode("utf-8")
                    parsed[path] = source, ast.parse(source)
                row.append(digest(*parsed[path], qualname))
        lines.append(f"{version!s:>8}  " + "  ".join(row))
        if runs and runs[-1][2] == row:
            runs[-1][1] = version
        else:
            runs.append([version, version, row])
    lines.append("identical runs: " + "; ".join(f"{a}..{b}" if a != b else str(a) for a, b, _ in runs))
    return lines


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    folder, package, *targets = argv
    print("\n".join(table(Path(folder), package, targets)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
