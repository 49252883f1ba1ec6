"""JAX compiles once per (shapes, dtype, static configuration): a repeated case, or one that differs
only in values, eps or momentum, must not compile again. Compilations are counted through JAX's own
monitoring event (``bnconform.adapters.jax_common.count_compiles``), not by timing.

Each test uses shapes off the strategies' menus, so that its first call is a real first call even
after the conformance suite ran in the same process; the first call is asserted to compile, which
shows the counter sees compilations at all.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("flax")

from bnconform.adapters import flax_adapter as F  # noqa: E402
from bnconform.adapters import jax_adapter as J  # noqa: E402
from bnconform.adapters import jax_common  # noqa: E402
from bnconform import cases as C  # noqa: E402


def compiles(fn) -> list[str]:
    with jax_common.count_compiles() as names:
        fn()
    return names


def test_counter_sees_a_compilation_and_only_inside_its_block():
    f = jax.jit(lambda x: x * 3.0 + 1.0)
    with jax_common.count_compiles() as names:
        f(np.ones((7, 11), np.float32))
    assert names == ["jit(<lambda>)"]
    f(np.ones((11, 7), np.float32))  # compiles, but outside the block
    assert names == ["jit(<lambda>)"]


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
def test_conv_compiles_once(dtype):
    adapter = J.load()
    case = C.ConvCase(x_shape=(1, 7, 9, 5), c_out=5, kernel=(2, 3), stride=(2, 1), dilation=(1, 2),
                      padding=((1, 0), (0, 2)), groups=5, dtype=dtype)
    assert compiles(lambda: adapter.conv2d(case, C.materialize_conv(case)))
    other = dataclasses.replace(case, x=C.Values(seed=5, dist="uniform", loc=2.0), w_seed=9)
    assert compiles(lambda: adapter.conv2d(other, C.materialize_conv(other))) == []


@pytest.mark.parametrize("kind", ["max", "global_avg"])
def test_jax_pool_compiles_once(kind):
    adapter = J.load()
    case = C.PoolCase(kind=kind, x_shape=(3, 1, 7, 11), data_format="channels_first", window=(1, 1)
                      if kind == "global_avg" else (2, 3), stride=(1, 2), padding="same" if kind == "max" else "valid")
    assert compiles(lambda: adapter.pool2d(case, C.materialize_pool(case)))
    other = dataclasses.replace(case, x=C.Values(seed=3, scale=4.0))
    assert compiles(lambda: adapter.pool2d(other, C.materialize_pool(other))) == []


APIS = ("linen", "nnx")


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("mode", ["train", "inference"])
@pytest.mark.parametrize("grads", [False, True])
def test_batch_norm_compiles_once_whatever_eps_and_momentum(api, mode, grads):
    adapter = F.FlaxAdapter(api)
    # a shape of its own for each parametrization, so that its first call is a first call in any order
    features = 5 + 4 * APIS.index(api) + 2 * (mode == "train") + grads
    case = C.BNCase(shape=(3, features, 2, 5), axis=1, eps=1e-3, momentum=0.9, steps=2)
    assert compiles(lambda: adapter.bn(case, C.materialize_bn(case), training=mode == "train", grads=grads))
    other = dataclasses.replace(case, eps=0.37, momentum=0.123, x=C.Values(seed=8, loc=3.0), params_seed=4)
    assert compiles(lambda: adapter.bn(other, C.materialize_bn(other), training=mode == "train", grads=grads)) == []


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_linen_pool_compiles_once(kind):
    adapter = F.load_linen()
    case = C.PoolCase(kind=kind, x_shape=(2, 7, 11, 3), window=(3, 2), stride=(2, 2), padding=((1, 1), (0, 1)),
                      count_include_pad=kind == "avg")
    assert compiles(lambda: adapter.pool2d(case, C.materialize_pool(case)))
    other = dataclasses.replace(case, x=C.Values(seed=2, dist="ints"))
    assert compiles(lambda: adapter.pool2d(other, C.materialize_pool(other))) == []
