"""What every batch-norm adapter does the same way, written once: which batches a case runs, the
step loop, and a default layer's call that records a refusal instead of raising.

A training case (``BNCase.steps`` batches in ``inputs.xs``) is ``steps - 1`` training calls that only
move the moving statistics, then the judged call, the only one whose output (and, with ``grads``,
gradients of ``sum(y * dy)``) is read. An inference case is one call on ``inputs.xs[0]``
(``bnconform.checks.bn_reference`` reads the same batch).
"""

from __future__ import annotations

from typing import Callable, Sequence, TypeVar

from .base import DefaultRun, LayerState

S = TypeVar("S")
T = TypeVar("T")


def batches(inputs, training: bool) -> tuple:
    """The batches a case's calls run on: all of them when training, the first one otherwise."""
    return tuple(inputs.xs) if training else tuple(inputs.xs[:1])


def run_steps(xs: Sequence, train_step: Callable[[S, object], S], last: Callable[[S, object], T],
              state: S = None) -> T:
    """``train_step(state, x) -> state`` on every batch but the last (training calls; the state is
    whatever the framework threads from call to call: None for a stateful layer, the moving
    statistics for a functional one), then ``last(state, xs[-1])``, whose result is returned."""
    for x in xs[:-1]:
        state = train_step(state, x)
    return last(state, xs[-1])


def default_run(initial: LayerState, call: Callable[[], tuple], read: Callable) -> DefaultRun:
    """A default layer's one call for the fingerprint (``SupportsBNDefault``): ``call()`` returns
    (y, moving mean, moving variance) in the framework's form, each ``read`` into NumPy; if the
    framework raises, its refusal is the finding (``DefaultRun.error``), not an error of the probe."""
    try:
        y, mean, var = call()
    except Exception as e:  # noqa: BLE001 - the probe records the framework's refusal
        return DefaultRun(initial, None, None, None, f"{type(e).__name__}: {e}")
    return DefaultRun(initial, read(y), read(mean), read(var))
