"""Shape menus: the sizes the strategies draw from.

Shapes come from short menus rather than free integers. The menus still reach every regime that
matters (one value per feature, a single channel, odd and non-square spatial sizes, reductions of a
few hundred values), and because they are short, frameworks that compile per shape (JAX and XLA,
Keras on the JAX backend) reuse their compiled code across examples instead of recompiling for each.
"""

from __future__ import annotations

# Batch norm, logical (N, features), (N, L, C) sequences, (N, H, W, C) images and (N, D, H, W, C)
# volumes before the feature axis is placed; m, the values per feature, is the product of every axis
# but C. The rank is drawn (``Capabilities.bn_ranks``), so ranks add no tests, and the 3-D and 5-D
# menus stay as small as the others (m from 2 to 96).
BN_2D = ((2, 1), (3, 4), (8, 3), (16, 5), (64, 2))
BN_3D = ((2, 1, 3), (1, 5, 2), (3, 7, 4), (4, 24, 3), (2, 3, 1))
BN_4D = ((2, 1, 1, 3), (1, 3, 3, 2), (2, 4, 4, 3), (3, 5, 2, 1), (4, 6, 6, 4))
BN_5D = ((2, 1, 1, 1, 3), (1, 2, 3, 3, 2), (2, 2, 3, 4, 3), (3, 2, 2, 1, 1), (2, 4, 3, 4, 4))
BN_BY_RANK = {2: BN_2D, 3: BN_3D, 4: BN_4D, 5: BN_5D}
BN_ONE_VALUE = ((1, 3), (1, 1, 2), (1, 1, 1, 2), (1, 1, 1, 1, 2))  # m = 1: one value per feature (adversarial only)

# Convolution: logical (N, H, W), channel counts, kernel sizes and the rest.
CONV_SPATIAL = ((1, 5, 5), (2, 6, 7), (1, 8, 8), (2, 4, 9))
CONV_C_IN = (1, 2, 3, 4, 6)
CONV_C_OUT = (1, 2, 4, 6)
CONV_KERNELS = ((1, 1), (2, 2), (3, 3), (3, 2), (1, 3), (5, 5))
STRIDES = ((1, 1), (2, 2), (1, 2), (3, 3))
DILATIONS = ((1, 1), (2, 2), (2, 1))

# Pooling: logical (N, H, W, C) and windows.
POOL_SHAPES = ((1, 4, 4, 1), (2, 5, 7, 3), (1, 8, 8, 2), (2, 6, 3, 4), (1, 9, 9, 1))
POOL_WINDOWS = ((1, 1), (2, 2), (3, 3), (2, 3), (3, 1))

# Sizes that coincide on purpose. A layout bug (one axis taken for another: a bias broadcast along W
# instead of C, statistics reduced over C instead of N, H and W swapped) raises a shape error when the
# sizes differ, which the menus above make them do, but gives only wrong values when they agree. Half
# the examples of each strategy take one of these instead (``strategies``):
#   batch norm: N == C (2-D), N == L == C (3-D), N == H == W == C (4-D), N == D == H == W == C (5-D);
#   convolution: H == W == C_in (and N == C_in in one), with C_out set to the output width;
#   pooling: H == W == C (and N == C in one).
# Keras 3 on TensorFlow adds a channels_first Conv2D bias along W when W_out == C_out (keras ops.add
# takes a (1, C, 1, 1) bias for NHWC as soon as the last axis has C entries): only such shapes show it.
BN_2D_COINCIDENT = ((4, 4),)
BN_3D_COINCIDENT = ((3, 3, 3),)
BN_4D_COINCIDENT = ((3, 3, 3, 3),)
BN_5D_COINCIDENT = ((2, 2, 2, 2, 2),)
BN_COINCIDENT_BY_RANK = {2: BN_2D_COINCIDENT, 3: BN_3D_COINCIDENT, 4: BN_4D_COINCIDENT, 5: BN_5D_COINCIDENT}
CONV_COINCIDENT = ((1, 4), (3, 3))  # (N, H == W == C_in)
POOL_COINCIDENT = ((3, 3, 3, 3), (1, 4, 4, 4))


def place_feature_axis(logical: tuple[int, ...], axis: int) -> tuple[int, ...]:
    """Move the last entry of a logical (N, ..., C) shape to position ``axis``."""
    *rest, c = logical
    axis = axis % len(logical)
    return tuple(rest[:axis]) + (c,) + tuple(rest[axis:])


def nhwc_to(logical: tuple[int, int, int, int], data_format: str) -> tuple[int, int, int, int]:
    n, h, w, c = logical
    return (n, h, w, c) if data_format == "channels_last" else (n, c, h, w)


def values_per_feature(shape: tuple[int, ...], axis: int) -> int:
    n = 1
    for i, s in enumerate(shape):
        if i != axis % len(shape):
            n *= s
    return n


# Production sizes (issue 11): the regimes real layers run in, where frameworks switch to blocked and
# parallel reductions, im2col/Winograd and blocked layouts. One case per property and dtype
# (``strategies.production_cases``, the conformance test ``test_property_at_production_size``), so compiling
# frameworks compile only a few more programs.
#   batch norm: 16,384 values per feature, 32 features; N = 16 differs, H == W == C coincide;
#   convolution: C_in * kh * kw = 256 * 9 = 2,304 terms, 64 filters, 32 x 32, strided and dilated;
#   pooling: (8, 32, 32, 64), max and average 3 x 3 stride 2, global average over 32 x 32 = 1,024 values.
BN_PRODUCTION = (16, 32, 32, 32)
CONV_PRODUCTION = (2, 32, 32, 256)  # logical (N, H, W, C_in)
CONV_PRODUCTION_C_OUT = 64
POOL_PRODUCTION = (8, 32, 32, 64)
