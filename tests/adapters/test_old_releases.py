"""The APIs older releases spell differently, detected rather than assumed (issue 22): each test
plants the older release's shape of the API (the attribute it lacks, the error it raises) into the
installed framework and checks that the adapter takes the path that release offers. The real old
releases run in ``tox -m history`` (``bnconform/history.py``).
"""

from __future__ import annotations

import importlib.util
import sys
import types

import numpy as np
import pytest


needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
needs_keras = pytest.mark.skipif(importlib.util.find_spec("keras") is None, reason="keras is not installed")


@needs_jax
def test_enable_x64_falls_back_to_jax_experimental_where_jax_has_no_top_level_one(monkeypatch):
    """jax 0.4.23 (Keras 3.0's) has ``jax.experimental.enable_x64`` and no ``jax.enable_x64``:
    a stand-in jax without the attribute, whose ``jax.experimental`` holds the context manager,
    still gets float64 arithmetic inside the scope and JAX's default outside."""
    import jax
    import jax.numpy as jnp

    from bnconform.adapters import jax_common

    real = jax.enable_x64
    used = []

    def old_spelling(new_val: bool = True):
        used.append(new_val)
        return real(new_val)

    old_jax = types.SimpleNamespace(**{k: v for k, v in vars(jax).items() if k != "enable_x64"})
    monkeypatch.setattr(jax_common, "jax", old_jax)
    monkeypatch.setitem(sys.modules, "jax.experimental", types.SimpleNamespace(enable_x64=old_spelling))
    with jax_common.x64_scope("float64"):
        wide = jnp.zeros(2, dtype=jnp.float64).dtype
    with jax_common.x64_scope("float32"):
        narrow = jnp.zeros(2, dtype=jnp.float64).dtype
    assert (used, str(wide), str(narrow)) == ([True, False], "float64", "float32")


@needs_jax
def test_enable_x64_uses_the_top_level_one_where_it_exists(monkeypatch):
    import jax

    from bnconform.adapters import jax_common

    monkeypatch.setitem(sys.modules, "jax.experimental", None)  # importing from it would raise
    with jax_common.enable_x64(True):
        assert jax.numpy.zeros(1, dtype=jax.numpy.float64).dtype == np.float64


class _Layer:
    """A pooling layer as Keras 3.0 makes it: not built on construction."""

    def __init__(self, built: bool):
        self.built = built
        self.shapes = []

    def build(self, shape):
        self.shapes.append(shape)
        self.built = True


def test_an_unbuilt_layer_is_built_once_and_a_built_one_left_alone():
    from bnconform.adapters.keras_layers import built

    old, new = _Layer(False), _Layer(True)
    assert built(old, (2, 3, 4, 5)) is old and old.shapes == [(2, 3, 4, 5)] and old.built
    assert built(old, (1, 1, 1, 1)) is old and old.shapes == [(2, 3, 4, 5)]
    assert built(new, (2, 3, 4, 5)) is new and new.shapes == []


@needs_keras
@needs_jax
def test_keras_jax_pooling_runs_on_a_layer_keras_left_unbuilt(monkeypatch):
    """Keras 3.0's MaxPooling2D is unbuilt until called, and ``stateless_call`` (the JAX runner's)
    refuses it; a layer made unbuilt as 3.0 makes it is pooled like the reference."""
    from bnconform import cases as C
    from bnconform import checks
    from bnconform.adapters import keras_adapter as K
    from bnconform.adapters import keras_layers

    adapter = K.load_jax()
    made = []
    real = keras_layers.KerasLayersAdapter._pool_layer

    def unbuilt(keras, case):
        layer = real(keras, case)
        layer.built = False  # as Keras 3.0 leaves it
        made.append(layer)
        return layer

    monkeypatch.setattr(keras_layers.KerasLayersAdapter, "_pool_layer", staticmethod(unbuilt))
    case = C.PoolCase(kind="max", x_shape=(2, 5, 6, 3), window=(2, 2), stride=(1, 2), padding="valid",
                      x=C.Values(seed=11))
    bad = [c for c in checks.check_pool2d(adapter, case) if not c.ok]
    assert made and all(layer.built for layer in made) and not bad, [c.message() for c in bad]


class _OldTorchKeras:
    """A Keras whose ``convert_to_numpy`` has no bfloat16, as Keras 3.0.4 on torch
    ("Got unsupported ScalarType BFloat16"); tensors are (dtype, values) pairs."""

    class backend:
        @staticmethod
        def standardize_dtype(dtype):
            return dtype

    class ops:
        @staticmethod
        def cast(t, dtype):
            return types.SimpleNamespace(dtype=dtype, values=t.values)

        @staticmethod
        def convert_to_numpy(t):
            if t.dtype == "bfloat16":
                raise TypeError("Got unsupported ScalarType BFloat16")
            return np.asarray(t.values, dtype=t.dtype)


def test_bfloat16_is_read_back_through_float32():
    import ml_dtypes

    from bnconform.adapters.keras_layers import keras_numpy

    values = np.asarray([1.0078125, -3.5, 2.0 ** -130], ml_dtypes.bfloat16)  # exact in bfloat16
    t = types.SimpleNamespace(dtype="bfloat16", values=values.astype(np.float32))
    got = keras_numpy(_OldTorchKeras, t)
    assert got.dtype == np.float64 and got.tolist() == values.astype(np.float64).tolist()
    half = types.SimpleNamespace(dtype="float16", values=np.asarray([0.5, 65504.0], np.float16))
    assert keras_numpy(_OldTorchKeras, half).tolist() == [0.5, 65504.0]


@needs_jax
def test_full_float32_names_the_precision_as_an_older_jax_does(monkeypatch):
    """jax 0.4.23 refuses ``default_matmul_precision("highest")`` when the scope is entered (its
    names are 'bfloat16', 'tensorfloat32', 'float32'); the engine then asks for "float32", the same
    precision, and the setting reads so inside the block and is restored after it."""
    import contextlib

    import jax

    from bnconform.engines import jax_engine

    real = jax.default_matmul_precision
    asked = []

    @contextlib.contextmanager
    def old_precision(name):
        asked.append(name)
        if name not in ("bfloat16", "tensorfloat32", "float32"):
            raise ValueError(f"new enum value must be None or in ['bfloat16', 'tensorfloat32', 'float32'], got {name}")
        with real(name):
            yield

    before = jax.config.jax_default_matmul_precision
    monkeypatch.setattr(jax, "default_matmul_precision", old_precision)
    with jax_engine.full_float32():
        inside = jax.config.jax_default_matmul_precision
    assert (asked, inside, jax.config.jax_default_matmul_precision) == (["highest", "float32"], "float32", before)
    monkeypatch.setattr(jax, "default_matmul_precision", real)
    with jax_engine.full_float32():  # today's jax takes "highest" itself
        assert jax.config.jax_default_matmul_precision == "highest"


def test_keras_without_keras_device_is_placed_by_its_engine_alone(monkeypatch):
    """Keras 3.0.0 has no ``keras.device`` (``bnconform bisect`` met it as an AttributeError of the
    suite's own): the placement then enters the engine's scope, and uses ``keras.device`` where it
    exists."""
    from bnconform.adapters import device, keras_adapter
    from bnconform.engines.base import Placement

    entered = []

    class Scope:
        def __init__(self, who):
            self.who = who

        def __enter__(self):
            entered.append(self.who)

        def __exit__(self, *exc):
            return False

    record = types.SimpleNamespace(keras_backend="torch", keras_devices={"cpu": "cpu"},
                                   placement=lambda target, request: Placement("cpu", "cpu", "cpu",
                                                                               lambda: Scope("engine")))
    monkeypatch.setattr(device.engines, "get", lambda name: record)
    old_keras = types.SimpleNamespace()  # no attribute `device`
    new_keras = types.SimpleNamespace(device=lambda name: Scope(f"keras.device({name})"))
    for keras in (old_keras, new_keras):
        monkeypatch.setattr(keras_adapter, "active_keras", lambda backend, keras=keras: keras)
        with device.keras_placement("keras-torch", "torch", "cpu").enter():
            pass
    assert entered == ["engine", "keras.device(cpu)"]


class _Flax010Variable:
    """An ``nnx.Variable`` as flax 0.10 has it: a ``value`` property, no ``set_value``/``get_value``
    (its ``__getattr__`` forwards other names to the array, which has none of them)."""

    def __init__(self, value):
        self.value = value

    def __getattr__(self, name):
        return getattr(self.__dict__["value"], name)


def test_flax_variables_are_set_and_read_through_value_where_flax_has_no_set_value():
    pytest.importorskip("flax")
    from bnconform.adapters.flax_adapter import get_array, set_array

    old = _Flax010Variable(np.zeros(2, np.float32))
    new = np.ones(2, np.float64)
    set_array(old, new)
    assert old.value is new  # replaced, not cast into the float32 array
    assert get_array(old) is new
    with pytest.raises(AttributeError):
        old.set_value(new)  # what the adapter called before: the array has no set_value


def test_flax_variables_use_set_value_where_flax_has_it():
    nnx = pytest.importorskip("flax.nnx")
    from bnconform.adapters.flax_adapter import get_array, set_array

    variable = nnx.BatchStat(np.zeros(2, np.float32))
    new = np.ones(2, np.float64)
    set_array(variable, new)
    assert get_array(variable).dtype == np.float64 and float(get_array(variable).sum()) == 2.0
