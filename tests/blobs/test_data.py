"""The two-blob draw: fixed by its seed, the lecture's distribution and split, no scikit-learn."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from bnconform.blobs.data import CENTRES, DATA_SEED, SIGMA, bayes_rule, generate


def test_same_seed_same_points_and_another_seed_others():
    a, b, c = generate(), generate(), generate(DATA_SEED + 1)
    for name in ("x_train", "y_train", "x_test", "y_test"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert a.sha256() == b.sha256() != c.sha256()
    assert not np.array_equal(a.x_train, c.x_train)


def test_sizes_dtypes_and_class_balance():
    data = generate()
    assert data.x_train.shape == (750, 2) and data.x_test.shape == (250, 2)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    labels = np.concatenate([data.y_train, data.y_test])
    assert sorted(set(labels.tolist())) == [0, 1] and labels.sum() == 500  # 500 points per centre
    assert data.describe()["test_class_1"] == int(data.y_test.sum())


def test_each_class_is_the_lectures_gaussian():
    """Sample means within 4 sd (sigma / sqrt(500) = 0.011) of the centres; sample spreads within
    4 sd (about sigma / sqrt(2 * 500) = 0.0079) of sigma; coordinates uncorrelated within 4 / sqrt(500)."""
    data = generate()
    x = np.concatenate([data.x_train, data.x_test]).astype(np.float64)
    y = np.concatenate([data.y_train, data.y_test])
    for label, centre in enumerate(CENTRES):
        points = x[y == label]
        assert np.all(np.abs(points.mean(axis=0) - centre) < 4 * SIGMA / math.sqrt(len(points)))
        assert np.all(np.abs(points.std(axis=0, ddof=1) - SIGMA) < 4 * SIGMA / math.sqrt(2 * len(points)))
        assert abs(np.corrcoef(points.T)[0, 1]) < 4 / math.sqrt(len(points))


def test_the_split_is_random_not_by_class():
    """The test set's class-1 count is hypergeometric (mean 125, sd 6.9): within 4 sd of 125."""
    data = generate()
    assert abs(int(data.y_test.sum()) - 125) < 4 * 6.9


def test_bayes_rule_is_the_nearer_centre():
    rng = np.random.default_rng(0)
    points = rng.uniform(-1, 1.5, size=(1000, 2))
    distances = [np.linalg.norm(points - np.asarray(c), axis=1) for c in CENTRES]
    assert np.array_equal(bayes_rule(points), (distances[1] < distances[0]).astype(np.int64))


def test_generation_needs_no_scikit_learn():
    code = ("import sys; import bnconform.blobs.data, bnconform.blobs.bayes; bnconform.blobs.data.generate(); "
            "sys.exit(1 if 'sklearn' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize("kwargs, message", [({"n": 5}, "n must"), ({"test_fraction": 1.0}, "test_fraction")])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate(**kwargs)
