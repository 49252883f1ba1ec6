"""Progress of ``bnconform run``: per framework family, tests done of total, failures so far,
elapsed time (a ``tqdm`` bar on stderr).

Each family's pytest process loads this module as a plugin (``-p bnconform.app.progress``) and, when
``$BNCONFORM_PROGRESS_FD`` names a pipe the parent passed it, writes one line per event to it:
``total N`` once collected, then ``pass`` or ``fail`` per finished test (``fail``: a failure or an
error in any of its phases), and ``end`` as pytest finishes (the parent stops reading there, or at
the end of the pipe if the process dies first). The parent reads the pipe in the thread that waits for that process
(:func:`follow`), so pytest's own output (``pytest.log``) is unchanged and nothing polls.

The bars are drawn only when wanted (:func:`wanted`): on a terminal and not under ``CI=true``,
unless ``--progress`` / ``--no-progress`` says otherwise; logs stay clean. The counts are
gathered either way and go into the family's ``done`` line.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

ENV = "BNCONFORM_PROGRESS_FD"


def wanted(asked: bool | None = None, stream=None) -> bool:
    """Draw progress bars? ``asked`` (``--progress``/``--no-progress``) if given; else only on a
    terminal and not in CI (``$CI`` set to true/1/yes)."""
    if asked is not None:
        return asked
    stream = sys.stderr if stream is None else stream
    in_ci = os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")
    return bool(getattr(stream, "isatty", lambda: False)()) and not in_ci


# -- the child's side: a pytest plugin ------------------------------------------------------------

_failed: dict[str, bool] = {}


def _emit(line: str) -> None:
    fd = os.environ.get(ENV)
    if not fd:
        return
    try:
        os.write(int(fd), (line + "\n").encode())
    except (OSError, ValueError):  # the parent went away or the variable is not ours: no progress
        pass


def pytest_configure(config) -> None:
    fd = os.environ.get(ENV)
    if fd and fd.isdigit():  # for this process only: a subprocess a test starts must not hold the pipe open
        try:
            os.set_inheritable(int(fd), False)
        except OSError:
            pass


def pytest_unconfigure(config) -> None:
    _emit("end")


def pytest_collection_finish(session) -> None:
    _emit(f"total {len(session.items)}")


def pytest_runtest_logreport(report) -> None:
    _failed[report.nodeid] = _failed.get(report.nodeid, False) or report.failed
    if report.when == "teardown":
        _emit("fail" if _failed.pop(report.nodeid) else "pass")


# -- the parent's side -----------------------------------------------------------------------------

@dataclass
class Counts:
    total: int | None = None
    done: int = 0
    failed: int = 0

    def text(self) -> str:
        of = f" of {self.total}" if self.total is not None else ""
        return f"{self.done}{of} tests, {self.failed} failed"


def follow(pipe, name: str, *, enabled: bool, stream=None) -> Counts:
    """Read the events of one family's pytest process from ``pipe`` (a binary file, read to EOF)
    and draw them as a ``tqdm`` bar named ``name`` when ``enabled``; the final counts."""
    from tqdm import tqdm

    counts = Counts()
    bar = tqdm(desc=name, unit="test", file=sys.stderr if stream is None else stream,
               disable=not enabled, dynamic_ncols=True, leave=True,
               bar_format="{desc}: {n_fmt}/{total_fmt} tests {bar}{postfix} [{elapsed}]")
    bar.set_postfix_str("0 failed", refresh=False)
    try:
        for raw in pipe:
            event = raw.decode(errors="replace").split()
            if not event:
                continue
            if event[0] == "end":
                break
            if event[0] == "total" and len(event) == 2 and event[1].isdigit():
                counts.total = int(event[1])
                bar.total = counts.total
                bar.refresh()
            elif event[0] in ("pass", "fail"):
                counts.done += 1
                counts.failed += event[0] == "fail"
                bar.set_postfix_str(f"{counts.failed} failed", refresh=False)
                bar.update(1)
    finally:
        bar.close()
    return counts


def say(text: str, *, bars: bool) -> None:
    """A line on stdout that does not tear the bars (``tqdm.write`` while they are drawn)."""
    if bars:
        from tqdm import tqdm

        tqdm.write(text, file=sys.stdout)
    else:
        print(text, flush=True)
