"""A planted layout bug, for ``test_coincident_shapes``: PyTorch's own ``F.conv2d`` with the bias added the
way Keras 3.15.1's ``ops.add`` adds it on TensorFlow: along the last axis whenever that axis has C_out
entries, else along the channel axis. Loaded into a pytest run with ``-p tests.strategies.planted_layout``,
it registers the target ``planted-bias-along-w``."""

from __future__ import annotations

import contextlib

from bnconform import adapters

NAME = "planted-bias-along-w"


@contextlib.contextmanager
def bias_along_last_axis_when_sizes_coincide():
    """Wrap ``torch.nn.functional.conv2d``: the convolution without bias, then the bias on axis 3 if the
    output (N, C, H, W) has W == C, else on axis 1."""
    import torch.nn.functional as F

    real = F.conv2d

    def conv2d(input, weight, bias=None, *args, **kwargs):
        y = real(input, weight, None, *args, **kwargs)
        if bias is None:
            return y
        c = bias.shape[0]
        return y + (bias.reshape(1, 1, 1, c) if y.shape[-1] == c else bias.reshape(1, c, 1, 1))

    F.conv2d = conv2d
    try:
        yield
    finally:
        F.conv2d = real


def load():
    from bnconform.adapters.torch_adapter import TorchAdapter

    class PlantedAdapter(TorchAdapter):
        def conv2d(self, case, inputs):
            with bias_along_last_axis_when_sizes_coincide():
                return super().conv2d(case, inputs)

    adapter = PlantedAdapter()
    adapter.name = NAME
    return adapter


def pytest_configure(config):
    adapters.register(adapters.AdapterInfo(name=NAME, framework="torch", module=__name__, factory="load",
                                           requires=("torch",), family=NAME, engine="torch"))
