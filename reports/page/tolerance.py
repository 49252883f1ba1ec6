"""Error relative to tolerance: one chart per op, one strip per framework version, one dot
per record (property × mode × dtype), on a log axis with the tolerance at 1."""

from __future__ import annotations

from ..markup import Markup, el
from ..model import Matrix
from ..svg import Point, dot_strip_chart
from .common import fmt, row_label_text, verdict_legend
from .style import VERDICT_COLORS

__all__ = ["tolerance_section"]


def tolerance_section(matrix: Matrix) -> Markup:
    parts = [el("h2", "Error relative to tolerance"),
             el("p", "Largest |actual − expected| / tolerance over all examples of a record, log scale. "
                     "Right of the dashed line (1) the property failed; ✕ at the right edge: infinite or NaN "
                     "error; dots at the left edge: exactly 0.", class_="note"),
             verdict_legend(["pass", "fail", "error", "known-deviation", "fixed-deviation"])]
    ops = sorted({column.op for column in matrix.columns})
    charts = 0
    for op in ops:
        rows = [row for row in matrix.rows
                if any(matrix.cells.get((row, c)) for c in matrix.columns if c.op == op)]
        points = []
        for index, row in enumerate(rows):
            for column in (c for c in matrix.columns if c.op == op):
                for record in matrix.cells.get((row, column), []):
                    ratio = record.get("max_tol_ratio")
                    if ratio is None or record["verdict"] == "skip":
                        continue
                    tooltip = (f"{record.get('property')} · {column.mode} · {record.get('dtype')}: "
                               f"err/tol {fmt(ratio)} ({record['verdict']})")
                    points.append(Point(index, ratio, VERDICT_COLORS[record["verdict"]], tooltip))
        if not points:
            continue
        charts += 1
        parts.append(dot_strip_chart(op, [row_label_text(r) for r in rows], points,
                                     axis_label="max error / tolerance"))
    if not charts:
        parts.append(el("p", "No record reported errors (no examples observed).", class_="note"))
    return el("section", parts, id="tolerance")
