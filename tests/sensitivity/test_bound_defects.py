"""The three bound defects of issue 11, each shown by an example the old bound got wrong.

- global average pooling took its reduction length from x.shape[1] * x.shape[2], which is C * H
  (not H * W) for channels_first: the tolerance then depended on the layout;
- the convolution's "sum stored before the bias" term was u sum|x w| instead of u |sum x w|, which
  excused a float16 convolution that accumulates in float16 whenever it had a bias;
- dgamma's bound summed x_hat's shared (per-feature) errors as if each element erred on its own,
  growing like m^2 u: at m = 1,000 it excused a 1% error.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from bnconform import reference as R
from bnconform import cases as C
from bnconform import checks, dtypes, tolerance
from bnconform.bounds import batch_stats, reduction
from bnconform.checks import Example


def all_ok(example) -> bool:
    return all(c.ok for c in checks.judge(example))


# -- global average pooling: the reduction is over H * W in both layouts ---------------------------


def test_global_avg_pool_tolerance_does_not_depend_on_the_layout():
    rng = np.random.default_rng(0)
    x_nhwc = dtypes.round_to(rng.standard_normal((2, 3, 5, 7)), "float16")  # C * H = 21, H * W = 15
    x_nchw = np.transpose(x_nhwc, (0, 3, 1, 2))
    y_nhwc = R.global_avg_pool2d(x_nhwc, data_format="channels_last")
    y_nchw = R.global_avg_pool2d(x_nchw, data_format="channels_first")
    tol_nhwc = tolerance.pool2d("global_avg", x_nhwc, y_nhwc, dtype="float16", data_format="channels_last")
    tol_nchw = tolerance.pool2d("global_avg", x_nchw, y_nchw, dtype="float16", data_format="channels_first")
    np.testing.assert_allclose(np.asarray(tol_nchw).reshape(2, 7), np.asarray(tol_nhwc).reshape(2, 7), rtol=1e-12)


def test_global_avg_pool_reduction_length_is_h_times_w():
    # With a half-precision accumulation model (Numerics), the bound is (1+u)^k - 1 times avg|x|:
    # k + 1 = H * W + 1 = 16 roundings for a 3 x 5 image, whatever C is.
    x = np.ones((1, 40, 3, 5))  # channels_first, C * H = 120
    y = R.global_avg_pool2d(x, data_format="channels_first")
    r = tolerance.roundoff("float16", accumulate_in="float16")
    tol = tolerance.pool2d("global_avg", x, y, dtype="float16", data_format="channels_first",
                           numerics=tolerance.Numerics(roundoff=r))
    u = 2.0**-11
    expected = tolerance.SAFETY * (((1 + u) ** 16 - 1) * 1.0 + u * 1.0) + dtypes.smallest_normal("float16")
    np.testing.assert_allclose(np.asarray(tol), expected, rtol=1e-12)


# -- convolution: a float16 convolution that accumulates in float16 -----------------------------


def conv_nhwc_valid(x, w, b, dtype: str, *, accumulate_in: str):
    """Stride 1, valid padding, channels_last; the K products summed in order, in ``accumulate_in``,
    the sum rounded to ``dtype``, then the bias added in ``dtype``."""
    acc_t, out_t = dtypes.numpy_dtype(accumulate_in), dtypes.numpy_dtype(dtype)
    c_out, _, kh, kw = w.shape
    patches = sliding_window_view(x, (kh, kw), axis=(1, 2))  # N, Ho, Wo, C, kh, kw
    patches = patches.reshape(*patches.shape[:3], -1)
    wk = w.reshape(c_out, -1)
    acc = np.zeros(patches.shape[:3] + (c_out,), acc_t)
    for k in range(wk.shape[1]):
        products = (patches[..., k, None] * wk[None, None, None, :, k]).astype(acc_t)
        acc = (acc + products).astype(acc_t)
    y = acc.astype(out_t)
    if b is not None:
        y = (y + b.astype(out_t)).astype(out_t)
    return y.astype(np.float64)


def conv_example(seed: int, accumulate_in: str) -> Example:
    case = C.ConvCase(x_shape=(2, 8, 8, 6), c_out=4, kernel=(3, 3), bias=True, dtype="float16",
                      x=C.Values(seed=seed), w_seed=seed)
    inputs = C.materialize_conv(case)
    y = conv_nhwc_valid(inputs.x, inputs.w, inputs.b, "float16", accumulate_in=accumulate_in)
    return Example("conv2d", case, inputs, "-", {"y": y})


@pytest.mark.parametrize("seed", range(5))
def test_float16_conv_accumulating_in_float16_fails_even_with_a_bias(seed):
    assert not all_ok(conv_example(seed, "float16"))


@pytest.mark.parametrize("seed", range(5))
def test_float16_conv_accumulating_in_float32_passes_with_a_bias(seed):
    # the honest counterpart: float32 accumulation, the sum stored in float16, the bias added after
    assert all_ok(conv_example(seed, "float32"))


# -- dgamma: a 1% error at m = 1,000 -------------------------------------------------------------


def bn_backward_example(dgamma_factor: float, dtype: str = "float32", loc: float = 0.0) -> Example:
    case = C.BNCase(shape=(1000, 4), dtype=dtype, eps=1e-3, x=C.Values(seed=3, loc=loc))
    inputs = C.materialize_bn(case)
    grads = checks.bn_reference_grads(case, inputs, True)
    return Example("bn_backward", case, inputs, "train",
                   {"dx": grads.dx, "dgamma": grads.dgamma * dgamma_factor, "dbeta": grads.dbeta})


@pytest.mark.parametrize("loc", [0.0, 4.0])
def test_dgamma_one_percent_error_at_m_1000_fails(loc):
    assert all_ok(bn_backward_example(1.0, loc=loc))
    results = {c.name: c.ok for c in checks.judge(bn_backward_example(1.01, loc=loc))}
    assert results == {"dx": True, "dgamma": False, "dbeta": True}


@pytest.mark.parametrize("dtype, loc, shrinks", [("float16", 2.0, False), ("float32", 4.0, True)])
def test_dgamma_bound_is_a_tightening_of_the_independent_sum(dtype, loc, shrinks):
    # E(sum) <= sum |dy| |e_x_hat| (triangle inequality): the new bound never exceeds the old one,
    # and where the shared errors dominate (float32, long reduction) it is much smaller
    m = 1000
    case = C.BNCase(shape=(m, 3), dtype=dtype, x=C.Values(seed=1, loc=loc))
    inputs = C.materialize_bn(case)
    x, mean, var, _ = checks.bn_reference(case, inputs, True)
    grads = checks.bn_reference_grads(case, inputs, True)
    tol = tolerance.bn_backward(inputs.dy, x, inputs.gamma, mean, var, case.eps, -1, dtype, training=True,
                                grads=grads)
    r = tolerance.roundoff(dtype)
    errs = batch_stats.x_hat_errors(x, mean, var, case.eps, 1, r, reduction.WORST_CASE, training=True)
    x_hat = (x - mean) / np.sqrt(var + case.eps)
    old = r.gamma(m + 1) * np.abs(inputs.dy * x_hat).sum(0) + (np.abs(inputs.dy) * errs.element).sum(0)
    old_tol = tolerance.SAFETY * (old + r.out * np.abs(grads.dgamma)) + r.floor
    assert np.all(tol.dgamma <= old_tol * (1 + 1e-12))
    if shrinks:
        assert np.all(tol.dgamma < 0.5 * old_tol)


# -- convolution at production size: honest float32 accumulation conforms, TF32 inputs do not -----


def production_conv_example(dtype: str, accumulate_in: str, tf32: bool = False) -> Example:
    case = C.ConvCase(x_shape=(1, 18, 18, 256), c_out=16, kernel=(3, 3), bias=True, dtype=dtype,
                      x=C.Values(seed=5, loc=0.5), w_seed=5)  # K = 2,304 terms per output
    inputs = C.materialize_conv(case)
    x, w = inputs.x, inputs.w
    if tf32:
        from .numpy_bn import round_tf32
        x, w = (round_tf32(a).astype(np.float64) for a in (x, w))
    y = conv_nhwc_valid(x, w, inputs.b, dtype, accumulate_in=accumulate_in)
    return Example("conv2d", case, inputs, "-", {"y": y})


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_production_conv_accumulating_sequentially_in_float32_conforms(dtype):
    assert all_ok(production_conv_example(dtype, "float32"))


def test_production_conv_with_inputs_rounded_to_tf32_fails_in_float32():
    # at the edge of the statistical tier: every element is within the worst case (err/tol 0.14), and
    # two of 4,096 exceed the probabilistic lambda sqrt(K) u bound, by 2% and 10%
    (y,) = checks.judge(production_conv_example("float32", "float32", tf32=True))
    assert not y.ok and y.n_mismatch == 0 and y.systematic
