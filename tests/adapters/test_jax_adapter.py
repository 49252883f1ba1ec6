"""Plumbing of the ``jax`` adapter: argument translation (layout, OIHW kernels, padding), the scoped
64-bit mode, and clear errors. Expected values are worked out by hand in each test."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")

from bnconform.adapters import jax_adapter as J  # noqa: E402
from bnconform.adapters import jax_common  # noqa: E402
from bnconform import cases as C  # noqa: E402


@pytest.fixture(scope="module")
def adapter():
    return J.load()


def conv(adapter, x, w, **kw) -> np.ndarray:
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    case = C.ConvCase(x_shape=x.shape, c_out=w.shape[0], kernel=w.shape[2:], **kw)
    return adapter.conv2d(case, C.ConvInputs(x, w, None))


def nhwc(rows) -> np.ndarray:
    """One sample, one channel, from a list of rows."""
    return np.asarray(rows, np.float64)[None, :, :, None]


def test_capabilities_leave_out_what_lax_does_not_have(adapter):
    caps = adapter.capabilities
    assert "batch_norm" not in caps.ops
    assert "avg" not in caps.pool_kinds and "lp" not in caps.pool_kinds
    assert not caps.conv_bias and not caps.pool_ceil_mode


def test_conv_is_cross_correlation_with_oihw_kernel(adapter):
    # y[i, j] = x[i, j] - x[i+1, j+1]; on 1..9 row-major that is 1 - 5 = -4 everywhere
    # (a flipped kernel, true convolution, would give +4).
    x = nhwc([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    w = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])
    np.testing.assert_array_equal(conv(adapter, x, w), np.full((1, 2, 2, 1), -4.0))


def test_same_padding_puts_the_odd_pixel_at_the_end(adapter):
    # a 1x2 kernel of ones on [1, 2, 3, 4]: total padding 1, after the data -> [3, 5, 7, 4]
    y = conv(adapter, nhwc([[1, 2, 3, 4]]), np.ones((1, 1, 1, 2)), padding="same")
    np.testing.assert_array_equal(y[0, 0, :, 0], [3.0, 5.0, 7.0, 4.0])


def test_explicit_asymmetric_padding(adapter):
    # pad 2 on the left, 0 on the right: windows [0,0], [0,1], [1,2], [2,3], [3,4] summed
    y = conv(adapter, nhwc([[1, 2, 3, 4]]), np.ones((1, 1, 1, 2)), padding=((0, 0), (2, 0)))
    np.testing.assert_array_equal(y[0, 0, :, 0], [0.0, 1.0, 3.0, 5.0, 7.0])


def test_dilation_and_groups(adapter):
    # dilation 2 along W: y[j] = x[j] + x[j + 2]
    y = conv(adapter, nhwc([[1, 2, 3, 4, 5]]), np.ones((1, 1, 1, 2)), dilation=(1, 2))
    np.testing.assert_array_equal(y[0, 0, :, 0], [4.0, 6.0, 8.0])
    # two groups of one channel: channel 0 times 2, channel 1 times 3
    x = np.array([[[[1.0, 10.0]]]])  # (1, 1, 1, 2) NHWC
    w = np.array([[[[2.0]]], [[[3.0]]]])  # (2, 1, 1, 1) OIHW
    np.testing.assert_array_equal(conv(adapter, x, w, groups=2)[0, 0, 0], [2.0, 30.0])


def test_channels_first_is_the_same_convolution(adapter):
    last = C.ConvCase(x_shape=(2, 6, 7, 3), c_out=4, kernel=(3, 2), stride=(2, 1), padding="same", w_seed=3)
    inputs = C.materialize_conv(last)
    first = C.from_json({**last.to_json(), "x_shape": [2, 3, 6, 7], "data_format": "channels_first"})
    x_nchw = inputs.x.transpose(0, 3, 1, 2)
    y_last = adapter.conv2d(last, inputs)
    y_first = adapter.conv2d(first, C.ConvInputs(x_nchw, inputs.w, None))
    np.testing.assert_array_equal(y_first.transpose(0, 2, 3, 1), y_last)


def test_float64_runs_in_64_bits_and_leaves_the_mode_alone(adapter):
    tiny = 2.0**-40  # 1 + 2**-40 is not a float32: a 32-bit run would return 1
    y = conv(adapter, np.full((1, 1, 1, 1), 1.0 + tiny), np.ones((1, 1, 1, 1)), dtype="float64")
    assert y.item() == 1.0 + tiny
    assert not jax.config.jax_enable_x64
    with jax.enable_x64(True):  # a caller's own setting is restored after a float32 case
        conv(adapter, np.ones((1, 1, 1, 1)), np.ones((1, 1, 1, 1)))
        assert jax.config.jax_enable_x64


def test_float32_case_runs_in_32_bits_even_under_global_x64(adapter):
    with jax.enable_x64(True):
        y = conv(adapter, np.full((1, 1, 1, 1), 1.0 + 2.0**-40), np.ones((1, 1, 1, 1)))
    assert y.item() == 1.0  # the input cast to float32 first, and the op ran in float32


def test_max_pool_pads_with_minus_infinity(adapter):
    x = nhwc([[-4, -3], [-2, -1]])
    case = C.PoolCase(kind="max", x_shape=x.shape, window=(2, 2), stride=(1, 1), padding=((1, 0), (1, 0)))
    np.testing.assert_array_equal(adapter.pool2d(case, x)[0, :, :, 0], [[-4.0, -3.0], [-2.0, -1.0]])


def test_max_pool_channels_first_and_same(adapter):
    x = np.arange(12.0).reshape(1, 1, 3, 4)  # NCHW
    case = C.PoolCase(kind="max", x_shape=x.shape, data_format="channels_first", window=(2, 2), stride=(2, 2),
                      padding="same")
    # windows rows {0,1},{2}; columns {0,1},{2,3}: maxima 5, 7 / 9, 11
    np.testing.assert_array_equal(adapter.pool2d(case, x)[0, 0], [[5.0, 7.0], [9.0, 11.0]])


def test_global_average_both_layouts(adapter):
    x = nhwc([[1, 2], [3, 6]])
    last = C.PoolCase(kind="global_avg", x_shape=x.shape, window=(1, 1), stride=(1, 1))
    first = C.PoolCase(kind="global_avg", x_shape=(1, 1, 2, 2), data_format="channels_first", window=(1, 1),
                       stride=(1, 1))
    assert adapter.pool2d(last, x).tolist() == [[3.0]]
    assert adapter.pool2d(first, x.transpose(0, 3, 1, 2)).tolist() == [[3.0]]


@pytest.mark.parametrize(
    "bad, field",
    [
        ("SAME", "padding"),
        ("full", "padding"),
        (((1,), (2, 3)), "padding"),
        (((1, -1), (0, 0)), "padding"),
    ],
)
def test_bad_padding_is_named(bad, field):
    with pytest.raises(ValueError, match=f"^{field}"):
        jax_common.padding_arg(bad)


def test_bad_layout_and_kind_are_named(adapter):
    with pytest.raises(ValueError, match="^data_format"):
        jax_common.layout("NHWC")
    case = C.PoolCase(kind="avg", x_shape=(1, 4, 4, 1))
    with pytest.raises(ValueError, match="^kind"):
        adapter.pool2d(case, np.zeros(case.x_shape))


def test_bias_is_refused_with_the_reason(adapter):
    case = C.ConvCase(bias=True)
    assert "no bias" in adapter.unsupported(case)
    assert adapter.unsupported(C.ConvCase()) is None
    with pytest.raises(ValueError, match="^bias"):
        adapter.conv2d(case, C.materialize_conv(case))
