"""The results file of one run: appended to a journal as it grows, consolidated at the end.

While a run goes on, every finished record (and CIFAR record, two-blob record, drift entry,
fingerprint, coverage entry, change of the run's metadata) is appended as one JSON line to the
*journal* ``results.jsonl`` beside ``results.json`` (JSON Lines; one ``write`` and one flush to
the operating system per line, so the cost of a test does not grow with the records before it).
``results.json`` itself is written twice, atomically (:func:`bnconform.reports.atomic.write_atomic`): at
the start, a placeholder of the incomplete run whose ``run.journal`` names the journal, and at
:meth:`ResultsFile.finish`, the consolidated file, after which the journal is deleted.

A killed run (a framework that takes the process down, SIGKILL, a CI timeout) therefore leaves
the placeholder and the journal: :func:`bnconform.reports.schema.load_results` follows ``run.journal``
and reads the records written so far, as an incomplete run (``complete: false``). A journal's
last line torn by the kill is ignored. Journal lines reach the OS at once, which survives a
killed process; they are ``fsync``'ed only with the consolidated file (power loss may lose the
last lines, never the placeholder's pointer).

Journal lines are objects with one key: ``{"header": {"schema", "run", "environment"}}`` (the
first line), then ``{"run": {...}}`` (replaces the run's metadata), ``{"record": {...}}``,
``{"cifar": {...}}``, ``{"blobs": {...}}``, ``{"drift": {...}}``,
``{"fingerprint": {"target": ..., "value": {...}}}``, ``{"coverage": {"target": ..., "value": {...}}}``.
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import IO, Any

from .atomic import write_atomic
from .jsonsafe import dumps, to_jsonable
from .schema import SCHEMA

__all__ = ["ResultsFile", "now_iso", "journal_path"]


def now_iso() -> str:
    """The current UTC time as ISO 8601 with seconds."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def journal_path(path: str | os.PathLike) -> Path:
    """The journal of the results file ``path``: ``results.json`` -> ``results.jsonl``."""
    path = Path(path)
    return path.with_name(path.stem + ".jsonl")


class ResultsFile:
    """Accumulates one run and writes it to ``path`` (None: keep in memory only)."""

    def __init__(self, path: str | os.PathLike | None, run: dict[str, Any], environment: dict[str, Any]):
        self.path = Path(path) if path is not None else None
        self.run = {**run, "started": now_iso(), "finished": None, "complete": False}
        self.run.setdefault("collection_errors", [])
        self._environment = dumps(environment)
        self.fingerprints: dict[str, Any] = {}
        self.coverage: dict[str, Any] = {}
        self.records: list[dict[str, Any]] = []
        self._record_chunks: list[str] = []
        self._cifar_chunks: list[str] = []
        self._blobs_chunks: list[str] = []
        self._drift_chunks: list[str] = []
        self._journal: IO[str] | None = None
        self._journaled_run: str | None = None

    def _append(self, kind: str, chunk: str) -> None:
        """One journal line ``{"kind": chunk}``, handed to the OS at once (no-op without a path)."""
        if self.path is None:
            return
        if self._journal is None:
            self._start()
        self._journal.write(f'{{"{kind}": {chunk}}}\n')
        self._journal.flush()

    def _start(self) -> None:
        """Open a fresh journal (its header first), then put the placeholder ``results.json`` that
        points to it (an earlier run's journal in the same place is replaced)."""
        journal = journal_path(self.path)
        self._journal = open(journal, "w", encoding="utf-8")  # noqa: SIM115 - closed by finish()
        self.run["journal"] = journal.name
        self._journaled_run = dumps(self.run)
        self._journal.write(f'{{"header": {{"schema": {dumps(SCHEMA)}, "run": {self._journaled_run}, '
                            f'"environment": {self._environment}}}}}\n')
        self._journal.flush()
        write_atomic(self.path, self.text(), fsync=True)

    def add_record(self, record: dict[str, Any]) -> None:
        """Append a finished record (it must not change afterwards)."""
        record = to_jsonable(record)
        self.records.append(record)
        chunk = dumps(record)
        self._record_chunks.append(chunk)
        self._append("record", chunk)

    def add_cifar(self, record: dict[str, Any]) -> None:
        """Append one CIFAR-10 training record."""
        chunk = dumps(record)
        self._cifar_chunks.append(chunk)
        self._append("cifar", chunk)

    def add_blobs(self, record: dict[str, Any]) -> None:
        """Append one two-blob training record."""
        chunk = dumps(record)
        self._blobs_chunks.append(chunk)
        self._append("blobs", chunk)

    def add_drift(self, entry: dict[str, Any]) -> None:
        """Append one drift entry (target, op, case, output, dtype)."""
        chunk = dumps(entry)
        self._drift_chunks.append(chunk)
        self._append("drift", chunk)

    def set_fingerprint(self, target: str, fingerprint: dict[str, Any]) -> None:
        """Set (replace) the convention fingerprint of ``target``."""
        self.fingerprints[target] = to_jsonable(fingerprint)
        self._append("fingerprint", dumps({"target": target, "value": self.fingerprints[target]}))

    def set_coverage(self, target: str, coverage: dict[str, Any]) -> None:
        """Set (replace) what ``target`` offered on this machine (capabilities and probes)."""
        self.coverage[target] = to_jsonable(coverage)
        self._append("coverage", dumps({"target": target, "value": self.coverage[target]}))

    def add_collection_error(self, nodeid: str, message: str) -> None:
        """Remember a file or class that could not be collected (its tests never ran)."""
        self.run["collection_errors"].append({"id": nodeid, "message": message})

    def finish(self, complete: bool, stopped: str | None = None) -> None:
        """Mark the run finished (``complete`` when every selected test ran) and flush."""
        self.run["finished"] = now_iso()
        self.run["complete"] = bool(complete)
        if stopped:
            self.run["stopped"] = stopped
        self.flush(final=True)

    def text(self) -> str:
        """The whole file as strict JSON, one record per line."""
        def array(chunks: list[str]) -> str:
            return "[\n" + ",\n".join(chunks) + "\n]" if chunks else "[]"

        return (
            "{\n"
            f'"schema": {dumps(SCHEMA)},\n'
            f'"run": {dumps(self.run)},\n'
            f'"environment": {self._environment},\n'
            f'"fingerprints": {dumps(self.fingerprints)},\n'
            f'"coverage": {dumps(self.coverage)},\n'
            f'"records": {array(self._record_chunks)},\n'
            f'"cifar": {array(self._cifar_chunks)},\n'
            f'"blobs": {array(self._blobs_chunks)},\n'
            f'"drift": {array(self._drift_chunks)}\n'
            "}\n"
        )

    def flush(self, final: bool = False) -> None:
        """Journal the run's metadata if it changed (no-op without a path); ``final``: write the
        consolidated ``results.json`` atomically (data and directory ``fsync``'ed) and delete the
        journal.

        Before the consolidated file is in place, the journal holds everything (its last ``run``
        line included), so a kill at any moment leaves a readable run.
        """
        if self.path is None:
            return
        if self._journal is None:
            self._start()
        if final:
            self.run.pop("journal", None)
        text = dumps(self.run)
        if text != self._journaled_run:
            self._journaled_run = text
            self._append("run", text)
        if not final:
            return
        self._journal.close()
        write_atomic(self.path, self.text(), fsync=True, fsync_directory=True)
        journal_path(self.path).unlink(missing_ok=True)
        self._journal = None
