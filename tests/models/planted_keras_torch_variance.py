"""A planted bug for ``python -m pytest -p tests.models.planted_keras_torch_variance``: Keras's torch
backend returns its float32 batch variance scaled by 1.01 (a 1 % bug on the very path that the
``keras-torch-one-pass-variance`` entry covers). Made by wrapping the real
``keras.src.backend.torch.nn.moments``, which ``keras.ops.moments`` looks up at each call."""

from __future__ import annotations

import functools


def pytest_configure(config):
    import keras  # noqa: F401 - KERAS_BACKEND=torch is set by the caller
    import keras.src.backend.torch.nn as torch_nn

    real = torch_nn.moments

    @functools.wraps(real)
    def moments(x, axes, keepdims=False, synchronized=False):
        mean, variance = real(x, axes, keepdims=keepdims, synchronized=synchronized)
        if str(variance.dtype) == "torch.float32":
            variance = variance * 1.01
        return mean, variance

    torch_nn.moments = moments
