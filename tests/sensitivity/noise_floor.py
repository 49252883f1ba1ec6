"""Honest rounding noise, for the detection thresholds of docs/sensitivity.md: how far the honest NumPy variants
(``matrix.HONEST``, ``matrix.POOL_HONEST``) are from the float64 reference, measured the way a
uniform relative scale (1 + delta) of the output would show:

- y, dx: per feature, the least-squares relative scale of the error, sum(e y) / sum(y^2);
- dgamma and the moving mean (one number per feature): the relative error |e| / |value|;
- average and global average pooling: the relative scale shared by all outputs.

Each is the largest over the features and the variants, in units of the dtype's u. The threshold over
this ratio is how far the model is above honest noise (docs/sensitivity.md).

Run it (not a test; a few seconds):

    python -m tests.sensitivity.noise_floor
"""

from __future__ import annotations

import numpy as np

from bnconform import checks, dtypes

from . import matrix as M

DTYPES = ("float32", "float16", "bfloat16")


def _scale(err, ref) -> float:
    e = np.moveaxis(err, -1, 0).reshape(err.shape[-1], -1)
    r = np.moveaxis(ref, -1, 0).reshape(ref.shape[-1], -1)
    return float(np.max(np.abs((e * r).sum(1) / (r * r).sum(1))))


def _relative(err, ref) -> float:
    return float(np.max(np.abs(err) / np.abs(ref)))


def bn_noise(size: str, dtype: str) -> dict[str, tuple[float, str]]:
    """output -> (largest error in u, the variant that made it)."""
    u = dtypes.unit_roundoff(dtype)
    worst: dict[str, tuple[float, str]] = {}

    def keep(key, value, name):
        if value / u > worst.get(key, (-1.0, ""))[0]:
            worst[key] = (value / u, name)

    for name, impl in M.HONEST.items():
        ex = M.example("forward", impl, dtype, size)
        _, _, _, y = checks.bn_reference(ex.case, ex.inputs, True)
        keep("bn_forward y", _scale(ex.outputs["y"] - y, y), name)
        ex = M.example("backward", impl, dtype, size)
        g = checks.bn_reference_grads(ex.case, ex.inputs, True)
        keep("bn_backward dx", _scale(ex.outputs["dx"] - g.dx, g.dx), name)
        keep("bn_backward dgamma", _relative(ex.outputs["dgamma"] - g.dgamma, g.dgamma), name)
        ex = M.example("moving", impl, dtype, size)
        final = checks.reference_moving_stats(ex.case, ex.inputs, "keras")[-1]
        keep("bn_moving_stats mean", _relative(ex.outputs["moving_mean"] - final.mean, final.mean), name)
    for kind, label in (("avg", "avg_pool y"), ("global_avg", "global_avg_pool y")):
        for name, impl in M.POOL_HONEST.items():
            ex = M.pool_example(kind, impl, dtype, size)
            y, _ = checks.reference_pool(ex.case, ex.inputs)
            e, r = (ex.outputs["y"] - y).reshape(-1), y.reshape(-1)
            keep(label, abs(float(np.dot(e, r) / np.dot(r, r))), name)
    return worst


def main() -> int:
    print(f"{'output':24s} {'size':11s} " + " ".join(f"{d:>22s}" for d in DTYPES))
    table = {(size, dtype): bn_noise(size, dtype) for size in M.SHAPES for dtype in DTYPES}
    for output in table[("small", "float32")]:
        for size in M.SHAPES:
            cells = [table[(size, dtype)][output] for dtype in DTYPES]
            print(f"{output:24s} {size:11s} " + " ".join(f"{v:7.3g} u {n[:12]:>12s}" for v, n in cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
