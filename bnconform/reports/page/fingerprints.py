"""The convention fingerprint table: every probe for every framework, side by side.

A cell whose value differs from the most common value of its row is highlighted: that
framework follows another convention there.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Iterable

from markupsafe import Markup

from ..model import Run, version_key
from .jinja import render

__all__ = ["fingerprints_section"]

_EVIDENCE_CHARS = 160


def _value_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _probe(probe: Any) -> tuple[str, str | None]:
    if isinstance(probe, dict) and "value" in probe:
        evidence = probe.get("evidence")
        return _value_text(probe["value"]), None if evidence is None else _value_text(evidence)
    return _value_text(probe), None


def _findings(fp: dict) -> dict:
    """The fingerprint's probes, with the device it ran on and its float32 math mode (the probe
    convolution and its engine's matrix product, by default and in full float32:
    ``bnconform.adapters.math_mode``) as rows of their own where it recorded them."""
    found = dict(fp.get("probes") or {})
    device = fp.get("device")
    if isinstance(device, dict):
        found["device"] = {"value": device.get("name") or device.get("platform"), "evidence": None}
    math = fp.get("math_mode")
    if isinstance(math, dict):
        matmul = math.get("matmul") if isinstance(math.get("matmul"), dict) else {}
        for mode in ("default", "full_float32"):
            for op, probes in (("conv2d", math), ("matmul", matmul)):
                if isinstance(probes.get(mode), dict):
                    found[f"float32 {op} ({mode.replace('_', ' ')})"] = probes[mode]
    return found


def fingerprints_section(runs: Iterable[Run]) -> Markup:
    columns = []  # (run, target, fingerprint)
    for run in runs:
        for target, fingerprint in run.doc["fingerprints"].items():
            if isinstance(fingerprint, dict):
                columns.append((run, target, fingerprint))
    columns.sort(key=lambda c: (str(c[2].get("framework")), c[1], version_key(c[2].get("version")), c[0].name))
    probes = sorted({name for _, _, fp in columns for name in _findings(fp)})
    rows = []
    for name in probes:
        values = [_probe(_findings(fp).get(name)) if name in _findings(fp) else None
                  for _, _, fp in columns]
        common = Counter(v[0] for v in values if v is not None).most_common(1)
        majority = common[0][0] if common else None
        cells = []
        for value in values:
            if value is None:
                cells.append(None)
                continue
            text, evidence = value
            short = None
            if evidence:
                short = evidence if len(evidence) <= _EVIDENCE_CHARS else evidence[:_EVIDENCE_CHARS] + "…"
            cells.append({"text": text, "evidence": evidence, "short": short,
                          "differs": text != majority and len(columns) > 1})
        rows.append((name, cells))
    return render("fingerprints.html.j2", columns=columns, rows=rows)
