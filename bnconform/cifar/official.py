"""Reader of the official CIFAR-10 python format.

Accepts ``cifar-10-python.tar.gz`` (read in place, never extracted to disk) or its extracted folder
``cifar-10-batches-py/``. Every file is md5-checked against the published checksums (the archive as a
whole, and each batch) before it is unpickled with :mod:`bnconform.cifar.unpickle`.
"""

from __future__ import annotations

import hashlib
import tarfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .errors import ChecksumMismatch, CorruptData, DataNotFound
from .unpickle import check_batch, check_meta, loads

ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
MEMBER_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}
TRAIN = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5")
TEST = ("test_batch",)


def md5_of(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check(name: str, base: str, data: bytes, checksums: Mapping[str, str]) -> bytes:
    """``data`` if its md5 is ``checksums[base]``; ``name`` is how errors call the file."""
    expected = checksums[base]
    actual = md5_of(data)
    if actual != expected:
        raise ChecksumMismatch(f"{name}: md5 {actual} differs from the expected {expected}")
    return data


def _read_members(path: Path, checksums: Mapping[str, str], archive_md5: str | None) -> dict:
    """The raw bytes of every member, md5-checked, keyed by base name."""
    members: dict[str, bytes] = {}
    if path.is_dir():
        for base in checksums:
            file = path / base
            if not file.exists():
                raise DataNotFound(f"{file}: missing from the CIFAR-10 folder")
            members[base] = _check(str(file), base, file.read_bytes(), checksums)
        return members
    if archive_md5 is not None:
        actual = file_md5(path)
        if actual != archive_md5:
            raise ChecksumMismatch(f"{path}: md5 {actual} differs from the expected {archive_md5}")
    try:
        with tarfile.open(path, "r:gz") as tar:
            for info in tar:
                base = Path(info.name).name
                if info.isfile() and base in checksums:
                    handle = tar.extractfile(info)
                    members[base] = _check(f"{path}:{info.name}", base, handle.read(), checksums)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise CorruptData(f"{path}: not a readable .tar.gz ({exc})") from None
    missing = sorted(set(checksums) - set(members))
    if missing:
        raise CorruptData(f"{path}: members missing from the archive: {missing}")
    return members


def read_official(
    path: Path,
    checksums: Mapping[str, str] = MEMBER_MD5,
    archive_md5: str | None = ARCHIVE_MD5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_test, y_test)``: NHWC uint8 images and uint8 labels, official order.

    ``checksums`` maps each file's base name to its md5 and ``archive_md5`` is the archive's (None to
    skip it); the defaults are the published values, the tests pass their own for a fake copy.
    """
    path = Path(path)
    members = _read_members(path, checksums, archive_md5)
    where = (lambda base: str(path / base)) if path.is_dir() else (lambda base: f"{path}:{base}")
    if "batches.meta" in members:
        check_meta(loads(members["batches.meta"], where("batches.meta")), where("batches.meta"))

    def stack(names):
        parts = [check_batch(loads(members[n], where(n)), where(n)) for n in names]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    x_train, y_train = stack([n for n in TRAIN if n in checksums])
    x_test, y_test = stack([n for n in TEST if n in checksums])
    return x_train, y_train, x_test, y_test
