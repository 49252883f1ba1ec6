"""2-D convolution: the vectorized reference agrees with the naive loops of ``naive.py``.

Cross-correlation (what ``Conv2D`` / ``F.conv2d`` compute), OIHW kernel, groups of G = C_in / groups:
    y[n, o, i, j] = b[o] + sum_{c < G, p, q} w[o, c, p, q] x_pad[n, g G + c, i s_h + p d_h, j s_w + q d_w]
and true convolution y[t] = sum_p w[p] x[t - p d] (the input walked backwards), over strides 1-3,
dilations 1-2, groups 1-3, padding 'valid', 'same' (TensorFlow's split, odd pixel at the end), an int,
(ph, pw) and ((top, bottom), (left, right)), both data layouts, with and without bias.
Tolerance: ``tol64.conv`` (a dot product of G kh kw terms).
"""

from __future__ import annotations

from hypothesis import given, settings

import gen64
import naive
from bnconform import reference as ref
import tol64


def _kwargs(case: gen64.ConvCase) -> dict:
    return dict(stride=case.stride, padding=case.padding, dilation=case.dilation, groups=case.groups,
                data_format=case.data_format)


def check_conv2d(case: gen64.ConvCase) -> None:
    y = ref.conv2d(case.x, case.w, case.b, **_kwargs(case))
    expected = naive.conv2d(case.x, case.w, case.b, **_kwargs(case))
    tol = tol64.conv(case.x, case.w, case.b, groups=case.groups, data_format=case.data_format)
    tol64.assert_close(y, expected, tol, "conv2d (cross-correlation)")


def check_true_conv2d(case: gen64.ConvCase) -> None:
    y = ref.true_conv2d(case.x, case.w, case.b, **_kwargs(case))
    expected = naive.conv2d(case.x, case.w, case.b, **_kwargs(case), true_convolution=True)
    tol = tol64.conv(case.x, case.w, case.b, groups=case.groups, data_format=case.data_format)
    tol64.assert_close(y, expected, tol, "true_conv2d")


CASES = gen64.conv_cases()

@settings(deadline=None)
@given(CASES)
def test_conv2d_matches_naive(case):
    check_conv2d(case)


@settings(deadline=None)
@given(CASES)
def test_true_conv2d_matches_naive(case):
    check_true_conv2d(case)
