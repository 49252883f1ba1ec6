"""A framework's batch-norm conventions, measured by probes rather than copied from documentation.

Each probe runs the framework on an input built so that the competing conventions give clearly
different numbers, and reads the convention off the output:

- momentum meaning: one training step with momentum 0.9 from moving mean 0 on a batch of mean 1
  leaves 0.1 ("keras": new = m*old + (1-m)*batch) or 0.9 ("torch": new = (1-m)*old + m*batch);
- running variance: with momentum 0.5 (the same weight in both meanings) from moving variance 0, a
  batch {-1, 1} per feature gives 0.5 * 1 (biased, / m) or 0.5 * 2 (unbiased, / (m - 1)); on a
  2-D and on a 4-D input, since fused 4-D kernels may take another path;
- default eps, and where it sits: a default layer on x = +-a per feature outputs
  a / sqrt(a^2 + eps) (inside the square root) or a / (a + eps) (outside); solving both forms for
  eps at two values of a, the right form gives the same eps twice;
- default momentum: one training call of a default layer from moving mean 0 on a batch of mean 1
  leaves the weight the default momentum gives the new batch (1 - m in the "keras" meaning, m in the
  "torch" meaning, whichever the momentum probe measured);
- default axis: which axis of a (2, 3, 4, 5) input a default layer keeps statistics for;
- initial state: a fresh default layer's gamma, beta, moving mean and variance;
- one-pass or two-pass variance: a float32 batch 1e4 + {-1, 1}: two passes find variance 1 exactly,
  one pass E[x^2] - E[x]^2 loses it to cancellation (E[x^2] = 100000001 is not a float32);
- one value per feature in training mode: the framework's output (beta, NaN) or its refusal;
- a call with no training flag: does it update the moving statistics?

Beside them: the device it ran on and its float32 math mode there (``bnconform.adapters.math_mode``: the
settings, and whether a float32 convolution and its engine's matrix product read float32, TF32 or
bfloat16, by default and in full float32).
"""

from __future__ import annotations

import numpy as np

from bnconform.cases import BNCase, BNInputs

from .base import Adapter
from .contract import lacks


def _inputs(xs, c: int, *, moving_mean=0.0, moving_var=1.0) -> BNInputs:
    return BNInputs(
        xs=tuple(np.asarray(x, np.float64) for x in xs),
        gamma=np.ones(c),
        beta=np.zeros(c),
        moving_mean=np.full(c, moving_mean),
        moving_var=np.full(c, moving_var),
        dy=np.zeros_like(xs[0]),
    )


def _train_once(adapter: Adapter, x: np.ndarray, *, momentum: float, eps: float = 1e-3, axis: int = 1, **init):
    case = BNCase(shape=x.shape, axis=axis, dtype="float32", eps=eps, momentum=momentum, steps=1)
    return adapter.bn(case, _inputs([x], x.shape[axis], **init), training=True)


def _finding(value, evidence: str, reading: float | None = None) -> dict:
    found = {"value": value, "evidence": evidence}
    if reading is not None:
        found["reading"] = float(reading)  # the number the value was read from
    return found


def probe_momentum(adapter: Adapter) -> dict:
    x = np.array([[0.0, 0.0], [2.0, 2.0]])  # batch mean 1 per feature
    new = float(_train_once(adapter, x, momentum=0.9).moving_mean[0])
    meaning = "keras" if abs(new - 0.1) < 1e-3 else "torch" if abs(new - 0.9) < 1e-3 else "unknown"
    return _finding(meaning, f"momentum=0.9, moving mean 0, batch mean 1 -> {new:.6g} (keras 0.1, torch 0.9)", new)


def _running_var_kind(new: float) -> str:
    return "biased" if abs(new - 0.5) < 1e-3 else "unbiased" if abs(new - 1.0) < 1e-3 else "unknown"


def probe_running_var(adapter: Adapter) -> dict:
    x = np.array([[-1.0, -1.0], [1.0, 1.0]])  # biased variance 1, unbiased 2
    new = float(_train_once(adapter, x, momentum=0.5, moving_var=0.0).moving_var[0])
    return _finding(_running_var_kind(new), f"(2, 2) input, momentum=0.5, moving var 0, batch {{-1, 1}} -> "
                    f"{new:.6g} (biased 0.5, unbiased 1)", new)


def probe_running_var_4d(adapter: Adapter) -> dict:
    """The same on a 4-D input along the default feature axis (fused kernels take this path)."""
    axis = adapter.conventions.default_axis
    x = np.array([-1.0, 1.0]).reshape(2, 1, 1, 1) * np.ones((1, 1, 1, 2))
    if axis % 4 == 1:
        x = x.transpose(0, 3, 1, 2)
    new = float(_train_once(adapter, x, momentum=0.5, moving_var=0.0, axis=axis).moving_var[0])
    return _finding(_running_var_kind(new), f"{x.shape} input, feature axis {axis}, momentum=0.5, moving var 0, "
                    f"batch {{-1, 1}} -> {new:.6g} (biased 0.5, unbiased 1)", new)


def _eps_estimates(adapter: Adapter, a: float):
    x = np.array([[-a] * 3, [a] * 3], np.float64)
    run = adapter.bn_default(x, training=True)
    if run.y is None:
        return None, None, run.error
    y = float(np.abs(run.y).max())
    inside = a * a * (1.0 / (y * y) - 1.0)
    outside = a / y - a
    return inside, outside, None


def probe_eps(adapter: Adapter) -> dict:
    (in1, out1, err), (in2, out2, _) = _eps_estimates(adapter, 0.01), _eps_estimates(adapter, 0.03)
    if err:
        return _finding(None, f"default layer refused the probe: {err}")
    spread_in = abs(in1 - in2) / max(abs(in1), abs(in2), 1e-30)
    spread_out = abs(out1 - out2) / max(abs(out1), abs(out2), 1e-30)
    place, eps = ("inside sqrt", in1) if spread_in <= spread_out else ("outside sqrt", out1)
    return _finding(
        {"eps": float(f"{eps:.3g}"), "placement": place},
        f"x = +-0.01 and +-0.03: eps inside sqrt -> {in1:.4g}, {in2:.4g}; outside -> {out1:.4g}, {out2:.4g}",
    )


def probe_default_momentum(adapter: Adapter) -> dict:
    meaning = probe_momentum(adapter)["value"]
    run = adapter.bn_default(np.array([[0.0, 0.0, 0.0], [2.0, 2.0, 2.0]]), training=True)  # batch mean 1
    if run.moving_mean is None:
        return _finding(None, f"default layer refused a training call: {run.error}")
    start, new = float(np.asarray(run.initial.moving_mean)[0]), float(np.asarray(run.moving_mean)[0])
    weight = (new - start) / (1.0 - start)  # new = (1 - w) start + w * 1
    momentum = {"keras": 1.0 - weight, "torch": weight}.get(meaning)
    evidence = (f"a default layer, moving mean {start:.6g}, batch mean 1 -> {new:.6g}: the new batch's "
                f"weight {weight:.6g}, momentum {momentum if momentum is None else f'{momentum:.6g}'} "
                f"in the measured meaning ({meaning})")
    return _finding(None if momentum is None else float(f"{momentum:.6g}"), evidence)


def probe_default_axis(adapter: Adapter) -> dict:
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    run = adapter.bn_default(x, training=True)
    if run.moving_mean is None:
        return _finding(None, f"default layer refused a 4-D input: {run.error}")
    n = int(np.asarray(run.moving_mean).size)
    axes = [i for i, s in enumerate(x.shape) if s == n]
    value = {1: 1, 3: -1}.get(axes[0], axes[0]) if axes else None
    return _finding(value, f"input (2, 3, 4, 5): the default layer keeps {n} statistics")


def probe_initial_state(adapter: Adapter) -> dict:
    run = adapter.bn_default(np.ones((4, 3)), training=False)
    s = run.initial
    value = {k: [float(v) for v in np.asarray(getattr(s, k)).ravel()] for k in s._fields}
    return _finding(value, "a fresh default layer for 3 features")


def probe_variance_algorithm(adapter: Adapter) -> dict:
    x = 1e4 + np.array([[-1.0] * 2, [1.0] * 2, [-1.0] * 2, [1.0] * 2])
    case = BNCase(shape=x.shape, axis=1, dtype="float32", eps=1e-3, momentum=0.0, steps=1)
    run = adapter.bn(case, _inputs([x], 2), training=True)
    y = float(np.abs(run.y).max())
    expected = 1.0 / np.sqrt(1.0 + 1e-3)
    kind = "two-pass" if abs(y - expected) < 1e-3 else "one-pass (cancellation)"
    return _finding(kind, f"float32 batch 1e4 + {{-1, 1}}: |y| = {y:.6g} (two-pass {expected:.6g})")


def probe_single_value(adapter: Adapter) -> dict:
    run = adapter.bn_default(np.array([[0.5, -2.0, 3.0]]), training=True)
    if run.y is None:
        return _finding("refuses", run.error)
    y = np.asarray(run.y)
    if np.all(np.isnan(y)):
        return _finding("NaN", "one value per feature in training mode gives NaN")
    beta = np.asarray(run.initial.beta)
    value = "outputs beta" if np.allclose(y.ravel(), beta.ravel(), atol=1e-6) else "outputs other values"
    return _finding(value, f"x = [[0.5, -2, 3]] in training mode -> {np.round(y.ravel(), 6).tolist()}")


def probe_flagless_call(adapter: Adapter) -> dict:
    x = np.random.default_rng(1).normal(1.0, 0.5, (8, 3))
    run = adapter.bn_default(x, training=None)
    if run.moving_mean is None:
        return _finding("refuses", run.error)
    changed = not np.array_equal(np.asarray(run.moving_mean), np.asarray(run.initial.moving_mean))
    return _finding(
        "updates moving statistics" if changed else "leaves moving statistics",
        "a default layer called with no training flag on a batch of mean 1",
    )


PROBES = {
    "momentum_meaning": probe_momentum,
    "running_variance": probe_running_var,
    "running_variance_4d": probe_running_var_4d,
    "default_eps": probe_eps,
    "default_momentum": probe_default_momentum,
    "default_axis": probe_default_axis,
    "initial_state": probe_initial_state,
    "variance_algorithm": probe_variance_algorithm,
    "one_value_per_feature": probe_single_value,
    "call_without_training_flag": probe_flagless_call,
}

#: The probes that build a layer with every default (``SupportsBNDefault.bn_default``).
NEEDS_DEFAULT_LAYER = frozenset({"default_eps", "default_momentum", "default_axis", "initial_state",
                                 "one_value_per_feature", "call_without_training_flag"})


def fingerprint(adapter: Adapter) -> dict:
    """Run every probe; a probe the framework cannot run records why instead of a value."""
    found = {}
    no_defaults = lacks(adapter, "bn_default")
    for name, probe in PROBES.items():
        if name in NEEDS_DEFAULT_LAYER and no_defaults:
            found[name] = _finding(None, no_defaults)
            continue
        try:
            with adapter.placed():
                found[name] = probe(adapter)
        except Exception as e:  # noqa: BLE001 - a probe's failure is itself a finding
            found[name] = _finding(None, f"{type(e).__name__}: {e}")
    from .math_mode import probe as math_mode

    return {**adapter.describe(), "target": adapter.name, "device": adapter.device_record(),
            "math_mode": math_mode(adapter), "declared": _declared(adapter), "probes": found}


def _declared(adapter: Adapter) -> dict:
    c = adapter.conventions
    return {
        "momentum_meaning": c.momentum,
        "running_variance": c.running_var,
        "default_eps": c.default_eps,
        "default_momentum": c.default_momentum,
        "default_axis": c.default_axis,
        "call_without_training_flag": c.call_without_flag,
    }


def conventions_example(fp: dict):
    """The fingerprint as a ``conventions`` example for ``bnconform.checks.judge``: the probes'
    readings (NaN where a probe found nothing) and, in ``extra``, the declared conventions. A
    known deviation's model re-judges it like any other example."""
    from bnconform.checks import Example

    probes = fp["probes"]

    def reading(key):
        value = probes.get(key, {}).get("reading")
        return np.nan if value is None else float(value)

    eps = (probes.get("default_eps") or {}).get("value")
    axis = (probes.get("default_axis") or {}).get("value")
    outputs = {
        "momentum_meaning": reading("momentum_meaning"),
        "running_variance": reading("running_variance"),
        "running_variance_4d": reading("running_variance_4d"),
        "default_eps": np.nan if not isinstance(eps, dict) else float(eps["eps"]),
        "default_axis": np.nan if axis is None else float(axis),
    }
    return Example("conventions", None, fp, "-", outputs, extra={"declared": fp["declared"]})

#: The flagless probe's finding for each declared ``Conventions.call_without_flag``.
FLAGLESS = {"train": "updates moving statistics", "inference": "leaves moving statistics", "refuses": "refuses"}


def disagreements(fp: dict) -> list[str]:
    """Where the measured conventions contradict what the adapter declares."""
    probes, declared = fp["probes"], fp["declared"]
    out = []
    for key in ("momentum_meaning", "running_variance", "running_variance_4d", "default_axis"):
        measured, expected = probes[key]["value"], declared[key.removesuffix("_4d")]
        if measured != expected:
            out.append(f"{key}: declared {expected!r}, measured {measured!r} ({probes[key]['evidence']})")
    eps = probes["default_eps"]["value"]
    if eps is None or abs(eps["eps"] - declared["default_eps"]) > 0.05 * declared["default_eps"]:
        out.append(f"default_eps: declared {declared['default_eps']!r}, measured {eps!r}")
    momentum, expected = probes.get("default_momentum", {}).get("value"), declared.get("default_momentum")
    if expected is not None and not _same_weight(momentum, expected, declared["momentum_meaning"]):
        out.append(f"default_momentum: declared {expected!r}, measured {momentum!r} "
                   f"({probes['default_momentum']['evidence']})")
    flagless = declared.get("call_without_training_flag")
    if flagless is not None:
        measured = probes["call_without_training_flag"]["value"]
        if measured != FLAGLESS[flagless]:
            out.append(f"call_without_training_flag: declared {flagless!r} ({FLAGLESS[flagless]}), measured "
                       f"{measured!r} ({probes['call_without_training_flag']['evidence']})")
    return out


def _same_weight(measured, declared: float, meaning: str) -> bool:
    """Whether two momenta give the new batch the same weight, to 1% of it (a weight of 0.01 is not
    0.001: 0.99 and 0.999 differ here although they are 1% apart as momenta)."""
    if measured is None:
        return False
    weight = (lambda m: 1.0 - m) if meaning == "keras" else (lambda m: m)
    return abs(weight(measured) - weight(declared)) <= 0.01 * abs(weight(declared))
