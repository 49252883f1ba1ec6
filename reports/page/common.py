"""Helpers shared by the report's sections: numbers, badges, row labels, anchors."""

from __future__ import annotations

import json
import math
from typing import Any

from ..markup import Markup, el, slug
from ..model import Column, Row
from ..tested import version_label
from .style import VERDICT_COLORS

__all__ = ["fmt", "badge", "row_title", "row_subtitle", "row_label_text", "cell_anchor", "record_anchor",
           "pretty_json", "verdict_legend", "register"]


def fmt(value: Any, digits: int = 3) -> str:
    """A number for a table: ``-`` for None, ``inf``/``nan`` spelled out, else ``digits`` significant."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.{digits}g}"
    return str(value)


def badge(verdict: str, text: str | None = None) -> Markup:
    """A coloured pill naming ``verdict``."""
    return el("span", text if text is not None else verdict, class_=f"badge v-{verdict}",
              style=f"background:{VERDICT_COLORS.get(verdict, '#666')}")


def row_title(row: Row) -> str:
    """``torch 2.13.0+cpu`` or ``keras 3.15.1 [jax]``; ``flax 0.99.0 (not imported)`` when the run
    recorded that nothing was imported, ``(imported X)`` when the import differs from the metadata."""
    text = f"{row.framework} {version_label(row.version, row.imported_version, row.imported_known)}"
    if not row.backend:
        return text
    return f"{text} [{row.backend} {row.backend_version}]" if row.backend_version else f"{text} [{row.backend}]"


def row_subtitle(row: Row) -> str:
    """``target torch · run torch213``, with `` · device cuda (...)`` off the cpu."""
    where = "" if row.device == "cpu" else f" · device {row.device}"
    return f"target {row.target}{where} · run {row.run}"


def row_label_text(row: Row) -> str:
    """One line for chart axes."""
    where = "" if row.device == "cpu" else f" · {row.device}"
    return f"{row_title(row)} · {row.target}{where} · {row.run}"


def cell_anchor(row: Row, column: Column) -> str:
    parts = (row.run, row.target, row.framework, row.version) + (() if row.device == "cpu" else (row.device,))
    return "cell-" + slug(*parts, column.op, column.mode)


def record_anchor(record: dict[str, Any]) -> str:
    return "rec-" + slug(record.get("run"), record["id"])


def pretty_json(value: Any) -> str:
    """Indented JSON for a human (a string that is not JSON is shown as is)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def verdict_legend(verdicts=None) -> Markup:
    """A line of colour swatches with verdict names."""
    names = verdicts or list(VERDICT_COLORS)
    parts = []
    for name in names:
        parts.append(el("span", class_="swatch", style=f"background:{VERDICT_COLORS[name]}"))
        parts.append(name)
    return el("div", parts, class_="legend")


def register(env) -> None:
    """Make these helpers (and the verdict colours) available to every template."""
    from ..markup import safe_href, slug
    from ..tested import first_line
    from .style import VERDICT_TINTS

    env.filters["fmt"] = fmt
    env.globals.update(fmt=fmt, row_title=row_title, row_subtitle=row_subtitle, row_label_text=row_label_text,
                       cell_anchor=cell_anchor, record_anchor=record_anchor, pretty_json=pretty_json,
                       first_line=first_line, safe_href=safe_href, slug=slug, VERDICT_COLORS=VERDICT_COLORS,
                       VERDICT_TINTS=VERDICT_TINTS)
