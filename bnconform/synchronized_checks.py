"""The synchronized batch-norm check (``bn_synchronized``): a framework's cross-replica batch norm
run on ONE replica, against the same reference as the plain layer.

On one replica the all-reduce of the batch statistics is the identity, so a synchronized layer must
compute what ``bn_forward``, ``bn_backward`` and ``bn_moving_stats`` expect of the plain one: y,
dx, dgamma, dbeta and the moving statistics after the case's training calls, each judged by those
checks' own halves (``bnconform.checks``). The layers: Keras ``BatchNormalization(synchronized=True)``
on the tensorflow backend (its moments go through ``_compute_moments_sync`` in the default replica
context), ``torch.nn.SyncBatchNorm`` under a single-process gloo process group, Flax
``linen.BatchNorm(axis_name=...)`` under ``jax.vmap(..., axis_name=...)`` over one replica.

- ``run``: ``adapter.bn_synchronized(case, inputs, training=True, grads=True)``
  (``bnconform.adapters.contract``);
- ``judge``: the three checks' comparisons, in that order.
"""

from __future__ import annotations

from . import cases as C
from .checks import (Check, Example, judge_bn_backward, judge_bn_forward, judge_bn_moving_stats)
from .compare import Comparison

OUTPUTS = {"forward": ("y",), "backward": ("dx", "dgamma", "dbeta"), "moving": ("moving_mean", "moving_var")}


def run_bn_synchronized(prop: str, adapter, case: C.BNCase, mode: str) -> Example:
    if mode != "train":
        raise ValueError(f"mode: {prop} runs training calls only (the statistics are what is synchronized), got {mode!r}")
    inputs = C.materialize_bn(case)
    out = adapter.bn_synchronized(case, inputs, training=True, grads=True)
    return Example(prop, case, inputs, mode, out._asdict(), convention=adapter.conventions.momentum)


def part(ex: Example, names) -> Example:
    """The example with only the outputs ``names`` (one of :data:`OUTPUTS`), for that check's judge."""
    return Example(ex.prop, ex.case, ex.inputs, ex.mode, {n: ex.outputs[n] for n in names}, ex.convention, ex.extra)


def judge_bn_synchronized(ex: Example, *, numerics=None) -> list[Comparison]:
    """y, the gradients and the moving statistics, as the plain checks judge them."""
    return (judge_bn_forward(part(ex, OUTPUTS["forward"]), numerics=numerics)
            + judge_bn_backward(part(ex, OUTPUTS["backward"]), numerics=numerics)
            + judge_bn_moving_stats(part(ex, OUTPUTS["moving"]), numerics=numerics))


BN_SYNCHRONIZED = Check("bn_synchronized", run_bn_synchronized, judge_bn_synchronized)
