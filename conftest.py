"""Root conftest of the repository's own tests: pytester, the conformance plugin (its options, the
results plugin), and where the time goes."""

pytest_plugins = ["pytester", "bnconform.app.suite_plugin"]
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
