"""The hand-written charts: axes, edge cases, escaping."""

import math
import re

from bnconform.reports.svg import Point, Series, bar_chart, dot_strip_chart, line_chart, log_ticks, nice_ticks


def test_ticks():
    assert log_ticks(1e-3, 10.0) == [1e-3, 1e-2, 1e-1, 1.0, 10.0]
    assert nice_ticks(2886) == [0, 1000, 2000, 3000]
    assert nice_ticks(0.47) == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]


def circles(svg):
    return [(float(x), float(y)) for x, y in re.findall(r'<circle[^>]*cx="([\d.]+)" cy="([\d.]+)"', svg)]


def test_dot_strip_places_values_on_a_log_axis_and_keeps_extremes_visible():
    points = [Point(0, 0.01, "#000", "a"), Point(0, 1.0, "#000", "b"), Point(1, 100.0, "#000", "c"),
              Point(1, 0.0, "#000", "zero"), Point(1, math.inf, "#000", "infinite")]
    svg = dot_strip_chart("batch_norm", ["row one", "row two"], points)
    (x_small, y0), (x_one, _), (x_big, y1), (x_zero, _) = circles(svg)
    # 0.01, 1 and 100 are two decades apart each: equal distances on a log axis
    assert math.isclose(x_one - x_small, x_big - x_one, abs_tol=0.2)
    assert y1 > y0 and x_zero < x_small
    assert "<path" in svg and "<title>infinite</title>" in svg  # inf drawn as a cross, not dropped
    assert re.search(r'class="reference"', svg)
    ticks = re.findall(r'class="tick">([^<]+)<', svg)
    assert ticks[0] == "0" and ticks[1:4] == ["0.01", "0.1", "1"]  # the zero edge, then the decades


def test_labels_are_escaped():
    svg = bar_chart("<t>", [("<b>", 1.0, "#000", "<i>")])
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "&lt;t&gt;" in svg and "&lt;i&gt;" in svg


def test_line_chart_breaks_lines_at_missing_values():
    svg = line_chart("loss", [Series("s", [(1, 2.0), (2, None), (3, 1.0), (4, 0.5)], "#000")])
    (path,) = re.findall(r'<path[^>]*d="([^"]+)"', svg)
    assert path.count("M") == 2 and path.count("L") == 1
