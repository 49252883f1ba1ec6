"""Floating-point formats the suite checks, and the numbers that describe them.

A format with p significand bits (counting the implicit one) has unit roundoff u = 2**-p: every
real number in its normal range rounds to the nearest representable value with relative error at
most u (Higham, "Accuracy and Stability of Numerical Algorithms", 2nd ed., Section 2.1).

    float16   p = 11   u = 2**-11 ~ 4.9e-4
    bfloat16  p = 8    u = 2**-8  ~ 3.9e-3
    float32   p = 24   u = 2**-24 ~ 6.0e-8
    float64   p = 53   u = 2**-53 ~ 1.1e-16
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

DTYPES = ("float16", "bfloat16", "float32", "float64")
HALF = ("float16", "bfloat16")


def check(name: str) -> str:
    if name not in DTYPES:
        raise ValueError(f"dtype: expected one of {DTYPES}, got {name!r}")
    return name


def numpy_dtype(name: str) -> np.dtype:
    """The NumPy dtype of a format (bfloat16 from ``ml_dtypes``)."""
    return np.dtype(ml_dtypes.bfloat16) if check(name) == "bfloat16" else np.dtype(name)


def finfo(name: str):
    return ml_dtypes.finfo(numpy_dtype(name))


def unit_roundoff(name: str) -> float:
    """u = 2**-p, half the machine epsilon."""
    return float(finfo(name).eps) / 2.0


def smallest_normal(name: str) -> float:
    return float(finfo(name).smallest_normal)


def largest(name: str) -> float:
    return float(finfo(name).max)


def accumulation_dtype(name: str) -> str:
    """The precision reductions are expected to accumulate in (see ``bnconform.tolerance``)."""
    return "float32" if check(name) in HALF else name


def round_to(values, name: str) -> np.ndarray:
    """Round to the nearest value of the format, returned as float64 (exactly representable)."""
    return np.asarray(values, np.float64).astype(numpy_dtype(name)).astype(np.float64)


def ulp(values, name: str) -> np.ndarray:
    """The spacing of the format at each value: 2**(e - p + 1) for |x| in [2**e, 2**(e+1)).

    Below the normal range the spacing is the subnormal step; at 0 it is the subnormal step too.
    """
    info = finfo(name)
    p = int(info.nmant) + 1
    x = np.abs(np.asarray(values, np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        e = np.floor(np.log2(np.where(x > 0, x, 1.0)))
    e = np.where(x > 0, np.maximum(e, float(info.minexp)), float(info.minexp))
    return np.ldexp(1.0, (e - p + 1).astype(int))
