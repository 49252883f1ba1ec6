"""The sensitivity matrix: planted bugs and honest variants of batch norm, judged by the suite.

``example(kind, impl, dtype, size)`` runs ``numpy_bn`` on a case's inputs and returns the
``checks.Example`` that ``checks.judge`` judges, exactly as a framework's outputs would be.
"""

from __future__ import annotations

import numpy as np

from bnconform import cases as C
from bnconform import checks
from bnconform.checks import Example

from . import numpy_bn as nb
from .numpy_bn import Impl

SHAPES = {"small": (16, 3, 3, 4), "production": (16, 32, 32, 8)}  # m = 144 and 16,384 values per feature
EPS = 1e-5
MOMENTUM = 0.9


def case(kind: str, dtype: str, size: str, seed: int = 0, values: C.Values | None = None) -> C.BNCase:
    return C.BNCase(shape=SHAPES[size], axis=-1, dtype=dtype, eps=EPS, momentum=MOMENTUM,
                    x=values or C.Values(seed=seed, loc=0.5, scale=1.5), params_seed=seed)


def example(kind: str, impl: Impl, dtype: str, size: str, seed: int = 0, values: C.Values | None = None) -> Example:
    """kind: "forward", "backward" or "moving" (keras convention for "moving", torch for "moving-torch");
    ``values``: the input's distribution (default loc 0.5, scale 1.5)."""
    c = case(kind, dtype, size, seed, values)
    inputs = C.materialize_bn(c)
    x = inputs.xs[-1]
    if kind == "forward":
        y, _, _ = nb.forward_train(x, inputs.gamma, inputs.beta, c.eps, c.axis, dtype, impl)
        return Example("bn_forward", c, inputs, "train", {"y": y})
    if kind == "backward":
        dx, dgamma, dbeta = nb.backward_train(inputs.dy, x, inputs.gamma, c.eps, c.axis, dtype, impl)
        return Example("bn_backward", c, inputs, "train", {"dx": dx, "dgamma": dgamma, "dbeta": dbeta})
    convention = "torch" if kind == "moving-torch" else "keras"
    mm, mv = nb.moving_stats(inputs.xs, inputs.moving_mean, inputs.moving_var, c.momentum, c.axis, dtype, impl,
                             convention=convention)
    return Example("bn_moving_stats", c, inputs, "train", {"moving_mean": mm, "moving_var": mv},
                   convention=convention)


def verdict(kind: str, impl: Impl, dtype: str, size: str, seed: int = 0, values: C.Values | None = None):
    """(conforms, the comparisons)."""
    comparisons = checks.judge(example(kind, impl, dtype, size, seed, values))
    return all(c.ok for c in comparisons), comparisons


HONEST = {
    "pairwise": Impl(),
    "sequential": Impl(sum="sequential"),
    "blocked": Impl(sum="blocked"),
    "float64 accumulation": Impl(sum="float64"),
    "welford": Impl(variance="welford"),
    "chan blocked merge": Impl(variance="chan"),
    "folded affine": Impl(folded=True),
}

PLANTED = {  # name: (kind, impl)
    "eps 1e-3 instead of 1e-5": ("forward", Impl(eps=1e-3)),
    "n-1 in the normalization": ("forward", Impl(unbiased_norm=True)),
    "inputs rounded to TF32": ("forward", Impl(tf32=True)),
    "half-precision accumulation": ("forward", Impl(half_acc=True, sum="sequential")),
    "chan merge without between-block term": ("forward", Impl(variance="chan", chan_no_between=True)),
    "backward divides by m-1": ("backward", Impl(backward_m1=True)),
    "momentum off by 1%": ("moving", Impl(momentum_scale=1.01)),
    "biased running variance (torch)": ("moving-torch", Impl(biased_running=True)),
    "running stats through float16": ("moving", Impl(running_f16=True)),
}


# -- pooling -------------------------------------------------------------------------------------

from bnconform import dtypes as _dtypes  # noqa: E402

from . import numpy_pool as npool  # noqa: E402
from .numpy_pool import PoolImpl  # noqa: E402

POOL_SHAPES = {"small": (2, 5, 7, 3), "production": (8, 32, 32, 64)}  # global: k = 35 and 1,024 values
POOL_KINDS = ("avg", "global_avg")


def pool_case(kind: str, dtype: str, size: str, seed: int = 0, values: C.Values | None = None) -> C.PoolCase:
    window, stride = ((3, 3), (2, 2)) if kind == "avg" else ((1, 1), (1, 1))
    return C.PoolCase(kind=kind, x_shape=POOL_SHAPES[size], window=window, stride=stride, dtype=dtype,
                      x=values or C.Values(seed=seed, loc=0.5, scale=1.5))


def pool_example(kind: str, impl: PoolImpl, dtype: str, size: str, seed: int = 0,
                 values: C.Values | None = None) -> Example:
    c = pool_case(kind, dtype, size, seed, values)
    x = C.materialize_pool(c)
    y = npool.pool(x, kind, dtype, impl, window=c.window, stride=c.stride)
    return Example("pool2d", c, x, "-", {"y": y})


def pool_verdict(kind: str, impl: PoolImpl, dtype: str, size: str, seed: int = 0, values: C.Values | None = None):
    comparisons = checks.judge(pool_example(kind, impl, dtype, size, seed, values))
    return all(c.ok for c in comparisons), comparisons


POOL_HONEST = {
    "pairwise": PoolImpl(),
    "sequential": PoolImpl(sum="sequential"),
    "blocked": PoolImpl(sum="blocked"),
    "float64 accumulation": PoolImpl(sum="float64"),
    "sequential, times the rounded 1/k": PoolImpl(sum="sequential", reciprocal=True),
}

POOL_PLANTED = {  # name: (kind, impl)
    "avg divisor k + 1": ("avg", PoolImpl(divisor_offset=1)),
    "global divisor H*W - 1": ("global_avg", PoolImpl(divisor_offset=-1)),
    "avg scaled by 1 + 1e-4": ("avg", PoolImpl(scale=1 + 1e-4)),
    "global scaled by 1 + 1e-4": ("global_avg", PoolImpl(scale=1 + 1e-4)),
    "global accumulated in half precision": ("global_avg", PoolImpl(sum="sequential", half_acc=True)),
}
