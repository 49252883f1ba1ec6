"""The Bayes accuracy and the sampling band, against SciPy and against simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bnconform.blobs.bayes import ALPHA, bayes_accuracy, centre_distance, sampling_band
from bnconform.blobs.data import CENTRES, SIGMA, bayes_rule

scipy_stats = pytest.importorskip("scipy.stats")


def test_p_star_is_phi_of_half_the_distance_in_sigmas():
    d = math.sqrt((0.5 - 0.0) ** 2 + (0.1 - 0.0) ** 2)  # the lecture's centres, written out
    assert centre_distance() == pytest.approx(d, rel=1e-15)
    assert bayes_accuracy() == pytest.approx(scipy_stats.norm.cdf(d / (2 * 0.25)), rel=1e-14)
    # other geometry: centres 2 apart, sigma 1 -> Phi(1)
    assert bayes_accuracy(((0.0, 0.0), (0.0, 2.0)), 1.0) == pytest.approx(scipy_stats.norm.cdf(1.0), rel=1e-14)


def test_p_star_is_what_the_bayes_rule_reaches_on_a_large_sample():
    """Independent of the formula: the nearer-centre rule on 400,000 fresh points (sd of the
    estimate 0.00057), within 4.5 sd."""
    rng = np.random.default_rng(1234)
    n = 400_000
    labels = rng.integers(0, 2, n)
    points = np.asarray(CENTRES)[labels] + SIGMA * rng.standard_normal((n, 2))
    accuracy = (bayes_rule(points) == labels).mean()
    p = bayes_accuracy()
    assert abs(accuracy - p) < 4.5 * math.sqrt(p * (1 - p) / n)


def test_bayes_rule_is_optimal_among_shifted_boundaries():
    """Moving the boundary along c1 - c0 (or turning it) can only lose accuracy, in expectation:
    the exact accuracy of a shifted bisector is (Phi(d/2s + t/s) + Phi(d/2s - t/s)) / 2 <= p*."""
    d, s = centre_distance(), SIGMA
    for t in (-0.1, -0.02, 0.02, 0.1):
        shifted = 0.5 * (scipy_stats.norm.cdf(d / (2 * s) + t / s) + scipy_stats.norm.cdf(d / (2 * s) - t / s))
        assert shifted < bayes_accuracy()


def test_band_is_the_normal_interval_of_the_binomial():
    p, n = bayes_accuracy(), 250
    band = sampling_band(p, n)
    z = scipy_stats.norm.ppf(1 - ALPHA)
    sd = math.sqrt(p * (1 - p) / n)
    assert band.z == pytest.approx(z, rel=1e-9)
    assert band.sd == pytest.approx(sd, rel=1e-15)
    assert (band.low, band.high) == (pytest.approx(p - z * sd, rel=1e-9), pytest.approx(p + z * sd, rel=1e-9))
    assert band.contains(p) and not band.contains(band.low - 1e-9) and not band.contains(band.high + 1e-9)


def test_band_tails_are_close_to_alpha_under_the_exact_binomial():
    """The normal approximation against the exact Binomial(250, p*) tails: 0.0013 below the band
    and 0.00035 above it for alpha = 0.001 (the distribution is skewed), both within a factor 3."""
    p, n = bayes_accuracy(), 250
    band = sampling_band(p, n)
    below = scipy_stats.binom.cdf(math.ceil(n * band.low) - 1, n, p)
    above = scipy_stats.binom.sf(math.floor(n * band.high), n, p)
    assert ALPHA / 3 < below < 3 * ALPHA
    assert ALPHA / 3 < above < 3 * ALPHA


def test_band_shrinks_like_one_over_root_n():
    p = bayes_accuracy()
    wide, narrow = sampling_band(p, 250), sampling_band(p, 1000)
    assert (wide.high - wide.low) / (narrow.high - narrow.low) == pytest.approx(2.0, rel=1e-12)


@pytest.mark.parametrize("args, message", [
    ((0.0, 250), "p_star"), ((1.0, 250), "p_star"), ((0.8, 0), "n must"), ((0.8, 250, 0.5), "alpha"),
])
def test_bad_arguments_are_named(args, message):
    with pytest.raises(ValueError, match=message):
        sampling_band(*args)


def test_bad_sigma_is_named():
    with pytest.raises(ValueError, match="sigma"):
        bayes_accuracy(sigma=0.0)
