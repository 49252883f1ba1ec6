"""Batch norm for ``--bn-impl keras:...``, computed several honest ways and with one subtle planted bug
each (issue 11's matrix), so that the suite's verdict on a user's Keras layer is proven both ways through
the path a user takes: every honest variant conforms in every dtype, every planted bug fails.

Each class is a drop-in for ``keras.layers.BatchNormalization`` (constructor ``(axis=-1, momentum=0.99,
epsilon=1e-3, **kwargs)``, weights ``gamma``, ``beta``, ``moving_mean``, ``moving_variance``,
``call(x, training=False)``) built on :class:`VariantBatchNormalization`, which moves ``axis`` last,
flattens the input to ``(m, C)`` (m values per feature) and computes, with Keras's conventions,

    mean = sum(x) / m,   var = sum((x - mean)^2) / m                      (training statistics)
    y    = (x - mean) / sqrt(var + epsilon) * gamma + beta                (Ioffe and Szegedy, Alg. 1)
    moving = momentum * moving + (1 - momentum) * stat,  the BIASED var   (momentum weighs the old)

through overridable steps: ``_sum`` (the reduction), ``_stats`` (the variance algorithm), ``_affine``
(how y is formed), ``_update`` (the moving statistics: ``_weight``, ``_moving_variance``, ``_store``).
Gradients come from the backend's autodiff (``tf.GradientTape`` on the tensorflow backend, the suite's
default for Keras user layers) through those steps unless a class says otherwise.

Precision. The adapter builds a layer with ``dtype=`` (a Keras dtype policy: variables and computation in
that dtype). The baseline computes float16 and bfloat16 wholly in float32 and rounds the output once
(``opmath``), as ``keras.layers.BatchNormalization`` does; every reduction accumulates in at least
float32 (``_sum``), as ``ops.mean`` does for half precision and as PyTorch's sums do.

Computing float16 in the input's dtype with autodiff is not honest on the tensorflow backend, and is not
among the variants: TensorFlow's ``reduce_sum`` (``ops.sum``) accumulates float16 in float16 (bfloat16 in
float32), ``cumsum`` accumulates both in the half dtype (on 16,384 values near 3: relative errors 0.67
and 0.96, the running sum stalls once its ulp exceeds the terms), and the gradient of broadcasting gamma
and beta over the m rows is such a ``reduce_sum``, so dgamma and dbeta are float16 accumulations -- the
planted bug :class:`HalfPrecisionAccumulation` in the backward pass. Measured with the baseline's steps in
the input's dtype: bfloat16 conforms (at the small sizes: production size runs float32 and float16);
float16 fails ``bn_backward`` only, on dbeta (a (4, 4) case 1.09 times the bound, 1.25 ulp on a sum of
4; at 16,384 values per feature up to 2x the probabilistic bound).
:class:`ExplicitBackward` computes in the input's dtype with its own float32-accumulated backward and
conforms in every dtype.

Honest: :class:`VariantBatchNormalization` (the baseline: Keras's way, half precision in float32 rounded
once), :class:`SequentialSums` (``ops.cumsum``'s last row), :class:`ChanBlocked` (blocks of 256 rows
merged by Chan, Golub and LeVeque), :class:`Float64Accumulation`, :class:`Welford`, :class:`FoldedAffine`
(y = x * scale + shift), :class:`ExplicitBackward` (the closed-form backward pass by
``ops.custom_gradient``, in the input's dtype).

Planted: :class:`FixedEps1e5`, :class:`UnbiasedNormalization`, :class:`MomentumOffByOnePercent`,
:class:`UnbiasedMovingVariance`, :class:`BackwardDividesByMMinus1`, :class:`InputsRoundedToTF32`,
:class:`HalfPrecisionAccumulation`, :class:`ChanWithoutBetweenBlockTerm`,
:class:`MovingStatsThroughFloat16`.
"""

from __future__ import annotations

import keras
from keras import ops

BLOCK = 256
STREAMS = 16
HALF = ("float16", "bfloat16")


def dtype_of(t) -> str:
    return keras.backend.standardize_dtype(t.dtype)


def accumulator(dtype: str) -> str:
    """The dtype a reduction accumulates in: float32 for float16 and bfloat16, else the dtype itself."""
    return "float32" if dtype in HALF else dtype


def round_tf32(x):
    """float32 rounded to TF32's 11-bit significand (kept in float32) by Veltkamp's split: with
    c = (2^13 + 1) x, hi = c - (c - x) is x rounded to 24 - 13 = 11 significant bits (Dekker 1971)."""
    c = x * float(2**13 + 1)
    return c - (c - x)


class VariantBatchNormalization(keras.layers.Layer):
    """The honest baseline: TensorFlow's (vectorized) sums, two-pass variance; float16 and bfloat16
    computed in float32 and the output rounded once (``opmath``), as Keras's own layer does. A class
    with ``opmath = False`` computes in the input's dtype (its reductions still accumulate in float32,
    ``_sum``)."""

    opmath = True

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.axis, self.momentum, self.epsilon = int(axis), float(momentum), float(epsilon)

    def build(self, input_shape):
        c = (input_shape[self.axis],)
        # autocast=False as in Keras's own layer: the variables are read in their own dtype
        self.gamma = self.add_weight(shape=c, initializer="ones", name="gamma", autocast=False)
        self.beta = self.add_weight(shape=c, initializer="zeros", name="beta", autocast=False)
        self.moving_mean = self.add_weight(shape=c, initializer="zeros", name="moving_mean", trainable=False,
                                           autocast=False)
        self.moving_variance = self.add_weight(shape=c, initializer="ones", name="moving_variance",
                                               trainable=False, autocast=False)

    # -- steps ---------------------------------------------------------------------------------------

    def _compute_dtype(self, dtype: str) -> str:
        return "float32" if self.opmath and dtype in HALF else dtype

    def _sum(self, a):
        """Sum over the m rows of (m, C), accumulated in ``accumulator(dtype)`` and rounded once."""
        dtype = dtype_of(a)
        return ops.cast(ops.sum(ops.cast(a, accumulator(dtype)), axis=0), dtype)

    def _stats(self, x2d):
        """Mean and biased variance per column, two passes."""
        m = x2d.shape[0]
        mean = self._sum(x2d) / m
        d = x2d - mean
        return mean, self._sum(d * d) / m

    def _eps(self) -> float:
        return self.epsilon

    def _normalizing_variance(self, var, m: int):
        return var

    def _affine(self, x2d, mean, var, gamma, beta):
        return (x2d - mean) / ops.sqrt(var + self._eps()) * gamma + beta

    def _weight(self) -> float:
        """The new batch's weight in the moving statistics: 1 - momentum (Keras's momentum keeps the old)."""
        return 1.0 - self.momentum

    def _moving_variance(self, var, m: int):
        """What the moving variance moves toward: the biased batch variance (Keras's convention)."""
        return var

    def _store(self, mean, var) -> None:
        self.moving_mean.assign(ops.cast(mean, dtype_of(self.moving_mean)))
        self.moving_variance.assign(ops.cast(var, dtype_of(self.moving_variance)))

    def _update(self, mean, var, m: int) -> None:
        w = self._weight()
        mm, mv = ops.cast(self.moving_mean, dtype_of(mean)), ops.cast(self.moving_variance, dtype_of(var))
        self._store(mm * (1.0 - w) + mean * w, mv * (1.0 - w) + self._moving_variance(var, m) * w)

    # -- the layer -----------------------------------------------------------------------------------

    def _to_2d(self, x):
        """x with ``axis`` moved last and flattened to (m, C), and the moved shape (to undo it)."""
        axis = self.axis % len(x.shape)
        moved = ops.moveaxis(x, axis, -1)
        return ops.reshape(moved, (-1, moved.shape[-1])), tuple(moved.shape), axis

    def _training_output(self, x2d, gamma, beta):
        m = x2d.shape[0]
        mean, var = self._stats(x2d)
        self._update(ops.stop_gradient(mean), ops.stop_gradient(var), m)
        return self._affine(x2d, mean, self._normalizing_variance(var, m), gamma, beta)

    def call(self, x, training=False):
        out_dtype = dtype_of(x)
        ct = self._compute_dtype(out_dtype)
        x2d, moved, axis = self._to_2d(ops.cast(x, ct))
        gamma, beta = ops.cast(self.gamma, ct), ops.cast(self.beta, ct)
        if training and self.trainable:  # a frozen layer runs in inference mode (Keras's rule)
            y2d = self._training_output(x2d, gamma, beta)
        else:
            y2d = self._affine(x2d, ops.cast(self.moving_mean, ct), ops.cast(self.moving_variance, ct), gamma, beta)
        return ops.cast(ops.moveaxis(ops.reshape(y2d, moved), -1, axis), out_dtype)


# -- honest variants --------------------------------------------------------------------------------


class SequentialSums(VariantBatchNormalization):
    """Honest: every sum is a running sum over the rows (``ops.cumsum``'s last row), accumulated in
    float32 for half precision (``cumsum`` in the half dtype accumulates in it: the planted bug)."""

    def _sum(self, a):
        dtype = dtype_of(a)
        return ops.cast(ops.cumsum(ops.cast(a, accumulator(dtype)), axis=0)[-1], dtype)


class ChanBlocked(VariantBatchNormalization):
    """Honest: per-block mean and M2 over blocks of 256 rows, merged by Chan, Golub and LeVeque:
    M2 = M2_a + M2_b + delta^2 n_a n_b / n, mean = mean_a + delta n_b / n."""

    between = True

    def _stats(self, x2d):
        n, mean, m2 = 0, None, None
        for i in range(0, x2d.shape[0], BLOCK):
            blk = x2d[i:i + BLOCK]
            nb = blk.shape[0]
            mb = self._sum(blk) / nb
            m2b = self._sum(ops.square(blk - mb))
            if mean is None:
                n, mean, m2 = nb, mb, m2b
                continue
            total = n + nb
            delta = mb - mean
            m2 = m2 + m2b + (delta * delta * (n * nb / total) if self.between else 0.0)
            mean = mean + delta * (nb / total)
            n = total
        return mean, m2 / n


class Float64Accumulation(VariantBatchNormalization):
    """Honest: statistics in float64, rounded to the computing dtype once."""

    def _stats(self, x2d):
        dtype = dtype_of(x2d)
        mean, var = VariantBatchNormalization._stats(self, ops.cast(x2d, "float64"))
        return ops.cast(mean, dtype), ops.cast(var, dtype)


def streams_of(m: int) -> int:
    """How many interleaved sequential streams a row-by-row loop over m rows runs: 16 from m = 4,096
    on, as a GPU kernel gives each thread a stream; one below. Row i goes to stream i % 16 (the first
    m % 16 streams take one row more, as a kernel's first threads take the remainder): a loop of
    about m / 16 eager steps (a Python loop of 16,384 eager steps costs about 20 s per call, and as
    much again for the gradient through it)."""
    return STREAMS if m >= 4096 else 1


def interleaved(a, s: int):
    """``a`` (m, c) as its s streams: ((q, s, c) the first q = m // s rows of each, (r, c) the last
    m - q s rows, one more each for streams 0 to r - 1)."""
    m, c = a.shape
    q = m // s
    return ops.reshape(a[:q * s], (q, s, c)), a[q * s:]


def _with_first(a, head):
    """``a`` with its first ``len(head)`` rows replaced by ``head``."""
    return ops.concatenate([head, a[head.shape[0]:]], axis=0) if head.shape[0] else a


class Welford(VariantBatchNormalization):
    """Honest: Welford's one-pass update, row by row: delta = x - mean, mean += delta / k,
    M2 += delta (x - mean); half precision in float32 (``opmath``): in the half dtype the running
    mean is a half-precision accumulation, the planted bug below. At production size the rows run in
    ``streams_of(m)`` interleaved Welford streams merged by Chan's formula, as GPU kernels do."""

    opmath = True

    def _stats(self, x2d):
        m, c = x2d.shape
        s = streams_of(m)
        x3, tail = interleaved(x2d, s)
        q, r = x3.shape[0], tail.shape[0]
        mean = ops.zeros_like(x3[0])
        m2 = ops.zeros_like(x3[0])
        for k in range(q):
            row = x3[k]
            delta = row - mean
            mean = mean + delta / (k + 1)
            m2 = m2 + delta * (row - mean)
        if r:  # the remainder: one more step of the first r streams
            delta = tail - mean[:r]
            mean_r = mean[:r] + delta / (q + 1)
            m2 = _with_first(m2, m2[:r] + delta * (tail - mean_r))
            mean = _with_first(mean, mean_r)
        counts = [q + 1] * r + [q] * (s - r)
        n, mean_t, m2_t = counts[0], mean[0], m2[0]
        for j in range(1, s):  # Chan, Golub and LeVeque: M2 = M2_a + M2_b + delta^2 n_a n_b / n
            delta = mean[j] - mean_t
            total = n + counts[j]
            m2_t = m2_t + m2[j] + delta * delta * (n * counts[j] / total)
            mean_t = mean_t + delta * (counts[j] / total)
            n = total
        return mean_t, m2_t / m


class FoldedAffine(VariantBatchNormalization):
    """Honest: y = x * scale + shift with scale = gamma / sqrt(var + epsilon), shift = beta - mean * scale,
    as ``ops.batch_normalization`` folds it; half precision in float32 (``opmath``, as Keras's layer)."""

    opmath = True

    def _affine(self, x2d, mean, var, gamma, beta):
        scale = gamma * ops.rsqrt(var + self._eps())
        return x2d * scale + (beta - mean * scale)


class ExplicitBackward(VariantBatchNormalization):
    """Honest: y = x_hat * gamma + beta with the closed-form backward pass (``ops.custom_gradient``,
    not autodiff; Ioffe and Szegedy, section 3): dgamma = sum(dy x_hat), dbeta = sum(dy), and

        training:   dx = gamma / sigma * (dy - dbeta / m - x_hat * dgamma / divisor),  divisor = m
        inference:  dx = gamma / sigma * dy       (the moving statistics do not depend on x)

    The one honest variant that computes half precision in the input's dtype (``opmath = False``):
    every element-wise step rounds in float16 or bfloat16, every reduction accumulates in float32
    (``_sum``), the backward's included -- which autodiff on TensorFlow does not give: the gradient
    of broadcasting gamma and beta over the m rows is a ``reduce_sum`` in the dtype, and float16's
    accumulates in float16 (see the module docstring)."""

    opmath = False
    divisor_offset = 0

    def _closed_form(self, x2d, gamma, beta, moving=None):
        """y and its closed-form gradient; ``moving`` (mean, var) for inference, else the batch's."""
        m, eps, reduce = x2d.shape[0], self._eps(), self._sum
        divisor = m + self.divisor_offset

        @ops.custom_gradient
        def normalize(x2d, gamma, beta):
            if moving is None:
                mean, var = self._stats(x2d)
            else:
                mean, var = moving
            inv = ops.rsqrt(var + eps)
            x_hat = (x2d - mean) * inv

            def grad(*args, upstream=None):
                dy = args[0] if upstream is None else upstream  # tensorflow/jax: grad(dy); torch: upstream=
                dbeta = reduce(dy)
                dgamma = reduce(dy * x_hat)
                inner = dy if moving is not None else dy - dbeta / m - x_hat * (dgamma / divisor)
                return gamma * inv * inner, dgamma, dbeta

            return x_hat * gamma + beta, grad

        return normalize(x2d, gamma, beta)

    def _training_output(self, x2d, gamma, beta):
        mean, var = self._stats(x2d)
        self._update(ops.stop_gradient(mean), ops.stop_gradient(var), x2d.shape[0])
        return self._closed_form(x2d, gamma, beta)

    def _affine(self, x2d, mean, var, gamma, beta):
        """Inference only (training goes through ``_training_output``)."""
        return self._closed_form(x2d, gamma, beta, moving=(mean, var))


HONEST = ("VariantBatchNormalization", "SequentialSums", "ChanBlocked", "Float64Accumulation", "Welford",
          "FoldedAffine", "ExplicitBackward")


# -- planted bugs -----------------------------------------------------------------------------------


class FixedEps1e5(VariantBatchNormalization):
    """Bug: epsilon 1e-5 (PyTorch's default) whatever the constructor was given -- and 1e-3 (Keras's)
    when it was given 1e-5, so that the epsilon is wrong in every case drawn."""

    def _eps(self):
        return 1e-3 if self.epsilon == 1e-5 else 1e-5


class UnbiasedNormalization(VariantBatchNormalization):
    """Bug: normalizes with the unbiased variance, sum((x - mean)^2) / (m - 1)."""

    def _normalizing_variance(self, var, m):
        return var * (m / (m - 1))


class MomentumOffByOnePercent(VariantBatchNormalization):
    """Bug: the moving statistics weigh the new batch by 1.01 (1 - momentum) (the old by the rest)."""

    def _weight(self):
        return super()._weight() * 1.01


class UnbiasedMovingVariance(VariantBatchNormalization):
    """Bug: the moving variance moves toward the unbiased batch variance, var * m / (m - 1)
    (PyTorch's convention, not Keras's)."""

    def _moving_variance(self, var, m):
        return var * (m / (m - 1))


class BackwardDividesByMMinus1(ExplicitBackward):
    """Bug: the backward pass divides sum(dy x_hat) by m - 1 instead of m."""

    divisor_offset = -1


class InputsRoundedToTF32(VariantBatchNormalization):
    """Bug: float32 inputs rounded to TF32 (11 significant bits) before anything else, as a tensor-core
    path does (gradients pass straight through; half precision is unchanged: float16's and bfloat16's
    significands fit in TF32's)."""

    def call(self, x, training=False):
        if dtype_of(x) == "float32":
            x = x + ops.stop_gradient(round_tf32(x) - x)
        return super().call(x, training=training)


class HalfPrecisionAccumulation(VariantBatchNormalization):
    """Bug: for float16 and bfloat16 inputs the statistics' sums run row by row in the half dtype (each
    term stored in it, the running sum rounded to it after every addition), where Keras's own layer and
    ``ops.mean`` accumulate in float32; everything else is the baseline's (half precision computed in
    float32), so the sums are the only difference. float32 and float64 are summed honestly. At
    production size the rows run in ``streams_of(m)`` interleaved half-precision sums, added last."""

    def call(self, x, training=False):
        self._input_dtype = dtype_of(x)
        return super().call(x, training=training)

    def _sum(self, a):
        if self._input_dtype not in HALF:
            return super()._sum(a)
        s = streams_of(a.shape[0])
        half, tail = interleaved(ops.cast(a, self._input_dtype), s)
        acc = ops.zeros_like(half[0])
        for k in range(half.shape[0]):
            acc = acc + half[k]
        acc = _with_first(acc, acc[:tail.shape[0]] + tail)  # the remainder rows
        total = acc[0]
        for j in range(1, s):
            total = total + acc[j]
        return ops.cast(total, dtype_of(a))


class ChanWithoutBetweenBlockTerm(ChanBlocked):
    """Bug: blocks of 256 merged without the between-block term delta^2 n_a n_b / n."""

    between = False


class MovingStatsThroughFloat16(VariantBatchNormalization):
    """Bug: the moving statistics are stored through float16 (a half-precision buffer)."""

    def _store(self, mean, var):
        super()._store(ops.cast(mean, "float16"), ops.cast(var, "float16"))


PLANTED = ("FixedEps1e5", "UnbiasedNormalization", "MomentumOffByOnePercent", "UnbiasedMovingVariance",
           "BackwardDividesByMMinus1", "InputsRoundedToTF32", "HalfPrecisionAccumulation",
           "ChanWithoutBetweenBlockTerm", "MovingStatsThroughFloat16")
