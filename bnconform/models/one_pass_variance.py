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

``clamped``: Flax takes ``max(0, E[x^2] - E[x]^2)``; Keras's torch backend does not clamp. Where the
one-pass bound cannot tell var + eps from 0 (|e_var| >= var + eps for a feature of the judged batch:
*unresolved*), the computed variance v' is anywhere in [var - e_var, var + e_var], a value the
roundoff decides, not the data. With ``clamped = false`` the model predicts, for such a feature in a
training call, every outcome of that mechanism:

- v' + eps <= 0: sqrt(v' + eps) is NaN, and y, dx and dgamma of the feature NaN;
- v' + eps > 0: y = beta + gamma * s * (x - mu') with ONE scale s = 1 / sqrt(v' + eps) >= 1 /
  sqrt(var + e_var + eps) for the whole feature (no upper limit: v' may be near -eps) and one computed
  mean mu' within e_mean of mu. The model fits s to the feature's finite outputs (least squares,
  clipped to that range) and judges them against that prediction at the roundoff of y given s and
  mu' (``fit_unresolved``), not at the variance bound, which says nothing there. An output that is no
  normalization of the feature by one variance in range (a planted shift, a wrong scale of one
  element, a negative scale) still fails.

The backward pass's finite outputs in an unresolved feature are judged by the bound alone (only
their NaN is predicted): a one-pass failure there is reported, not explained.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bnconform.reference import batch_norm as _bn

from .. import checks, compare, tolerance
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


#: the roundings of y = (x - mu') * s * gamma + beta once s and mu' are given (subtract, two products,
#: the sum, and s = rsqrt(v' + eps) itself): gamma_5 of the terms (Higham, Lemma 3.1)
_Y_ROUNDINGS = 5


def fit_unresolved(example: checks.Example, r: tolerance.Roundoff, unresolved):
    """The model's prediction of y in the unresolved features, beta + gamma * s * (x - mu), with s fitted
    to the finite outputs there (least squares, then clipped: s >= 1 / sqrt(var + e_var + eps); module
    docstring), and its tolerance: the computed mean's distance from mu (at most e_mean) and the
    roundings of y given s and mu' (:data:`_Y_ROUNDINGS`). Returns (where, predicted, tol): ``where``
    marks the finite outputs of unresolved features."""
    case, inputs = example.case, example.inputs
    x = inputs.xs[-1]
    axis = case.axis % x.ndim
    stats = _bn.batch_stats(x, axis)
    e_mean, e_var = tolerance.batch_stat_errors(x, stats.mean, stats.var, axis, r, one_pass=True)
    gamma, beta = (_bn.broadcast(v, x.ndim, axis) for v in checks.bn_affine(case, inputs))
    mean, var = (_bn.broadcast(v, x.ndim, axis) for v in (stats.mean, stats.var))
    y = np.array(example.outputs["y"], np.float64)
    d = x - mean
    other = tuple(i for i in range(x.ndim) if i != axis)
    where = np.broadcast_to(unresolved, y.shape) & np.isfinite(y) & (gamma != 0)
    z = np.where(where, (y - beta) / np.where(gamma != 0, gamma, 1.0), 0.0)
    dw = np.where(where, d, 0.0)
    sum_dd = np.maximum((dw * dw).sum(axis=other, keepdims=True), np.finfo(float).tiny)
    s = np.maximum((dw * z).sum(axis=other, keepdims=True) / sum_dd,  # least squares, z = s * d
                   1.0 / np.sqrt(var + e_var + case.eps))  # v' <= var + e_var
    term = gamma * s * d
    predicted = beta + term
    # the computed mean mu' is within e_mean of mu: it moves each output by up to |gamma| s e_mean, and
    # the fitted s by up to s e_mean sum|d| / sum d^2; then the roundings of y given s and mu'
    lever = np.abs(dw).sum(axis=other, keepdims=True) / sum_dd
    tol = np.abs(gamma) * s * e_mean * (1.0 + lever * np.abs(d)) + r.gamma(_Y_ROUNDINGS) * (np.abs(term) + np.abs(beta))
    return where, predicted, tol


def _nan_where_unresolved(example: checks.Example, r: tolerance.Roundoff) -> checks.Example:
    """The example with its NaN in unresolved features replaced by the reference's values (the
    model predicts NaN there) and, in a forward example, the finite outputs there judged against the
    one-variance normalization the model predicts (``_fit_unresolved``); every other value as the
    framework gave it."""
    case, inputs = example.case, example.inputs
    x = inputs.xs[-1]
    if not case.batch_statistics(True):  # a frozen layer's call: no batch variance computed
        return example
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
    fitted = []
    if not clamped and example.mode == "train" and example.check is not checks.BN_MOVING_STATS:
        rr = r or tolerance.roundoff(example.case.dtype)
        unresolved = unresolved_features(example.case, example.inputs.xs[-1], rr)
        if example.check is checks.BN_FORWARD and example.case.batch_statistics(True) and unresolved.any():
            # the unresolved features' finite y against the one-variance prediction, at the roundoff of y
            # alone; the bound then judges the rest, those features' values taken as the reference's
            where, predicted, tol = fit_unresolved(example, rr, unresolved)
            y = np.array(example.outputs["y"], np.float64)
            fitted.append(compare.compare(y[where], predicted[where], tol[where], dtype=example.case.dtype,
                                          name="y (unresolved features: one variance in the one-pass interval)"))
            _, _, _, y_ref = checks.bn_reference(example.case, example.inputs, True)
            example = dataclasses.replace(example, outputs={**example.outputs, "y": np.where(where, y_ref, y)})
        example = _nan_where_unresolved(example, rr)
    return checks.judge(example, numerics=tolerance.Numerics(roundoff=r, variance="one-pass")) + fitted
