"""Root conftest of the repository's own tests: pytester, the conformance plugin (its options, the
results plugin), the tests spread over the CPUs (pytest-xdist), and where the time goes."""

from __future__ import annotations

import os
from collections import OrderedDict

import pytest

pytest_plugins = ["pytester", "bnconform.app.suite_plugin"]


def pytest_runtest_setup(item):
    """torch imported before a ``pytester`` test's in-process run, where it is installed. pytester
    restores ``sys.modules`` after each run, so a torch the run imported (the results plugin reads the
    version of a fake suite's target ``torch`` by importing it) is dropped from ``sys.modules`` while
    its libraries stay loaded, and the next ``import torch`` in that process fails (``SystemError:
    ... bad call flags``, measured in a worker that ran tests/reports/test_plugin.py and then
    tests/models/test_planted_bugs.py). Imported before the snapshot, it is kept."""
    if "pytester" in getattr(item, "fixturenames", ()):
        import importlib.util

        if importlib.util.find_spec("torch") is not None:
            import torch  # noqa: F401

# -- the tests on every CPU: pytest-xdist, one worker per CPU --------------------------------------
#
# `python -m pytest` (the README's command, CI's) runs on as many worker processes as this process
# may use CPUs, without an option: set here rather than in `addopts`, because pyproject.toml's
# configuration is also read where xdist is absent or must not apply: the tox environments (the
# conformance suite on one framework, no dev extra), and the pytest processes that tests start from the
# repository root (`--bn-impl` runs, the planted-bug runs), which run in one process each. An explicit
# `-n N` (`-n 0`: one process) or `--dist MODE` wins; `-p no:xdist` turns it off.
#
# Work is handed out a file at a time (a module's fixtures, a session fixture used by one file and
# the results files such fixtures write are then in one worker), with three refinements:
# `tests/cli/test_bn_impl_variants.py` per framework (two long runs of the planted-bug matrix), the
# conformance suite per target (Keras switches backend once per target in each worker), and the files
# of SPLIT (independent tests, each a process of its own, no shared fixture) a test at a time. The longest
# work units go first (HEAVY), so that no worker is left with a long one at the end.

#: work units known to take minutes, longest first (tests/cli/test_bn_impl_variants.py's per
#: framework); a wrong entry only costs speed
HEAVY = (
    "tests/cifar/test_quick.py",
    "tests/cli/test_bn_impl_variants.py[keras]",
    "tests/cli/test_bn_impl_variants.py[torch]",
    "tests/cli/test_bn_impl.py",
    "tests/cifar/test_determinism.py",
    "tests/blobs/test_ci.py",
    "tests/cifar/test_parity.py",
)


#: files whose tests are independent of each other (no module or session fixture that computes
#: something): handed out a test at a time
SPLIT = ("tests/cli/test_bn_impl.py",)


def _started_by_a_test() -> bool:
    """A pytest process that a test of this suite started (pytest sets ``PYTEST_CURRENT_TEST`` while a
    test runs; xdist sets ``PYTEST_XDIST_WORKER`` in its workers): it runs in one process."""
    return "PYTEST_CURRENT_TEST" in os.environ or "PYTEST_XDIST_WORKER" in os.environ


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """Before xdist reads its options (this initial conftest's hook runs before the plugin's)."""
    if not config.pluginmanager.hasplugin("xdist") or _started_by_a_test():
        return
    opt = config.option
    if opt.collectonly or opt.usepdb:
        return
    if opt.numprocesses is None and opt.dist == "no" and not opt.tx:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        if cpus < 2:
            return
        opt.numprocesses = cpus
    if opt.dist == "no" and (opt.numprocesses or opt.tx):  # also for a bare -n N: never xdist's "load"
        opt.dist = "loadfile"


def _conformance_targets() -> list[str]:
    from bnconform import adapters

    return [info.name for info in adapters.discover()]


def work_unit(nodeid: str, targets=None) -> str:
    """The work unit of a test: its file; a framework of ``test_bn_impl_variants.py``; a target of the
    conformance suite."""
    path, _, rest = nodeid.partition("::")
    param = rest[rest.find("[") + 1:-1] if rest.endswith("]") and "[" in rest else None
    if path in SPLIT:
        return nodeid
    if path == "tests/cli/test_bn_impl_variants.py" and param:
        return f"{path}[{param}]"
    if path.startswith("bnconform/conformance/") and param:
        for target in sorted(targets if targets is not None else _conformance_targets(), key=len, reverse=True):
            if param == target or param.startswith(target + "-"):
                return f"bnconform/conformance[{target}]"
    return path


def _rank(unit: str) -> int:
    """A work unit's place in HEAVY (a test of a SPLIT file: its file's); len(HEAVY) if not there."""
    file = unit.partition("::")[0].split("[", 1)[0]
    return min(HEAVY.index(u) if u in HEAVY else len(HEAVY) for u in (unit, file))


class HeaviestFirst(OrderedDict):
    """xdist's queue of work units, whose next one handed out (``popitem(last=False)``) is the first of
    the heaviest (HEAVY), then in xdist's order. (The queue, not the collections, is reordered: a
    worker's collection is indexed by position.)"""

    def popitem(self, last=True):
        if last or not self:
            return super().popitem(last)
        unit = min(self, key=_rank)  # the first of equals
        return unit, self.pop(unit)


@pytest.hookimpl(optionalhook=True)  # a hook of xdist's: pytest without xdist (tox) must not refuse it
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    targets = _conformance_targets()

    class Scheduling(LoadFileScheduling):
        def __init__(self, config, log=None):
            super().__init__(config, log)
            self.workqueue = HeaviestFirst()

        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid, targets)

    return Scheduling(config, log)


# -- where the time goes: wall time per part of the suite, in the terminal summary -------------------

_PART_SECONDS: dict[str, float] = {}


def _part(nodeid: str) -> str:
    """``tests/cifar`` for ``tests/cifar/test_quick.py::...``; the file itself for a top-level test."""
    path = nodeid.split("::", 1)[0]
    parts = path.split("/")
    return "/".join(parts[:2]) if len(parts) > 2 else path


def pytest_runtest_logreport(report):
    # setup, call and teardown: a session fixture's work (CIFAR-10 training) counts where it ran
    _PART_SECONDS[_part(report.nodeid)] = _PART_SECONDS.get(_part(report.nodeid), 0.0) + report.duration


def pytest_terminal_summary(terminalreporter):
    if not _PART_SECONDS:
        return
    parts = sorted(_PART_SECONDS.items(), key=lambda kv: -kv[1])
    terminalreporter.write_line(
        "time by part (setup + call + teardown, s): " + ", ".join(f"{name} {sec:.0f}" for name, sec in parts))
