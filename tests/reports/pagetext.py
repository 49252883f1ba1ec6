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
