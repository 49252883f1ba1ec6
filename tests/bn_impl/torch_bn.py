"""A hand-written copy of ``torch.nn.BatchNorm2d`` (from its documentation, not its source), and
copies of it with one planted bug each, to show that ``--bn-impl`` accepts the right layer and
rejects each wrong one.
"""

from __future__ import annotations

import torch


class BatchNormState(torch.nn.Module):
    """What a drop-in for ``torch.nn.BatchNorm2d`` holds: ``weight`` (ones), ``bias`` (zeros),
    ``running_mean`` (zeros), ``running_var`` (ones), ``num_batches_tracked``, eps and momentum."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = torch.nn.Parameter(torch.ones(num_features))
        self.bias = torch.nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))


class HandBatchNorm2d(BatchNormState):
    """y = (x - mean) / sqrt(var + eps) * weight + bias over (N, C) or (N, C, H, W) inputs.

    Training normalizes with the batch mean and biased variance and updates
    running = (1 - momentum) * running + momentum * batch, with the unbiased batch variance;
    momentum=None is the cumulative average. Evaluation normalizes with the running statistics.
    """

    invert_momentum = False
    biased_running_var = False
    eps_outside_sqrt = False
    update_in_eval = False
    count_eval_calls = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = [0, *range(2, x.dim())]
        shape = [1, self.num_features] + [1] * (x.dim() - 2)
        m = x.numel() // self.num_features
        if self.training:
            if m < 2:
                raise ValueError(f"Expected more than 1 value per channel when training, got {m}")
            mean = x.mean(dims)
            var = self._variance(x, mean, dims, shape)
        else:
            mean, var = self.running_mean.clone(), self.running_var.clone()
            if self.count_eval_calls:
                self.num_batches_tracked += 1
        if self.training or self.update_in_eval:
            self._update(x.detach(), dims, shape, m)
        denom = var.sqrt() + self.eps if self.eps_outside_sqrt else (var + self.eps).sqrt()
        return (x - mean.view(shape)) / denom.view(shape) * self.weight.view(shape) + self.bias.view(shape)

    @staticmethod
    def _variance(x: torch.Tensor, mean: torch.Tensor, dims, shape) -> torch.Tensor:
        """The biased batch variance, in two passes: mean((x - mean)^2)."""
        return ((x - mean.view(shape)) ** 2).mean(dims)

    @torch.no_grad()
    def _update(self, x, dims, shape, m) -> None:
        batch_mean = x.mean(dims)
        batch_var = self._variance(x, batch_mean, dims, shape) * (m / (m if self.biased_running_var else m - 1))
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


class HalfOnePassVariance(HandBatchNorm2d):
    """Bug in half precision only: a "fast path" for float16 and bfloat16 takes the batch variance in
    one pass, E[x^2] - E[x]^2, with E[x^2] rounded to the input's dtype, which loses about
    (mean / std)^2 u of it to cancellation; float32 and float64 keep the two-pass variance."""

    @staticmethod
    def _variance(x: torch.Tensor, mean: torch.Tensor, dims, shape) -> torch.Tensor:
        if x.dtype not in (torch.float16, torch.bfloat16):
            return HandBatchNorm2d._variance(x, mean, dims, shape)
        return (x * x).mean(dims) - mean * mean


class WrongDefaultMomentum(HandBatchNorm2d):
    """Bug: a default momentum of 0.01, Keras's 0.99 carried over as 1 - 0.99 (PyTorch's is 0.1)."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.01):
        super().__init__(num_features, eps=eps, momentum=momentum)


class CountsEvalCalls(HandBatchNorm2d):
    """Bug: eval() calls count in num_batches_tracked, so momentum=None averages over every call
    instead of over the training calls (the running statistics themselves stay put in eval)."""

    count_eval_calls = True


class RefusesHalf(HandBatchNorm2d):
    """Not a bug: a layer that supports float32 and float64 only, and says so when called in half
    precision (those dtypes are skipped with its message)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype in (torch.float16, torch.bfloat16):
            raise TypeError(f"RefusesHalf supports float32 and float64 only, got {x.dtype}")
        return super().forward(x)


class NotABatchNorm:
    """Lacks the drop-in shape: no eps/momentum keywords, no running statistics."""

    def __init__(self, num_features: int):
        self.num_features = num_features


class RaisesOnSevenRows(HandBatchNorm2d):
    """A layer whose kernel refuses one valid configuration (a batch of 7 rows), as oneDNN refused a
    float16 pooling descriptor under ``ONEDNN_MAX_CPU_ISA=AVX2``: a framework error, not a skip."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] == 7:
            raise RuntimeError("could not create a primitive descriptor for a batch of 7 rows")
        return super().forward(x)
