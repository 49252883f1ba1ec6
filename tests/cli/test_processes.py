"""The process pool (bnconform.app.processes) and the run's progress events (bnconform.app.progress)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest

from bnconform.app import processes, progress

PY = sys.executable


def _exit_with(code: int) -> int:
    with processes.popen([PY, "-c", f"import sys; sys.exit({code})"]) as child:
        return child.wait()


def test_results_come_back_in_the_order_of_the_items():
    done = []
    codes = processes.run_each(_exit_with, [3, 0, 7, 1], parallel=2,
                               on_done=lambda item, code: done.append((item, code)))
    assert codes == [3, 0, 7, 1]
    assert sorted(done) == [(0, 0), (1, 1), (3, 3), (7, 7)]
    assert not processes._live


def test_parallel_must_be_positive():
    with pytest.raises(ValueError, match="parallel"):
        processes.run_each(_exit_with, [0], parallel=0)


def test_an_interrupt_stops_the_running_children():
    """A KeyboardInterrupt (here raised by one item, as Ctrl-C would be in the waiting thread)
    terminates the child still running and propagates; the pool is not left waiting for it."""
    started = threading.Event()
    children = []

    def item(kind: str) -> int:
        if kind == "sleep":
            with processes.popen([PY, "-c", "import time; time.sleep(600)"]) as child:
                children.append(child.process)
                started.set()
                return child.wait()
        started.wait()
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        processes.run_each(item, ["sleep", "interrupt"], parallel=2)
    assert children and children[0].returncode == -signal.SIGTERM
    assert not processes._live and not processes._stopping.is_set()


def test_a_timed_out_child_is_killed():
    with processes.popen([PY, "-c", "import time; time.sleep(600)"]) as child:
        with pytest.raises(subprocess.TimeoutExpired):
            child.wait(timeout=0.5)
    assert child.process.returncode == -signal.SIGKILL


TESTS = '''
import pytest

@pytest.fixture
def broken():
    raise RuntimeError("setup fails")

def test_a(): pass
def test_b(): pass
def test_c(): assert False
def test_d(broken): pass

@pytest.mark.skip(reason="skipped")
def test_e(): pass

def test_f():  # leaves a process behind that inherits what it may: it must not hold the pipe open
    import os, subprocess, sys
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], close_fds=False)
    open(os.environ["LEFT_BEHIND"], "w").write(str(child.pid))
'''


def test_the_plugin_reports_total_done_and_failed(tmp_path):
    """Six tests: three pass, one fails, one errors in setup, one is skipped: 6 of 6 done, 2 failed;
    pytest's own output is untouched; a process a test leaves behind does not keep the parent
    reading."""
    (tmp_path / "test_sample.py").write_text(TESTS)
    read_end, write_end = os.pipe()
    left_behind = tmp_path / "left_behind.pid"
    env = dict(os.environ, **{progress.ENV: str(write_end)}, LEFT_BEHIND=str(left_behind),
               PYTHONPATH=os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")])))
    proc = subprocess.Popen([PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "bnconform.app.progress",
                             str(tmp_path / "test_sample.py")], cwd=tmp_path, env=env, pass_fds=(write_end,),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        counts = progress.follow(pipe, "sample", enabled=False)
    pid = int(left_behind.read_text())
    try:
        os.kill(pid, 0)  # still running when the parent stopped reading: it did not wait for it
    finally:
        os.kill(pid, signal.SIGKILL)
    output = proc.communicate()[0].decode()
    assert proc.returncode == 1
    assert (counts.total, counts.done, counts.failed) == (6, 6, 2)
    assert counts.text() == "6 of 6 tests, 2 failed"
    assert "total" not in output and "1 failed, 3 passed, 1 skipped, 1 error" in output


def test_bars_only_on_a_terminal_outside_ci(monkeypatch):
    class Tty:
        def isatty(self):
            return True

    monkeypatch.delenv("CI", raising=False)
    assert progress.wanted(None, Tty()) is True
    assert progress.wanted(None, object()) is False  # a log file or pipe
    monkeypatch.setenv("CI", "true")
    assert progress.wanted(None, Tty()) is False
    assert progress.wanted(True, object()) is True  # --progress
    monkeypatch.delenv("CI")
    assert progress.wanted(False, Tty()) is False  # --no-progress
