"""Student t quantiles and the one-sided prediction bound the gate uses.

A baseline holds the accuracies ``a_1..a_n`` of ``n`` seeds. Assuming a new run's accuracy is drawn
from the same normal distribution, ``(a - mean) / (s * sqrt(1 + 1/n))`` follows Student's t with
``n - 1`` degrees of freedom (``s`` the sample standard deviation), so

    threshold = mean - t_{1-alpha, n-1} * s * sqrt(1 + 1/n)

is the lower one-sided (1 - alpha) prediction bound: a run of an unchanged framework falls below it
with probability alpha (5%). This is the style of MLPerf's reference convergence points: the band
comes from the spread of several seeds, not from a fixed tolerance.

The t quantile is SciPy's (``scipy.stats.t.ppf``). SciPy is in the ``cifar`` extra, not the base
dependencies: the threshold, the margin and the verdict are computed here when ``python -m bnconform.cifar``
trains or re-judges runs, and stored in its results file (and each baseline's band in the baselines
file); ``bnconform gate`` and ``bnconform report`` only read them, so they need no SciPy.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass


@functools.lru_cache(maxsize=256)
def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (``scipy.stats.t.ppf``;
    cached: a gate asks for few distinct ``(p, df)``)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if not df > 0:
        raise ValueError(f"df must be > 0, got {df}")
    try:
        from scipy.stats import t as student_t
    except ImportError as exc:  # the cifar extra is not installed
        raise ImportError(f"the CIFAR-10 gate needs SciPy for Student's t (pip install 'bnconform[cifar]'): "
                          f"{exc}") from exc
    return float(student_t.ppf(p, df))


@dataclass(frozen=True)
class Bound:
    n: int
    mean: float
    std: float  # sample standard deviation (n - 1)
    t: float
    threshold: float
    alpha: float

    def as_dict(self) -> dict:
        return {"n": self.n, "mean": self.mean, "std": self.std, "t": self.t,
                "threshold": self.threshold, "alpha": self.alpha}


MIN_SEEDS = 3


def prediction_bound(values, alpha: float = 0.05) -> Bound:
    """Lower one-sided ``1 - alpha`` prediction bound for one new value from ``values``."""
    values = [float(v) for v in values]
    n = len(values)
    if n < 2:
        raise ValueError(f"values must hold at least 2 numbers, got {n}")
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
    mean = math.fsum(values) / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    t = t_quantile(1.0 - alpha, n - 1)
    return Bound(n, mean, std, t, mean - t * std * math.sqrt(1.0 + 1.0 / n), alpha)
