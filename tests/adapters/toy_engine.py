"""A toy engine: NumPy as a framework engine, in one file, as ``docs/design.md`` shows a new engine.

Its record (:data:`ENGINE`) states what every engine states (``bnconform.engines.Engine``): a
placement (the host only: NumPy has no accelerator, so ``cuda`` is ``Unavailable`` naming it), its
float32 math mode (NumPy has no reduced-precision mode: one setting, nothing to switch), a matrix
product, its determinism, one named kernel configuration and how it is measured, the environment
variable that selects its kernels (which the environment report then records). The toy adapter
(``toy_adapter.py``) names it as its engine; registering it is one call,
``bnconform.engines.register(ENGINE)``, made by the toy adapter's plugin hook and by the tests.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np

from bnconform.engines import Config, Engine, Placement, Unavailable

NAME = "numpy"
#: the toy's kernel switch: which the environment report records, and the kernel path reads back
SWITCH = "BNCONFORM_TOY_KERNELS"


def placement(target: str, request: str) -> Placement:
    if request != "cpu":
        raise Unavailable(f"{target}: device {request} is not available: numpy {np.__version__} has no accelerator")
    return Placement(request, "cpu", f"cpu (numpy {np.__version__})")


def math_settings() -> dict:
    return {"numpy.float32_matmul": "float32"}


def matmul(a, request: str):
    a = np.asarray(a, np.float32)
    return np.matmul(a, a)


def determinism() -> dict:
    return {"deterministic": True}


def measure_kernels(config: Config | None) -> dict:
    return {"loops": os.environ.get(SWITCH, "plain")}


def kernel_path(state: dict) -> str | None:
    return f"numpy-{state.get('loops')}"


KERNELS = (Config("numpy-plain", NAME, f"NumPy's own loops ({SWITCH}=plain, the default)", env={SWITCH: "plain"}),)

ENGINE = Engine(
    name=NAME,
    distributions=("numpy",),
    placement=placement,
    math_settings=math_settings,
    full_float32=contextlib.nullcontext,
    matmul=matmul,
    determinism=determinism,
    deterministic_setting="deterministic",
    kernel_settings=(SWITCH,),
    kernels=KERNELS,
    measure_kernels=measure_kernels,
    kernel_path=kernel_path,
)
