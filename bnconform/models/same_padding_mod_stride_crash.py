"""same_padding_mod_stride_crash: where Keras 3.5.0 to 3.8.0's 'same' pooling on torch raises (a crash model).

Mechanism: :mod:`same_padding_mod_stride` (keras-team/keras#20235). When the backend's 'same'
padding is symmetric on every axis it hands torch's pooling ``padding=(p_H, p_W)``, each one the
OTHER axis's amount ``floor(((k - 1) - (L - 1) mod s) / 2)``. Torch checks the padding axis by axis,
H then W, and then the output size (``torch/_meta_registrations.py``, ``pooling_output_shape``
and ``pool2d_shape_check``; the messages of torch 2.13.0, :func:`same_padding_mod_stride.refusal`):

1. ``p < 0``: "pad must be non-negative, but got pad: ...";
2. ``p > k // 2`` (half the window, dilation 1): "pad should be at most half of effective kernel size";
3. after both axes, ``floor((L + 2 p - k) / s) + 1 < 1`` on an axis: "Output size is too small".

Keras's eager call wraps the message ("Exception encountered when calling MaxPooling2D.call()"),
keeping the type, RuntimeError. The asymmetric branch never raises (``L + total >= k``). Measured
against keras 3.8.0 on torch 2.13.0 over 4,536 cases (the module above): keras raised in 750, each
one predicted here with its message, and returned in every other.
"""

from __future__ import annotations

from .. import checks
from . import CrashPrediction, NotModelled
from .same_padding_mod_stride import KINDS, backend_padding, refusal

NAME = "same_padding_mod_stride_crash"
REPLACES = "crash"
CHECKS = (checks.POOL2D,)
PARAMS: dict = {}

EXCEPTION = "RuntimeError"


def predict(case, mode: str) -> CrashPrediction:
    """The crash this case meets (the exception's type and a pattern its message matches), or why
    the model says the call returns (``CrashPrediction.exception`` None)."""
    if case.kind not in KINDS or case.padding != "same":
        return CrashPrediction(None, None, f"{case.kind} pooling with padding {case.padding!r}: not 'same' max or avg")
    spatial = case.x_shape[1:3] if case.data_format == "channels_last" else case.x_shape[2:4]
    plan = backend_padding(spatial, case.window, case.stride)
    if plan.branch != "pool":
        return CrashPrediction(None, None, f"asymmetric 'same' padding {plan.pads}: the input is padded by "
                                           "replication (negative amounts crop) and pooled without padding")
    refused = refusal(plan, spatial, case.window, case.stride)
    where = f"torch's pooling gets padding {plan.pads} (the axes' amounts swapped) for window {case.window}"
    if refused is None:
        return CrashPrediction(None, None, f"{where}: torch accepts it")
    return CrashPrediction(EXCEPTION, refused[0], f"{where}: {refused[1]}")


def judge(example, **params):
    raise NotModelled(f"model {NAME!r} is a crash model: it explains an exception the framework raised, "
                      "not outputs it returned")
