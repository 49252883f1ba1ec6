"""A user's own batch-norm layer as an adapter: ``--bn-impl FRAMEWORK:MODULE:NAME``.

Course exercises write their own BatchNormalization; teams ship fused layers. Such a class is
checked by every batch-norm property, with the conventions of the framework it stands in for:

- ``torch``: a drop-in for ``torch.nn.BatchNorm2d``: constructor ``(num_features, eps=, momentum=)``,
  attributes ``weight``, ``bias``, ``running_mean``, ``running_var``, methods ``train()``/``eval()``,
  called on (N, C) and (N, C, H, W) inputs, and on (N, C, L) and (N, C, D, H, W) where it takes them; PyTorch's conventions (momentum weighs the new batch,
  unbiased running variance, eps 1e-5, momentum=None the cumulative average).
- ``keras``: a drop-in for ``keras.layers.BatchNormalization``: constructor
  ``(axis=, momentum=, epsilon=)``, weights ``gamma``, ``beta``, ``moving_mean``,
  ``moving_variance``, ``call(x, training=)``; Keras's conventions.

A class that cannot be imported, or lacks part of that shape, is a ``UsageError`` naming what is
missing.

The class is checked as the framework's own layer is: in every dtype the framework's adapter offers
(a ``torch`` class moved there with ``.to(dtype)``, a ``keras`` class built with ``dtype=``), its
constructor's defaults by the fingerprint's probes (``conventions``), and through call sequences
(``bn_call_sequence``). A dtype the class cannot be built or called in is skipped with its message
(``Adapter.dtype_refusal``), never a crash. The same holds for the rest of the surface
(``bnconform.adapters.user_surface``): the class is constructed with an option turned off
(``affine=False``, ``track_running_stats=False``; ``center=False``, ``scale=False``) only where its
signature accepts the keyword, is frozen with ``trainable = False`` (a Keras layer's attribute), and is
called on ranks 3 and 5 where a probe call succeeds; the rest is skipped with the reason.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect

from . import AdapterInfo, register

FRAMEWORKS = ("torch", "keras")


class UsageError(ValueError):
    """The --bn-impl argument or the class it names is not usable; the message says why."""


def parse(spec: str) -> tuple[str, str, str]:
    parts = spec.split(":")
    if len(parts) != 3 or not all(parts):
        raise UsageError(f"--bn-impl: expected FRAMEWORK:MODULE:NAME, got {spec!r}")
    framework, module, name = parts
    if framework not in FRAMEWORKS:
        raise UsageError(f"--bn-impl: FRAMEWORK must be one of {FRAMEWORKS}, got {framework!r} in {spec!r}")
    return framework, module, name


def import_class(module: str, name: str, spec: str):
    try:
        mod = importlib.import_module(module)
    except Exception as e:  # noqa: BLE001 - any import failure is the user's to fix
        raise UsageError(f"--bn-impl {spec}: cannot import module {module!r}: {type(e).__name__}: {e}") from e
    try:
        cls = getattr(mod, name)
    except AttributeError:
        raise UsageError(f"--bn-impl {spec}: module {module!r} has no attribute {name!r}") from None
    if not inspect.isclass(cls):
        raise UsageError(f"--bn-impl {spec}: {module}.{name} is not a class")
    return cls


def _accepts(cls, *keywords: str) -> list[str]:
    """The keyword arguments among ``keywords`` that the constructor does not accept."""
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return []
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return []
    return [k for k in keywords if k not in params]


def check_torch_shape(cls, spec: str) -> None:
    missing = [f"constructor keyword {k!r}" for k in _accepts(cls, "eps", "momentum")]
    try:
        layer = cls(3, eps=1e-5, momentum=0.1) if not missing else None
    except Exception as e:  # noqa: BLE001
        raise UsageError(f"--bn-impl {spec}: {cls.__name__}(3, eps=1e-5, momentum=0.1) failed: {type(e).__name__}: {e}") from e
    if layer is not None:
        for attr in ("weight", "bias", "running_mean", "running_var"):
            if not hasattr(layer, attr):
                missing.append(f"attribute {attr!r}")
        for method in ("train", "eval"):
            if not callable(getattr(layer, method, None)):
                missing.append(f"method {method}()")
        if not callable(layer):
            missing.append("__call__ (forward)")
    if missing:
        raise UsageError(
            f"--bn-impl {spec}: {cls.__name__} is not a drop-in for torch.nn.BatchNorm2d; missing: "
            + ", ".join(missing)
        )


def refusal_message(spec: str, dtype: str, what: str, error: Exception) -> str:
    """The skip reason of a dtype a user's layer refuses: the dtype, what was tried, its exception."""
    text = " ".join(str(error).split())[:300]
    return f"--bn-impl {spec} refuses {dtype}: {what} raised {type(error).__name__}: {text}"


def torch_refusal(cls, spec: str, dtype: str) -> str | None:
    """Build the class and move it to ``dtype`` as a user does (``module.to(dtype)``: parameters and
    floating-point buffers take the dtype), then call it once in train() and once in eval() mode on
    a (4, 3) input of that dtype; the first exception is the refusal."""
    import torch

    from .torch_adapter import DTYPES

    what = f"{cls.__name__}(3, eps=1e-3, momentum=0.1).to(torch.{dtype}), train() and eval() calls on (4, 3)"
    try:
        layer = cls(3, eps=1e-3, momentum=0.1).to(DTYPES[dtype])
        x = torch.linspace(-1.0, 1.0, 12, dtype=torch.float64).reshape(4, 3).to(DTYPES[dtype])
        with torch.no_grad():
            layer.train()
            layer(x)
            layer.eval()
            layer(x)
    except Exception as e:  # noqa: BLE001 - the layer's own refusal is the reason
        return refusal_message(spec, dtype, what, e)
    return None


#: the ranks a user's torch class is tried on beyond (N, C) and (N, C, H, W), and their probe shapes
TORCH_PROBE_SHAPES = {3: (4, 3, 2), 5: (2, 3, 2, 2, 2)}


def torch_surface(cls, spec: str) -> tuple[dict, dict]:
    """(option -> refusal or None, rank -> refusal or None) of a user's torch class
    (``bnconform.adapters.user_surface``): ``affine`` and ``track_running_stats`` by signature and by
    construction, ranks 3 and 5 by a train() and an eval() call."""
    import torch

    from . import user_surface

    flags = user_surface.flag_refusals(
        cls, spec, {"affine": "affine", "track_running_stats": "track_running_stats"},
        lambda keyword: cls(3, eps=1e-5, momentum=0.1, **{keyword: False}))

    def call(rank):
        layer = cls(3, eps=1e-5, momentum=0.1)
        shape = TORCH_PROBE_SHAPES[rank]
        x = torch.linspace(-1.0, 1.0, _size(shape), dtype=torch.float32).reshape(shape)
        with torch.no_grad():
            layer.train()
            layer(x)
            layer.eval()
            layer(x)

    ranks = user_surface.rank_refusals(spec, TORCH_PROBE_SHAPES, call, f"{cls.__name__}(3), train() and eval() calls")
    return flags, ranks


def _size(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def restrict(caps, flags: dict, ranks: dict):
    """The capabilities narrowed to the options and ranks a user's class takes."""
    return dataclasses.replace(
        caps, ops=("batch_norm",), bn_flags=tuple(f for f in caps.bn_flags if flags.get(f, "absent") is None),
        bn_ranks=tuple(r for r in caps.bn_ranks if ranks.get(r) is None))


def torch_adapter(cls, spec: str, target: str):
    from .torch_adapter import CAPABILITIES, TorchAdapter

    check_torch_shape(cls, spec)
    flags, ranks = torch_surface(cls, spec)

    class UserTorchAdapter(TorchAdapter):
        """PyTorch's adapter with the user's class in place of ``nn.BatchNorm1d/2d/3d``: every dtype
        PyTorch's own layer is checked in, the class moved to it with ``.to(dtype)``; the options and
        ranks it takes (``torch_surface``)."""

        def make_bn(self, rank, num_features, **kwargs):
            return cls(num_features, **kwargs)

        def dtype_refusal(self, op, dtype):
            if dtype not in self._refusals:
                self._refusals[dtype] = torch_refusal(cls, spec, dtype)
            return self._refusals[dtype]

        def unsupported(self, case):
            return super().unsupported(case) or self.dtype_refusal(case.op, case.dtype)

        @property
        def bn_flag_reasons(self):
            return {**TorchAdapter.bn_flag_reasons.fget(self), **{f: r for f, r in flags.items() if r}}

        def probes(self):
            return {f"batch_norm rank {rank}": reason for rank, reason in ranks.items()}

    adapter = UserTorchAdapter()
    adapter._refusals = {}  # dtype -> the refusal found by torch_refusal, or None
    adapter.name = target
    adapter.description = f"{cls.__module__}.{cls.__qualname__} (user class, PyTorch conventions)"
    # SyncBatchNorm is torch's own class, not the user's: not offered for a user's layer
    adapter.capabilities = dataclasses.replace(restrict(CAPABILITIES, flags, ranks), bn_synchronized=False)
    return adapter


def check_keras_shape(cls, spec: str) -> None:
    missing = [f"constructor keyword {k!r}" for k in _accepts(cls, "axis", "momentum", "epsilon")]
    if not missing:
        try:
            layer = cls(axis=-1, momentum=0.99, epsilon=1e-3)
            layer.build((4, 3))
        except Exception as e:  # noqa: BLE001
            raise UsageError(
                f"--bn-impl {spec}: {cls.__name__}(axis=-1, momentum=0.99, epsilon=1e-3).build((4, 3)) failed: "
                f"{type(e).__name__}: {e}"
            ) from e
        missing += [f"weight {w!r}" for w in ("gamma", "beta", "moving_mean", "moving_variance") if not hasattr(layer, w)]
        if not callable(getattr(layer, "call", None)):
            missing.append("method call(x, training=)")
    if missing:
        raise UsageError(
            f"--bn-impl {spec}: {cls.__name__} is not a drop-in for keras.layers.BatchNormalization; missing: "
            + ", ".join(missing)
        )


def keras_adapter(cls, spec: str, target: str):
    from .keras_user import UserKerasAdapter

    check_keras_shape(cls, spec)
    return UserKerasAdapter(cls, spec, target)


def spec_of_target(target: str) -> str | None:
    """The ``--bn-impl`` spec behind a target name ``user-FRAMEWORK:MODULE.NAME`` (what a failure's
    replay command names), or None for any other target."""
    if not target.startswith("user-") or ":" not in target:
        return None
    framework, dotted = target[len("user-"):].split(":", 1)
    module, _, name = dotted.rpartition(".")
    return f"{framework}:{module}:{name}"


def register_user_impl(spec: str) -> str:
    """Import, check and register the class named by ``spec``; return its target name."""
    framework, module, name = parse(spec)
    cls = import_class(module, name, spec)
    target = f"user-{framework}:{module}.{name}"
    adapter = torch_adapter(cls, spec, target) if framework == "torch" else keras_adapter(cls, spec, target)
    info = AdapterInfo(name=target, framework=framework, module="bnconform.adapters.user_impl", factory="-",
                       requires=(framework,), family=target, engine="torch" if framework == "torch" else None)
    register(info, adapter)
    return target
