"""Whose error an ``error`` verdict is: the framework under test, or the suite itself.

An ``error`` verdict means a test could not check its property. Two causes read alike in a count of
errors and mean opposite things to a user gating an upgrade:

- **framework**: the framework raised on a configuration the suite drew from the capabilities the
  adapter declared, e.g. Keras 3.4.1 on torch, whose ``Conv2D.call()`` fails with "negative padding
  is not supported" on a valid 'same' convolution. The release is at fault: the verdict stays an
  error, and the report says the framework crashed.
- **suite**: bnconform's own code raised, e.g. ``module 'jax' has no attribute 'enable_x64'`` from
  an adapter that assumed a newer API than the installed release offers. That is a defect of the
  suite to fix, never a verdict on the framework.

The rule reads the traceback, innermost frame first: frames of neutral libraries (the standard
library, NumPy, ml_dtypes, Hypothesis, pytest) are passed over, and the first frame that is left
decides: a module of :data:`FRAMEWORK_PACKAGES` is ``framework``, a module of ``bnconform`` is
``suite``, anything else (a user's ``--bn-impl`` class, a plugin) is ``other``. An exception that
bnconform raises *from* another (``raise Broken(...) from e``: a wrapper naming what failed) is
judged by its cause. The rule is about where the exception was raised: a framework that refuses
the suite's misuse of its API (an unbuilt layer handed to ``stateless_call``) counts as
``framework``; the history label (``bnconform.history``) is where such misuses are found and fixed.
"""

from __future__ import annotations

import sys
from types import TracebackType

__all__ = ["FRAMEWORK_PACKAGES", "NEUTRAL_PACKAGES", "ORIGINS", "classify", "origin_of", "describe"]

#: top-level packages of the frameworks under test and of the libraries they are built from
FRAMEWORK_PACKAGES = frozenset({
    "torch", "torchvision", "functorch",
    "tensorflow", "tf_keras", "keras", "tensorboard", "tree", "optree", "absl",
    "jax", "jaxlib", "flax", "optax", "orbax", "chex",
})
#: libraries both the frameworks and the suite call: a frame there decides nothing
NEUTRAL_PACKAGES = frozenset({"numpy", "ml_dtypes", "hypothesis", "_pytest", "pytest", "pluggy",
                              "_hypothesis_pytestplugin", "importlib", "contextlib"})
ORIGINS = ("framework", "suite", "other")


def _neutral(top: str) -> bool:
    return top in NEUTRAL_PACKAGES or top in sys.stdlib_module_names or top.startswith("_frozen")


def classify(modules: list[str]) -> tuple[str, str] | None:
    """``(origin, module)`` from the module names of a traceback's frames, outermost first: the
    innermost frame outside the neutral libraries decides (see the module docstring); None if every
    frame is neutral."""
    for name in reversed(modules):
        top = name.split(".", 1)[0]
        if not top or _neutral(top):
            continue
        if top == "bnconform":
            return "suite", name
        if top in FRAMEWORK_PACKAGES:
            return "framework", name
        return "other", name
    return None


def _frames(tb: TracebackType | None) -> list[str]:
    names = []
    while tb is not None:
        names.append(str(tb.tb_frame.f_globals.get("__name__") or ""))
        tb = tb.tb_next
    return names


def origin_of(exc: BaseException) -> tuple[str, str] | None:
    """``(origin, module)`` of an exception (:func:`classify` of its traceback). A bnconform wrapper
    raised from a cause is judged by the cause; a group (Hypothesis: several distinct errors) by its
    first member that is not an assertion."""
    group = getattr(exc, "exceptions", None)
    if isinstance(group, tuple) and group:
        members = [e for e in group if not isinstance(e, AssertionError)] or list(group)
        return origin_of(members[0])
    found = classify(_frames(exc.__traceback__))
    if found is not None and found[0] == "suite" and exc.__cause__ is not None \
            and type(exc).__module__.startswith("bnconform"):
        return origin_of(exc.__cause__) or found
    return found


def describe(origin: str | None, module: str | None = None) -> str:
    """A few words for a report line: "raised in the framework (keras.src.ops)", "the suite's own
    error (bnconform.adapters.keras_adapter)"; empty for records without an origin."""
    where = f" ({module})" if module else ""
    if origin == "framework":
        return f"raised in the framework{where}"
    if origin == "suite":
        return f"the suite's own error{where}"
    if origin == "other":
        return f"raised outside the framework and the suite{where}"
    return ""
