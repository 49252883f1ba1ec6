"""Small helpers shared by the variant modules (parameter checks, the batch-norm properties)."""

from __future__ import annotations

from ..dtypes import DTYPES

BN_STATISTICS_PROPERTIES = ("bn_forward", "bn_forward_adversarial", "bn_backward", "bn_moving_stats", "bn_call_sequence")
POOL_PROPERTIES = ("pool2d", "pool2d_nonfinite", "pool2d_lp_odd_p", "pool2d_lp_ceil_mode")


def is_dtype(value) -> bool:
    return isinstance(value, str) and value in DTYPES


def is_dtype_or_none(value) -> bool:
    return value is None or is_dtype(value)


DTYPE_WORDS = f"one of {', '.join(DTYPES)}"
