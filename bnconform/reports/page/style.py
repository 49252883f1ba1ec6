"""The report's stylesheet and verdict colours (inlined into the page)."""

from __future__ import annotations

from pathlib import Path

#: Fill colour of each verdict (matrix cells, badges, chart marks).
VERDICT_COLORS = {
    "pass": "#3a9d5d",
    "fail": "#d64541",
    "error": "#8e44ad",
    "known-deviation": "#f0a030",
    "fixed-deviation": "#3c78c3",
    "skip": "#a0a4a8",
}

#: Light backgrounds for matrix cells, same hues.
VERDICT_TINTS = {
    "pass": "#dcf1e2",
    "fail": "#fbd9d7",
    "error": "#ead9f2",
    "known-deviation": "#fdebc8",
    "fixed-deviation": "#d9e6f7",
    "skip": "#eceef0",
}

#: The stylesheet, inlined into the page's ``<style>`` (kept in ``bnconform/reports/templates/style.css``).
CSS = (Path(__file__).resolve().parents[1] / "templates" / "style.css").read_text(encoding="utf-8")
