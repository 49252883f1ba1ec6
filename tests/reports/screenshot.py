"""``python -m tests.reports.screenshot INDEX_HTML OUT_PNG``: the README screenshot of a report.

Opens the page in headless Chromium (:mod:`tests.reports.browser`), prints every console error or
network request the page made, and writes the PNG. Exit 0 clean, 1 if the page logged errors or
touched the network, 2 on bad input. Test tooling: it lives under ``tests/``, not in the
``reports`` package, which renders without a browser.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from .browser import BrowserError, find_chromium, load_page

PROG = "python -m tests.reports.screenshot"
USAGE_ERROR = 2


def _error(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return USAGE_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """Open a report in headless Chromium, check the console, write a PNG."""
    parser = argparse.ArgumentParser(prog=PROG, description="Screenshot a report page with headless Chromium "
                                     "(fails if the page logs console errors or touches the network).")
    parser.add_argument("page", metavar="INDEX_HTML")
    parser.add_argument("png", metavar="OUT_PNG")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=860)
    parser.add_argument("--full-page", action="store_true", help="capture the whole page, not the first screen")
    parser.add_argument("--chromium", default=None, help="browser executable (default: $CHROMIUM or chromium)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse's usage error (2) or --help (0)
        return int(exc.code or 0)
    page = Path(args.page)
    if not page.is_file():
        return _error(f"{page}: no such file")
    executable = args.chromium or find_chromium()
    if executable is None:
        return _error("no Chromium found (install Debian's chromium, or pass --chromium / set $CHROMIUM)")
    try:
        loaded = load_page(page, executable=executable, width=args.width, height=args.height,
                           screenshot=Path(args.png), full_page=args.full_page)
    except BrowserError as exc:
        return _error(str(exc))
    for problem in loaded.problems():
        print(f"{PROG}: {problem}", file=sys.stderr)
    print(f"{args.png}: screenshot of {page}")
    return 1 if loaded.problems() else 0


if __name__ == "__main__":
    sys.exit(main())
