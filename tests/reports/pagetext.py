"""Read what a person sees in the report's matrix, from the HTML (file or browser DOM)."""

from __future__ import annotations

import re
from html.parser import HTMLParser


class _Matrix(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.cells: dict[tuple[str, str, str], list[str]] = {}
        self._cell = None
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "td" and "data-col" in attrs:
            self._cell = (attrs["data-run"], attrs["data-target"], attrs["data-col"])
            self.cells[self._cell] = []
            self._depth = 0
        elif self._cell is not None and tag == "td":
            self._depth += 1

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            if self._depth == 0:
                self._cell = None
            else:
                self._depth -= 1

    def handle_data(self, data):
        if self._cell is not None:
            self.cells[self._cell].append(data)


def matrix_cells(html: str) -> dict[tuple[str, str, str], dict[str, int] | str]:
    """``{(run, target, column): {verdict: count}}`` from the visible text of each matrix cell
    (``"—"`` for an empty cell)."""
    parser = _Matrix()
    parser.feed(html)
    out = {}
    for key, pieces in parser.cells.items():
        text = " ".join(" ".join(pieces).split())
        counts = {verdict: int(n) for n, verdict in re.findall(r"(\d+) ([a-z-]+)", text)}
        out[key] = counts or text
    return out


class _Tables(HTMLParser):
    """Every ``<table class="...">`` of one class: its rows, each the visible text of its cells."""

    def __init__(self, class_: str):
        super().__init__(convert_charrefs=True)
        self.class_ = class_
        self.tables: list[list[list[str]]] = []
        self._depth = 0  # nesting of tables inside a matching one
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            if self._depth:
                self._depth += 1
            elif self.class_ in (attrs.get("class") or "").split():
                self._depth = 1
                self.tables.append([])
        elif self._depth == 1 and tag == "tr":
            self.tables[-1].append([])
        elif self._depth == 1 and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table" and self._depth:
            self._depth -= 1
        elif self._depth == 1 and tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append(" ".join(" ".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def tables(html: str, class_: str) -> list[list[list[str]]]:
    """The tables of class ``class_`` in ``html``: a list of rows of cell texts (header row first)."""
    parser = _Tables(class_)
    parser.feed(html)
    return parser.tables
