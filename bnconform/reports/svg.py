"""Small inline SVG charts, written by hand (no JavaScript, no fonts or files to load).

Each function returns :class:`markupsafe.Markup` holding one ``<svg>`` element, sized in CSS
pixels, with ``<title>`` tooltips on the marks. The elements are put together by :func:`el` with
markupsafe: labels, tooltips and attribute values are escaped like any other text (the page's
templates insert the result as it is).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Sequence

from markupsafe import Markup

__all__ = ["Point", "Series", "Interval", "dot_strip_chart", "line_chart", "interval_chart", "bar_chart",
           "PALETTE", "log_ticks", "nice_ticks"]

#: Colours for series (Tableau 10), distinguishable and print-safe.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac")
_FONT = 11
_CHAR = 6.4  # approximate width of one character at _FONT px


def el(tag: str, *children, **attrs) -> Markup:
    """``<tag attrs>children</tag>``: text children and attribute values escaped, Markup children (other
    elements) kept, lists flattened; ``class_`` -> ``class``, ``text_anchor`` -> ``text-anchor``; an
    attribute whose value is None is left out."""
    attributes = Markup("").join(Markup(' {}="{}"').format(name.rstrip("_").replace("_", "-"), value)
                                 for name, value in attrs.items() if value is not None)
    return Markup("<{0}{1}>{2}</{0}>").format(Markup(tag), attributes, Markup("").join(_flatten(children)))


def _flatten(children) -> Iterator:
    for child in children:
        if isinstance(child, (list, tuple)):
            yield from _flatten(child)
        elif child is not None:
            yield child


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _svg(width: float, height: float, label: str, *children) -> Markup:
    return el("svg", *children, xmlns="http://www.w3.org/2000/svg", width=_num(width), height=_num(height),
              viewBox=f"0 0 {_num(width)} {_num(height)}", role="img", aria_label=label, class_="chart")


def _text(x: float, y: float, text: str, anchor: str = "start", cls: str | None = None, **attrs) -> Markup:
    return el("text", text, x=_num(x), y=_num(y), text_anchor=anchor, class_=cls, **attrs)


def _label_width(labels: Sequence[str]) -> float:
    return min(320.0, max((len(label) for label in labels), default=4) * _CHAR + 12)


def log_ticks(low: float, high: float) -> list[float]:
    """Powers of ten from ``low`` to ``high`` (both powers of ten)."""
    start, stop = round(math.log10(low)), round(math.log10(high))
    step = max(1, math.ceil((stop - start) / 10))
    return [10.0 ** e for e in range(start, stop + 1, step)]


def nice_ticks(high: float, count: int = 5) -> list[float]:
    """Ticks from 0 to at least ``high`` at a step of 1, 2 or 5 times a power of ten."""
    if high <= 0 or not math.isfinite(high):
        return [0.0, 1.0]
    raw = high / count
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [round(step * i, 12) for i in range(int(math.ceil(high / step - 1e-9)) + 1)]


def _fmt_tick(value: float) -> str:
    if value == 0:
        return "0"
    exponent = math.log10(abs(value))
    if exponent == int(exponent) and abs(exponent) >= 3:
        return f"1e{int(exponent)}"
    return f"{value:g}"


@dataclass(frozen=True)
class Point:
    """One mark of a dot strip chart: ``row`` index, ``value`` (may be 0, inf or NaN)."""

    row: int
    value: float
    color: str
    tooltip: str


def dot_strip_chart(title: str, rows: Sequence[str], points: Sequence[Point], *, reference: float = 1.0,
                    reference_label: str = "tolerance", axis_label: str = "", width: float = 760) -> Markup:
    """Dots on a log-scaled horizontal axis, one strip per row, a dashed reference line.

    Zeros are drawn at the left edge, infinities and NaN at the right edge (as a cross),
    so nothing silently disappears.
    """
    finite = [p.value for p in points if math.isfinite(p.value) and p.value > 0]
    low = 10.0 ** math.floor(math.log10(min(finite + [reference])))
    high = 10.0 ** math.ceil(math.log10(max(finite + [reference])))
    if high <= low:
        high = low * 10
    zeros = any(p.value <= 0 for p in points)
    if zeros:
        low /= 10  # zeros sit at the left edge, one decade clear of the smallest positive value
    left = _label_width(rows)
    right = width - 24
    top, strip = 36.0, 18.0
    height = top + strip * len(rows) + 34

    def x(value: float) -> float:
        if not math.isfinite(value):
            return right
        if value <= 0:
            return left
        t = (math.log10(value) - math.log10(low)) / (math.log10(high) - math.log10(low))
        return left + min(max(t, 0.0), 1.0) * (right - left)

    parts = [_text(left, 14, title, cls="chart-title")]
    bottom = top + strip * len(rows)
    for i, label in enumerate(rows):
        y = top + strip * i
        if i % 2 == 0:
            parts.append(el("rect", x=_num(left), y=_num(y), width=_num(right - left), height=_num(strip),
                            class_="band"))
        parts.append(_text(left - 6, y + strip / 2 + 4, label, anchor="end"))
    for tick in log_ticks(low, high):
        parts.append(el("line", x1=_num(x(tick)), x2=_num(x(tick)), y1=_num(top), y2=_num(bottom), class_="grid"))
        label = "0" if zeros and tick == low else _fmt_tick(tick)  # the left edge stands for zero
        parts.append(_text(x(tick), bottom + 14, label, anchor="middle", cls="tick"))
    rx = x(reference)
    parts.append(el("line", x1=_num(rx), x2=_num(rx), y1=_num(top - 4), y2=_num(bottom), class_="reference"))
    parts.append(_text(rx - 3, top - 7, reference_label, anchor="end", cls="tick"))
    if axis_label:
        parts.append(_text((left + right) / 2, bottom + 28, axis_label, anchor="middle", cls="axis-label"))
    for point in points:
        cx = x(point.value)
        cy = top + strip * point.row + strip / 2
        if math.isfinite(point.value):
            parts.append(el("circle", el("title", point.tooltip), cx=_num(cx), cy=_num(cy), r="4.5",
                            fill=point.color, class_="dot"))
        else:
            d = f"M{_num(cx - 4)} {_num(cy - 4)}L{_num(cx + 4)} {_num(cy + 4)}M{_num(cx - 4)} {_num(cy + 4)}L{_num(cx + 4)} {_num(cy - 4)}"
            parts.append(el("path", el("title", point.tooltip), d=d, stroke=point.color, class_="cross"))
    return _svg(width, height, title, parts)


@dataclass(frozen=True)
class Series:
    """A line: ``label`` and ``(x, y)`` points (y None or NaN leaves a gap)."""

    label: str
    points: Sequence[tuple[float, float | None]]
    color: str
    dashed: bool = False


def line_chart(title: str, series: Sequence[Series], *, x_label: str = "", y_label: str = "",
               width: float = 460, height: float = 260) -> Markup:
    """Lines on linear axes with a legend below (for training curves)."""
    xs = [px for s in series for px, py in s.points if py is not None and math.isfinite(py)]
    ys = [py for s in series for px, py in s.points if py is not None and math.isfinite(py)]
    if not xs:
        return _svg(width, 40, title, _text(8, 24, f"{title}: no data"))
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x1 = x0 + 1
    pad = (y1 - y0) * 0.05 or abs(y0) * 0.05 or 1.0
    y0, y1 = y0 - pad, y1 + pad
    left, right, top = 52.0, width - 12, 24.0
    plot_bottom = height - 40
    legend_rows = math.ceil(len(series) / 2)
    total_height = height + legend_rows * 16 + 8

    def sx(v: float) -> float:
        return left + (v - x0) / (x1 - x0) * (right - left)

    def sy(v: float) -> float:
        return plot_bottom - (v - y0) / (y1 - y0) * (plot_bottom - top)

    parts = [_text(left, 14, title, cls="chart-title")]
    for i in range(5):
        value = y0 + (y1 - y0) * i / 4
        parts.append(el("line", x1=_num(left), x2=_num(right), y1=_num(sy(value)), y2=_num(sy(value)), class_="grid"))
        parts.append(_text(left - 4, sy(value) + 4, f"{value:.3g}", anchor="end", cls="tick"))
    step = max(1, math.ceil((x1 - x0) / 10))
    tick = math.ceil(x0)
    while tick <= x1:
        parts.append(_text(sx(tick), plot_bottom + 14, f"{tick:g}", anchor="middle", cls="tick"))
        tick += step
    parts.append(el("line", x1=_num(left), x2=_num(right), y1=_num(plot_bottom), y2=_num(plot_bottom), class_="axis"))
    if x_label:
        parts.append(_text((left + right) / 2, plot_bottom + 28, x_label, anchor="middle", cls="axis-label"))
    if y_label:
        parts.append(_text(12, (top + plot_bottom) / 2, y_label, anchor="middle", cls="axis-label",
                           transform=f"rotate(-90 12 {_num((top + plot_bottom) / 2)})"))
    for s in series:
        path, pen_down = [], False
        for px, py in s.points:
            if py is None or not math.isfinite(py):
                pen_down = False
                continue
            path.append(f"{'L' if pen_down else 'M'}{_num(sx(px))} {_num(sy(py))}")
            pen_down = True
        if path:
            parts.append(el("path", el("title", s.label), d="".join(path), stroke=s.color, fill="none",
                            class_="line", stroke_dasharray="5 3" if s.dashed else None))
        for px, py in s.points:
            if py is not None and math.isfinite(py):
                parts.append(el("circle", el("title", f"{s.label}: {px:g}, {py:.4g}"), cx=_num(sx(px)),
                                cy=_num(sy(py)), r="2.5", fill=s.color))
    for i, s in enumerate(series):
        lx = 12 + (i % 2) * (width / 2)
        ly = height + (i // 2) * 16 + 6
        parts.append(el("line", x1=_num(lx), x2=_num(lx + 18), y1=_num(ly - 4), y2=_num(ly - 4), stroke=s.color,
                        class_="line", stroke_dasharray="5 3" if s.dashed else None))
        parts.append(_text(lx + 24, ly, s.label[:40]))
    return _svg(width, total_height, title, parts)


@dataclass(frozen=True)
class Interval:
    """One row of an interval chart: a value, an optional band and an optional threshold."""

    label: str
    value: float | None
    low: float | None
    high: float | None
    threshold: float | None
    color: str
    tooltip: str


def interval_chart(title: str, rows: Sequence[Interval], *, axis_label: str = "", width: float = 760) -> Markup:
    """Per row a shaded band (e.g. the baseline range), a threshold tick and the value's dot."""
    values = [v for r in rows for v in (r.value, r.low, r.high, r.threshold) if v is not None and math.isfinite(v)]
    if not values:
        return _svg(width, 40, title, _text(8, 24, f"{title}: no data"))
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.08 or 0.05
    lo, hi = lo - pad, hi + pad
    left = _label_width([r.label for r in rows])
    right, top, strip = width - 24, 26.0, 20.0
    bottom = top + strip * len(rows)

    def sx(v: float) -> float:
        return left + (v - lo) / (hi - lo) * (right - left)

    parts = [_text(left, 14, title, cls="chart-title")]
    for i in range(6):
        value = lo + (hi - lo) * i / 5
        parts.append(el("line", x1=_num(sx(value)), x2=_num(sx(value)), y1=_num(top), y2=_num(bottom), class_="grid"))
        parts.append(_text(sx(value), bottom + 14, f"{value:.3g}", anchor="middle", cls="tick"))
    for i, row in enumerate(rows):
        y = top + strip * i
        parts.append(_text(left - 6, y + strip / 2 + 4, row.label, anchor="end"))
        if row.low is not None and row.high is not None:
            parts.append(el("rect", el("title", f"baseline band {row.low:.4g} - {row.high:.4g}"),
                            x=_num(sx(row.low)), y=_num(y + 4), width=_num(max(1.0, sx(row.high) - sx(row.low))),
                            height=_num(strip - 8), class_="baseline"))
        if row.threshold is not None:
            tx = sx(row.threshold)
            parts.append(el("line", el("title", f"threshold {row.threshold:.4g}"), x1=_num(tx), x2=_num(tx),
                            y1=_num(y + 1), y2=_num(y + strip - 1), class_="threshold"))
        if row.value is not None and math.isfinite(row.value):
            parts.append(el("circle", el("title", row.tooltip), cx=_num(sx(row.value)), cy=_num(y + strip / 2),
                            r="5", fill=row.color, class_="dot"))
    if axis_label:
        parts.append(_text((left + right) / 2, bottom + 28, axis_label, anchor="middle", cls="axis-label"))
    return _svg(width, bottom + 36, title, parts)


def bar_chart(title: str, bars: Sequence[tuple[str, float, str, str]], *, axis_label: str = "",
              log: bool = False, width: float = 760) -> Markup:
    """Horizontal bars ``(label, value, color, tooltip)``; ``log`` for values spanning decades."""
    finite = [v for _, v, _, _ in bars if math.isfinite(v)]
    if not bars:
        return _svg(width, 40, title, _text(8, 24, f"{title}: no data"))
    left = _label_width([b[0] for b in bars])
    right, top, strip = width - 60, 26.0, 18.0
    bottom = top + strip * len(bars)
    if log:
        positive = [v for v in finite if v > 0] or [1.0]
        high = 10.0 ** math.ceil(math.log10(max(positive) * 1.0001))
        low = 0.5  # bars start below 1 so that 1 (ULP) is visible; 0 draws no bar

        def sx(v: float) -> float:
            if v <= 0:
                return left
            v = min(v, high)
            return left + (math.log10(v) - math.log10(low)) / (math.log10(high) - math.log10(low)) * (right - left)
        ticks = [t for t in log_ticks(1.0, high)]
    else:
        ticks = nice_ticks(max(finite + [0.0]))
        high = ticks[-1]

        def sx(v: float) -> float:
            return left + min(v, high) / high * (right - left)
    parts = [_text(left, 14, title, cls="chart-title")]
    for tick in ticks:
        parts.append(el("line", x1=_num(sx(tick)), x2=_num(sx(tick)), y1=_num(top), y2=_num(bottom), class_="grid"))
        parts.append(_text(sx(tick), bottom + 14, _fmt_tick(tick) if log else f"{tick:g}", anchor="middle",
                           cls="tick"))
    for i, (label, value, color, tooltip) in enumerate(bars):
        y = top + strip * i
        parts.append(_text(left - 6, y + strip / 2 + 4, label, anchor="end"))
        end = right if not math.isfinite(value) else sx(value)
        parts.append(el("rect", el("title", tooltip), x=_num(left), y=_num(y + 3), width=_num(max(0.0, end - left)),
                        height=_num(strip - 6), fill=color))
        shown = "∞" if not math.isfinite(value) else f"{value:.4g}"
        parts.append(_text(end + 4, y + strip / 2 + 4, shown, cls="tick"))
    if axis_label:
        parts.append(_text((left + right) / 2, bottom + 28, axis_label, anchor="middle", cls="axis-label"))
    return _svg(width, bottom + 36, title, parts)
