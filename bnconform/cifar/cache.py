"""Cache of decoded CIFAR-10 arrays.

Decoding the JPEG copy takes about 11 s and the official batches a few seconds, so the decoded
arrays are kept as ``.npy`` files under ``<cache home>/cifar10/<key>/`` (``$BNCONFORM_CACHE`` or
``~/.cache/bnconform``; never inside the repository) and memory-mapped on reuse. The key holds the
source file's sha256 and the decoder version, so a new data file or a new JPEG decoder decodes
afresh. Entries are written to a temporary folder and renamed into place, so a crash never leaves
a half-written entry behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .locate import cache_home

ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def cache_dir() -> Path:
    return cache_home() / "cifar10"


def entry_key(kind: str, file_sha256: str, decoder: str) -> str:
    tag = hashlib.sha256(decoder.encode()).hexdigest()[:8]
    return f"{kind}-{file_sha256[:16]}-{tag}"


def load_entry(key: str) -> tuple[dict, dict] | None:
    """``(arrays, meta)`` of a complete entry (arrays memory-mapped), or None."""
    folder = cache_dir() / key
    try:
        meta = json.loads((folder / "meta.json").read_text())
        arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in ARRAYS}
    except (OSError, ValueError):
        return None
    return arrays, meta


def store_entry(key: str, arrays: dict, meta: dict) -> None:
    """Write an entry atomically; a concurrent writer of the same key is harmless."""
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=root))
    try:
        for name in ARRAYS:
            np.save(staging / f"{name}.npy", np.ascontiguousarray(arrays[name]))
        (staging / "meta.json").write_text(json.dumps(meta, indent=1))
        try:
            os.rename(staging, root / key)
        except OSError:  # another process stored it first
            pass
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
