"""Versions side by side: the same test (target, property, op, mode, dtype) in every run that has
it, listing those whose verdict changed and those whose error grew most."""

from __future__ import annotations

import math
from typing import Any, Sequence

from ..markup import Markup, el
from ..model import Run, version_key
from ..schema import op_label
from .common import badge, fmt, record_anchor

__all__ = ["changes_section"]

_TOP = 15


def _key(record: dict[str, Any]) -> tuple:
    return (record.get("target"), record.get("property"), op_label(record), record.get("mode"), record.get("dtype"))


def _ratio(record: dict[str, Any]) -> float | None:
    value = record.get("max_tol_ratio")
    return value if isinstance(value, float) and not math.isnan(value) else None


def changes_section(runs: Sequence[Run]) -> Markup | None:
    if len(runs) < 2:
        return None
    series: dict[tuple, list[dict[str, Any]]] = {}
    for order, run in enumerate(runs):
        for record in run.records:
            series.setdefault(_key(record), []).append({**record, "_order": order})
    comparable = {k: sorted(v, key=lambda r: (version_key(r.get("version")), r["_order"]))
                  for k, v in series.items() if len({r["run"] for r in v}) > 1}
    parts = [el("h2", "Versions compared"),
             el("p", f"{len(comparable)} tests ran in more than one run (same target, property, op, mode and "
                     "dtype); runs are ordered by framework version.", class_="note")]
    if not comparable:
        return el("section", parts, id="changes")
    changed = {k: v for k, v in comparable.items() if len({r["verdict"] for r in v}) > 1}
    parts.append(el("h3", f"Verdict changed ({len(changed)})"))
    if changed:
        parts.append(_table(changed))
    else:
        parts.append(el("p", "No test changed its verdict between runs.", class_="note"))
    growth = []
    for key, records in comparable.items():
        for before, after in zip(records, records[1:]):
            a, b = _ratio(before), _ratio(after)
            if a is not None and b is not None and a > 0 and b > a:
                growth.append((b / a, key, before, after))
    growth.sort(key=lambda g: -g[0])
    if growth:
        parts.append(el("h3", f"Largest growth of error / tolerance (top {min(_TOP, len(growth))})"))
        head = el("tr", [el("th", h) for h in ("target", "property", "op · mode", "dtype", "before", "after",
                                                "factor")])
        body = [el("tr", el("td", key[0]), el("td", key[1]), el("td", f"{key[2]} · {key[3]}"), el("td", key[4]),
                   el("td", f"{fmt(_ratio(before))} ", el("span", f"{before['run']} {before.get('version') or ''}",
                                                          class_="sub"), class_="num"),
                   el("td", f"{fmt(_ratio(after))} ", el("span", f"{after['run']} {after.get('version') or ''}",
                                                         class_="sub"), class_="num"),
                   el("td", f"×{factor:.3g}", class_="num"))
                for factor, key, before, after in growth[:_TOP]]
        parts.append(el("table", el("thead", head), el("tbody", body)))
    return el("section", parts, id="changes")


def _table(changed: dict[tuple, list[dict[str, Any]]]) -> Markup:
    rows = []
    for key, records in sorted(changed.items(), key=lambda kv: tuple(str(x) for x in kv[0])):
        cells = []
        for record in records:
            verdict = record["verdict"]
            mark = badge(verdict)
            if verdict in ("fail", "error", "known-deviation"):
                mark = el("a", mark, href=f"#{record_anchor(record)}")
            cells.append(el("span", mark, f" {record['run']} {record.get('version') or ''} "
                                          f"(err/tol {fmt(record.get('max_tol_ratio'))})", class_="count"))
        rows.append(el("tr", el("td", key[0]), el("td", key[1]), el("td", f"{key[2]} · {key[3]}"), el("td", key[4]),
                       el("td", cells)))
    head = el("tr", [el("th", h) for h in ("target", "property", "op · mode", "dtype", "runs (by version)")])
    return el("table", el("thead", head), el("tbody", rows))
