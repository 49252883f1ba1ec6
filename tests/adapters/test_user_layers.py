"""The ``--bn-impl`` adapters take production-sized inputs, in half precision too: the hand-written
copies of ``torch.nn.BatchNorm2d`` and ``keras.layers.BatchNormalization`` (``tests/bn_impl/``), on a
CIFAR-sized activation (32 images of 16x16 with 32 channels, 8192 values per feature), conform in
every property's check, including a call sequence with ``momentum=None`` for PyTorch.

Expected values are the reference's (``bnconform.checks``), as in the conformance properties.
"""

from __future__ import annotations

import dataclasses

import pytest

from bnconform import adapters
from bnconform import cases as C
from bnconform import checks

PRODUCTION = C.BNCase(shape=(32, 32, 16, 16), axis=1, eps=1e-3, momentum=0.1, steps=3,
                      x=C.Values(seed=5, loc=0.5, scale=2.0), params_seed=3)


@pytest.fixture
def registry(monkeypatch):
    """Register user classes in a copy of the adapter registry, dropped after the test."""
    monkeypatch.setattr(adapters, "_REGISTRY", dict(adapters._REGISTRY))
    monkeypatch.setattr(adapters, "_LOADED", dict(adapters._LOADED))

    def load(spec):
        from bnconform.adapters.user_impl import register_user_impl

        return adapters.load(register_user_impl(spec))

    return load


def assert_conforms(comparisons, what):
    failed = [c.message() for c in comparisons if not c.ok]
    assert not failed, f"{what}:\n" + "\n".join(failed)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
@pytest.mark.parametrize("spec, axis, momentum", [
    ("torch:tests.bn_impl.torch_bn:HandBatchNorm2d", 1, None),  # momentum=None: the cumulative average
    ("keras:tests.bn_impl.keras_bn:HandBatchNormalization", -1, 0.9),
])
def test_user_layers_take_production_sizes(registry, spec, axis, momentum, dtype):
    pytest.importorskip(spec.split(":")[0])
    if spec.startswith("keras:"):  # the Keras adapters' tests may have left Keras on another backend
        pytest.importorskip("tensorflow")
        from bnconform.adapters.keras_adapter import active_keras

        active_keras("tensorflow")
    adapter = registry(spec)
    shape = PRODUCTION.shape if axis == 1 else (32, 16, 16, 32)
    case = dataclasses.replace(PRODUCTION, shape=shape, axis=axis, dtype=dtype, momentum=momentum)
    assert adapter.unsupported(case) is None
    for mode in ("train", "inference"):
        assert_conforms(checks.check_bn_forward(adapter, dataclasses.replace(case, steps=1), mode), f"forward {mode}")
    assert_conforms(checks.check_bn_backward(adapter, dataclasses.replace(case, steps=1), "train"), "backward")
    assert_conforms(checks.check_bn_call_sequence(adapter, case, "train,inference,train"), "train, inference, train")
