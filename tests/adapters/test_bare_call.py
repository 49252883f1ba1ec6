"""``Adapter.bare_call`` (the benchmark's bare framework call) computes what the adapter computes: the
same layer or compiled function on the same values, so its output y is bit for bit the adapter's, for
every op, mode and step count, and in float64 (JAX's scoped 64-bit mode) too.

The expected values are the adapter's own outputs: this checks the benchmark's baseline, not the
framework (the conformance properties do that).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bnconform import adapters
from bnconform import cases as C

TARGETS = [info.name for info in adapters.discover()]


def load(target):
    missing = adapters.get(target).missing()
    if missing:
        pytest.skip(f"{target}: {missing}")
    return adapters.load(target)


def as_float64(t) -> np.ndarray:
    if type(t).__module__.startswith("torch"):
        return t.detach().double().numpy()
    return np.asarray(t).astype(np.float64)


BN = C.BNCase(shape=(3, 4, 5, 2), axis=1, eps=1e-3, momentum=0.9, steps=3, x=C.Values(seed=3, loc=0.5))
BN_2D = C.BNCase(shape=(8, 3), axis=1, eps=0.01, momentum=0.5, steps=2, x=C.Values(seed=1, dist="uniform"))
CONV = C.ConvCase(x_shape=(2, 6, 7, 3), c_out=4, kernel=(3, 2), stride=(1, 2), bias=True, x=C.Values(seed=4), w_seed=2)
CONV_PADDED = C.ConvCase(x_shape=(1, 3, 5, 6), data_format="channels_first", c_out=2, kernel=(2, 3),
                         padding=((1, 0), (0, 2)), groups=1, x=C.Values(seed=6), w_seed=7)


def cases(adapter, dtype: str):
    """(prop, mode, case) for what the adapter offers in ``dtype``."""
    caps = adapter.capabilities
    out = []
    if dtype in caps.op_dtypes("batch_norm"):
        for base in (BN, BN_2D):
            bn = dataclasses.replace(base, dtype=dtype)
            for mode in caps.bn_modes:
                out.append(("bn_forward", mode, bn))
                if caps.bn_backward:
                    out.append(("bn_backward", mode, bn))
            out.append(("bn_moving_stats", "train", bn))
    if dtype in caps.op_dtypes("conv2d"):
        for conv in (CONV, CONV_PADDED):
            conv = dataclasses.replace(conv, dtype=dtype, bias=conv.bias and caps.conv_bias)
            if conv.data_format in caps.conv_data_formats and (
                isinstance(conv.padding, str) or "explicit" in caps.conv_paddings
            ):
                out.append(("conv2d", "-", conv))
    if dtype in caps.op_dtypes("pool2d"):
        for kind in caps.pool_kinds:
            window = (1, 1) if kind == "global_avg" else (2, 2)
            out.append(("pool2d", "-", C.PoolCase(kind=kind, x_shape=(2, 5, 6, 3), window=window, stride=window,
                                                  p=2.0, dtype=dtype, x=C.Values(seed=5, loc=1.0))))
    return [c for c in out if adapter.unsupported(c[2]) is None]


def adapter_y(adapter, prop, mode, case, inputs) -> np.ndarray:
    if case.op == "batch_norm":
        return adapter.bn(case, inputs, training=mode == "train", grads=prop == "bn_backward").y
    if case.op == "conv2d":
        return adapter.conv2d(case, inputs)
    return adapter.pool2d(case, inputs)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("target", TARGETS)
def test_bare_call_computes_the_adapters_output(target, dtype):
    adapter = load(target)
    todo = cases(adapter, dtype)
    if not todo:
        pytest.skip(f"{target} offers nothing in {dtype}")
    for prop, mode, case in todo:
        inputs = {"batch_norm": C.materialize_bn, "conv2d": C.materialize_conv,
                  "pool2d": C.materialize_pool}[case.op](case)
        expected = adapter_y(adapter, prop, mode, case, inputs)
        out = adapter.bare_call(prop, mode, case, inputs)()
        y = out[0] if isinstance(out, (tuple, list)) else out
        np.testing.assert_array_equal(as_float64(y), expected, err_msg=f"{target} {prop} {mode} {case.dumps()}")
