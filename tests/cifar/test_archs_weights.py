"""Architectures, shared initial weights, layout conversion, data order and profiles."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bnconform.cifar import order, profiles
from bnconform.cifar.archs import BATCH_SIZE, build_spec, param_counts, shapes
from bnconform.cifar.weights import flatten_permutation, initial_weights, to_channels_first


def test_model_a_parameter_counts_are_the_lectures():
    # the first lecture's summary: BN 12, convs 560, 7240, 28880, 115360, dense 2561000, 10010
    assert param_counts(build_spec("A", True)) == [12, 560, 7240, 28880, 115360, 2561000, 10010]
    assert param_counts(build_spec("A", False)) == [560, 7240, 28880, 115360, 2561000, 10010]


def test_model_b_shapes_and_parameter_counts():
    spec = build_spec("B", True)
    out = shapes(spec)
    assert (30, 30, 32) in out and (15, 15, 32) in out and (7, 7, 64) in out and (3136,) in out
    # by hand: BN 4*3; conv 3*3*3*32+32; BN 4*32; conv 3*3*32*32+32; BN 4*32; conv 3*3*32*64+64;
    # BN 4*3136; dense 3136*512+512; BN 4*512; dense 512*10+10
    assert param_counts(spec) == [12, 896, 128, 9248, 128, 18496, 12544, 1606144, 2048, 5130]
    assert [layer.kind for layer in build_spec("B", False)].count("bn") == 0
    assert BATCH_SIZE == {"A": 100, "B": 32}


def test_weights_are_glorot_uniform_and_deterministic():
    spec = build_spec("A", True)
    first, again, other = (initial_weights(spec, s) for s in (0, 0, 1))
    for layer, shape, p, q, r in zip(
            [lay for lay in spec if lay.kind in ("bn", "conv", "dense")],
            [s for lay, s in zip(spec, shapes(spec)) if lay.kind in ("bn", "conv", "dense")],
            first, again, other):
        for key in p:
            assert p[key].dtype == np.float32
            np.testing.assert_array_equal(p[key], q[key])
        if layer.kind == "bn":
            assert p["gamma"].tolist() == [1.0] * 3 and p["var"].tolist() == [1.0] * 3
            assert not p["beta"].any() and not p["mean"].any()
            continue
        kernel = p["kernel"]
        fan_in, fan_out = (9 * shape[-1], 9 * layer.units) if layer.kind == "conv" else (
            shape[0], layer.units)
        limit = math.sqrt(6 / (fan_in + fan_out))
        assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.9 * limit
        assert abs(kernel.std() - limit / math.sqrt(3)) < 0.1 * limit  # uniform: sd = limit/sqrt(3)
        assert not p["bias"].any()
        assert not np.array_equal(kernel, r["kernel"])


def test_no_bn_variant_shares_conv_and_dense_weights():
    for arch in ("A", "B"):
        with_bn = [p for p in initial_weights(build_spec(arch, True), 3) if "kernel" in p]
        without = initial_weights(build_spec(arch, False), 3)
        assert len(with_bn) == len(without)
        for p, q in zip(with_bn, without):
            np.testing.assert_array_equal(p["kernel"], q["kernel"])


def test_flatten_permutation_maps_nhwc_to_nchw_order():
    x = np.random.default_rng(0).normal(size=(2, 4, 3, 5))
    perm = flatten_permutation(4, 3, 5)
    np.testing.assert_array_equal(x.reshape(2, -1)[:, perm], x.transpose(0, 3, 1, 2).reshape(2, -1))


@pytest.mark.parametrize("arch", ["A", "B"])
def test_channels_first_weights_compute_the_same_dense_layer(arch):
    spec = build_spec(arch, True)
    weights = initial_weights(spec, 0)
    nchw = to_channels_first(spec, weights)
    flat = next(i for i, lay in enumerate(spec) if lay.kind == "flatten")
    h, w, c = shapes(spec)[flat]
    kinds = [lay.kind for lay in spec if lay.kind in ("bn", "conv", "dense")]
    param_index = [i for i, lay in enumerate(spec) if lay.kind in ("bn", "conv", "dense")]
    dense = next(k for k, i in enumerate(param_index) if i > flat and kinds[k] == "dense")
    x = np.random.default_rng(1).normal(size=(3, h, w, c))
    nhwc_out = x.reshape(3, -1) @ weights[dense]["kernel"].astype(np.float64)
    nchw_out = x.transpose(0, 3, 1, 2).reshape(3, -1) @ nchw[dense]["kernel"].T.astype(np.float64)
    np.testing.assert_allclose(nchw_out, nhwc_out, rtol=1e-12, atol=1e-12)
    conv = kinds.index("conv")
    assert nchw[conv]["kernel"].shape == weights[conv]["kernel"].shape[::-1][:2] + (3, 3)
    wrong = to_channels_first(spec, weights, permute_flatten=False)
    assert not np.allclose(x.transpose(0, 3, 1, 2).reshape(3, -1) @ wrong[dense]["kernel"].T,
                           nhwc_out)


def test_data_order_is_shared_and_seeded():
    a, b = order.epoch_order(0, 0, 1000), order.epoch_order(0, 0, 1000)
    np.testing.assert_array_equal(a, b)
    assert sorted(a.tolist()) == list(range(1000))
    assert not np.array_equal(a, order.epoch_order(0, 1, 1000))
    assert not np.array_equal(a, order.epoch_order(1, 0, 1000))
    # purposes are independent streams: the weights do not shift the epoch order
    assert order.stream(0, "weights").random() != order.stream(0, "epoch").random()


class _Grouped:
    """A data set grouped by class, like the JPEG copy."""

    def __init__(self, per_class=100):
        self.y_train = np.repeat(np.arange(10), per_class).astype(np.uint8)
        self.x_train = self.y_train.reshape(-1, 1, 1, 1) * np.ones((1, 32, 32, 3), np.uint8)
        self.y_test = np.repeat(np.arange(10), 20).astype(np.uint8)
        self.x_test = self.y_test.reshape(-1, 1, 1, 1) * np.ones((1, 32, 32, 3), np.uint8)


def test_split_is_fixed_balanced_and_holds_out_the_end_for_model_b():
    data = _Grouped()
    b = order.split(data, n_train=500, n_val=None, validation_split=0.1)
    assert len(b.y_train) == 450 and len(b.y_val) == 50 and len(b.y_test) == 200
    assert np.bincount(b.y_val, minlength=10).min() >= 1  # not one class (the file order's end)
    counts = np.bincount(b.y_train, minlength=10)
    assert counts.min() >= 25 and counts.max() <= 65  # a random 450 of 1000: roughly 45 each
    again = order.split(data, n_train=500, n_val=None, validation_split=0.1)
    np.testing.assert_array_equal(b.y_train, again.y_train)
    a = order.split(data, n_train=None, n_val=60, validation_split=0.0)
    assert len(a.y_train) == 1000 and len(a.y_val) == 60 and len(a.y_test) == 200
    np.testing.assert_array_equal(a.y_test, data.y_test)  # every test image, in file order


def test_a_custom_run_may_test_on_a_fixed_subset_that_leaves_validation_alone():
    data = _Grouped()
    full = order.split(data, n_train=None, n_val=60, validation_split=0.0)
    few = order.split(data, n_train=None, n_val=60, validation_split=0.0, n_test=50)
    assert len(few.y_test) == 50 and np.bincount(few.y_test, minlength=10).min() >= 1  # permuted, not the first classes
    np.testing.assert_array_equal(few.y_val, full.y_val)  # validation still from all test images
    np.testing.assert_array_equal(few.y_test, order.split(data, None, 60, 0.0, n_test=50).y_test)  # fixed
    np.testing.assert_array_equal(few.y_test, full.y_val[:50])  # the same permutation's first images


@pytest.mark.parametrize("name", sorted(profiles.PROFILES))
@pytest.mark.parametrize("arch", ["A", "B"])
def test_profiles_train_long_enough_for_the_moving_statistics(name, arch):
    """With momentum 0.99, k steps leave 0.99**k of the initial moving statistics: every profile
    takes enough steps that this is below 1%, so inference-mode accuracy is meaningful."""
    protocol = profiles.get(name).protocol(arch)
    n = protocol.n_train or 50_000
    n = n - round(n * profiles.VALIDATION_SPLIT[arch])
    steps = protocol.epochs * math.ceil(n / BATCH_SIZE[arch])
    assert 0.99 ** steps < 0.01, f"{name} {arch}: {steps} steps"
