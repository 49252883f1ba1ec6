"""Bad arguments raise a ValueError whose message starts with the argument's name (docs/design.md,
"Conventions of the reference"): ``pytest.raises(ValueError, match="^name")`` for each validation the
reference makes, and for a few it should make.
"""

from __future__ import annotations

import numpy as np
import pytest

from bnconform import reference as ref

X = np.random.default_rng(0).normal(size=(4, 3))  # (N, C): feature axis -1 or 1
IMG = np.random.default_rng(1).normal(size=(2, 5, 5, 3))  # NHWC
W = np.random.default_rng(2).normal(size=(4, 3, 3, 3))  # OIHW
ONES, ZEROS = np.ones(3), np.zeros(3)
STATE = ref.MovingStats(ZEROS, ONES)


def _bn_train(**kw):
    args = dict(x=X, gamma=ONES, beta=ZEROS, eps=1e-3, axis=-1) | kw
    return lambda: ref.batch_norm_train(args.pop("x"), args.pop("gamma"), args.pop("beta"), **args)


def _bn_inference(**kw):
    a = dict(x=X, gamma=ONES, beta=ZEROS, moving_mean=ZEROS, moving_var=ONES, eps=1e-3, axis=-1) | kw
    return lambda: ref.batch_norm_inference(a["x"], a["gamma"], a["beta"], a["moving_mean"], a["moving_var"],
                                            eps=a["eps"], axis=a["axis"])


def _bn_backward(**kw):
    a = dict(dy=X, x=X, gamma=ONES, eps=1e-3, axis=-1) | kw
    return lambda: ref.batch_norm_train_backward(a["dy"], a["x"], a["gamma"], eps=a["eps"], axis=a["axis"])


def _bn_inference_backward(**kw):
    a = dict(dy=X, x=X, gamma=ONES, moving_mean=ZEROS, moving_var=ONES, eps=1e-3, axis=-1) | kw
    return lambda: ref.batch_norm_inference_backward(a["dy"], a["x"], a["gamma"], a["moving_mean"], a["moving_var"],
                                                     eps=a["eps"], axis=a["axis"])


def _update(**kw):
    a = dict(moving=STATE, x=X, momentum=0.99, axis=-1, convention="keras") | kw
    return lambda: ref.update_moving_stats(a["moving"], a["x"], momentum=a["momentum"], axis=a["axis"],
                                           convention=a["convention"])


def _conv(**kw):
    a = dict(x=IMG, w=W, b=None, stride=1, padding="valid", dilation=1, groups=1, data_format="channels_last") | kw
    x, w, b = a.pop("x"), a.pop("w"), a.pop("b")
    return lambda: ref.conv2d(x, w, b, **a)


def _pool(op, **kw):
    a = dict(x=IMG, window=2, stride=None, padding="valid", ceil_mode=False, data_format="channels_last") | kw
    x, window, stride = a.pop("x"), a.pop("window"), a.pop("stride")
    if op is ref.lp_pool2d:
        p = a.pop("p", 2.0)
        return lambda: op(x, p, window, stride, **a)
    return lambda: op(x, window, stride, **a)


BAD_ARGUMENTS = {
    # ---- batch norm, forward
    "gamma length": (_bn_train(gamma=np.ones(4)), "gamma"),
    "beta length": (_bn_train(beta=np.zeros(2)), "beta"),
    "gamma as a matrix": (_bn_train(gamma=np.ones((3, 1))), "gamma"),
    "negative eps": (_bn_train(eps=-1e-3), "eps"),
    "eps NaN": (_bn_train(eps=float("nan")), "eps"),
    "eps infinite": (_bn_train(eps=float("inf")), "eps"),
    "eps a string": (_bn_train(eps="1e-3"), "eps"),
    "eps a bool": (_bn_train(eps=True), "eps"),
    "axis a float": (_bn_train(axis=1.0), "axis"),
    "axis a bool": (_bn_train(axis=True), "axis"),
    "axis out of range": (_bn_train(axis=2), "axis"),
    "axis out of range, negative": (_bn_train(axis=-3), "axis"),
    "axis is the batch axis": (_bn_train(axis=0), "axis"),
    "axis is the batch axis, negative": (_bn_train(axis=-2), "axis"),
    "x one-dimensional": (_bn_train(x=np.ones(3)), "x"),
    "x complex": (_bn_train(x=X + 1j), "x"),
    "x strings": (_bn_train(x=np.array([["a", "b", "c"]])), "x"),
    "x empty batch": (_bn_train(x=np.zeros((0, 3))), "x"),
    "gamma complex": (_bn_train(gamma=ONES + 1j), "gamma"),
    # ---- batch norm, inference
    "moving_mean length": (_bn_inference(moving_mean=np.zeros(4)), "moving_mean"),
    "moving_var length": (_bn_inference(moving_var=np.ones(2)), "moving_var"),
    "moving_var negative": (_bn_inference(moving_var=np.array([1.0, -0.5, 1.0])), "moving_var"),
    "inference gamma length": (_bn_inference(gamma=np.ones(5)), "gamma"),
    "inference negative eps": (_bn_inference(eps=-1.0), "eps"),
    # ---- batch norm, backward
    "dy shape": (_bn_backward(dy=np.ones((5, 3))), "dy"),
    "dy transposed": (_bn_backward(dy=X.T), "dy"),
    "dy complex": (_bn_backward(dy=X + 1j), "dy"),
    "backward gamma length": (_bn_backward(gamma=np.ones(2)), "gamma"),
    "backward negative eps": (_bn_backward(eps=-1e-5), "eps"),
    "backward axis 0": (_bn_backward(axis=0), "axis"),
    "inference backward dy shape": (_bn_inference_backward(dy=np.ones((4, 2))), "dy"),
    "inference backward moving_var length": (_bn_inference_backward(moving_var=np.ones(4)), "moving_var"),
    "inference backward moving_var negative": (_bn_inference_backward(moving_var=-ONES), "moving_var"),
    "inference backward moving_mean length": (_bn_inference_backward(moving_mean=np.ones(1)), "moving_mean"),
    # ---- moving statistics
    "momentum above 1": (_update(momentum=1.5), "momentum"),
    "momentum below 0": (_update(momentum=-0.1), "momentum"),
    "momentum NaN": (_update(momentum=float("nan")), "momentum"),
    "momentum a bool": (_update(momentum=True), "momentum"),
    "momentum a string": (_update(momentum="0.9"), "momentum"),
    "momentum None in keras": (_update(momentum=None), "momentum"),
    "momentum above 1, torch": (_update(momentum=1.01, convention="torch"), "momentum"),
    "unknown convention": (_update(convention="tf"), "convention"),
    "moving mean length": (_update(moving=ref.MovingStats(np.zeros(4), ONES)), "moving_mean"),
    "moving var length": (_update(moving=ref.MovingStats(ZEROS, np.ones(2))), "moving_var"),
    "unbiased variance of one value": (_update(x=np.ones((1, 3)), convention="torch", momentum=0.1), "x"),
    "num_batches_tracked -1 with the cumulative average": (
        _update(moving=ref.MovingStats(ZEROS, ONES, -1), momentum=None, convention="torch"), "num_batches_tracked"),
    "num_batches_tracked negative": (
        _update(moving=ref.MovingStats(ZEROS, ONES, -5), momentum=None, convention="torch"), "num_batches_tracked"),
    "closed form, negative steps": (lambda: ref.closed_form(0.0, 1.0, momentum=0.9, steps=-1), "steps"),
    "closed form, float steps": (lambda: ref.closed_form(0.0, 1.0, momentum=0.9, steps=2.0), "steps"),
    "closed form, momentum": (lambda: ref.closed_form(0.0, 1.0, momentum=2.0, steps=1), "momentum"),
    "closed form, convention": (lambda: ref.closed_form(0.0, 1.0, momentum=0.5, steps=1, convention="x"),
                                "convention"),
    # ---- convolution
    "kernel channels vs groups": (_conv(w=np.ones((4, 2, 3, 3))), "w"),
    "kernel channels, groups 3": (_conv(w=np.ones((3, 3, 3, 3)), groups=3), "w"),
    "groups not dividing C_in": (_conv(w=np.ones((4, 1, 3, 3)), groups=2), "groups"),
    "groups not dividing C_out": (_conv(w=np.ones((4, 1, 3, 3)), groups=3), "groups"),
    "groups zero": (_conv(groups=0), "groups"),
    "groups a float": (_conv(groups=1.0), "groups"),
    "groups a bool": (_conv(groups=True), "groups"),
    "bias length": (_conv(b=np.zeros(3)), "b"),
    "kernel rank": (_conv(w=np.ones((4, 3, 3))), "w"),
    "input rank": (_conv(x=np.ones((5, 5, 3))), "x"),
    "kernel of size 0": (_conv(w=np.ones((4, 3, 0, 3))), "w"),
    "unknown padding": (_conv(padding="full"), "padding"),
    "negative padding": (_conv(padding=((1, -1), (0, 0))), "padding"),
    "padding of three pairs": (_conv(padding=((1, 1), (0, 0), (0, 0))), "padding"),
    "padding a float string": (_conv(padding=("a", "b")), "padding"),
    "unknown data_format": (_conv(data_format="NHWC"), "data_format"),
    "stride zero": (_conv(stride=0), "stride"),
    "stride three values": (_conv(stride=(1, 1, 1)), "stride"),
    "stride a float": (_conv(stride=1.5), "stride"),
    "dilation zero": (_conv(dilation=(1, 0)), "dilation"),
    "input smaller than the kernel": (_conv(x=np.ones((1, 2, 2, 3))), "x"),
    "true_conv2d, kernel channels": (lambda: ref.true_conv2d(IMG, np.ones((4, 2, 3, 3))), "w"),
    "flip_kernel rank": (lambda: ref.flip_kernel(np.ones((3, 3))), "w"),
    # ---- pooling
    "max pool window zero": (_pool(ref.max_pool2d, window=0), "window"),
    "avg pool window negative": (_pool(ref.avg_pool2d, window=(2, -1)), "window"),
    "lp pool window three values": (_pool(ref.lp_pool2d, window=(2, 2, 2)), "window"),
    "max pool stride zero": (_pool(ref.max_pool2d, stride=0), "stride"),
    "max pool dilation zero": (_pool(ref.max_pool2d, dilation=0), "dilation"),
    "max pool unknown padding": (_pool(ref.max_pool2d, padding="full"), "padding"),
    "avg pool padding beyond the window": (_pool(ref.avg_pool2d, padding=((0, 0), (0, 3))), "padding"),
    "max pool padding beyond the window": (_pool(ref.max_pool2d, window=1, padding=1), "padding"),
    "same padding with ceil_mode": (_pool(ref.max_pool2d, padding="same", ceil_mode=True), "ceil_mode"),
    "avg pool data_format": (_pool(ref.avg_pool2d, data_format="NCHW"), "data_format"),
    "pool input rank": (_pool(ref.max_pool2d, x=np.ones((5, 5, 3))), "x"),
    "pool input complex": (_pool(ref.avg_pool2d, x=IMG + 1j), "x"),
    "pool input smaller than the window": (_pool(ref.max_pool2d, window=6), "x"),
    "lp p zero": (_pool(ref.lp_pool2d, p=0.0), "p"),
    "lp p negative": (_pool(ref.lp_pool2d, p=-2.0), "p"),
    "lp p infinite": (_pool(ref.lp_pool2d, p=float("inf")), "p"),
    "lp p a bool": (_pool(ref.lp_pool2d, p=True), "p"),
    "global average rank": (lambda: ref.global_avg_pool2d(np.ones((5, 5, 3))), "x"),
    "global average data_format": (lambda: ref.global_avg_pool2d(IMG, data_format="nhwc"), "data_format"),
}


@pytest.mark.parametrize("call, name", BAD_ARGUMENTS.values(), ids=list(BAD_ARGUMENTS))
def test_bad_argument_raises_value_error_naming_it(call, name):
    with pytest.raises(ValueError, match=f"^{name}\\b"):
        call()


def test_the_good_arguments_of_these_calls_are_accepted():
    """The defaults used above are valid, so each ValueError above comes from the one bad argument."""
    _bn_train()()
    _bn_inference()()
    _bn_backward()()
    _bn_inference_backward()()
    _update()()
    _update(convention="torch", momentum=None)()
    _conv()()
    for op in (ref.max_pool2d, ref.avg_pool2d, ref.lp_pool2d):
        _pool(op)()
    ref.closed_form(0.0, 1.0, momentum=0.9, steps=1)
    ref.global_avg_pool2d(IMG)


@pytest.mark.parametrize(
    "args, name",
    [((5, 3, 0, 1), "stride"), ((5, 0, 1, 1), "window"), ((5, 3, 1, 0), "dilation"), ((-1, 3, 1, 1), "length"),
     ((5.0, 3, 1, 1), "length")],
)
def test_same_padding_names_its_bad_argument(args, name):
    with pytest.raises(ValueError, match=f"^{name}"):
        ref.same_padding(*args)


def test_negative_moving_variance_is_refused():
    with pytest.raises(ValueError, match="^moving_var"):
        ref.update_moving_stats(ref.MovingStats(np.zeros(2), np.array([1.0, -0.5])), np.ones((3, 2)), momentum=0.9)
