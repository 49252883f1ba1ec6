"""write_atomic: a reader sees the old or the new file, never a torn one."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from bnconform.reports.atomic import write_atomic


def test_replaces_content_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "results.json"
    write_atomic(target, "first")
    write_atomic(target, b"second")
    assert target.read_text() == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_a_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "results.json"
    write_atomic(target, '{"complete": true}')

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, '{"complete": fa')
    assert target.read_text() == '{"complete": true}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


_WRITER = """
import json, sys
from bnconform.reports.atomic import write_atomic
path = sys.argv[1]
big = "x" * 200_000
i = 0
while True:
    i += 1
    write_atomic(path, json.dumps({"i": i, "pad": big}))
    if i == 1:
        print("ready", flush=True)
"""


def test_sigkill_while_writing_leaves_a_complete_file(tmp_path):
    """Kill a process that rewrites a 200 kB file in a loop, several times at random moments."""
    target = tmp_path / "results.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_repo()), os.environ.get("PYTHONPATH")]))}
    for delay in (0.01, 0.037, 0.08):
        process = subprocess.Popen([sys.executable, "-c", _WRITER, str(target)], stdout=subprocess.PIPE, env=env)
        assert process.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        doc = json.loads(target.read_text())  # raises if torn
        assert doc["i"] >= 1 and len(doc["pad"]) == 200_000


def _repo():
    from pathlib import Path

    return Path(__file__).resolve().parents[2]


def test_permissions_follow_the_umask_not_mkstemp(tmp_path):
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "r.json", "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o644
