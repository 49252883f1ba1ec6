"""Error relative to tolerance: one chart per op, one strip per framework version, one dot
per record (property × mode × dtype), on a log axis with the tolerance at 1."""

from __future__ import annotations

from markupsafe import Markup

from ..model import Matrix
from ..svg import Point, dot_strip_chart
from .common import fmt, row_label_text
from .jinja import render
from .style import VERDICT_COLORS

__all__ = ["tolerance_section"]


def tolerance_section(matrix: Matrix) -> Markup:
    charts = []
    ops = sorted({column.op for column in matrix.columns})
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
        charts.append(dot_strip_chart(op, [row_label_text(r) for r in rows], points,
                                      axis_label="max error / tolerance"))
    return render("tolerance.html.j2", charts=charts)
