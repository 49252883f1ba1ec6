"""A restricted unpickler for the CIFAR-10 python batches.

The official batches are Python 2 pickles of plain dicts holding an ``uint8`` NumPy array, lists of
ints and strings. Unpickling them needs exactly three globals: ``numpy.core.multiarray._reconstruct``
(``numpy._core`` in NumPy 2 pickles), ``numpy.ndarray`` and ``numpy.dtype``. Any other global, the
usual way a malicious pickle runs code (``os.system``, ``builtins.eval``, ...), is refused before it
is resolved, and so are persistent ids. The caller then checks the structure of what came out
(:func:`check_batch`, :func:`check_meta`), so that only the arrays and lists the format holds pass.
"""

from __future__ import annotations

import io
import pickle

import numpy as np

from .errors import CorruptData, UnsafePickle

try:  # NumPy >= 2
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core.multiarray import _reconstruct

ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}

CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
PIXELS = 32 * 32 * 3


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler resolving only :data:`ALLOWED_GLOBALS`."""

    def find_class(self, module: str, name: str):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafePickle(f"global '{module}.{name}' is not allowed") from None

    def persistent_load(self, pid):
        raise UnsafePickle("persistent ids are not allowed")


def loads(data: bytes, name: str):
    """Unpickle ``data`` (Python 2 strings decoded as latin-1); errors name ``name``."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except UnsafePickle as exc:
        raise UnsafePickle(f"{name}: refused to unpickle: {exc}") from None
    except Exception as exc:  # truncated or garbled: pickle raises many types
        raise CorruptData(f"{name}: not a readable pickle ({type(exc).__name__}: {exc})") from None


def check_batch(obj, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate one data batch; return images ``(n, 32, 32, 3) uint8`` and labels ``(n,) uint8``."""
    if not isinstance(obj, dict):
        raise CorruptData(f"{name}: expected a dict, got {type(obj).__name__}")
    missing = {"data", "labels"} - set(obj)
    if missing:
        raise CorruptData(f"{name}: missing keys {sorted(missing)}")
    unexpected = set(obj) - {"batch_label", "data", "labels", "filenames"}
    if unexpected:
        raise CorruptData(f"{name}: unexpected keys {sorted(map(str, unexpected))}")
    data, labels = obj["data"], obj["labels"]
    if not (isinstance(data, np.ndarray) and type(data) is np.ndarray and data.dtype == np.uint8
            and data.ndim == 2 and data.shape[1] == PIXELS):
        raise CorruptData(f"{name}: 'data' must be a uint8 array of shape (n, {PIXELS})")
    if not (isinstance(labels, list) and all(type(v) is int and 0 <= v < 10 for v in labels)):
        raise CorruptData(f"{name}: 'labels' must be a list of ints in 0..9")
    if len(labels) != data.shape[0]:
        raise CorruptData(f"{name}: {len(labels)} labels for {data.shape[0]} images")
    filenames = obj.get("filenames", [])
    if not (isinstance(filenames, list) and all(isinstance(v, (str, bytes)) for v in filenames)):
        raise CorruptData(f"{name}: 'filenames' must be a list of strings")
    if not isinstance(obj.get("batch_label", ""), (str, bytes)):
        raise CorruptData(f"{name}: 'batch_label' must be a string")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # CHW planes -> NHWC
    return np.ascontiguousarray(images), np.asarray(labels, dtype=np.uint8)


def check_meta(obj, name: str) -> None:
    """Validate ``batches.meta``: the ten class names in the official order."""
    if not isinstance(obj, dict) or "label_names" not in obj:
        raise CorruptData(f"{name}: expected a dict with 'label_names'")
    names = obj["label_names"]
    if not isinstance(names, list) or tuple(names) != CLASSES:
        raise CorruptData(f"{name}: 'label_names' is not the CIFAR-10 class list")
