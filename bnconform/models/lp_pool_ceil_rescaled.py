"""lp_pool_ceil_rescaled: Lp pooling whose ceil-mode border windows are scaled up (a reference model).

Mechanism: ``torch.nn.functional.lp_pool2d`` is ``avg_pool2d(x^p) * (kh * kw)`` followed by the p-th
root (torch/nn/functional.py). In ``ceil_mode`` a border window overhangs the input, and avg_pool2d
divides it by the number of positions it covers, not by kh * kw; multiplying back by kh * kw scales
that window's sum by kh * kw / covered: y = (kh * kw / covered * sum |x|^p)^(1/p) (e.g. sqrt(3/2)
for p = 2 and a 3x1 window covering 2). Full windows are unchanged.

Tolerance: the standard Lp-pooling bound (``tolerance.pool2d``) on the model's output; the extra
division and product are two more roundings within its 4 u.
"""

from __future__ import annotations

import numpy as np

from bnconform.reference import windows

from .. import checks
from ..compare import compare
from . import NotModelled

NAME = "lp_pool_ceil_rescaled"
REPLACES = "reference"
CHECKS = (checks.POOL2D,)
PARAMS: dict = {}


def lp_pool_rescaled(x, p: float, window, stride, *, padding, ceil_mode, data_format) -> np.ndarray:
    xc = windows.to_nchw(np.asarray(x, np.float64), data_format)
    plans = windows.plan(xc.shape[2:], window, stride, (1, 1), padding, ceil_mode)
    win = windows.extract(xc, window, stride, (1, 1), plans)
    powered = np.where(win.is_data, np.abs(win.values) ** p, 0.0).sum(axis=(-2, -1))
    covered = win.is_inside.sum(axis=(-2, -1))
    y = (powered * (window[0] * window[1]) / covered) ** (1.0 / p)
    return windows.from_nchw(y, data_format)


def judge(example: checks.Example) -> list:
    case = example.case
    if case.kind != "lp":
        raise NotModelled(f"model {NAME!r} models Lp pooling, not {case.kind}")
    x = example.inputs
    y = lp_pool_rescaled(x, float(case.p), case.window, case.stride, padding=case.padding,
                         ceil_mode=case.ceil_mode, data_format=case.data_format)
    _, kwargs = checks.reference_pool(case, x)
    tol = checks.pool_tolerance(case, x, y, kwargs)
    return [compare(example.outputs["y"], y, tol, dtype=case.dtype, name="y")]
