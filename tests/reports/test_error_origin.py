"""Whose error an ``error`` record is (``bnconform.reports.error_origin``): real exceptions raised
from frames whose modules are named as a framework's, the suite's or a user's, through neutral
libraries (NumPy) in between; and the report's error lines, which keep the two apart."""

from __future__ import annotations

import numpy as np
import pytest

from bnconform.adapters.base import Broken
from bnconform.reports import error_origin as E
from bnconform.reports.tested import error_groups


def _function(module: str, source: str, name: str, **names):
    """A function defined in a namespace whose ``__name__`` is ``module``: its frames are that
    module's, as if the framework (or the suite) had raised."""
    scope = {"__name__": module, "np": np, **names}
    exec(compile(source, f"<{module}>", "exec"), scope)  # noqa: S102 - test fixture
    return scope[name]


def _raised(call) -> BaseException:
    with pytest.raises(Exception) as info:
        call()
    return info.value


# Keras 3.4.1's Conv2D on torch: the framework raises on a configuration the suite drew legitimately
conv = _function("torch.nn.functional", "def conv(x):\n    raise RuntimeError('negative padding is not supported')\n", "conv")
keras_call = _function("keras.src.layers.convolutional.base_conv", "def call(x):\n    return conv(x)\n", "call", conv=conv)
adapter_conv = _function("bnconform.adapters.keras_layers", "def conv2d(x):\n    return keras_call(x)\n", "conv2d",
                         keras_call=keras_call)
# the suite's own: an API the installed release lacks, looked up by the adapter
suite_attr = _function("bnconform.adapters.keras_adapter", "def scope(jax):\n    return jax.enable_x64(True)\n", "scope")
# NumPy raising on the framework's behalf, and on the suite's
framework_reshape = _function("keras.src.ops.numpy", "def reshape(x):\n    return np.reshape(x, (7,))\n", "reshape")
suite_reshape = _function("bnconform.adapters.keras_layers", "def reshape(x):\n    return np.reshape(x, (7,))\n", "reshape")
user_layer = _function("my_project.layers", "def call(x):\n    raise ValueError('my bug')\n", "call")


def test_a_framework_raising_on_the_suites_call_is_the_frameworks():
    assert E.origin_of(_raised(lambda: adapter_conv(1))) == ("framework", "torch.nn.functional")


def test_an_attribute_the_suite_assumed_is_the_suites_own():
    exc = _raised(lambda: suite_attr(object()))
    assert isinstance(exc, AttributeError)
    assert E.origin_of(exc) == ("suite", "bnconform.adapters.keras_adapter")


def test_numpy_frames_are_passed_over_to_whoever_called_numpy():
    assert E.origin_of(_raised(lambda: framework_reshape(np.ones(3)))) == ("framework", "keras.src.ops.numpy")
    assert E.origin_of(_raised(lambda: suite_reshape(np.ones(3)))) == ("suite", "bnconform.adapters.keras_layers")


def test_a_users_layer_is_neither():
    assert E.origin_of(_raised(lambda: user_layer(1))) == ("other", "my_project.layers")


def test_a_bnconform_wrapper_is_judged_by_its_cause():
    load = _function("bnconform.adapters.registry", (
        "def load():\n"
        "    try:\n"
        "        adapter_conv(1)\n"
        "    except RuntimeError as e:\n"
        "        raise Broken('keras-torch', type(e).__name__, str(e), stage='build') from e\n"
        "def plain():\n"
        "    raise Broken('keras-torch', 'X', 'y', stage='build')\n"), "load", adapter_conv=adapter_conv, Broken=Broken)
    assert E.origin_of(_raised(load)) == ("framework", "torch.nn.functional")
    plain = load.__globals__["plain"]  # the suite's own error with no cause stays the suite's
    assert E.origin_of(_raised(plain)) == ("suite", "bnconform.adapters.registry")


def test_a_group_is_judged_by_its_first_error_that_is_not_an_assertion():
    errors = [AssertionError("property"), _raised(lambda: suite_attr(object())), _raised(lambda: adapter_conv(1))]
    try:
        group_type = ExceptionGroup
    except NameError:  # Python 3.10: the backport pytest depends on
        from exceptiongroup import ExceptionGroup as group_type
    group = group_type("several", errors)
    assert E.origin_of(group) == ("suite", "bnconform.adapters.keras_adapter")


def test_only_neutral_frames_say_nothing():
    assert E.classify(["numpy.core", "hypothesis.core", "_pytest.python", "contextlib"]) is None
    assert E.classify(["bnconform.checks", "jax._src.core", "numpy.linalg"]) == ("framework", "jax._src.core")


def _error(target, origin, module, message):
    return {"verdict": "error", "target": target, "error_origin": origin, "raised_in": module, "message": message}


def test_the_report_tells_a_framework_crash_from_the_suites_own_error():
    records = [
        _error("keras-torch", "framework", "torch.nn.functional", "RuntimeError: negative padding is not supported"),
        _error("keras-torch", "framework", "torch.nn.functional", "RuntimeError: negative padding is not supported"),
        _error("keras-torch", "suite", "bnconform.adapters.keras_adapter", "AttributeError: no enable_x64"),
        {"verdict": "pass", "target": "keras-torch"},
    ]
    lines = [g.describe() for g in error_groups(records)]
    assert lines == [
        "keras-torch: 2 error(s) raised in the framework (torch.nn.functional): "
        "RuntimeError: negative padding is not supported",
        "keras-torch: 1 error(s) the suite's own error (bnconform.adapters.keras_adapter): AttributeError: no enable_x64",
    ]
    # records written before error_origin existed read as before
    old = [{"verdict": "error", "target": "jax", "message": "boom"}]
    assert [g.describe() for g in error_groups(old)] == ["jax: 1 error(s): boom"]
