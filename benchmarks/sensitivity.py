"""Detection thresholds: the smallest relative perturbation of an output that the suite catches.

For each op, output, dtype and size, the correctly rounded answer (the float64 reference rounded to
the dtype: an honest implementation) is scaled by (1 + delta), rounded to the dtype again, and judged
by ``checks.judge`` as a framework's output would be. The threshold is the smallest delta (to a
factor 2^(1/4), by bisection on log2 delta) that fails the judgement; the honest answer itself
(delta = 0) must conform. A uniform scale is the shape of most subtle bugs (a wrong eps, m - 1 for m,
a momentum off by a little); a random per-element error of the same size is caught at about the same
delta in float32 (the statistical tier) and later in half precision.

Run it (not a test):

    python -m benchmarks.sensitivity [--op bn_forward ...]
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from bnconform import reference as R
from bnconform import cases as C
from bnconform import checks, dtypes
from bnconform.checks import Example

DTYPES = ("float32", "float16", "bfloat16")


def _bn(shape, dtype):
    return C.BNCase(shape=shape, axis=-1, dtype=dtype, eps=1e-5, momentum=0.9,
                    x=C.Values(seed=0, loc=0.5, scale=1.5), params_seed=0)


def bn_forward(size, dtype):
    case = _bn({"small": (16, 3, 3, 4), "production": (16, 32, 32, 8)}[size], dtype)
    inputs = C.materialize_bn(case)
    _, _, _, y = checks.bn_reference(case, inputs, True)
    return lambda d: Example("bn_forward", case, inputs, "train", {"y": dtypes.round_to(y * (1 + d), dtype)})


def bn_backward(output):
    def make(size, dtype):
        case = _bn({"small": (16, 3, 3, 4), "production": (16, 32, 32, 8)}[size], dtype)
        inputs = C.materialize_bn(case)
        g = checks.bn_reference_grads(case, inputs, True)
        base = {k: dtypes.round_to(getattr(g, k), dtype) for k in ("dx", "dgamma", "dbeta")}
        return lambda d: Example("bn_backward", case, inputs, "train",
                                 dict(base, **{output: dtypes.round_to(getattr(g, output) * (1 + d), dtype)}))
    return make


def bn_moving_mean(size, dtype):
    case = _bn({"small": (16, 3, 3, 4), "production": (16, 32, 32, 8)}[size], dtype)
    inputs = C.materialize_bn(case)
    final = checks.reference_moving_stats(case, inputs, "keras")[-1]
    return lambda d: Example("bn_moving_stats", case, inputs, "train",
                             {"moving_mean": dtypes.round_to(final.mean * (1 + d), dtype),
                              "moving_var": dtypes.round_to(final.var, dtype)}, convention="keras")


def conv2d(size, dtype):
    case = (C.ConvCase(x_shape=(2, 8, 8, 6), c_out=4, kernel=(3, 3), bias=True, dtype=dtype) if size == "small" else
            C.ConvCase(x_shape=(2, 32, 32, 256), c_out=64, kernel=(3, 3), padding="same", bias=True, dtype=dtype))
    inputs = C.materialize_conv(case)
    y = R.conv2d(inputs.x, inputs.w, inputs.b, **case.conv_kwargs())
    return lambda d: Example("conv2d", case, inputs, "-", {"y": dtypes.round_to(y * (1 + d), dtype)})


def pool(kind):
    def make(size, dtype):
        shape = (2, 5, 7, 3) if size == "small" else (8, 32, 32, 64)
        case = C.PoolCase(kind=kind, x_shape=shape, window=(3, 3) if kind != "global_avg" else (1, 1),
                          stride=(2, 2) if kind != "global_avg" else (1, 1), dtype=dtype,
                          x=C.Values(seed=0, loc=0.5))
        x = C.materialize_pool(case)
        y, _ = checks.reference_pool(case, x)
        return lambda d: Example("pool2d", case, x, "-", {"y": dtypes.round_to(y * (1 + d), dtype)})
    return make


OPS = {
    "bn_forward y": bn_forward,
    "bn_backward dx": bn_backward("dx"),
    "bn_backward dgamma": bn_backward("dgamma"),
    "bn_moving_stats mean": bn_moving_mean,
    "conv2d y": conv2d,
    "avg_pool y": pool("avg"),
    "global_avg_pool y": pool("global_avg"),
}


def caught(example) -> bool:
    return not all(c.ok for c in checks.judge(example))


def threshold(make) -> float | None:
    """Smallest delta in [2^-40, 1] caught (to 2^(1/4)); None when even delta = 1 passes; nan when the
    honest answer fails."""
    if caught(make(0.0)):
        return float("nan")
    lo, hi = -40.0, 0.0  # log2 delta: lo not caught (assumed), hi caught
    if not caught(make(2.0**hi)):
        return None
    if caught(make(2.0**lo)):
        return 2.0**lo
    while hi - lo > 0.25:
        mid = (lo + hi) / 2
        if caught(make(2.0**mid)):
            hi = mid
        else:
            lo = mid
    return 2.0**hi


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--op", action="append", choices=sorted(OPS))
    args = parser.parse_args(argv)
    print(f"{'op / output':24s} {'size':11s} " + " ".join(f"{d:>10s} {'(/u)':>7s}" for d in DTYPES))
    for name in args.op or OPS:
        for size in ("small", "production"):
            cells = []
            for dtype in DTYPES:
                t = threshold(OPS[name](size, dtype))
                u = dtypes.unit_roundoff(dtype)
                cells.append("      none    none" if t is None else f"{t:10.2g} {t / u:7.3g}")
            print(f"{name:24s} {size:11s} " + " ".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
