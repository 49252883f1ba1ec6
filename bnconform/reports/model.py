"""Several runs read together: verdicts re-derived, the matrix's rows and columns.

This is what the report and the gate look at. :func:`load_runs` reads results files
(each one run, e.g. one tox environment per framework version), gives duplicate run
names a suffix, and re-derives every record's verdict from the known-deviations file in
force now (see :func:`bnconform.reports.deviations.classify`); the verdict the run itself wrote is
kept as ``recorded_verdict``.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

from packaging.version import InvalidVersion, Version

from .deviations import Deviation, EntryStatus, classify, entry_statuses
from .schema import device_label, load_results, op_label, worst_verdict

__all__ = ["Run", "Row", "Column", "Matrix", "Results", "load_runs", "build", "version_key"]

MODE_ORDER = {"train": 0, "inference": 1, "-": 2}
#: Columns of the matrix come in this op order (``schema.op_label``); other ops follow alphabetically.
OP_ORDER = {"batch_norm": 0, "conv2d": 1, "pool2d (max)": 2, "pool2d (avg)": 3}


@dataclass
class Run:
    """One results file."""

    name: str
    path: str
    doc: dict[str, Any]

    @property
    def records(self) -> list[dict[str, Any]]:
        return self.doc["records"]

    @property
    def complete(self) -> bool:
        return bool(self.doc["run"]["complete"])

    def target_versions(self) -> dict[str, str | None]:
        """``{target: framework version}`` from the records and fingerprints of this run."""
        versions: dict[str, str | None] = {}
        for target, fingerprint in self.doc["fingerprints"].items():
            if isinstance(fingerprint, dict):
                versions.setdefault(target, fingerprint.get("version"))
        for record in self.records:
            if record.get("target") is not None and record.get("version") is not None:
                versions[record["target"]] = record["version"]
        return versions


def version_key(version: str | None) -> tuple:
    """Sort key for framework versions: unknown first, then PEP 440 order, then text."""
    if version is None:
        return (0,)
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (2, version)


@dataclass(frozen=True, order=True)
class Row:
    """A matrix row: one target of one framework version on one device in one run."""

    framework: str
    target: str
    version_sort: tuple = field(compare=True, repr=False)
    version: str | None = field(compare=False)
    backend: str | None = field(compare=False)
    run: str = field(compare=True)
    backend_version: str | None = field(default=None, compare=False)
    #: the version its records say was imported (None: none imported), and whether the records say
    #: it at all (files written before ``imported_version`` existed do not); see bnconform.reports.tested
    imported_version: str | None = field(default=None, compare=False)
    imported_known: bool = field(default=False, compare=False)
    #: where it ran: ``bnconform.reports.schema.device_label`` (``cpu``, ``cuda (cuda:0 NVIDIA H200)``); one
    #: version on two devices is two rows, so a GPU-only failure shows as the GPU's
    device: str = field(default="cpu", compare=True)
    #: the CPU kernel paths its records measured (``bnconform.engines.kernels``), e.g. ``onednn-off, onednn-on``
    #: for TensorFlow with oneDNN on a CPU that serves bfloat16 on Eigen; None: none recorded
    kernels: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Column:
    op: str  # with a pooling record's kind: ``pool2d (max)`` (``schema.op_label``)
    mode: str

    @property
    def label(self) -> str:
        return self.op if self.mode == "-" else f"{self.op} · {self.mode}"


@dataclass
class Matrix:
    rows: list[Row]
    columns: list[Column]
    cells: dict[tuple[Row, Column], list[dict[str, Any]]]

    def counts(self, row: Row, column: Column) -> Counter:
        return Counter(r["verdict"] for r in self.cells.get((row, column), []))

    def worst(self, row: Row, column: Column) -> str | None:
        return worst_verdict(r["verdict"] for r in self.cells.get((row, column), []))


@dataclass
class Results:
    """Everything the report and the gate need."""

    runs: list[Run]
    deviations: list[Deviation] | None  # None: no known-deviations file in force
    statuses: list[EntryStatus]
    matrix: Matrix
    missing: list[str] = field(default_factory=list)  # expected runs that wrote no results file

    def records(self) -> Iterable[tuple[Run, dict[str, Any]]]:
        for run in self.runs:
            for record in run.records:
                yield run, record

    def verdict_counts(self) -> Counter:
        return Counter(record["verdict"] for _, record in self.records())


def load_runs(paths: Sequence[str | os.PathLike]) -> list[Run]:
    """Read the results files at ``paths`` (:class:`bnconform.reports.schema.ResultsError` on bad input)."""
    runs: list[Run] = []
    seen: Counter = Counter()
    for path in paths:
        doc = load_results(path)
        name = doc["run"]["name"]
        seen[name] += 1
        if seen[name] > 1:
            name = f"{name} ({seen[name]})"
        runs.append(Run(name=name, path=str(Path(path)), doc=doc))
    return runs


def build(runs: list[Run], deviations: list[Deviation] | None) -> Results:
    """Re-derive verdicts (when ``deviations`` is given) and lay out the matrix."""
    for run in runs:
        for record in run.records:
            record.setdefault("recorded_verdict", record["verdict"])
            record["run"] = run.name
            if deviations is not None:
                outcome = classify({**record, "verdict": record["recorded_verdict"]}, deviations)
                record["verdict"] = outcome.verdict
                if outcome.entries:
                    record["deviations"] = [entry.as_dict() for entry in outcome.entries]
                    record["deviation"] = record["deviations"][0]
                    record["reason"] = outcome.entries[0].reason
                elif outcome.verdict in ("pass", "fail"):
                    record["deviation"] = None
                    if outcome.reason is not None:
                        record["reason"] = outcome.reason
    all_records = [record for run in runs for record in run.records]
    statuses = entry_statuses(deviations or [], all_records)
    return Results(runs, deviations, statuses, _matrix(runs))


def _matrix(runs: list[Run]) -> Matrix:
    cells: dict[tuple[Row, Column], list[dict[str, Any]]] = {}
    rows: set[Row] = set()
    columns: set[Column] = set()
    for run in runs:
        for record in run.records:
            row = Row(framework=record.get("framework") or "(unknown)",
                      target=record.get("target") or "(none)",
                      version_sort=version_key(record.get("version")),
                      version=record.get("version"), backend=record.get("backend"), run=run.name,
                      backend_version=record.get("backend_version"), device=device_label(record))
            column = Column(op=op_label(record) or "(none)", mode=record.get("mode") or "-")
            rows.add(row)
            columns.add(column)
            cells.setdefault((row, column), []).append(record)
    by_row: dict[Row, list[dict[str, Any]]] = {}
    for (row, _), records in cells.items():
        by_row.setdefault(row, []).extend(records)
    rows = {_with_imports(row, by_row[row]) for row in rows}  # equal to the cells' keys (compare=False)
    ordered_columns = sorted(columns, key=lambda c: (OP_ORDER.get(c.op, len(OP_ORDER)), c.op, MODE_ORDER.get(c.mode, 3), c.mode))
    return Matrix(sorted(rows), ordered_columns, cells)


def _with_imports(row: Row, records: list[dict[str, Any]]) -> Row:
    """The row with what its records say was imported (any record that imported names it)."""
    imported = next((r["imported_version"] for r in records if r.get("imported_version")), None)
    paths = ", ".join(sorted({str(r["kernels"]) for r in records if r.get("kernels")})) or None
    return replace(row, imported_version=imported, imported_known=any("imported_version" in r for r in records),
                   kernels=paths)
