"""JUnit XML from the records of a run, for CI systems that show test results natively.

Verdicts map onto JUnit's vocabulary as pytest's own ``--junitxml`` does: ``fail`` is a
``<failure>``, ``error`` an ``<error>``, ``skip`` and ``known-deviation`` are
``<skipped>`` (the latter typed ``known-deviation``, as pytest types xfail), ``pass`` and
``fixed-deviation`` are plain test cases (the latter with a note in ``<system-out>``).
Every record field is kept as a ``<property>``.
"""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from typing import Any, Iterable, Mapping

__all__ = ["junit_xml", "split_nodeid"]

# Characters XML 1.0 cannot carry (ANSI escapes in a message would make the file invalid).
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_PROPERTIES = ("property", "target", "framework", "version", "backend", "op", "kind", "mode", "dtype",
               "verdict", "examples", "max_abs_error", "max_rel_error", "max_ulp_error",
               "max_tol_ratio", "max_stat_ratio", "replay")


def _clean(value: Any) -> str:
    return _ILLEGAL_XML.sub("\ufffd", str(value))


def split_nodeid(nodeid: str) -> tuple[str, str]:
    """``(classname, name)`` the way pytest's junitxml derives them from a node id."""
    parts = nodeid.split("::")
    module = parts[0]
    if module.endswith(".py"):
        module = module[:-3]
    module = module.replace("/", ".").replace("\\", ".")
    if len(parts) == 1:
        return module, module.rsplit(".", 1)[-1]
    return ".".join([module, *parts[1:-1]]), parts[-1]


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0][:300] if (text or "").strip() else ""


def junit_xml(run: Mapping[str, Any], records: Iterable[Mapping[str, Any]]) -> str:
    """The JUnit XML document (one ``<testsuite>`` named after the run) as text."""
    records = list(records)
    errors_at_collection = list(run.get("collection_errors") or [])
    counts = {"tests": len(records) + len(errors_at_collection), "failures": 0, "errors": 0, "skipped": 0}
    suite = ET.Element("testsuite", name=_clean(f"bnconform {run.get('name', '')}"))
    total_time = 0.0
    for record in records:
        classname, name = split_nodeid(record["id"])
        duration = record.get("duration_s") or 0.0
        if isinstance(duration, (int, float)):
            total_time += duration
        case = ET.SubElement(suite, "testcase", classname=_clean(classname), name=_clean(name),
                             time=f"{duration:.3f}" if isinstance(duration, (int, float)) else "0.000")
        props = ET.SubElement(case, "properties")
        for key in _PROPERTIES:
            if record.get(key) is not None:
                ET.SubElement(props, "property", name=key, value=_clean(record[key]))
        verdict = record["verdict"]
        message = record.get("message") or ""
        reason = record.get("reason") or ""
        if verdict == "fail":
            counts["failures"] += 1
            element = ET.SubElement(case, "failure", message=_clean(_first_line(message)), type="AssertionError")
            element.text = _clean(_with_replay(message, record))
        elif verdict == "error":
            counts["errors"] += 1
            element = ET.SubElement(case, "error", message=_clean(_first_line(message)), type="error")
            element.text = _clean(_with_replay(message, record))
        elif verdict == "skip":
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", message=_clean(reason), type="pytest.skip")
        elif verdict == "known-deviation":
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", message=_clean(f"known deviation: {reason}"), type="known-deviation")
        elif verdict == "fixed-deviation":
            out = ET.SubElement(case, "system-out")
            out.text = _clean(f"fixed deviation: listed as known ({reason}) but it passed")
    for error in errors_at_collection:
        counts["errors"] += 1
        classname, name = split_nodeid(error.get("id", "?"))
        case = ET.SubElement(suite, "testcase", classname=_clean(classname), name=_clean(name), time="0.000")
        element = ET.SubElement(case, "error", message="collection failure", type="collection")
        element.text = _clean(error.get("message", ""))
    for key, value in counts.items():
        suite.set(key, str(value))
    suite.set("time", f"{total_time:.3f}")
    if run.get("started"):
        suite.set("timestamp", _clean(run["started"]))
    suite.set("hostname", _clean(socket.gethostname()))
    root = ET.Element("testsuites", name="bnconform")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _with_replay(message: str, record: Mapping[str, Any]) -> str:
    replay = record.get("replay")
    return f"{message}\n\nreplay: {replay}" if replay else message
