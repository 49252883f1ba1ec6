"""Plumbing of the Keras 3 adapters (``keras-tensorflow``, ``keras-jax``, ``keras-torch``): the three run
in one process, switching Keras's backend; calls interleaved across targets must stay right and
reproducible, nothing may leak from one backend to the next (stale modules, layers, jax_enable_x64), and
cases Keras cannot express are refused with a reason. Expected values come from the float64 reference
(``bnconform.checks``) or from formulas worked out in the tests, never from the adapters.
"""

from __future__ import annotations

import dataclasses
import sys
import warnings

import numpy as np
import pytest

from bnconform import adapters
from bnconform import reference as R
from bnconform.adapters import keras_adapter as K
from bnconform import cases as C
from bnconform import checks

pytest.importorskip("keras")

TARGETS = ("keras-tensorflow", "keras-jax", "keras-torch")


def load(target):
    """The adapter; skipped only if its framework is not installed (a load failure is a test failure)."""
    missing = adapters.get(target).missing()
    if missing:
        pytest.skip(f"{target}: {missing}")
    return adapters.load(target)


def active_backend() -> str:
    return sys.modules["keras"].backend.backend()


def assert_ok(comparisons):
    bad = [c for c in comparisons if not c.ok]
    assert not bad, "\n".join(c.message() for c in bad)


BN = C.BNCase(shape=(3, 4, 5, 2), axis=-1, eps=1e-3, momentum=0.9, steps=2, x=C.Values(seed=3, loc=0.5))
CONV = C.ConvCase(x_shape=(2, 6, 7, 3), c_out=4, kernel=(3, 2), stride=(2, 1), padding="same", bias=True,
                  x=C.Values(seed=4), w_seed=2)
POOL = C.PoolCase(kind="avg", x_shape=(2, 6, 8, 3), window=(2, 2), stride=(2, 2), padding="valid", x=C.Values(seed=5))

STEPS = {
    "bn_train": lambda a: checks.check_bn_forward(a, BN, "train"),
    "bn_grads": lambda a: checks.check_bn_backward(a, BN, "train"),
    "bn_stats": lambda a: checks.check_bn_moving_stats(a, BN),
    "conv": lambda a: checks.check_conv2d(a, CONV),
    "pool": lambda a: checks.check_pool2d(a, POOL),
}


def outputs(adapter, step: str):
    """The raw output of one step (to compare runs bit for bit)."""
    if step.startswith("bn"):
        run = adapter.bn(BN, C.materialize_bn(BN), training=True, grads=step == "bn_grads")
        return [a for a in run if a is not None]
    if step == "conv":
        return [adapter.conv2d(CONV, C.materialize_conv(CONV))]
    return [adapter.pool2d(POOL, C.materialize_pool(POOL))]


def test_interleaved_targets_stay_right_and_reproducible():
    loaded = {t: load(t) for t in TARGETS}
    first = {}
    order = [(t, s) for s in STEPS for t in TARGETS]  # every step hops to the next backend
    for target, step in order:
        adapter = loaded[target]
        assert_ok(STEPS[step](adapter))
        assert active_backend() == adapter.backend
        first[target, step] = outputs(adapter, step)
    for target, step in reversed(order):  # again, in another order: bit-identical results
        again = outputs(loaded[target], step)
        assert active_backend() == loaded[target].backend
        for a, b in zip(first[target, step], again):
            np.testing.assert_array_equal(a, b, err_msg=f"{target} {step} changed after switching backends")


def test_a_switch_made_elsewhere_is_undone_before_the_next_op():
    tf_adapter = load("keras-tensorflow")
    load("keras-jax")
    assert_ok(checks.check_bn_forward(tf_adapter, BN, "train"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sys.modules["keras"].config.set_backend("jax")  # someone else's code, behind the adapter's back
    assert active_backend() == "jax"
    assert_ok(checks.check_bn_forward(tf_adapter, BN, "train"))
    assert active_backend() == "tensorflow"


def test_layers_are_rebuilt_with_the_modules_of_the_current_import():
    tf_adapter, torch_adapter = load("keras-tensorflow"), load("keras-torch")
    tf_adapter.bn(BN, C.materialize_bn(BN), training=True)
    before = [e.layer for e in tf_adapter._cache.entries.values()]
    torch_adapter.bn(BN, C.materialize_bn(BN), training=True)  # re-imports Keras on torch
    tf_adapter.bn(BN, C.materialize_bn(BN), training=True)  # and back on tensorflow: a new keras module
    keras = sys.modules["keras"]
    layers = [e.layer for e in tf_adapter._cache.entries.values()]
    assert layers and all(type(layer) is keras.layers.BatchNormalization for layer in layers)
    assert not any(layer is old for layer in layers for old in before)


def test_float64_on_jax_runs_in_64_bits_and_leaves_x64_off():
    jax = pytest.importorskip("jax")
    adapter = load("keras-jax")
    case = dataclasses.replace(CONV, dtype="float64")
    assert not jax.config.jax_enable_x64
    comparisons = checks.check_conv2d(adapter, case)  # float64 tolerances: float32 arithmetic would fail
    assert_ok(comparisons)
    assert comparisons[0].max_abs < 1e-12
    assert not jax.config.jax_enable_x64


def test_jax_compiles_once_per_configuration_whatever_eps_momentum_and_values():
    count_compiles = pytest.importorskip("bnconform.adapters.jax_common").count_compiles
    adapter = load("keras-jax")
    case = C.BNCase(shape=(5, 3, 2, 7), axis=1, eps=1e-3, momentum=0.9, steps=2)  # off the strategies' menus
    with count_compiles() as names:
        adapter.bn(case, C.materialize_bn(case), training=True, grads=True)
    assert names, "the first call of a configuration compiles (or the counter sees nothing)"
    other = dataclasses.replace(case, eps=0.37, momentum=0.123, x=C.Values(seed=8, loc=3.0), params_seed=4)
    with count_compiles() as names:
        adapter.bn(other, C.materialize_bn(other), training=True, grads=True)
        adapter.bn(other, C.materialize_bn(other), training=True)  # forward only: the same compiled function
    assert names == []


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float64"])
def test_jax_builds_a_layer_without_compiling_its_initial_values(dtype):
    """A new configuration compiles the layer's call and nothing else (Keras's "zeros"/"ones"
    initializers, run by JAX, compile a broadcast for every new weight shape); the layer starts
    with the values and dtypes a default-initialized layer has."""
    count_compiles = pytest.importorskip("bnconform.adapters.jax_common").count_compiles
    adapter = load("keras-jax")
    conv = dataclasses.replace(CONV, x_shape=(1, 5, 7, 9), c_out=3, kernel=(1, 2), dtype=dtype)  # off the menus
    bn = C.BNCase(shape=(2, 11, 3), axis=1, dtype=dtype)
    with count_compiles() as names:
        adapter.conv2d(conv, C.materialize_conv(conv))
    assert names == ["jit(<lambda>)"]
    with count_compiles() as names:
        adapter.bn(bn, C.materialize_bn(bn), training=True)
    assert names == ["jit(call_with_grads)"]
    keras = adapter.keras()
    with adapter._scope(dtype):
        built = [e.layer for e in list(adapter._cache.entries.values())[-2:]]
        default = [
            keras.layers.Conv2D(3, (1, 2), kernel_initializer="zeros", bias_initializer="zeros", dtype=dtype),
            keras.layers.BatchNormalization(axis=1, dtype=dtype),
        ]
        default[0].build(conv.x_shape), default[1].build(bn.shape)
    for layer, expected in zip(built, default):
        assert [w.path.split("/")[-1] for w in layer.weights] == [w.path.split("/")[-1] for w in expected.weights]
        for w, e in zip(layer.weights, expected.weights):
            assert (w.dtype, w.shape) == (e.dtype, e.shape)
            np.testing.assert_array_equal(np.asarray(w.value, np.float64), np.asarray(e.value, np.float64))


@pytest.mark.parametrize("target", TARGETS)
def test_default_layer_follows_the_declared_conventions(target):
    adapter = load(target)
    conv = adapter.conventions
    x = np.random.default_rng(0).normal(1.0, 2.0, (16, 3)).astype(np.float32).astype(np.float64)
    mean, var = x.mean(axis=0), x.var(axis=0)  # the biased batch variance

    trained = adapter.bn_default(x, training=True)
    assert trained.error is None
    np.testing.assert_array_equal(trained.initial.gamma, np.ones(3))
    np.testing.assert_array_equal(trained.initial.moving_var, np.ones(3))
    m = conv.default_momentum
    assert conv.momentum == "keras" and conv.running_var == "biased"
    np.testing.assert_allclose(trained.moving_mean, m * 0.0 + (1 - m) * mean, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(trained.moving_var, m * 1.0 + (1 - m) * var, rtol=1e-5)
    np.testing.assert_allclose(trained.y, (x - mean) / np.sqrt(var + conv.default_eps), rtol=1e-4, atol=1e-5)

    plain = adapter.bn_default(x, training=None)  # no training flag: inference with the fresh statistics
    np.testing.assert_allclose(plain.y, x / np.sqrt(1.0 + conv.default_eps), rtol=1e-6)
    np.testing.assert_array_equal(plain.moving_mean, np.zeros(3))
    np.testing.assert_array_equal(plain.moving_var, np.ones(3))

    image = np.ones((2, 4, 4, 5))
    assert adapter.bn_default(image, training=False).initial.gamma.shape == (5,)  # default axis -1


def unsupported_cases():
    yield "padding", dataclasses.replace(CONV, padding=((1, 0), (0, 1)))
    yield "dilation", dataclasses.replace(CONV, stride=(2, 2), dilation=(2, 1), padding="valid")
    yield "lp", dataclasses.replace(POOL, kind="lp")
    yield "ceil_mode", dataclasses.replace(POOL, ceil_mode=True)
    yield "padding", dataclasses.replace(POOL, padding=((1, 1), (0, 0)))
    yield "momentum", dataclasses.replace(BN, momentum=None)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("word,case", list(unsupported_cases()))
def test_what_keras_cannot_express_is_refused_with_a_reason(target, word, case):
    adapter = load(target)
    reason = adapter.unsupported(case)
    assert reason and word in reason
    run = {"conv2d": lambda: adapter.conv2d(case, C.materialize_conv(case)),
           "pool2d": lambda: adapter.pool2d(case, C.materialize_pool(case)),
           "batch_norm": lambda: adapter.bn(case, C.materialize_bn(case), training=True)}[case.op]
    with pytest.raises(ValueError, match=r"^case: "):
        run()


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_tensorflow_refusals_are_the_frameworks_own(dtype):
    """A channels_first Conv2D either runs right or is refused with TensorFlow's message, never errors."""
    adapter = load("keras-tensorflow")
    case = dataclasses.replace(CONV, data_format="channels_first", x_shape=(2, 3, 6, 7), dtype=dtype)
    reason = adapter.unsupported(case)
    if reason is None:
        assert_ok(checks.check_conv2d(adapter, case))
    else:
        assert reason.startswith("keras ") and dtype in reason and "NHWC" in reason
        with pytest.raises(ValueError, match="refuses a channels_first Conv2D"):
            adapter.conv2d(case, C.materialize_conv(case))


def test_coverage_of_keras_tensorflow_records_the_channels_first_conv_probe_per_dtype():
    adapter = load("keras-tensorflow")
    coverage = adapter.coverage()
    assert coverage["capabilities"]["conv_paddings"] == ["valid", "same"]
    assert set(coverage["probes"]) == {f"conv2d channels_first {dt}" for dt in K.DTYPES} | OPTION_PROBES
    for dtype in K.DTYPES:
        case = dataclasses.replace(CONV, data_format="channels_first", x_shape=(2, 3, 6, 7), dtype=dtype)
        reason = adapter.unsupported(case)
        assert coverage["probes"][f"conv2d channels_first {dtype}"] == {"offered": reason is None, "reason": reason}


#: the batch-norm options every adapter's coverage lists (drawn, or not with the reason)
OPTION_PROBES = {f"batch_norm option {flag}" for flag in ("affine", "scale", "center", "track_running_stats", "trainable")}


@pytest.mark.parametrize("target", ["keras-jax", "keras-torch"])
def test_backends_that_take_every_layout_have_no_probes(target):
    coverage = load(target).coverage()
    assert set(coverage["probes"]) == OPTION_PROBES  # no layout probes, only the batch-norm options
    assert coverage["capabilities"]["conv_data_formats"] == ["channels_last", "channels_first"]
    assert [f for f in ("scale", "center", "trainable", "affine", "track_running_stats")
            if coverage["probes"][f"batch_norm option {f}"]["offered"]] == ["scale", "center", "trainable"]


def test_a_machine_whose_tensorflow_refuses_nchw_shows_it_in_coverage(monkeypatch):
    """Planted: tf.nn.convolution refuses NCHW in every dtype, as TensorFlow's Eigen kernels do when oneDNN is
    off (``TF_ENABLE_ONEDNN_OPTS=0``). A fresh adapter (probes not cached) records every dtype refused,
    with TensorFlow's message, and refuses the cases accordingly."""
    if adapters.get("keras-tensorflow").missing():
        pytest.skip("keras-tensorflow: " + adapters.get("keras-tensorflow").missing())
    import tensorflow as tf

    real = tf.nn.convolution
    message = "The Conv2D op currently only supports the NHWC tensor format on the CPU. The op was given the format: NCHW"

    def eigen_only(input, filters, strides=None, padding="VALID", data_format=None, dilations=None, name=None):
        if data_format == "NCHW":
            raise tf.errors.UnimplementedError(None, None, message)
        return real(input, filters, strides, padding, data_format=data_format, dilations=dilations, name=name)

    monkeypatch.setattr(tf.nn, "convolution", eigen_only)
    adapter = K.KerasAdapter("tensorflow")
    probes = adapter.coverage()["probes"]
    for dtype in K.DTYPES:
        probe = probes[f"conv2d channels_first {dtype}"]
        assert probe["offered"] is False
        assert probe["reason"].startswith(f"keras {adapter.version} refuses a channels_first Conv2D in {dtype}: ")
        assert message in probe["reason"]
        case = dataclasses.replace(CONV, data_format="channels_first", x_shape=(2, 3, 6, 7), dtype=dtype)
        assert adapter.unsupported(case) == probe["reason"]
    channels_last = dataclasses.replace(CONV, dtype="float32")
    assert adapter.unsupported(channels_last) is None


def test_keras_tensorflow_add_takes_a_channel_bias_for_the_last_axis_when_the_sizes_agree():
    """The mechanism behind the keras-tensorflow channels_first conv2d deviation, on any machine: Keras's
    TensorFlow ``ops.add`` rewrites x + b, b of shape (1, C, 1, 1), into ``tf.nn.bias_add`` and takes NHWC
    as soon as x's last axis has C entries, so b lands along W (keras/src/backend/tensorflow/numpy.py)."""
    load("keras-tensorflow")  # skipped where TensorFlow is not installed
    keras = K.active_keras("tensorflow")
    x = np.zeros((1, 2, 3, 2), np.float32)  # (N, C, H, W) with W == C
    b = np.array([1.0, 2.0], np.float32)
    got = keras.ops.convert_to_numpy(keras.ops.add(x, b.reshape(1, 2, 1, 1)))
    np.testing.assert_array_equal(got, x + b[None, None, None, :])  # along W
    assert not np.array_equal(got, x + b[None, :, None, None])  # not along C, where NumPy broadcasts it
    wide = np.zeros((1, 2, 3, 5), np.float32)  # W != C: the channel axis, as it should be
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(keras.ops.add(wide, b.reshape(1, 2, 1, 1))),
                                  wide + b[None, :, None, None])


def test_keras_tensorflow_channels_first_conv_adds_the_bias_along_w_when_w_out_equals_filters():
    """What the layer computes, where TensorFlow takes NCHW Conv2D at all (oneDNN's float32 here):
    y[n, c, h, w] = conv[n, c, h, w] + b[w] when W_out == C_out, the reference's bias otherwise."""
    adapter = load("keras-tensorflow")
    case = C.ConvCase(x_shape=(1, 4, 4, 4), data_format="channels_first", c_out=4, kernel=(1, 1), bias=True,
                      dtype="float32", x=C.Values(seed=0), w_seed=0)
    reason = adapter.unsupported(case)
    if reason is not None:
        pytest.skip(f"this machine's TensorFlow refuses the case: {reason}")
    inputs = C.materialize_conv(case)
    conv = R.conv2d(inputs.x, inputs.w, None, data_format="channels_first")
    got = adapter.conv2d(case, inputs)
    np.testing.assert_allclose(got, conv + inputs.b[None, None, None, :], rtol=1e-5, atol=1e-5)
    assert not np.allclose(got, conv + inputs.b[None, :, None, None], rtol=1e-5, atol=1e-5)
    other = dataclasses.replace(case, c_out=3)  # W_out 4 != 3 filters: right
    assert_ok(checks.check_conv2d(adapter, other))


def test_a_case_of_another_op_is_a_clear_error():
    adapter = load("keras-torch")
    with pytest.raises(ValueError, match="expected a batch_norm case, got 'conv2d'"):
        adapter.bn(CONV, C.materialize_bn(BN), training=True)
    with pytest.raises(ValueError, match="backend: expected one of"):
        K.active_keras("theano")
