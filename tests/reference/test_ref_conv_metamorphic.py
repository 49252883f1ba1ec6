"""2-D convolution: metamorphic relations and a second, independent construction (the Toeplitz matrix).

- translation equivariance: with 'valid' padding, cropping the input by (a, b) = (t_h s_h, t_w s_w)
  crops the output by (t_h, t_w): y(x[a:, b:])[i, j] = y(x)[i + t_h, j + t_w];
- linearity: y(alpha x1 + beta x2; w) = alpha y(x1; w) + beta y(x2; w), likewise in w; the bias adds;
- commutativity of true convolution (one channel, 'full' padding): x * k == k * x;
- the Toeplitz form: a 'full' true convolution is vec(Y) = T vec(X) with T the doubly block Toeplitz
  matrix of the kernel (blocks T_r = toeplitz of kernel row r, arranged as block Toeplitz), built here with
  scipy.linalg.toeplitz; cross-correlation is the true convolution with the flipped kernel, dilation inserts
  zeros in the kernel, padding (lo, hi) and stride s select Y_full[i s + k_eff - 1 - lo];
- the two data layouts give the same numbers.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

import gen64
import naive
from bnconform import reference as ref
import tol64


def _nchw(a, data_format):
    return a if data_format == "channels_first" else a.transpose(0, 3, 1, 2)


def _from_nchw(a, data_format):
    return a if data_format == "channels_first" else a.transpose(0, 2, 3, 1)


def _kwargs(case: gen64.ConvCase) -> dict:
    return dict(stride=case.stride, padding=case.padding, dilation=case.dilation, groups=case.groups,
                data_format=case.data_format)


# ---------------------------------------------------------------------------------------------- shifts


@st.composite
def shifted_cases(draw):
    case = draw(gen64.conv_cases(paddings=st.just("valid"), max_side=9))
    h, w = _nchw(case.x, case.data_format).shape[2:]
    k_h, k_w = case.w.shape[2:]
    shifts = []
    for size, k, s, d in ((h, k_h, case.stride[0], case.dilation[0]), (w, k_w, case.stride[1], case.dilation[1])):
        extent = d * (k - 1) + 1
        shifts.append(draw(st.integers(0, (size - extent) // s)))
    return case, tuple(shifts)


def check_translation_equivariance(case_shift) -> None:
    case, (th, tw) = case_shift
    a, b = th * case.stride[0], tw * case.stride[1]
    xc = _nchw(case.x, case.data_format)
    shifted = _from_nchw(np.ascontiguousarray(xc[:, :, a:, b:]), case.data_format)
    y = _nchw(ref.conv2d(case.x, case.w, case.b, **_kwargs(case)), case.data_format)
    y_shifted = _nchw(ref.conv2d(shifted, case.w, case.b, **_kwargs(case)), case.data_format)
    tol = tol64.conv(case.x, case.w, case.b, groups=case.groups, data_format="channels_first")
    tol64.assert_close(y_shifted, y[:, :, th:, tw:], tol, f"conv of the input cropped by ({a}, {b})")


# ------------------------------------------------------------------------------------------- linearity


@st.composite
def linear_cases(draw):
    case = draw(gen64.conv_cases(bias=False))
    rng = np.random.default_rng(draw(gen64.SEEDS))
    coeffs = draw(st.tuples(st.sampled_from([2.0, -0.5, 3.25, 1e-3]), st.sampled_from([1.0, -7.0, 0.1])))
    return case, rng.normal(0.0, 3.0, case.x.shape), rng.normal(0.0, 1.0, case.w.shape), coeffs


def check_linearity(case_extra) -> None:
    case, x2, w2, (alpha, beta) = case_extra
    kw = _kwargs(case)
    df, g = case.data_format, case.groups
    x1, w1 = case.x, case.w
    y1, y2 = ref.conv2d(x1, w1, **kw), ref.conv2d(x2, w1, **kw)
    lhs = ref.conv2d(alpha * x1 + beta * x2, w1, **kw)
    rhs = alpha * y1 + beta * y2
    tol = (tol64.conv(alpha * x1 + beta * x2, w1, groups=g, data_format=df)
           + abs(alpha) * tol64.conv(x1, w1, groups=g, data_format=df)
           + abs(beta) * tol64.conv(x2, w1, groups=g, data_format=df)
           + tol64.bound(2, np.abs(alpha * y1) + np.abs(beta * y2)))
    tol64.assert_close(lhs, rhs, tol, "conv(alpha x1 + beta x2) vs alpha conv(x1) + beta conv(x2)")

    z1, z2 = y1, ref.conv2d(x1, w2, **kw)
    lhs = ref.conv2d(x1, alpha * w1 + beta * w2, **kw)
    rhs = alpha * z1 + beta * z2
    tol = (tol64.conv(x1, alpha * w1 + beta * w2, groups=g, data_format=df)
           + abs(alpha) * tol64.conv(x1, w1, groups=g, data_format=df)
           + abs(beta) * tol64.conv(x1, w2, groups=g, data_format=df)
           + tol64.bound(2, np.abs(alpha * z1) + np.abs(beta * z2)))
    tol64.assert_close(lhs, rhs, tol, "conv(x; alpha w1 + beta w2) vs alpha conv(x; w1) + beta conv(x; w2)")

    b = np.linspace(-1.0, 2.0, case.w.shape[0])
    with_bias = ref.conv2d(x1, w1, b, **kw)
    shape = (1, -1, 1, 1) if df == "channels_first" else (1, 1, 1, -1)
    tol64.assert_close(with_bias, y1 + b.reshape(shape), tol64.conv(x1, w1, b, groups=g, data_format=df),
                       "conv(x; w, b) vs conv(x; w) + b")


# ------------------------------------------------------------------------------------------ commutative


@st.composite
def commutative_cases(draw):
    rng = np.random.default_rng(draw(gen64.SEEDS))
    x = rng.normal(0.0, 1.0, (draw(st.integers(1, 6)), draw(st.integers(1, 6))))
    k = rng.normal(0.0, 1.0, (draw(st.integers(1, 4)), draw(st.integers(1, 4))))
    return x, k


def _full_true_conv(a2d, b2d):
    """a * b with 'full' padding (every overlap), one channel, channels_first."""
    kh, kw = b2d.shape
    y = ref.true_conv2d(a2d[None, None], b2d[None, None], padding=((kh - 1, kh - 1), (kw - 1, kw - 1)),
                        data_format="channels_first")
    return y[0, 0]


def check_commutativity(xk) -> None:
    x, k = xk
    tol64.assert_close(_full_true_conv(x, k), _full_true_conv(k, x), tol64.true_conv_commuted(x, k),
                       "true_conv(x, k) vs true_conv(k, x), 'full' padding")


# ------------------------------------------------------------------------------------------- Toeplitz


def doubly_block_toeplitz(kernel: np.ndarray, h: int, w: int) -> np.ndarray:
    """T with vec(x * kernel) = T vec(x) for the 'full' true convolution of an h x w image (row-major vec).

    Block row I, block column J holds T_{I - J} when 0 <= I - J < kh, where T_r is the
    (w + kw - 1) x w Toeplitz matrix whose first column is kernel row r followed by zeros."""
    kh, kw = kernel.shape
    blocks = [scipy.linalg.toeplitz(np.r_[kernel[r], np.zeros(w - 1)], np.r_[kernel[r, 0], np.zeros(w - 1)])
              for r in range(kh)]
    rows_out, cols_out = h + kh - 1, w + kw - 1
    big = np.zeros((rows_out * cols_out, h * w))
    for bi in range(rows_out):
        for bj in range(h):
            if 0 <= bi - bj < kh:
                big[bi * cols_out:(bi + 1) * cols_out, bj * w:(bj + 1) * w] = blocks[bi - bj]
    return big


def _dilate(k2d: np.ndarray, dh: int, dw: int) -> np.ndarray:
    kh, kw = k2d.shape
    out = np.zeros((dh * (kh - 1) + 1, dw * (kw - 1) + 1))
    out[::dh, ::dw] = k2d
    return out


def conv2d_by_toeplitz(case: gen64.ConvCase) -> np.ndarray:
    """Cross-correlation = true convolution with the flipped kernel, through the Toeplitz matrix."""
    x = _nchw(case.x, case.data_format)
    n_b, c_in, h, w = x.shape
    c_out, g_size, kh, kw = case.w.shape
    (sh, sw), (dh, dw) = case.stride, case.dilation
    eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    top, bottom = naive.axis_pads(case.padding, h, kh, sh, dh, 0)
    left, right = naive.axis_pads(case.padding, w, kw, sw, dw, 1)
    oh, ow = (h + top + bottom - eh) // sh + 1, (w + left + right - ew) // sw + 1
    y = np.zeros((n_b, c_out, oh, ow))
    per_group = c_out // case.groups
    for o in range(c_out):
        g = o // per_group
        mats = [doubly_block_toeplitz(_dilate(case.w[o, c, ::-1, ::-1], dh, dw), h, w) for c in range(g_size)]
        for n in range(n_b):
            full = sum((mats[c] @ x[n, g * g_size + c].reshape(-1)).reshape(h + eh - 1, w + ew - 1)
                       for c in range(g_size))
            # Y_full[t] for t outside [0, len) is 0: embed in zeros, then pick t = i s + k_eff - 1 - lo
            framed = np.zeros((full.shape[0] + top + bottom + 2 * eh, full.shape[1] + left + right + 2 * ew))
            framed[top + eh:top + eh + full.shape[0], left + ew:left + ew + full.shape[1]] = full
            rows = np.arange(oh) * sh + eh - 1 - top + (top + eh)
            cols = np.arange(ow) * sw + ew - 1 - left + (left + ew)
            y[n, o] = framed[np.ix_(rows, cols)] + (0.0 if case.b is None else case.b[o])
    return _from_nchw(y, case.data_format)


def check_toeplitz(case: gen64.ConvCase) -> None:
    tol = tol64.conv(case.x, case.w, case.b, groups=case.groups, data_format=case.data_format)
    tol64.assert_close(ref.conv2d(case.x, case.w, case.b, **_kwargs(case)), conv2d_by_toeplitz(case), tol,
                       "conv2d vs the doubly block Toeplitz matrix")


def check_true_conv_toeplitz(case: gen64.ConvCase) -> None:
    """true_conv2d(x, w) is the Toeplitz product with w itself (not flipped): conv2d of the flipped w."""
    flipped = gen64.ConvCase(case.x, np.ascontiguousarray(case.w[:, :, ::-1, ::-1]), case.b, case.stride,
                             case.dilation, case.padding, case.groups, case.data_format)
    tol = tol64.conv(case.x, case.w, case.b, groups=case.groups, data_format=case.data_format)
    tol64.assert_close(ref.true_conv2d(case.x, case.w, case.b, **_kwargs(case)), conv2d_by_toeplitz(flipped), tol,
                       "true_conv2d vs the doubly block Toeplitz matrix of the unflipped kernel")


# ------------------------------------------------------------------------------------------- layouts


def check_layouts_agree(case: gen64.ConvCase) -> None:
    kw = _kwargs(case)
    other = "channels_first" if case.data_format == "channels_last" else "channels_last"
    x_other = (case.x.transpose(0, 3, 1, 2) if other == "channels_first" else case.x.transpose(0, 2, 3, 1))
    kw_other = dict(kw, data_format=other)
    y = _nchw(ref.conv2d(case.x, case.w, case.b, **kw), case.data_format)
    y_other = _nchw(ref.conv2d(x_other, case.w, case.b, **kw_other), other)
    tol64.assert_close(y, y_other, tol64.conv(case.x, case.w, case.b, groups=case.groups, data_format="channels_first"),
                       f"conv2d {case.data_format} vs {other}")


CASES = gen64.conv_cases()
SHIFTED_CASES = shifted_cases()
LINEAR_CASES = linear_cases()
COMMUTATIVE_CASES = commutative_cases()

@settings(deadline=None)
@given(SHIFTED_CASES)
def test_translation_equivariance(case_shift):
    check_translation_equivariance(case_shift)


@settings(deadline=None)
@given(LINEAR_CASES)
def test_linearity(case_extra):
    check_linearity(case_extra)


@given(COMMUTATIVE_CASES)
def test_true_convolution_is_commutative(xk):
    check_commutativity(xk)


@settings(deadline=None)
@given(CASES)
def test_conv2d_is_the_toeplitz_product(case):
    check_toeplitz(case)


@settings(deadline=None)
@given(CASES)
def test_true_conv2d_is_the_toeplitz_product(case):
    check_true_conv_toeplitz(case)


@given(CASES)
def test_layouts_agree(case):
    check_layouts_agree(case)
