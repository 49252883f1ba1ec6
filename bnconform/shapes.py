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


# Production sizes (issue 11), drawn (issue 22): the regimes real layers run in, where frameworks switch to
# blocked and parallel reductions, im2col/Winograd, blocked layouts and vector loops with a remainder.
# ``strategies.production_cases`` draws each size either ON a base below (every base is a multiple of
# 8, most of 16 and 32: a vector kernel's width divides it) or OFF it by 1 to 7 (a multiple
# of none of 8, 16, 32: the remainder loop runs), the two half the time each; Hypothesis's first
# example, its simplest, is OFF everywhere. Each base keeps an example near 2**18 values, so that the
# two examples a production-size test draws (``PRODUCTION_EXAMPLES``) cost what one fixed case of
# twice that size cost before.
#   batch norm (C, H == W, N): m = N*H*W values per feature from 2,048 to 16,384, C from 16 to 128;
#     off, the reduction length m is not a multiple of 8 either (N and W odd, H off);
#   convolution (C_in, C_out, H == W, N): C_in * 3 * 3 terms (576 to 2,304), strided, dilated where offered;
#   pooling (C, H == W, N): max and average 3 x 3 stride 2, global average over H*W values (OFF: W odd,
#     H off, so H*W is off the multiples of 8).
PRODUCTION_EXAMPLES = 2  # the examples each production-size test draws
OFF_BY = (1, 2, 3, 4, 5, 6, 7)  # how far an OFF size lies from its base (below it only from a base of 32)
BN_PRODUCTION_BASES = ((16, 32, 16), (32, 32, 8), (64, 16, 16), (128, 16, 8))
CONV_PRODUCTION_BASES = ((64, 32, 32, 2), (128, 64, 16, 2), (256, 32, 16, 1))
POOL_PRODUCTION_BASES = ((32, 32, 8), (64, 24, 8), (128, 16, 8))
