"""The results-file schema ``bnconform-results/1``: names, verdicts and a validating loader.

The schema itself is the JSON Schema ``bnconform/reports/schemas/results.schema.json`` (draft 2020-12,
published as ``docs/results.schema.json``), checked with :mod:`jsonschema`; fields added after
the first files were written are optional there, so older files stay valid, and
:func:`validate` fills them in. A run still being written (or killed) is read from its journal
(``results.jsonl``, see :mod:`bnconform.reports.writer`).

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
    "SCHEMA_FILE",
    "VERDICTS",
    "SEVERITY",
    "NUMERIC_FIELDS",
    "ResultsError",
    "load_results",
    "validate",
    "worst_verdict",
]

SCHEMA = "bnconform-results/1"

#: What ``python -m bnconform.cifar run`` writes: training records only. :func:`load_results` reads it as a
#: run without conformance records, so the report and the gate take CIFAR-10 runs directly.
CIFAR_SCHEMA = "bnconform-cifar/1"

#: What ``python -m bnconform.blobs run`` writes: two-blob training records only (the optional ``blobs``
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
NUMERIC_FIELDS = ("max_abs_error", "max_rel_error", "max_ulp_error", "max_tol_ratio", "max_stat_ratio", "duration_s")

#: Record strings that an older file may lack: they read as null. (``imported_version`` and
#: ``imported_backend_version`` stay absent when absent: absent means "not recorded", which
#: differs from null, "recorded: nothing was imported"; see :mod:`bnconform.reports.tested`.)
_RECORD_STRINGS = ("property", "target", "framework", "version", "backend", "backend_version", "op", "kind", "mode",
                   "dtype", "reason", "message", "replay")

#: The JSON Schema of a results file (draft 2020-12; published as ``docs/results.schema.json``).
SCHEMA_FILE = Path(__file__).resolve().parent / "schemas" / "results.schema.json"

#: Ops of files written before one name per op: a pooling record's op was ``<kind>_pool2d`` (now
#: ``op = "pool2d"`` and ``kind``), a drift entry's label ``<kind>_pool2d`` (now ``pool2d/<kind>``,
#: like ``conv2d/valid``). Read as the new names, so old and new runs line up in the report.
_OLD_POOL_OPS = {"max_pool2d": "max", "avg_pool2d": "avg", "global_avg_pool2d": "global_avg", "lp_pool2d": "lp"}


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

    A run still being written, or killed, is read from its journal (:mod:`bnconform.reports.writer`):
    when ``results.json`` names one in ``run.journal`` (the placeholder of a run that did not
    finish), when ``results.json`` is missing and ``results.jsonl`` is there, or when ``path``
    is a ``.jsonl`` file. Numeric record fields come back as floats (``inf``/``nan`` decoded)
    or None.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    if path.suffix == ".jsonl" or (not path.exists() and _journal_of(path).is_file()):
        return _checked(_from_journal(path if path.suffix == ".jsonl" else _journal_of(path)),
                        path if path.suffix == ".jsonl" else _journal_of(path))
    text = _read(path)
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
        doc = _from_experiment(doc, path, "cifar")
    elif isinstance(doc, dict) and doc.get("schema") == BLOBS_SCHEMA:
        doc = _from_experiment(doc, path, "blobs")
    run = doc.get("run") if isinstance(doc, dict) else None
    journal = run.get("journal") if isinstance(run, dict) else None
    if isinstance(journal, str) and (path.parent / journal).is_file():
        return _checked(_from_journal(path.parent / journal), path.parent / journal)
    return _checked(doc, path)


def _checked(doc: Any, path: Path) -> dict[str, Any]:
    validate(doc, path)
    return doc


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsError(path, "no such file") from None
    except UnicodeDecodeError as exc:
        raise ResultsError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ResultsError(path, f"cannot read: {exc.strerror or exc}") from None


def _journal_of(path: Path) -> Path:
    return path.with_name(path.stem + ".jsonl")


def _from_journal(path: Path) -> dict[str, Any]:
    """The run a journal (JSON Lines, see :mod:`bnconform.reports.writer`) describes so far. A last line
    without its newline that does not parse was torn by a kill and is left out; any other line
    that does not parse is an error naming it."""
    lines = _read(path).split("\n")
    torn = lines.pop()  # "" after a final newline
    doc: dict[str, Any] | None = None
    for number, line in enumerate(lines + ([torn] if torn.strip() else []), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == len(lines) + 1:  # the unterminated last line: torn by a kill
                break
            raise ResultsError(path, f"line {number}: corrupt JSON: {exc.msg} at column {exc.colno}") from None
        if not isinstance(entry, dict) or len(entry) != 1:
            raise ResultsError(path, f"line {number}: expected an object with one key, got {line[:80]!r}")
        (kind, value), = entry.items()
        if doc is None:
            if kind != "header" or not isinstance(value, dict):
                raise ResultsError(path, f"line {number}: not a results journal (expected a 'header' line first)")
            doc = {**value, "fingerprints": {}, "coverage": {}, "records": [], "cifar": [], "blobs": [], "drift": []}
            continue
        if kind == "run":
            doc["run"] = value
        elif kind in ("record", "cifar", "blobs", "drift"):
            doc["records" if kind == "record" else kind].append(value)
        elif kind in ("fingerprint", "coverage") and isinstance(value, dict) and "target" in value:
            doc["fingerprints" if kind == "fingerprint" else "coverage"][str(value["target"])] = value.get("value")
        else:
            raise ResultsError(path, f"line {number}: unknown journal entry {kind!r}")
    if doc is None:
        raise ResultsError(path, "empty journal")
    if isinstance(doc.get("run"), dict):
        doc["run"].pop("journal", None)
    return doc


def _from_experiment(doc: dict[str, Any], path: Path, key: str) -> dict[str, Any]:
    """A ``bnconform-cifar/1`` or ``bnconform-blobs/1`` file (``key``: "cifar" or "blobs") as a
    complete run holding its training records (its name: ``<key>/<file stem>``, or
    ``<key>/<directory>`` for a ``results.json``; the command that made it goes into the environment)."""
    records = doc.get(key)
    if not isinstance(records, list):
        raise ResultsError(path, f"'{key}' is {type(records).__name__}, expected a list")
    return {"schema": SCHEMA,
            "run": {"name": f"{key}/{path.parent.name if path.stem == 'results' else path.stem}",
                    "complete": True},
            "environment": {"command": doc.get("command")},
            "records": [], key: records}


def _schema_validator():
    """The validator of :data:`SCHEMA_FILE` (draft 2020-12), built once."""
    global _VALIDATOR
    if _VALIDATOR is None:
        from jsonschema import Draft202012Validator

        schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
        _VALIDATOR = Draft202012Validator(schema)
    return _VALIDATOR


_VALIDATOR = None
_TYPES = {"object": "an object", "array": "a list", "string": "a string", "null": "null", "boolean": "true/false",
          "integer": "an integer", "number": "a number"}


def json_path(error) -> str:
    """Where a :class:`jsonschema.ValidationError` is, as ``records[3].device.name`` or
    ``coverage['torch'].probes``: a property the schema names after a dot, a key of a free-form
    object (a target, a probe) quoted in brackets, a list index in brackets."""
    instance_path = list(error.absolute_path)
    out, position = "", 0
    tokens = list(error.absolute_schema_path)
    index = 0
    while index < len(tokens) and position < len(instance_path):
        token = tokens[index]
        if token == "properties" and index + 1 < len(tokens):
            name = instance_path[position]
            out += f".{name}" if out else str(name)
            position += 1
            index += 2
            continue
        if token in ("additionalProperties", "patternProperties", "items"):
            key = instance_path[position]
            out += f"[{key}]" if isinstance(key, int) else f"[{key!r}]"
            position += 1
            index += 2 if token == "patternProperties" else 1
            continue
        index += 1
    for key in instance_path[position:]:  # not reached through the schema's keywords (should not happen)
        out += f"[{key!r}]" if not isinstance(key, int) else f"[{key}]"
    return out


def _expected(types) -> str:
    types = [types] if isinstance(types, str) else list(types)
    names = [_TYPES.get(t, t) for t in types]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def describe(error) -> str:
    """One line for a schema violation: the JSON path, what is there and what was expected."""
    where = json_path(error)
    value = error.instance
    if error.validator == "required":
        missing = next((k for k in error.validator_value if k not in value), error.validator_value[0])
        return f"'{where + '.' if where else ''}{missing}' is missing"
    where = where or "top level"
    kind = type(value).__name__
    if error.validator == "type":
        return f"{where} is {kind}, expected {_expected(error.validator_value)}"
    if error.validator == "const":
        return f"{where} is {value!r}, expected {error.validator_value!r}"
    if error.validator == "enum":
        return f"{where} is {value!r}, expected one of {', '.join(map(str, error.validator_value))}"
    if error.validator == "minimum":
        return f"{where} is {value!r}, expected at least {error.validator_value}"
    if error.validator == "minLength":
        return f"{where} is {value!r}, expected a non-empty string"
    if error.schema.get("description") and error.validator in ("anyOf", "oneOf"):
        return f"{where} is {value!r}, expected {error.schema['description']}"
    return f"{where}: {error.message}"


def validate(doc: Any, path: str | os.PathLike = "<results>") -> None:
    """Check ``doc`` against the JSON Schema (:data:`SCHEMA_FILE`), then fill in what older files
    lack and decode numeric fields, in place. Raises :class:`ResultsError` naming the file, the
    JSON path and the problem (the first problem in document order; the count of the others)."""
    if not isinstance(doc, dict):  # said plainly, before the schema's own wording
        raise ResultsError(path, f"top level is {type(doc).__name__}, expected an object")
    if doc.get("schema") != SCHEMA:
        raise ResultsError(path, f"schema is {doc.get('schema')!r}, expected {SCHEMA!r}")
    errors = sorted(_schema_validator().iter_errors(doc),
                    key=lambda e: ([(0, k) if isinstance(k, int) else (1, str(k)) for k in e.absolute_path],
                                   str(e.validator)))
    if errors:
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise ResultsError(path, describe(errors[0]) + more)
    _normalize(doc)


def _normalize(doc: dict[str, Any]) -> None:
    """Defaults for what older files lack (absent lists, devices, explanations), numbers decoded."""
    doc["run"].setdefault("collection_errors", [])
    for key, kind in (("environment", dict), ("fingerprints", dict), ("coverage", dict), ("records", list),
                      ("cifar", list), ("blobs", list), ("drift", list)):
        doc.setdefault(key, kind())
    for coverage in doc["coverage"].values():
        coverage.setdefault("probes", {})
    for record in doc["records"]:
        for key in _RECORD_STRINGS:
            record.setdefault(key, None)
        if record["op"] in _OLD_POOL_OPS and record["kind"] is None:
            record["kind"] = _OLD_POOL_OPS[record["op"]]
            record["op"] = "pool2d"
        for key in NUMERIC_FIELDS:
            record[key] = as_number(record.get(key))
        record.setdefault("device", dict(UNKNOWN_DEVICE))  # absent in files written before devices
        record["device"].setdefault("name", None)
        record.setdefault("explained", {})  # absent in files written before entries were models
        record.setdefault("deviations", [])
        record.setdefault("examples", 0)
        record.setdefault("example", None)
    for entry in doc["drift"]:
        if entry["op"] in _OLD_POOL_OPS:
            entry["op"] = f"pool2d/{_OLD_POOL_OPS[entry['op']]}"
