"""The Bayes-optimal accuracy of the two blobs and the sampling band a test accuracy is gated on.

Bayes accuracy. Two classes with equal priors, densities N(c0, sigma^2 I) and N(c1, sigma^2 I):
the Bayes rule picks the nearer centre, and a point of either class lands on the wrong side of the
bisector when its coordinate along ``c1 - c0`` (a N(0, sigma^2) variable) exceeds ``d / 2``, with
``d = |c1 - c0|``. So the Bayes-optimal accuracy is

    p* = Phi(d / (2 sigma))        (here d = sqrt(0.26) = 0.5099, p* = Phi(1.0198) = 0.8461)

for either class, hence for any class balance of the test set.

Sampling band. On a test set of ``n`` points drawn from the same distribution, the Bayes rule is
right on each point independently with probability p*, so its accuracy is Binomial(n, p*) / n:
mean p*, standard deviation ``s = sqrt(p* (1 - p*) / n)`` (0.0228 for n = 250). With the normal
approximation (n p* (1 - p*) = 32.6 here), the band

    [p* - z_{1-alpha} s,  p* + z_{1-alpha} s]

holds the Bayes rule's test accuracy except with probability alpha on each side. ``alpha`` =
:data:`ALPHA` = 0.001 per side (z = 3.09, band 0.776 to 0.917 for n = 250): a CI run gates a few
dozen accuracies, and 0.001 keeps the chance that any of up to 50 would leave the band by sampling
alone under 5% (Bonferroni: 50 x 0.001). The binomial is skewed at p* = 0.85: under the exact
Binomial(250, p*) the band's tails are 0.0013 below and 0.00035 above.

The draw is fixed (:mod:`bnconform.blobs.data`), so every run is tested on the same 250 points, on which the
Bayes rule itself scores 0.860 (0.6 standard deviations above p*): the band is the question "could a Bayes-optimal
classifier score this on 250 points?", asked of every run on one draw.

What the band does and does not allow. A trained network is an *estimated* classifier: its
expected accuracy is p* minus an estimation term (its boundary is not exactly the bisector), and
the band has no allowance for that term. It is a fair gate only while the estimation term is small
against the band's half-width z s = 0.07. Measured (docs/blobs.md: 5 seeds x 5 targets), the networks
fall short of the Bayes rule on the same test points by 0.026 (deep, no BN), 0.031 (shallow, no
BN), 0.025 (deep, BN recalibrated) and 0.005 (shallow, BN recalibrated) on average, at most by
0.048: well inside, and the lowest correct accuracy, 0.812, is 0.036 above the band. The upper side catches the
impossible (no classifier beats the Bayes rule except by sampling luck): a leak of test labels, an
evaluation on the training points. The band cannot resolve a degradation smaller than about
0.07: with n = 250 the test set is too small for that, whatever the statistics.

Everything here is stdlib (``statistics.NormalDist``); tests compare with SciPy.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import NormalDist

from .data import CENTRES, SIGMA

ALPHA = 0.001


def centre_distance(centres=CENTRES) -> float:
    (x0, y0), (x1, y1) = centres
    return math.hypot(x1 - x0, y1 - y0)


def bayes_accuracy(centres=CENTRES, sigma: float = SIGMA) -> float:
    """``p* = Phi(d / (2 sigma))``: the Bayes-optimal accuracy of two isotropic Gaussians with
    equal priors."""
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    return NormalDist().cdf(centre_distance(centres) / (2.0 * sigma))


@dataclass(frozen=True)
class Band:
    p_star: float
    n: int
    alpha: float
    z: float
    sd: float
    low: float
    high: float

    def contains(self, accuracy: float) -> bool:
        return self.low <= accuracy <= self.high

    def as_dict(self) -> dict:
        return asdict(self)


def sampling_band(p_star: float, n: int, alpha: float = ALPHA) -> Band:
    """``p* -/+ z_{1-alpha} sqrt(p* (1 - p*) / n)``: where a Bayes-optimal classifier's accuracy on
    ``n`` fresh test points falls, except with probability ``alpha`` on each side."""
    if not 0.0 < p_star < 1.0:
        raise ValueError(f"p_star must be in (0, 1), got {p_star}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
    z = NormalDist().inv_cdf(1.0 - alpha)
    sd = math.sqrt(p_star * (1.0 - p_star) / n)
    return Band(p_star, n, alpha, z, sd, p_star - z * sd, p_star + z * sd)
