"""The overview matrix (rows: framework, version, backend per run; columns: op x mode)
and the per-cell detail tables its cells link to."""

from __future__ import annotations

from ..markup import Markup, el
from ..model import Matrix
from ..schema import SEVERITY
from .common import (badge, cell_anchor, fmt, record_anchor, row_subtitle, row_title,
                     verdict_legend)
from ..tested import first_line
from .style import VERDICT_TINTS

__all__ = ["matrix_section", "cell_details_section"]

_BY_SEVERITY = sorted(SEVERITY, key=SEVERITY.get, reverse=True)
_LINKED = ("fail", "error", "known-deviation", "fixed-deviation")


def matrix_section(matrix: Matrix) -> Markup:
    if not matrix.rows:
        return el("section", el("h2", "Overview"), el("p", "No conformance records.", class_="note"), id="matrix")
    head = el("tr", el("th", "framework · version", class_="rowhead"),
              [el("th", column.label) for column in matrix.columns])
    body = []
    for row in matrix.rows:
        cells = [el("th", row_title(row), el("span", row_subtitle(row), class_="sub"), class_="rowhead",
                    scope="row")]
        for column in matrix.columns:
            counts = matrix.counts(row, column)
            if not counts:
                cells.append(el("td", "—", class_="empty", data_row=row_title(row), data_run=row.run,
                                data_target=row.target, data_col=column.label))
                continue
            worst = matrix.worst(row, column)
            lines = [el("span", el("b", str(counts[v])), f" {v}", class_="count", data_verdict=v,
                        data_count=str(counts[v]))
                     for v in _BY_SEVERITY if counts[v]]
            cells.append(el("td", el("a", lines, href=f"#{cell_anchor(row, column)}",
                                     title=f"{row_title(row)} · {column.label}: worst {worst}"),
                            class_=f"cell v-{worst}", style=f"background:{VERDICT_TINTS[worst]}",
                            data_row=row_title(row), data_run=row.run, data_target=row.target,
                            data_col=column.label, data_worst=worst))
        body.append(el("tr", cells))
    return el("section",
              el("h2", "Overview"),
              el("p", "One row per framework version (and Keras backend) in each run; one column per op and "
                      "mode. A cell counts the records (properties × dtypes) by verdict and is coloured by the "
                      "worst. Click a cell for its records.", class_="note"),
              verdict_legend(),
              el("table", el("thead", head), el("tbody", body), class_="matrix", id="matrix-table"),
              id="matrix")


def cell_details_section(matrix: Matrix) -> Markup:
    blocks = []
    for row in matrix.rows:
        for column in matrix.columns:
            records = matrix.cells.get((row, column))
            if not records:
                continue
            records = sorted(records, key=lambda r: (-SEVERITY[r["verdict"]], r.get("property") or "",
                                                     r.get("dtype") or ""))
            trs = []
            for record in records:
                verdict = record["verdict"]
                name = record.get("property") or record["id"]
                if verdict in _LINKED:
                    name = el("a", name, href=f"#{record_anchor(record)}")
                trs.append(el("tr",
                              el("td", name, el("span", record["id"], class_="sub")),
                              el("td", record.get("dtype") or "-"),
                              el("td", badge(verdict), el("span", record.get("reason") or "", class_="sub"),
                                 el("span", first_line(record.get("message")), class_="sub")
                                 if verdict == "error" else None,
                                 [el("span", f"not offered, {n} example(s) not run: {why}", class_="sub")
                                  for why, n in sorted((record.get("unsupported") or {}).items())]),
                              el("td", fmt(record.get("examples")), class_="num"),
                              el("td", fmt(record.get("max_abs_error")), class_="num"),
                              el("td", fmt(record.get("max_rel_error")), class_="num"),
                              el("td", fmt(record.get("max_ulp_error")), class_="num"),
                              el("td", fmt(record.get("max_tol_ratio")), class_="num"),
                              el("td", fmt(record.get("duration_s"), 2), class_="num")))
            blocks.append(el("div",
                             el("h3", f"{row_title(row)} · {column.label}",
                                el("span", row_subtitle(row), class_="sub")),
                             el("table",
                                el("thead", el("tr", [el("th", h) for h in (
                                    "property", "dtype", "verdict", "examples", "max abs err", "max rel err",
                                    "max ULP", "err / tol", "time s")])),
                                el("tbody", trs)),
                             id=cell_anchor(row, column), class_="cell-details"))
    return el("section", el("h2", "Records by cell"), blocks, id="cells")
