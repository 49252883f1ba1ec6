"""A planted bug for ``python -m pytest -p tests.models.planted_flax_use_scale``: Flax linen's
BatchNorm with ``use_scale=False`` normalizes with ``rsqrt(var)``, the epsilon dropped, as a separate
code path for an option can forget what the main one does (``use_scale=True`` stays right). Made by
wrapping the real ``flax.linen.normalization._normalize``, which ``BatchNorm.__call__`` looks up at
each call (before anything is traced: the adapter's jitted steps see the wrapper)."""

from __future__ import annotations

import functools


def pytest_configure(config):
    from flax.linen import normalization

    real = normalization._normalize

    @functools.wraps(real)
    def _normalize(mdl, x, mean, var, reduction_axes, feature_axes, dtype, param_dtype, epsilon, use_bias,
                   use_scale, *args, **kwargs):
        return real(mdl, x, mean, var, reduction_axes, feature_axes, dtype, param_dtype,
                    epsilon if use_scale else 0.0, use_bias, use_scale, *args, **kwargs)

    normalization._normalize = _normalize
