"""Each known-deviation model's math on tiny hand-computed inputs (no framework involved).

Every test states the expected numbers by hand (in the comments), checks that the model accepts
outputs equal to them, and that it rejects the reference's answer or a slightly wrong one: a model
that accepted anything would hide new bugs.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from bnconform import cases as C
from bnconform import checks, dtypes, models, properties, tolerance
from bnconform.checks import Example

REPO = Path(__file__).resolve().parents[2]


def ok(name, example, **params) -> bool:
    return all(c.ok for c in models.judge(name, params, example))


def reference_ok(example) -> bool:
    return all(c.ok for c in checks.judge(example))


def pool_example(prop, x_nhwc, y, **case) -> Example:
    x = np.asarray(x_nhwc, np.float64)
    pool = C.PoolCase(x_shape=x.shape, **case)
    return Example(prop, pool, x, "-", {"y": np.asarray(y, np.float64)})


# -- nan_skipping_max_pool ---------------------------------------------------------------------


def column(values):
    """An (1, H, 1, 1) channels_last input: one column of values."""
    return np.asarray(values, np.float64).reshape(1, -1, 1, 1)


def max_example(x, y, window=(1, 1), dtype="float32") -> Example:
    return pool_example("pool2d_nonfinite", x, y, kind="max", window=window, stride=window, dtype=dtype)


def test_nan_skipping_max_pool_starts_at_the_lowest_finite_value():
    x = column([np.nan, 1.0, -np.inf, np.nan, np.nan, 2.0])
    lowest = -3.4028234663852886e38  # float32's lowest finite value
    # 1x1 windows: NaN -> lowest, 1 -> 1, -inf -> lowest (not greater than the start), NaN -> lowest
    y1 = column([lowest, 1.0, lowest, lowest, lowest, 2.0])
    ex = pool_example("pool2d_nonfinite", x, y1, kind="max", window=(1, 1), stride=(1, 1))
    assert ok("nan_skipping_max_pool", ex)
    assert not reference_ok(ex)  # the reference propagates NaN
    # 2x1 windows: {NaN, 1} -> 1 (NaN skipped), {-inf, NaN} -> lowest, {NaN, 2} -> 2
    ex = pool_example("pool2d_nonfinite", x, column([1.0, lowest, 2.0]), kind="max", window=(2, 1), stride=(2, 1))
    assert ok("nan_skipping_max_pool", ex)
    # the start where a window has numbers: {NaN, 1} -> lowest instead of 1
    wrong = pool_example("pool2d_nonfinite", x, column([lowest, lowest, 2.0]), kind="max", window=(2, 1),
                         stride=(2, 1))
    assert not ok("nan_skipping_max_pool", wrong)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_nan_skipping_max_pool_accepts_either_start_for_a_window_without_numbers(dtype):
    # x = [NaN, 1, -inf, NaN]; 1x1 windows. A start of -inf (oneDNN's float16 path on an Intel CPU
    # with AVX512_FP16, bfloat16 in NHWC) gives [-inf, 1, -inf, -inf]; the lowest finite value
    # (Eigen's MaxReducer) gives [lowest, 1, lowest, lowest]; a mix of both, element by element, too.
    lowest = -dtypes.largest(dtype)  # -65504 in float16, -3.3895313892515355e38 in bfloat16
    x = column([np.nan, 1.0, -np.inf, np.nan])
    for y in ([-np.inf, 1.0, -np.inf, -np.inf], [lowest, 1.0, lowest, lowest], [-np.inf, 1.0, lowest, -np.inf]):
        assert ok("nan_skipping_max_pool", max_example(x, column(y), dtype=dtype)), y
    assert not reference_ok(max_example(x, column([-np.inf, 1.0, -np.inf, -np.inf]), dtype=dtype))


def test_nan_skipping_max_pool_float16_all_nan_window_gives_neg_inf():
    # The user's measurement (TF with oneDNN, Intel CPU with AVX512_FP16): a 2x2 float16 window of
    # four NaN gives -inf; a 2x2 window {NaN, 3, NaN, -2} gives 3.
    x = np.array([[np.nan, np.nan, np.nan, 3.0], [np.nan, np.nan, np.nan, -2.0]]).reshape(1, 2, 4, 1)
    assert ok("nan_skipping_max_pool", max_example(x, [[[[-np.inf], [3.0]]]], window=(2, 2), dtype="float16"))
    assert ok("nan_skipping_max_pool", max_example(x, [[[[-65504.0], [3.0]]]], window=(2, 2), dtype="float16"))
    # the start in the mixed window is wrong whichever start
    assert not ok("nan_skipping_max_pool", max_example(x, [[[[-np.inf], [-np.inf]]]], window=(2, 2), dtype="float16"))
    assert not ok("nan_skipping_max_pool", max_example(x, [[[[-65504.0], [-65504.0]]]], window=(2, 2),
                                                       dtype="float16"))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_nan_skipping_max_pool_rejects_anything_else_for_a_window_without_numbers(dtype):
    # x = [NaN, -inf]: both windows have no numbers, so -inf or the dtype's lowest finite value only;
    # the lowest finite values of the OTHER dtypes are "some other finite number" here.
    lowest = -dtypes.largest(dtype)
    x = column([np.nan, -np.inf])
    assert ok("nan_skipping_max_pool", max_example(x, column([lowest, -np.inf]), dtype=dtype))
    others = [-dtypes.largest(d) for d in ("float16", "bfloat16", "float32") if d != dtype]
    for bad in [np.nan, 0.0, np.inf, -1.0, 1.0, *others]:
        assert not ok("nan_skipping_max_pool", max_example(x, column([bad, -np.inf]), dtype=dtype)), bad
        assert not ok("nan_skipping_max_pool", max_example(x, column([lowest, bad]), dtype=dtype)), bad


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_nan_skipping_max_pool_rejects_the_start_or_nan_in_a_window_with_numbers(dtype):
    lowest = -dtypes.largest(dtype)
    # 2x1 windows: {NaN, -3} -> -3, {-inf, 0.5} -> 0.5, {2, NaN} -> 2
    x = column([np.nan, -3.0, -np.inf, 0.5, 2.0, np.nan])
    assert ok("nan_skipping_max_pool", max_example(x, column([-3.0, 0.5, 2.0]), window=(2, 1), dtype=dtype))
    for start in (-np.inf, lowest):
        for i in range(3):  # the start instead of the window's max, in each window
            y = [-3.0, 0.5, 2.0]
            y[i] = start
            assert not ok("nan_skipping_max_pool", max_example(x, column(y), window=(2, 1), dtype=dtype)), y
    for i in (0, 2):  # NaN propagated in a mixed window
        y = [-3.0, 0.5, 2.0]
        y[i] = np.nan
        assert not ok("nan_skipping_max_pool", max_example(x, column(y), window=(2, 1), dtype=dtype)), y
    # -inf in a mixed window is not a number greater than the others: {-inf, 0.5} -> -inf is wrong
    assert not ok("nan_skipping_max_pool", max_example(x, column([-3.0, -np.inf, 2.0]), window=(2, 1), dtype=dtype))


def test_nan_skipping_max_pool_takes_no_params():
    with pytest.raises(ValueError, match="takes no parameters"):
        models.check_params("nan_skipping_max_pool", {"neg_inf_dtypes": ["bfloat16"]})


def test_nan_skipping_max_pool_does_not_model_average_pooling():
    ex = pool_example("pool2d_nonfinite", column([1.0, 2.0]), column([1.5]), kind="avg", window=(2, 1),
                      stride=(2, 1))
    with pytest.raises(models.NotModelled, match="models max pooling, not avg"):
        models.judge("nan_skipping_max_pool", {}, ex)


# -- lp_pool_signed ------------------------------------------------------------------------------


def test_lp_pool_signed_keeps_the_sign():
    x = np.array([-1.0, -2.0, 0.5, 0.25]).reshape(1, 2, 2, 1)
    # p = 1: the signed sum -1 - 2 + 0.5 + 0.25 = -2.25 (the L1 norm would be 3.75)
    ex = pool_example("pool2d_lp_odd_p", x, [[[[-2.25]]]], kind="lp", p=1.0, window=(2, 2), stride=(2, 2))
    assert ok("lp_pool_signed", ex)
    assert not reference_ok(ex)
    norm = pool_example("pool2d_lp_odd_p", x, [[[[3.75]]]], kind="lp", p=1.0, window=(2, 2), stride=(2, 2))
    assert reference_ok(norm) and not ok("lp_pool_signed", norm)
    # p = 3: sum x^3 = -1 - 8 + 0.125 + 0.015625 = -8.859375 < 0, and pow(negative, 1/3) is NaN
    ex = pool_example("pool2d_lp_odd_p", x, [[[[np.nan]]]], kind="lp", p=3.0, window=(2, 2), stride=(2, 2))
    assert ok("lp_pool_signed", ex)
    # p = 3 on [1, 2, 0, 0]: 9^(1/3); 0.1 % more is outside the model's float32 bound
    x = np.array([1.0, 2.0, 0.0, 0.0]).reshape(1, 2, 2, 1)
    cube_root_9 = 2.080083823051904
    assert ok("lp_pool_signed", pool_example("pool2d_lp_odd_p", x, [[[[cube_root_9]]]], kind="lp", p=3.0,
                                              window=(2, 2), stride=(2, 2)))
    assert not ok("lp_pool_signed", pool_example("pool2d_lp_odd_p", x, [[[[cube_root_9 * 1.001]]]], kind="lp",
                                                  p=3.0, window=(2, 2), stride=(2, 2)))


def test_lp_pool_signed_bound_is_relative_to_the_absolute_sum():
    """Cancellation: sum x = 1e-3 of terms of size 1, in float32. The bound is (gamma_5 + 4 u) * 2
    (plus storing), about 1e-6 absolute: 1e-3 * (1 + 1e-5) passes, 1e-3 * 1.01 does not."""
    x = np.array([1.0, -(1.0 - 1e-3)], np.float64).reshape(1, 2, 1, 1)
    x = dtypes.round_to(x, "float32")
    s = float(x.sum())
    close = pool_example("pool2d_lp_odd_p", x, [[[[s * (1 + 1e-5)]]]], kind="lp", p=1.0, window=(2, 1),
                         stride=(2, 1))
    far = pool_example("pool2d_lp_odd_p", x, [[[[s * 1.01]]]], kind="lp", p=1.0, window=(2, 1), stride=(2, 1))
    assert ok("lp_pool_signed", close) and not ok("lp_pool_signed", far)


def test_lp_pool_signed_powers_in_dtype_overflow_to_inf():
    """float16, p = 3: 41^3 = 68,921 > 65,504, so x.pow(3) is inf and so is the root (pow(-inf, 1/3)
    is +inf too); 40^3 = 64,000 stays finite. Without the parameter the model expects 41."""
    x = np.array([41.0, -41.0, 40.0, 2.0]).reshape(1, 4, 1, 1)
    case = dict(kind="lp", p=3.0, window=(1, 1), stride=(1, 1), dtype="float16")
    torch_like = pool_example("pool2d_lp_odd_p", x, np.array([np.inf, np.inf, 40.0, 2.0]).reshape(1, 4, 1, 1), **case)
    assert ok("lp_pool_signed", torch_like, powers_in_dtype=True)
    assert not ok("lp_pool_signed", torch_like)
    # a window holding +inf and -inf powers: inf - inf = NaN
    pair = pool_example("pool2d_lp_odd_p", np.array([41.0, -41.0]).reshape(1, 2, 1, 1), [[[[np.nan]]]],
                        kind="lp", p=3.0, window=(2, 1), stride=(2, 1), dtype="float16")
    assert ok("lp_pool_signed", pair, powers_in_dtype=True)
    # 40^3 does not overflow: inf there is not explained
    wrong = pool_example("pool2d_lp_odd_p", x, np.array([np.inf, np.inf, np.inf, 2.0]).reshape(1, 4, 1, 1), **case)
    assert not ok("lp_pool_signed", wrong, powers_in_dtype=True)


def test_lp_pool_signed_a_sum_near_zero_may_come_out_of_either_sign():
    """float16, p = 3, x = -0.01: x^3 = -1e-6 is below the smallest normal (6.1e-5), so a CPU that
    flushes gives -0 and pow(-0, 1/3) = 0, one that keeps subnormals gives NaN; both are honest.
    A value beyond (2 e_s)^(1/3) is not."""
    x = np.array([-0.01]).reshape(1, 1, 1, 1)
    case = dict(kind="lp", p=3.0, window=(1, 1), stride=(1, 1), dtype="float16")
    x = dtypes.round_to(x, "float16")
    assert ok("lp_pool_signed", pool_example("pool2d_lp_odd_p", x, [[[[0.0]]]], **case))
    assert ok("lp_pool_signed", pool_example("pool2d_lp_odd_p", x, [[[[np.nan]]]], **case))
    assert not ok("lp_pool_signed", pool_example("pool2d_lp_odd_p", x, [[[[0.2]]]], **case))


def test_lp_root_exponent_error_is_delta_log_y():
    """pow(s, fl(1/p)): y (1 + delta ln y) to first order, delta the rounding of 1/p in the dtype."""
    q = 1.0 / 3.0
    delta = abs(float(np.float32(q)) - q) / q  # 2.98e-8, half a float32 unit roundoff
    assert math.isclose(delta, 2.9802322e-08, rel_tol=1e-6)
    y = np.array([4.0, 1.0, 1e-5, 0.0])
    expected = delta * np.abs(np.log([4.0, 1.0, 1e-5, 1.0])) * np.array([4.0, 1.0, 1e-5, 0.0])
    assert np.allclose(tolerance.root_exponent_error(y, 3.0, "float32"), expected, rtol=1e-12, atol=0)
    assert not tolerance.root_exponent_error(y, 2.0, "float32").any()  # 1/2 is exact: no term
    # it is the error of the exact computation with the rounded exponent, to first order
    actual = abs((4.0 ** 3) ** float(np.float32(q)) - 4.0)
    assert math.isclose(actual, tolerance.root_exponent_error(np.array([4.0]), 3.0, "float32")[0], rel_tol=1e-6)


def test_lp_power_underflow_error_counts_the_flushed_powers():
    """float16 (f = 2^-14): a window with one power below f may lose f from its sum, carried through
    the root as min(s^(1/p - 1) f / p, f^(1/p)); a window with none gets nothing."""
    r = tolerance.roundoff("float16")
    f = 2.0 ** -14
    assert r.floor == f
    x = np.array([0.01, 1.0, 2.0, 3.0]).reshape(1, 2, 2, 1)  # 0.01^3 = 1e-6 < f; the others are not
    count = tolerance.underflowing_powers(x, 3.0, (1, 1), r, stride=(1, 1), padding="valid", ceil_mode=False,
                                          data_format="channels_last")
    assert count.ravel().tolist() == [1.0, 0.0, 0.0, 0.0]
    s = np.abs(x) ** 3
    err = tolerance.power_underflow_error(s, 3.0, count, r)
    assert math.isclose(err.ravel()[0], min(1e-6 ** (-2 / 3) * f / 3, f ** (1 / 3)), rel_tol=1e-9)
    assert not err.ravel()[1:].any()


# -- lp_pool_ceil_rescaled -----------------------------------------------------------------------


def test_lp_pool_ceil_rescaled_scales_the_border_window():
    x = column([1.0, 2.0, 3.0])
    # window 2x1, stride 2, ceil mode: windows {1, 2} and {3} (covering 1 of 2 positions)
    # torch: sqrt(1 + 4) and sqrt(9 * 2 / 1) = sqrt(18); the reference: sqrt(5) and 3
    torch_like = column([math.sqrt(5.0), math.sqrt(18.0)])
    ex = pool_example("pool2d_lp_ceil_mode", x, torch_like, kind="lp", p=2.0, window=(2, 1), stride=(2, 1),
                      ceil_mode=True)
    assert ok("lp_pool_ceil_rescaled", ex) and not reference_ok(ex)
    norm = pool_example("pool2d_lp_ceil_mode", x, column([math.sqrt(5.0), 3.0]), kind="lp", p=2.0, window=(2, 1),
                        stride=(2, 1), ceil_mode=True)
    assert reference_ok(norm) and not ok("lp_pool_ceil_rescaled", norm)


# -- same_padding_replicated_edges -----------------------------------------------------------------


def test_same_padding_replicated_edges():
    x = column([0.0, 4.0, 8.0, 12.0])
    # window 4x1, stride 1, 'same': padding (1, 2) rows, asymmetric, so the torch backend pads
    # [0 | 0 4 8 12 | 12 12] and divides every window by 4: 3, 6, 9, 11
    # (the reference divides by the values in the window: 4, 6, 8, 10)
    ex = pool_example("pool2d", x, column([3.0, 6.0, 9.0, 11.0]), kind="avg", window=(4, 1), stride=(1, 1),
                      padding="same")
    assert ok("same_padding_replicated_edges", ex) and not reference_ok(ex)
    ref = pool_example("pool2d", x, column([4.0, 6.0, 8.0, 10.0]), kind="avg", window=(4, 1), stride=(1, 1),
                       padding="same")
    assert reference_ok(ref) and not ok("same_padding_replicated_edges", ref)


def test_same_padding_symmetric_is_the_reference():
    x = column([0.0, 4.0, 8.0])
    # window 3x1, stride 1: padding (1, 1), symmetric: the backend is correct, 2, 4, 6
    ex = pool_example("pool2d", x, column([2.0, 4.0, 6.0]), kind="avg", window=(3, 1), stride=(1, 1), padding="same")
    assert ok("same_padding_replicated_edges", ex)


# -- batch norm: moving statistics -----------------------------------------------------------------


def bn_inputs(xs, moving_mean, moving_var):
    xs = tuple(np.asarray(x, np.float64) for x in xs)
    c = xs[0].shape[-1]
    return C.BNInputs(xs, np.ones(c), np.zeros(c), np.full(c, moving_mean, np.float64),
                      np.full(c, moving_var, np.float64), np.zeros_like(xs[0]))


def moving_example(x, *, momentum, dtype, mean, var, moving_mean=0.0, moving_var=0.0, convention="keras"):
    case = C.BNCase(shape=np.shape(x), axis=-1, dtype=dtype, momentum=momentum, steps=1)
    return Example("bn_moving_stats", case, bn_inputs([x], moving_mean, moving_var), "train",
                   {"moving_mean": np.array([mean]), "moving_var": np.array([var])}, convention=convention)


def test_unbiased_moving_variance():
    x = [[-1.0], [1.0]]
    # m = 2, biased variance 1, unbiased 2; momentum 0.5 from 0: biased 0.5, unbiased 1.0
    fused = moving_example(x, momentum=0.5, dtype="float32", mean=0.0, var=1.0)
    assert ok("unbiased_moving_variance", fused) and not reference_ok(fused)
    documented = moving_example(x, momentum=0.5, dtype="float32", mean=0.0, var=0.5)
    assert reference_ok(documented) and not ok("unbiased_moving_variance", documented)
    # m = 1: TensorFlow's factor m / max(m - 1, 1) is 1, the variance 0: 0.5 * 3 + 0.5 * 0 = 1.5
    single = moving_example([[7.0]], momentum=0.5, dtype="float32", mean=3.5, var=1.5, moving_var=3.0)
    assert ok("unbiased_moving_variance", single)


def test_momentum_rounded():
    x = [[0.0], [0.0]]
    # float64, momentum 0.99 from moving mean 1: decay = float32(0.01) = 0.009999999776482582,
    # new = 1 - 1 * decay = 0.9900000002235174 (the reference: 0.99 exactly)
    decay = float(np.float32(0.01))
    assert decay == 0.009999999776482582
    rounded = moving_example(x, momentum=0.99, dtype="float64", mean=1.0 - decay, var=1.0 - decay,
                             moving_mean=1.0, moving_var=1.0)
    assert ok("momentum_rounded", rounded) and not reference_ok(rounded)
    exact = moving_example(x, momentum=0.99, dtype="float64", mean=0.99, var=0.99, moving_mean=1.0, moving_var=1.0)
    assert reference_ok(exact) and not ok("momentum_rounded", exact)
    assert ok("momentum_rounded", exact, dtype="float64")  # rounding to float64 is no rounding


# -- tolerance models ----------------------------------------------------------------------------


def float32_one_pass_variance(x) -> float:
    x = np.asarray(x, np.float32)
    return float(np.mean(x * x, dtype=np.float32) - np.mean(x, dtype=np.float32) ** 2)


def test_the_one_pass_variance_bound_holds_what_the_two_pass_bound_does_not():
    """float32 batch 1e4 + {-1, 1, -1, 1}: the one-pass variance E[x^2] - E[x]^2 computed in float32
    is 0 (E[x^2] = 100000001 is not a float32), true variance 1. It lies outside the two-pass bound
    and inside the one-pass one (which is about (1e4)^2 u = 6)."""
    x = (1e4 + np.array([-1.0, 1.0, -1.0, 1.0])).reshape(4, 1)
    computed = float32_one_pass_variance(x)
    assert computed == 0.0
    r = tolerance.roundoff("float32")
    _, two_pass = tolerance.batch_stat_errors(x, [1e4], [1.0], 1, r)
    _, one_pass = tolerance.batch_stat_errors(x, [1e4], [1.0], 1, r, one_pass=True)
    assert two_pass.item() < abs(computed - 1.0) <= one_pass.item()


def bn_forward_example(x, y, *, dtype, eps=1e-3, prop="bn_forward"):
    x = np.asarray(x, np.float64)
    case = C.BNCase(shape=x.shape, axis=-1, dtype=dtype, eps=eps, steps=1)
    return Example(prop, case, bn_inputs([x], 0.0, 1.0), "train", {"y": np.asarray(y, np.float64)})


def float32_batch_norm(x, eps, *, one_pass: bool):
    x32 = np.asarray(x, np.float32)
    mean = x32.mean(axis=0, dtype=np.float32)
    var = (np.mean(x32 * x32, axis=0, dtype=np.float32) - mean * mean) if one_pass else x32.var(axis=0, dtype=np.float32)
    return ((x32 - mean) / np.sqrt(var + np.float32(eps))).astype(np.float64)


def test_one_pass_variance_explains_a_one_pass_forward_and_not_a_planted_error():
    """Offset 300, spread 1: the one-pass float32 forward exceeds the two-pass bound; the one-pass
    bound (about 300^2 * 3 * 9 u relative on the variance, 8 % on y) holds it. On plain data
    (offset 3) the one-pass bound is tight (about 1e-5 on y) and a 1 % error in y is outside it."""
    x = dtypes.round_to(np.random.default_rng(0).normal(300.0, 1.0, (8, 3)), "float32")
    y = float32_batch_norm(x, 1e-3, one_pass=True)
    ex = bn_forward_example(x, y, dtype="float32")
    assert not reference_ok(ex)
    assert ok("one_pass_variance", ex)
    plain = dtypes.round_to(np.random.default_rng(0).normal(3.0, 1.0, (8, 3)), "float32")
    y = float32_batch_norm(plain, 1e-3, one_pass=True)
    assert ok("one_pass_variance", bn_forward_example(plain, y, dtype="float32"))
    assert not ok("one_pass_variance", bn_forward_example(plain, y * 1.01, dtype="float32"))


def test_one_pass_variance_unclamped_allows_nan_only_where_the_variance_is_unresolved():
    # float32, offset 1e4, spread 1, eps 1e-5: var + eps is not resolved (one-pass bound ~6 > 1)
    x = np.array([[1e4 - 1.0, 0.5], [1e4 + 1.0, -0.5]])
    y = np.array([[np.nan, 1.0], [np.nan, -1.0]])  # feature 1: var 0.25, y = +-0.5 / sqrt(0.25 + eps)
    y[:, 1] = np.array([0.5, -0.5]) / math.sqrt(0.25 + 1e-5)
    ex = bn_forward_example(x, y, dtype="float32", eps=1e-5)
    assert ok("one_pass_variance", ex, clamped=False)
    assert not ok("one_pass_variance", ex)  # clamped (flax): NaN is never predicted
    y_bad = y.copy()
    y_bad[0, 1] = np.nan  # NaN in a well-resolved feature is not the model
    assert not ok("one_pass_variance", bn_forward_example(x, y_bad, dtype="float32", eps=1e-5), clamped=False)


def test_float32_compute_explains_a_float64_layer_computing_in_float32():
    x = np.random.default_rng(1).normal(2.0, 3.0, (6, 2))
    y = float32_batch_norm(x, 1e-3, one_pass=False)
    ex = bn_forward_example(x, y, dtype="float64")
    assert not reference_ok(ex) and ok("float32_compute", ex)
    assert not ok("float32_compute", bn_forward_example(x, y * (1 + 1e-4), dtype="float64"))


def sequential_half_mean(values, dtype) -> float:
    total = dtypes.round_to(0.0, dtype)
    for v in values:
        total = float(dtypes.round_to(total + v, dtype))
    return float(dtypes.round_to(total / len(values), dtype))


def test_half_precision_accumulation_explains_a_float16_window_sum():
    # window {1, 2^-11, 2^-11, 2^-11}: each 1 + 2^-11 rounds back to 1 in float16 (ties to even),
    # so the sequential float16 mean is 0.25; the exact mean is 0.2503662109375 (error 3.7e-4,
    # beyond the float32-accumulation bound of about 2.5e-4, within the float16 one of about 1.5e-3)
    values = [1.0, 2.0**-11, 2.0**-11, 2.0**-11]
    assert sequential_half_mean(values, "float16") == 0.25
    x = column(values)
    ex = pool_example("pool2d", x, column([0.25]), kind="avg", window=(4, 1), stride=(4, 1), dtype="float16")
    assert not reference_ok(ex) and ok("half_precision_accumulation", ex)
    wrong = pool_example("pool2d", x, column([0.25 * 1.01]), kind="avg", window=(4, 1), stride=(4, 1),
                         dtype="float16")
    assert not ok("half_precision_accumulation", wrong)
    with pytest.raises(models.NotModelled, match="not float32"):
        models.judge("half_precision_accumulation", {},
                       pool_example("pool2d", x, column([0.25]), kind="avg", window=(4, 1), stride=(4, 1)))


def test_half_precision_long_sums_have_a_finite_bound():
    """144 bfloat16 terms: n u = 0.56, so gamma_n does not exist; the model bounds the sum by
    (1 + u)^n - 1 = 0.754 of the absolute sum (and the default model refuses)."""
    r = tolerance.roundoff("bfloat16", accumulate_in="bfloat16")
    assert float(r.gamma(144)) == pytest.approx(math.expm1(144 * math.log1p(2.0**-8)))
    assert 0.75 < float(r.gamma(144)) < 0.76
    with pytest.raises(ValueError, match="too long"):
        tolerance.roundoff("bfloat16")._replace(acc=2.0**-8).gamma(144)


# -- conventions -------------------------------------------------------------------------------------


DECLARED = {"momentum_meaning": "keras", "running_variance": "biased", "default_eps": 1e-3, "default_momentum": 0.99,
            "default_axis": -1}


def conventions(**readings) -> Example:
    outputs = {"momentum_meaning": 0.1, "running_variance": 0.5, "running_variance_4d": 0.5, "default_eps": 1e-3,
               "default_axis": -1.0}
    outputs.update(readings)
    return Example("conventions", None, {}, "-", outputs, extra={"declared": DECLARED})


def test_probe_4d_unbiased_running_variance_explains_only_that_disagreement():
    assert reference_ok(conventions())
    fused = conventions(running_variance_4d=1.0)
    assert not reference_ok(fused) and ok("probe_4d_unbiased_running_variance", fused)
    both = conventions(running_variance_4d=1.0, momentum_meaning=0.9)
    assert not ok("probe_4d_unbiased_running_variance", both)
    two_d = conventions(running_variance=1.0, running_variance_4d=1.0)
    assert not ok("probe_4d_unbiased_running_variance", two_d)
    missing = conventions(running_variance_4d=float("nan"))
    assert not ok("probe_4d_unbiased_running_variance", missing)


# -- the registry ------------------------------------------------------------------------------------


def test_every_variant_documents_its_mechanism_and_kind():
    for name, model in models.REGISTRY.items():
        assert model.NAME == name
        assert model.REPLACES in ("reference", "tolerance", "crash")
        # a crash model predicts (bnconform.models.judge_crash), an output model judges
        assert callable(getattr(model, "predict" if model.REPLACES == "crash" else "judge", None)), name
        assert len((model.__doc__ or "").split()) > 40, name
        # it declares checks (each a row's), never property names; every check is some row's
        assert model.CHECKS and all(isinstance(c, checks.Check) for c in model.CHECKS), name
        assert {c.name for c in model.CHECKS} <= {row.check.name for row in properties.TABLE if row.check}, name
    # no model branches on a property's name: the check (and so the outputs) is what it judges
    for path in (REPO / "bnconform" / "models").glob("*.py"):
        assert ".prop ==" not in path.read_text() and ".prop !=" not in path.read_text(), path.name


def test_a_variant_refuses_a_check_it_does_not_model():
    ex = bn_forward_example([[1.0], [2.0]], [[-1.0], [1.0]], dtype="float32")
    with pytest.raises(models.NotModelled, match="judges the checks pool2d, not bn_forward"):
        models.judge("lp_pool_signed", {}, ex)


def test_a_variant_judges_every_property_of_its_checks():
    # the adversarial forward property uses the forward check: a model of the batch statistics judges it
    assert models.properties_judged("one_pass_variance") == (
        "bn_forward", "bn_forward_adversarial", "bn_backward", "bn_moving_stats", "bn_call_sequence", "bn_masked",
        "bn_synchronized")
    assert models.properties_judged("unbiased_moving_variance") == ("bn_moving_stats", "bn_call_sequence")
    assert models.properties_judged("probe_4d_unbiased_running_variance") == ("conventions",)


@pytest.mark.parametrize("name, params, problem", [
    ("no_such", {}, "unknown model 'no_such'; known: bias_along_last_axis, float32_compute"),
    ("float32_compute", {"x": 1}, "model 'float32_compute' takes no parameters; unknown parameter(s) x"),
    ("momentum_rounded", {"dtype": "float8"}, "model 'momentum_rounded': parameter dtype must be one of float16"),
    ("one_pass_variance", {"clamped": "no"}, "model 'one_pass_variance': parameter clamped must be true or false"),
])
def test_bad_parameters_are_refused(name, params, problem):
    with pytest.raises(ValueError) as info:
        models.check_params(name, params)
    assert str(info.value).startswith(problem)


# -- bias_along_last_axis ------------------------------------------------------------------------


def conv_example(x_nchw, w_oihw, b, y, **case) -> Example:
    x = np.asarray(x_nchw, np.float64)
    w = np.asarray(w_oihw, np.float64)
    conv = C.ConvCase(x_shape=x.shape, data_format="channels_first", c_out=w.shape[0], kernel=w.shape[2:],
                      bias=b is not None, dtype="float32", **case)
    inputs = C.ConvInputs(x, w, None if b is None else np.asarray(b, np.float64))
    return Example("conv2d", conv, inputs, "-", {"y": np.asarray(y, np.float64)})


def test_bias_along_last_axis_adds_the_bias_along_w_when_w_equals_the_filters():
    # x (1, 1, 1, 2) = [[1, 2]], two 1x1 filters with weights 1 and 10: z[0, c, 0, w] = [[1, 2], [10, 20]];
    # bias b = [100, 1000]. The reference adds b[c]: [[101, 102], [1010, 1020]]; the Keras tensorflow
    # backend adds b[w]: [[101, 1002], [110, 1020]].
    x, w, b = [[[[1.0, 2.0]]]], [[[[1.0]]], [[[10.0]]]], [100.0, 1000.0]
    along_w = np.array([[[[101.0, 1002.0]], [[110.0, 1020.0]]]])
    along_c = np.array([[[[101.0, 102.0]], [[1010.0, 1020.0]]]])
    assert ok("bias_along_last_axis", conv_example(x, w, b, along_w))
    assert not reference_ok(conv_example(x, w, b, along_w))
    # the model does not excuse a third answer, e.g. the bias added twice along W
    assert not ok("bias_along_last_axis", conv_example(x, w, b, along_w + np.array([100.0, 1000.0])))
    assert reference_ok(conv_example(x, w, b, along_c))


def test_bias_along_last_axis_is_the_reference_when_w_differs_from_the_filters():
    # x (1, 1, 1, 3): W_out = 3 != C_out = 2, so the mechanism does not apply: only the reference explains
    x, w, b = [[[[1.0, 2.0, 3.0]]]], [[[[1.0]]], [[[10.0]]]], [100.0, 1000.0]
    along_c = np.array([[[[101.0, 102.0, 103.0]], [[1010.0, 1020.0, 1030.0]]]])
    assert ok("bias_along_last_axis", conv_example(x, w, b, along_c))
    assert not ok("bias_along_last_axis", conv_example(x, w, b, along_c + 1.0))


# -- tf32_inputs -------------------------------------------------------------------------------


def conv_1x1(x, w, y, dtype="float32") -> Example:
    """A 1x1 convolution of one pixel, one channel in and out: y = x * w."""
    case = C.ConvCase(x_shape=(1, 1, 1, 1), c_out=1, kernel=(1, 1), dtype=dtype)
    inputs = C.ConvInputs(x=np.full((1, 1, 1, 1), x), w=np.full((1, 1, 1, 1), w), b=None)
    return Example("conv2d", case, inputs, "-", {"y": np.full((1, 1, 1, 1), y)})


def test_tf32_rounding_by_hand():
    tf32 = models.get("tf32_inputs").to_tf32
    # TF32 keeps 10 mantissa bits: its ulp at 1 is 2^-10
    values = [1 + 2.0**-20, 1 + 2.0**-11, 1 + 3 * 2.0**-11, 1 + 2.0**-11 + 2.0**-20, -(1 + 3 * 2.0**-11), 0.0]
    assert list(tf32(values, "nearest")) == [1.0, 1.0, 1 + 2.0**-9, 1 + 2.0**-10, -(1 + 2.0**-9), 0.0]  # ties to even
    assert list(tf32(values, "truncate")) == [1.0, 1.0, 1 + 2.0**-10, 1.0, -(1 + 2.0**-10), 0.0]
    assert np.isnan(tf32([np.nan])[0]) and list(tf32([np.inf, -np.inf])) == [np.inf, -np.inf]


def test_tf32_inputs_explains_rounded_products_only():
    x = 1 + 2.0**-11 + 2.0**-20  # float32-exact; TF32: 1 + 2^-10 (nearest), 1 (truncate)
    # nearest: y = (1 + 2^-10) * 1
    assert ok("tf32_inputs", conv_1x1(x, 1.0, 1 + 2.0**-10))
    assert not reference_ok(conv_1x1(x, 1.0, 1 + 2.0**-10))
    assert not ok("tf32_inputs", conv_1x1(x, 1.0, x))  # the float32 answer is not TF32's
    assert not ok("tf32_inputs", conv_1x1(x, 1.0, 1.0))  # nor truncation's
    # truncate: y = 1 * 1
    assert ok("tf32_inputs", conv_1x1(x, 1.0, 1.0), rounding="truncate")
    assert not ok("tf32_inputs", conv_1x1(x, 1.0, 1 + 2.0**-10), rounding="truncate")
    # both inputs rounded: x = w = 1 + 3 * 2^-11 -> (1 + 2^-9)^2 = 1 + 2^-8 + 2^-18, exact in float32
    y = (1 + 2.0**-9) ** 2
    assert ok("tf32_inputs", conv_1x1(1 + 3 * 2.0**-11, 1 + 3 * 2.0**-11, y))


def test_tf32_inputs_leaves_other_dtypes_to_the_reference():
    # float64 is not TF32's: the reference decides (x * w exactly)
    x = 1 + 2.0**-11 + 2.0**-20
    assert ok("tf32_inputs", conv_1x1(x, 1.0, x, dtype="float64"))
    assert not ok("tf32_inputs", conv_1x1(x, 1.0, 1 + 2.0**-10, dtype="float64"))


def test_tf32_inputs_rejects_an_unknown_rounding():
    with pytest.raises(ValueError, match='rounding must be "nearest" or "truncate"'):
        models.check_params("tf32_inputs", {"rounding": "stochastic"})


def test_one_pass_variance_unclamped_predicts_one_variance_per_unresolved_feature_and_nothing_else():
    """float32, offset 1e4, spread about 1, eps 1e-3: every feature is unresolved, and E[x^2] - E[x]^2
    in float32 gives 0, -8 and 16 for variances 0.83, 0.39 and 0.25. So feature 0 is normalized by
    sqrt(eps) (y about 30 times too large), feature 1 is NaN and feature 2 by sqrt(16) (y about 8
    times too small): the reference rejects it, the unclamped model explains it (one variance per
    feature in the one-pass interval), and still rejects an output that is no such normalization."""
    x = dtypes.round_to(np.random.default_rng(0).normal(1e4, 1.0, (4, 3)), "float32")
    y = float32_batch_norm(x, 1e-3, one_pass=True)
    assert np.isnan(y[:, 1]).all() and np.isfinite(y[:, [0, 2]]).all()
    ex = bn_forward_example(x, y, dtype="float32")
    assert not reference_ok(ex)
    assert ok("one_pass_variance", ex, clamped=False)
    one_element = y.copy()
    one_element[0, 2] *= 1.5  # not one scale for the whole feature
    shifted = y.copy()
    shifted[:, 0] += 1.0  # a shift of the feature: beyond the one-pass mean's bound
    flipped = y.copy()
    flipped[:, 2] *= -1.0  # a negative scale: no variance gives it
    for bad in (one_element, shifted, flipped):
        assert not ok("one_pass_variance", bn_forward_example(x, bad, dtype="float32"), clamped=False)
