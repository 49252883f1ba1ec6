"""Each framework's batch-norm conventions, measured by probes (``bnconform.adapters.fingerprint``).

The fingerprint goes into the results file and the report's side-by-side table. The tests here
check that what each adapter declares (and what the other properties rely on) is what the probes
measure, and that a fresh layer starts where the paper and the course say it does.
"""

from __future__ import annotations

import numpy as np
import pytest

from bnconform.adapters.contract import lacks
from bnconform.adapters.fingerprint import conventions_example, disagreements, fingerprint
from bnconform import checks
from bnconform.compare import compare, worst

from .conftest import conformance, explain_or_fail


def _require_bn(adapter):
    """Skip, with the reason, an adapter without batch norm or without a default layer to probe."""
    if "batch_norm" not in adapter.capabilities.ops:
        pytest.skip(f"{adapter.name} does not offer batch_norm")
    if lacks(adapter, "bn_default"):
        pytest.skip(lacks(adapter, "bn_default"))


@conformance("conventions")
def test_declared_conventions_are_measured(target, mode, dtype, adapter, observe):
    """Momentum meaning, running-variance bias, default eps and default axis, as probed, equal the
    adapter's declaration; so does what a call with no training flag does, where it is declared
    (Keras: inference, the moving statistics left alone)."""
    _require_bn(adapter)
    found = fingerprint(adapter)
    observe.fingerprint(target, found)
    example = conventions_example(found)
    comparisons = checks.judge(example)
    observe.example(worst(comparisons))
    problems = disagreements(found)
    assert bool(problems) == (not all(c.ok for c in comparisons)), (problems, comparisons)  # one criterion
    if problems:  # a known deviation's model may explain exactly this disagreement
        explain_or_fail(observe, example, comparisons,
                        f"{target}: measured conventions differ from the declared ones:\n" + "\n".join(problems))


@conformance("bn_fresh_state")
def test_fresh_layer_state(target, mode, dtype, adapter, observe):
    """A fresh layer holds gamma 1, beta 0, moving mean 0, moving variance 1 (the course's worked
    example 1: Keras get_weights() of a new layer is [1,1,1], [0,0,0], [0,0,0], [1,1,1])."""
    _require_bn(adapter)
    state = adapter.bn_default(np.zeros((4, 3)), training=False).initial
    expected = {"gamma": 1.0, "beta": 0.0, "moving_mean": 0.0, "moving_var": 1.0}
    comparisons = [
        compare(getattr(state, k), np.full(3, v), 0.0, dtype=dtype, name=k) for k, v in expected.items()
    ]
    observe.example(max(comparisons, key=lambda c: c.max_ratio))
    failed = [c.message() for c in comparisons if not c.ok]
    assert not failed, "\n".join(failed)
