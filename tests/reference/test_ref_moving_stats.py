"""Moving statistics: the reference's update agrees with the naive loops, and n steps on one batch with
the closed form.

keras: new = rho old + (1 - rho) stat (biased variance); torch: new = (1 - mom) old + mom stat (unbiased
variance, m / (m - 1)); torch with momentum None: the cumulative average of every batch statistic seen.
n steps on a fixed batch: stat_n = a^n init + (1 - a^n) stat, a = rho (keras) or 1 - mom (torch);
cumulative average from num_batches_tracked = t: (t init + n stat) / (t + n).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import gen64
import naive
from bnconform import reference as ref
import tol64


def check_updates_match_naive(case: gen64.EMACase) -> None:
    """Feed the batches one by one; compare mean, var and num_batches_tracked with ``naive.moving_stats``."""
    state = ref.MovingStats(case.init_mean, case.init_var, case.tracked)
    for xb in case.batches:
        state = ref.update_moving_stats(state, xb, momentum=case.momentum, axis=case.axis,
                                        convention=case.convention)
    mean, var = naive.moving_stats(list(case.batches), case.init_mean, case.init_var, momentum=case.momentum,
                                   convention=case.convention, axis=case.axis, tracked=case.tracked)
    tol_mean, tol_var = tol64.ema(case.batches, case.init_mean, case.init_var, convention=case.convention,
                                  axis=case.axis)
    tol64.assert_close(state.mean, mean, tol_mean, f"moving mean ({case.convention}, momentum={case.momentum})")
    tol64.assert_close(state.var, var, tol_var, f"moving var ({case.convention}, momentum={case.momentum})")
    assert state.num_batches_tracked == case.tracked + len(case.batches), "num_batches_tracked"


@st.composite
def fixed_batch_cases(draw):
    """One batch fed ``steps`` times (0 to 40), either convention, momentum None included for torch."""
    case = draw(gen64.ema_cases(max_batches=1))
    return case, draw(st.integers(0, 40))


def check_closed_form(case_steps) -> None:
    """n updates with the same batch equal a^n init + (1 - a^n) stat (or the cumulative average's
    (t init + n stat) / (t + n)), the statistics computed here with np.mean / np.var(ddof)."""
    case, steps = case_steps
    x = case.batches[0]
    axis = case.axis % x.ndim
    axes = tuple(a for a in range(x.ndim) if a != axis)
    mean_b = x.mean(axis=axes)
    var_b = x.var(axis=axes, ddof=1 if case.convention == "torch" else 0)
    state = ref.MovingStats(case.init_mean, case.init_var, case.tracked)
    for _ in range(steps):
        state = ref.update_moving_stats(state, x, momentum=case.momentum, axis=case.axis,
                                        convention=case.convention)
    if case.momentum is None:
        t = case.tracked
        expected = [(t * init + steps * stat) / (t + steps) if t + steps else init
                    for init, stat in ((case.init_mean, mean_b), (case.init_var, var_b))]
    else:
        a = case.momentum if case.convention == "keras" else 1.0 - case.momentum
        expected = [a**steps * init + (1 - a**steps) * stat
                    for init, stat in ((case.init_mean, mean_b), (case.init_var, var_b))]
        for got, init, stat in ((0, case.init_mean, mean_b), (1, case.init_var, var_b)):
            closed = ref.closed_form(init, stat, momentum=case.momentum, steps=steps, convention=case.convention)
            tol64.assert_close(closed, expected[got], tol64.bound(4, np.abs(init) + np.abs(stat)),
                               "bnconform.reference.closed_form")
    tol_mean, tol_var = tol64.ema([x], case.init_mean, case.init_var, convention=case.convention, axis=case.axis,
                                  steps=steps)
    tol64.assert_close(state.mean, expected[0], tol_mean, f"moving mean after {steps} steps")
    tol64.assert_close(state.var, expected[1], tol_var, f"moving var after {steps} steps")


CASES = gen64.ema_cases()
FIXED_BATCH_CASES = fixed_batch_cases()

@settings(deadline=None)
@given(CASES)
def test_updates_match_naive(case):
    check_updates_match_naive(case)


@settings(deadline=None)
@given(FIXED_BATCH_CASES)
def test_steps_on_a_fixed_batch_follow_the_closed_form(case_steps):
    check_closed_form(case_steps)
