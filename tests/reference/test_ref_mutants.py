"""Planted bugs: the proofs of the reference have teeth.

Each mutant swaps one function of ``bnconform/reference/`` (with ``monkeypatch``, undone after the test) for a
version with one classic mistake, then runs the very ``check_*`` functions that the property and
known-answer tests run, with the very strategies they use, under a small derandomized budget. The mutant
must make at least one of them fail with an AssertionError (or pytest's "DID NOT RAISE"); the checks
listed for each mutant are the ones that ought to notice it. Any other exception is a broken mutant and
errors the test.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings

from bnconform import reference
import bnconform.reference.batch_norm as rbn
import bnconform.reference.batch_norm_backward as rbb
import bnconform.reference.conv as rconv
import bnconform.reference.moving_stats as rms
import bnconform.reference.pool as rpool
import bnconform.reference.windows as rwin
import test_ref_backward_fd as fd
import test_ref_batch_norm as bn
import test_ref_bn_metamorphic as bnm
import test_ref_conv as conv
import test_ref_conv_metamorphic as convm
import test_ref_known_answers as known
import test_ref_moving_stats as ema
import test_ref_pool as pool
import test_ref_pool_metamorphic as poolm

MUTANT_RUN = settings(
    max_examples=25,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: we only need to know that it fails
    report_multiple_bugs=False,
    suppress_health_check=list(HealthCheck),
)
FAILURES = (AssertionError, pytest.fail.Exception)


def fails(check, strategy=None) -> bool:
    """Whether ``check`` fails: on some example of ``strategy``, or, with no strategy, when called."""
    if strategy is None:
        run = check
    else:
        @MUTANT_RUN
        @given(strategy)
        def run(case):
            check(case)
    try:
        run()
    except FAILURES:
        return True
    return False


def swap(monkeypatch, module, name: str, replacement) -> None:
    """Replace ``module.name``, and the package's re-export of it if there is one."""
    monkeypatch.setattr(module, name, replacement)
    if getattr(reference, name, None) is not None and module is not reference:
        monkeypatch.setattr(reference, name, replacement)


# ------------------------------------------------------------------------------------------ mutants


def keras_momentum_on_the_wrong_side(monkeypatch):
    """Keras EMA written as (1 - rho) old + rho stat."""
    original = rms.update_moving_stats

    def mutant(moving, x, *, momentum, axis=-1, convention="keras"):
        if convention == "keras" and momentum is not None:
            momentum = 1.0 - momentum
        return original(moving, x, momentum=momentum, axis=axis, convention=convention)

    swap(monkeypatch, rms, "update_moving_stats", mutant)


def eps_outside_the_sqrt(monkeypatch):
    """(x - mu) / (sqrt(var) + eps), the lecture's slip, in training and inference."""

    def mutant(x, mean, var, gamma, beta, eps, axis):
        x = np.asarray(x, dtype=np.float64)
        axis = axis % x.ndim
        c = x.shape[axis]

        def b(v):
            return rbn.broadcast(np.broadcast_to(np.asarray(v, dtype=np.float64), (c,)), x.ndim, axis)

        return b(gamma) * (x - b(mean)) / (np.sqrt(b(var)) + eps) + b(beta)

    swap(monkeypatch, rbn, "normalize", mutant)


def unbiased_variance_in_the_normalization(monkeypatch):
    """sigma_B^2 divided by m - 1 in the forward pass (the backward and the moving statistics untouched)."""
    original = rbn.batch_stats

    def mutant(x, axis=-1):
        s = original(x, axis)
        return rbn.BatchStats(s.mean, s.var * s.count / max(s.count - 1, 1), s.count)

    monkeypatch.setattr(rbn, "batch_stats", mutant)


def unflipped_kernel_in_true_convolution(monkeypatch):
    """true_conv2d that forgets to flip: plain cross-correlation."""
    swap(monkeypatch, rconv, "flip_kernel", lambda w: np.asarray(w, dtype=np.float64))


def padding_counted_in_same_average_pooling(monkeypatch):
    """'same' average pooling that divides by the whole window, padding included."""
    original = rpool.avg_pool2d

    def mutant(x, window, stride=None, *, padding="valid", ceil_mode=False, count_include_pad=False,
               data_format="channels_last"):
        if padding == "same":
            count_include_pad = True
        return original(x, window, stride, padding=padding, ceil_mode=ceil_mode,
                        count_include_pad=count_include_pad, data_format=data_format)

    swap(monkeypatch, rpool, "avg_pool2d", mutant)


# a few more classic mistakes, beyond the five of the issue


def backward_without_the_mean_dy_term(monkeypatch):
    """dx = (gamma / sigma) (dy - x_hat mean(dy x_hat)): the gradient through mu_B forgotten."""
    original = rbb.batch_norm_train_backward

    def mutant(dy, x, gamma=1.0, *, eps=1e-3, axis=-1):
        g = original(dy, x, gamma, eps=eps, axis=axis)
        x = np.asarray(x, dtype=np.float64)
        ax = axis % x.ndim
        axes = tuple(a for a in range(x.ndim) if a != ax)
        c = x.shape[ax]
        shape = [1] * x.ndim
        shape[ax] = c
        scale = np.broadcast_to(np.asarray(gamma, dtype=np.float64), (c,)) / np.sqrt(x.var(axis=axes) + eps)
        mean_dy = np.asarray(dy, dtype=np.float64).mean(axis=axes)
        return rbb.BatchNormGrads(g.dx + (scale * mean_dy).reshape(shape), g.dgamma, g.dbeta)

    swap(monkeypatch, rbb, "batch_norm_train_backward", mutant)


def max_pooling_pads_with_zeros(monkeypatch):
    """Max pooling whose padding is 0 instead of -inf."""

    def mutant(x, window, stride=None, *, padding="valid", dilation=1, ceil_mode=False,
               data_format="channels_last"):
        win = rpool._pool_windows(x, window, stride, padding, dilation, ceil_mode, data_format)
        return rwin.from_nchw(win.values.max(axis=(-2, -1)), data_format)

    swap(monkeypatch, rpool, "max_pool2d", mutant)


def torch_convention_with_the_biased_variance(monkeypatch):
    """PyTorch's running_var fed the biased batch variance."""
    monkeypatch.setattr(rms, "batch_variance_for_update", lambda var, m, convention: var)


def same_padding_odd_pixel_at_the_start(monkeypatch):
    """'same' padding with the odd pixel before the data instead of after it."""
    original = rwin.same_padding

    def mutant(length, k, s, d):
        lo, hi = original(length, k, s, d)
        return hi, lo

    swap(monkeypatch, rwin, "same_padding", mutant)


# --------------------------------------------------------------------------------------------- table

MUTANTS = {
    "keras EMA: momentum on the wrong side": (keras_momentum_on_the_wrong_side, [
        ("moving stats vs naive", ema.check_updates_match_naive, ema.CASES),
        ("moving stats closed form", ema.check_closed_form, ema.FIXED_BATCH_CASES),
        ("course: moving stats formula", known.check_course_moving_stats_formula, None),
        ("course: moving stats figures", known.check_course_moving_stats_figures, None),
    ]),
    "eps outside the square root": (eps_outside_the_sqrt, [
        ("BN forward vs naive", bn.check_train_forward, bn.CASES),
        ("BN inference vs naive", bn.check_inference_forward, bn.CASES),
        ("output mean beta and std gamma sqrt(var/(var+eps))", bnm.check_output_moments, bnm.CASES),
        ("affine invariance", bnm.check_affine_invariance, bnm.AFFINE_CASES),
        ("backward vs central differences", fd.check_train_fd, fd.CASES),
        ("hand example", known.check_bn_hand_example, None),
    ]),
    "unbiased variance in the normalization": (unbiased_variance_in_the_normalization, [
        ("BN forward vs naive", bn.check_train_forward, bn.CASES),
        ("output mean beta and std gamma sqrt(var/(var+eps))", bnm.check_output_moments, bnm.CASES),
        ("backward vs central differences", fd.check_train_fd, fd.CASES),
        ("hand example", known.check_bn_hand_example, None),
        ("SGD shrinks gamma", known.check_sgd_course_figure, None),
    ]),
    "unflipped kernel in true convolution": (unflipped_kernel_in_true_convolution, [
        ("true_conv2d vs naive", conv.check_true_conv2d, conv.CASES),
        ("true convolution is commutative", convm.check_commutativity, convm.COMMUTATIVE_CASES),
        ("true_conv2d vs Toeplitz", convm.check_true_conv_toeplitz, convm.CASES),
        ("flip hand example", known.check_flip_known_answer, None),
    ]),
    "padding counted in 'same' average pooling": (padding_counted_in_same_average_pooling, [
        ("pooling vs naive", pool.check_pool, pool.CASES),
        ("pooling a constant", poolm.check_constant, poolm.CONSTANT_CASES),
        ("min <= avg <= max", poolm.check_min_avg_max, poolm.SANDWICH_CASES),
        ("'same' hand examples", known.check_same_padding_hand_examples, None),
    ]),
    "backward without the mean(dy) term": (backward_without_the_mean_dy_term, [
        ("BN backward vs naive", bn.check_train_backward, bn.CASES),
        ("backward vs central differences", fd.check_train_fd, fd.CASES),
        ("sum of dx is 0", bnm.check_gradient_sums, bnm.CASES),
        ("backward hand example", known.check_bn_backward_hand_example, None),
    ]),
    "max pooling pads with zeros": (max_pooling_pads_with_zeros, [
        ("pooling vs naive", pool.check_pool, pool.CASES),
        ("pooling a constant", poolm.check_constant, poolm.CONSTANT_CASES),
        ("'same' hand examples", known.check_same_padding_hand_examples, None),
    ]),
    "torch EMA with the biased variance": (torch_convention_with_the_biased_variance, [
        ("moving stats vs naive", ema.check_updates_match_naive, ema.CASES),
        ("moving stats closed form", ema.check_closed_form, ema.FIXED_BATCH_CASES),
    ]),
    "'same' padding: odd pixel at the start": (same_padding_odd_pixel_at_the_start, [
        ("conv2d vs naive", conv.check_conv2d, conv.CASES),
        ("conv2d vs Toeplitz", convm.check_toeplitz, convm.CASES),
        ("pooling vs naive", pool.check_pool, pool.CASES),
        ("'same' hand examples", known.check_same_padding_hand_examples, None),
    ]),
}


@pytest.mark.parametrize("name", list(MUTANTS))
def test_mutant_is_caught(name, monkeypatch):
    install, checks = MUTANTS[name]
    install(monkeypatch)
    caught = [label for label, check, strategy in checks if fails(check, strategy)]
    assert caught, f"mutant {name!r} survived all of: {[label for label, _, _ in checks]}"


def test_the_checks_pass_on_the_real_reference():
    """The same derandomized runs, unmutated, pass: what fails above fails because of the mutant."""
    for name, (_, checks) in MUTANTS.items():
        for label, check, strategy in checks:
            assert not fails(check, strategy), f"{label} fails without a mutant"
