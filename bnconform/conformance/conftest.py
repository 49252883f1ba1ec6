"""Shared plumbing of the conformance properties: targets, the adapter fixture, one example's run.

Every property is parametrized over ``target`` (an adapter name), ``dtype`` and ``mode``; dtypes,
modes, pooling kinds, the op recorded and the strategy drawn come from the property's row in
``bnconform.properties``: the generic tests (:func:`every_row`) run every row, a probe's test names
its row with :func:`conformance`. A target
whose framework is not installed, or a dtype/op it does not offer, is skipped with the reason, which
the results file and the report show. A target whose framework is installed but does not load
(``bnconform.adapters.Broken``: its import or its adapter's factory raised) is not skipped: every one of its
tests ends in ``error`` naming the exception. The targets asked for (``--target``,
``BNCONFORM_TARGETS``, ``--bn-impl``) are recorded as the run's declared targets (``run.targets``).
"""

from __future__ import annotations

import os
import shlex

import pytest
from hypothesis import assume

from bnconform import adapters
from bnconform.adapters import kernel_paths
from bnconform.adapters.contract import lacks
from bnconform import checks, compare, explanation, properties
from bnconform.engines import kernels
from bnconform.dtypes import DTYPES

_ROW = "bnconform_property"  # the attributes :func:`conformance` puts on a test function
_DTYPES = "bnconform_dtypes"
_EVERY_ROW = "bnconform_every_row"  # the attribute :func:`every_row` puts on a test function


def every_row(*, production: bool = False):
    """Make the decorated test run every row of the table that draws cases (``production=True``:
    every row run at production size, ``Property.production_kinds``, in ``PRODUCTION_DTYPES``): the
    parameters ``prop`` (the row), ``kind``, ``dtype`` and ``mode``, each combination marked
    ``bnconform`` with its property, op and kind (:func:`row_params`)."""
    def decorate(fn):
        setattr(fn, _EVERY_ROW, {"production": production})
        return fn

    return decorate


def row_params(*, production: bool = False) -> list:
    """``pytest.param(row, kind, dtype, mode)`` for every row and its kinds, dtypes and modes, in
    table order, with ids ``property[-kind]-dtype-mode``."""
    params = []
    for row in properties.TABLE:
        if row.strategy is None:
            continue
        kinds = row.production_kinds() if production else (row.kinds or (None,))
        dtypes = properties.PRODUCTION_DTYPES if production else row.dtypes
        for kind in kinds:
            marker = pytest.mark.bnconform(property=row.name, op=row.op, **({} if kind is None else {"kind": kind}))
            for dtype in dtypes:
                for mode in row.modes:
                    ident = "-".join([row.name, *([kind] if kind else []), dtype, mode])
                    params.append(pytest.param(row, kind, dtype, mode, marks=marker, id=ident))
    return params


def conformance(name: str, *, kinds: tuple[str, ...] | None = None, dtypes: tuple[str, ...] | None = None):
    """Make the decorated test check the property ``name`` of the table: the ``bnconform`` marker
    (property, op, and for pooling the kind, one parameter per kind: ``kinds``, a subset of the
    row's, else all of them); the ``dtype`` (``dtypes``, else the row's) and ``mode`` parameters
    (:func:`pytest_generate_tests`); the ``prop`` fixture is the row."""
    row = properties.get(name)
    chosen = row.kinds if kinds is None else tuple(kinds)
    if not set(chosen) <= set(row.kinds) or (row.kinds and not chosen):
        raise ValueError(f"conformance({name!r}): kinds {chosen} are not a non-empty subset of {row.kinds}")

    def mark(kind=None):
        return pytest.mark.bnconform(property=row.name, op=row.op, **({} if kind is None else {"kind": kind}))

    def decorate(fn):
        setattr(fn, _ROW, row)
        setattr(fn, _DTYPES, row.dtypes if dtypes is None else tuple(dtypes))
        if not chosen:
            return mark()(fn)
        return pytest.mark.parametrize("kind", [pytest.param(k, marks=mark(k), id=k) for k in chosen])(fn)

    return decorate


@pytest.fixture
def prop(request) -> properties.Property:
    """The row of the property the test checks (see :func:`conformance`)."""
    row = getattr(request.function, _ROW, None)
    if row is None:
        raise pytest.UsageError(f"{request.node.nodeid}: the 'prop' fixture needs @conformance(NAME)")
    return row


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
    every = getattr(metafunc.function, _EVERY_ROW, None)
    if every is not None:
        metafunc.parametrize(("prop", "kind", "dtype", "mode"), row_params(**every))
        return
    row = getattr(metafunc.function, _ROW, None)
    if "dtype" in metafunc.fixturenames and not _parametrized(metafunc, "dtype"):
        metafunc.parametrize("dtype", getattr(metafunc.function, _DTYPES, DTYPES))
    if row is not None and "mode" in metafunc.fixturenames and not _parametrized(metafunc, "mode"):
        metafunc.parametrize("mode", row.modes)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item):
    """Hypothesis derives a parametrized test's derandomized examples from its node id, which
    depends on the rootdir (``bnconform run``, tox and a plain ``pytest`` name the same test
    differently). The key is set to what the test checks instead: the same examples whichever way
    the suite is run. (Hypothesis's plugin sets its key in a wrapper around this hook.)"""
    marker = item.get_closest_marker("bnconform")
    inner = getattr(getattr(getattr(item, "obj", None), "hypothesis", None), "inner_test", None)
    callspec = getattr(item, "callspec", None)
    if marker is None or inner is None or callspec is None:
        return
    params = callspec.params
    key = "|".join(str(part) for part in (
        item.originalname, marker.kwargs.get("property"), marker.kwargs.get("kind"),
        params.get("target"), params.get("dtype"), params.get("mode")))
    inner._hypothesis_internal_add_digest = key.encode()


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


@pytest.fixture(scope="session")
def _covered() -> set:
    """The targets whose coverage this session has recorded."""
    return set()


@pytest.fixture
def adapter(request, target, observe, _covered):
    """The loaded adapter; a skip only when its framework is not installed. ``bnconform.adapters.Broken``
    (installed, but the import or the factory raised) propagates: the test is an ``error``. The first
    time a target is asked for, what it offers on this machine (its capabilities and every run-time
    probe, or why it cannot load) goes into the results file, so two runs of the same versions that
    tested different things say so (the report's coverage view). A kernel configuration
    (``--kernels``) that did not take effect for the target's engine skips the test with the
    measured reason (``bnconform.adapters.kernel_paths``)."""
    try:
        loaded = adapters.load(target)
    except adapters.Unavailable as e:
        if target not in _covered:
            _covered.add(target)
            observe.coverage(target, {"available": False, "reason": str(e)})
        pytest.skip(str(e))
    except adapters.Broken as e:
        if target not in _covered:
            _covered.add(target)
            observe.coverage(target, {"available": False, "reason": str(e)})
        raise
    path = adapters.kernels_of(target)
    if target not in _covered:
        _covered.add(target)
        observe.coverage(target, {**loaded.coverage(), **({"kernels": path} if path else {})})
    if path is not None and not path["honoured"]:  # the switch asked for did not take effect here
        pytest.skip(path["reason"])
    marker = request.node.get_closest_marker("bnconform")
    row = properties.PROPERTIES.get(marker.kwargs.get("property")) if marker else None
    if row is not None and row.needs and row.op in loaded.capabilities.ops and lacks(loaded, row.needs):
        # the property's optional call (its row's ``needs``); the capability's reason first, where the row has one
        pytest.skip(row.requires(loaded) or lacks(loaded, row.needs))
    return loaded


def require(adapter, op: str, dtype: str, mode: str | None = None) -> None:
    """Skip, with the reason, what the adapter does not offer (``mode`` None or ``-``: any)."""
    caps = adapter.capabilities
    if op not in caps.ops:
        pytest.skip(f"{adapter.name} does not offer {op}")
    if dtype not in caps.op_dtypes(op):
        pytest.skip(f"{adapter.name} does not offer {dtype} for {op}")
    if mode not in (None, "-") and op == "batch_norm" and mode not in caps.bn_modes:
        pytest.skip(f"{adapter.name} does not offer batch norm in {mode} mode")
    refusal = adapter.dtype_refusal(op, dtype)
    if refusal:
        pytest.skip(refusal)


def require_property(adapter, prop: properties.Property, dtype: str, mode: str | None = None,
                     kind: str | None = None) -> None:
    """:func:`require` for the row's op, then the pooling ``kind``, then what the row itself needs
    (``Property.requires``): each missing one a skip with the reason."""
    require(adapter, prop.op, dtype, mode)
    if kind is not None and kind not in adapter.capabilities.pool_kinds:
        pytest.skip(f"{adapter.name} does not offer {kind} pooling")
    reason = prop.requires(adapter)
    if reason:
        pytest.skip(reason)


def check_drawn(prop: properties.Property, observe, adapter, data, dtype: str, mode: str,
                kind: str | None = None) -> None:
    """One Hypothesis example of ``prop``: skip what the adapter does not offer, draw an example from
    the row (``Property.example``: a case, and for a call sequence its calls), run and judge it."""
    require_property(adapter, prop, dtype, mode, kind)
    case, mode = prop.example(data, adapter, dtype, mode, kind)
    run_example(observe, adapter, prop.name, case, mode)


def replay_command(target: str, prop: str, mode: str, case) -> str:
    """The command that re-runs one example, under the same kernel configuration (``--kernels``)."""
    config = kernel_paths.selected()
    option = "" if config == kernels.DEFAULT else f" --kernels {config}"
    return f"python -m bnconform replay {target} {prop} {mode} {shlex.quote(case.dumps())}{option}"


def run_example(observe, adapter, prop: str, case, mode: str) -> None:
    """One Hypothesis example: run the adapter once, judge its outputs against the reference, record
    the errors; a failing example is either explained by a known deviation's model (and the property
    goes on checking) or fails with a replayable report. An exception the run raised is an error,
    unless a candidate entry's crash model predicts this crash for this case (the same decision,
    :func:`bnconform.explanation.decide`): then it counts as that known deviation, with its line."""
    reason = adapter.unsupported(case)
    if reason is not None:
        observe.unsupported(reason)
    assume(reason is None)
    replay = replay_command(adapter.name, prop, mode, case)
    try:
        example = checks.run(prop, adapter, case, mode)
    except Exception as exc:  # the framework raised: an error, unless a crash model predicts exactly this crash
        row = properties.PROPERTIES.get(prop)  # None: the suite refused an unknown property; that error stands
        crash = None if row is None else explanation.Crash(prop, row.check, case, mode, exc)
        decision = explanation.decide(crash, observe.known_deviations()) if crash else explanation.Decision(())
        if decision.explained_by is not None:  # a known crash: counted, and the property goes on checking
            observe.explained_crash(decision.explained_by.entry.id, crash.line)
            return
        observe.failing_case(case.to_json(), replay)
        if decision.attempts:
            exc.add_note("known deviations that match this test but not this crash (an error):\n"
                         + "\n".join(f"  {attempt.describe()}" for attempt in decision.attempts))
        raise
    comparisons = checks.judge(example)
    observe.example(compare.worst(comparisons))
    if all(c.ok for c in comparisons):
        return
    fw = adapter.describe()
    context = (
        f"property {prop} | target {adapter.name} ({fw['framework']} {fw['version']}"
        + (f", backend {fw['backend']}" if fw.get("backend") else "")
        + f") | mode {mode} | dtype {case.dtype}\n"
        f"case: {case.dumps()}\n"
        f"replay: {replay}"
    )
    explain_or_fail(observe, example, comparisons, context, case_json=case.to_json(), replay=replay)


def explain_or_fail(observe, example, comparisons, context: str, *, case_json=None, replay=None) -> None:
    """A failing example: return if a candidate entry's model explains it (counted with
    ``observe.explained``), else raise the failure, listing each candidate and why it did not explain.
    The decision is :func:`bnconform.explanation.decide`, the one ``bnconform replay`` prints; the
    reference comparison was already observed, so the record still shows how far the framework is
    from the reference."""
    decision = explanation.decide(example, observe.known_deviations())
    if decision.explained_by is not None:
        observe.explained(decision.explained_by.entry.id, decision.explained_by.against)
        return
    observe.failing_case(case_json, replay)
    if decision.attempts:
        context += ("\nknown deviations that match this test but not this example (a NEW FAILURE):\n"
                    + "\n".join(f"  {attempt.describe()}" for attempt in decision.attempts))
    compare.assert_all_within(comparisons, context)
