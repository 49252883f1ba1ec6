"""Known answers: the worked examples of the course notes (shared/course-notes.md) and small hand
calculations, each with its derivation in a comment. Nothing here is computed by the code under test.

Float comparisons use ``tol64`` for values computed through float64 arithmetic; results that are exact
in float64 (sums of small integers, selections) are compared exactly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from bnconform import reference as ref
import tol64

# ------------------------------------------------------------------------------------------- conv

# Course notes, worked example 5 ('valid', stride 1).
IMAGE = np.array([[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]], float)
KERNEL = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], float)
EXPECTED = np.array([[4, 3, 4], [2, 4, 3], [2, 3, 4]], float)
# e.g. the top-left window [[1,1,1],[0,1,1],[0,0,1]] meets the kernel's ones at (0,0), (0,2), (1,1),
# (2,0), (2,2): 1 + 1 + 1 + 0 + 1 = 4. The kernel is symmetric under a 180-degree turn, so
# cross-correlation and true convolution agree here.


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_course_binary_image_convolution(data_format):
    check_course_convolution(data_format)


def check_course_convolution(data_format: str = "channels_last") -> None:
    x = IMAGE[None, :, :, None] if data_format == "channels_last" else IMAGE[None, None]
    for op in (ref.conv2d, ref.true_conv2d):
        y = op(x, KERNEL[None, None], data_format=data_format)
        y2d = y[0, :, :, 0] if data_format == "channels_last" else y[0, 0]
        tol64.assert_close(y2d, EXPECTED, 0.0, f"{op.__name__} of the course's binary image")  # integers: exact


def check_flip_known_answer() -> None:
    """x = [1, 2, 3], k = [1, 0, -1] (one row): cross-correlation 1*1 + 2*0 + 3*(-1) = -2; true
    convolution uses the flipped kernel [-1, 0, 1]: -1 + 0 + 3 = 2."""
    x = np.array([[1.0, 2.0, 3.0]])[None, None]
    k = np.array([[1.0, 0.0, -1.0]])[None, None]
    tol64.assert_close(ref.conv2d(x, k, data_format="channels_first")[0, 0], [[-2.0]], 0.0, "cross-correlation")
    tol64.assert_close(ref.true_conv2d(x, k, data_format="channels_first")[0, 0], [[2.0]], 0.0, "true convolution")


def test_cross_correlation_and_true_convolution_differ_by_the_flip():
    check_flip_known_answer()


# --------------------------------------------------------------------------------------- batch norm

X4 = np.array([[1.0], [2.0], [3.0], [4.0]])  # m = 4 values of one feature
# mu = 2.5, biased var = (2.25 + 0.25 + 0.25 + 2.25) / 4 = 1.25 (the unbiased one would be 5/3)


def check_bn_hand_example() -> None:
    """eps = 0: x_hat = (x - 2.5) / sqrt(1.25) = [-3, -1, 1, 3] / sqrt(5).
    eps = 0.75, gamma = 2, beta = 1: sigma = sqrt(1.25 + 0.75) = sqrt(2), y = 1 + 2 [-1.5, -0.5, 0.5, 1.5] / sqrt(2)."""
    out = ref.batch_norm_train(X4, 1.0, 0.0, eps=0.0, axis=1)
    expected = np.array([[-3.0], [-1.0], [1.0], [3.0]]) / math.sqrt(5.0)
    tol64.assert_close(out.mean, [2.5], 0.0, "mean of 1, 2, 3, 4")  # exact: 10 / 4
    tol64.assert_close(out.var, [1.25], 0.0, "biased variance of 1, 2, 3, 4")  # exact: 5 / 4
    tol64.assert_close(out.y, expected, tol64.bn_train_y(X4, 1.0, 0.0, 0.0, 1), "x_hat, eps = 0")
    out = ref.batch_norm_train(X4, 2.0, 1.0, eps=0.75, axis=1)
    expected = 1.0 + 2.0 * np.array([[-1.5], [-0.5], [0.5], [1.5]]) / math.sqrt(2.0)
    tol64.assert_close(out.y, expected, tol64.bn_train_y(X4, 2.0, 1.0, 0.75, 1), "y, eps = 0.75 inside the sqrt")


def test_batch_norm_hand_example():
    check_bn_hand_example()


def check_bn_backward_hand_example() -> None:
    """eps = 0, gamma = 1, dy = [1, 0, 0, 0], sigma = sqrt(5) / 2, d = x - mu = [-1.5, -0.5, 0.5, 1.5].
    Differentiating y_1 = d_1 / sigma directly, with d mu / d x_j = 1/4 and d sigma / d x_j = d_j / (4 sigma):
        dy_1/dx_1 = (1 - 1/4) / sigma - d_1^2 / (4 sigma^3) = 0.75 / sigma - 2.25 / (5 sigma) = 0.3 / sigma
        dy_1/dx_j = -1/4 / sigma - d_1 d_j / (4 sigma^3) = (-0.25 + 0.3 d_j) / sigma  (j > 1)
                  = [-0.4, -0.1, 0.2] / sigma for d_j = -0.5, 0.5, 1.5
    so dx = (2 / sqrt(5)) [0.3, -0.4, -0.1, 0.2]; dgamma = x_hat_1 = -3 / sqrt(5); dbeta = 1."""
    dy = np.array([[1.0], [0.0], [0.0], [0.0]])
    grads = ref.batch_norm_train_backward(dy, X4, 1.0, eps=0.0, axis=1)
    tol_dx, tol_dgamma, tol_dbeta = tol64.bn_train_grads(dy, X4, 1.0, 0.0, 1)
    expected = 2.0 / math.sqrt(5.0) * np.array([[0.3], [-0.4], [-0.1], [0.2]])
    tol64.assert_close(grads.dx, expected, tol_dx + tol64.bound(3, np.abs(expected)), "dx, hand example")
    tol64.assert_close(grads.dgamma, [-3.0 / math.sqrt(5.0)], tol_dgamma + tol64.bound(2, 3.0 / math.sqrt(5.0)),
                       "dgamma, hand example")
    tol64.assert_close(grads.dbeta, [1.0], 0.0, "dbeta, hand example")  # exact: 1 + 0 + 0 + 0


def test_batch_norm_backward_hand_example():
    check_bn_backward_hand_example()


# ------------------------------------------------------------------------------------ moving stats

MOMENTUM = 0.99
SHAPE = (2, 4, 4, 3)  # m = 2 * 4 * 4 = 32 values per channel


def course_batch(seed: int = 0) -> np.ndarray:
    """A (2, 4, 4, 3) batch x ~ N(1, 0.5^2), as in the course's example 3."""
    return np.random.default_rng(seed).normal(1.0, 0.5, SHAPE)


def batch_with_moments(mean, var, seed: int = 1) -> np.ndarray:
    """A (2, 4, 4, 3) batch whose per-channel mean and biased variance are ``mean`` and ``var``
    (standardized noise, scaled and shifted; exact up to roundoff)."""
    z = np.random.default_rng(seed).normal(size=SHAPE)
    z = (z - z.mean(axis=(0, 1, 2))) / z.std(axis=(0, 1, 2))
    return np.asarray(mean) + np.sqrt(np.asarray(var)) * z


def _run_keras(x, steps: int) -> ref.MovingStats:
    state = ref.MovingStats(np.zeros(3), np.ones(3))  # Keras' initial moving mean 0, moving variance 1
    for _ in range(steps):
        state = ref.update_moving_stats(state, x, momentum=MOMENTUM, axis=-1, convention="keras")
    return state


def check_course_moving_stats_formula() -> None:
    """After k Keras steps from (0, 1): moving mean = (1 - 0.99^k) mean_B, moving var = 0.99^k +
    (1 - 0.99^k) sigma_B^2 (biased), for k = 1 and 101 (course notes, example 3)."""
    x = course_batch()
    mean_b, var_b = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    for k in (1, 101):
        state = _run_keras(x, k)
        decay = MOMENTUM**k
        tol_mean, tol_var = tol64.ema([x], np.zeros(3), np.ones(3), convention="keras", axis=-1, steps=k)
        tol64.assert_close(state.mean, (1 - decay) * mean_b, tol_mean, f"moving mean after {k} steps")
        tol64.assert_close(state.var, decay + (1 - decay) * var_b, tol_var, f"moving variance after {k} steps")


def test_course_moving_statistics_follow_the_formula():
    check_course_moving_stats_formula()


# The course's figures after 1 and 101 steps, printed to 4 decimals.
COURSE_1 = ([0.0099, 0.0098, 0.0094], [0.9924, 0.9918, 0.9919])
COURSE_101 = ([0.6326, 0.6228, 0.6009], [0.5134, 0.4774, 0.4813])


def check_course_moving_stats_figures() -> None:
    """The course's two sets of figures are consistent with one batch: 0.99^101 = 0.36237, so the
    101-step figures give mean_B = 0.6326 / 0.63763 = 0.99211 (and 0.97675, 0.94240) and
    sigma_B^2 = (0.5134 - 0.36237) / 0.63763 = 0.23686 (and 0.18040, 0.18652). A batch with exactly these
    moments must reproduce the 1-step figures: 0.01 mean_B = 0.0099, 0.0098, 0.0094 and
    0.99 + 0.01 sigma_B^2 = 0.9924, 0.9918, 0.9919 (to the printed 4 decimals), and the 101-step figures.
    Allowed: half a unit of the 4th decimal, plus the 101-step figures' own rounding carried into the
    moments (0.5e-4 / 0.63763 = 7.8e-5) times 0.01 for the 1-step values."""
    decay = MOMENTUM**101
    mean_b = np.array(COURSE_101[0]) / (1 - decay)
    var_b = (np.array(COURSE_101[1]) - decay) / (1 - decay)
    x = batch_with_moments(mean_b, var_b)
    printed = 0.5e-4
    carried = 0.01 * printed / (1 - decay)
    one, hundred_one = _run_keras(x, 1), _run_keras(x, 101)
    tol64.assert_close(one.mean, COURSE_1[0], printed + carried, "course: moving mean after 1 step")
    tol64.assert_close(one.var, COURSE_1[1], printed + carried, "course: moving variance after 1 step")
    tol64.assert_close(hundred_one.mean, COURSE_101[0], printed, "course: moving mean after 101 steps")
    tol64.assert_close(hundred_one.var, COURSE_101[1], printed, "course: moving variance after 101 steps")


def test_course_moving_statistics_figures():
    check_course_moving_stats_figures()


# --------------------------------------------------------------------------------------------- SGD

LR = 0.01
EPS = 1e-3


def _sgd(x, steps: int = 10):
    """Plain gradient descent on L = mean(y^2) - 1 over all 96 values, training mode, driven by the
    reference's forward and backward passes: dL/dy = 2 y / 96."""
    gamma, beta = np.ones(3), np.zeros(3)
    for _ in range(steps):
        y = ref.batch_norm_train(x, gamma, beta, eps=EPS, axis=-1).y
        grads = ref.batch_norm_train_backward(2.0 * y / y.size, x, gamma, eps=EPS, axis=-1)
        gamma, beta = gamma - LR * grads.dgamma, beta - LR * grads.dbeta
    return gamma, beta


def check_sgd_shrinks_gamma(x) -> None:
    """Why 2/3: dL/dgamma_c = sum_{i in c} (2 y_i / 96) x_hat_i = (2/96) (gamma sum x_hat^2 + beta sum x_hat)
    = (2/96) gamma 32 var / (var + eps), since sum x_hat = 0 and sum x_hat^2 = m var / (var + eps) with
    m = 32 = 96 / 3 values per channel. So each step multiplies gamma by 1 - lr (2/3) var / (var + eps) and
    after ten, gamma = (1 - 0.01 (2/3) var / (var + eps))^10. dL/dbeta = (2/96) sum y = (2/3) beta stays 0.

    Tolerance: each step's dgamma is within its float64 bound (``tol64.bn_train_grads``) and the update adds
    two roundings; errors shrink, never grow, through the factor < 1: 10 (lr tol_dgamma + 2 gamma_2), plus
    12 roundings in the closed form. beta: sum y is 0 up to sum_i tol_y + gamma_m sum |y| per step."""
    gamma, beta = _sgd(x)
    var = x.var(axis=(0, 1, 2))
    expected = (1 - LR * (2 / 3) * var / (var + EPS)) ** 10
    y0 = ref.batch_norm_train(x, 1.0, 0.0, eps=EPS, axis=-1).y
    _, tol_dgamma, _ = tol64.bn_train_grads(2 * y0 / y0.size, x, 1.0, EPS, -1)
    tol_gamma = 10 * (LR * tol_dgamma + tol64.bound(2, 1.0)) + tol64.bound(12, expected)
    tol64.assert_close(gamma, expected, tol_gamma, "gamma after ten SGD steps")
    tol64.assert_close(beta, np.zeros(3), _beta_tolerance(x), "beta after ten SGD steps")


def _beta_tolerance(x) -> np.ndarray:
    """dbeta = (2/96) sum y, exactly (2/3) beta = 0 in exact arithmetic; computed, sum y is off by at most
    sum_i tol_y,i + 2 gamma_m sum |y|, so ten steps of lr * dbeta leave |beta| below 10 lr (2/96) that."""
    y0 = ref.batch_norm_train(x, 1.0, 0.0, eps=EPS, axis=-1).y
    sum_y = (tol64.bn_train_y(x, 1.0, 0.0, EPS, -1).sum(axis=(0, 1, 2))
             + tol64.bound(32, np.abs(y0).sum(axis=(0, 1, 2))))
    return 10 * LR * (2 / 96) * sum_y


def test_sgd_on_mean_square_loss_shrinks_gamma_by_the_predicted_factor():
    check_sgd_shrinks_gamma(course_batch())


def check_sgd_course_figure() -> None:
    """At var = 0.25, eps = 1e-3: (1 - 0.01 (2/3) 0.25 / 0.251)^10 = 0.993359894^10 = 0.935548, the
    course's "about 0.9355" (its channels read 0.9355, 0.9357, 0.9356 with batch variances near 0.25)."""
    x = batch_with_moments([1.0, 1.0, 1.0], [0.25, 0.25, 0.25])
    gamma, beta = _sgd(x)
    tol64.assert_close(gamma, [0.935548] * 3, 0.5e-6, "gamma after ten SGD steps at var 0.25 (6 decimals)")
    tol64.assert_close(beta, np.zeros(3), _beta_tolerance(x), "beta after ten SGD steps at var 0.25")


def test_sgd_course_figure():
    check_sgd_course_figure()


# ------------------------------------------------------------------------------------------- pooling


def _img(rows) -> np.ndarray:
    return np.array(rows, float)[None, None]  # (1, 1, H, W), channels_first


def check_pool_hand_examples() -> None:
    cf = dict(data_format="channels_first")
    x = _img(np.arange(16.0).reshape(4, 4))  # [[0..3], [4..7], [8..11], [12..15]]
    # 2x2 windows: {0,1,4,5} {2,3,6,7} {8,9,12,13} {10,11,14,15}
    tol64.assert_close(ref.max_pool2d(x, 2, **cf)[0, 0], [[5, 7], [13, 15]], 0.0, "max pool 2x2")
    tol64.assert_close(ref.avg_pool2d(x, 2, **cf)[0, 0], [[2.5, 4.5], [10.5, 12.5]], 0.0, "avg pool 2x2")
    # L2 of {0,1,4,5} = sqrt(0 + 1 + 16 + 25) = sqrt(42)
    tol64.assert_close(ref.lp_pool2d(x, 2, 2, **cf)[0, 0, 0, 0], math.sqrt(42.0), tol64.bound(6, math.sqrt(42.0)),
                       "L2 pool")
    tol64.assert_close(ref.lp_pool2d(_img([[3.0, 4.0]]), 2, (1, 2), **cf)[0, 0], [[5.0]], 0.0, "L2 of (3, 4)")
    tol64.assert_close(ref.global_avg_pool2d(_img([[0.0, 1.0], [2.0, 3.0]]), **cf), [[1.5]], 0.0, "global average")


def test_pooling_hand_examples():
    check_pool_hand_examples()


def check_same_padding_hand_examples() -> None:
    """x = [[1, 2], [3, 4]], window 2, stride 1, 'same': out = 2, total padding 1 + 2 - 2 = 1, all at the
    end (bottom, right). Windows: (0,0) sees 1,2,3,4; (0,1) sees 2,4 + 2 pads; (1,0) 3,4 + 2 pads;
    (1,1) 4 + 3 pads.
    average, padding not counted: [[2.5, 3], [3.5, 4]]; counted: [[2.5, 6/4], [7/4, 4/4]];
    max with -inf padding, on negated data: [[-1, -2], [-3, -4]] (zero padding would give [[-1, 0], [0, 0]])."""
    cf = dict(data_format="channels_first")
    x = _img([[1.0, 2.0], [3.0, 4.0]])
    tol64.assert_close(ref.avg_pool2d(x, 2, 1, padding="same", **cf)[0, 0], [[2.5, 3.0], [3.5, 4.0]], 0.0,
                       "'same' average, padding not counted")
    tol64.assert_close(ref.avg_pool2d(x, 2, 1, padding="same", count_include_pad=True, **cf)[0, 0],
                       [[2.5, 1.5], [1.75, 1.0]], 0.0, "'same' average, padding counted")
    tol64.assert_close(ref.max_pool2d(-x, 2, 1, padding="same", **cf)[0, 0], [[-1.0, -2.0], [-3.0, -4.0]], 0.0,
                       "'same' max of negative data")
    assert ref.max_pool2d(np.zeros((1, 32, 32, 1)), 3, 2, padding="same").shape == (1, 16, 16, 1), \
        "course: max pooling with window 3, stride 2 halves 32 to 16 ('same')"
    # 'valid': floor((32 - 3) / 2) + 1 = 15
    assert ref.max_pool2d(np.zeros((1, 32, 32, 1)), 3, 2).shape == (1, 15, 15, 1)


def test_same_padding_hand_examples():
    check_same_padding_hand_examples()


def check_nan_and_ceil_hand_examples() -> None:
    """NaN: windows (1, 2) over [nan, 1, 2, 3] give [nan, 3].
    ceil mode over [1, 2, 3, 4, 5], window 2: ceil((5 - 2) / 2) + 1 = 3 windows {1,2} {3,4} {5, overhang}:
    max [2, 4, 5], average [1.5, 3.5, 5] (the overhang is never counted, even with count_include_pad).
    With padding 1 on each side: 7 padded positions, ceil((7 - 2) / 2) + 1 = 4 windows, but the 4th starts
    at 6, in the end padding, and is dropped: {pad,1} {2,3} {4,5}: max [1, 3, 5], average counting padding
    [0.5, 2.5, 4.5], not counting it [1, 2.5, 4.5]."""
    cf = dict(data_format="channels_first")
    y = ref.max_pool2d(_img([[np.nan, 1.0, 2.0, 3.0]]), (1, 2), **cf)[0, 0]
    tol64.assert_close(y, [[np.nan, 3.0]], 0.0, "NaN propagates through max pooling")
    x = _img([[1.0, 2.0, 3.0, 4.0, 5.0]])
    tol64.assert_close(ref.max_pool2d(x, (1, 2), ceil_mode=True, **cf)[0, 0], [[2, 4, 5]], 0.0, "ceil max")
    for include in (False, True):
        tol64.assert_close(ref.avg_pool2d(x, (1, 2), ceil_mode=True, count_include_pad=include, **cf)[0, 0],
                           [[1.5, 3.5, 5.0]], 0.0, f"ceil average, count_include_pad={include}")
    pad = ((0, 0), (1, 1))
    tol64.assert_close(ref.max_pool2d(x, (1, 2), padding=pad, ceil_mode=True, **cf)[0, 0], [[1, 3, 5]], 0.0,
                       "ceil max, padded")
    tol64.assert_close(ref.avg_pool2d(x, (1, 2), padding=pad, ceil_mode=True, count_include_pad=True, **cf)[0, 0],
                       [[0.5, 2.5, 4.5]], 0.0, "ceil average, padded, padding counted")
    tol64.assert_close(ref.avg_pool2d(x, (1, 2), padding=pad, ceil_mode=True, **cf)[0, 0],
                       [[1.0, 2.5, 4.5]], 0.0, "ceil average, padded, padding not counted")


def test_nan_and_ceil_mode_hand_examples():
    check_nan_and_ceil_hand_examples()
