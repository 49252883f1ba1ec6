"""Helpers shared by the report's sections and templates: numbers, row labels, anchors, links
(the badge and the legend are macros in ``bnconform/reports/templates/macros.html.j2``)."""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any

from ..model import Column, Row
from ..tested import version_label
from .style import VERDICT_COLORS

__all__ = ["fmt", "row_title", "row_subtitle", "row_label_text", "cell_anchor", "record_anchor",
           "pretty_json", "slug", "safe_href", "register"]


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


def row_title(row: Row) -> str:
    """``torch 2.13.0+cpu`` or ``keras 3.15.1 [jax]``; ``flax 0.99.0 (not imported)`` when the run
    recorded that nothing was imported, ``(imported X)`` when the import differs from the metadata."""
    text = f"{row.framework} {version_label(row.version, row.imported_version, row.imported_known)}"
    if not row.backend:
        return text
    return f"{text} [{row.backend} {row.backend_version}]" if row.backend_version else f"{text} [{row.backend}]"


def row_subtitle(row: Row) -> str:
    """``target torch · run torch213``, with `` · device cuda (...)`` off the cpu and
    `` · kernels aten-avx2`` where the records measured a CPU kernel path."""
    where = "" if row.device == "cpu" else f" · device {row.device}"
    paths = f" · kernels {row.kernels}" if row.kernels else ""
    return f"target {row.target}{where}{paths} · run {row.run}"


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


_SLUG = re.compile(r"[^A-Za-z0-9_.-]+")


def slug(*parts: Any) -> str:
    """A stable, unique, HTML-id-safe identifier for ``parts`` (used for anchors).

    Readable characters are kept; a short hash of the exact parts keeps two different
    inputs that read alike (``"a b"`` and ``"a_b"``) apart.
    """
    text = "\x1f".join("\x00" if p is None else str(p) for p in parts)
    readable = _SLUG.sub("_", "--".join("none" if p is None else str(p) for p in parts)).strip("_")[:60]
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
    return f"{readable or 'x'}-{digest}"


def safe_href(url: Any) -> str | None:
    """``url`` if it is an http(s) link, else None (no ``javascript:`` or other schemes)."""
    if not isinstance(url, str):
        return None
    url = url.strip()
    return url if re.match(r"^https?://[^\s]+$", url, re.IGNORECASE) else None


def register(env) -> None:
    """Make these helpers (and the verdict colours) available to every template."""
    from ..tested import first_line
    from .style import VERDICT_TINTS

    env.filters["fmt"] = fmt
    env.globals.update(fmt=fmt, row_title=row_title, row_subtitle=row_subtitle, row_label_text=row_label_text,
                       cell_anchor=cell_anchor, record_anchor=record_anchor, pretty_json=pretty_json,
                       first_line=first_line, safe_href=safe_href, slug=slug, VERDICT_COLORS=VERDICT_COLORS,
                       VERDICT_TINTS=VERDICT_TINTS)
