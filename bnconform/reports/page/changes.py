"""Versions side by side: the same test (target, property, op, mode, dtype) in every run that has
it, listing those whose verdict changed and those whose error grew most (``changes.html.j2``)."""

from __future__ import annotations

import math
from typing import Any, Sequence

from markupsafe import Markup

from ..model import Run, version_key
from ..schema import op_label
from .jinja import render

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
    changed = {k: v for k, v in comparable.items() if len({r["verdict"] for r in v}) > 1}
    growth = []
    for key, records in comparable.items():
        for before, after in zip(records, records[1:]):
            a, b = _ratio(before), _ratio(after)
            if a is not None and b is not None and a > 0 and b > a:
                growth.append((b / a, key, before, after))
    growth.sort(key=lambda g: -g[0])
    return render("changes.html.j2", comparable=len(comparable), ratio=_ratio, growth=growth[:_TOP],
                  changed=sorted(changed.items(), key=lambda kv: tuple(str(x) for x in kv[0])))
