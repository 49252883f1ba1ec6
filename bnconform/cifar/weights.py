"""Initial weights, generated once in NumPy, and their layout in each framework.

Canonical layout (Keras, NHWC): conv kernel ``(3, 3, C_in, C_out)`` (HWIO), dense kernel
``(in, out)`` whose rows follow the NHWC flatten order ``(h, w, c)``, BN as gamma, beta, moving mean,
moving variance. Kernels are Glorot-uniform (Keras' default), biases zero, BN gamma 1, beta 0, mean 0,
variance 1; all float32.

Each conv/dense layer draws from its own stream (``order.stream(seed, "weights", k)``, ``k`` = its
index among conv/dense layers), so the network without BN gets exactly the same conv and dense weights as the
one with BN: the two are a paired comparison.

PyTorch is NCHW: conv kernels become OIHW and, after ``Flatten``, features come in ``(c, h, w)``
order, so the first dense kernel's rows (and any BN vectors between Flatten and that dense) are
permuted with :func:`flatten_permutation`. Without this permutation the networks compute different
functions (``tests/cifar/test_parity.py`` checks both).
"""

from __future__ import annotations

import numpy as np

from .archs import INPUT_SHAPE, shapes
from .order import stream


def glorot_uniform(rng: np.random.Generator, shape, fan_in: int, fan_out: int) -> np.ndarray:
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(np.float32)


def initial_weights(spec, seed: int, input_shape=INPUT_SHAPE) -> list[dict]:
    """One dict per parametrized layer of ``spec``, canonical layout."""
    weights, k = [], 0
    for layer, shape in zip(spec, shapes(spec, input_shape)):
        if layer.kind == "bn":
            n = shape[-1]
            weights.append({"gamma": np.ones(n, np.float32), "beta": np.zeros(n, np.float32),
                            "mean": np.zeros(n, np.float32), "var": np.ones(n, np.float32)})
        elif layer.kind in ("conv", "dense"):
            rng = stream(seed, "weights", k)
            k += 1
            if layer.kind == "conv":
                c_in = shape[-1]
                kernel = glorot_uniform(rng, (3, 3, c_in, layer.units), 9 * c_in, 9 * layer.units)
            else:
                kernel = glorot_uniform(rng, (shape[0], layer.units), shape[0], layer.units)
            bias = {"bias": np.zeros(layer.units, np.float32)} if layer.bias else {}
            weights.append({"kernel": kernel, **bias})
    return weights


def flatten_permutation(h: int, w: int, c: int) -> np.ndarray:
    """``perm`` with ``x_nchw.reshape(n, -1) == x_nhwc.reshape(n, -1)[:, perm]``."""
    return np.arange(h * w * c).reshape(h, w, c).transpose(2, 0, 1).ravel()


def to_channels_first(spec, weights: list[dict], permute_flatten: bool = True) -> list[dict]:
    """The same weights for an NCHW network (PyTorch layout: OIHW kernels, (out, in) dense).

    ``permute_flatten=False`` skips the flatten permutation: only for the test that shows it matters.
    """
    out, params = [], iter(weights)
    perm = None
    for layer, shape in zip(spec, shapes(spec)):
        if layer.kind == "flatten" and permute_flatten:
            perm = flatten_permutation(*shape)
        if layer.kind not in ("bn", "conv", "dense"):
            continue
        p = next(params)
        if layer.kind == "conv":
            out.append({"kernel": np.ascontiguousarray(p["kernel"].transpose(3, 2, 0, 1)),
                        "bias": p["bias"]})
        elif layer.kind == "dense":
            kernel = p["kernel"] if perm is None else p["kernel"][perm]
            out.append({"kernel": np.ascontiguousarray(kernel.T), "bias": p["bias"]})
            perm = None  # features are in natural order after the first dense
        else:
            out.append({k: (v if perm is None else v[perm]) for k, v in p.items()})
    return out
