"""Builders of small fake CIFAR-10 copies with the real formats' structure (for loader tests)."""

from __future__ import annotations

import hashlib
import io
import pickle
import struct
import tarfile
import zipfile
from pathlib import Path

import numpy as np

from bnconform.cifar.unpickle import CLASSES

BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
           "test_batch")


def images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8),
            rng.integers(0, 10, size=n).astype(np.uint8))


class Py2Pickler(pickle._Pickler):
    """Protocol 2 as Python 2 wrote it: byte strings are ``str`` (BINSTRING), as in the official
    files; Python 3 would write them as calls to ``_codecs.encode``, a global the format never uses."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def py2_dumps(obj) -> bytes:
    buffer = io.BytesIO()
    Py2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def batch_pickle(x: np.ndarray, y: np.ndarray, label: str) -> bytes:
    """A batch as the official files hold it: a dict, CHW planes per row, Python 2 protocol 2."""
    data = np.ascontiguousarray(x.transpose(0, 3, 1, 2).reshape(len(x), -1))
    batch = {"batch_label": label, "labels": [int(v) for v in y], "data": data,
             "filenames": [f"img_{i}.png" for i in range(len(x))]}
    return py2_dumps(batch)


def meta_pickle() -> bytes:
    return py2_dumps({"num_cases_per_batch": 4, "label_names": list(CLASSES), "num_vis": 3072})


def official_folder(root: Path, per_batch: int = 4) -> tuple[Path, dict, dict]:
    """``(folder, md5 per file, arrays)`` of a fake ``cifar-10-batches-py``."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    xs, ys = [], []
    for i, name in enumerate(BATCHES):
        x, y = images(per_batch, i)
        (folder / name).write_bytes(batch_pickle(x, y, name))
        xs.append(x)
        ys.append(y)
    (folder / "batches.meta").write_bytes(meta_pickle())
    md5 = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    arrays = {"x_train": np.concatenate(xs[:5]), "y_train": np.concatenate(ys[:5]),
              "x_test": xs[5], "y_test": ys[5]}
    return folder, md5, arrays


def official_tar(folder: Path) -> Path:
    path = folder.parent / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return path


def jpeg_zip(path: Path, per_class: dict) -> dict:
    """A JPEG copy with constant-colour images; returns ``{member: (colour, label)}``."""
    from PIL import Image

    rng = np.random.default_rng(0)
    content = {}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for split, count in per_class.items():
            for label, cls in enumerate(CLASSES):
                for number in range(count):
                    colour = tuple(int(c) for c in rng.integers(30, 220, size=3))
                    buffer = io.BytesIO()
                    Image.new("RGB", (32, 32), colour).save(buffer, format="JPEG", quality=95)
                    name = f"{split}/{cls}/{number:04d}.jpg"
                    zf.writestr(name, buffer.getvalue())
                    content[name] = (colour, label)
    return content
