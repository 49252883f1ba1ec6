"""Moving (population) statistics of batch normalization: the exponential moving average.

Two conventions exist in the wild; both are here, by name.

``"keras"`` (Keras 3, tf_keras, Flax; the course notes' rho):

    moving_mean <- momentum * moving_mean + (1 - momentum) * mu_B
    moving_var  <- momentum * moving_var  + (1 - momentum) * sigma_B^2        (biased, / m)

``"torch"`` (PyTorch ``nn.BatchNorm*``, ``F.batch_norm``):

    running_mean <- (1 - momentum) * running_mean + momentum * mu_B
    running_var  <- (1 - momentum) * running_var  + momentum * sigma_B^2 * m / (m - 1)   (unbiased)

and ``momentum=None`` gives the cumulative moving average over the k batches seen so far,
``running <- running + (stat - running) / k`` with k = num_batches_tracked after the increment.

After n steps on the same batch, both conventions have the closed form

    stat_n = a^n * init + (1 - a^n) * stat,   a = momentum ("keras") or 1 - momentum ("torch").
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _checks
from .batch_norm import batch_stats

CONVENTIONS = ("keras", "torch")


class MovingStats(NamedTuple):
    mean: np.ndarray
    var: np.ndarray
    num_batches_tracked: int = 0


def _convention(value) -> str:
    if value not in CONVENTIONS:
        raise ValueError(f"convention: expected one of {CONVENTIONS}, got {value!r}")
    return value


def batch_variance_for_update(var_biased: np.ndarray, m: int, convention: str) -> np.ndarray:
    """The variance that enters the moving average: biased for "keras", m/(m-1) for "torch"."""
    if _convention(convention) == "keras":
        return var_biased
    if m < 2:
        raise ValueError("x: the unbiased variance needs more than one value per feature (m >= 2)")
    return var_biased * (m / (m - 1))


def update_moving_stats(
    moving: MovingStats, x, *, momentum: float | None, axis: int = -1, convention: str = "keras"
) -> MovingStats:
    """One training step's update of the moving statistics from the mini-batch ``x``."""
    convention = _convention(convention)
    stats = batch_stats(x, axis)
    c = stats.mean.shape[0]
    old_mean = _checks.per_feature("moving_mean", moving.mean, c)
    old_var = _checks.per_feature("moving_var", moving.var, c)
    if np.any(old_var < 0):
        raise ValueError("moving_var: variances must be >= 0")
    var = batch_variance_for_update(stats.var, stats.count, convention)
    tracked = moving.num_batches_tracked
    if isinstance(tracked, bool) or not isinstance(tracked, (int, np.integer)) or tracked < 0:
        raise ValueError(f"num_batches_tracked: expected an int >= 0, got {tracked!r}")
    tracked = int(tracked) + 1
    if momentum is None:
        if convention != "torch":
            raise ValueError('momentum: None (cumulative average) exists only in the "torch" convention')
        weight_old, weight_new = 1.0 - 1.0 / tracked, 1.0 / tracked
    else:
        # each weight straight from the momentum: 1 - (1 - m) is not m in floating point
        m = _checks.momentum(momentum)
        weight_old, weight_new = (m, 1.0 - m) if convention == "keras" else (1.0 - m, m)
    return MovingStats(
        weight_old * old_mean + weight_new * stats.mean,
        weight_old * old_var + weight_new * var,
        tracked,
    )


def closed_form(init, stat, *, momentum: float, steps: int, convention: str = "keras") -> np.ndarray:
    """The moving statistic after ``steps`` updates with the same batch statistic ``stat``."""
    convention = _convention(convention)
    m = _checks.momentum(momentum)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps: expected an int >= 0, got {steps!r}")
    a = m if convention == "keras" else 1.0 - m
    decay = a**steps
    return decay * _checks.as_float64("init", init) + (1.0 - decay) * _checks.as_float64("stat", stat)
