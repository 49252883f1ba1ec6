"""``load()``: the CIFAR-10 arrays of one data copy, and what identifies that copy.

A data copy is identified by the sha256 of its decoded pixels and labels (``Cifar10.sha256``): that is
what the networks see, so it is what baselines are keyed on. The same official data read from the
``.tar.gz`` or from the extracted folder has the same key; the JPEG copy has its own, and so would the
JPEG copy decoded by a JPEG library that rounds differently. ``file_sha256`` identifies the file(s) read.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import cache
from .locate import locate

SOURCES = {"official-dir": "official", "official-tar": "official", "jpeg-zip": "jpeg"}


@dataclass(frozen=True)
class Cifar10:
    """Images NHWC ``uint8`` and labels ``uint8`` (0..9), train and test."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str  # "official" or "jpeg"
    path: str
    file_sha256: str
    sha256: str
    decoder: str | None

    def describe(self) -> dict:
        """The data part of a run record (``n_train``/``n_test`` are filled by the caller)."""
        return {"source": self.source, "sha256": self.sha256, "file_sha256": self.file_sha256,
                "decoder": self.decoder, "path": self.path}


def file_sha256(path: Path) -> str:
    """sha256 of a file, or of a folder's regular files (names and contents, sorted by name)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(file.name.encode() + b"\0")
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def content_sha256(x_train, y_train, x_test, y_test) -> str:
    """sha256 of the decoded arrays (shapes, then bytes, in a fixed order)."""
    digest = hashlib.sha256()
    for array in (x_train, y_train, x_test, y_test):
        array = np.ascontiguousarray(array)
        digest.update(repr((array.shape, array.dtype.str)).encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def _decode(path: Path, kind: str):
    if kind == "jpeg-zip":
        from .jpeg import decoder_version, read_jpeg_zip

        return read_jpeg_zip(path), decoder_version()
    from .official import read_official

    return read_official(path), None


def load(path: str | os.PathLike | None = None, use_cache: bool = True) -> Cifar10:
    """Locate (see :mod:`bnconform.cifar.locate`), verify and decode CIFAR-10, through the cache."""
    where, kind = locate(path)
    fingerprint = file_sha256(where)
    decoder_tag = "pickle" if kind.startswith("official") else _decoder_tag()
    key = cache.entry_key(kind, fingerprint, decoder_tag)
    hit = cache.load_entry(key) if use_cache else None
    if hit is not None:
        arrays, meta = hit
    else:
        (x_train, y_train, x_test, y_test), decoder = _decode(where, kind)
        arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
        meta = {"sha256": content_sha256(x_train, y_train, x_test, y_test), "decoder": decoder}
        if use_cache:
            cache.store_entry(key, arrays, meta)
    return Cifar10(
        **arrays, source=SOURCES[kind], path=str(where), file_sha256=fingerprint,
        sha256=meta["sha256"], decoder=meta["decoder"],
    )


def _decoder_tag() -> str:
    from .jpeg import decoder_version

    return decoder_version()
