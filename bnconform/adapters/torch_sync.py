"""``torch.nn.SyncBatchNorm`` on one replica: a single-process gloo process group (rank 0, world size
1, a ``file://`` rendezvous in a temporary directory), made once per process and left for the
process's lifetime (``torch.distributed`` allows one default group); the directory is removed when
the process exits.

What PyTorch 2.13 does there (``SyncBatchNorm.forward``, torch/nn/modules/batchnorm.py): in training
with an initialized group it needs a CUDA, XPU or PrivateUse1 tensor and raises ``ValueError`` for a
CPU one; on such a device, with ``world_size == 1``, it falls back to ``F.batch_norm`` (no
all-reduce). The refusal is found by trying one call (:func:`refusal`), and is the property's skip
reason where it holds.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import torch

_STATE: dict = {}


def process_group() -> None:
    """Initialize the default process group (gloo, one process) unless one exists."""
    import torch.distributed as dist

    if not dist.is_available():
        raise RuntimeError("torch.distributed is not available in this build of torch")
    if dist.is_initialized():
        return
    if "dir" not in _STATE:
        _STATE["dir"] = tempfile.mkdtemp(prefix="bnconform-gloo-")
        atexit.register(shutil.rmtree, _STATE["dir"], ignore_errors=True)
    directory = _STATE["dir"]
    dist.init_process_group("gloo", init_method=f"file://{os.path.join(directory, 'rendezvous')}", rank=0,
                            world_size=1)


def sync_bn(num_features: int, *, eps: float, momentum, dtype: torch.dtype) -> torch.nn.SyncBatchNorm:
    process_group()
    return torch.nn.SyncBatchNorm(num_features, eps=eps, momentum=momentum).to(dtype)


def refusal(make_tensor) -> str | None:
    """Why SyncBatchNorm refuses a training call here (``make_tensor(array)``: a tensor on the
    adapter's device), or None: a (4, 2) float32 batch, one call."""
    import numpy as np

    try:
        layer = sync_bn(2, eps=1e-5, momentum=0.1, dtype=torch.float32)
        layer.to(make_tensor(np.zeros(1)).device)
        layer.train()
        with torch.no_grad():
            layer(make_tensor(np.arange(8.0).reshape(4, 2)))
    except Exception as e:  # noqa: BLE001 - the framework's refusal is the reason
        text = " ".join(str(e).split())[:200]
        return f"torch {torch.__version__} refuses torch.nn.SyncBatchNorm here: {type(e).__name__}: {text}"
    return None
