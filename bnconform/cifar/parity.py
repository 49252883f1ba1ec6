"""Float64 forward pass of the initial model, and a bound on any float32 implementation's error.

The parity test runs the initial model (shared NumPy weights) on the same batch in every framework and
compares the logits with this float64 forward pass on the same float32 inputs and weights. The
tolerance is derived, not chosen: it is a first-order bound on the rounding errors of a float32
implementation, with unit roundoff ``u = 2**-24`` and ``gamma(k) = k u / (1 - k u)`` (Higham,
*Accuracy and Stability of Numerical Algorithms*, ch. 3), in two steps.

1. Local errors. Each layer, fed its exact input, commits a rounding error ``delta`` on its output:

   - conv / dense, ``k`` products plus the bias: ``|delta| <= gamma(k + 1) (|W| |x| + |b|)``, for any
     order of summation, blocking or FMA (not for Winograd or FFT convolution);
   - BN in inference, ``y = (x - mean) gamma / sqrt(var + eps) + beta``, 9 roundings (add eps, sqrt,
     a reciprocal counted twice for an approximate rsqrt, times gamma, the shift's product and
     difference, times x, the final add): ``|delta| <= gamma(9) (|x s| + |mean s| + |beta|)``;
   - BN in training mode (batch statistics over ``m`` values, only as the first layer, whose input is
     exact): the errors of the mean (``gamma(m + 1) mean|x|``) and of the variance (the larger of
     the two-pass and the one-pass ``E[x^2] - E[x]^2`` bounds) moving ``(x - mean) / sigma``, plus the
     9 roundings above;
   - ReLU, max pooling, flatten and dropout in inference add no rounding.

2. Propagation. To first order the logits move by ``sum_l J_l delta_l``, ``J_l`` the Jacobian of the
   logits with respect to layer ``l``'s output, so ``|error| <= sum_l |J_l| |delta_l|`` element-wise.
   ``J_l`` is computed exactly (float64 backward pass through the network linearized at the reference
   point: its ReLU masks and max-pool selections), so the cancellation inside the network is
   accounted for; the much cruder product of ``|W|`` over layers would exceed the logits themselves.
   A rounding error that crosses a ReLU kink or flips a max-pool selection changes that element by
   no more than its own error, which the worst-case ``gamma(k)`` terms, summed over all elements,
   cover many times over. The suite's single safety factor (:data:`bnconform.tolerance.SAFETY`)
   covers the dropped second-order terms, and ``u |logits|`` the rounding of the stored result.

The bound stays worst-case (``k u`` where typical errors grow like ``sqrt(k) u``), so real errors are
far below it; the test prints the ratio. It still fails for any real defect in the model -- a missing
flatten permutation, a transposed kernel, wrong padding or epsilon -- which moves the logits by O(1)
relative to this bound (``tests/cifar/test_parity.py`` checks both directions).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .archs import shapes

U32 = 2.0 ** -24

try:
    from bnconform.tolerance import SAFETY
except ImportError:  # pragma: no cover - the suite's machinery is part of the project
    SAFETY = 2.0


def gamma(k: int, u: float = U32) -> float:
    return k * u / (1.0 - k * u)


def conv2d(x: np.ndarray, kernel: np.ndarray, padding: str) -> np.ndarray:
    """NHWC x HWIO cross-correlation, 3x3, stride 1, float64; 'same' pads 1, 'full' pads 2."""
    pad = {"valid": 0, "same": 1, "full": 2}[padding]
    if pad:
        x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    windows = sliding_window_view(x, (3, 3), axis=(1, 2))  # N, H', W', C, 3, 3
    return np.einsum("nhwcij,ijco->nhwo", windows, kernel, optimize=True)


def conv2d_input_grad(g: np.ndarray, kernel: np.ndarray, padding: str) -> np.ndarray:
    """Gradient with respect to the input of :func:`conv2d`, for cotangents ``g`` (NHWC)."""
    flipped = kernel[::-1, ::-1].transpose(0, 1, 3, 2)  # HW, O -> I
    return conv2d(g, flipped, {"same": "same", "valid": "full"}[padding])


def maxpool2(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2x2 max pooling (floor) and the one-hot selection (first maximum) of each window."""
    n, h, w, c = x.shape
    h2, w2 = h // 2, w // 2
    windows = x[:, :2 * h2, :2 * w2].reshape(n, h2, 2, w2, 2, c).transpose(0, 1, 3, 5, 2, 4)
    flat = windows.reshape(n, h2, w2, c, 4)
    pick = np.zeros_like(flat)
    np.put_along_axis(pick, flat.argmax(axis=-1)[..., None], 1.0, axis=-1)
    return flat.max(axis=-1), pick


def maxpool2_grad(g: np.ndarray, pick: np.ndarray, in_shape) -> np.ndarray:
    """Route cotangents ``g`` (M, h2, w2, c) to the selected inputs (M, h, w, c)."""
    m = g.shape[0]
    _, h2, w2, c, _ = pick.shape
    reps = m // pick.shape[0]
    routed = np.repeat(pick, reps, axis=0) * g[..., None]  # M, h2, w2, c, 4
    routed = routed.reshape(m, h2, w2, c, 2, 2).transpose(0, 1, 4, 2, 5, 3)
    out = np.zeros((m,) + tuple(in_shape[1:]))
    out[:, :2 * h2, :2 * w2] = routed.reshape(m, 2 * h2, 2 * w2, c)
    return out


def _bn_inference(x, p, eps):
    mean, var = p["mean"].astype(np.float64), p["var"].astype(np.float64)
    gamma_, beta = p["gamma"].astype(np.float64), p["beta"].astype(np.float64)
    s = gamma_ / np.sqrt(var + eps)
    y = (x - mean) * s + beta
    delta = gamma(9) * (np.abs(x * s) + np.abs(mean * s) + np.abs(beta))
    return y, delta, s


def _bn_training_first(x, p, eps):
    """BN with batch statistics on an exact input: output and local error bound."""
    gamma_, beta = p["gamma"].astype(np.float64), p["beta"].astype(np.float64)
    axes = tuple(range(x.ndim - 1))
    m = int(np.prod([x.shape[a] for a in axes]))
    mean = x.mean(axis=axes)
    d = x - mean
    var = (d * d).mean(axis=axes)
    e_mean = gamma(m + 1) * np.abs(x).mean(axis=axes)
    e_d = e_mean + U32 * np.abs(d)  # error of each computed x - mean
    two_pass = (e_d * (2 * np.abs(d) + e_d)).mean(axis=axes) + gamma(m + 1) * var
    one_pass = (gamma(m + 1) * (x * x).mean(axis=axes) + e_mean * (2 * np.abs(mean) + e_mean)
                + 2 * U32 * (mean * mean + var))
    e_var = np.maximum(two_pass, one_pass)
    s = gamma_ / np.sqrt(var + eps)
    e_s = np.abs(gamma_) * e_var / (2.0 * (var + eps) ** 1.5)  # first order of 1/sqrt
    y = d * s + beta
    delta = (np.abs(s) * e_mean + np.abs(d) * e_s
             + gamma(9) * (np.abs(x * s) + np.abs(mean * s) + np.abs(beta)))
    return y, delta


def forward_with_bound(spec, weights, x: np.ndarray, *, eps: float, training: bool = False):
    """``(logits, bound)``: float64 logits of ``x`` (float32: NHWC images, or any shape the spec's
    first layer takes, e.g. (N, 2) points) and the element-wise bound on a float32
    implementation's error. A layer without bias is bounded as one with a zero bias.

    ``training``: BN uses batch statistics; supported where the only BN is the first layer and there
    is no dropout (model A), so that the rest of the network stays a per-example linear map.
    """
    v = np.asarray(x, dtype=np.float64)
    n = len(v)
    tape = []  # (layer, input shape, backward info, local delta or None)
    params = iter(weights)
    for i, (layer, shape) in enumerate(zip(spec, shapes(spec, v.shape[1:]))):
        in_shape, info, delta = v.shape, None, None
        if layer.kind == "bn":
            p = next(params)
            if training:
                if i != 0 or any(lay.kind == "dropout" for lay in spec):
                    raise ValueError("training: only a first-layer BN and no dropout are supported")
                v, delta = _bn_training_first(v, p, eps)
            else:
                v, delta, info = _bn_inference(v, p, eps)
        elif layer.kind in ("conv", "dense"):
            p = next(params)
            w = p["kernel"].astype(np.float64)
            b = p["bias"].astype(np.float64) if "bias" in p else np.zeros(w.shape[-1])
            if layer.kind == "conv":
                k = 9 * shape[-1]
                v, delta = conv2d(v, w, layer.padding) + b, gamma(k + 1) * (
                    conv2d(np.abs(v), np.abs(w), layer.padding) + np.abs(b))
            else:
                k = shape[0]
                v, delta = v @ w + b, gamma(k + 1) * (np.abs(v) @ np.abs(w) + np.abs(b))
            info = w
        elif layer.kind == "pool":
            v, info = maxpool2(v)
        elif layer.kind == "flatten":
            v = v.reshape(n, -1)
        mask = None
        if layer.relu:
            mask = v > 0
            v = np.where(mask, v, 0.0)
        tape.append((layer, in_shape, info, delta, mask))

    # Backward: cotangents for every logit, shape (n * 10, ...) with row n*10 + j for logit j.
    classes = v.shape[1]
    g = np.tile(np.eye(classes), (n, 1))
    bound = np.zeros((n, classes))
    for layer, in_shape, info, delta, mask in reversed(tape):
        if mask is not None:
            g = g * np.repeat(mask, classes, axis=0)
        if delta is not None:
            contribution = (np.abs(g).reshape(n, classes, -1)
                            * delta.reshape(n, 1, -1)).sum(axis=2)
            bound += contribution
        if layer.kind == "conv":
            g = conv2d_input_grad(g, info, layer.padding)
        elif layer.kind == "dense":
            g = g @ info.T
        elif layer.kind == "pool":
            g = maxpool2_grad(g, info, (len(g),) + tuple(in_shape[1:]))
        elif layer.kind == "flatten":
            g = g.reshape((len(g),) + tuple(in_shape[1:]))
        elif layer.kind == "bn":
            if info is None:  # training-mode BN is the first layer: nothing upstream to reach
                break
            g = g * info
    return v, SAFETY * (bound + U32 * np.abs(v))


def parity_batch(n: int, seed: int = 0) -> np.ndarray:
    """A deterministic batch of pixels ``k / 255`` (float32, NHWC); needs no data set."""
    pixels = np.random.default_rng(seed).integers(0, 256, size=(n, 32, 32, 3))
    return pixels.astype(np.float32) / np.float32(255)
