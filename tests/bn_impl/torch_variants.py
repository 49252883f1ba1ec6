"""Batch norm for ``--bn-impl torch:...``, computed several honest ways and with one subtle planted bug
each (issue 11's matrix; every rank, 2 to 5), so that the suite's verdict on a user's layer is proven both ways through the
path a user takes: every honest variant conforms in every dtype, every planted bug fails.

Each class is a drop-in for ``torch.nn.BatchNorm2d`` built on :class:`VariantBatchNorm2d`, which
flattens the input to ``(m, C)`` (m = N*H*W values per feature) and computes

    mean = sum(x) / m,   var = sum((x - mean)^2) / m                      (training statistics)
    y    = (x - mean) / sqrt(var + eps) * weight + bias                   (Ioffe and Szegedy, Alg. 1)
    running = (1 - momentum) * running + momentum * stat,  with var * m / (m - 1) for the variance

through overridable steps: ``_sum`` (the reduction order), ``_stats`` (the variance algorithm),
``_affine`` (how y is formed), ``_update`` (the running statistics). Gradients come from autograd
through those steps unless a class says otherwise.

Honest: :class:`SequentialSums` (a running sum), :class:`ChanBlocked` (blocks of 256 merged by Chan,
Golub and LeVeque), :class:`Float64Accumulation`, :class:`Welford`, :class:`FoldedAffine`
(y = x * scale + shift), :class:`Float32Opmath` (half precision computed in float32, rounded once),
:class:`ExplicitBackward` (the closed-form backward pass, in the input's dtype).

Planted: :class:`FixedEps1e3`, :class:`UnbiasedNormalization`, :class:`MomentumOffByOnePercent`,
:class:`BiasedRunningVariance`, :class:`BackwardDividesByMMinus1`, :class:`InputsRoundedToTF32`,
:class:`HalfPrecisionAccumulation`, :class:`ChanWithoutBetweenBlockTerm`,
:class:`RunningStatsThroughFloat16`, and two vector-tail remainders that only production sizes off the
multiples of 8 reach: :class:`VectorTailStaleStatistics`, :class:`VectorTailRowsDropped`.
"""

from __future__ import annotations

import torch

from .torch_bn import BatchNormState

BLOCK = 256
HALF = (torch.float16, torch.bfloat16)


def to_2d(x: torch.Tensor) -> torch.Tensor:
    """(N, C), (N, C, L), (N, C, H, W) or (N, C, D, H, W) -> (m, C), m the product of every axis but C."""
    return x if x.dim() == 2 else x.movedim(1, -1).reshape(-1, x.shape[1])


def from_2d(y2d: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(m, C) back to the layout of ``like`` (features on axis 1)."""
    if like.dim() == 2:
        return y2d
    moved = like.movedim(1, -1).shape
    return y2d.reshape(moved).movedim(-1, 1)


def round_tf32(x: torch.Tensor) -> torch.Tensor:
    """Round float32 to nearest-even with TF32's 10-bit stored significand (kept in float32)."""
    bits = x.contiguous().view(torch.int32)
    bits = (bits + 0xFFF + ((bits >> 13) & 1)) & ~0x1FFF
    return bits.view(torch.float32)


class VariantBatchNorm2d(BatchNormState):
    """The honest baseline: pairwise sums (torch's), two-pass variance, computed in the input's dtype
    (``opmath``: float16 and bfloat16 computed in float32 and rounded once, as torch's kernels do)."""

    opmath = False

    # -- steps ---------------------------------------------------------------------------------------

    def _compute_dtype(self, dtype: torch.dtype) -> torch.dtype:
        return torch.float32 if self.opmath and dtype in HALF else dtype

    def _sum(self, a: torch.Tensor) -> torch.Tensor:
        """Sum over the m rows of (m, C), in torch's accumulator (float32 for half precision), not
        yet rounded to the dtype."""
        return a.sum(0, dtype=torch.float32) if a.dtype in HALF else a.sum(0)

    def _stats(self, x2d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and biased variance per column, two passes, each sum divided by m before it is
        rounded to the dtype (as ``x.mean()`` does): in float16 a sum of m squares can pass 65504
        where the variance itself is far below it (m = 144 values of spread 24 sum to 86,000), and an
        honest layer does not overflow where its inputs and its result are representable."""
        m = x2d.shape[0]
        mean = (self._sum(x2d) / m).to(x2d.dtype)
        d = x2d - mean
        return mean, (self._sum(d * d) / m).to(x2d.dtype)

    def _eps(self) -> float:
        return self.eps

    def _normalizing_variance(self, var: torch.Tensor, m: int) -> torch.Tensor:
        return var

    def _affine(self, x2d, mean, var, weight, bias) -> torch.Tensor:
        return (x2d - mean) / torch.sqrt(var + self._eps()) * weight + bias

    def _weight(self) -> float:
        self.num_batches_tracked += 1
        return 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum

    def _running_variance(self, var: torch.Tensor, m: int) -> torch.Tensor:
        return var * (m / (m - 1))

    def _store(self, mean: torch.Tensor, var: torch.Tensor) -> None:
        self.running_mean.copy_(mean)
        self.running_var.copy_(var)

    @torch.no_grad()
    def _update(self, mean: torch.Tensor, var: torch.Tensor, m: int) -> None:
        w = self._weight()
        rm, rv = self.running_mean.to(mean.dtype), self.running_var.to(var.dtype)
        self._store(rm * (1 - w) + mean * w, rv * (1 - w) + self._running_variance(var, m) * w)

    # -- the layer -----------------------------------------------------------------------------------

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ct = self._compute_dtype(x.dtype)
        x2d = to_2d(x).to(ct)
        weight, bias = self.weight.to(ct), self.bias.to(ct)
        m = x2d.shape[0]
        if self.training:
            if m < 2:
                raise ValueError(f"Expected more than 1 value per channel when training, got {m}")
            mean, var = self._stats(x2d)
            self._update(mean.detach(), var.detach(), m)
            y2d = self._affine(x2d, mean, self._normalizing_variance(var, m), weight, bias)
        else:
            y2d = self._affine(x2d, self.running_mean.to(ct), self.running_var.to(ct), weight, bias)
        return from_2d(y2d.to(x.dtype), x)


# -- honest variants --------------------------------------------------------------------------------


class SequentialSums(VariantBatchNorm2d):
    """Honest: every sum is a running sum over the rows (``torch.cumsum``'s last row)."""

    def _sum(self, a):
        return torch.cumsum(a, 0, dtype=torch.float32 if a.dtype in HALF else None)[-1]


class ChanBlocked(VariantBatchNorm2d):
    """Honest: per-block mean and M2 over blocks of 256 rows, merged by Chan, Golub and LeVeque:
    M2 = M2_a + M2_b + delta^2 n_a n_b / n, mean = mean_a + delta n_b / n."""

    between = True

    def _stats(self, x2d):
        # M2 is kept in torch's accumulator (float32 for half precision) and divided by the row count
        # before it is rounded to the dtype: a half-precision M2 would overflow where the variance is
        # representable
        acc = torch.float32 if x2d.dtype in HALF else x2d.dtype
        n, mean, m2 = 0, None, None
        for i in range(0, x2d.shape[0], BLOCK):
            blk = x2d[i:i + BLOCK]
            nb = blk.shape[0]
            mb = (blk.sum(0, dtype=acc) / nb).to(x2d.dtype)
            m2b = ((blk - mb) ** 2).sum(0, dtype=acc)
            if mean is None:
                n, mean, m2 = nb, mb, m2b
                continue
            total = n + nb
            delta = mb - mean
            m2 = m2 + m2b + (delta.to(acc) * delta.to(acc) * (n * nb / total) if self.between else 0)
            mean = mean + delta * (nb / total)
            n = total
        return mean, (m2 / n).to(x2d.dtype)


class Float64Accumulation(VariantBatchNorm2d):
    """Honest: statistics in float64, rounded to the input's dtype once."""

    def _stats(self, x2d):
        mean, var = VariantBatchNorm2d._stats(self, x2d.double())
        return mean.to(x2d.dtype), var.to(x2d.dtype)


class Welford(VariantBatchNorm2d):
    """Honest: Welford's one-pass update, row by row: delta = x - mean, mean += delta / k,
    M2 += delta (x - mean); half precision in float32 (``opmath``): in the half dtype the running
    mean is a half-precision accumulation, the planted bug below, and fails.

    The values are Welford's; the gradient is the two-pass statistics' (the same function of x):
    autograd through a 16,384-step loop takes minutes."""

    opmath = True

    def _stats(self, x2d):
        with torch.no_grad():
            mean = torch.zeros_like(x2d[0])
            m2 = torch.zeros_like(x2d[0])
            for k in range(x2d.shape[0]):
                row = x2d[k]
                delta = row - mean
                mean = mean + delta / (k + 1)
                m2 = m2 + delta * (row - mean)
            var = m2 / x2d.shape[0]
        if not x2d.requires_grad:
            return mean, var
        mean_g, var_g = VariantBatchNorm2d._stats(self, x2d)
        return mean_g + (mean - mean_g).detach(), var_g + (var - var_g).detach()


class FoldedAffine(VariantBatchNorm2d):
    """Honest: y = x * scale + shift with scale = weight / sqrt(var + eps), shift = bias - mean * scale;
    half precision in float32 (``opmath``, as Keras folds it): in float16, autograd's rsqrt'(v) =
    -v^(-3/2) / 2 overflows for a small variance and dx is NaN, which the suite rightly reports."""

    opmath = True

    def _affine(self, x2d, mean, var, weight, bias):
        scale = weight * torch.rsqrt(var + self._eps())
        return x2d * scale + (bias - mean * scale)


class Float32Opmath(VariantBatchNorm2d):
    """Honest: float16 and bfloat16 computed in float32 and rounded once (what torch's own kernels do)."""

    opmath = True


class _ClosedFormBackward(torch.autograd.Function):
    """y = x_hat * weight + bias with the closed-form gradient (Ioffe and Szegedy, section 3):
    dx = weight / sigma * (dy - mean(dy) - x_hat * sum(dy x_hat) / divisor)."""

    @staticmethod
    def forward(ctx, x2d, weight, bias, eps, divisor_offset):
        m = x2d.shape[0]
        acc = torch.float32 if x2d.dtype in HALF else x2d.dtype  # as VariantBatchNorm2d._stats: no overflow
        mean = (x2d.sum(0, dtype=acc) / m).to(x2d.dtype)
        d = x2d - mean
        var = ((d * d).sum(0, dtype=acc) / m).to(x2d.dtype)
        inv = torch.rsqrt(var + eps)
        x_hat = d * inv
        ctx.save_for_backward(x_hat, inv, weight)
        ctx.divisor = m + divisor_offset
        return x_hat * weight + bias, mean, var

    @staticmethod
    def backward(ctx, dy, _dmean, _dvar):
        x_hat, inv, weight = ctx.saved_tensors
        m = x_hat.shape[0]
        dbeta = dy.sum(0)
        dgamma = (dy * x_hat).sum(0)
        dx = weight * inv * (dy - dbeta / m - x_hat * (dgamma / ctx.divisor))
        return dx, dgamma, dbeta, None, None


class ExplicitBackward(VariantBatchNorm2d):
    """Honest: the training forward with the closed-form backward pass (not autograd), in the input's dtype."""

    divisor_offset = 0

    def forward(self, x):
        if not self.training:
            return super().forward(x)
        x2d = to_2d(x)
        if x2d.shape[0] < 2:
            raise ValueError(f"Expected more than 1 value per channel when training, got {x2d.shape[0]}")
        y2d, mean, var = _ClosedFormBackward.apply(x2d, self.weight, self.bias, self.eps, self.divisor_offset)
        self._update(mean.detach(), var.detach(), x2d.shape[0])
        return from_2d(y2d, x)


HONEST = ("VariantBatchNorm2d", "SequentialSums", "ChanBlocked", "Float64Accumulation", "Welford", "FoldedAffine",
          "Float32Opmath", "ExplicitBackward")


# -- planted bugs -----------------------------------------------------------------------------------


class FixedEps1e3(VariantBatchNorm2d):
    """Bug: eps 1e-3 (Keras's default) whatever the constructor was given."""

    def _eps(self):
        return 1e-3


class UnbiasedNormalization(VariantBatchNorm2d):
    """Bug: normalizes with the unbiased variance, sum((x - mean)^2) / (m - 1)."""

    def _normalizing_variance(self, var, m):
        return var * (m / (m - 1))


class MomentumOffByOnePercent(VariantBatchNorm2d):
    """Bug: the running statistics weigh the new batch by 1.01 momentum."""

    def _weight(self):
        return super()._weight() * 1.01


class BiasedRunningVariance(VariantBatchNorm2d):
    """Bug: the running variance moves toward the biased batch variance (no m / (m - 1))."""

    def _running_variance(self, var, m):
        return var


class BackwardDividesByMMinus1(ExplicitBackward):
    """Bug: the backward pass divides sum(dy x_hat) by m - 1 instead of m."""

    divisor_offset = -1


class InputsRoundedToTF32(VariantBatchNorm2d):
    """Bug: float32 inputs rounded to TF32 (10-bit significand) before anything else, as a tensor-core
    path does (half precision is unchanged: its significand fits in TF32's)."""

    def forward(self, x):
        return super().forward(round_tf32(x) if x.dtype == torch.float32 else x)


class HalfPrecisionAccumulation(VariantBatchNorm2d):
    """Bug: float16 and bfloat16 statistics summed row by row in the half dtype (torch accumulates
    them in float32); float32 and float64 are summed honestly."""

    def _sum(self, a):
        if a.dtype not in HALF:
            return a.sum(0)
        acc = torch.zeros_like(a[0])
        for row in a:
            acc = acc + row
        return acc


class ChanWithoutBetweenBlockTerm(ChanBlocked):
    """Bug: blocks of 256 merged without the between-block term delta^2 n_a n_b / n."""

    between = False


class RunningStatsThroughFloat16(VariantBatchNorm2d):
    """Bug: the running statistics are stored through float16 (a half-precision buffer)."""

    def _store(self, mean, var):
        super()._store(mean.to(torch.float16), var.to(torch.float16))


#: the vector width of the two vector-tail bugs below (a size off the multiples of 8 is off those of
#: 16 and 32 too: a kernel of 16 or 32 lanes has a remainder wherever one of 8 lanes has)
VECTOR = 8


class VectorTailStaleStatistics(VariantBatchNorm2d):
    """Bug (vector-tail remainder, channels): a training kernel vectorized 8 channels at a time, taken
    for C >= 8 (narrower layers take a scalar loop), whose remainder loop normalizes the last C % 8
    channels with the running statistics (stale registers) instead of the batch's. Right for every C
    that is a multiple of 8 (the fixed production case had C = 32) and for every C < 8 (the small
    drawn cases); the moving statistics are right."""

    def _affine(self, x2d, mean, var, weight, bias):
        c = x2d.shape[1]
        tail = c % VECTOR
        if self.training and c >= VECTOR and tail:
            mean = torch.cat([mean[:-tail], self.running_mean[-tail:].to(mean.dtype)])
            var = torch.cat([var[:-tail], self.running_var[-tail:].to(var.dtype)])
        return super()._affine(x2d, mean, var, weight, bias)


class VectorTailRowsDropped(VariantBatchNorm2d):
    """Bug (vector-tail remainder, reduction): sums over m >= 1,024 rows (the long-reduction kernel;
    shorter ones are summed whole) taken 8 rows at a time with no remainder loop: the last m % 8 rows
    are left out of every sum, which is still divided by m. Right for every m that is a multiple of 8
    (the fixed production case had m = 16,384) and for every small drawn case."""

    def _sum(self, a):
        m = a.shape[0]
        if m >= 1024 and m % VECTOR:
            a = a[:m - m % VECTOR]
        return super()._sum(a)


PLANTED = ("FixedEps1e3", "UnbiasedNormalization", "MomentumOffByOnePercent", "BiasedRunningVariance",
           "BackwardDividesByMMinus1", "InputsRoundedToTF32", "HalfPrecisionAccumulation",
           "ChanWithoutBetweenBlockTerm", "RunningStatsThroughFloat16", "VectorTailStaleStatistics",
           "VectorTailRowsDropped")
