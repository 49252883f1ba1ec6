"""Plumbing and conventions of the ``flax-linen`` and ``flax-nnx`` adapters, measured on inputs whose
results are worked out by hand in each test (not copied from the adapters' output)."""

from __future__ import annotations

import math

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("flax")

from bnconform.adapters import flax_adapter as F  # noqa: E402
from bnconform import cases as C  # noqa: E402

APIS = ("linen", "nnx")


@pytest.fixture(scope="module", params=APIS)
def adapter(request):
    return F.FlaxAdapter(request.param)


@pytest.fixture(scope="module")
def linen():
    return F.load_linen()


def bn_inputs(xs, *, gamma=1.0, beta=0.0, mean=0.0, var=1.0, dy=None) -> C.BNInputs:
    xs = tuple(np.asarray(x, np.float64) for x in xs)
    c = xs[0].shape[1]
    full = lambda v: np.broadcast_to(np.asarray(v, np.float64), (c,)).copy()  # noqa: E731
    dy = np.zeros_like(xs[0]) if dy is None else np.asarray(dy, np.float64)
    return C.BNInputs(xs, full(gamma), full(beta), full(mean), full(var), dy)


def bn_case(shape, **kw) -> C.BNCase:
    return C.BNCase(shape=shape, axis=1, **kw)


# -- conventions, measured ------------------------------------------------------------------------


def test_momentum_weighs_the_old_statistics(adapter):
    # batch {0, 2}: mean 1, biased variance 1. Keras meaning: 0.9 * old + 0.1 * batch.
    case = bn_case((2, 1), eps=1e-3, momentum=0.9)
    run = adapter.bn(case, bn_inputs([[[0.0], [2.0]]], mean=0.5, var=2.0), training=True)
    assert run.moving_mean[0] == pytest.approx(0.9 * 0.5 + 0.1 * 1.0, rel=1e-6)
    assert run.moving_var[0] == pytest.approx(0.9 * 2.0 + 0.1 * 1.0, rel=1e-6)  # unbiased would be 2.0


def test_steps_apply_the_average_once_per_batch(adapter):
    case = bn_case((2, 1), eps=1e-3, momentum=0.5, steps=2)
    run = adapter.bn(case, bn_inputs([[[0.0], [2.0]], [[4.0], [6.0]]]), training=True)
    # mean: 0 -> 0.5 * 0 + 0.5 * 1 = 0.5 -> 0.5 * 0.5 + 0.5 * 5 = 2.75; var: 1 -> 1 -> 1
    assert run.moving_mean[0] == pytest.approx(2.75, rel=1e-6)
    assert run.moving_var[0] == pytest.approx(1.0, rel=1e-6)
    # the output is the last batch's: (x - 5) / sqrt(1 + eps)
    np.testing.assert_allclose(run.y[:, 0], np.array([-1.0, 1.0]) / math.sqrt(1.001), rtol=1e-6)


def test_inference_uses_the_given_statistics_and_keeps_them(adapter):
    case = bn_case((2, 1), eps=0.25, momentum=0.9)
    inputs = bn_inputs([[[1.0], [3.5]]], gamma=2.0, beta=-1.0, mean=1.5, var=1.0)
    run = adapter.bn(case, inputs, training=False)
    # y = 2 * (x - 1.5) / sqrt(1.25) - 1
    np.testing.assert_allclose(run.y[:, 0], 2.0 * (np.array([1.0, 3.5]) - 1.5) / math.sqrt(1.25) - 1.0, rtol=1e-6)
    assert run.moving_mean.tolist() == [1.5] and run.moving_var.tolist() == [1.0]


def test_gradients_of_a_small_batch(adapter):
    # x = {0, 2}: mean 1, var 1, x_hat = -+1/sqrt(1 + eps). dbeta = sum dy, dgamma = sum dy x_hat,
    # dx (training) = gamma / sigma * (dy - mean(dy) - x_hat * mean(dy x_hat)).
    eps = 0.44
    sigma = math.sqrt(1.0 + eps)
    case = bn_case((2, 1), eps=eps, momentum=0.9)
    run = adapter.bn(case, bn_inputs([[[0.0], [2.0]]], gamma=3.0, dy=[[1.0], [5.0]]), training=True, grads=True)
    x_hat = np.array([-1.0, 1.0]) / sigma
    dy = np.array([1.0, 5.0])
    assert run.dbeta.tolist() == [6.0]
    assert run.dgamma[0] == pytest.approx(float(dy @ x_hat), rel=1e-6)
    dx = 3.0 / sigma * (dy - dy.mean() - x_hat * (dy * x_hat).mean())
    np.testing.assert_allclose(run.dx[:, 0], dx, rtol=1e-5)


def test_feature_axis_is_respected(adapter):
    # (N, C, H, W) with features on axis 1: each channel is its own constant-plus-ramp.
    x = np.zeros((1, 2, 1, 2))
    x[0, 0, 0] = [0.0, 2.0]  # mean 1, var 1
    x[0, 1, 0] = [10.0, 14.0]  # mean 12, var 4
    case = C.BNCase(shape=x.shape, axis=1, eps=1e-3, momentum=0.0)
    run = adapter.bn(case, bn_inputs([x]), training=True)
    np.testing.assert_allclose(run.moving_mean, [1.0, 12.0], rtol=1e-6)
    np.testing.assert_allclose(run.moving_var, [1.0, 4.0], rtol=1e-6)


def test_float64_statistics_are_kept_in_64_bits(adapter):
    # momentum 1 keeps the old value exactly; 0.1 is not a float32, so a 32-bit store would show.
    case = bn_case((2, 1), dtype="float64", eps=1e-3, momentum=1.0)
    run = adapter.bn(case, bn_inputs([[[0.0], [2.0]]], mean=0.1, var=0.3), training=True)
    assert run.moving_mean.tolist() == [0.1] and run.moving_var.tolist() == [0.3]
    assert not jax.config.jax_enable_x64  # the 64-bit mode was scoped to the call


def test_half_precision_statistics_are_kept_in_float32(adapter):
    # batch {1, 1 + 2**-10} (both float16): mean 1 + 2**-11 is a float32 but not a float16.
    case = bn_case((2, 1), dtype="float16", eps=1e-3, momentum=0.0)
    run = adapter.bn(case, bn_inputs([[[1.0], [1.0 + 2.0**-10]]]), training=True)
    assert run.moving_mean.tolist() == [1.0 + 2.0**-11]


# -- the default layer ------------------------------------------------------------------------


def test_default_layer_state_and_conventions(adapter):
    a = 0.01
    x = np.array([[-a, 1.0], [a, 3.0]])  # feature 0: mean 0, var a^2; feature 1: mean 2
    run = adapter.bn_default(x, training=True)
    assert [s.tolist() for s in run.initial] == [[1.0, 1.0], [0.0, 0.0], [0.0, 0.0], [1.0, 1.0]]
    # default eps 1e-5 inside the square root: |y| = a / sqrt(a^2 + 1e-5)
    assert abs(run.y[0, 0]) == pytest.approx(a / math.sqrt(a * a + 1e-5), rel=1e-5)
    # default momentum 0.99: 0.99 * 0 + 0.01 * 2
    assert run.moving_mean[1] == pytest.approx(0.02, rel=1e-6)


def test_default_layer_normalizes_the_last_axis(adapter):
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    assert adapter.bn_default(x, training=True).moving_mean.shape == (5,)


def test_default_layer_uses_one_pass_variance(adapter):
    # float32 batch 1e4 + {-1, 1}: E[x^2] - E[x]^2 cancels to 0 (1e8 + 2e4 + 1 is not a float32),
    # so |y| = 1 / sqrt(eps) instead of 1 / sqrt(1 + eps). known_deviations.toml relies on this.
    x = 1e4 + np.array([[-1.0], [1.0], [-1.0], [1.0]])
    run = adapter.bn_default(x, training=True)
    assert np.abs(run.y).max() == pytest.approx(1.0 / math.sqrt(1e-5), rel=1e-4)


def test_call_without_flag(adapter):
    x = np.array([[0.0], [2.0]])
    run = adapter.bn_default(x, training=None)
    if adapter.api == "linen":  # use_running_average has no default in linen
        assert run.y is None and "use_running_average" in run.error
    else:  # nnx: use_running_average=False by default, so the call trains
        assert run.error is None and run.moving_mean[0] == pytest.approx(0.01, rel=1e-6)


def test_inference_flag_on_default_layer(adapter):
    run = adapter.bn_default(np.array([[0.0], [2.0]]), training=False)
    np.testing.assert_allclose(run.y[:, 0], np.array([0.0, 2.0]) / math.sqrt(1.0 + 1e-5), rtol=1e-6)
    assert run.moving_mean.tolist() == [0.0] and run.moving_var.tolist() == [1.0]


# -- pooling (linen) and bad input ---------------------------------------------------------


@pytest.mark.parametrize(
    "include, expected",
    [(True, [[0.25, 0.75], [1.0, 2.5]]), (False, [[1.0, 1.5], [2.0, 2.5]])],
)
def test_avg_pool_counts_padding_only_when_asked(linen, include, expected):
    # x = [[1, 2], [3, 4]], 2x2 windows, stride 1, one row and column of padding before the data:
    # the window sums are 1, 3, 4, 10 over 1, 2, 2, 4 input values (4 positions each).
    x = np.array([[1.0, 2.0], [3.0, 4.0]])[None, :, :, None]
    case = C.PoolCase(kind="avg", x_shape=x.shape, window=(2, 2), stride=(1, 1), padding=((1, 0), (1, 0)),
                      count_include_pad=include)
    np.testing.assert_allclose(linen.pool2d(case, x)[0, :, :, 0], expected, rtol=1e-7)


def test_max_pool_same_padding(linen):
    x = np.arange(15.0).reshape(1, 3, 5, 1)
    case = C.PoolCase(kind="max", x_shape=x.shape, window=(2, 2), stride=(2, 2), padding="same")
    # rows {0,1},{2}; columns {0,1},{2,3},{4}
    np.testing.assert_array_equal(linen.pool2d(case, x)[0, :, :, 0], [[6.0, 8.0, 9.0], [11.0, 13.0, 14.0]])


def test_bad_input_is_named(linen):
    with pytest.raises(ValueError, match="^api"):
        F.FlaxAdapter("haiku")
    first = C.PoolCase(kind="max", x_shape=(1, 1, 4, 4), data_format="channels_first")
    with pytest.raises(ValueError, match="^data_format"):
        linen.pool2d(first, np.zeros(first.x_shape))
    lp = C.PoolCase(kind="lp", x_shape=(1, 4, 4, 1))
    with pytest.raises(ValueError, match="^kind"):
        linen.pool2d(lp, np.zeros(lp.x_shape))
    with pytest.raises(ValueError, match="^op"):
        F.load_nnx().pool2d(C.PoolCase(), np.zeros((1, 4, 4, 1)))


def test_cumulative_momentum_is_refused_with_the_reason(adapter):
    assert "cumulative" in adapter.unsupported(C.BNCase(momentum=None))
    assert adapter.unsupported(C.BNCase()) is None
    assert not adapter.conventions.momentum_none
