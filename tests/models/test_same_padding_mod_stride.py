"""The models of keras 3.5.0 to 3.8.0's 'same' pooling on the torch backend (keras-team/keras#20235):
``same_padding_mod_stride`` (outputs) and ``same_padding_mod_stride_crash`` (where torch raises), on
hand-computed cases. Each model's agreement with those releases themselves was measured through the
adapter over 13,608 cases (``tools/same_pooling_grid.py``, docs/history.md#keras-20235): CI has no
such release installed."""

from __future__ import annotations

import numpy as np
import pytest

from bnconform import cases as C
from bnconform import checks, models
from bnconform.checks import Example

OUTPUTS, CRASH = "same_padding_mod_stride", "same_padding_mod_stride_crash"


def example(x_nhwc, y, kind, window, stride) -> Example:
    x = np.asarray(x_nhwc, np.float64)
    case = C.PoolCase(x_shape=x.shape, kind=kind, window=window, stride=stride, padding="same")
    return Example("pool2d", case, x, "-", {"y": np.asarray(y, np.float64)})


def ok(name, ex) -> bool:
    return all(c.ok for c in models.judge(name, {}, ex))


def reference_ok(ex) -> bool:
    return all(c.ok for c in checks.judge(ex))


def grid(rows, cols):
    """x[h, w] = 10 h + w, as (1, rows, cols, 1)."""
    return (10.0 * np.arange(rows)[:, None] + np.arange(cols)[None, :]).reshape(1, rows, cols, 1)


@pytest.mark.parametrize("kind, y", [("avg", [10.5, 30.5]), ("max", [21.0, 41.0])])
def test_symmetric_padding_goes_to_the_other_axis(kind, y):
    # 5 x 3, window 3 x 3, stride 2 x 3. Rows: total 2 - 4 % 2 = 2, (1, 1); columns: 2 - 2 % 3 = 0,
    # (0, 0). Both symmetric, so torch gets (0, 1) read as (rows 0, columns 1): rows windows [0..2],
    # [2..4]; columns padded to [-1, 0, 1, 2, 3], one window over columns -1, 0, 1, i.e. data columns
    # 0 and 1. avg (padding not counted): {0, 1, 10, 11, 20, 21} / 6 = 10.5 and {20, ..., 41} / 6 = 30.5;
    # max: 21 and 41. Shape (1, 2, 1, 1) where TensorFlow's 'same' gives ceil(5 / 2) = 3 rows.
    ex = example(grid(5, 3), np.reshape(y, (1, 2, 1, 1)), kind, (3, 3), (2, 3))
    assert ok(OUTPUTS, ex)
    assert not reference_ok(ex)  # another shape: a mismatch, not an exception
    wrong = example(grid(5, 3), np.reshape(y, (1, 2, 1, 1)) + 0.5, kind, (3, 3), (2, 3))
    assert not ok(OUTPUTS, wrong)


def test_a_negative_padding_crops_the_input():
    # column [0, 4, 8, 12], window 1, stride 2: total 0 - 3 % 2 = -1, (-1, 0), asymmetric: the input is
    # "padded" by -1 rows at the top (cropped to [4, 8, 12]) and pooled: 4, 12. TensorFlow: 0, 8.
    x = np.asarray([0.0, 4.0, 8.0, 12.0]).reshape(1, 4, 1, 1)
    cropped = example(x, np.reshape([4.0, 12.0], (1, 2, 1, 1)), "avg", (1, 1), (2, 1))
    assert ok(OUTPUTS, cropped) and not reference_ok(cropped)
    tensorflow = example(x, np.reshape([0.0, 8.0], (1, 2, 1, 1)), "avg", (1, 1), (2, 1))
    assert reference_ok(tensorflow) and not ok(OUTPUTS, tensorflow)


def test_asymmetric_padding_replicates_the_edges():
    # column [0, 4, 8, 12], window 4, stride 1: total 3 - 0 = 3, (1, 2): [0 | 0 4 8 12 | 12 12], every
    # window divided by 4: 3, 6, 9, 11 (as from 3.9.0 on, keras-torch-same-avg-pool-replicated-edges)
    x = np.asarray([0.0, 4.0, 8.0, 12.0]).reshape(1, 4, 1, 1)
    ex = example(x, np.reshape([3.0, 6.0, 9.0, 11.0], (1, 4, 1, 1)), "avg", (4, 1), (1, 1))
    assert ok(OUTPUTS, ex) and ok("same_padding_replicated_edges", ex) and not reference_ok(ex)


def test_where_torch_accepts_the_padding_the_answer_is_the_reference():
    # 4 x 4, window 3 x 3, stride 1: (1, 1) on both axes; swapping equal amounts changes nothing
    x = grid(4, 4)
    ex = example(x, np.zeros((1, 4, 4, 1)), "max", (3, 3), (1, 1))
    ref = example(x, checks.reference_pool(ex.case, x)[0], "max", (3, 3), (1, 1))
    assert ok(OUTPUTS, ref) and reference_ok(ref)


def prediction(shape, window, stride, kind="max"):
    case = C.PoolCase(x_shape=(1, *shape, 1), kind=kind, window=window, stride=stride, padding="same")
    return models.get(CRASH).predict(case, "-")


@pytest.mark.parametrize("shape, window, stride, message, why", [
    # rows (1, 1), columns (0, 0): torch gets rows 0, columns 1 > 1 // 2 = 0
    ((3, 1), (3, 1), (1, 1), "pad should be at most half of effective kernel size", "axis W"),
    # rows 0 - 2 % 3 = -2, (-1, -1); columns (0, 0): columns get -1
    ((3, 1), (1, 1), (3, 1), "pad must be non-negative", "axis W"),
    # rows 2 - 0 = 2, (1, 1); columns 2 - 2 % 3 = 0: rows get 0 and 1 + 0 < 3, no window
    ((1, 3), (3, 3), (1, 3), "Output size is too small", "axis H"),
])
def test_the_crash_is_predicted_with_torchs_message(shape, window, stride, message, why):
    predicted = prediction(shape, window, stride)
    assert predicted.exception == "RuntimeError" and why in predicted.why
    explained, words = models.judge_crash(CRASH, {}, checks.POOL2D, predicted and C.PoolCase(
        x_shape=(1, *shape, 1), kind="avg", window=window, stride=stride, padding="same"), "-",
        RuntimeError(f"Exception encountered when calling AveragePooling2D.call().\n\n{message}, but got ..."))
    assert explained, words
    other = RuntimeError("Exception encountered when calling AveragePooling2D.call().\n\nsomething else")
    assert not models.judge_crash(CRASH, {}, checks.POOL2D, C.PoolCase(
        x_shape=(1, *shape, 1), kind="avg", window=window, stride=stride, padding="same"), "-", other)[0]


@pytest.mark.parametrize("shape, window, stride, kind, padding", [
    ((5, 3), (3, 3), (2, 3), "max", "same"),  # swapped, accepted (the outputs above)
    ((4, 1), (1, 1), (2, 1), "avg", "same"),  # asymmetric: cropped, never raises
    ((3, 1), (3, 1), (1, 1), "max", "valid"),  # not 'same'
    ((3, 1), (3, 1), (1, 1), "lp", "same"),  # not max or avg
])
def test_no_crash_is_predicted_elsewhere(shape, window, stride, kind, padding):
    case = C.PoolCase(x_shape=(1, *shape, 1), kind=kind, window=window, stride=stride, padding=padding)
    assert models.get(CRASH).predict(case, "-").exception is None


def test_the_output_model_leaves_predicted_crashes_to_the_crash_model():
    ex = example(grid(3, 1), np.zeros((1, 3, 1, 1)), "max", (3, 1), (1, 1))
    with pytest.raises(models.NotModelled, match="crash model"):
        models.judge(OUTPUTS, {}, ex)


def test_channels_first_reads_the_spatial_axes_from_its_own_positions():
    last = C.PoolCase(x_shape=(1, 3, 1, 1), kind="max", window=(3, 1), stride=(1, 1), padding="same")
    first = C.PoolCase(x_shape=(1, 1, 3, 1), kind="max", window=(3, 1), stride=(1, 1), padding="same",
                       data_format="channels_first")
    assert models.get(CRASH).predict(last, "-").exception == models.get(CRASH).predict(first, "-").exception
