"""A planted bug for ``python -m pytest -p tests.models.planted_torch_lp_pool``: PyTorch's
``F.lp_pool2d`` returns its output scaled by 1.001 for odd p (on the path that the
``torch-lp-pool-signed`` entry covers). Made by wrapping the real ``torch.nn.functional.lp_pool2d``,
which the torch adapter looks up at each call."""

from __future__ import annotations

import functools


def pytest_configure(config):
    import torch.nn.functional as F

    real = F.lp_pool2d

    @functools.wraps(real)
    def lp_pool2d(input, norm_type, *args, **kwargs):
        out = real(input, norm_type, *args, **kwargs)
        return out * 1.001 if float(norm_type) % 2 == 1 else out

    F.lp_pool2d = lp_pool2d
