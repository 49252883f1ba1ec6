"""The torch adapter reuses PyTorch's BatchNorm modules per (rank, features, dtype): a reused module
must behave as the module a user constructs for the case, whatever ran on it before (other eps and
momentum, momentum=None counting batches, accumulated gradients, the other mode), and results must
not share memory with it. Expected values come from a fresh adapter (a module constructed for the
case), never from the reused one.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from bnconform.adapters import torch_adapter as T  # noqa: E402
from bnconform import cases as C  # noqa: E402

BASE = C.BNCase(shape=(3, 4, 5, 2), axis=1, eps=1e-3, momentum=0.1, steps=3, x=C.Values(seed=3, loc=0.5))
SEQUENCE = [
    BASE,
    dataclasses.replace(BASE, momentum=None, eps=0.2, params_seed=1),  # cumulative average: counts batches
    dataclasses.replace(BASE, momentum=None, steps=2, x=C.Values(seed=9, scale=3.0)),
    dataclasses.replace(BASE, momentum=0.7, steps=1, random_params=False),
    dataclasses.replace(BASE, dtype="float64", momentum=None, params_seed=5),
    dataclasses.replace(BASE, dtype="bfloat16", momentum=0.3),
    C.BNCase(shape=(8, 4), axis=1, eps=1e-5, momentum=None, steps=4, x=C.Values(seed=2, dist="ints")),
    C.BNCase(shape=(8, 4), axis=1, eps=0.5, momentum=0.25, steps=2, x=C.Values(seed=4)),
]
CALLS = [(mode, grads) for mode in ("train", "inference") for grads in (False, True)]


def run(adapter, case, mode, grads):
    return adapter.bn(case, C.materialize_bn(case), training=mode == "train", grads=grads)


def assert_same(got, expected, what):
    for field, a, b in zip(got._fields, got, expected):
        if b is None:
            assert a is None, f"{what}: {field}"
        else:
            np.testing.assert_array_equal(a, b, err_msg=f"{what}: {field}")


@pytest.mark.parametrize("functional", [False, True])
def test_a_reused_module_computes_what_a_new_one_does(functional):
    reused = T.TorchAdapter(functional=functional)
    for _ in range(2):  # the second pass runs every case on modules that ran all the others
        for case in SEQUENCE:
            if case.momentum is None and not reused.conventions.momentum_none:  # F.batch_norm: a float
                continue
            for mode, grads in CALLS:
                expected = run(T.TorchAdapter(functional=functional), case, mode, grads)
                assert_same(run(reused, case, mode, grads), expected, f"{mode} grads={grads} {case.dumps()}")
    if not functional:  # one module per (rank, features, dtype), reused
        assert len(reused._modules) == len({(len(c.shape), c.n_features, c.dtype) for c in SEQUENCE})


def test_results_do_not_share_memory_with_the_reused_module():
    adapter = T.load()
    case = dataclasses.replace(BASE, dtype="float64")  # float64: a tensor's numpy() would be a view
    first = run(adapter, case, "train", True)
    kept = [None if a is None else a.copy() for a in first]
    run(adapter, dataclasses.replace(case, params_seed=7, x=C.Values(seed=8, loc=-2.0)), "train", True)
    assert_same(first, type(first)(*kept), "first result after a second run")


def test_a_class_other_than_pytorchs_is_constructed_for_every_case():
    built = []

    class Mine(torch.nn.BatchNorm2d):  # a --bn-impl class may read its arguments at construction only
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append(kwargs)

    class UserAdapter(T.TorchAdapter):
        def make_bn(self, rank, num_features, **kwargs):
            return Mine(num_features, **kwargs)

    adapter = UserAdapter()
    for case in SEQUENCE[:3]:
        run(adapter, case, "train", False)
    assert [b["eps"] for b in built] == [c.eps for c in SEQUENCE[:3]]
    assert adapter._modules == {}


def test_bare_call_runs_every_step_on_the_module_the_adapter_uses():
    adapter = T.load()
    case = SEQUENCE[1]  # momentum=None: the statistics depend on every step and its count
    inputs = C.materialize_bn(case)
    expected = adapter.bn(case, inputs, training=True)
    adapter.bare_call("bn_moving_stats", "train", case, inputs)()
    (bn, _), = adapter._modules.values()
    np.testing.assert_array_equal(T.numpy(bn.running_mean), expected.moving_mean)
    np.testing.assert_array_equal(T.numpy(bn.running_var), expected.moving_var)
    assert int(bn.num_batches_tracked) == case.steps
