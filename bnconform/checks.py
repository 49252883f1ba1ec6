"""The conformance properties: run one case through an adapter and through the reference, compare.

Each ``check_*`` function takes an adapter and a case, and returns the list of ``Comparison`` objects
(one per output); the caller decides what to do with a mismatch (the tests assert, ``replay``
prints). The same functions serve the pytest properties, ``bnconform replay``, the benchmark and the
``--bn-impl`` check of a user's own layer, so all of them apply exactly the same criteria.
"""

from __future__ import annotations

import dataclasses

import numpy as np

import reference as R

from . import cases as C
from . import tolerance
from .compare import Comparison, compare

# -- batch normalization ----------------------------------------------------------------------


def _moving_convention(adapter) -> str:
    return adapter.conventions.momentum


def reference_moving_stats(case: C.BNCase, inputs: C.BNInputs, convention: str) -> list[R.MovingStats]:
    """The reference's moving statistics after each of the case's training steps."""
    state = R.MovingStats(inputs.moving_mean, inputs.moving_var, 0)
    states = []
    for x in inputs.xs:
        state = R.update_moving_stats(state, x, momentum=case.momentum, axis=case.axis, convention=convention)
        states.append(state)
    return states


def _bn_reference(case: C.BNCase, inputs: C.BNInputs, training: bool):
    x = inputs.xs[-1] if training else inputs.xs[0]
    if training:
        stats = R.batch_stats(x, case.axis)
        mean, var = stats.mean, stats.var
    else:
        mean, var = inputs.moving_mean, inputs.moving_var
    y = R.normalize(x, mean, var, inputs.gamma, inputs.beta, case.eps, case.axis)
    return x, mean, var, y


def check_bn_forward(adapter, case: C.BNCase, mode: str) -> list[Comparison]:
    """Forward output in training (batch statistics) or inference (moving statistics) mode."""
    inputs = C.materialize_bn(case)
    training = mode == "train"
    run = adapter.bn_train(case, inputs) if training else adapter.bn_inference(case, inputs)
    x, mean, var, y = _bn_reference(case, inputs, training)
    tol = tolerance.bn_forward(x, inputs.gamma, inputs.beta, mean, var, case.eps, case.axis, case.dtype, training=training)
    return [compare(run.y, y, tol, dtype=case.dtype, name="y")]


def check_bn_backward(adapter, case: C.BNCase, mode: str) -> list[Comparison]:
    """dx, dgamma, dbeta of sum(y * dy) against the closed-form backward pass."""
    inputs = C.materialize_bn(case)
    training = mode == "train"
    run = adapter.bn_train(case, inputs, grads=True) if training else adapter.bn_inference(case, inputs, grads=True)
    x, mean, var, _ = _bn_reference(case, inputs, training)
    if training:
        grads = R.batch_norm_train_backward(inputs.dy, x, inputs.gamma, eps=case.eps, axis=case.axis)
    else:
        grads = R.batch_norm_inference_backward(
            inputs.dy, x, inputs.gamma, inputs.moving_mean, inputs.moving_var, eps=case.eps, axis=case.axis
        )
    tol = tolerance.bn_backward(
        inputs.dy, x, inputs.gamma, mean, var, case.eps, case.axis, case.dtype, training=training, grads=grads
    )
    return [
        compare(run.dx, grads.dx, tol.dx, dtype=case.dtype, name="dx"),
        compare(run.dgamma, grads.dgamma, tol.dgamma, dtype=case.dtype, name="dgamma"),
        compare(run.dbeta, grads.dbeta, tol.dbeta, dtype=case.dtype, name="dbeta"),
    ]


def check_bn_moving_stats(adapter, case: C.BNCase, mode: str = "train") -> list[Comparison]:
    """Moving mean and variance after ``case.steps`` training calls, in the adapter's convention."""
    inputs = C.materialize_bn(case)
    convention = _moving_convention(adapter)
    run = adapter.bn_train(case, inputs)
    states = reference_moving_stats(case, inputs, convention)
    if case.momentum is None:
        weights = [1.0 - 1.0 / k for k in range(1, len(inputs.xs) + 1)]
    else:
        weights = [case.momentum if convention == "keras" else 1.0 - case.momentum] * len(inputs.xs)
    tol_mean, tol_var = tolerance.moving_stats(
        inputs.xs, inputs.moving_mean, inputs.moving_var, states,
        axis=case.axis, dtype=case.dtype, weights_old=weights,
        unbiased=convention == "torch",
    )
    final = states[-1]
    return [
        compare(run.moving_mean, final.mean, tol_mean, dtype=case.dtype, name="moving_mean"),
        compare(run.moving_var, final.var, tol_var, dtype=case.dtype, name="moving_var"),
    ]


def check_bn_inference_keeps_stats(adapter, case: C.BNCase, mode: str = "inference") -> list[Comparison]:
    """An inference-mode call leaves the moving statistics exactly as they were."""
    inputs = C.materialize_bn(case)
    run = adapter.bn_inference(case, inputs)
    zero = np.zeros_like(inputs.moving_mean)
    return [
        compare(run.moving_mean, inputs.moving_mean, zero, dtype=case.dtype, name="moving_mean"),
        compare(run.moving_var, inputs.moving_var, zero, dtype=case.dtype, name="moving_var"),
    ]


SEQUENCE_CALLS = ("train", "inference", "no-flag")  # a call with training=True, False, or no flag at all


def sequence_calls(mode: str, case: C.BNCase) -> tuple[str, ...]:
    """The calls of a call-sequence example, written as its mode: ``"train,inference,train"``."""
    calls = tuple(str(mode).split(","))
    if not all(c in SEQUENCE_CALLS for c in calls):
        raise ValueError(f"mode: a call sequence is calls from {SEQUENCE_CALLS} joined by commas, got {mode!r}")
    if len(calls) != case.steps:
        raise ValueError(f"mode: {len(calls)} calls for a case of {case.steps} steps (one batch per call)")
    return calls


def _weight_old(case: C.BNCase, convention: str, k: int) -> float:
    """The old statistics' weight in the k-th training update (k = 1, 2, ...)."""
    if case.momentum is None:
        return 1.0 - 1.0 / k
    return case.momentum if convention == "keras" else 1.0 - case.momentum


def check_bn_call_sequence(adapter, case: C.BNCase, mode: str) -> list[Comparison]:
    """One layer called in a sequence of modes (``mode``: e.g. ``"train,inference,train"``), checked
    after every call, so that switching modes (PyTorch's ``train()``/``eval()``, Keras's ``training=``)
    and calls without a training flag show:

    - a training call normalizes with the batch statistics, and leaves the moving statistics the
      reference's after the training calls so far (``momentum=None``: the cumulative average over the
      training calls only; inference calls do not count), within the ``bn_moving_stats`` bound carried
      over those calls;
    - an inference call (and a call with no flag where the framework declares that inference)
      normalizes with the moving statistics the layer holds, which the call before checked, and leaves
      them bit for bit as they were.
    """
    calls = sequence_calls(mode, case)
    flagless = adapter.conventions.call_without_flag
    if "no-flag" in calls and flagless not in ("train", "inference"):
        raise ValueError(f"mode: {adapter.name} declares no meaning for a call without a training flag ({flagless!r})")
    inputs = C.materialize_bn(case)
    runs = adapter.bn_sequence(case, inputs, calls)
    convention = _moving_convention(adapter)
    state = R.MovingStats(inputs.moving_mean, inputs.moving_var, 0)
    held = (inputs.moving_mean, inputs.moving_var)
    trained, states, weights = [], [], []
    out: list[Comparison] = []
    for i, (call, x, run) in enumerate(zip(calls, inputs.xs, runs)):
        where = f" after call {i + 1} ({call})"
        if call == "train" or (call == "no-flag" and flagless == "train"):
            stats = R.batch_stats(x, case.axis)
            y = R.normalize(x, stats.mean, stats.var, inputs.gamma, inputs.beta, case.eps, case.axis)
            tol_y = tolerance.bn_forward(x, inputs.gamma, inputs.beta, stats.mean, stats.var, case.eps, case.axis,
                                         case.dtype, training=True)
            state = R.update_moving_stats(state, x, momentum=case.momentum, axis=case.axis, convention=convention)
            trained.append(x)
            states.append(state)
            weights.append(_weight_old(case, convention, len(trained)))
            tol_mean, tol_var = tolerance.moving_stats(
                trained, inputs.moving_mean, inputs.moving_var, states, axis=case.axis, dtype=case.dtype,
                weights_old=weights, unbiased=convention == "torch",
            )
            out += [compare(run.y, y, tol_y, dtype=case.dtype, name="y" + where),
                    compare(run.moving_mean, state.mean, tol_mean, dtype=case.dtype, name="moving_mean" + where),
                    compare(run.moving_var, state.var, tol_var, dtype=case.dtype, name="moving_var" + where)]
        else:
            mean, var = (np.asarray(a, np.float64) for a in held)
            zero = np.zeros_like(mean)
            if np.any(var < 0):  # a held variance cannot be negative: no output to expect from it
                name = f"moving_var held before call {i + 1} ({call}), negative"
                return out + [compare(var, np.maximum(var, 0.0), zero, dtype=case.dtype, name=name)]
            y = R.normalize(x, mean, var, inputs.gamma, inputs.beta, case.eps, case.axis)
            tol_y = tolerance.bn_forward(x, inputs.gamma, inputs.beta, mean, var, case.eps, case.axis, case.dtype,
                                         training=False)
            out += [compare(run.y, y, tol_y, dtype=case.dtype, name="y" + where),
                    compare(run.moving_mean, mean, zero, dtype=case.dtype, name="moving_mean" + where),
                    compare(run.moving_var, var, zero, dtype=case.dtype, name="moving_var" + where)]
        held = (run.moving_mean, run.moving_var)
    return out


# -- convolution and pooling ------------------------------------------------------------------


def check_conv2d(adapter, case: C.ConvCase, mode: str = "-") -> list[Comparison]:
    """Cross-correlation output, every padding mode, stride, dilation, groups and layout."""
    inputs = C.materialize_conv(case)
    actual = adapter.conv2d(case, inputs)
    kwargs = case.conv_kwargs()
    expected = R.conv2d(inputs.x, inputs.w, inputs.b, **kwargs)
    tol = tolerance.conv2d(inputs.x, inputs.w, inputs.b, expected, dtype=case.dtype, **kwargs)
    return [compare(actual, expected, tol, dtype=case.dtype, name="y")]


def reference_pool(case: C.PoolCase, x: np.ndarray) -> tuple[np.ndarray, dict]:
    fmt = dict(data_format=case.data_format)
    if case.kind == "global_avg":
        return R.global_avg_pool2d(x, **fmt), fmt
    common = dict(padding=case.padding, ceil_mode=case.ceil_mode, **fmt)
    if case.kind == "max":
        return R.max_pool2d(x, case.window, case.stride, **common), common
    if case.kind == "avg":
        kw = dict(common, count_include_pad=case.count_include_pad)
        return R.avg_pool2d(x, case.window, case.stride, **kw), dict(kw, stride=case.stride)
    if case.kind == "lp":
        return R.lp_pool2d(x, case.p, case.window, case.stride, **common), common
    raise ValueError(f"kind: unknown pooling kind {case.kind!r}")


def check_pool2d(adapter, case: C.PoolCase, mode: str = "-") -> list[Comparison]:
    """Pooled output of the case's kind; NaN and infinities must come out where the reference has them."""
    x = C.materialize_pool(case)
    actual = adapter.pool2d(case, x)
    expected, kwargs = reference_pool(case, x)
    tol = tolerance.pool2d(case.kind, x, expected, dtype=case.dtype, window=case.window, p=case.p, **kwargs)
    return [compare(actual, expected, tol, dtype=case.dtype, name="y")]


CHECKS = {
    "bn_forward": check_bn_forward,
    "bn_forward_adversarial": check_bn_forward,
    "bn_backward": check_bn_backward,
    "bn_moving_stats": check_bn_moving_stats,
    "bn_inference_keeps_stats": check_bn_inference_keeps_stats,
    "bn_call_sequence": check_bn_call_sequence,
    "conv2d": check_conv2d,
    "pool2d": check_pool2d,
    "pool2d_nonfinite": check_pool2d,
    "pool2d_lp_odd_p": check_pool2d,
    "pool2d_lp_ceil_mode": check_pool2d,
}


def run_check(prop: str, adapter, case: C.Case, mode: str) -> list[Comparison]:
    """Dispatch by property name (used by ``bnconform replay``)."""
    if prop not in CHECKS:
        raise ValueError(f"property: expected one of {sorted(CHECKS)}, got {prop!r}")
    return CHECKS[prop](adapter, case, mode)


def with_dtype(case: C.Case, dtype: str) -> C.Case:
    return dataclasses.replace(case, dtype=dtype)
