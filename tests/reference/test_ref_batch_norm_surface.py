"""The batch-norm reference and its bounds on every rank (2 to 5) and under the constructor options
(issue 22): each expected value computed here another way than the code under test -- statistics of
the input flattened by hand to (m, C), known answers, central finite differences -- and the bounds
shown rank-generic (a rank-5 input and the same values laid out as (m, C) get the same tolerance)."""

from __future__ import annotations

import numpy as np
import pytest

from bnconform import reference as R
from bnconform.bounds import bn_backward, bn_forward, moving_stats
from bnconform.reference import batch_norm_options as O

SHAPES = {2: ((6, 3), 1), 3: ((2, 3, 5), 1), 4: ((2, 4, 3, 3), -1), 5: ((2, 3, 2, 2, 3), 1)}
RNG = np.random.default_rng(22)


def _flat(x: np.ndarray, axis: int) -> np.ndarray:
    """x as (m, C): the feature axis moved last, every other axis folded into rows."""
    return np.moveaxis(x, axis, -1).reshape(-1, x.shape[axis])


@pytest.mark.parametrize("rank", sorted(SHAPES))
def test_statistics_reduce_over_every_axis_but_the_features(rank):
    shape, axis = SHAPES[rank]
    x = RNG.normal(1.0, 2.0, shape)
    flat = _flat(x, axis)
    stats = R.batch_stats(x, axis)
    assert stats.count == int(np.prod(shape)) // shape[axis] == flat.shape[0]
    np.testing.assert_allclose(stats.mean, [sum(col) / len(col) for col in flat.T], rtol=1e-13)
    np.testing.assert_allclose(stats.var, [sum((v - sum(col) / len(col)) ** 2 for v in col) / len(col)
                                           for col in flat.T], rtol=1e-12)


@pytest.mark.parametrize("rank", sorted(SHAPES))
def test_the_bounds_depend_on_the_values_per_feature_not_on_the_rank(rank):
    """A rank-r input and the same values as (m, C): the same tolerance, element by element (so m is
    the product of every non-feature axis in the bounds too)."""
    shape, axis = SHAPES[rank]
    x = RNG.normal(0.5, 1.5, shape)
    dy = RNG.normal(0.0, 1.0, shape)
    c = shape[axis]
    gamma, beta = RNG.normal(1.0, 0.5, c), RNG.normal(0.0, 1.0, c)
    stats = R.batch_stats(x, axis)
    flat_x, flat_dy = _flat(x, axis), _flat(dy, axis)
    for dtype in ("float16", "float32"):
        tol = bn_forward.tolerance(x, gamma, beta, stats.mean, stats.var, 1e-3, axis, dtype, training=True)
        flat = bn_forward.tolerance(flat_x, gamma, beta, stats.mean, stats.var, 1e-3, -1, dtype, training=True)
        np.testing.assert_allclose(_flat(np.broadcast_to(tol, shape), axis), np.broadcast_to(flat, flat_x.shape),
                                   rtol=1e-12)
        grads = R.batch_norm_train_backward(dy, x, gamma, eps=1e-3, axis=axis)
        flat_grads = R.batch_norm_train_backward(flat_dy, flat_x, gamma, eps=1e-3, axis=-1)
        t = bn_backward.tolerance(dy, x, gamma, stats.mean, stats.var, 1e-3, axis, dtype, training=True, grads=grads)
        f = bn_backward.tolerance(flat_dy, flat_x, gamma, stats.mean, stats.var, 1e-3, -1, dtype, training=True,
                                  grads=flat_grads)
        np.testing.assert_allclose(_flat(np.broadcast_to(t.dx, shape), axis), np.broadcast_to(f.dx, flat_x.shape),
                                   rtol=1e-12)
        np.testing.assert_allclose(t.dgamma, f.dgamma, rtol=1e-12)
        state = R.update_moving_stats(R.MovingStats(np.zeros(c), np.ones(c)), x, momentum=0.9, axis=axis)
        m = moving_stats.tolerance([x], np.zeros(c), np.ones(c), [state], axis=axis, dtype=dtype,
                                   weights_old=[0.9], unbiased=False)
        fm = moving_stats.tolerance([flat_x], np.zeros(c), np.ones(c), [state], axis=-1, dtype=dtype,
                                    weights_old=[0.9], unbiased=False)
        np.testing.assert_allclose(m, fm, rtol=1e-12)


# -- the options, on known answers: x = [[1], [3]] has mean 2 and variance 1 --------------------------

X = np.array([[1.0], [3.0]])
G, B, MM, MV = np.array([2.0]), np.array([5.0]), np.array([1.0]), np.array([3.0])  # moving var + eps = 4


def _y(training, **options):
    return O.batch_norm(X, G, B, MM, MV, eps=1.0, axis=1, training=training, **options).y.ravel().tolist()


def test_options_on_known_answers():
    # batch statistics: x_hat = (x - 2) / sqrt(1 + 1); moving: (x - 1) / sqrt(3 + 1) = [0, 1]
    s = np.sqrt(2.0)
    assert _y(True) == pytest.approx([2 * -1 / s + 5, 2 * 1 / s + 5])
    assert _y(True, scale=False, center=False) == pytest.approx([-1 / s, 1 / s])  # affine=False: x_hat
    assert _y(True, scale=False) == pytest.approx([-1 / s + 5, 1 / s + 5])
    assert _y(True, center=False) == pytest.approx([-2 / s, 2 / s])
    assert _y(True, trainable=False) == pytest.approx([5.0, 7.0])  # frozen: moving statistics in training
    assert _y(False, trainable=False) == pytest.approx([5.0, 7.0])
    assert _y(False, track_running_stats=False) == pytest.approx(_y(True))  # no buffers: batch statistics
    assert O.updates_moving_statistics(True) and not O.updates_moving_statistics(True, trainable=False)
    assert not O.updates_moving_statistics(True, track_running_stats=False)
    assert not O.updates_moving_statistics(False)


OPTIONS = [dict(), dict(scale=False, center=False), dict(scale=False), dict(center=False), dict(trainable=False),
           dict(track_running_stats=False), dict(trainable=False, scale=False)]


@pytest.mark.parametrize("rank", [3, 5])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_backward_under_the_options_matches_finite_differences(rank, training, options):
    """dx, dgamma, dbeta of sum(y * dy) by central differences of the options' forward pass; dgamma
    and dbeta None exactly where the layer has no such trainable parameter."""
    shape, axis = SHAPES[rank]
    c = shape[axis]
    x, dy = RNG.normal(0.0, 1.0, shape), RNG.normal(0.0, 1.0, shape)
    gamma, beta, mm, mv = RNG.normal(1, 0.3, c), RNG.normal(0, 1, c), RNG.normal(0, 1, c), RNG.uniform(0.5, 2, c)
    kw = dict(eps=1e-3, axis=axis, training=training, **options)

    def loss(x_, g_, b_):
        return float((O.batch_norm(x_, g_, b_, mm, mv, **kw).y * dy).sum())

    h = 1e-6
    fd_x = np.zeros(shape)
    for i in np.ndindex(shape):
        e = np.zeros(shape)
        e[i] = h
        fd_x[i] = (loss(x + e, gamma, beta) - loss(x - e, gamma, beta)) / (2 * h)
    fd_g = np.array([(loss(x, gamma + h * np.eye(c)[k], beta) - loss(x, gamma - h * np.eye(c)[k], beta)) / (2 * h)
                     for k in range(c)])
    fd_b = np.array([(loss(x, gamma, beta + h * np.eye(c)[k]) - loss(x, gamma, beta - h * np.eye(c)[k])) / (2 * h)
                     for k in range(c)])
    grads = O.batch_norm_backward(dy, x, gamma, mm, mv, **kw)
    np.testing.assert_allclose(grads.dx, fd_x, rtol=1e-5, atol=1e-7)
    trainable = options.get("trainable", True)
    if options.get("scale", True) and trainable:
        np.testing.assert_allclose(grads.dgamma, fd_g, rtol=1e-5, atol=1e-7)
    else:
        assert grads.dgamma is None
        assert not trainable or np.allclose(fd_g, 0.0, atol=1e-7)  # without scale gamma does not enter y
    if options.get("center", True) and trainable:
        np.testing.assert_allclose(grads.dbeta, fd_b, rtol=1e-5, atol=1e-7)
    else:
        assert grads.dbeta is None
