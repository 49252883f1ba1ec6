"""Known deviations: the checked-in list of executable models of known framework behaviour.

The file (``known_deviations.toml`` at the repository root) holds ``[[deviation]]`` tables; see
that file's header for the format. Each entry names the tests it may apply to (``target``,
``framework``, ``versions``, ``property``, ``op``, ``kind``, ``mode``, ``dtype``: ``fnmatch``-style
patterns, ``versions`` a bounded PEP 440 specifier; ``property``, ``op`` and ``kind`` must each match
a row of the property table, ``bnconform.properties``; ``device`` is ``cpu`` or ``cuda``/``gpu``,
the device the record ran on, as ``--device`` names it: ``bnconform.devices``; ``kernels`` a kernel
configuration of ``bnconform.engines.kernels``, the CPU kernel path the record measured) and, with ``model``
and ``params``, *what the framework computes instead*: a model (``bnconform.models``) that replaces
the reference's math or the tolerance model's numerics.

A failing example is explained by an entry only when the framework's outputs agree with that
model within the model's own tolerance (``bnconform.explanation.decide``);
the record then counts it in ``explained`` (``{entry id: examples}``) and the property goes on
checking. A crash (the framework raised) is explained only by an entry whose *crash model* predicts
it for that case, with that exception type and message; the record also keeps its exception line
(``explained_crashes``), and any other crash stays an ``error``. A record's verdict is ``fail`` if any example failed unexplained, else
``known-deviation`` if any example was explained, else ``pass``.

The report and the gate re-derive verdicts from the file in force then (:func:`classify`): a
record whose examples were explained by an entry that is gone, no longer covers the test (its
versions changed, say) or now names another model becomes ``fail`` with that reason.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from bnconform import devices

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

__all__ = [
    "Deviation",
    "DeviationsError",
    "Classification",
    "EntryStatus",
    "load_deviations",
    "parse_deviations",
    "candidates",
    "classify",
    "entry_statuses",
]

_PATTERN_FIELDS = ("target", "framework", "property", "op", "kind", "mode", "dtype")
_REQUIRED = ("id", "framework", "versions", "property", "model", "reason", "link")
_KNOWN = set(_PATTERN_FIELDS) | {"id", "versions", "gone_in", "device", "kernels", "model", "params", "reason",
                                  "link"}
_RETIRED = {
    "occurs": "'occurs' is no longer used: an entry is a model (model = ...), and only the examples that "
              "agree with it count as the deviation",
}
_UPPER_BOUND_OPERATORS = ("<", "<=", "==", "===", "~=")
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_HEADER = re.compile(r"^\s*\[\[\s*deviation\s*\]\]")


class DeviationsError(Exception):
    """The known-deviations file is missing, not TOML, or has a bad entry.

    The message is ``PATH:LINE: deviation #N (id ...): problem`` for an entry (LINE: its
    ``[[deviation]]`` header), ``PATH: problem`` for the file as a whole.
    """

    def __init__(self, path: str | os.PathLike, problem: str, line: int | None = None):
        self.path = str(path)
        self.problem = problem
        self.line = line
        super().__init__(f"{self.path}{'' if line is None else f':{line}'}: {problem}")


@dataclass(frozen=True)
class Deviation:
    """One ``[[deviation]]`` entry. ``index`` is its 1-based position in the file, ``line`` the line
    of its ``[[deviation]]`` header."""

    index: int
    id: str
    framework: str
    versions: str
    property: str
    model: str
    reason: str
    link: str
    target: str = "*"
    op: str = "*"
    kind: str = "*"  # the pooling kind (records of other ops have none: only "*" covers them)
    mode: str = "*"
    dtype: str = "*"
    device: str = "*"  # "*", "cpu" or "cuda" (the accelerator; "gpu" is read as "cuda")
    kernels: str = "*"  # "*" or a kernel configuration of bnconform.engines.kernels (the path the record measured)
    gone_in: str | None = None  # the first release examined whose code no longer has the mechanism (past the range)
    params: Mapping[str, Any] = field(default_factory=dict, hash=False)
    line: int | None = None
    origin: str = "shipped"  # "shipped", or PATH:LINE of a project's own entry (bnconform.reports.known)
    _spec: SpecifierSet | None = field(default=None, compare=False, repr=False)

    @property
    def label(self) -> str:
        """A short human name: ``#2 flax-one-pass-variance (flax >=0.12.6,<=0.12.8 bn_[bfm]*/batch_norm)``."""
        parts = [self.framework, self.versions, f"{self.property}/{self.op}"]
        if self.target != "*":
            parts.insert(0, f"target={self.target}")
        if self.kind != "*":
            parts.append(f"kind={self.kind}")
        if self.mode != "*":
            parts.append(f"mode={self.mode}")
        if self.dtype != "*":
            parts.append(f"dtype={self.dtype}")
        if self.device != "*":
            parts.append(f"device={self.device}")
        if self.kernels != "*":
            parts.append(f"kernels={self.kernels}")
        return f"#{self.index} {self.id} ({' '.join(parts)})"

    @property
    def model_text(self) -> str:
        """``one_pass_variance(compute_dtype="float32")``."""
        args = ", ".join(f"{k}={_toml_value(v)}" for k, v in self.params.items())
        return f"{self.model}({args})"

    def past_gone_in(self, versions: Iterable[str]) -> bool:
        """Whether every one of ``versions`` is at or above ``gone_in`` (False without one, or for an
        unparseable version)."""
        if not self.gone_in:
            return False
        try:
            return all(Version(v).release >= Version(self.gone_in).release for v in versions)
        except InvalidVersion:
            return False

    def version_matches(self, version: str | None) -> bool:
        """Whether the framework ``version`` lies in ``versions`` (pre-releases and local versions
        count like their release; an unknown or unparseable version never matches)."""
        if version is None:
            return False
        try:
            parsed = Version(version)
        except InvalidVersion:
            return False
        return self._spec.contains(Version(parsed.public), prereleases=True) if self._spec is not None else False

    def matches_identity(self, record: Mapping[str, Any]) -> bool:
        """Whether the patterns (target, framework, property, op, kind, mode, dtype) and the device
        cover ``record``."""
        for name in _PATTERN_FIELDS:
            pattern = getattr(self, name)
            if pattern == "*":
                continue
            value = record.get(name)
            if value is None or not fnmatch.fnmatchcase(str(value), pattern):
                return False
        return self.matches_device(record) and self.matches_kernels(record)

    def matches_kernels(self, record: Mapping[str, Any]) -> bool:
        """Whether ``record`` ran on the entry's kernel path (any, when the entry names none): the
        configuration the run measured (``default`` resolved to the path the machine took), so an
        entry for ``onednn-off`` covers a CPU whose default is oneDNN off as well as the switch."""
        return self.kernels == "*" or record.get("kernels") == self.kernels

    def matches_device(self, record: Mapping[str, Any]) -> bool:
        """Whether ``record`` ran on the entry's device (any, when the entry names none)."""
        return self.device == "*" or devices.requested(_platform(record)) == self.device

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Whether this entry may explain examples of ``record``'s test (identity and version)."""
        return self.matches_identity(record) and self.version_matches(record.get("version"))

    def as_dict(self) -> dict[str, Any]:
        """The entry as written (for the results file and the report)."""
        return {"index": self.index, "id": self.id, "target": self.target, "framework": self.framework,
                "versions": self.versions, "property": self.property, "op": self.op, "kind": self.kind, "mode": self.mode,
                "dtype": self.dtype, "device": self.device, "kernels": self.kernels, "model": self.model, "params": dict(self.params), "reason": self.reason,
                "link": self.link, "origin": self.origin}


def _platform(record: Mapping[str, Any]) -> str | None:
    """The platform of a record's ``device`` (``{"platform", "name"}``; None when it has none)."""
    device = record.get("device")
    return device.get("platform") if isinstance(device, Mapping) else device


def _toml_value(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def read_text(path: str | os.PathLike) -> str:
    """The text of a known-deviations (or project) file; :class:`DeviationsError` if there is none or it
    cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DeviationsError(path, "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DeviationsError(path, f"cannot read: {exc}") from None


def load_deviations(path: str | os.PathLike) -> list[Deviation]:
    """Read and check a known-deviations file. Raises :class:`DeviationsError` naming the problem."""
    return parse_deviations(read_text(path), Path(path))


def _header_lines(text: str, table: str = "deviation") -> list[int]:
    """The 1-based line of each ``[[TABLE]]`` header, in order (multi-line strings skipped)."""
    header = _HEADER if table == "deviation" else re.compile(rf"^\s*\[\[\s*{re.escape(table)}\s*\]\]")
    lines, in_string = [], None
    for number, line in enumerate(text.splitlines(), start=1):
        if in_string is None and header.match(line):
            lines.append(number)
        for quote in ('"""', "'''"):
            if (in_string in (None, quote)) and line.count(quote) % 2 == 1:
                in_string = None if in_string == quote else quote
    return lines


def parse_deviations(text: str, path: str | os.PathLike = "<known deviations>", *, table: str = "deviation",
                     doc: Mapping[str, Any] | None = None) -> list[Deviation]:
    """Parse the TOML ``text`` of a known-deviations file (``path`` only names it in errors). A project
    file (:mod:`bnconform.reports.known`) passes its ``doc`` already parsed, reduced to its entries,
    and the ``table`` its headers name (``tool.bnconform.deviation`` in pyproject.toml)."""
    if doc is None:
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
        raise DeviationsError(path, f"'{table}' must be an array of tables ([[{table}]])")
    lines = _header_lines(text, table)
    if len(lines) != len(entries):  # e.g. an inline array of tables: no header to point at
        lines = [None] * len(entries)
    out: list[Deviation] = []
    seen: dict[str, Deviation] = {}
    for index, (raw, line) in enumerate(zip(entries, lines), start=1):
        entry = _entry(raw, index, line, path)
        if entry.id in seen:
            first = seen[entry.id]
            raise DeviationsError(path, f"deviation #{index} (id {entry.id}): duplicate id, already used by "
                                        f"deviation #{first.index}" + (f" (line {first.line})" if first.line else ""),
                                  line)
        seen[entry.id] = entry
        out.append(entry)
    return out


def _entry(raw: Mapping[str, Any], index: int, line: int | None, path) -> Deviation:
    ident = raw.get("id") if isinstance(raw, Mapping) and isinstance(raw.get("id"), str) else None
    where = f"deviation #{index}" + (f" (id {ident})" if ident else "")

    def fail(problem: str):
        raise DeviationsError(path, f"{where}: {problem}", line)

    if not isinstance(raw, Mapping):
        fail("must be a table")
    for key, why in _RETIRED.items():
        if key in raw:
            fail(f"unknown key {key}: {why}")
    unknown = sorted(set(raw) - _KNOWN)
    if unknown:
        fail(f"unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(_KNOWN))})")
    missing = [key for key in _REQUIRED if key not in raw]
    if missing:
        fail(f"missing required key(s) {', '.join(missing)}")
    for key, value in raw.items():
        if key != "params" and not isinstance(value, str):
            fail(f"{key} must be a string, got {type(value).__name__}")
    for key in ("id", "reason", "link", "framework", "property", "model"):
        if not raw[key].strip():
            fail(f"{key} must not be empty")
    if not _ID.match(raw["id"]):
        fail(f"id {raw['id']!r} must be a slug: lower-case letters, digits, '.', '_' and '-'")
    spec = _versions(raw["versions"].strip(), fail)
    if "gone_in" in raw:
        _gone_in(raw["gone_in"].strip(), spec, fail)
    params = raw.get("params", {})
    if not isinstance(params, Mapping):
        fail(f"params must be an inline table (params = {{ name = value }}), got {type(params).__name__}")
    _check_table(raw, fail)
    device = raw.get("device", "*")
    if device != "*":
        try:
            raw = {**raw, "device": devices.normalize(device)}
        except devices.UsageError:
            fail(f"device {device!r}: expected cpu, or cuda (alias gpu) for the framework's accelerator, "
                 "as --device names them")
    kernels = raw.get("kernels", "*")
    if kernels != "*":
        from bnconform.engines import kernels as kernel_configs

        try:
            kernel_configs.get(kernels)
        except kernel_configs.UsageError:
            fail(f"kernels {kernels!r}: expected a kernel configuration, one of "
                 f"{', '.join(c.name for c in kernel_configs.CONFIGS)} (the path a record measured; "
                 "'default' is not a path)")
    _check_model(raw["model"], dict(params), raw["property"], fail)
    values = {key: raw[key] for key in raw if key not in ("versions", "params")}
    return Deviation(index=index, versions=raw["versions"].strip(), params=dict(params), line=line, _spec=spec,
                     **values)


def _gone_in(gone_in: str, spec: SpecifierSet, fail) -> None:
    """``gone_in`` must be a release above every release of the range: the first one examined whose code
    no longer has the mechanism, so that the range ends there on purpose."""
    try:
        version = Version(gone_in)
    except InvalidVersion:
        fail(f"gone_in {gone_in!r} is not a PEP 440 version (the first release without the mechanism, e.g. \"3.12.0\")")
    uppers = [Version(s.version) for s in spec if s.operator in _UPPER_BOUND_OPERATORS]
    if spec.contains(version, prereleases=True) or any(version < upper for upper in uppers):
        fail(f"gone_in {gone_in!r} is not above the range {str(spec)!r}: it names the first release past it "
             "whose code no longer has the mechanism")


def _versions(versions: str, fail) -> SpecifierSet:
    if versions in ("", "*"):
        fail(f"versions {versions!r}: give a bounded PEP 440 range of the versions examined "
             "(e.g. \">=2.13,<=2.14.1\"), so that an upgrade is judged again")
    try:
        spec = SpecifierSet(versions)
    except InvalidSpecifier:
        fail(f"versions {versions!r} is not a PEP 440 specifier (e.g. \">=2.13,<=2.14.1\")")
    if not any(s.operator in _UPPER_BOUND_OPERATORS for s in spec):
        fail(f"versions {versions!r} has no upper bound: add <, <= or == covering only the versions examined, "
             "so that an upgrade is judged again")
    return spec


#: The op names of files written before one name per op (a pooling op is ``pool2d`` and its kind a
#: field of its own): an entry that still uses one is told what to write instead.
OLD_POOL_OPS = {"max_pool2d": "max", "avg_pool2d": "avg", "global_avg_pool2d": "global_avg", "lp_pool2d": "lp"}


def _check_table(raw: Mapping[str, Any], fail) -> None:
    """``property``, ``op`` and ``kind`` each match at least one row of ``bnconform.properties``
    (a typo or a renamed property would otherwise only show as an unused entry)."""
    from bnconform import properties

    prop = raw["property"]
    rows = [row for row in properties.TABLE if fnmatch.fnmatchcase(row.name, prop)]
    if not rows:
        fail(f"property {prop!r} matches no property of bnconform/properties.py "
             f"({', '.join(properties.names())})")
    op = raw.get("op", "*")
    if op in OLD_POOL_OPS:
        fail(f"op {op!r} is a pooling kind's old name: write op = \"pool2d\" and kind = \"{OLD_POOL_OPS[op]}\"")
    rows = [row for row in rows if fnmatch.fnmatchcase(row.op, op)]
    if not rows:
        fail(f"op {op!r} matches no op of the properties {prop!r} matches")
    kind = raw.get("kind", "*")
    if kind != "*" and not any(fnmatch.fnmatchcase(k, kind) for row in rows for k in row.kinds):
        fail(f"kind {kind!r} matches no pooling kind of the properties {prop!r} matches "
             f"({', '.join(sorted({k for row in rows for k in row.kinds})) or 'none'})")


def _check_model(model: str, params: dict, prop: str, fail) -> None:
    from bnconform import models

    try:
        found = models.get(model)
        models.check_params(model, params)
    except ValueError as exc:
        fail(str(exc))
    judged = models.properties_judged(model)
    if not any(fnmatch.fnmatchcase(p, prop) for p in judged):
        fail(f"model {model!r} judges the check(s) {', '.join(c.name for c in found.CHECKS)} of the properties "
             f"{', '.join(judged)}; property {prop!r} matches none of them")


def candidates(deviations: Iterable[Deviation], record: Mapping[str, Any]) -> list[Deviation]:
    """Every entry that may explain examples of ``record``'s test, in file order."""
    return [d for d in deviations if d.matches(record)]


class Classification(NamedTuple):
    """A record's verdict re-derived from its outcome and the file (see :func:`classify`)."""

    verdict: str
    entries: list  # the entries that explained its examples (known-deviation), else []
    reason: str | None  # why a recorded explanation no longer holds, or None


_OLD_FORMAT = ("recorded as a known deviation by a whole-test entry (before entries were models): "
               "re-run to judge its examples against the models")


def classify(record: Mapping[str, Any], deviations: Iterable[Deviation]) -> Classification:
    """Re-derive a record's verdict from its outcome and ``deviations`` (the file in force now).

    - ``error`` and ``skip`` stay as they are; an unexplained ``fail`` stays ``fail``;
    - ``pass`` stays ``pass`` (and an old file's ``fixed-deviation`` is a ``pass``);
    - a record whose examples were explained (``explained``: ``{entry id: examples}``) is
      ``known-deviation`` while every explaining entry is still in the file, still covers the test
      (identity and version) and names the same model and parameters; otherwise ``fail``, with the
      reason;
    - an old file's ``known-deviation`` without ``explained`` is ``fail``: it was a whole-test match.
    """
    verdict = record["verdict"]
    if verdict in ("error", "skip", "fail"):
        return Classification(verdict, [], None)
    if verdict == "fixed-deviation":
        return Classification("pass", [], None)
    explained = record.get("explained") or {}
    if not explained:
        if verdict == "known-deviation":
            return Classification("fail", [], _OLD_FORMAT)
        return Classification("pass", [], None)
    by_id = {d.id: d for d in deviations}
    recorded = {d.get("id"): d for d in record.get("deviations") or [] if isinstance(d, Mapping)}
    problems, entries = [], []
    for entry_id, count in explained.items():
        entry = by_id.get(entry_id)
        n = f"{count} example(s) explained by entry {entry_id}"
        if entry is None:
            problems.append(f"{n}, which is no longer in the known-deviations file")
        elif not entry.matches_identity(record):
            problems.append(f"{n}, which no longer covers this test")
        elif not entry.version_matches(record.get("version")):
            problems.append(f"{n}, whose versions {entry.versions} no longer include "
                            f"{record.get('framework')} {record.get('version')}")
        elif entry_id in recorded and (recorded[entry_id].get("model"), recorded[entry_id].get("params") or {}) != (
                entry.model, dict(entry.params)):
            then = recorded[entry_id]
            problems.append(f"{n} with model {then.get('model')} {then.get('params') or {}}; the entry now names "
                            f"{entry.model_text}: re-run to judge the examples against it")
        else:
            entries.append(entry)
    if problems:
        return Classification("fail", [], "; ".join(problems))
    return Classification("known-deviation", entries, None)


@dataclass
class EntryStatus:
    """What the results say about one entry.

    ``status`` is one of:

    - ``"active"``: it explained at least one example (the deviation is still there), in a
      known-deviation record or in a failed one (which also had an example no model explains);
    - ``"not-reached"``: tests it covers ran, and none of their examples needed it (informational:
      the failing inputs are rare, or the deviation is gone);
    - ``"inconclusive"``: the tests it covers were all skipped or raised errors;
    - ``"stale"``: its framework was tested, but no tested version lies in ``versions`` (warning);
    - ``"gone"``: every tested version is at or above its ``gone_in``, the first release examined
      without the mechanism: the range ends there on purpose (informational, not stale);
    - ``"unused"``: a tested version matches, but no test matches its property/op/mode/dtype
      (a typo or a renamed property? warning);
    - ``"not-tested"``: its framework does not appear in the results at all (on its device, for
      an entry that names one).
    """

    deviation: Deviation
    status: str
    examples: int = 0  # examples it explained
    tests: int = 0  # records in which it explained at least one example
    tested_versions: list[str] = field(default_factory=list)

    @property
    def is_warning(self) -> bool:
        """Stale and unused entries need a person's attention."""
        return self.status in ("stale", "unused")


def entry_statuses(deviations: Iterable[Deviation], records: Iterable[Mapping[str, Any]]) -> list[EntryStatus]:
    """Status of every entry against already classified ``records`` (see :func:`classify`)."""
    deviations = list(deviations)
    records = list(records)
    statuses = []
    for deviation in deviations:
        same_framework = [r for r in records
                          if r.get("framework") is not None
                          and fnmatch.fnmatchcase(str(r["framework"]), deviation.framework)
                          and (deviation.target == "*" or (r.get("target") is not None and
                               fnmatch.fnmatchcase(str(r["target"]), deviation.target)))
                          and deviation.matches_device(r) and deviation.matches_kernels(r)]
        versions = sorted({str(r.get("version")) for r in same_framework})
        covered = [r for r in same_framework if deviation.matches(r)]
        explaining = [r for r in covered if (r.get("explained") or {}).get(deviation.id)]
        examples = sum(int(r["explained"][deviation.id]) for r in explaining)
        if not same_framework:
            status = "not-tested"
        elif examples:
            status = "active"
        elif any(r["verdict"] not in ("skip", "error") for r in covered):
            status = "not-reached"
        elif covered:
            status = "inconclusive"
        elif not any(deviation.version_matches(r.get("version")) for r in same_framework):
            status = "gone" if deviation.past_gone_in(versions) else "stale"
        else:
            status = "unused"
        statuses.append(EntryStatus(deviation, status, examples, len(explaining), versions))
    return statuses
