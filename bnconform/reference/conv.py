"""2-D convolution as frameworks compute it (cross-correlation) and as the textbook defines it.

Cross-correlation, with the kernel w in OIHW layout (C_out, C_in / groups, kh, kw), stride s,
dilation d, zero padding, and g the group of output channel o (G = C_in / groups channels each):

    y[n, o, i, j] = b[o] + sum_{c < G} sum_{p < kh} sum_{q < kw}
                    w[o, c, p, q] * x_pad[n, g*G + c, i*s_h + p*d_h, j*s_w + q*d_w]

True convolution flips the kernel in both spatial axes first, w'[o, c, p, q] = w[o, c, kh-1-p, kw-1-q];
it is commutative and is the form the theory (Toeplitz matrices, translation equivariance) speaks of.
"""

from __future__ import annotations

import numpy as np

from . import _checks, windows


def conv2d(
    x,
    w,
    b=None,
    *,
    stride=1,
    padding="valid",
    dilation=1,
    groups: int = 1,
    data_format: str = "channels_last",
) -> np.ndarray:
    """Cross-correlation of ``x`` with the OIHW kernel ``w`` (what ``Conv2D`` and ``F.conv2d`` compute)."""
    x = _checks.as_float64("x", x)
    w = _checks.as_float64("w", w)
    _checks.rank("x", x, 4)
    _checks.rank("w", w, 4)
    xc = windows.to_nchw(x, data_format)
    n, c_in, h, wd = xc.shape
    c_out, c_per_group, kh, kw = w.shape
    if kh < 1 or kw < 1:
        raise ValueError(f"w: the kernel's spatial size must be at least 1x1, got kernel shape {w.shape}")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"groups: expected a positive int, got {groups!r}")
    if c_in % groups or c_out % groups:
        raise ValueError(f"groups: {groups} must divide both C_in={c_in} and C_out={c_out}")
    if c_per_group != c_in // groups:
        raise ValueError(
            f"w: expected {c_in // groups} input channels per group (C_in={c_in}, groups={groups}), "
            f"got kernel shape {w.shape}"
        )
    if b is not None:
        b = _checks.as_float64("b", b)
        if b.shape != (c_out,):
            raise ValueError(f"b: expected shape ({c_out},), got {b.shape}")
    plans = windows.plan((h, wd), (kh, kw), stride, dilation, padding)
    win = windows.extract(xc, (kh, kw), stride, dilation, plans).values  # (N, C_in, OH, OW, kh, kw)
    oh, ow = win.shape[2:4]
    win = win.reshape(n, groups, c_per_group, oh, ow, kh, kw)
    wg = w.reshape(groups, c_out // groups, c_per_group, kh, kw)
    y = np.einsum("ngcijpq,gocpq->ngoij", win, wg, optimize=True).reshape(n, c_out, oh, ow)
    if b is not None:
        y = y + b.reshape(1, c_out, 1, 1)
    return windows.from_nchw(y, data_format)


def flip_kernel(w) -> np.ndarray:
    """The kernel rotated by 180 degrees in its two spatial axes (OIHW)."""
    w = _checks.as_float64("w", w)
    _checks.rank("w", w, 4)
    return w[:, :, ::-1, ::-1]


def true_conv2d(x, w, b=None, **kwargs) -> np.ndarray:
    """Convolution in the mathematical sense: cross-correlation with the flipped kernel."""
    return conv2d(x, flip_kernel(w), b, **kwargs)
