"""masked_one_feature_crash: Keras's masked batch norm raises on one feature (a crash model).

Mechanism (keras 3.15.1, keras/src/layers/normalization/batch_normalization.py): called in
training with a mask, ``BatchNormalization.call`` takes its statistics from ``_moments(inputs,
mask)``, which sums over the reduction axes with ``keepdims=True`` -- mean and variance of shape
(1, ..., 1, C) -- and returns ``ops.squeeze(mean), ops.squeeze(variance)``: ``squeeze`` with no
axis drops EVERY size-1 axis, so for C = 1 the statistics are scalars of shape (), not (1,) (for
C >= 2 the feature axis survives: shape (C,)). ``ops.batch_normalization`` (keras/src/ops/nn.py)
then reshapes them with the backend's ``batch_normalization``:

    shape = [1] * len(x.shape);  shape[axis] = mean.shape[0]

``mean.shape[0]`` of a shape () raises ``IndexError: tuple index out of range`` (a jax array's
shape and a ``torch.Size`` are tuples). The jax and torch backends (keras/src/backend/{jax,torch}/
nn.py) always reshape; the tensorflow backend reshapes only ``if axis != -1`` (keras/src/backend/
tensorflow/nn.py), so there the crash needs the feature axis spelled non-negative
(``axis=1`` for (N, 1)); ``tf.nn.batch_normalization`` broadcasts the scalar otherwise.
Without a mask ``ops.moments`` keeps the feature axis, and a call in inference uses the moving
statistics (shape (C,)): neither raises.

Which calls train: bnconform's Keras adapters run every batch of a ``train`` example in training
and a single batch in inference otherwise (``bnconform.adapters.steps.batches``), so a case crashes
when it has a mask, ONE feature, and mode ``train`` (measured with keras 3.15.1 through the adapters:
(4, 3, 1) and (5, 1) in train raise, in inference with steps = 2 return; (4, 3, 2) returns). The
jax adapter's jitted ``stateless_call`` raises the bare message; the torch backend's eager call wraps
it ("Exception encountered when calling BatchNormalization.call(). ... tuple index out of range
..."), hence a message pattern searched for, not matched whole.

Parameter ``any_axis_spelling``: true (the jax and torch backends) -- any spelling of the axis
crashes; false (the tensorflow backend) -- only a non-negative spelling does.
"""

from __future__ import annotations

from .. import masked_checks
from . import CrashPrediction, NotModelled, Param

NAME = "masked_one_feature_crash"
REPLACES = "crash"
CHECKS = (masked_checks.BN_MASKED,)
PARAMS = {"any_axis_spelling": Param("whether the backend reshapes the statistics whatever the axis's spelling "
                                     "(jax, torch: true), or only when it is not -1 (tensorflow: false)",
                                     lambda v: isinstance(v, bool), "true or false", True)}

EXCEPTION = "IndexError"
MESSAGE = r"tuple index out of range"


def predict(case, mode: str, *, any_axis_spelling: bool) -> CrashPrediction:
    """The crash this case meets (the exception's type and a pattern its message matches), or why
    the model says the call returns (``CrashPrediction.exception`` None)."""
    if case.mask is None:
        return CrashPrediction(None, None, "no mask: ops.moments keeps the feature axis")
    features = case.shape[case.axis]
    if features != 1:
        return CrashPrediction(None, None, f"C = {features}: the squeezed statistics keep the feature axis")
    if mode != "train":
        return CrashPrediction(None, None, "mode inference: one call, with the moving statistics")
    if not (any_axis_spelling or case.axis != -1):
        return CrashPrediction(None, None, "axis spelled -1: this backend does not reshape the statistics")
    return CrashPrediction(EXCEPTION, MESSAGE,
                           f"a mask, C = 1 (shape {tuple(case.shape)}, axis {case.axis}) and a training call: "
                           "the masked moments are squeezed to shape () and mean.shape[0] raises")


def judge(example, **params):
    raise NotModelled(f"model {NAME!r} is a crash model: it explains an exception the framework raised, "
                      "not outputs it returned")
