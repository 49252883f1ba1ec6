"""The report in a real headless browser (Debian's chromium): it loads from disk without console
errors or network requests, the rendered matrix shows the right counts, and a screenshot is made.

Skipped when no Chromium is installed, except in CI (``CI=true``), where that is a failure.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from bnconform.app.reports_cli import main_report

from .browser import find_chromium, load_page
from .demo import write_demo
from .pagetext import matrix_cells
from .screenshot import main as main_screenshot

CHROMIUM = find_chromium()
if CHROMIUM is None:
    if os.environ.get("CI") == "true":
        pytest.fail("Chromium is required in CI: install Debian's chromium (apt-get install -y chromium)",
                    pytrace=False)
    pytest.skip("Chromium not installed (apt-get install -y chromium); the browser checks need it",
                allow_module_level=True)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def demo_page(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    paths = write_demo(root)
    assert main_report([*map(str, paths), "-o", str(root / "site"),
                        "--known-deviations", str(root / "known_deviations.toml"), "--no-shipped-deviations"]) == 0
    return root / "site" / "index.html"


def test_report_loads_cleanly_and_shows_the_right_counts(demo_page, tmp_path):
    shot = tmp_path / "report.png"
    page = load_page(demo_page, executable=CHROMIUM, width=1200, height=800, screenshot=shot)
    assert page.problems() == []
    cells = matrix_cells(page.dom)
    assert len(cells) == 6 * 5  # six framework versions/backends, five op x mode columns
    # hand-counted from the demo's property table: 7 batch-norm train records per target
    assert cells[("torch213", "torch", "batch_norm · train")] == {"fail": 1, "pass": 6}
    assert cells[("torch212", "torch", "batch_norm · train")] == {"pass": 7}
    assert cells[("jax010", "flax-linen", "batch_norm · train")] == {"known-deviation": 1, "pass": 6}
    assert cells[("jax010", "keras-jax", "conv2d")] == {"pass": 4}
    assert cells[("tf221", "tf_keras", "pool2d (max)")] == {"pass": 1, "skip": 1}
    assert cells[("tf221", "keras-tensorflow", "batch_norm · inference")] == {"pass": 3}
    assert png_size(shot) == (1200, 800)


def test_console_errors_and_network_requests_are_caught(tmp_path):
    """The negative control: the checks above would see a broken page."""
    broken = tmp_path / "broken.html"
    broken.write_text('<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>'
                      '<script>console.error("bad thing"); missingFunction();</script>'
                      '<img src="http://192.0.2.1/pixel.png"></body></html>')
    problems = load_page(broken, executable=CHROMIUM).problems()
    assert "console error: bad thing" in problems
    assert any(p.startswith("uncaught exception: ReferenceError: missingFunction") for p in problems)
    assert "network request: http://192.0.2.1/pixel.png" in problems


def test_screenshot_command(demo_page, tmp_path, capsys):
    shot = tmp_path / "readme.png"
    assert main_screenshot([str(demo_page), str(shot), "--width", "1000", "--height", "700"]) == 0
    assert png_size(shot) == (1000, 700)
    assert main_screenshot([str(tmp_path / "absent.html"), str(shot)]) == 2
    assert "absent.html: no such file" in capsys.readouterr().err
