"""Batch norm for ``--bn-impl torch:...`` on the surface issue 22 added: every rank (2 to 5) and the
options ``affine`` and ``track_running_stats``. One honest layer, computed another way than PyTorch's,
and one planted bug per new surface, each a drop-in for ``torch.nn.BatchNorm1d/2d/3d``.

:class:`SurfaceBatchNorm` (honest) views the input as (N, C, S), S the product of the spatial axes
(1 for (N, C)), and takes each statistic as a mean of per-sample means, which is the batch mean
because every sample holds S values:

    mean = (1/N) sum_n [(1/S) sum_s x[n, c, s]],   var = (1/N) sum_n [(1/S) sum_s (x[n, c, s] - mean)^2]

in float64, rounded to the input's dtype once; y = (x - mean) / sqrt(var + eps) * weight + bias, or
x_hat alone with ``affine=False`` (no weight and bias at all); with ``track_running_stats=False``
there are no running buffers and every call, train() or eval(), normalizes with the batch statistics;
the running statistics follow PyTorch's convention (momentum weighs the new batch, the unbiased
variance, momentum=None the cumulative average).

Planted, each changing one thing on one part of the surface:

- :class:`SequenceStatsOverBatchOnly`: a (N, C, L) input is normalized per (C, L) over N only (the
  mean over axis 0 alone: instance-wise statistics along the sequence);
- :class:`VolumeWrongAxes`: a (N, C, D, H, W) input reduced over (N, D, H) only, per (C, W);
- :class:`AffineFalseStillScales`: ``affine=False`` still creates weight and bias and applies them,
  initialized as PyTorch before 1.2 initialized a batch norm's weight (uniform on [0, 1)) -- y is
  not x_hat;
- :class:`UntrackedUsesBuffers`: ``track_running_stats=False`` keeps the buffers anyway and
  normalizes with them in eval() mode instead of with the batch statistics.
"""

from __future__ import annotations

import torch


class SurfaceBatchNorm(torch.nn.Module):
    """Honest (see the module's docstring)."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = torch.nn.Parameter(torch.ones(num_features))
            self.bias = torch.nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features))
            self.register_buffer("running_var", torch.ones(num_features))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def _stats(self, x3: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and biased variance per channel of (N, C, S), as means of per-sample means, in float64."""
        x = x3.double()
        mean = x.mean(2).mean(0)
        var = (x - mean[None, :, None]).square().mean(2).mean(0)
        return mean, var

    def _uses_batch(self) -> bool:
        return self.training or not self.track_running_stats

    def _update(self, mean, var, m: int) -> None:
        with torch.no_grad():
            self.num_batches_tracked += 1
            w = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
            unbiased = var * (m / (m - 1))
            self.running_mean.copy_((self.running_mean.double() * (1 - w) + mean * w).to(self.running_mean.dtype))
            self.running_var.copy_((self.running_var.double() * (1 - w) + unbiased * w).to(self.running_var.dtype))

    def _affine(self, x_hat: torch.Tensor) -> torch.Tensor:
        if self.weight is None:
            return x_hat
        return x_hat * self.weight.double()[None, :, None] + self.bias.double()[None, :, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x3 = x.reshape(x.shape[0], x.shape[1], -1)
        m = x3.shape[0] * x3.shape[2]
        if self._uses_batch():
            if self.training and m < 2:
                raise ValueError(f"Expected more than 1 value per channel when training, got {m}")
            mean, var = self._stats(x3)
            if self.training and self.track_running_stats:
                self._update(mean.detach(), var.detach(), m)
        else:
            mean, var = self.running_mean.double(), self.running_var.double()
        x_hat = (x3.double() - mean[None, :, None]) / torch.sqrt(var[None, :, None] + self.eps)
        return self._affine(x_hat).to(x.dtype).reshape(x.shape)


HONEST = ("SurfaceBatchNorm",)


# -- planted bugs -----------------------------------------------------------------------------------


class SequenceStatsOverBatchOnly(SurfaceBatchNorm):
    """Bug: a (N, C, L) input's statistics over N only, per (C, L)."""

    def _stats(self, x3):
        if self._rank != 3:
            return super()._stats(x3)
        x = x3.double()
        mean = x.mean(0)  # (C, L)
        var = (x - mean).square().mean(0)
        self._per_position = (mean, var)
        return mean.mean(1), var.mean(1)  # what the running statistics see

    def forward(self, x):
        self._rank = x.dim()
        if x.dim() != 3 or not self._uses_batch():
            return super().forward(x)
        mean, var = self._stats(x)
        if self.training and self.track_running_stats:
            self._update(mean.detach(), var.detach(), x.shape[0] * x.shape[2])
        pm, pv = self._per_position
        x_hat = (x.double() - pm) / torch.sqrt(pv + self.eps)
        return self._affine(x_hat).to(x.dtype)


class VolumeWrongAxes(SurfaceBatchNorm):
    """Bug: a (N, C, D, H, W) input reduced over (N, D, H) only: statistics per (C, W)."""

    def forward(self, x):
        if x.dim() != 5 or not self._uses_batch():
            return super().forward(x)
        xd = x.double()
        mean = xd.mean((0, 2, 3), keepdim=True)  # (1, C, 1, 1, W)
        var = (xd - mean).square().mean((0, 2, 3), keepdim=True)
        if self.training and self.track_running_stats:
            self._update(mean.mean(-1).flatten(), var.mean(-1).flatten(), x.numel() // x.shape[1])
        x_hat = ((xd - mean) / torch.sqrt(var + self.eps)).reshape(x.shape[0], x.shape[1], -1)
        return self._affine(x_hat).to(x.dtype).reshape(x.shape)


class AffineFalseStillScales(SurfaceBatchNorm):
    """Bug: ``affine=False`` still creates weight and bias, the weight initialized uniform on [0, 1) as
    PyTorch before 1.2 did, and applies them."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__(num_features, eps, momentum, True, track_running_stats)
        if not affine:
            generator = torch.Generator().manual_seed(num_features)
            with torch.no_grad():
                self.weight.copy_(torch.rand(num_features, generator=generator))


class UntrackedUsesBuffers(SurfaceBatchNorm):
    """Bug: ``track_running_stats=False`` keeps the buffers (never updated) and eval() normalizes with
    them instead of with the batch statistics."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__(num_features, eps, momentum, affine, True)
        self.track_running_stats = track_running_stats

    def _uses_batch(self):
        return self.training

    def _update(self, mean, var, m):
        if self.track_running_stats:
            super()._update(mean, var, m)


PLANTED = ("SequenceStatsOverBatchOnly", "VolumeWrongAxes", "AffineFalseStillScales", "UntrackedUsesBuffers")
