"""The PyTorch engine (torch, torch-functional, Keras 3 on torch): its record, :data:`ENGINE`.

Placement: ``torch.device`` as a context (factory functions and module constructors make their
tensors there) and the device ``bnconform.adapters.torch_adapter.tensor`` moves NumPy data to; on
CUDA, deterministic cuBLAS (``CUBLAS_WORKSPACE_CONFIG``, PyTorch's reproducibility notes) and
deterministic algorithms, warning where a kernel (pooling backward) has none. Math mode:
``torch.backends.cudnn.allow_tf32`` (convolutions; True by default),
``torch.backends.cuda.matmul.allow_tf32`` and ``torch.get_float32_matmul_precision()`` (products).
Kernels: ATen's CPU capability (``ATEN_CPU_CAPABILITY``) and PyTorch's oneDNN switch, measured by
``torch.backends.cpu.get_cpu_capability()`` and the convolution backend PyTorch picks.
"""

from __future__ import annotations

import contextlib
import os

from .base import Config, Engine, Placement, Unavailable

NAME = "torch"


def placement(target: str, request: str) -> Placement:
    import torch

    if request == "cpu":
        dev = torch.device("cpu")
        return Placement(request, "cpu", "cpu", lambda: dev)
    if not torch.cuda.is_available():
        raise Unavailable(f"{target}: device {request} is not available: torch {torch.__version__} sees no CUDA "
                          f"device (torch.cuda.is_available() is False; torch.version.cuda is {torch.version.cuda})")
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS
    # some CUDA kernels (pooling backward) have no deterministic version: warn instead of raising
    torch.use_deterministic_algorithms(True, warn_only=True)
    dev = torch.device("cuda", 0)
    return Placement(request, "cuda", f"cuda:0 {torch.cuda.get_device_name(0)}", lambda: dev)


def math_settings() -> dict:
    import torch

    return {"torch.backends.cudnn.allow_tf32": bool(torch.backends.cudnn.allow_tf32),
            "torch.backends.cuda.matmul.allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
            "torch.get_float32_matmul_precision()": torch.get_float32_matmul_precision()}


@contextlib.contextmanager
def full_float32():
    import torch

    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32,
             torch.get_float32_matmul_precision())
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved[:2]
        torch.set_float32_matmul_precision(saved[2])


def matmul(a, request: str):
    import torch

    device = torch.device("cpu") if request == "cpu" else torch.device("cuda", 0)
    t = torch.tensor(a, device=device)
    return torch.matmul(t, t).cpu().numpy()


def determinism() -> dict:
    import torch

    return {"use_deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
            "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
            "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
            "CUBLAS_WORKSPACE_CONFIG": os.environ.get("CUBLAS_WORKSPACE_CONFIG")}


def measure_kernels(config: Config | None) -> dict:
    import torch

    if config is not None and config.torch_mkldnn is not None:
        torch.backends.mkldnn.enabled = config.torch_mkldnn
    x, w = torch.zeros(8, 16, 16, 16), torch.zeros(16, 16, 3, 3)
    backend = torch._C._select_conv_backend(x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1, None)
    return {"capability": str(torch.backends.cpu.get_cpu_capability()),
            "conv_backend": str(backend).rsplit(".", 1)[-1]}


def kernel_path(state: dict) -> str | None:
    if state.get("conv_backend") != "Mkldnn":
        return "torch-onednn-off"
    return f"aten-{str(state.get('capability', '')).lower()}"


KERNELS = (
    Config("aten-avx512", NAME, "ATen's AVX-512 kernels (ATEN_CPU_CAPABILITY=avx512): the default on "
           "CPUs with AVX-512 F/BW/VL/DQ", env={"ATEN_CPU_CAPABILITY": "avx512"},
           cpu_flags=("avx512f", "avx512bw", "avx512vl", "avx512dq")),
    Config("aten-avx2", NAME, "ATen's AVX2 kernels (ATEN_CPU_CAPABILITY=avx2): the default on AVX2 CPUs "
           "without AVX-512", env={"ATEN_CPU_CAPABILITY": "avx2"}, cpu_flags=("avx2", "fma")),
    Config("aten-default", NAME, "ATen's non-vectorized kernels (ATEN_CPU_CAPABILITY=default): CPUs "
           "without AVX2 (and any build without vector kernels)", env={"ATEN_CPU_CAPABILITY": "default"}),
    Config("torch-onednn-off", NAME, "the machine's ATen capability with PyTorch's oneDNN (mkldnn) "
           "kernels switched off (torch.backends.mkldnn.enabled = False): builds without oneDNN",
           torch_mkldnn=False),
)

ENGINE = Engine(
    name=NAME,
    distributions=("torch",),
    placement=placement,
    math_settings=math_settings,
    full_float32=full_float32,
    matmul=matmul,
    determinism=determinism,
    deterministic_setting="use_deterministic_algorithms",
    keras_backend="torch",
    # Keras-on-torch compares torch.device("cpu") with the scope's name: "cpu:0" differs, so
    # convert_to_tensor would copy every variable on each use (no gradient reaches them)
    keras_devices={"cpu": "cpu", "cuda": "cuda:0"},
    accelerator_environment={"CUBLAS_WORKSPACE_CONFIG": ":4096:8"},
    kernel_settings=("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"),
    kernels=KERNELS,
    measure_kernels=measure_kernels,
    kernel_path=kernel_path,
)
