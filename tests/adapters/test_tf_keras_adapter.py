"""Plumbing of the ``tf_keras`` (Keras 2) adapter, and the evidence for its recorded deviations: the
default BatchNormalization takes the fused kernel for 4-D inputs with axis 1 or 3, whose moving variance
is Bessel-corrected; ``fused=False`` (and 2-D, axis-2 or float64 inputs) give the biased one. Expected
values are worked out from NumPy formulas in the tests."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("tf_keras")

from bnconform.adapters import tf_keras_adapter as T  # noqa: E402
from bnconform import cases as C  # noqa: E402
from bnconform import checks  # noqa: E402


@pytest.fixture(scope="module")
def default():
    return T.load()


@pytest.fixture(scope="module")
def non_fused():
    return T.TfKerasAdapter(fused=False)


def assert_ok(comparisons):
    bad = [c for c in comparisons if not c.ok]
    assert not bad, "\n".join(c.message() for c in bad)


def one_step(shape, axis, dtype="float32") -> C.BNCase:
    """momentum 0: the moving statistics become the batch's own, so the variance convention shows directly."""
    return C.BNCase(shape=shape, axis=axis, dtype=dtype, eps=1e-3, momentum=0.0, steps=1, x=C.Values(seed=1, loc=1.0))


def batch_var(case) -> np.ndarray:
    x = C.materialize_bn(case).xs[0]
    axes = tuple(i for i in range(x.ndim) if i != case.axis % x.ndim)
    return x.var(axis=axes), x.size // x.shape[case.axis]


@pytest.mark.parametrize("axis", [-1, 1])
def test_default_layer_on_4d_input_is_fused_and_its_moving_variance_bessel_corrected(default, non_fused, axis):
    case = one_step((2, 3, 3, 4) if axis == -1 else (2, 4, 3, 3), axis)
    var, m = batch_var(case)
    fused = default.bn(case, C.materialize_bn(case), training=True)
    plain = non_fused.bn(case, C.materialize_bn(case), training=True)
    np.testing.assert_allclose(fused.moving_var, var * m / (m - 1), rtol=1e-5)
    np.testing.assert_allclose(plain.moving_var, var, rtol=1e-5)
    np.testing.assert_allclose(fused.y, plain.y, rtol=1e-5, atol=1e-5)  # the outputs agree
    assert_ok(checks.check_bn_forward(default, case, "train"))
    layer = next(e.layer for e in default._cache.entries.values() if e.layer.axis == [case.axis % 4])
    assert layer.fused is True


@pytest.mark.parametrize("axis", [-1, 1])
def test_default_layer_on_5d_input_is_fused_too(default, non_fused, axis):
    """tf_keras's build takes the fused kernel for 5-D inputs with axis 1 or 4 as for 4-D ones with
    axis 1 or 3, so the fused entries' mechanism (the Bessel-corrected moving variance) holds there."""
    case = one_step((2, 2, 3, 2, 4) if axis == -1 else (2, 4, 2, 3, 2), axis)
    var, m = batch_var(case)
    fused = default.bn(case, C.materialize_bn(case), training=True)
    plain = non_fused.bn(case, C.materialize_bn(case), training=True)
    np.testing.assert_allclose(fused.moving_var, var * m / (m - 1), rtol=1e-5)
    np.testing.assert_allclose(plain.moving_var, var, rtol=1e-5)
    layer = next(e.layer for e in default._cache.entries.values() if len(e.layer.input_spec.axes) == 1
                 and e.layer.input_spec.ndim == 5 and e.layer.axis == [case.axis % 5])
    assert layer.fused is True
    assert 5 in default.capabilities.bn_ranks


@pytest.mark.parametrize(
    "case",
    [one_step((8, 3), 1), one_step((2, 3, 4, 5), 2), one_step((2, 3, 3, 4), -1, "float64"),
     one_step((2, 3, 2, 3, 4), 2)],
    ids=["2-D", "axis 2", "float64", "5-D axis 2"],
)
def test_default_layer_is_not_fused_elsewhere_and_keeps_the_biased_variance(default, case):
    var, _ = batch_var(case)
    run = default.bn(case, C.materialize_bn(case), training=True)
    np.testing.assert_allclose(run.moving_var, var, rtol=1e-5)


def test_float64_moving_average_uses_momentum_rounded_to_float32(default):
    """The cause recorded for tf_keras bn_moving_stats in float64: decay = float32(1 - momentum)."""
    case = C.BNCase(shape=(6, 2), axis=1, dtype="float64", momentum=0.9, steps=1, x=C.Values(seed=2, loc=3.0))
    inputs = C.materialize_bn(case)
    run = default.bn(case, inputs, training=True)
    batch_mean = inputs.xs[0].mean(axis=0)
    decay = float(np.float32(1.0 - 0.9))
    np.testing.assert_array_equal(run.moving_mean, inputs.moving_mean - (inputs.moving_mean - batch_mean) * decay)
    assert not np.array_equal(run.moving_mean, 0.9 * inputs.moving_mean + 0.1 * batch_mean)


def test_default_layer_conventions(default):
    x = np.random.default_rng(0).normal(1.0, 2.0, (16, 3)).astype(np.float32).astype(np.float64)
    trained = default.bn_default(x, training=True)  # 2-D: the non-fused path, the documented formula
    np.testing.assert_allclose(trained.moving_mean, 0.01 * x.mean(axis=0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(trained.moving_var, 0.99 + 0.01 * x.var(axis=0), rtol=1e-5)
    plain = default.bn_default(x, training=None)
    np.testing.assert_allclose(plain.y, x / np.sqrt(1.0 + 1e-3), rtol=1e-6)
    np.testing.assert_array_equal(plain.moving_var, np.ones(3))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
@pytest.mark.parametrize(
    "case",
    [
        C.ConvCase(x_shape=(1, 2, 5, 5), data_format="channels_first", c_out=2, bias=True),
        C.PoolCase(kind="max", x_shape=(1, 2, 4, 4), data_format="channels_first"),
        C.PoolCase(kind="avg", x_shape=(1, 2, 4, 4), data_format="channels_first"),
    ],
    ids=["conv", "max", "avg"],
)
def test_channels_first_runs_right_or_is_refused_with_tensorflows_message(default, case, dtype):
    case = dataclasses.replace(case, dtype=dtype)
    reason = default.unsupported(case)
    check = checks.check_conv2d if case.op == "conv2d" else checks.check_pool2d
    if reason is None:
        assert_ok(check(default, case))
    else:
        assert reason.startswith("tf_keras ") and dtype in reason and "NHWC" in reason
        with pytest.raises(ValueError, match="^case: tf_keras"):
            check(default, case)


def _channels_first_case(name: str):
    """The case a probe named like ``"max_pool2d channels_first float16"`` stands for."""
    op, _, dtype = name.split()
    if op == "conv2d":
        return C.ConvCase(x_shape=(1, 2, 5, 5), data_format="channels_first", c_out=2, bias=True, dtype=dtype)
    return C.PoolCase(kind=op.split("_")[0], x_shape=(1, 2, 4, 4), data_format="channels_first", dtype=dtype)


def test_coverage_records_every_probe_and_agrees_with_what_is_refused(default):
    """Coverage names each channels_first layer in each dtype, probed on this machine, with the same
    verdict and message ``unsupported`` gives the cases it stands for."""
    coverage = default.coverage()
    assert coverage["available"] is True
    assert coverage["capabilities"]["pool_kinds"] == ["max", "avg", "global_avg"]
    dtypes = ("float16", "bfloat16", "float32", "float64")
    options = {name: probe for name, probe in coverage["probes"].items() if name.startswith("batch_norm option ")}
    assert options == {  # Keras's batch-norm options, drawn or not with the reason (bnconform.cases.BN_FLAGS)
        f"batch_norm option {flag}": {"offered": flag in ("scale", "center", "trainable"),
                                      "reason": default.bn_flag_refusals()[flag]}
        for flag in ("affine", "scale", "center", "track_running_stats", "trainable")}
    assert "always keeps moving statistics" in options["batch_norm option track_running_stats"]["reason"]
    probes = {name: probe for name, probe in coverage["probes"].items() if name not in options}
    assert set(probes) == {f"{op} channels_first {dt}"
                           for op in ("conv2d", "max_pool2d", "avg_pool2d") for dt in dtypes}
    for name, probe in probes.items():
        reason = default.unsupported(_channels_first_case(name))
        assert probe == {"offered": reason is None, "reason": reason}, name
