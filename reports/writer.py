"""The results file of one run, rewritten atomically as it grows.

:class:`ResultsFile` keeps every finished record, CIFAR record and drift entry as an
already serialized JSON chunk, so that rewriting the whole file after each test item
costs one string join, one write and one ``fsync`` - not a re-serialization of
everything so far. The file is valid, complete JSON after every :meth:`flush`;
``run.complete`` stays false until :meth:`finish`.
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Any

from .atomic import write_atomic
from .jsonsafe import dumps, to_jsonable
from .schema import SCHEMA

__all__ = ["ResultsFile", "now_iso"]


def now_iso() -> str:
    """The current UTC time as ISO 8601 with seconds."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


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

    def add_record(self, record: dict[str, Any]) -> None:
        """Append a finished record (it must not change afterwards)."""
        record = to_jsonable(record)
        self.records.append(record)
        self._record_chunks.append(dumps(record))

    def add_cifar(self, record: dict[str, Any]) -> None:
        """Append one CIFAR-10 training record."""
        self._cifar_chunks.append(dumps(record))

    def add_blobs(self, record: dict[str, Any]) -> None:
        """Append one two-blob training record."""
        self._blobs_chunks.append(dumps(record))

    def add_drift(self, entry: dict[str, Any]) -> None:
        """Append one drift entry (target, op, case, output, dtype)."""
        self._drift_chunks.append(dumps(entry))

    def set_fingerprint(self, target: str, fingerprint: dict[str, Any]) -> None:
        """Set (replace) the convention fingerprint of ``target``."""
        self.fingerprints[target] = to_jsonable(fingerprint)

    def set_coverage(self, target: str, coverage: dict[str, Any]) -> None:
        """Set (replace) what ``target`` offered on this machine (capabilities and probes)."""
        self.coverage[target] = to_jsonable(coverage)

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
        """Rewrite the file atomically (no-op without a path).

        The data is fsync'ed every time; the directory (which makes the rename survive a
        power loss, not needed against a killed process) only on the ``final`` write,
        which saves a third of the per-test cost.
        """
        if self.path is not None:
            write_atomic(self.path, self.text(), fsync=True, fsync_directory=final)
