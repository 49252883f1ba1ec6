"""Shared plumbing of the conformance properties: targets, the adapter fixture, one example's run.

Every property is parametrized over ``target`` (an adapter name), ``mode`` and ``dtype``. A target
whose framework is not installed, or a dtype/op it does not offer, is skipped with the reason, which
the results file and the report show. A target whose framework is installed but does not load
(``adapters.Broken``: its import or its adapter's factory raised) is not skipped: every one of its
tests ends in ``error`` naming the exception. The targets asked for (``--target``,
``BNCONFORM_TARGETS``, ``--bn-impl``) are recorded as the run's declared targets (``run.targets``).
"""

from __future__ import annotations

import os
import shlex

import pytest
from hypothesis import assume

import adapters
from bnconform import compare
from bnconform.dtypes import DTYPES

MODES = ("train", "inference")


def all_targets() -> list[str]:
    return [info.name for info in adapters.discover()]


def _env_targets() -> list[str]:
    """``BNCONFORM_TARGETS=torch,torch-functional``: the default of --target (tox sets it per env)."""
    return [t.strip() for t in os.environ.get("BNCONFORM_TARGETS", "").split(",") if t.strip()]


def declared_targets(config) -> list[str] | None:
    """The targets this run was asked for (``--target``, else ``BNCONFORM_TARGETS``, else
    ``--bn-impl``'s), or None when none was named (every target is then parametrized)."""
    return (config.getoption("--target") or _env_targets()
            or getattr(config, "_bnconform_user_targets", None) or None)


def pytest_generate_tests(metafunc):
    if "target" in metafunc.fixturenames:
        chosen = declared_targets(metafunc.config) or selected_targets(metafunc.config)
        unknown = sorted(set(chosen) - set(all_targets()) - set(selected_targets(metafunc.config)))
        if unknown:
            raise pytest.UsageError(f"--target: unknown adapter(s) {', '.join(unknown)}; known: {', '.join(all_targets())}")
        metafunc.parametrize("target", chosen)
    if "dtype" in metafunc.fixturenames and not _parametrized(metafunc, "dtype"):
        metafunc.parametrize("dtype", DTYPES)


def _parametrized(metafunc, name: str) -> bool:
    return any(name in m.args[0] for m in metafunc.definition.iter_markers("parametrize"))


def selected_targets(config) -> list[str]:
    """Hook for --bn-impl (a user's layer replaces the framework adapters)."""
    user = getattr(config, "_bnconform_user_targets", None)
    return user if user else all_targets()


def pytest_collection_modifyitems(config, items):
    """Run each target's tests together: Keras switches backend once per group, not per test."""
    order = {name: i for i, name in enumerate(all_targets())}

    def key(item):
        callspec = getattr(item, "callspec", None)
        target = callspec.params.get("target") if callspec else None
        return (target is not None, order.get(target, len(order)) if target else 0)

    items.sort(key=key)
    declared = declared_targets(config)
    plugin = config.pluginmanager.get_plugin("bnconform-results")
    if declared and plugin is not None:
        plugin.declare_targets(declared)


@pytest.fixture
def adapter(target):
    """The loaded adapter; a skip only when its framework is not installed. ``adapters.Broken``
    (installed, but the import or the factory raised) propagates: the test is an ``error``."""
    try:
        return adapters.load(target)
    except adapters.Unavailable as e:
        pytest.skip(str(e))


def require(adapter, op: str, dtype: str, mode: str | None = None) -> None:
    """Skip, with the reason, what the adapter does not offer."""
    caps = adapter.capabilities
    if op not in caps.ops:
        pytest.skip(f"{adapter.name} does not offer {op}")
    if dtype not in caps.op_dtypes(op):
        pytest.skip(f"{adapter.name} does not offer {dtype} for {op}")
    if mode is not None and op == "batch_norm" and mode not in caps.bn_modes:
        pytest.skip(f"{adapter.name} does not offer batch norm in {mode} mode")
    refusal = adapter.dtype_refusal(op, dtype)
    if refusal:
        pytest.skip(refusal)


def replay_command(target: str, prop: str, mode: str, case) -> str:
    return f"python -m bnconform replay {target} {prop} {mode} {shlex.quote(case.dumps())}"


def run_example(observe, adapter, prop: str, check, case, mode: str) -> None:
    """One Hypothesis example: check, record the errors, and fail with a replayable report."""
    reason = adapter.unsupported(case)
    if reason is not None:
        observe.unsupported(reason)
    assume(reason is None)
    comparisons = check(adapter, case, mode)
    observe.example(compare.worst(comparisons))
    if not all(c.ok for c in comparisons):
        replay = replay_command(adapter.name, prop, mode, case)
        observe.failing_case(case.to_json(), replay)
        fw = adapter.describe()
        context = (
            f"property {prop} | target {adapter.name} ({fw['framework']} {fw['version']}"
            + (f", backend {fw['backend']}" if fw.get("backend") else "")
            + f") | mode {mode} | dtype {case.dtype}\n"
            f"case: {case.dumps()}\n"
            f"replay: {replay}"
        )
        compare.assert_all_within(comparisons, context)
