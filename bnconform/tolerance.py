"""The worst-case tier of the tolerance model, by op: how far a framework's output may honestly lie
from the float64 reference, element by element (``|actual - expected| <= tol``).

The model lives in ``bnconform.bounds`` (one module per op, each with both tiers; docs/tolerances.md
derives it); this module is the worst-case tier's public face, with the names the known deviations'
models (``bnconform.models``) and ``checks.judge`` use. ``numerics`` (:class:`Numerics`)
evaluates a bound with other numerics than the model's default -- another unit roundoff (a float64
layer that computes in float32, a reduction accumulated in the half dtype) or the one-pass variance;
``numerics=None`` is the default model, which the conformance properties use.
"""

from __future__ import annotations

from .bounds import batch_stats, bn_backward as _bn_backward, bn_forward as _bn_forward
from .bounds import conv2d as _conv2d, moving_stats as _moving_stats, pool2d as _pool2d
from .bounds.reduction import WORST_CASE
from .bounds.roundoff import SAFETY, VARIANCE_ALGORITHMS, Numerics, Roundoff, finish as _finish, roundoff

BNGradTolerance = _bn_backward.GradTolerance
bn_forward = _bn_forward.tolerance
bn_backward = _bn_backward.tolerance
moving_stats = _moving_stats.tolerance
conv2d = _conv2d.tolerance
pool2d = _pool2d.tolerance
root_exponent_error = _pool2d.root_exponent_error
underflowing_powers = _pool2d.underflowing_powers
power_underflow_error = _pool2d.power_underflow_error


def batch_stat_errors(x, mean, var, axis: int, r: Roundoff, *, one_pass: bool = False):
    """The worst-case bounds on the batch mean and biased variance per feature (keepdims):
    ``bounds.batch_stats.stat_errors`` with Higham's gamma_n."""
    return batch_stats.stat_errors(x, mean, var, axis, r, WORST_CASE, one_pass=one_pass)


__all__ = ["SAFETY", "VARIANCE_ALGORITHMS", "Numerics", "Roundoff", "roundoff", "BNGradTolerance", "bn_forward",
           "bn_backward", "moving_stats", "conv2d", "pool2d", "root_exponent_error", "underflowing_powers",
           "power_underflow_error", "batch_stat_errors", "_finish"]
