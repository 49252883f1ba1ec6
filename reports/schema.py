"""The results-file schema ``bnconform-results/1``: names, verdicts and a validating loader.

The schema itself is described in ``docs/design.md`` ("Results"); additions made by this
package (all optional, so older files stay valid) are listed in ``docs/reports.md``.

:func:`load_results` is the only way the report, the merge and the gate read a file: it
raises :class:`ResultsError` whose message starts with the file's path and says what is
wrong, so that a CI log names the culprit.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .jsonsafe import as_number

__all__ = [
    "SCHEMA",
    "VERDICTS",
    "SEVERITY",
    "NUMERIC_FIELDS",
    "ResultsError",
    "load_results",
    "validate",
    "worst_verdict",
]

SCHEMA = "bnconform-results/1"

#: What ``python -m cifar run`` writes: training records only. :func:`load_results` reads it as a
#: run without conformance records, so the report and the gate take CIFAR-10 runs directly.
CIFAR_SCHEMA = "bnconform-cifar/1"

#: What ``python -m blobs run`` writes: two-blob training records only (the optional ``blobs``
#: list of a results file), read the same way.
BLOBS_SCHEMA = "bnconform-blobs/1"

#: Every verdict a record may carry.
VERDICTS = ("pass", "fail", "error", "skip", "known-deviation", "fixed-deviation")

#: Larger is worse; decides the colour of a matrix cell that holds several records.
SEVERITY = {
    "skip": 0,
    "pass": 1,
    "known-deviation": 2,
    "fixed-deviation": 3,
    "fail": 4,
    "error": 5,
}

#: Record fields that hold numbers (possibly the strings "nan"/"inf"/"-inf" or null).
NUMERIC_FIELDS = ("max_abs_error", "max_rel_error", "max_ulp_error", "max_tol_ratio", "duration_s")

_RECORD_STRINGS = ("property", "target", "framework", "version", "backend", "backend_version", "op", "kind", "mode",
                   "dtype", "reason", "message", "replay")

#: Ops of files written before one name per op: a pooling record's op was ``<kind>_pool2d`` (now
#: ``op = "pool2d"`` and ``kind``), a drift entry's label ``<kind>_pool2d`` (now ``pool2d/<kind>``,
#: like ``conv2d/valid``). Read as the new names, so old and new runs line up in the report.
_OLD_POOL_OPS = {"max_pool2d": "max", "avg_pool2d": "avg", "global_avg_pool2d": "global_avg", "lp_pool2d": "lp"}
#: Strings a record may lack (files written before they existed): absent means "not recorded",
#: which differs from null (recorded: nothing was imported). See :mod:`reports.tested`.
_OPTIONAL_RECORD_STRINGS = ("imported_version", "imported_backend_version")


#: The device of a record written before records named one: every run then ran on the CPU (the
#: adapters placed nothing), the device's name unrecorded.
UNKNOWN_DEVICE = {"platform": "cpu", "name": None}


def device_label(record: dict) -> str:
    """``cpu``, ``cuda (cuda:0 NVIDIA H200)``: how the report and the gate name a record's device."""
    device = record.get("device") or UNKNOWN_DEVICE
    platform, name = device.get("platform") or "cpu", device.get("name")
    return platform if not name or name == platform else f"{platform} ({name})"


def op_label(record: dict) -> str | None:
    """``pool2d (max)`` for a pooling record (its ``kind``), else its ``op``: how the report and
    the gate name a record's op, one column or key per kind."""
    op, kind = record.get("op"), record.get("kind")
    return op if op is None or kind is None else f"{op} ({kind})"


class ResultsError(Exception):
    """A results file is missing, unreadable, truncated, not JSON or not of this schema."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def worst_verdict(verdicts) -> str | None:
    """The most severe of ``verdicts`` (see :data:`SEVERITY`), or None for none."""
    worst = None
    for verdict in verdicts:
        if worst is None or SEVERITY[verdict] > SEVERITY[worst]:
            worst = verdict
    return worst


def load_results(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate one results file; a directory means its ``results.json``.

    Numeric record fields come back as floats (``inf``/``nan`` decoded) or None.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsError(path, "no such file") from None
    except UnicodeDecodeError as exc:
        raise ResultsError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ResultsError(path, f"cannot read: {exc.strerror or exc}") from None
    if not text.strip():
        raise ResultsError(path, "empty file")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        # the scanner reports an unterminated string only when the input ends inside it
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            raise ResultsError(path, f"truncated JSON (ends unexpectedly at {where})") from None
        raise ResultsError(path, f"corrupt JSON: {exc.msg} at {where}") from None
    if isinstance(doc, dict) and doc.get("schema") == CIFAR_SCHEMA:
        doc = _from_cifar(doc, path)
    elif isinstance(doc, dict) and doc.get("schema") == BLOBS_SCHEMA:
        doc = _from_blobs(doc, path)
    validate(doc, path)
    return doc


def _from_cifar(doc: dict[str, Any], path: Path) -> dict[str, Any]:
    """A ``bnconform-cifar/1`` file as a complete run holding its training records (its name:
    ``cifar/<file stem>``, or ``cifar/<directory>`` for a ``results.json``; the command that made
    it goes into the environment)."""
    records = doc.get("cifar")
    if not isinstance(records, list):
        raise ResultsError(path, f"'cifar' is {type(records).__name__}, expected a list")
    return {"schema": SCHEMA,
            "run": {"name": f"cifar/{path.parent.name if path.stem == 'results' else path.stem}",
                    "complete": True},
            "environment": {"command": doc.get("command")},
            "records": [], "cifar": records}


def _from_blobs(doc: dict[str, Any], path: Path) -> dict[str, Any]:
    """A ``bnconform-blobs/1`` file as a complete run holding its two-blob records (its name:
    ``blobs/<file stem>``, or ``blobs/<directory>`` for a ``results.json``)."""
    records = doc.get("blobs")
    if not isinstance(records, list):
        raise ResultsError(path, f"'blobs' is {type(records).__name__}, expected a list")
    return {"schema": SCHEMA,
            "run": {"name": f"blobs/{path.parent.name if path.stem == 'results' else path.stem}",
                    "complete": True},
            "environment": {"command": doc.get("command")},
            "records": [], "blobs": records}


def validate(doc: Any, path: str | os.PathLike = "<results>") -> None:
    """Check ``doc`` against the schema in place; decode numeric fields. Raises :class:`ResultsError`."""

    def fail(problem: str):
        raise ResultsError(path, problem)

    if not isinstance(doc, dict):
        fail(f"top level is {type(doc).__name__}, expected an object")
    schema = doc.get("schema")
    if schema != SCHEMA:
        fail(f"schema is {schema!r}, expected {SCHEMA!r}")
    run = doc.get("run")
    if not isinstance(run, dict):
        fail("'run' is missing or not an object")
    if not isinstance(run.get("name"), str) or not run["name"]:
        fail("'run.name' is missing or not a non-empty string")
    if not isinstance(run.get("complete"), bool):
        fail("'run.complete' is missing or not true/false")
    targets = run.get("targets")
    if targets is not None and (not isinstance(targets, list) or not all(isinstance(t, str) for t in targets)):
        fail("'run.targets' is not a list of target names")
    errors = run.setdefault("collection_errors", [])
    if not isinstance(errors, list):
        fail("'run.collection_errors' is not a list")
    for key, kind in (("environment", dict), ("fingerprints", dict), ("coverage", dict), ("records", list),
                      ("cifar", list), ("blobs", list), ("drift", list)):
        value = doc.setdefault(key, kind())
        if not isinstance(value, kind):
            fail(f"'{key}' is {type(value).__name__}, expected {'an object' if kind is dict else 'a list'}")
    for target, coverage in doc["coverage"].items():
        if not isinstance(coverage, dict):
            fail(f"coverage[{target!r}] is {type(coverage).__name__}, expected an object")
        probes = coverage.setdefault("probes", {})
        if not isinstance(probes, dict) or not all(isinstance(p, dict) for p in probes.values()):
            fail(f"coverage[{target!r}].probes is not an object of objects")
    for index, record in enumerate(doc["records"]):
        _validate_record(record, f"records[{index}]", fail)
    for index, entry in enumerate(doc["drift"]):
        if not isinstance(entry, dict):
            fail(f"drift[{index}] is not an object")
        for key in ("target", "op", "dtype"):
            if not isinstance(entry.get(key), str):
                fail(f"drift[{index}].{key} is missing or not a string")
        if entry["op"] in _OLD_POOL_OPS:
            entry["op"] = f"pool2d/{_OLD_POOL_OPS[entry['op']]}"
        if "output" not in entry or "case" not in entry:
            fail(f"drift[{index}] lacks 'case' or 'output'")
    for key in ("cifar", "blobs"):
        for index, entry in enumerate(doc[key]):
            if not isinstance(entry, dict):
                fail(f"{key}[{index}] is not an object")


def _validate_record(record: Any, where: str, fail) -> None:
    if not isinstance(record, dict):
        fail(f"{where} is not an object")
    if not isinstance(record.get("id"), str):
        fail(f"{where}.id is missing or not a string")
    verdict = record.get("verdict")
    if verdict not in VERDICTS:
        fail(f"{where}.verdict is {verdict!r}, expected one of {', '.join(VERDICTS)}")
    for key in _RECORD_STRINGS:
        value = record.setdefault(key, None)
        if value is not None and not isinstance(value, str):
            fail(f"{where}.{key} is {type(value).__name__}, expected a string or null")
    if record["op"] in _OLD_POOL_OPS and record["kind"] is None:
        record["kind"] = _OLD_POOL_OPS[record["op"]]
        record["op"] = "pool2d"
    for key in _OPTIONAL_RECORD_STRINGS:
        value = record.get(key)
        if value is not None and not isinstance(value, str):
            fail(f"{where}.{key} is {type(value).__name__}, expected a string or null")
    for key in NUMERIC_FIELDS:
        try:
            record[key] = as_number(record.get(key))
        except ValueError as exc:
            fail(f"{where}.{key}: {exc}")
    device = record.setdefault("device", dict(UNKNOWN_DEVICE))  # absent in files written before devices
    if (not isinstance(device, dict) or not isinstance(device.get("platform"), str)
            or not isinstance(device.setdefault("name", None), (str, type(None)))):
        fail(f"{where}.device is {device!r}, expected {{\"platform\": str, \"name\": str or null}}")
    explained = record.setdefault("explained", {})  # absent in files written before entries were models
    if not isinstance(explained, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
            for k, v in explained.items()):
        fail(f"{where}.explained is {explained!r}, expected {{entry id: examples}}")
    deviations = record.setdefault("deviations", [])
    if not isinstance(deviations, list) or not all(isinstance(d, dict) for d in deviations):
        fail(f"{where}.deviations is not a list of entries")
    examples = record.setdefault("examples", 0)
    if not isinstance(examples, int) or isinstance(examples, bool) or examples < 0:
        fail(f"{where}.examples is {examples!r}, expected a count")
    record.setdefault("example", None)
