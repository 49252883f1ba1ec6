"""Coverage: what each target offered on each run's machine, and what two runs of the same versions
tested differently.

What a framework offers can depend on the machine, not only on its version: TensorFlow's CPU Conv2D
takes channels_first (NCHW) only through oneDNN's kernels (float32 and bfloat16; float16 only where the
CPU has AVX512-FP16), so the same Keras and TensorFlow pass on one machine because the case is never
drawn and fail on another. Each run records, per target, the adapter's declared capabilities and the
result of every run-time probe (``results["coverage"]``, written by ``observe.coverage`` when the
adapter is loaded); each record counts the drawn examples the framework refused (``unsupported``).

This section shows, per target, one column per run: every probe (offered, or refused with the
framework's message), the capabilities where runs differ, and the refused examples by reason. Where
several runs tested the *same* target at the *same* versions, a second table lists only what differs
between them, side by side: a probe offered in one and refused in the other, a property tested in one
and skipped in the other, refusals met in only one. Results files written before coverage was recorded
still show their refusals and records; their probes read "not recorded".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from ..markup import Markup, el, slug
from ..model import Run, version_key
from ..schema import op_label

__all__ = ["coverage_section", "TargetCoverage", "collect", "differences"]

_REASON_CHARS = 220


@dataclass
class TargetCoverage:
    """One target in one run: its identity, what it offered and what its records tested."""

    run: str
    target: str
    framework: str | None
    version: str | None
    backend: str | None
    backend_version: str | None
    recorded: bool  # False: the results file has no coverage entry for this target (older file)
    available: bool | None = None
    unavailable_reason: str | None = None
    capabilities: dict[str, Any] = field(default_factory=dict)
    probes: dict[str, tuple[bool, str | None]] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)  # reason -> drawn examples refused
    tested: dict[tuple[str, str, str, str], str] = field(default_factory=dict)  # key -> "tested" / skip reason

    @property
    def versions(self) -> tuple:
        """What must agree for two runs to be "the same versions"."""
        return (self.framework, self.version, self.backend, self.backend_version)

    @property
    def title(self) -> str:
        text = f"{self.framework or self.target} {self.version or '(version unknown)'}"
        if self.backend:
            text += f" [{self.backend}{' ' + self.backend_version if self.backend_version else ''}]"
        return text


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(none)"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_text(v)}" for k, v in sorted(value.items())) or "(none)"
    return str(value)


def _record_key(record: dict[str, Any]) -> tuple[str, str, str, str]:
    return (str(record.get("property")), str(op_label(record)), str(record.get("mode") or "-"),
            str(record.get("dtype")))


def _key_text(key: tuple[str, str, str, str]) -> str:
    prop, op, mode, dtype = key
    parts = [prop if prop == op else f"{prop} ({op})", dtype]
    if mode != "-":
        parts.insert(1, mode)
    return " · ".join(parts)


def collect(runs: Iterable[Run]) -> list[TargetCoverage]:
    """One :class:`TargetCoverage` per (run, target) that has a coverage entry or records."""
    out = []
    for run in runs:
        coverage = run.doc.get("coverage") or {}
        by_target: dict[str, list[dict[str, Any]]] = {}
        for record in run.records:
            if record.get("target"):
                by_target.setdefault(record["target"], []).append(record)
        for target in sorted(set(coverage) | set(by_target)):
            entry = coverage.get(target)
            records = by_target.get(target, [])
            first = records[0] if records else {}
            source = entry if isinstance(entry, dict) else first
            item = TargetCoverage(
                run=run.name, target=target,
                framework=source.get("framework") or first.get("framework"),
                version=source.get("version") or first.get("version"),
                backend=source.get("backend") or first.get("backend"),
                backend_version=source.get("backend_version") or first.get("backend_version"),
                recorded=isinstance(entry, dict))
            if isinstance(entry, dict):
                item.available = bool(entry.get("available", True))
                item.unavailable_reason = entry.get("reason") if not item.available else None
                item.capabilities = dict(entry.get("capabilities") or {})
                for name, probe in (entry.get("probes") or {}).items():
                    item.probes[name] = (bool(probe.get("offered")), probe.get("reason"))
            for record in records:
                for reason, count in (record.get("unsupported") or {}).items():
                    item.refused[reason] = item.refused.get(reason, 0) + int(count)
                key = _record_key(record)
                if record.get("verdict") == "skip":
                    item.tested.setdefault(key, "skipped: " + str(record.get("reason") or "no reason given"))
                else:
                    item.tested[key] = "tested"
            out.append(item)
    return out


def _probe_cell(item: TargetCoverage, name: str) -> Markup:
    if not item.recorded:
        return el("td", "not recorded", class_="muted")
    if name not in item.probes:
        return el("td", "not probed", class_="muted")
    offered, reason = item.probes[name]
    if offered:
        return el("td", "offered")
    short = reason if reason is None or len(reason) <= _REASON_CHARS else reason[:_REASON_CHARS] + "…"
    return el("td", "refused", el("div", short, class_="evidence") if short else None, title=reason)


def _probe_text(item: TargetCoverage, name: str) -> str:
    if not item.recorded:
        return "not recorded"
    if name not in item.probes:
        return "not probed"
    offered, reason = item.probes[name]
    return "offered" if offered else f"refused: {reason}"


def differences(items: Sequence[TargetCoverage]) -> list[tuple[str, str, list[str]]]:
    """What differs between ``items`` (the same target in several runs): ``(kind, what, [value per
    item])`` for every probe, capability, property and refusal reason whose value is not the same in
    all of them. Probes and capabilities are compared only among runs that recorded them."""
    rows: list[tuple[str, str, list[str]]] = []
    recorded = [i for i in items if i.recorded]

    def add(kind: str, what: str, values: list[str], compared: Sequence[TargetCoverage]) -> None:
        if len({v for v, i in zip(values, items) if i in compared}) > 1:
            rows.append((kind, what, values))

    availability = [("loaded" if i.available else f"not loaded: {i.unavailable_reason}") if i.recorded
                    else "not recorded" for i in items]
    add("target", "loaded", availability, recorded)
    for name in sorted({n for i in recorded for n in i.probes}):
        # only the offered/refused verdict counts: the message names each run's own versions
        verdicts = [("offered" if i.probes[name][0] else "refused") if name in i.probes else "not probed"
                    for i in items]
        if len({v for v, i in zip(verdicts, items) if i.recorded}) > 1:
            rows.append(("probe", name, [_probe_text(i, name) for i in items]))
    for name in sorted({n for i in recorded for n in i.capabilities}):
        add("capability", name, [_text(i.capabilities.get(name, "(absent)")) if i.recorded else "not recorded"
                                 for i in items], recorded)
    for key in sorted({k for i in items for k in i.tested}):
        values = [i.tested.get(key, "not in this run") for i in items]
        if len({"tested" if v == "tested" else v for v in values}) > 1:
            rows.append(("property", _key_text(key), values))
    for reason in sorted({r for i in items for r in i.refused}):
        values = [f"{i.refused[reason]} example(s) refused" if reason in i.refused else "never met" for i in items]
        if len({v == "never met" for v in values}) > 1:
            rows.append(("refusal", reason, values))
    return rows


def _column_head(item: TargetCoverage) -> Markup:
    return el("th", item.title, el("span", f"run {item.run}", class_="sub"))


def _target_table(items: Sequence[TargetCoverage]) -> Markup:
    head = el("tr", el("th", ""), [_column_head(i) for i in items])
    rows = [el("tr", el("th", "loaded", scope="row"),
               [el("td", "not recorded", class_="muted") if not i.recorded
                else el("td", "yes") if i.available else el("td", "no", el("div", i.unavailable_reason, class_="evidence"))
                for i in items])]
    for name in sorted({n for i in items for n in i.probes}):
        cells = [_probe_cell(i, name) for i in items]
        verdicts = {i.probes[name][0] for i in items if name in i.probes}
        rows.append(el("tr", el("th", name, el("span", "probe", class_="sub"), scope="row",
                                class_="differs" if len(verdicts) > 1 else None), cells))
    recorded = [i for i in items if i.recorded and i.available]
    for name in sorted({n for i in recorded for n in i.capabilities}):
        values = [_text(i.capabilities.get(name, "(absent)")) for i in recorded]
        if len(set(values)) > 1:
            rows.append(el("tr", el("th", name, el("span", "capability", class_="sub"), scope="row"),
                           [el("td", _text(i.capabilities.get(name, "(absent)")), class_="differs")
                            if i in recorded else el("td", "—", class_="muted") for i in items]))
    reasons = sorted({r for i in items for r in i.refused})
    rows.append(el("tr", el("th", "examples refused while testing", scope="row"),
                   [el("td", el("ul", [el("li", f"{i.refused[r]} × {r}") for r in reasons if r in i.refused])
                       if i.refused else "none") for i in items]))
    skipped = [sum(v != "tested" for v in i.tested.values()) for i in items]
    rows.append(el("tr", el("th", "properties tested / skipped", scope="row"),
                   [el("td", f"{len(i.tested) - s} / {s}") for i, s in zip(items, skipped)]))
    table = el("table", el("thead", head), el("tbody", rows), class_="coverage")
    declared = next((i for i in items if i.recorded and i.capabilities), None)
    details = None
    if declared is not None:
        details = el("details", el("summary", f"declared capabilities ({declared.title}, run {declared.run})"),
                     el("dl", [(el("dt", k), el("dd", _text(v))) for k, v in sorted(declared.capabilities.items())],
                        class_="kv"))
    return el("div", el("div", table, style="overflow-x:auto"), details)


def _diff_table(items: Sequence[TargetCoverage]) -> Markup | None:
    rows = differences(items)
    if not rows:
        return None
    head = el("tr", el("th", "what"), [el("th", f"run {i.run}") for i in items])
    body = [el("tr", el("th", what, el("span", kind, class_="sub"), scope="row"),
               [el("td", v, class_="differs") for v in values]) for kind, what, values in rows]
    runs = " and ".join(i.run for i in items)
    return el("div",
              el("h4", f"Same versions, different coverage: {items[0].title} in {runs}"),
              el("p", "These runs tested the same versions but not the same things; only the differences are "
                      "listed. A probe refused on one machine means its cases were never drawn there.", class_="note"),
              el("div", el("table", el("thead", head), el("tbody", body), class_="coverage-diff"),
                 style="overflow-x:auto"),
              class_="coverage-diff", data_target=items[0].target)


def coverage_section(runs: Sequence[Run]) -> Markup:
    items = collect(runs)
    parts = [el("h2", "Coverage"),
             el("p", "What each target offered on each run's machine: run-time probes (offered, or refused with "
                     "the framework's message), capabilities where runs differ, and the drawn examples the "
                     "framework refused. A probe can differ between machines at the same versions (CPU "
                     "features, TF_ENABLE_ONEDNN_OPTS; see Environment).", class_="note")]
    if not items:
        parts.append(el("p", "No targets in these results.", class_="note"))
        return el("section", parts, id="coverage")
    by_target: dict[str, list[TargetCoverage]] = {}
    for item in items:
        by_target.setdefault(item.target, []).append(item)
    for target in sorted(by_target, key=lambda t: (str(by_target[t][0].framework), t)):
        group = sorted(by_target[target], key=lambda i: (version_key(i.version), str(i.backend_version), i.run))
        block = [el("h3", target), _target_table(group)]
        same: dict[tuple, list[TargetCoverage]] = {}
        for item in group:
            same.setdefault(item.versions, []).append(item)
        for members in same.values():
            if len(members) > 1:
                block.append(_diff_table(members))
        parts.append(el("div", block, class_="coverage-target", id="coverage-" + slug(target)))
    return el("section", parts, id="coverage")
