"""The drift corpus (``bnconform.corpus``): fixed cases every run computes, so that the report can
show how far each op's output moved between two framework versions, in ULPs. Each output is also
checked against the reference, like any example."""

from __future__ import annotations

import pytest

from bnconform import cases as C
from bnconform import checks, compare
from bnconform.corpus import corpus

from .conftest import conformance


def _output(adapter, mode: str, case):
    with adapter.placed():  # on the run's device (bnconform.adapters.device), like every property
        return _run(adapter, mode, case)


def _run(adapter, mode: str, case):
    if case.op == "batch_norm":
        inputs = C.materialize_bn(case)
        return adapter.bn(case, inputs, training=mode == "train").y
    if case.op == "conv2d":
        return adapter.conv2d(case, C.materialize_conv(case))
    return adapter.pool2d(case, C.materialize_pool(case))


_CHECK = {"batch_norm": checks.check_bn_forward, "conv2d": checks.check_conv2d, "pool2d": checks.check_pool2d}


@conformance("drift_corpus")
def test_drift_corpus(target, mode, dtype, adapter, observe):
    """Record the corpus outputs for the version comparison; every one conforms to the reference."""
    cases = corpus(adapter.capabilities)
    if not cases:
        pytest.skip(f"{adapter.name} offers no op of the corpus")
    failures = []
    for label, case_mode, case in cases:
        observe.drift(target, label, case.to_json(), _output(adapter, case_mode, case), case.dtype,
                      device=adapter.device_record())
        comparisons = _CHECK[case.op](adapter, case, case_mode)
        observe.example(compare.worst(comparisons))
        failures += [f"{label}: {c.message()}" for c in comparisons if not c.ok]
    assert not failures, "\n\n".join(failures)
