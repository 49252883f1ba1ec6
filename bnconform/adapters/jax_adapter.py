"""JAX without a layer library: ``lax.conv_general_dilated``, ``lax.reduce_window`` and ``jnp.mean``.

What is tested, and why:

- convolution: ``lax.conv_general_dilated`` with the kernel given OIHW through ``dimension_numbers``
  (``("NHWC", "OIHW", "NHWC")`` or ``("NCHW", "OIHW", "NCHW")``), ``window_strides``,
  ``rhs_dilation``, ``feature_group_count`` and padding ``"VALID"``, ``"SAME"`` or explicit
  ``(low, high)`` pairs. JAX's ``"SAME"`` (``lax.padtype_to_pads``) is TensorFlow's: out = ceil(L / s),
  the odd pixel at the end, computed on the dilated kernel. lax takes no bias, so none is offered
  (``conv_bias=False``): a bias added here would test this adapter's addition, not JAX.
- max pooling: ``lax.reduce_window(x, -inf, lax.max, ...)``; padding is -inf, so padding never wins.
  On CPU, XLA runs with denormals-are-zero, so a subnormal maximum comes out as 0 (JAX: "working as
  intended", https://github.com/jax-ml/jax/issues/16200); the ci examples draw no subnormal input.
- global average pooling: ``jnp.mean`` over the spatial axes (JAX upcasts float16/bfloat16
  reductions to float32, ``jax.numpy`` reductions' ``_upcast_f16_for_computation``).
- average pooling is *not* offered here: lax has no average-pooling op, and ``reduce_window(add) /
  count`` written in this adapter would test this adapter, not JAX. The same composition as JAX users
  get it is ``flax.linen.avg_pool`` (``reduce_window`` add, divided by the window size or by a
  ``reduce_window`` over ones), tested under the ``flax-linen`` target.
- no batch norm: bare lax has none (see ``bnconform.adapters.flax_adapter``).

float64 runs under ``jax.enable_x64`` scoped to the call (``bnconform.adapters.jax_common``).

Speed: the ops are jitted once at module level with the configuration (strides, padding, layout,
groups) as static arguments, so an identical (shapes, dtype, configuration) reuses the compiled code
(``jax_common.count_compiles`` measures this in the adapter tests).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .base import Adapter, Capabilities
from .jax_common import DTYPES, as_float64, as_input, bare, layout, padding_arg, x64_scope

CAPABILITIES = Capabilities(
    ops=("conv2d", "pool2d"),
    dtypes=DTYPES,
    conv_data_formats=("channels_last", "channels_first"),
    conv_paddings=("valid", "same", "explicit"),
    conv_same_strided=True,
    conv_dilated_strided=True,
    conv_groups=True,
    conv_dilation=True,  # no conv_bias: lax.conv_general_dilated takes no bias
    pool_kinds=("max", "global_avg"),
    pool_data_formats=("channels_last", "channels_first"),
    pool_paddings=("valid", "same", "explicit"),
)

# -- the jitted ops ---------------------------------------------------------------------------


@partial(jax.jit, static_argnames=("stride", "padding", "dilation", "groups", "fmt"))
def _conv(x, w, *, stride, padding, dilation, groups, fmt):
    return lax.conv_general_dilated(
        x,
        w,
        window_strides=stride,
        padding=padding,
        rhs_dilation=dilation,
        dimension_numbers=(fmt, "OIHW", fmt),
        feature_group_count=groups,
    )


@partial(jax.jit, static_argnames=("dims", "strides", "padding"))
def _max_pool(x, *, dims, strides, padding):
    return lax.reduce_window(x, -jnp.inf, lax.max, dims, strides, padding)


@partial(jax.jit, static_argnames=("axes",))
def _mean(x, *, axes):
    return jnp.mean(x, axis=axes)


class JaxAdapter(Adapter):
    """Bare ``jax.lax`` convolution and max pooling, ``jnp.mean`` global average pooling."""

    def __init__(self):
        super().__init__(
            name="jax",
            framework="jax",
            version=jax.__version__,
            conventions=None,  # bare lax has no batch norm
            capabilities=CAPABILITIES,
            description="lax.conv_general_dilated, lax.reduce_window (max), jnp.mean (global average)",
            extra={"x64": "scoped: jax.enable_x64(True) around float64 cases only"},
        )

    def unsupported(self, case) -> str | None:
        if getattr(case, "op", None) == "conv2d" and case.bias:
            return "lax.conv_general_dilated takes no bias"
        return None

    def conv2d(self, case, inputs) -> np.ndarray:
        if inputs.b is not None:
            raise ValueError("bias: lax.conv_general_dilated takes no bias; the jax target offers none")
        with x64_scope(case.dtype):
            fn = conv_call(case)
            return as_float64(fn(as_input(inputs.x, case.dtype), as_input(inputs.w, case.dtype)))

    def pool2d(self, case, inputs: np.ndarray) -> np.ndarray:
        with x64_scope(case.dtype):
            return as_float64(pool_call(case)(as_input(inputs, case.dtype)))

    def bare_call(self, prop: str, mode: str, case, inputs):
        """The same jitted function on device arrays, waited for; no conversion either way."""
        with x64_scope(case.dtype):
            if case.op == "conv2d":
                fn, args = conv_call(case), (inputs.x, inputs.w)
            else:
                fn, args = pool_call(case), (inputs,)
            args = [jax.device_put(as_input(a, case.dtype)) for a in args]
        return bare(case.dtype, lambda: fn(*args))


def conv_call(case):
    """``_conv`` with the case's static configuration: a function of (x, w)."""
    return partial(
        _conv,
        stride=tuple(case.stride),
        padding=padding_arg(case.padding),
        dilation=tuple(case.dilation),
        groups=int(case.groups),
        fmt=layout(case.data_format),
    )


def pool_call(case):
    """The jitted pooling op with the case's static configuration: a function of x."""
    fmt = layout(case.data_format)
    if case.kind == "global_avg":
        return partial(_mean, axes=(1, 2) if fmt == "NHWC" else (2, 3))
    if case.kind != "max":
        raise ValueError(f"kind: the jax target offers 'max' and 'global_avg' pooling, got {case.kind!r}")
    if case.ceil_mode:
        raise ValueError("ceil_mode: lax.reduce_window has no ceil mode")
    (kh, kw), (sh, sw) = case.window, case.stride
    padding = padding_arg(case.padding)
    if fmt == "NHWC":
        dims, strides = (1, kh, kw, 1), (1, sh, sw, 1)
        pads = padding if isinstance(padding, str) else ((0, 0), *padding, (0, 0))
    else:
        dims, strides = (1, 1, kh, kw), (1, 1, sh, sw)
        pads = padding if isinstance(padding, str) else ((0, 0), (0, 0), *padding)
    return partial(_max_pool, dims=dims, strides=strides, padding=pads)


def load() -> JaxAdapter:
    return JaxAdapter()
