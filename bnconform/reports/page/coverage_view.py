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
still show their refusals and records; their probes read "not recorded". (``coverage.html.j2``)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from markupsafe import Markup

from ..model import Run, version_key
from ..schema import op_label
from .jinja import render

__all__ = ["coverage_section", "TargetCoverage", "collect", "differences", "kernel_text", "OPTIONS", "option_status"]

_REASON_CHARS = 220
PRODUCTION_TEST = "test_property_at_production_size"  # the records' ids (node ids) of the production-size test


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
    kernels: dict[str, Any] | None = None  # the CPU kernel path measured (bnconform.adapters.kernel_paths), None: none
    refused: dict[str, int] = field(default_factory=dict)  # reason -> drawn examples refused
    tested: dict[tuple[str, str, str, str], str] = field(default_factory=dict)  # key -> "tested" / skip reason
    production: dict[str, str] = field(default_factory=dict)  # property -> "tested" / skip reason, at production size

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
                item.kernels = entry.get("kernels") if isinstance(entry.get("kernels"), dict) else None
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
                if PRODUCTION_TEST in str(record.get("id") or ""):
                    if record.get("verdict") == "skip":
                        item.production.setdefault(key[0], "skipped: " + str(record.get("reason") or "no reason given"))
                    else:
                        item.production[key[0]] = "tested"
            out.append(item)
    return out


def kernel_text(item: TargetCoverage) -> tuple[str, str | None]:
    """(the kernel path, its evidence) of one column: the configuration measured and what was read,
    or that the one asked for could not be taken here, with the reason."""
    path = item.kernels
    if not path:
        return ("not recorded" if not item.recorded else "none declared", None)
    state = ", ".join(f"{k} {v}" for k, v in (path.get("state") or {}).items()) or None
    if not path.get("honoured", True):
        return (f"{path.get('asked')}: not run here", path.get("reason"))
    asked = path.get("asked")
    name = str(path.get("name"))
    return (name if asked in (None, name) else f"{name} (as {asked})", f"measured: {state}" if state else None)


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


#: Each option of each layer the coverage view lists (issue 22): (layer, option, the capability that
#: declares it -- a flag name, or (field, value) for a value in a tuple field; None: never drawn --,
#: the property that tests it, or the reason it is not tested when never drawn).
OPTIONS: tuple[tuple[str, str, Any, str], ...] = (
    ("batch norm", "mask, call(x, training, mask), broadcast", "bn_masks", "bn_masked"),
    ("batch norm", "synchronized (cross-replica), one replica", "bn_synchronized", "bn_synchronized"),
    ("batch norm", "production sizes, drawn on and off the multiples of 8, 16, 32", ("bn_ranks", 4),
     "production:bn_forward"),
    ("conv2d", "padding 'valid'", ("conv_paddings", "valid"), "conv2d"),
    ("conv2d", "padding 'same'", ("conv_paddings", "same"), "conv2d"),
    ("conv2d", "explicit padding pairs", ("conv_paddings", "explicit"), "conv2d"),
    ("conv2d", "groups, up to depthwise (groups == C_in)", "conv_groups", "conv2d"),
    ("conv2d", "dilation", "conv_dilation", "conv2d"),
    ("conv2d", "dilation with stride > 1", "conv_dilated_strided", "conv2d"),
    ("conv2d", "production sizes, drawn on and off the multiples of 8, 16, 32", ("ops", "conv2d"),
     "production:conv2d"),
    ("conv2d", "padding 'same' with stride > 1", "conv_same_strided", "conv2d"),
    ("pooling", "padding 'same'", ("pool_paddings", "same"), "pool2d"),
    ("pooling", "explicit padding pairs", ("pool_paddings", "explicit"), "pool2d"),
    ("pooling", "ceil_mode", "pool_ceil_mode", "pool2d"),
    ("pooling", "count_include_pad=True", ("pool_count_include_pad", True), "pool2d"),
    ("pooling", "production sizes, drawn on and off the multiples of 8, 16, 32", ("ops", "pool2d"),
     "production:pool2d"),
    ("pooling", "dilation (torch max_pool2d)", None,
     "not drawn: the pooling cases have no dilation (bnconform.cases.PoolCase)"),
)


def _offers(capabilities: dict[str, Any], flag) -> bool:
    if isinstance(flag, tuple):
        field_name, value = flag
        return value in (capabilities.get(field_name) or ())
    return bool(capabilities.get(flag))


def _flag_text(flag) -> str:
    return f"{flag[0]} has no {flag[1]!r}" if isinstance(flag, tuple) else f"{flag} is false"


def option_status(item: TargetCoverage, flag, prop: str) -> str:
    """One option of one target in one run: ``tested``, or why not (not declared by the adapter,
    skipped with the reason of its property's records, not in this run, never drawn)."""
    if flag is None:
        return f"not tested: {prop}"
    if not item.recorded or not item.available:
        return "not recorded" if not item.recorded else "not loaded"
    if not _offers(item.capabilities, flag):
        return f"not offered: {_flag_text(flag)}"
    if prop.startswith("production:"):  # test_property_at_production_size's records of the property
        verdicts = [item.production[prop.split(":", 1)[1]]] if prop.split(":", 1)[1] in item.production else []
    else:
        verdicts = [v for (p, _op, _mode, _dtype), v in sorted(item.tested.items()) if p == prop]
    if any(v == "tested" for v in verdicts):
        return "tested"
    return f"not tested: {verdicts[0]}" if verdicts else f"not in this run ({prop} not run)"


def _probe_names(items: Sequence[TargetCoverage]) -> list[str]:
    return sorted({n for i in items for n in i.probes})


def _probe_differs(items: Sequence[TargetCoverage], name: str) -> bool:
    return len({i.probes[name][0] for i in items if name in i.probes}) > 1


def _differing_capabilities(items: Sequence[TargetCoverage]) -> list[tuple[str, list[TargetCoverage]]]:
    """Capabilities whose value differs between the loaded, recorded ``items`` (with those items)."""
    recorded = [i for i in items if i.recorded and i.available]
    return [(name, recorded) for name in sorted({n for i in recorded for n in i.capabilities})
            if len({_text(i.capabilities.get(name, "(absent)")) for i in recorded}) > 1]


def _shorten(reason: str) -> str:
    return reason if len(reason) <= _REASON_CHARS else reason[:_REASON_CHARS] + "…"


_HELPERS = dict(
    probe_names=_probe_names, probe_differs=_probe_differs, differing_capabilities=_differing_capabilities,
    shorten=_shorten, text=_text, kernel_text=kernel_text,
    refused_reasons=lambda items: sorted({r for i in items for r in i.refused}),
    skipped_count=lambda item: sum(v != "tested" for v in item.tested.values()),
    declared_by=lambda items: next((i for i in items if i.recorded and i.capabilities), None),
    options=OPTIONS, option_status=option_status,
)


def coverage_section(runs: Sequence[Run]) -> Markup:
    by_target: dict[str, list[TargetCoverage]] = {}
    for item in collect(runs):
        by_target.setdefault(item.target, []).append(item)
    targets = []
    for target in sorted(by_target, key=lambda t: (str(by_target[t][0].framework), t)):
        group = sorted(by_target[target], key=lambda i: (version_key(i.version), str(i.backend_version), i.run))
        same: dict[tuple, list[TargetCoverage]] = {}
        for item in group:
            same.setdefault(item.versions, []).append(item)
        diffs = [(members, differences(members)) for members in same.values() if len(members) > 1]
        targets.append((target, group, [(members, rows) for members, rows in diffs if rows]))
    return render("coverage.html.j2", targets=targets, **_HELPERS)
