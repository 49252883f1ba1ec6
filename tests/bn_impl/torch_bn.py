"""A hand-written copy of ``torch.nn.BatchNorm2d`` (from its documentation, not its source), and
copies of it with one planted bug each, to show that ``--bn-impl`` accepts the right layer and
rejects each wrong one.
"""

from __future__ import annotations

import torch


class HandBatchNorm2d(torch.nn.Module):
    """y = (x - mean) / sqrt(var + eps) * weight + bias over (N, C) or (N, C, H, W) inputs.

    Training normalizes with the batch mean and biased variance and updates
    running = (1 - momentum) * running + momentum * batch, with the unbiased batch variance;
    momentum=None is the cumulative average. Evaluation normalizes with the running statistics.
    """

    invert_momentum = False
    biased_running_var = False
    eps_outside_sqrt = False
    update_in_eval = False

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = torch.nn.Parameter(torch.ones(num_features))
        self.bias = torch.nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = [0, *range(2, x.dim())]
        shape = [1, self.num_features] + [1] * (x.dim() - 2)
        m = x.numel() // self.num_features
        if self.training:
            if m < 2:
                raise ValueError(f"Expected more than 1 value per channel when training, got {m}")
            mean = x.mean(dims)
            var = ((x - mean.view(shape)) ** 2).mean(dims)
        else:
            mean, var = self.running_mean.clone(), self.running_var.clone()
        if self.training or self.update_in_eval:
            self._update(x.detach(), dims, shape, m)
        denom = var.sqrt() + self.eps if self.eps_outside_sqrt else (var + self.eps).sqrt()
        return (x - mean.view(shape)) / denom.view(shape) * self.weight.view(shape) + self.bias.view(shape)

    @torch.no_grad()
    def _update(self, x, dims, shape, m) -> None:
        batch_mean = x.mean(dims)
        batch_var = ((x - batch_mean.view(shape)) ** 2).sum(dims) / (m if self.biased_running_var else m - 1)
        self.num_batches_tracked += 1
        w = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        if self.invert_momentum:
            w = 1.0 - w
        self.running_mean.mul_(1.0 - w).add_(w * batch_mean)
        self.running_var.mul_(1.0 - w).add_(w * batch_var)


class InvertedMomentum(HandBatchNorm2d):
    """Bug: momentum weighs the old statistics (the Keras meaning) under PyTorch's convention."""

    invert_momentum = True


class BiasedRunningVar(HandBatchNorm2d):
    """Bug: the running variance is updated with the biased batch variance."""

    biased_running_var = True


class EpsOutsideSqrt(HandBatchNorm2d):
    """Bug: (x - mean) / (sqrt(var) + eps), as one lecture writes it."""

    eps_outside_sqrt = True


class UpdatesInEval(HandBatchNorm2d):
    """Bug: the running statistics also move in eval mode (to "follow the test data")."""

    update_in_eval = True


class NotABatchNorm:
    """Lacks the drop-in shape: no eps/momentum keywords, no running statistics."""

    def __init__(self, num_features: int):
        self.num_features = num_features
