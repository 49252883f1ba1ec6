"""The conformance properties: run one case through an adapter and through the reference, compare.

A check has two halves, kept apart so that the same outputs can be judged twice:

- :func:`run` calls the adapter once and returns an :class:`Example`: the property, the case, its
  materialized inputs, the mode and the framework's *actual outputs* by name (``y``; ``dx``,
  ``dgamma``, ``dbeta``; ``moving_mean``, ``moving_var``);
- :func:`judge` computes what the reference expects and the tolerance model allows, and returns
  one ``Comparison`` per output.

A known deviation's model (``bnconform.models``) re-judges the *same* example -- other math, or
the tolerance model with other numerics -- without calling the framework again.

Each ``check_*`` function (``judge(run(...))``) takes an adapter and a case, and returns the list
of ``Comparison`` objects; the caller decides what to do with a mismatch (the tests assert,
``replay`` prints). The same functions serve the pytest properties, ``bnconform replay``, the
benchmark and the ``--bn-impl`` check of a user's own layer, so all of them apply exactly the same
criteria.
"""

from __future__ import annotations

import contextlib

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from bnconform import reference as R

from . import cases as C
from .bounds import bn_backward, bn_forward, conv2d, moving_stats, pool2d
from .compare import Comparison, comparable, compare, with_systematic


@dataclass(frozen=True)
class Example:
    """One example's run: what went in and what the framework gave back (float64 arrays)."""

    prop: str
    case: Any  # a bnconform.cases case
    inputs: Any  # BNInputs, ConvInputs or the pooled array
    mode: str
    outputs: Mapping[str, np.ndarray]
    convention: str | None = None  # the adapter's momentum meaning ("keras"/"torch"), batch norm only
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def check(self) -> "Check":
        """The check that judges this example: its property's (``bnconform.properties``)."""
        return _check(self.prop)

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


def bn_affine(case: C.BNCase, inputs: C.BNInputs) -> tuple:
    """The gamma and beta the case's layer applies: the drawn ones, 1 without ``scale``, 0 without
    ``center`` (``reference.batch_norm_options.affine``)."""
    return R.batch_norm_options.affine(inputs.gamma, inputs.beta, scale=case.scale, center=case.center)


def bn_reference(case: C.BNCase, inputs: C.BNInputs, training: bool):
    """(x of the judged call, mean and variance it is normalized with, the reference's y), under the
    case's options (``reference.batch_norm_options``): a frozen layer's training call normalizes with
    the moving statistics, a layer without running statistics always with the batch ones."""
    x = inputs.xs[-1] if training else inputs.xs[0]
    gamma, beta = bn_affine(case, inputs)
    if case.batch_statistics(training):
        stats = R.batch_stats(x, case.axis)
        mean, var = stats.mean, stats.var
    else:
        mean, var = inputs.moving_mean, inputs.moving_var
    y = R.normalize(x, mean, var, gamma, beta, case.eps, case.axis)
    return x, mean, var, y


def _bn_run(adapter, case: C.BNCase, mode: str, *, grads: bool = False):
    inputs = C.materialize_bn(case)
    if mode == "train":
        return inputs, adapter.bn(case, inputs, training=True, grads=grads)
    return inputs, adapter.bn(case, inputs, training=False, grads=grads)


def run_bn_forward(prop: str, adapter, case: C.BNCase, mode: str) -> Example:
    inputs, out = _bn_run(adapter, case, mode)
    return Example(prop, case, inputs, mode, {"y": out.y})


def judge_bn_forward(ex: Example, *, numerics=None) -> list[Comparison]:
    """Forward output in training (batch statistics) or inference (moving statistics) mode."""
    case, inputs = ex.case, ex.inputs
    x, mean, var, y = bn_reference(case, inputs, ex.mode == "train")
    training = case.batch_statistics(ex.mode == "train")  # normalized with the batch statistics
    gamma, beta = bn_affine(case, inputs)
    tol = bn_forward.tolerance(x, gamma, beta, mean, var, case.eps, case.axis, case.dtype,
                               training=training, numerics=numerics)
    result = compare(ex.outputs["y"], y, tol, dtype=case.dtype, name="y")
    if numerics is None and comparable(result):  # the statistical tier belongs to the default model only
        result = with_systematic(result, bn_forward.findings(ex.outputs["y"], y, x, gamma, beta, mean,
                                                             var, case.eps, case.axis, case.dtype, training=training))
    return [result]


def run_bn_backward(prop: str, adapter, case: C.BNCase, mode: str) -> Example:
    inputs, out = _bn_run(adapter, case, mode, grads=True)
    grads = {"dx": out.dx, "dgamma": out.dgamma, "dbeta": out.dbeta}
    expected = bn_reference_grads(case, inputs, mode == "train")  # which parameters the case's layer has
    return Example(prop, case, inputs, mode, {k: v for k, v in grads.items() if getattr(expected, k) is not None})


def bn_reference_grads(case: C.BNCase, inputs: C.BNInputs, training: bool):
    """The reference's dx, dgamma and dbeta under the case's options (dgamma, dbeta None where the
    layer has no such parameter or holds it frozen: ``reference.batch_norm_options.batch_norm_backward``)."""
    x = inputs.xs[-1] if training else inputs.xs[0]
    return R.batch_norm_options.batch_norm_backward(
        inputs.dy, x, inputs.gamma, inputs.moving_mean, inputs.moving_var, eps=case.eps, axis=case.axis,
        training=training, scale=case.scale, center=case.center, track_running_stats=case.track_running_stats,
        trainable=case.trainable)


def judge_bn_backward(ex: Example, *, numerics=None) -> list[Comparison]:
    """dx, dgamma, dbeta of sum(y * dy) against the closed-form backward pass; dgamma and dbeta only
    where the case's layer has them and they are trainable."""
    case, inputs = ex.case, ex.inputs
    x, mean, var, _ = bn_reference(case, inputs, ex.mode == "train")
    training = case.batch_statistics(ex.mode == "train")  # the gradient flows through the batch statistics
    gamma, _ = bn_affine(case, inputs)
    grads = bn_reference_grads(case, inputs, ex.mode == "train")
    full = grads._replace(dgamma=grads.dgamma if grads.dgamma is not None else np.zeros_like(mean),
                          dbeta=grads.dbeta if grads.dbeta is not None else np.zeros_like(mean))
    tol = bn_backward.tolerance(
        inputs.dy, x, gamma, mean, var, case.eps, case.axis, case.dtype, training=training, grads=full,
        numerics=numerics,
    )
    dx = compare(ex.outputs["dx"], grads.dx, tol.dx, dtype=case.dtype, name="dx")
    if numerics is None and training and comparable(dx):  # the statistical tier belongs to the default model only
        dx = with_systematic(dx, bn_backward.dx_findings(ex.outputs["dx"], grads.dx, inputs.dy, x, gamma, mean,
                                                         var, case.eps, case.axis, case.dtype))
    out = [dx]
    params = [(name, getattr(grads, name), getattr(tol, name)) for name in ("dgamma", "dbeta")
              if getattr(grads, name) is not None]
    found = {}
    if numerics is None and training and params and all(
            np.shape(ex.outputs.get(name, e)) == np.shape(e) for name, e, _ in params):
        found = dict(zip(("dgamma", "dbeta"), bn_backward.param_grad_findings(
            ex.outputs.get("dgamma", full.dgamma), ex.outputs.get("dbeta", full.dbeta), full, inputs.dy, x, gamma,
            mean, var, case.eps, case.axis, case.dtype)))
    for name, expected, t in params:
        if ex.outputs.get(name) is None:
            raise ValueError(f"{name}: the case's layer has this parameter, but the adapter returned no gradient of it")
        result = compare(ex.outputs[name], expected, t, dtype=case.dtype, name=name)
        out.append(with_systematic(result, found[name]) if name in found else result)
    return out


def run_bn_moving_stats(prop: str, adapter, case: C.BNCase, mode: str = "train") -> Example:
    inputs = C.materialize_bn(case)
    out = adapter.bn(case, inputs, training=True)
    return Example(prop, case, inputs, mode, {"moving_mean": out.moving_mean, "moving_var": out.moving_var},
                   convention=_moving_convention(adapter))


def moving_weights(case: C.BNCase, convention: str, steps: int) -> list[float]:
    """The weight of the old value in each update (momentum, 1 - momentum, or 1 - 1/k)."""
    if case.momentum is None:
        return [1.0 - 1.0 / k for k in range(1, steps + 1)]
    return [case.momentum if convention == "keras" else 1.0 - case.momentum] * steps


def judge_moving_stats_against(ex: Example, states, *, unbiased: bool, numerics=None) -> list[Comparison]:
    """The moving statistics against ``states`` (the expected value after each step)."""
    case, inputs = ex.case, ex.inputs
    tol_mean, tol_var = moving_stats.tolerance(
        inputs.xs, inputs.moving_mean, inputs.moving_var, states,
        axis=case.axis, dtype=case.dtype, weights_old=moving_weights(case, ex.convention, len(inputs.xs)),
        unbiased=unbiased, numerics=numerics,
    )
    final = states[-1]
    return [
        compare(ex.outputs["moving_mean"], final.mean, tol_mean, dtype=case.dtype, name="moving_mean"),
        compare(ex.outputs["moving_var"], final.var, tol_var, dtype=case.dtype, name="moving_var"),
    ]


def judge_bn_moving_stats(ex: Example, *, numerics=None) -> list[Comparison]:
    """Moving mean and variance after ``case.steps`` training calls, in the adapter's convention; a
    frozen layer's (``trainable=False``) bit for bit as they were."""
    case, inputs, unbiased = ex.case, ex.inputs, ex.convention == "torch"
    _require_running_stats(case)
    if not case.updates_moving(True):
        return judge_bn_inference_keeps_stats(ex)
    states = reference_moving_stats(case, inputs, ex.convention)
    mean, var = judge_moving_stats_against(ex, states, unbiased=unbiased, numerics=numerics)
    if numerics is None and comparable(mean, var):  # the statistical tier belongs to the default model only (not the models' states)
        found_mean, found_var = moving_stats.findings(
            ex.outputs["moving_mean"], ex.outputs["moving_var"], inputs.xs, inputs.moving_mean, inputs.moving_var,
            states, axis=case.axis, dtype=case.dtype,
            weights_old=moving_weights(case, ex.convention, len(inputs.xs)), unbiased=unbiased)
        mean, var = with_systematic(mean, found_mean), with_systematic(var, found_var)
    return [mean, var]


def run_bn_inference_keeps_stats(prop: str, adapter, case: C.BNCase, mode: str = "inference") -> Example:
    inputs = C.materialize_bn(case)
    out = adapter.bn(case, inputs, training=False)
    return Example(prop, case, inputs, mode, {"moving_mean": out.moving_mean, "moving_var": out.moving_var})


def _require_running_stats(case: C.BNCase) -> None:
    if not case.track_running_stats:
        raise ValueError("case: track_running_stats=False keeps no moving statistics to check")


def judge_bn_inference_keeps_stats(ex: Example, *, numerics=None) -> list[Comparison]:
    """An inference-mode call (or any call of a frozen layer) leaves the moving statistics exactly as
    they were."""
    _require_running_stats(ex.case)
    inputs, dtype = ex.inputs, ex.case.dtype
    zero = np.zeros_like(inputs.moving_mean)
    return [
        compare(ex.outputs["moving_mean"], inputs.moving_mean, zero, dtype=dtype, name="moving_mean"),
        compare(ex.outputs["moving_var"], inputs.moving_var, zero, dtype=dtype, name="moving_var"),
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


def run_bn_call_sequence(prop: str, adapter, case: C.BNCase, mode: str) -> Example:
    """One layer called in the sequence ``mode`` (e.g. ``"train,inference,train"``), one batch per
    call: the output and the moving statistics after every call, as ``y@i``, ``moving_mean@i`` and
    ``moving_var@i`` (i = 1, 2, ...); ``extra`` holds the calls and what a flagless call means."""
    calls = sequence_calls(mode, case)
    flagless = adapter.conventions.call_without_flag
    if "no-flag" in calls and flagless not in ("train", "inference"):
        raise ValueError(f"mode: {adapter.name} declares no meaning for a call without a training flag ({flagless!r})")
    inputs = C.materialize_bn(case)
    runs = adapter.bn_sequence(case, inputs, calls)
    outputs = {}
    for i, run_ in enumerate(runs, start=1):
        outputs.update({f"y@{i}": run_.y, f"moving_mean@{i}": run_.moving_mean, f"moving_var@{i}": run_.moving_var})
    return Example(prop, case, inputs, mode, outputs, convention=_moving_convention(adapter),
                   extra={"calls": calls, "flagless": flagless})


def judge_bn_call_sequence(ex: Example, *, numerics=None, moving_states=None, unbiased=None) -> list[Comparison]:
    """The sequence's outputs checked after every call, so that switching modes (PyTorch's
    ``train()``/``eval()``, Keras's ``training=``) and calls without a training flag show:

    - a training call normalizes with the batch statistics, and leaves the moving statistics the
      reference's after the training calls so far (``momentum=None``: the cumulative average over the
      training calls only; inference calls do not count), within the ``bn_moving_stats`` bound carried
      over those calls;
    - an inference call (and a call with no flag where the framework declares that inference), and
      every call of a frozen layer (``trainable=False``: Keras's rule, ``case.batch_statistics``),
      normalizes with the moving statistics the layer holds, which the call before checked, and leaves
      them bit for bit as they were.

    ``numerics`` evaluates the tolerance model with other numerics, ``moving_states(case, inputs,
    convention)`` replaces the reference's moving statistics after the training calls in
    ``inputs.xs`` and ``unbiased`` the variance scale of their bound (the known deviations' models).
    """
    case, inputs, convention = ex.case, ex.inputs, ex.convention
    calls, flagless = ex.extra["calls"], ex.extra["flagless"]
    moving_states = moving_states or reference_moving_stats
    unbiased = convention == "torch" if unbiased is None else unbiased
    if not case.track_running_stats:
        raise ValueError("case: a call sequence is drawn with running statistics only")
    gamma, beta = bn_affine(case, inputs)  # without scale or center: 1 and 0
    held = (inputs.moving_mean, inputs.moving_var)
    trained: list = []
    out: list[Comparison] = []
    for i, (call, x) in enumerate(zip(calls, inputs.xs), start=1):
        where = f" after call {i} ({call})"
        y_run, mean_run, var_run = (ex.outputs[f"{name}@{i}"] for name in ("y", "moving_mean", "moving_var"))
        if case.batch_statistics(call == "train" or (call == "no-flag" and flagless == "train")):
            stats = R.batch_stats(x, case.axis)
            y = R.normalize(x, stats.mean, stats.var, gamma, beta, case.eps, case.axis)
            tol_y = bn_forward.tolerance(x, gamma, beta, stats.mean, stats.var, case.eps, case.axis,
                                         case.dtype, training=True, numerics=numerics)
            trained.append(x)
            so_far = dataclasses.replace(inputs, xs=tuple(trained))
            states = moving_states(case, so_far, convention)
            tol_mean, tol_var = moving_stats.tolerance(
                trained, inputs.moving_mean, inputs.moving_var, states, axis=case.axis, dtype=case.dtype,
                weights_old=moving_weights(case, convention, len(trained)), unbiased=unbiased, numerics=numerics,
            )
            out += [compare(y_run, y, tol_y, dtype=case.dtype, name="y" + where),
                    compare(mean_run, states[-1].mean, tol_mean, dtype=case.dtype, name="moving_mean" + where),
                    compare(var_run, states[-1].var, tol_var, dtype=case.dtype, name="moving_var" + where)]
        else:
            mean, var = (np.asarray(a, np.float64) for a in held)
            zero = np.zeros_like(mean)
            if np.any(var < 0):  # a held variance cannot be negative: no output to expect from it
                name = f"moving_var held before call {i} ({call}), negative"
                return out + [compare(var, np.maximum(var, 0.0), zero, dtype=case.dtype, name=name)]
            y = R.normalize(x, mean, var, gamma, beta, case.eps, case.axis)
            tol_y = bn_forward.tolerance(x, gamma, beta, mean, var, case.eps, case.axis, case.dtype,
                                         training=False, numerics=numerics)
            out += [compare(y_run, y, tol_y, dtype=case.dtype, name="y" + where),
                    compare(mean_run, mean, zero, dtype=case.dtype, name="moving_mean" + where),
                    compare(var_run, var, zero, dtype=case.dtype, name="moving_var" + where)]
        held = (mean_run, var_run)
    return out


# -- convolution and pooling ------------------------------------------------------------------


def run_conv2d(prop: str, adapter, case: C.ConvCase, mode: str = "-") -> Example:
    inputs = C.materialize_conv(case)
    return Example(prop, case, inputs, mode, {"y": adapter.conv2d(case, inputs)})


def judge_conv2d(ex: Example, *, numerics=None) -> list[Comparison]:
    """Cross-correlation output, every padding mode, stride, dilation, groups and layout."""
    if numerics is not None:
        raise ValueError("numerics: the convolution's tolerance takes no other numerics")
    case, inputs = ex.case, ex.inputs
    kwargs = case.conv_kwargs()
    expected = R.conv2d(inputs.x, inputs.w, inputs.b, **kwargs)
    tol = conv2d.tolerance(inputs.x, inputs.w, inputs.b, expected, dtype=case.dtype, **kwargs)
    result = compare(ex.outputs["y"], expected, tol, dtype=case.dtype, name="y")
    if not comparable(result):
        return [result]
    return [with_systematic(result, conv2d.findings(ex.outputs["y"], expected, inputs.x, inputs.w, inputs.b,
                                                    dtype=case.dtype, **kwargs))]


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
        return R.lp_pool2d(x, case.p, case.window, case.stride, **common), dict(common, stride=case.stride)
    raise ValueError(f"kind: unknown pooling kind {case.kind!r}")


def run_pool2d(prop: str, adapter, case: C.PoolCase, mode: str = "-") -> Example:
    x = C.materialize_pool(case)
    return Example(prop, case, x, mode, {"y": adapter.pool2d(case, x)})


def pool_tolerance(case: C.PoolCase, x: np.ndarray, expected: np.ndarray, kwargs: dict, *, numerics=None):
    return pool2d.tolerance(case.kind, x, expected, dtype=case.dtype, window=case.window, p=case.p,
                            numerics=numerics, **kwargs)


def judge_pool2d(ex: Example, *, numerics=None) -> list[Comparison]:
    """Pooled output of the case's kind; NaN and infinities must come out where the reference has them."""
    case, x = ex.case, ex.inputs
    expected, kwargs = reference_pool(case, x)
    tol = pool_tolerance(case, x, expected, kwargs, numerics=numerics)
    result = compare(ex.outputs["y"], expected, tol, dtype=case.dtype, name="y")
    if numerics is None and comparable(result):  # the statistical tier belongs to the default model only
        result = with_systematic(result, pool2d.findings(ex.outputs["y"], expected, case.kind, x, dtype=case.dtype,
                                                         window=case.window, **kwargs))
    return [result]


# -- declared conventions ---------------------------------------------------------------------

#: The reading each declared convention predicts, for the fingerprint's probes (``bnconform.adapters.fingerprint``):
#: the moving mean after one step with momentum 0.9 from 0 on a batch of mean 1, and the moving
#: variance after one step with momentum 0.5 from 0 on a batch {-1, 1} (biased variance 1).
MOMENTUM_READING = {"keras": 0.1, "torch": 0.9}
RUNNING_VARIANCE_READING = {"biased": 0.5, "unbiased": 1.0}
PROBE_TOLERANCE = 1e-3  # the probes' own threshold; the competing readings lie >= 0.5 apart
EPS_RELATIVE_TOLERANCE = 0.05


def conventions_expected(declared: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    """(expected reading, tolerance) of each probe under the ``declared`` conventions."""
    eps = float(declared["default_eps"])
    return {
        "momentum_meaning": (MOMENTUM_READING.get(declared["momentum_meaning"], np.nan), PROBE_TOLERANCE),
        "running_variance": (RUNNING_VARIANCE_READING.get(declared["running_variance"], np.nan), PROBE_TOLERANCE),
        "running_variance_4d": (RUNNING_VARIANCE_READING.get(declared["running_variance"], np.nan),
                                PROBE_TOLERANCE),
        "default_eps": (eps, EPS_RELATIVE_TOLERANCE * eps),
        "default_axis": (float(declared["default_axis"]), 0.0),
    }


def judge_conventions_against(ex: Example, expected: Mapping[str, tuple[float, float]]) -> list[Comparison]:
    return [compare(np.asarray(ex.outputs[name], np.float64), np.asarray(value, np.float64), tol,
                    dtype="float64", name=name) for name, (value, tol) in expected.items()]


def judge_conventions(ex: Example, *, numerics=None) -> list[Comparison]:
    """The probes' readings (``ex.outputs``; NaN where a probe found nothing) against what the adapter
    declares (``ex.extra["declared"]``)."""
    if numerics is not None:
        raise ValueError("numerics: the conventions are readings, not a computation with a tolerance model")
    return judge_conventions_against(ex, conventions_expected(ex.extra["declared"]))


def _run_conventions(prop, adapter, case, mode):
    raise ValueError("conventions: the example comes from the fingerprint probes "
                     "(bnconform.adapters.fingerprint.conventions_example)")


# -- the properties' halves ---------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """A property's two halves (see the module docstring); ``bnconform.properties`` names which
    property uses which. ``name`` is what a known deviation's model declares it judges
    (``bnconform.models``): a check fixes the outputs judged, whatever the property drawing its cases."""

    name: str
    run: Any  # (prop, adapter, case, mode) -> Example
    judge: Any  # (Example, *, numerics=None) -> list[Comparison]


BN_FORWARD = Check("bn_forward", run_bn_forward, judge_bn_forward)
BN_BACKWARD = Check("bn_backward", run_bn_backward, judge_bn_backward)
BN_MOVING_STATS = Check("bn_moving_stats", run_bn_moving_stats, judge_bn_moving_stats)
BN_INFERENCE_KEEPS_STATS = Check("bn_inference_keeps_stats", run_bn_inference_keeps_stats, judge_bn_inference_keeps_stats)
BN_CALL_SEQUENCE = Check("bn_call_sequence", run_bn_call_sequence, judge_bn_call_sequence)
CONV2D = Check("conv2d", run_conv2d, judge_conv2d)
POOL2D = Check("pool2d", run_pool2d, judge_pool2d)
CONVENTIONS = Check("conventions", _run_conventions, judge_conventions)


def _check(prop: str) -> Check:
    """The halves of ``prop``, looked up in the table (``bnconform.properties``)."""
    from . import properties  # the table imports this module for the halves above

    row = properties.get(prop)
    if row.check is None:
        raise ValueError(f"property: {prop!r} is a probe judged by its own test, not by bnconform.checks; "
                         f"replayable: {', '.join(properties.names(checked=True))}")
    return row.check


def run(prop: str, adapter, case: C.Case, mode: str) -> Example:
    """Run the adapter once for ``prop``, on its device (``adapter.placed()``, ``bnconform.adapters.device``):
    the example with the framework's actual outputs."""
    check = _check(prop)
    from . import properties

    needs = properties.get(prop).needs  # an optional call (bnconform.adapters.contract.OPTIONAL)
    if needs is not None and not callable(getattr(adapter, needs, None)):
        raise ValueError(f"target: {adapter.name} does not implement {needs}, which {prop} needs")
    placed = getattr(adapter, "placed", None)
    with placed() if placed is not None else contextlib.nullcontext():
        return check.run(prop, adapter, case, mode)


def judge(ex: Example, *, numerics=None) -> list[Comparison]:
    """The example's outputs against the reference under the tolerance model (``numerics``: see
    ``bnconform.tolerance.Numerics``; None is the model itself)."""
    return _check(ex.prop).judge(ex, numerics=numerics)


def check_bn_forward(adapter, case: C.BNCase, mode: str) -> list[Comparison]:
    return judge(run("bn_forward", adapter, case, mode))


def check_bn_backward(adapter, case: C.BNCase, mode: str) -> list[Comparison]:
    return judge(run("bn_backward", adapter, case, mode))


def check_bn_moving_stats(adapter, case: C.BNCase, mode: str = "train") -> list[Comparison]:
    return judge(run("bn_moving_stats", adapter, case, mode))


def check_bn_inference_keeps_stats(adapter, case: C.BNCase, mode: str = "inference") -> list[Comparison]:
    return judge(run("bn_inference_keeps_stats", adapter, case, mode))


def check_bn_call_sequence(adapter, case: C.BNCase, mode: str) -> list[Comparison]:
    return judge(run("bn_call_sequence", adapter, case, mode))


def check_conv2d(adapter, case: C.ConvCase, mode: str = "-") -> list[Comparison]:
    return judge(run("conv2d", adapter, case, mode))


def check_pool2d(adapter, case: C.PoolCase, mode: str = "-") -> list[Comparison]:
    return judge(run("pool2d", adapter, case, mode))


def run_check(prop: str, adapter, case: C.Case, mode: str) -> list[Comparison]:
    """Dispatch by property name (used by ``bnconform replay``)."""
    return judge(run(prop, adapter, case, mode))


def with_dtype(case: C.Case, dtype: str) -> C.Case:
    return dataclasses.replace(case, dtype=dtype)
