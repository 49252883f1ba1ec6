"""The known deviations in force: the shipped file, plus the project's own.

The suite ships ``bnconform/known_deviations.toml`` (:data:`SHIPPED`); it is always loaded. A
project adds its own entries, and may disable shipped ones by id, in one *project file*:

- the file given with ``--known-deviations PATH``, else
- ``bnconform.toml`` in the current directory, else
- the ``[tool.bnconform]`` table of ``pyproject.toml`` in the current directory (if it has one).

A project file (or table) holds ``disable = ["shipped-id", ...]`` and ``[[deviation]]`` tables
(``[[tool.bnconform.deviation]]`` in pyproject.toml) in the shipped file's format. Every entry keeps
its origin (``shipped`` or ``PATH:LINE``), which the results file and the report show. Any problem is
a :class:`~bnconform.reports.deviations.DeviationsError` naming ``PATH:LINE``: a bad entry, an id
that is already a shipped entry's (disable it first to replace it), an id in ``disable`` that no
shipped entry has.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .deviations import Deviation, DeviationsError, load_deviations, parse_deviations, read_text

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

#: the known deviations that ship with the suite
SHIPPED = Path(__file__).resolve().parents[1] / "known_deviations.toml"
#: the project files looked for in the current directory, in order
PROJECT_FILES = ("bnconform.toml", "pyproject.toml")
_PYPROJECT_TABLE = ("tool", "bnconform")
_PROJECT_KEYS = {"deviation", "disable"}


@dataclass(frozen=True)
class KnownDeviations:
    """The entries in force, and where they came from."""

    entries: list[Deviation]
    shipped: Path | None  # None: the shipped file was left out (--no-shipped-deviations)
    project: Path | None  # the project file, None when there is none
    disabled: tuple[str, ...] = ()
    added: int = 0

    def describe(self) -> str:
        """``shipped PATH + project ./bnconform.toml (1 added; disables a, b)``: the source line of the
        gate, the report and the results file."""
        parts = []
        if self.shipped is not None:
            parts.append(f"shipped {self.shipped}")
        if self.project is not None:
            what = [f"{self.added} added"] + ([f"disables {', '.join(self.disabled)}"] if self.disabled else [])
            parts.append(f"project {self.project} ({'; '.join(what)})")
        return " + ".join(parts) or "none"


def project_file(directory: str | os.PathLike = ".") -> Path | None:
    """The project file of ``directory`` (see the module's docstring), or None."""
    for name in PROJECT_FILES:
        path = Path(directory) / name
        if not path.is_file():
            continue
        if name != "pyproject.toml":
            return path
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise DeviationsError(path, f"not valid TOML: {exc}") from None
        if isinstance(doc.get("tool"), dict) and "bnconform" in doc["tool"]:
            return path
    return None


def load(project: str | os.PathLike | None = None, *, directory: str | os.PathLike | None = ".",
         shipped: str | os.PathLike | None = SHIPPED) -> KnownDeviations:
    """The shipped entries (unless ``shipped`` is None) with ``project``'s applied; ``project`` None:
    the project file of ``directory`` (none looked for when ``directory`` is None too)."""
    base = load_deviations(shipped) if shipped is not None else []
    path = Path(project) if project is not None else (project_file(directory) if directory is not None else None)
    if path is None:
        return KnownDeviations(base, Path(shipped) if shipped is not None else None, None)
    disable, own = _read_project(path)
    by_id = {entry.id: entry for entry in base}
    for ident, line in disable:
        if ident not in by_id:
            raise DeviationsError(path, f"disable: no shipped deviation has id {ident!r} (shipped ids: "
                                        f"{', '.join(sorted(by_id)) or 'none'})", line)
    disabled = {ident for ident, _ in disable}
    for entry in own:
        if entry.id in by_id and entry.id not in disabled:
            raise DeviationsError(path, f"deviation #{entry.index} (id {entry.id}): a shipped deviation has this "
                                        f"id; add it to disable = [...] to replace it, or choose another id", entry.line)
    kept = [entry for entry in base if entry.id not in disabled]
    added = [dataclasses.replace(entry, origin=f"{path}:{entry.line}" if entry.line else str(path)) for entry in own]
    return KnownDeviations(kept + added, Path(shipped) if shipped is not None else None, path,
                           tuple(ident for ident, _ in disable), len(added))


def _read_project(path: Path) -> tuple[list[tuple[str, int | None]], list[Deviation]]:
    """(the ids to disable with their line, the project's own entries) of a project file."""
    text = read_text(path)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DeviationsError(path, f"not valid TOML: {exc}") from None
    prefix = ""
    if path.name == "pyproject.toml":
        for key in _PYPROJECT_TABLE:
            doc = doc.get(key) if isinstance(doc, dict) else None
        if not isinstance(doc, dict):
            raise DeviationsError(path, "no [tool.bnconform] table")
        prefix = "tool.bnconform."
    unknown = sorted(set(doc) - _PROJECT_KEYS)
    if unknown:
        raise DeviationsError(path, f"unknown key(s) {', '.join(prefix + k for k in unknown)}; a project file "
                                    f"holds disable = [...] and [[{prefix}deviation]] tables")
    disable = doc.get("disable", [])
    line = _line_of(text, r"^\s*disable\s*=") if not prefix else _line_in_table(text, "tool.bnconform", "disable")
    if not isinstance(disable, list) or not all(isinstance(i, str) for i in disable):
        raise DeviationsError(path, "disable must be a list of shipped deviation ids", line)
    entries = parse_deviations(text, path, table=prefix + "deviation", doc={"deviation": doc.get("deviation", [])})
    return [(ident, line) for ident in disable], entries


def _line_of(text: str, pattern: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(pattern, line):
            return number
    return None


def _line_in_table(text: str, table: str, key: str) -> int | None:
    """The line of ``key = ...`` inside ``[table]`` (before the next table header)."""
    inside = False
    for number, line in enumerate(text.splitlines(), start=1):
        header = re.match(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?", line)
        if header:
            inside = header.group(1) == table
        elif inside and re.match(rf"^\s*{re.escape(key)}\s*=", line):
            return number
    return None
