"""What each target of a run actually tested: declared targets left untested, errors per target,
and the version that was imported against the one the distribution's metadata names.

The gate (:mod:`bnconform.reports.gate`) and the plugin's terminal summary both ask these questions:

- **Declared targets.** A run states the targets it was asked for (``run.targets``, from
  ``--target`` or ``BNCONFORM_TARGETS``; absent when none was asked for, and then the targets
  seen in its records stand in). A target is *untested* when it has no record other than
  ``skip``. A run none of whose declared targets was tested checked nothing: in an upgrade matrix
  that is an environment whose framework vanished, and the other environments must not carry the
  gate for it.
- **Errors per target.** An ``error`` record means the test could not check its property (an
  exception other than an assertion: an installed framework that fails to import, say, raises
  ``bnconform.adapters.Broken`` in every test of the target). Grouping them by target, with the first line
  of the most common message, names the target and the exception in one line.
- **Imported version.** ``version`` is read from the distribution's metadata (no import);
  ``imported_version`` is the imported module's ``__version__`` (``bnconform.adapters.imported``). When both
  are known and differ, the metadata lies: the tests ran another release than the one the run
  names (a shadowing copy on ``sys.path``, a stale install), so the version column, the comparison
  of versions and the known-deviation ranges all refer to a release that was not tested.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from packaging.version import InvalidVersion, Version

from . import error_origin

__all__ = ["ErrorGroup", "Mismatch", "Untested", "declared_targets", "error_groups", "first_line",
           "same_version", "untested_targets", "version_label", "version_mismatches"]

_TESTED = ("pass", "fail", "known-deviation", "fixed-deviation", "error")


def first_line(message: str | None) -> str:
    """The first non-empty line of a message (``setup failed: `` kept: it says where it raised)."""
    for line in (message or "").splitlines():
        if line.strip():
            return line.strip()
    return "(no message)"


def declared_targets(run: dict[str, Any], records: Sequence[dict[str, Any]]) -> tuple[list[str], bool]:
    """``(targets, explicit)``: ``run.targets`` when the run declared them, else the targets its
    records name (in order of appearance)."""
    declared = run.get("targets")
    if isinstance(declared, list) and all(isinstance(t, str) for t in declared):
        return list(declared), True
    return list(dict.fromkeys(r["target"] for r in records if r.get("target"))), False


@dataclass(frozen=True)
class Untested:
    """A declared target with no record other than ``skip``."""

    target: str
    records: int
    reasons: tuple[str, ...]  # distinct skip reasons, most common first

    def describe(self) -> str:
        if not self.records:
            return f"{self.target}: no records"
        why = "; ".join(self.reasons[:2]) + (f" (+{len(self.reasons) - 2} more reasons)" if len(self.reasons) > 2 else "")
        return f"{self.target}: all {self.records} records skipped ({why})"


def untested_targets(targets: Iterable[str], records: Sequence[dict[str, Any]]) -> list[Untested]:
    """The ``targets`` none of whose records was tested (an ``error`` counts as tested: it is a
    failure of its own, reported as such)."""
    out = []
    for target in targets:
        mine = [r for r in records if r.get("target") == target]
        if any(r["verdict"] in _TESTED for r in mine):
            continue
        reasons = Counter(r.get("reason") or "no reason given" for r in mine)
        out.append(Untested(target, len(mine), tuple(reason for reason, _ in reasons.most_common())))
    return out


@dataclass(frozen=True)
class ErrorGroup:
    """The ``error`` records of one target and one origin (framework, suite, other: ``error_origin``):
    how many, and the most common first message line."""

    target: str
    count: int
    message: str
    others: int  # distinct first lines besides ``message``
    origin: str | None = None  # "framework", "suite", "other" (bnconform.reports.error_origin); None: not recorded
    raised_in: str | None = None  # the most common deciding module

    def describe(self) -> str:
        more = f" (+{self.others} other message{'s' if self.others > 1 else ''})" if self.others else ""
        whose = error_origin.describe(self.origin, self.raised_in)
        return f"{self.target}: {self.count} error(s){' ' + whose if whose else ''}: {self.message}{more}"


def error_groups(records: Iterable[dict[str, Any]]) -> list[ErrorGroup]:
    """``error`` records grouped by target, in order of appearance."""
    lines: dict[tuple[str, str | None], Counter] = {}
    where: dict[tuple[str, str | None], Counter] = {}
    for record in records:
        if record["verdict"] == "error":
            key = (record.get("target") or "(no target)", record.get("error_origin"))
            lines.setdefault(key, Counter())[first_line(record.get("message"))] += 1
            if record.get("raised_in"):
                where.setdefault(key, Counter())[record["raised_in"]] += 1
    groups = []
    for (target, origin), counter in lines.items():
        message, _ = counter.most_common(1)[0]
        module = where[(target, origin)].most_common(1)[0][0] if (target, origin) in where else None
        groups.append(ErrorGroup(target, sum(counter.values()), message, len(counter) - 1, origin, module))
    return groups


def same_version(a: str, b: str) -> bool:
    """Equal as PEP 440 versions (``2.13`` == ``2.13.0``), else as text."""
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


@dataclass(frozen=True)
class Mismatch:
    """A target whose imported module is not the release its distribution's metadata names."""

    target: str
    package: str  # the framework, or "<framework> backend <backend>"
    metadata: str
    imported: str

    def describe(self) -> str:
        return (f"{self.target}: imported {self.package} {self.imported}, but the installed distribution's "
                f"metadata says {self.metadata}")


def version_mismatches(records: Iterable[dict[str, Any]]) -> list[Mismatch]:
    """One :class:`Mismatch` per (target, package) whose versions differ, in order of appearance."""
    found: dict[tuple[str, str], Mismatch] = {}
    for record in records:
        target = record.get("target") or "(no target)"
        pairs = ((record.get("framework") or target, "version", "imported_version"),
                 (f"{record.get('backend')} (backend of {record.get('framework')})", "backend_version",
                  "imported_backend_version"))
        for package, meta_key, imported_key in pairs:
            meta, imported = record.get(meta_key), record.get(imported_key)
            if meta and imported and not same_version(meta, imported):
                found.setdefault((target, package), Mismatch(target, package, meta, imported))
    return list(found.values())


def version_label(version: str | None, imported: str | None, imported_known: bool) -> str:
    """``0.12.8``; ``0.99.0 (imported 0.12.8)`` when the import disagrees with the metadata;
    ``0.99.0 (not imported)`` when the run recorded imports and this framework never imported."""
    text = version or "(version unknown)"
    if imported and version and not same_version(version, imported):
        return f"{text} (imported {imported})"
    if imported_known and not imported:
        return f"{text} (not imported)"
    return text
