"""Hypothesis strategies for the reference proofs.

Shapes, hyper-parameters and a seed are drawn by Hypothesis; the arrays are then built with
``numpy.random.default_rng(seed)`` (cheap, any size), or, for small adversarial inputs, drawn element by
element with ``hypothesis.extra.numpy.arrays`` from a pool of awkward values (repeats that make constant
channels, zeros, a large offset against a small spread, mixed signs). Everything shrinks towards small
shapes, seed 0 and the plain normal generator.

Values stay within [1e-3, 1e3] in magnitude (or are 0): subnormal and overflowing intermediates are not
what these tests are about, and the float64 error model of ``tol64`` assumes neither happens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

SEEDS = st.integers(0, 2**32 - 1)
AWKWARD = st.one_of(
    st.sampled_from([0.0, 1.0, -1.0, 0.5, 1e3, -1e3, 1e3 + 0.125]),
    st.floats(1e-3, 1e3),
    st.floats(-1e3, -1e-3),
)
EPS = st.sampled_from([1e-3, 1e-5, 0.1, 1.0, 0.0])


@st.composite
def values(draw, shape, *, locs=(0.0, 1.0, -3.0, 1e3), scales=(1.0, 1e-3, 0.5, 1e2), awkward=True):
    """A float64 array: seeded normal(loc, scale), or (if ``awkward``) Hypothesis-drawn awkward values."""
    if awkward and draw(st.booleans()):
        return draw(hnp.arrays(np.float64, shape, elements=AWKWARD))
    rng = np.random.default_rng(draw(SEEDS))
    return rng.normal(draw(st.sampled_from(locs)), draw(st.sampled_from(scales)), shape)


def normal(seed: int, shape, loc: float = 0.0, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(loc, scale, shape)


# ----------------------------------------------------------------------------------------------------
# batch normalization


@dataclass(frozen=True)
class BNCase:
    x: np.ndarray
    gamma: np.ndarray
    beta: np.ndarray
    eps: float
    axis: int  # the feature axis, possibly negative
    dy: np.ndarray  # an upstream gradient for the backward pass
    moving_mean: np.ndarray  # population statistics for inference mode
    moving_var: np.ndarray

    @property
    def c(self) -> int:
        return self.x.shape[self.axis]

    @property
    def m(self) -> int:
        return self.x.size // self.c


def _spread_ok(x: np.ndarray, axis: int) -> bool:
    """Every feature's spread is at least 1e-6 of its magnitude (so eps = 0 is well defined)."""
    axes = tuple(a for a in range(x.ndim) if a != axis % x.ndim)
    return bool(np.all(x.std(axis=axes) > 1e-6 * np.abs(x).max(axis=axes)))


@st.composite
def bn_cases(draw, *, max_side: int = 4, min_batch: int = 1, awkward: bool = True):
    """x of 2 to 4 dimensions, feature axis any but 0 (drawn positive or negative), per-feature gamma
    (any sign, sometimes 0) and beta, eps in {1e-3, 1e-5, 0.1, 1, 0}; eps = 0 only with a real spread."""
    ndim = draw(st.integers(2, 4))
    shape = (draw(st.integers(min_batch, max_side)),) + tuple(
        draw(st.integers(1, max_side)) for _ in range(ndim - 1)
    )
    axis = draw(st.integers(1, ndim - 1))
    if draw(st.booleans()):
        axis -= ndim
    x = draw(values(shape, awkward=awkward))
    c = shape[axis]
    rng = np.random.default_rng(draw(SEEDS))
    gamma = rng.normal(1.0, 1.0, c)
    if draw(st.booleans()):
        gamma[0] = draw(st.sampled_from([0.0, 1.0, -1.0]))
    beta = rng.normal(0.0, 1.0, c)
    eps = draw(EPS)
    if eps == 0.0:
        assume(_spread_ok(x, axis))
    dy = rng.normal(0.0, 1.0, shape)
    moving_mean = rng.normal(0.0, 1.0, c)
    moving_var = rng.uniform(0.0, 2.0, c) + (0.01 if eps == 0.0 else 0.0)
    return BNCase(x, gamma, beta, eps, axis, dy, moving_mean, moving_var)


# ----------------------------------------------------------------------------------------------------
# moving statistics


@dataclass(frozen=True)
class EMACase:
    batches: tuple  # of arrays of one shape
    init_mean: np.ndarray
    init_var: np.ndarray
    momentum: Any  # float in [0, 1], or None (torch only)
    convention: str
    axis: int
    tracked: int  # num_batches_tracked of the initial state


MOMENTA = st.one_of(st.sampled_from([0.0, 1.0, 0.99, 0.9, 0.1, 0.5]), st.floats(0.0, 1.0))


@st.composite
def ema_cases(draw, *, max_batches: int = 4):
    convention = draw(st.sampled_from(["keras", "torch"]))
    momentum = draw(st.one_of(st.none(), MOMENTA)) if convention == "torch" else draw(MOMENTA)
    ndim = draw(st.integers(2, 4))
    shape = (draw(st.integers(2, 4)),) + tuple(draw(st.integers(1, 3)) for _ in range(ndim - 1))
    axis = draw(st.integers(1, ndim - 1)) - draw(st.sampled_from([0, ndim]))
    k = draw(st.integers(1, max_batches))
    batches = tuple(draw(values(shape, awkward=False)) for _ in range(k))
    c = shape[axis]
    rng = np.random.default_rng(draw(SEEDS))
    init_mean = rng.normal(0.0, 1.0, c)
    init_var = rng.uniform(0.0, 2.0, c)
    tracked = draw(st.integers(0, 5))
    return EMACase(batches, init_mean, init_var, momentum, convention, axis, tracked)


# ----------------------------------------------------------------------------------------------------
# convolution


@dataclass(frozen=True)
class ConvCase:
    x: np.ndarray
    w: np.ndarray  # OIHW
    b: Any  # (C_out,) or None
    stride: tuple
    dilation: tuple
    padding: Any  # "valid", "same", an int, (ph, pw) or ((top, bottom), (left, right))
    groups: int
    data_format: str


PADDINGS = st.one_of(  # 'same' (the subtle one: the odd pixel goes at the end) gets its own branch
    st.just("same"),
    st.just("valid"),
    st.integers(0, 2),
    st.tuples(st.integers(0, 2), st.integers(0, 2)),
    st.tuples(st.tuples(st.integers(0, 2), st.integers(0, 2)), st.tuples(st.integers(0, 2), st.integers(0, 2))),
)


def _explicit(padding, which: int) -> tuple[int, int]:
    if isinstance(padding, int):
        return padding, padding
    p = padding[which]
    return (p, p) if isinstance(p, int) else p


@st.composite
def conv_cases(draw, *, max_side: int = 7, paddings=PADDINGS, bias: bool | None = None, awkward: bool = True):
    """Shapes small enough for the naive loops: N <= 2, C_in, C_out <= 2 groups of <= 2, k <= 3."""
    groups = draw(st.integers(1, 3))
    c_in = groups * draw(st.integers(1, 2))
    c_out = groups * draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(paddings)
    sizes = []
    for which, k, d in ((0, kh, dilation[0]), (1, kw, dilation[1])):
        extent = d * (k - 1) + 1
        pads = (0, 0) if padding in ("valid", "same") else _explicit(padding, which)
        low = 1 if padding == "same" else max(1, extent - sum(pads))
        sizes.append(draw(st.integers(low, max(low, max_side))))
    n = draw(st.integers(1, 2))
    data_format = draw(st.sampled_from(["channels_last", "channels_first"]))
    shape = (n, c_in, *sizes) if data_format == "channels_first" else (n, *sizes, c_in)
    x = draw(values(shape, awkward=awkward))
    rng = np.random.default_rng(draw(SEEDS))
    w = rng.normal(0.0, 1.0, (c_out, c_in // groups, kh, kw))
    with_bias = draw(st.booleans()) if bias is None else bias
    b = rng.normal(0.0, 1.0, c_out) if with_bias else None
    return ConvCase(x, w, b, stride, dilation, padding, groups, data_format)


# ----------------------------------------------------------------------------------------------------
# pooling


@dataclass(frozen=True)
class PoolCase:
    x: np.ndarray
    kind: str  # "max", "avg" or "lp"
    window: tuple
    stride: Any  # None (= window) or a pair
    dilation: tuple  # max pooling only; (1, 1) otherwise
    padding: Any
    ceil_mode: bool
    count_include_pad: bool  # avg only
    p: Any  # lp only
    data_format: str

    def kwargs(self) -> dict:
        kw = dict(padding=self.padding, ceil_mode=self.ceil_mode, data_format=self.data_format)
        if self.kind == "max":
            kw["dilation"] = self.dilation
        if self.kind == "avg":
            kw["count_include_pad"] = self.count_include_pad
        return kw


SPECIALS = st.sampled_from([np.nan, np.inf, -np.inf])


@st.composite
def pool_cases(draw, *, kinds=("max", "avg", "lp"), max_side: int = 7, specials: bool = True,
               paddings=None, ceil_modes=(False, True), half_padding: bool = False):
    """Windows up to 3x3, strides up to 3 or the window, explicit padding up to the window (which can
    leave a window with no input value: the reference must then refuse), or up to window // 2 with
    ``half_padding`` (PyTorch's limit: every window sees data), 'same' (not with ceil mode).
    Max pooling also gets NaN and +-inf sprinkled in, and often all-negative data (so -inf padding
    matters)."""
    kind = draw(st.sampled_from(kinds))
    window = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if kind == "max" else (1, 1)
    ceil_mode = draw(st.sampled_from(ceil_modes))
    if paddings is None:
        top = [k // 2 if half_padding else k for k in window]
        explicit = st.tuples(
            st.tuples(st.integers(0, top[0]), st.integers(0, top[0])),
            st.tuples(st.integers(0, top[1]), st.integers(0, top[1])),
        )
        if ceil_mode:  # 'same' is not defined with ceil mode
            paddings = st.one_of(st.just("valid"), explicit)
        else:
            paddings = st.one_of(st.just("same"), st.just("valid"), explicit)
    padding = draw(paddings)
    sizes = []
    for which in (0, 1):
        extent = dilation[which] * (window[which] - 1) + 1
        pads = (0, 0) if padding in ("valid", "same") else _explicit(padding, which)
        low = 1 if padding == "same" else max(1, extent - sum(pads))
        sizes.append(draw(st.integers(low, max(low, max_side))))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    data_format = draw(st.sampled_from(["channels_last", "channels_first"]))
    shape = (n, c, *sizes) if data_format == "channels_first" else (n, *sizes, c)
    x = draw(values(shape, locs=(0.0, -5.0, 5.0, 1e3)))
    if kind == "max" and specials and draw(st.booleans()):
        x = x.copy()
        flat = x.reshape(-1)
        for i in draw(st.lists(st.integers(0, flat.size - 1), min_size=1, max_size=3)):
            flat[i] = draw(SPECIALS)
    p = draw(st.sampled_from([1.0, 2.0, 3.0, 0.5, 1.5])) if kind == "lp" else None
    count_include_pad = draw(st.booleans()) if kind == "avg" else False
    return PoolCase(x, kind, window, stride, dilation, padding, ceil_mode, count_include_pad, p, data_format)
