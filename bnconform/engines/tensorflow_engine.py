"""The TensorFlow engine (Keras 3 on tensorflow, tf_keras): its record, :data:`ENGINE`.

Placement: ``tf.device("/CPU:0")`` or ``tf.device("/GPU:0")``. Math mode:
``tf.config.experimental.tensor_float_32_execution_enabled()`` (True by default). Determinism:
``enable_op_determinism()`` (read back through TensorFlow's private reader: 2.21 publishes none)
and ``TF_DETERMINISTIC_OPS``. Kernels: oneDNN on or off (``TF_ENABLE_ONEDNN_OPTS``), measured by
``IsMklEnabled()``; oneDNN serves only the dtypes it supports on the CPU
(IsDataTypeSupportedByOneDNNOnThisCPU, tensorflow/core/util/util.cc, TF 2.21): float32 always;
bfloat16 with AVX512F or AVX_NE_CONVERT; float16 with AVX512BW and AVX512_FP16 or AMX_FP16, or
AVX_NE_CONVERT; float64 never. The others run TensorFlow's Eigen kernels, as with oneDNN off (it logs
"oneDNN supports DT_BFLOAT16 only on platforms with AVX-512. Falling back to the default Eigen-based
implementation"; measured on an AVX2 EPYC with ONEDNN_VERBOSE=1: float32 pooling runs oneDNN's
jit:avx2 primitives, bfloat16 and float16 pooling none).
"""

from __future__ import annotations

import contextlib
import os

from .base import Config, Engine, Placement, Unavailable

NAME = "tensorflow"


def placement(target: str, request: str) -> Placement:
    import tensorflow as tf

    if request == "cpu":
        return Placement(request, "cpu", "cpu", lambda: tf.device("/CPU:0"))
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        raise Unavailable(f"{target}: device {request} is not available: tensorflow {tf.__version__} lists no GPU "
                          f"(built with CUDA: {tf.test.is_built_with_cuda()})")
    details = tf.config.experimental.get_device_details(gpus[0])
    return Placement(request, "gpu", f"gpu:0 {details.get('device_name', '')}".strip(), lambda: tf.device("/GPU:0"))


def math_settings() -> dict:
    import tensorflow as tf

    return {"tensor_float_32_execution_enabled": bool(tf.config.experimental.tensor_float_32_execution_enabled())}


@contextlib.contextmanager
def full_float32():
    import tensorflow as tf

    saved = tf.config.experimental.tensor_float_32_execution_enabled()
    tf.config.experimental.enable_tensor_float_32_execution(False)
    try:
        yield
    finally:
        tf.config.experimental.enable_tensor_float_32_execution(saved)


def matmul(a, request: str):
    import tensorflow as tf

    with tf.device("/CPU:0" if request == "cpu" else "/GPU:0"):
        t = tf.constant(a)
        return tf.matmul(t, t).numpy()


def determinism() -> dict:
    from tensorflow.python.framework import config as tf_config

    return {"op_determinism": bool(tf_config.is_op_determinism_enabled()),
            "TF_DETERMINISTIC_OPS": os.environ.get("TF_DETERMINISTIC_OPS")}


def measure_kernels(config: Config | None) -> dict:
    from tensorflow.python.util import _pywrap_util_port

    return {"onednn": bool(_pywrap_util_port.IsMklEnabled())}


def kernel_path(state: dict) -> str | None:
    return "onednn-on" if state.get("onednn") else "onednn-off"


KERNELS = (
    Config("onednn-on", NAME, "TensorFlow with oneDNN's kernels (TF_ENABLE_ONEDNN_OPTS=1): the "
           "default on x86 CPUs with AVX512_VNNI, AVX512_BF16, AVX_VNNI or AMX; only for the dtypes oneDNN "
           "supports on the CPU (float32; bfloat16 with AVX-512; float16 with AVX512_FP16), the rest run "
           "TensorFlow's own kernels", env={"TF_ENABLE_ONEDNN_OPTS": "1"},
           dtype_flags={"float32": ((),), "bfloat16": (("avx512f",), ("avx_ne_convert",)),
                        "float16": (("avx512bw", "avx512_fp16"), ("avx512bw", "amx_fp16"), ("avx_ne_convert",))},
           fallback="onednn-off"),
    Config("onednn-off", NAME, "TensorFlow's own (Eigen) kernels (TF_ENABLE_ONEDNN_OPTS=0): the "
           "default on CPUs without those extensions (AVX2-only Intel and AMD parts)",
           env={"TF_ENABLE_ONEDNN_OPTS": "0"}),
)

ENGINE = Engine(
    name=NAME,
    distributions=("tensorflow", "tensorflow-cpu"),
    placement=placement,
    math_settings=math_settings,
    full_float32=full_float32,
    matmul=matmul,
    determinism=determinism,
    deterministic_setting="op_determinism",
    keras_backend="tensorflow",
    module_distributions={"tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-intel")},
    accelerator_environment={"TF_DETERMINISTIC_OPS": "1"},
    kernel_settings=("TF_ENABLE_ONEDNN_OPTS", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "TF_XLA_FLAGS"),
    kernels=KERNELS,
    measure_kernels=measure_kernels,
    kernel_path=kernel_path,
)
