"""Known deviations: the checked-in list of expected failures, and matching records to it.

The file (``known_deviations.toml`` at the repository root) holds ``[[deviation]]``
tables; see that file's header for the format. Every string field is an
``fnmatch``-style pattern (``"*"`` matches anything), ``versions`` is a PEP 440
specifier on the framework's version (``"*"`` or ``""`` for any version; pre-releases
and local versions such as ``2.13.0+cpu`` are matched like their release).

A record's *outcome* (did the property hold?) is independent of the file; its verdict is
derived from the outcome and the file by :func:`classify`. That is how the pytest plugin
decides xfail at run time and how the report and the gate re-derive verdicts later from
the then-current file (so an entry added or removed after a run takes effect).
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

__all__ = [
    "Deviation",
    "DeviationsError",
    "EntryStatus",
    "load_deviations",
    "parse_deviations",
    "match",
    "classify",
    "entry_statuses",
]

_PATTERN_FIELDS = ("target", "framework", "property", "op", "mode", "dtype")
_REQUIRED = ("framework", "versions", "property", "reason", "link")
_KNOWN = set(_PATTERN_FIELDS) | {"versions", "reason", "link", "occurs"}
OCCURS = ("always", "sometimes")


class DeviationsError(Exception):
    """The known-deviations file is missing, not TOML, or has a bad entry."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass(frozen=True)
class Deviation:
    """One ``[[deviation]]`` entry. ``index`` is its 1-based position in the file."""

    index: int
    framework: str
    versions: str
    property: str
    reason: str
    link: str
    target: str = "*"
    op: str = "*"
    mode: str = "*"
    dtype: str = "*"
    occurs: str = "always"  # "sometimes": only some examples reach it, so a pass is not a fix
    _spec: SpecifierSet | None = field(default=None, compare=False, repr=False)

    @property
    def label(self) -> str:
        """A short human name: ``#2 flax >=0.7 bn_forward_adversarial/batch_norm``."""
        parts = [f"#{self.index}", self.framework, self.versions or "*", f"{self.property}/{self.op}"]
        if self.target != "*":
            parts.insert(1, f"target={self.target}")
        if self.mode != "*":
            parts.append(f"mode={self.mode}")
        if self.dtype != "*":
            parts.append(f"dtype={self.dtype}")
        return " ".join(parts)

    def version_matches(self, version: str | None) -> bool:
        """Whether the framework ``version`` lies in ``versions`` (unknown versions only match "*")."""
        if self._spec is None:
            return True
        if version is None:
            return False
        try:
            return self._spec.contains(Version(version), prereleases=True)
        except InvalidVersion:
            return False

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Whether this entry covers ``record`` (target, framework, version, property, op, mode, dtype)."""
        for name in _PATTERN_FIELDS:
            pattern = getattr(self, name)
            if pattern == "*":
                continue
            value = record.get(name)
            if value is None or not fnmatch.fnmatchcase(str(value), pattern):
                return False
        return self.version_matches(record.get("version"))

    def as_dict(self) -> dict[str, str]:
        """The entry as written (for the results file and the report)."""
        return {name: getattr(self, name) for name in
                ("target", "framework", "versions", "property", "op", "mode", "dtype", "occurs",
                 "reason", "link")}


def load_deviations(path: str | os.PathLike) -> list[Deviation]:
    """Read and check a known-deviations file. Raises :class:`DeviationsError` naming the problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DeviationsError(path, "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DeviationsError(path, f"cannot read: {exc}") from None
    return parse_deviations(text, path)


def parse_deviations(text: str, path: str | os.PathLike = "<known deviations>") -> list[Deviation]:
    """Parse the TOML ``text`` of a known-deviations file (``path`` only names it in errors)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DeviationsError(path, f"not valid TOML: {exc}") from None
    unknown = sorted(set(doc) - {"deviation"})
    if unknown:
        raise DeviationsError(path, f"unknown top-level key(s) {', '.join(unknown)}; "
                                    "entries are [[deviation]] tables")
    entries = doc.get("deviation", [])
    if not isinstance(entries, list):
        raise DeviationsError(path, "'deviation' must be an array of tables ([[deviation]])")
    return [_entry(raw, i, path) for i, raw in enumerate(entries, start=1)]


def _entry(raw: Mapping[str, Any], index: int, path) -> Deviation:
    where = f"deviation #{index}"
    unknown = sorted(set(raw) - _KNOWN)
    if unknown:
        raise DeviationsError(path, f"{where}: unknown key(s) {', '.join(unknown)} "
                                    f"(allowed: {', '.join(sorted(_KNOWN))})")
    missing = [key for key in _REQUIRED if key not in raw]
    if missing:
        raise DeviationsError(path, f"{where}: missing required key(s) {', '.join(missing)}")
    for key, value in raw.items():
        if not isinstance(value, str):
            raise DeviationsError(path, f"{where}: {key} must be a string, got {type(value).__name__}")
    for key in ("reason", "link", "framework", "property"):
        if not raw[key].strip():
            raise DeviationsError(path, f"{where}: {key} must not be empty")
    if raw.get("occurs", "always") not in OCCURS:
        raise DeviationsError(path, f"{where}: occurs must be one of {', '.join(OCCURS)}, got {raw['occurs']!r}")
    versions = raw["versions"].strip()
    spec = None
    if versions not in ("", "*"):
        try:
            spec = SpecifierSet(versions)
        except InvalidSpecifier:
            raise DeviationsError(path, f"{where}: versions {versions!r} is not a PEP 440 "
                                        "specifier (e.g. \">=2.4,<2.6\" or \"*\")") from None
    values = {key: raw[key] for key in raw if key != "versions"}
    return Deviation(index=index, versions=versions, _spec=spec, **values)


def match(deviations: Iterable[Deviation], record: Mapping[str, Any]) -> Deviation | None:
    """The first entry that covers ``record``, or None."""
    for deviation in deviations:
        if deviation.matches(record):
            return deviation
    return None


def classify(record: Mapping[str, Any], deviations: Iterable[Deviation]) -> tuple[str, Deviation | None]:
    """Re-derive a record's verdict from its outcome and ``deviations``.

    A property failure (``fail`` or ``known-deviation``) becomes ``known-deviation`` if
    an entry covers it, else ``fail``; a success (``pass`` or ``fixed-deviation``)
    becomes ``fixed-deviation`` if an entry covers it, else ``pass`` -- except under an
    entry that ``occurs = "sometimes"`` (only some examples reach the deviation, so a pass
    is no evidence of a fix): that pass stays ``pass``. ``error`` (the test raised
    something other than an assertion) and ``skip`` are never covered.
    """
    verdict = record["verdict"]
    if verdict in ("error", "skip"):
        return verdict, None
    entry = match(deviations, record)
    failed = verdict in ("fail", "known-deviation")
    if entry is None:
        return ("fail" if failed else "pass"), None
    if not failed and entry.occurs == "sometimes":
        return "pass", None
    return ("known-deviation" if failed else "fixed-deviation"), entry


@dataclass
class EntryStatus:
    """What the results say about one entry.

    ``status`` is one of:

    - ``"active"``: it covered at least one failing record (the deviation is still there);
    - ``"fixed"``: it covered records, and all of them passed (remove the entry?);
    - ``"stale"``: its framework was tested, but no tested version lies in ``versions``;
    - ``"unused"``: a tested version matches, but no record matches its property/op/mode/dtype
      (a typo or a renamed property?);
    - ``"inconclusive"``: the records it covers were all skipped or raised errors;
    - ``"not-reached"``: an ``occurs = "sometimes"`` entry whose records all passed this time;
    - ``"not-tested"``: its framework does not appear in the results at all.
    """

    deviation: Deviation
    status: str
    known: int = 0
    fixed: int = 0
    tested_versions: list[str] = field(default_factory=list)

    @property
    def is_warning(self) -> bool:
        """Fixed, stale and unused entries need a person's attention."""
        return self.status in ("fixed", "stale", "unused")


def entry_statuses(deviations: Iterable[Deviation], records: Iterable[Mapping[str, Any]]) -> list[EntryStatus]:
    """Status of every entry against already classified ``records`` (see :func:`classify`).

    Each record counts for the first entry that matches it (as in :func:`classify`).
    """
    deviations = list(deviations)
    records = list(records)
    statuses = []
    for deviation in deviations:
        same_framework = [r for r in records
                          if r.get("framework") is not None
                          and fnmatch.fnmatchcase(str(r["framework"]), deviation.framework)
                          and (deviation.target == "*" or (r.get("target") is not None and
                               fnmatch.fnmatchcase(str(r["target"]), deviation.target)))]
        versions = sorted({str(r.get("version")) for r in same_framework})
        covered = [r for r in records if match(deviations, r) is deviation]
        known = sum(r["verdict"] == "known-deviation" for r in covered)
        fixed = sum(r["verdict"] == "fixed-deviation" for r in covered)
        if not same_framework:
            status = "not-tested"
        elif known:
            status = "active"
        elif fixed:
            status = "fixed"
        elif covered and deviation.occurs == "sometimes" and any(r["verdict"] == "pass" for r in covered):
            status = "not-reached"
        elif covered:
            status = "inconclusive"
        elif not any(deviation.version_matches(r.get("version")) for r in same_framework):
            status = "stale"
        else:
            status = "unused"
        statuses.append(EntryStatus(deviation, status, known, fixed, versions))
    return statuses
