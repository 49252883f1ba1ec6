"""one_pass_variance: the batch variance computed in one pass, E[x^2] - E[x]^2 (a tolerance model).

Mechanism: the "textbook" one-pass formula (Chan, Golub and LeVeque, "Algorithms for computing the
sample variance", 1983) sums x and x^2 together and subtracts; for data with a large offset relative
to its spread both terms are large and nearly equal, and the difference loses about
(offset / spread)^2 * u of the variance to cancellation -- beyond the two-pass bound, yet within the
bound of the algorithm itself. Flax (``use_fast_variance=True``, the default of ``nn.BatchNorm`` and
``nnx.BatchNorm``) and Keras's torch backend (``ops.moments``) compute it this way.

The model keeps the reference's math and evaluates the tolerance model with the one-pass variance
term of ``bnconform.tolerance.batch_stat_errors`` (and, with ``compute_dtype``, the roundoff of that
dtype: Keras on the torch backend computes a float64 layer in float32). Every output that depends on
the batch variance is judged again: y, dx/dgamma/dbeta (through x_hat) and the moving variance.

``clamped``: Flax takes ``max(0, E[x^2] - E[x]^2)``; Keras's torch backend does not clamp, so where
the one-pass bound cannot tell var + eps from 0 (|e_var| >= var + eps for a feature of the judged
batch) the computed variance may be negative, sqrt(var + eps) NaN, and y, dx and dgamma of that
feature NaN. With ``clamped = false`` a NaN there is what the model predicts (and only there, only
NaN: every finite value is still judged by the bound).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bnconform.reference import batch_norm as _bn

from .. import checks, tolerance
from . import Param
from ._common import BN_STATISTICS_CHECKS, DTYPE_WORDS, is_dtype_or_none

NAME = "one_pass_variance"
REPLACES = "tolerance"
CHECKS = BN_STATISTICS_CHECKS
PARAMS = {
    "compute_dtype": Param("the dtype the layer computes in (default: the layer's own)", is_dtype_or_none,
                           DTYPE_WORDS),
    "clamped": Param("whether a negative one-pass variance is clamped to 0 (false: it may make a feature NaN)",
                     lambda v: isinstance(v, bool), "true or false", True),
}


def unresolved_features(case, x, r: tolerance.Roundoff):
    """Per feature (keepdims shape): whether the one-pass bound cannot tell var + eps from 0."""
    axis = case.axis % x.ndim
    stats = _bn.batch_stats(x, axis)
    _, e_var = tolerance.batch_stat_errors(x, stats.mean, stats.var, axis, r, one_pass=True)
    return e_var >= _bn.broadcast(stats.var, x.ndim, axis) + case.eps


def _nan_where_unresolved(example: checks.Example, r: tolerance.Roundoff) -> checks.Example:
    """The example with its NaN in unresolved features replaced by the reference's values (the
    model predicts NaN there); every other value as the framework gave it."""
    case, inputs = example.case, example.inputs
    x = inputs.xs[-1]
    unresolved = unresolved_features(case, x, r)
    if not unresolved.any():
        return example
    _, _, _, y = checks.bn_reference(case, inputs, True)
    expected = {"y": y}
    if example.check is checks.BN_BACKWARD:
        grads = checks.bn_reference_grads(case, inputs, True)
        expected = {"dx": grads.dx, "dgamma": grads.dgamma}
    outputs = dict(example.outputs)
    for name, reference in expected.items():
        if reference is None or name not in outputs:  # no such parameter (scale=False) or frozen
            continue
        actual = np.array(outputs[name], np.float64)
        where = unresolved if actual.ndim == x.ndim else unresolved.reshape(-1)
        where = np.broadcast_to(where, actual.shape) & np.isnan(actual)
        outputs[name] = np.where(where, reference, actual)
    return dataclasses.replace(example, outputs=outputs)


def judge(example: checks.Example, *, compute_dtype: str | None = None, clamped: bool = True) -> list:
    r = tolerance.roundoff(compute_dtype) if compute_dtype else None
    if not clamped and example.mode == "train" and example.check is not checks.BN_MOVING_STATS:
        example = _nan_where_unresolved(example, r or tolerance.roundoff(example.case.dtype))
    return checks.judge(example, numerics=tolerance.Numerics(roundoff=r, variance="one-pass"))
