"""A toy adapter: NumPy in float32, in one file, as ``docs/design.md`` shows a new adapter.

It keeps the contract (``bnconform.adapters.contract``): the three ops on typed inputs, its capabilities
declared positively, and nothing optional (no ``bn_sequence``, ``bn_default`` or ``bare_call``: the
call-sequence property, the fingerprint's default-layer probes and the benchmark's bare timing skip it
with the reason). It computes on the toy engine (``toy_engine.py``: NumPy as an engine). Registering
it is one line (:data:`INFO`, registered with its engine by :func:`pytest_configure` when a pytest run
loads this module as a plugin: ``pytest bnconform/conformance -p tests.adapters.toy_adapter --target toy``).

Batch norm is written out in float32 (Ioffe and Szegedy 2015, Algorithm 1: two-pass batch variance,
Keras's momentum meaning, the biased variance in the moving average); convolution and pooling are the
reference's windowing applied to the float32 inputs, rounded to float32. ``tests/adapters/test_toy_adapter.py``
runs the conformance checks on it, and on it with a planted bug.
"""

from __future__ import annotations

import numpy as np

from bnconform import adapters, engines
from bnconform import reference as R
from bnconform.adapters.base import Adapter, BNRun, Capabilities, Conventions
from bnconform.adapters.steps import batches, run_steps

from . import toy_engine

INFO = adapters.AdapterInfo(name="toy", framework="numpy", module=__name__, factory="load", requires=("numpy",),
                            family="toy", engine=toy_engine.NAME)  # the registry line

CAPABILITIES = Capabilities(
    ops=("batch_norm", "conv2d", "pool2d"),
    dtypes=("float32",),
    bn_modes=("train", "inference"),  # no bn_backward
    bn_ranks=(2, 4),
    bn_any_axis=True,
    conv_data_formats=("channels_last", "channels_first"),
    conv_paddings=("valid", "same", "explicit"),
    conv_same_strided=True,
    conv_dilated_strided=True,
    conv_groups=True,
    conv_dilation=True,
    conv_bias=True,
    pool_kinds=("max", "avg", "global_avg"),
    pool_data_formats=("channels_last", "channels_first"),
    pool_paddings=("valid", "same", "explicit"),
    pool_count_include_pad=(True, False),
)

CONVENTIONS = Conventions(momentum="keras", running_var="biased", default_eps=1e-3, default_momentum=0.99,
                          default_axis=-1)


def variance(x: np.ndarray, mean: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """The biased batch variance, two passes: mean((x - mean)^2)."""
    return np.mean(np.square(x - mean), axis=axes, keepdims=True)


def cross_correlate(x, w, b, **kwargs) -> np.ndarray:
    """What ``conv2d`` computes: the reference's cross-correlation of the float32 values."""
    return R.conv2d(x, w, b, **kwargs)


class ToyAdapter(Adapter):
    def __init__(self):
        super().__init__(name="toy", framework="numpy", version=np.__version__, conventions=CONVENTIONS,
                         capabilities=CAPABILITIES, description="NumPy float32 (a test's toy adapter)")

    def bn(self, case, inputs, *, training: bool, grads: bool = False) -> BNRun:
        if grads:
            raise ValueError("grads: the toy adapter offers no backward pass")
        f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731 - exact: the values are representable
        axis = case.axis % len(case.shape)
        axes = tuple(i for i in range(len(case.shape)) if i != axis)
        shape = [1] * len(case.shape)
        shape[axis] = -1
        gamma, beta = f32(inputs.gamma).reshape(shape), f32(inputs.beta).reshape(shape)
        eps, m = np.float32(case.eps), np.float32(case.momentum)

        def batch(x):
            mean = np.mean(x, axis=axes, keepdims=True)
            return mean, variance(x, mean, axes)

        def update(state, mean, var):
            return tuple(m * old + (np.float32(1) - m) * new.reshape(-1) for old, new in zip(state, (mean, var)))

        def normalize(x, mean, var):
            return gamma * (x - mean) / np.sqrt(var + eps) + beta

        def train_step(state, x):
            return update(state, *batch(x))

        def last(state, x):
            if not training:
                return normalize(x, *(s.reshape(shape) for s in state)), state
            mean, var = batch(x)
            return normalize(x, mean, var), update(state, mean, var)

        start = (f32(inputs.moving_mean), f32(inputs.moving_var))
        y, (mean, var) = run_steps([f32(x) for x in batches(inputs, training)], train_step, last, start)
        return BNRun(*(np.asarray(a, np.float64) for a in (y, mean, var)))

    def conv2d(self, case, inputs) -> np.ndarray:
        b = None if inputs.b is None else np.float32(inputs.b)
        y = cross_correlate(np.float32(inputs.x), np.float32(inputs.w), b, **case.conv_kwargs())
        return np.asarray(y, np.float32).astype(np.float64)

    def pool2d(self, case, inputs) -> np.ndarray:
        x, fmt = np.asarray(inputs, np.float32), dict(data_format=case.data_format)
        if case.kind == "global_avg":
            y = R.global_avg_pool2d(x, **fmt)
        elif case.kind == "max":
            y = R.max_pool2d(x, case.window, case.stride, padding=case.padding, **fmt)
        elif case.kind == "avg":
            y = R.avg_pool2d(x, case.window, case.stride, padding=case.padding,
                             count_include_pad=case.count_include_pad, **fmt)
        else:
            raise ValueError(f"kind: the toy adapter offers max, avg and global_avg pooling, not {case.kind!r}")
        return np.asarray(y, np.float32).astype(np.float64)

    def unsupported(self, case) -> str | None:
        if case.op == "batch_norm" and case.momentum is None:
            return "the toy adapter has no cumulative moving average (momentum=None)"
        return None


def load() -> ToyAdapter:
    return ToyAdapter()


def pytest_configure(config):
    engines.register(toy_engine.ENGINE)  # its engine (toy_engine.py), then its registry line
    adapters.register(INFO)
