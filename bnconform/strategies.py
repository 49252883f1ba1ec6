"""Hypothesis strategies that draw case specs (``bnconform.cases``) within what an adapter offers.

Each strategy takes the adapter's ``Capabilities`` and draws only cases the framework offers, so no
example is wasted on a combination it refuses. Values come from a seed and a distribution
(``Values``), so examples shrink towards small shapes, seed 0 and plain values, and a failing case
prints as a few lines of JSON.

Value ranges depend on the dtype: half precision keeps |x| well inside its range (float16 tops out at
65504), and the adversarial strategies push the conditioning (offset / spread) as far as the dtype
can represent the spread at all.
"""

from __future__ import annotations

import dataclasses
import math

from hypothesis import assume
from hypothesis import strategies as st

from bnconform.reference import windows

from . import shapes
from .cases import BNCase, ConvCase, PoolCase, Values

SEEDS = st.integers(0, 2**31 - 1)
EPS = st.one_of(st.sampled_from([1e-5, 1e-3, 1e-2]), st.floats(1e-6, 0.5))


def coincident() -> st.SearchStrategy[bool]:
    """Whether an example takes sizes that coincide on purpose (``shapes.*_COINCIDENT``): half of them.
    Shrinks towards distinct sizes."""
    return st.booleans()


def log_uniform(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(math.log10(lo), math.log10(hi)).map(lambda e: float(10.0**e))


def offset(limit: float) -> st.SearchStrategy[float]:
    """0, or a magnitude in [1e-3, limit] of either sign: never subnormal or tiny.

    Subnormal inputs are left out on purpose: CPUs run most frameworks with flush-to-zero
    (XLA:CPU, oneDNN), a documented platform choice rather than a property of these ops.
    """
    magnitude = st.floats(1e-3, limit)
    return st.one_of(st.just(0.0), magnitude, magnitude.map(lambda v: -v))


def _max_offset_ratio(dtype: str) -> float:
    """Largest offset / spread for which the spread is still resolved by the dtype (about 1/(8u))."""
    return {"float16": 1e2, "bfloat16": 1e1, "float32": 1e4, "float64": 1e8}[dtype]


def _max_magnitude(dtype: str) -> float:
    return 1e3 if dtype == "float16" else 1e4


@st.composite
def plain_values(draw, dtype: str) -> Values:
    """Ordinary data: moderate offset and spread."""
    dist = draw(st.sampled_from(["normal", "uniform", "ints"]))
    loc = draw(offset(5.0))
    scale = draw(st.one_of(st.just(1.0), log_uniform(0.1, 10.0)))
    return Values(seed=draw(SEEDS), dist=dist, loc=loc, scale=scale)


@st.composite
def adversarial_values(draw, dtype: str, eps: float, n_features: int) -> Values:
    """Ill-conditioned data: a large offset relative to the spread, a constant feature, or a
    variance near eps."""
    kind = draw(st.sampled_from(["offset", "constant_feature", "tiny_variance"]))
    seed = draw(SEEDS)
    if kind == "offset":
        ratio = draw(log_uniform(10.0, _max_offset_ratio(dtype)))
        scale = draw(log_uniform(1e-2, 1.0))
        loc = min(ratio * scale, _max_magnitude(dtype)) * draw(st.sampled_from([1.0, -1.0]))
        return Values(seed=seed, dist="normal", loc=loc, scale=scale)
    if kind == "constant_feature":
        loc = draw(offset(10.0))
        return Values(seed=seed, dist="normal", loc=loc, scale=1.0, constant_feature=draw(st.integers(0, n_features - 1)))
    scale = math.sqrt(eps) * draw(log_uniform(1e-2, 10.0))
    return Values(seed=seed, dist="normal", loc=draw(offset(1.0)), scale=scale)


#: the feature axes drawn by rank where ``Capabilities.bn_any_axis``: last, first after the batch axis,
#: and for images and volumes one in between
BN_ANY_AXES = {2: (1,), 3: (-1, 1), 4: (-1, 1, 2), 5: (-1, 1, 2)}


def off_sometimes() -> st.SearchStrategy[bool]:
    """An option's value: on (the default) three times in four, off once; shrinks towards on."""
    return st.sampled_from((True, True, True, False))


@st.composite
def bn_flags(draw, offered: tuple[str, ...]) -> dict[str, bool]:
    """The constructor options of a batch-norm case, each of ``offered`` (``cases.BN_FLAGS`` names)
    drawn: ``affine`` sets ``scale`` and ``center`` together, as PyTorch does."""
    out: dict[str, bool] = {}
    if "affine" in offered:
        out["scale"] = out["center"] = draw(off_sometimes())
    for name in ("scale", "center", "track_running_stats", "trainable"):
        if name in offered:
            out[name] = draw(off_sometimes())
    return out


@st.composite
def bn_cases(
    draw,
    caps,
    *,
    dtype: str,
    adversarial: bool = False,
    max_steps: int = 1,
    momentum_none: bool = False,
    random_params: bool | None = None,
    flags: tuple[str, ...] | None = None,
) -> BNCase:
    """Batch-norm cases: rank (2 to 5, as offered), layout and feature axis, shape, eps, momentum,
    steps, values and the constructor options (``bn_flags``; ``flags`` restricts which may be drawn,
    None: every one offered). Half of them take coinciding sizes (``shapes.BN_*_COINCIDENT``: N == C,
    and every axis equal)."""
    rank = draw(st.sampled_from(caps.bn_ranks))
    same = draw(coincident())
    if rank == 2:
        axis = 1
    else:
        axis = draw(st.sampled_from(BN_ANY_AXES[rank] if caps.bn_any_axis else caps.bn_axes))
    menu = (shapes.BN_COINCIDENT_BY_RANK if same else shapes.BN_BY_RANK)[rank]
    if adversarial and caps.bn_min_values_per_feature <= 1:
        menu = menu + tuple(s for s in shapes.BN_ONE_VALUE if len(s) == rank)
    logical = draw(st.sampled_from(menu))
    shape = shapes.place_feature_axis(logical, axis)
    assume(shapes.values_per_feature(shape, axis) >= caps.bn_min_values_per_feature)
    eps = draw(EPS)
    momentum = draw(st.one_of(st.sampled_from([0.0, 0.9, 0.99, 1.0]), st.floats(0.0, 1.0)))
    if momentum_none:
        momentum = draw(st.one_of(st.just(None), st.just(momentum)))
    n_features = shape[axis]
    x = draw(adversarial_values(dtype, eps, n_features) if adversarial else plain_values(dtype))
    return BNCase(
        shape=shape,
        axis=axis,
        dtype=dtype,
        eps=eps,
        momentum=momentum,
        steps=draw(st.integers(1, max_steps)),
        x=x,
        params_seed=draw(SEEDS),
        random_params=draw(st.booleans()) if random_params is None else random_params,
        **draw(bn_flags(tuple(f for f in caps.bn_flags if flags is None or f in flags))),
    )


@st.composite
def bn_masked_cases(draw, caps, *, dtype: str) -> BNCase:
    """Batch-norm cases with a mask (Keras's ``call(x, training, mask)``, ``bnconform.reference.masked``):
    the feature axis last (Keras expands the mask by one axis at the end), a mask of x's shape without
    it, each size kept or 1 (broadcast: (N,) or (1,) for (N, C); (N, H, W), (N, 1, 1), (1, H, W), ...
    for (N, H, W, C)); positions unmasked with probability 3/4 (``cases.mask_of``). Shrinks towards
    a mask of the full shape."""
    last = dataclasses.replace(caps, bn_any_axis=False, bn_axes=(-1,))
    # every constructor option on: the masked reference is the default layer's (``bn_flags``: not drawn)
    case = draw(bn_cases(last, dtype=dtype, max_steps=2, flags=()))
    rest = case.shape[:-1]
    mask = tuple(1 if draw(st.booleans()) else s for s in rest)
    # the feature axis spelled -1 (Keras's default), for rank 2 too: keras 3.15.1's masked moments
    # squeeze the statistics, so BatchNormalization(axis=1) on an (N, 1) input with a mask raises
    # IndexError in ops.batch_normalization (measured; docs/what-is-checked.md)
    return dataclasses.replace(case, axis=-1, mask=mask)


def bn_plain_or_adversarial_cases(caps, *, dtype: str, max_steps: int = 1) -> st.SearchStrategy[BNCase]:
    """``bn_cases`` with plain values or ill-conditioned ones, either (a layer whose statistics take
    another code path, ``bn_synchronized``, meets both regimes in one property)."""
    # every constructor option on: the synchronized layers are built with their defaults
    # (torch.nn.SyncBatchNorm, synchronized=True, axis_name), the options are bn_forward's to draw
    return st.one_of(bn_cases(caps, dtype=dtype, max_steps=max_steps, flags=()),
                     bn_cases(caps, dtype=dtype, max_steps=max_steps, adversarial=True, flags=()))


def _fits(spatial, window, stride, dilation, padding, ceil_mode=False) -> bool:
    try:
        windows.plan(spatial, window, stride, dilation, padding, ceil_mode)
    except ValueError:
        return False
    return True


@st.composite
def explicit_padding(draw, window: tuple[int, int], limit_to_half_window: bool):
    """((top, bottom), (left, right)); pooling frameworks allow at most half the window."""
    hi = [k // 2 for k in window] if limit_to_half_window else [2, 2]
    return tuple((draw(st.integers(0, h)), draw(st.integers(0, h))) for h in hi)


@st.composite
def conv_cases(draw, caps, *, dtype: str) -> ConvCase:
    """Convolution cases over every padding mode, stride, dilation, groups and layout offered.

    Half of them take coinciding sizes (``shapes.CONV_COINCIDENT``): H == W == C_in, and C_out equal to
    the output width where that is at least 2, with a bias where one is offered, so that a bias or a
    reduction laid along the wrong axis shows as wrong values rather than not at all."""
    data_format = draw(st.sampled_from(caps.conv_data_formats))
    same = draw(coincident())
    if same:
        n, side = draw(st.sampled_from(shapes.CONV_COINCIDENT))
        h = w = c_in = side
    else:
        n, h, w = draw(st.sampled_from(shapes.CONV_SPATIAL))
        c_in = draw(st.sampled_from(shapes.CONV_C_IN))
    c_out = draw(st.sampled_from(shapes.CONV_C_OUT))
    kernel = draw(st.sampled_from(shapes.CONV_KERNELS))
    stride = draw(st.sampled_from(shapes.STRIDES))
    dilation = draw(st.sampled_from(shapes.DILATIONS)) if caps.conv_dilation else (1, 1)
    mode = draw(st.sampled_from(caps.conv_paddings))
    padding = draw(explicit_padding(kernel, False)) if mode == "explicit" else mode
    if stride != (1, 1) and (
        (mode == "same" and not caps.conv_same_strided)
        or (dilation != (1, 1) and not caps.conv_dilated_strided)
    ):
        stride = (1, 1)
    assume(_fits((h, w), kernel, stride, dilation, padding))
    if same:
        w_out = windows.plan((h, w), kernel, stride, dilation, padding)[1].out
        c_out = w_out if w_out >= 2 else c_out
    common = [g for g in range(1, c_in + 1) if c_in % g == 0 and c_out % g == 0]
    groups = draw(st.sampled_from(common)) if caps.conv_groups else 1
    return ConvCase(
        x_shape=shapes.nhwc_to((n, h, w, c_in), data_format),
        data_format=data_format,
        c_out=c_out,
        kernel=kernel,
        stride=stride,
        dilation=dilation,
        padding=padding,
        groups=groups,
        bias=caps.conv_bias and (same or draw(st.booleans())),
        dtype=dtype,
        x=draw(plain_values(dtype)),
        w_seed=draw(SEEDS),
    )


@st.composite
def pool_cases(
    draw,
    caps,
    *,
    kind: str,
    dtype: str,
    specials: bool = False,
    lp_p: tuple[float, ...] | None = None,
    ceil_mode: bool | None = None,
) -> PoolCase:
    """Pooling cases of one kind; ``specials`` puts NaN and infinities into the input. Half of them
    take coinciding sizes (``shapes.POOL_COINCIDENT``: H == W == C).

    ``lp_p`` restricts the norms drawn for Lp pooling (default: all the adapter offers);
    ``ceil_mode`` forces ceil mode on or off (default: drawn where offered).
    """
    data_format = draw(st.sampled_from(caps.pool_data_formats))
    logical = draw(st.sampled_from(shapes.POOL_COINCIDENT if draw(coincident()) else shapes.POOL_SHAPES))
    x = draw(plain_values(dtype))
    if specials:
        x = Values(
            seed=x.seed, dist=x.dist, loc=x.loc, scale=x.scale,
            specials=tuple(draw(st.lists(st.sampled_from(["nan", "inf", "-inf"]), min_size=1, max_size=3))),
        )
    base = dict(kind=kind, x_shape=shapes.nhwc_to(logical, data_format), data_format=data_format, dtype=dtype, x=x)
    if kind == "global_avg":
        return PoolCase(window=(1, 1), stride=(1, 1), **base)
    window = draw(st.sampled_from(shapes.POOL_WINDOWS))
    stride = draw(st.one_of(st.just(window), st.sampled_from(shapes.STRIDES)))
    mode = draw(st.sampled_from(caps.pool_lp_paddings if kind == "lp" else caps.pool_paddings))
    padding = draw(explicit_padding(window, True)) if mode == "explicit" else mode
    if mode == "explicit" and caps.pool_symmetric_padding:
        padding = tuple((lo, lo) for lo, _ in padding)
    if ceil_mode is None:
        ceil_mode = draw(st.booleans()) if caps.pool_ceil_mode and mode != "same" else False
    count_include_pad = (
        draw(st.sampled_from(caps.pool_count_include_pad)) if kind == "avg" and mode == "explicit" else False
    )
    p = draw(st.sampled_from(lp_p or caps.pool_lp_p)) if kind == "lp" else 2.0
    assume(_fits(logical[1:3], window, stride, (1, 1), padding, ceil_mode))
    return PoolCase(
        window=window, stride=stride, padding=padding, ceil_mode=ceil_mode,
        count_include_pad=count_include_pad, p=p, **base,
    )


@st.composite
def call_sequences(draw, call_without_flag: str) -> tuple[str, ...]:
    """Two to five calls on one layer, at least one training call and one other: training, inference
    and, where the framework declares a call without a training flag to be inference (Keras:
    ``call_without_flag``), that call. Shrinks towards train, inference, train."""
    calls = ("train", "inference") + (("no-flag",) if call_without_flag == "inference" else ())
    mixed = st.lists(st.sampled_from(calls), min_size=2, max_size=5).map(tuple).filter(
        lambda seq: "train" in seq and any(c != "train" for c in seq))
    return draw(st.one_of(st.just(("train", "inference", "train")), mixed))


#: the pooling kinds with a production-size case (:func:`production_cases`); Lp pooling has none
PRODUCTION_KINDS = ("max", "avg", "global_avg")

#: the plain values of every production-size case
PRODUCTION_VALUES = Values(seed=11, dist="normal", loc=0.5, scale=1.5)


def production_keys(caps) -> tuple[str, ...]:
    """The production-size cases ``caps`` offers: "batch_norm" (a rank-4 layer), "conv2d", and the
    pooling kinds of :data:`PRODUCTION_KINDS` it offers."""
    keys = []
    if "batch_norm" in caps.ops and 4 in caps.bn_ranks:
        keys.append("batch_norm")
    if "conv2d" in caps.ops:
        keys.append("conv2d")
    if "pool2d" in caps.ops:
        keys.extend(k for k in PRODUCTION_KINDS if k in caps.pool_kinds)
    return tuple(keys)


@st.composite
def production_size(draw, base: int, *, on: bool | None = None, odd: bool = False) -> int:
    """``base`` (ON: a multiple of 8, and of 16 and 32 where the base is) or ``base`` +- 1..7 (OFF: a
    multiple of none of them; above the base only, for a base under 32), half the time each unless
    ``on`` decides; ``odd`` keeps OFF sizes odd (a product of odd sizes and one OFF size is itself off
    the multiples of 8). Shrinks towards OFF, ``base + 1``."""
    if on is None:
        on = draw(st.booleans())
    if on:
        return base
    by = draw(st.sampled_from(tuple(k for k in shapes.OFF_BY if k % 2 == 1) if odd else shapes.OFF_BY))
    below = not draw(st.booleans())  # below a base of 32 or more only: 25 is still production size, 1 is not
    return base - by if below and base >= 32 else base + by


def _reduction(draw, n: int, side: int) -> tuple[int, int, int]:
    """(N, H, W) from their bases, ON together (N*H*W a multiple of 8) or OFF together (N and W odd,
    H off: N*H*W is not a multiple of 8), half the time each."""
    on = draw(st.booleans())
    return (draw(production_size(n, on=on, odd=True)), draw(production_size(side, on=on)),
            draw(production_size(side, on=on, odd=True)))


@st.composite
def production_cases(draw, caps, *, dtype: str, key: str | None = None):
    """One production-size case of ``key`` (:func:`production_keys`) within what ``caps`` offers, its
    sizes drawn ON or OFF the multiples of 8, 16 and 32 (``shapes.*_PRODUCTION_BASES``: a base, or
    the base +- 1..7), plain values; ``key`` None: ``{key: case}`` for every key offered. A vector
    kernel (8, 16, 32 lanes) runs its remainder loop only on OFF sizes: a reduction length or channel
    count that is a multiple of the width never reaches it."""
    if key is None:
        return {k: draw(production_cases(caps, dtype=dtype, key=k)) for k in production_keys(caps)}
    if key not in production_keys(caps):
        raise ValueError(f"production_cases: {key!r} is not offered here; offered: {production_keys(caps)}")
    if key == "batch_norm":
        c, side, n = draw(st.sampled_from(shapes.BN_PRODUCTION_BASES))
        n, h, w = _reduction(draw, n, side)
        axis = -1 if (caps.bn_any_axis or -1 in caps.bn_axes or 3 in caps.bn_axes) else caps.bn_axes[0]
        return BNCase(shape=shapes.place_feature_axis((n, h, w, draw(production_size(c))), axis), axis=axis,
                      dtype=dtype, eps=1e-5, momentum=0.9, x=PRODUCTION_VALUES, params_seed=11)
    if key == "conv2d":
        c_in, c_out, side, n = draw(st.sampled_from(shapes.CONV_PRODUCTION_BASES))
        data_format = caps.conv_data_formats[0]
        h, w = draw(production_size(side)), draw(production_size(side))
        stride = draw(st.sampled_from(((2, 2), (1, 1))))
        dilation = (2, 2) if caps.conv_dilation and (caps.conv_dilated_strided or stride == (1, 1)) else (1, 1)
        padding = draw(st.sampled_from(tuple(p for p in caps.conv_paddings if p != "explicit") or ("explicit",)))
        if padding == "same" and stride != (1, 1) and not caps.conv_same_strided:
            stride = (1, 1)
        padding = ((1, 1), (1, 1)) if padding == "explicit" else padding
        return ConvCase(
            x_shape=shapes.nhwc_to((n, h, w, draw(production_size(c_in))), data_format), data_format=data_format,
            c_out=draw(production_size(c_out)), kernel=(3, 3), stride=stride, dilation=dilation, padding=padding,
            bias=caps.conv_bias, dtype=dtype, x=PRODUCTION_VALUES, w_seed=11)
    c, side, n = draw(st.sampled_from(shapes.POOL_PRODUCTION_BASES))
    data_format = caps.pool_data_formats[0]
    on = draw(st.booleans())  # H*W, global average pooling's reduction length, ON or OFF as a whole
    logical = (draw(production_size(n)), draw(production_size(side, on=on)),
               draw(production_size(side, on=on, odd=True)), draw(production_size(c)))
    window, stride = ((1, 1), (1, 1)) if key == "global_avg" else ((3, 3), (2, 2))
    return PoolCase(kind=key, x_shape=shapes.nhwc_to(logical, data_format), data_format=data_format, window=window,
                    stride=stride, dtype=dtype, x=PRODUCTION_VALUES)
