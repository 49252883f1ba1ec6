"""The overview matrix (rows: framework, version, backend per run; columns: op x mode)
and the per-cell detail tables its cells link to (``matrix.html.j2``, ``cells.html.j2``)."""

from __future__ import annotations

from markupsafe import Markup

from ..model import Matrix
from ..schema import SEVERITY
from .jinja import render

__all__ = ["matrix_section", "cell_details_section"]

_BY_SEVERITY = sorted(SEVERITY, key=SEVERITY.get, reverse=True)
_LINKED = ("fail", "error", "known-deviation", "fixed-deviation")


def matrix_section(matrix: Matrix) -> Markup:
    return render("matrix.html.j2", matrix=matrix, by_severity=_BY_SEVERITY)


def cell_details_section(matrix: Matrix) -> Markup:
    cells = []
    for row in matrix.rows:
        for column in matrix.columns:
            records = matrix.cells.get((row, column))
            if records:
                cells.append((row, column, sorted(records, key=lambda r: (-SEVERITY[r["verdict"]],
                                                                          r.get("property") or "",
                                                                          r.get("dtype") or ""))))
    return render("cells.html.j2", cells=cells, linked=_LINKED)
