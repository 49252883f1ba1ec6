"""The masked batch-norm check (``bn_masked``): a layer called with a mask, as Keras's
``BatchNormalization.call(x, training, mask)`` is, against the reference's masked statistics
(``bnconform.reference.masked``).

- ``run``: ``adapter.bn_masked(case, inputs, training=...)`` (``bnconform.adapters.contract``), the
  case's training calls each with the case's mask (``bnconform.cases.mask_of``), or one inference call;
- ``judge``: in training, y at every position (masked or not) normalized with the mean and biased
  variance of the unmasked values, and the moving statistics after the calls updated from those
  (Keras's convention, or the adapter's), each under the bounds of ``bn_forward`` and
  ``bn_moving_stats`` with the reductions' length the count of unmasked values; in inference, y with
  the moving statistics (the mask changes nothing) and the moving statistics left bit for bit.

Kept apart from ``bnconform.checks`` (which it reuses) so that the plain properties stay as they are.
"""

from __future__ import annotations


import numpy as np

from bnconform import reference as R
from bnconform.reference.masked import unmasked_values

from . import cases as C
from .bounds import bn_forward, moving_stats
from .checks import Check, Example, moving_weights
from .compare import Comparison, comparable, compare, with_systematic


def run_bn_masked(prop: str, adapter, case: C.BNCase, mode: str) -> Example:
    if case.mask is None:
        raise ValueError(f"case: {prop} needs a case with a mask (case.mask), got none")
    inputs = C.materialize_bn(case)
    out = adapter.bn_masked(case, inputs, training=mode == "train")
    return Example(prop, case, inputs, mode, {"y": out.y, "moving_mean": out.moving_mean,
                                              "moving_var": out.moving_var},
                   convention=adapter.conventions.momentum)


def masked_moving_states(case: C.BNCase, inputs: C.BNInputs, convention: str, rows,
                         moments=R.batch_stats, unbiased: bool | None = None,
                         weights_old=None) -> list[R.MovingStats]:
    """The moving statistics after each training call, each updated from ``moments`` (mean, biased
    variance, count) of that batch's unmasked values ``rows[i]``; the torch convention (or
    ``unbiased``) feeds the variance unbiased, count / (count - 1) (``bnconform.reference.moving_stats``);
    ``weights_old``: the old value's weight in each update (default ``checks.moving_weights``)."""
    unbiased = convention == "torch" if unbiased is None else unbiased
    mean, var = inputs.moving_mean, inputs.moving_var
    states = []
    weights_old = weights_old or moving_weights(case, convention, len(rows))
    for values, a in zip(rows, weights_old):
        stats = moments(values, case.axis)
        fed = stats.var * (stats.count / max(stats.count - 1, 1)) if unbiased else stats.var
        mean, var = a * mean + (1.0 - a) * stats.mean, a * var + (1.0 - a) * fed
        states.append(R.MovingStats(mean, var, len(states) + 1))
    return states


def judge_bn_masked(ex: Example, *, numerics=None, moments=None, values=None,
                    unbiased: bool | None = None, weights_old=None) -> list[Comparison]:
    """y, and the moving statistics, against the masked reference (module docstring). For a known
    deviation's model: ``moments(values, axis)`` replaces the statistics of the reduced values
    (``R.batch_stats``: mean, biased variance, count), ``values(x, mask, axis)`` the values reduced
    (``unmasked_values``), ``unbiased`` the variance fed to the moving average (None: the convention's),
    ``weights_old`` the old value's weight in each update (``checks.moving_weights``)."""
    moments = moments or R.batch_stats
    values = values or unmasked_values
    case, inputs = ex.case, ex.inputs
    if ex.mode != "train":
        x = inputs.xs[0]
        y = R.normalize(x, inputs.moving_mean, inputs.moving_var, inputs.gamma, inputs.beta, case.eps, case.axis)
        tol = bn_forward.tolerance(x, inputs.gamma, inputs.beta, inputs.moving_mean, inputs.moving_var, case.eps,
                                   case.axis, case.dtype, training=False, numerics=numerics)
        zero = np.zeros_like(inputs.moving_mean)
        return [compare(ex.outputs["y"], y, tol, dtype=case.dtype, name="y"),
                compare(ex.outputs["moving_mean"], inputs.moving_mean, zero, dtype=case.dtype, name="moving_mean"),
                compare(ex.outputs["moving_var"], inputs.moving_var, zero, dtype=case.dtype, name="moving_var")]
    rows = [values(x, inputs.mask, case.axis) for x in inputs.xs]
    x, reduced = inputs.xs[-1], rows[-1]
    stats = moments(reduced, case.axis)
    y = R.normalize(x, stats.mean, stats.var, inputs.gamma, inputs.beta, case.eps, case.axis)
    tol = bn_forward.tolerance(x, inputs.gamma, inputs.beta, stats.mean, stats.var, case.eps, case.axis, case.dtype,
                               training=True, numerics=numerics, reduced=reduced)
    result = compare(ex.outputs["y"], y, tol, dtype=case.dtype, name="y")
    if numerics is None and comparable(result):  # the statistical tier belongs to the default model only
        result = with_systematic(result, bn_forward.findings(
            ex.outputs["y"], y, x, inputs.gamma, inputs.beta, stats.mean, stats.var, case.eps, case.axis, case.dtype,
            training=True, reduced=reduced))
    unbiased = ex.convention == "torch" if unbiased is None else unbiased
    weights = weights_old or moving_weights(case, ex.convention, len(rows))
    states = masked_moving_states(case, inputs, ex.convention, rows, moments, unbiased, weights)
    tol_mean, tol_var = moving_stats.tolerance(rows, inputs.moving_mean, inputs.moving_var, states, axis=case.axis,
                                               dtype=case.dtype, weights_old=weights, unbiased=unbiased,
                                               numerics=numerics)
    mean = compare(ex.outputs["moving_mean"], states[-1].mean, tol_mean, dtype=case.dtype, name="moving_mean")
    var = compare(ex.outputs["moving_var"], states[-1].var, tol_var, dtype=case.dtype, name="moving_var")
    if numerics is None and comparable(mean, var):
        found_mean, found_var = moving_stats.findings(
            ex.outputs["moving_mean"], ex.outputs["moving_var"], rows, inputs.moving_mean, inputs.moving_var, states,
            axis=case.axis, dtype=case.dtype, weights_old=weights, unbiased=unbiased)
        mean, var = with_systematic(mean, found_mean), with_systematic(var, found_var)
    return [result, mean, var]


BN_MASKED = Check("bn_masked", run_bn_masked, judge_bn_masked)

__all__ = ["BN_MASKED", "judge_bn_masked", "masked_moving_states", "run_bn_masked"]
