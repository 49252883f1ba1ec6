"""Student t quantiles and the one-sided prediction bound the gate uses.

A baseline holds the accuracies ``a_1..a_n`` of ``n`` seeds. Assuming a new run's accuracy is drawn
from the same normal distribution, ``(a - mean) / (s * sqrt(1 + 1/n))`` follows Student's t with
``n - 1`` degrees of freedom (``s`` the sample standard deviation), so

    threshold = mean - t_{1-alpha, n-1} * s * sqrt(1 + 1/n)

is the lower one-sided (1 - alpha) prediction bound: a run of an unchanged framework falls below it
with probability alpha (5%). This is the style of MLPerf's reference convergence points: the band
comes from the spread of several seeds, not from a fixed tolerance.

The t quantile is computed here (regularized incomplete beta by Lentz's continued fraction, then
bisection), so the gate needs no SciPy; the tests check it against published table values.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (Numerical Recipes, section 6.4)."""
    tiny, eps = 1e-300, 1e-15
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            return h
    raise ArithmeticError("incomplete beta: continued fraction did not converge")


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta ``I_x(a, b)``."""
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"x must be in [0, 1], got {x}")
    if x in (0.0, 1.0):
        return x
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """CDF of Student's t with ``df`` degrees of freedom."""
    if df <= 0:
        raise ValueError(f"df must be > 0, got {df}")
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


@functools.lru_cache(maxsize=256)
def t_quantile(p: float, df: float) -> float:
    """``t`` with ``t_cdf(t, df) == p`` (bisection to float precision)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-15 * hi:
            break
    return 0.5 * (lo + hi)


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
