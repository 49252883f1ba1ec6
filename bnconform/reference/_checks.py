"""Argument validation shared by the reference ops.

Every check raises ``ValueError`` whose message starts with the argument's name, so that a
caller who passed a bad value reads which one at the start of the line.
"""

from __future__ import annotations

import numbers

import numpy as np

DATA_FORMATS = ("channels_last", "channels_first")


def as_float64(name: str, value) -> np.ndarray:
    """``value`` as a float64 array; complex, object or string input is refused."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name}: expected a real numeric array, got dtype {arr.dtype}")
    return arr.astype(np.float64, copy=False)


def feature_axis(axis, ndim: int) -> int:
    """Normalize ``axis`` (the feature axis, negative allowed) for an ``ndim``-D input."""
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise ValueError(f"axis: expected an int, got {axis!r}")
    if ndim < 2:
        raise ValueError(f"x: expected at least 2 dimensions (batch and features), got {ndim}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis: {axis} is out of range for a {ndim}-D input")
    axis = int(axis) % ndim
    if axis == 0:
        raise ValueError("axis: 0 is the batch axis; the feature axis must be another one")
    return axis


def per_feature(name: str, value, n_features: int) -> np.ndarray:
    """A per-feature parameter: a vector of length ``n_features`` (or a scalar, broadcast)."""
    arr = as_float64(name, value)
    if arr.ndim == 0:
        return np.full(n_features, float(arr))
    if arr.shape != (n_features,):
        raise ValueError(
            f"{name}: expected shape ({n_features},) to match the feature axis, got {arr.shape}"
        )
    return arr


def non_negative(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name}: expected a finite real number, got {value!r}")
    if value < 0:
        raise ValueError(f"{name}: must be >= 0, got {value!r}")
    return float(value)


def momentum(value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
        raise ValueError(f"momentum: must be a number in [0, 1], got {value!r}")
    return float(value)


def data_format(value) -> str:
    if value not in DATA_FORMATS:
        raise ValueError(f"data_format: expected one of {DATA_FORMATS}, got {value!r}")
    return value


def positive_pair(name: str, value) -> tuple[int, int]:
    """An int or a pair of ints, each >= 1 (strides, dilations, window sizes)."""
    try:
        pair = (value, value) if isinstance(value, numbers.Integral) else tuple(value)
    except TypeError:  # a float or another non-iterable
        pair = ()
    if len(pair) != 2 or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1 for v in pair
    ):
        raise ValueError(f"{name}: expected a positive int or a pair of positive ints, got {value!r}")
    return int(pair[0]), int(pair[1])


def rank(name: str, arr: np.ndarray, ndim: int) -> None:
    if arr.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim} dimensions, got shape {arr.shape}")
