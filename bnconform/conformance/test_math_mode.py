"""The float32 math mode (``bnconform.adapters.math_mode``): what users get by default, and full float32.

The default conv2d property (``test_properties.py``) judges what users get, whatever the framework's
default math mode on the device (TF32 on a GPU is then a deviation, modelled by the ``tf32_inputs``
model). Here: in full float32 (PyTorch's ``allow_tf32 = False``, JAX's ``HIGHEST``, TensorFlow's
TF32 execution disabled) the probe convolution must read float32, and every drawn float32
convolution must conform to the reference. Its records are the conv2d property's (the same cell of
the report, the same known deviations: a framework's other bugs, such as Keras's bias on the wrong
axis, do not depend on the math mode), except that no ``tf32_inputs`` entry may excuse it.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bnconform.adapters import math_mode

from .conftest import check_drawn, conformance, require


@conformance("math_mode_probe")
def test_full_float32_reads_float32(target, mode, dtype, adapter, observe, prop):
    """The probe convolution and its engine's matrix product in full float32 give float32's answer
    on the adapter's device; the default's readings are in the failure message and in the GPU
    check's ``math_mode/<family>.json``."""
    require(adapter, prop.op, dtype)
    found = math_mode.probe(adapter)
    assert found["full_float32"]["value"] == "float32", found
    assert found["matmul"]["full_float32"]["value"] == "float32", found  # its engine's matrix product
    if adapter.device_record()["platform"] == "cpu":  # no tensor cores: the default is float32 too
        assert found["default"]["value"] == found["matmul"]["default"]["value"] == "float32", found


class _NoTF32Excuse:
    """The ``observe`` fixture, without the known deviations that model TF32 (full float32 has none)."""

    def __init__(self, observe):
        self._observe = observe

    def __getattr__(self, name):
        return getattr(self._observe, name)

    def known_deviations(self):
        return [d for d in self._observe.known_deviations() if d.model != "tf32_inputs"]


@conformance("conv2d", dtypes=("float32",))
@given(data=st.data())
def test_conv2d_full_float32(target, mode, dtype, adapter, observe, prop, data):
    """Every offered float32 convolution, computed in full float32, conforms."""
    with math_mode.full_float32(math_mode.engine_of(adapter)):
        check_drawn(prop, _NoTF32Excuse(observe), adapter, data, dtype, mode)
