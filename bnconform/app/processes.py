"""Subprocesses ``N`` at a time: the one process pool of ``bnconform run`` and the CIFAR-10 and
two-blob harnesses.

A framework family's pytest run, a training worker: each runs in its own process (Keras fixes its
backend at import, a crash must not take the others down). :func:`run_each` calls a function on
every item in a :class:`concurrent.futures.ThreadPoolExecutor` of ``parallel`` threads; the
function starts its process with :func:`popen` and waits for it (reading its output as it comes),
so the threads only wait and nothing polls. Results come back in the order of the items.

Interrupted (Ctrl-C, or any exception escaping the wait), every child started by :func:`popen`
that is still running is terminated (killed if it has not exited ``GRACE`` seconds later), the
items not yet started are cancelled, and the exception propagates once the threads have returned.
"""

from __future__ import annotations

import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Callable, Iterable, TypeVar

T = TypeVar("T")
R = TypeVar("R")

GRACE = 5.0  # seconds a terminated child has to exit before it is killed

_live: set[subprocess.Popen] = set()
_lock = threading.Lock()
_stopping = threading.Event()  # set while an interrupted run_each stops its children


class Interrupted(RuntimeError):
    """A child was about to start while an interrupted :func:`run_each` stops the others."""


class Child:
    """A started subprocess (``subprocess.Popen(command, **options)``), registered so that an
    interrupted :func:`run_each` can stop it; use as a context manager, or call :meth:`wait`."""

    def __init__(self, command: list[str], **options):
        if _stopping.is_set():
            raise Interrupted(f"not started: {command[0]}")
        self.process = subprocess.Popen(command, **options)
        with _lock:
            _live.add(self.process)
        if _stopping.is_set():  # the interrupt came while it started
            _stop(self.process)
            raise Interrupted(f"stopped: {command[0]}")

    def wait(self, timeout: float | None = None) -> int:
        """The exit code (``subprocess.TimeoutExpired`` after ``timeout`` s, the child then killed)."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        finally:
            if self.process.returncode is not None:
                with _lock:
                    _live.discard(self.process)

    def __enter__(self) -> "Child":
        return self

    def __exit__(self, *exc) -> None:
        if self.process.returncode is None and exc[0] is not None:
            _stop(self.process)
        with _lock:
            _live.discard(self.process)


def popen(command: list[str], **options) -> Child:
    """Start ``command`` (keyword arguments as for ``subprocess.Popen``) as a registered child."""
    return Child(command, **options)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=GRACE)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def stop_all() -> None:
    """Terminate (then kill) every registered child still running."""
    with _lock:
        running = list(_live)
    for process in running:
        _stop(process)


def run_each(function: Callable[[T], R], items: Iterable[T], *, parallel: int = 1,
             on_done: Callable[[T, R], None] | None = None) -> list[R]:
    """``[function(item) for item in items]``, ``parallel`` at a time; ``on_done(item, result)`` is
    called in this thread as each finishes (in the order they finish). An exception raised by
    ``function`` propagates after the children are stopped; catch it inside ``function`` to keep
    the others' results."""
    if parallel < 1:
        raise ValueError(f"parallel must be >= 1, got {parallel}")
    items = list(items)
    pool = ThreadPoolExecutor(max_workers=parallel)
    futures = {pool.submit(function, item): index for index, item in enumerate(items)}
    try:
        for future in as_completed(futures):
            result = future.result()
            if on_done is not None:
                on_done(items[futures[future]], result)
        return [future.result() for future in futures]
    except BaseException:
        _stopping.set()
        for future in futures:
            future.cancel()
        stop_all()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _stopping.clear()
