"""Reader of the offline JPEG copy of CIFAR-10 (``cifar10-jpeg.zip``).

Layout: ``train/<class>/NNNN.jpg`` and ``test/<class>/NNNN.jpg``, 32x32 RGB JPEG files, classes in the
official label order. The copy is grouped by class, so the arrays come out in a canonical order
(split, class, file number) and every user shuffles with a seed. The pixels went through JPEG
compression: they are close to, not equal to, the official ones, so baselines are per data copy.
The zip's CRC-32 of every member is checked as it is read.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np

from .errors import CorruptData
from .unpickle import CLASSES

MEMBER = re.compile(r"^(train|test)/([a-z]+)/(\d+)\.jpg$")
EXPECTED_COUNTS = {"train": 50_000, "test": 10_000}


def decoder_version() -> str:
    """The decoder whose output the cache and the baselines depend on."""
    import PIL
    from PIL import features

    turbo = features.version("libjpeg_turbo")
    library = f"libjpeg-turbo {turbo}" if turbo else f"libjpeg {features.version('jpg')}"
    return f"Pillow {PIL.__version__}, {library}"


def _members(archive: zipfile.ZipFile, path: Path, expected: dict | None) -> dict[str, list]:
    """Member names per split in canonical order; checks names and counts."""
    splits: dict[str, list] = {"train": [], "test": []}
    for name in archive.namelist():
        if name.endswith("/"):
            continue
        match = MEMBER.match(name)
        if not match or match.group(2) not in CLASSES:
            raise CorruptData(f"{path}:{name}: unexpected member (not <split>/<class>/NNNN.jpg)")
        split, cls, number = match.groups()
        splits[split].append((CLASSES.index(cls), int(number), name))
    for split, items in splits.items():
        items.sort()
        if expected is not None and len(items) != expected[split]:
            raise CorruptData(
                f"{path}: {len(items)} {split} images, expected {expected[split]}"
            )
    return splits


def _decode(data: bytes, label: str) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.size != (32, 32):
                raise CorruptData(f"{label}: image is {image.size}, expected (32, 32)")
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except CorruptData:
        raise
    except Exception as exc:
        raise CorruptData(f"{label}: not a decodable JPEG ({type(exc).__name__}: {exc})") from None


def read_jpeg_zip(
    path: Path, expected: dict | None | str = "default"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_test, y_test)``, NHWC uint8, in canonical order.

    ``expected``: image counts per split (default :data:`EXPECTED_COUNTS`; None: any).
    """
    path = Path(path)
    if expected == "default":
        expected = EXPECTED_COUNTS
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise CorruptData(f"{path}: not a readable zip ({exc})") from None
    with archive:
        splits = _members(archive, path, expected)
        out = []
        for split in ("train", "test"):
            items = splits[split]
            images = np.empty((len(items), 32, 32, 3), dtype=np.uint8)
            labels = np.empty((len(items),), dtype=np.uint8)
            for i, (label, _, name) in enumerate(items):
                try:
                    data = archive.read(name)
                except (zipfile.BadZipFile, OSError, EOFError) as exc:
                    raise CorruptData(f"{path}:{name}: {exc}") from None
                images[i] = _decode(data, f"{path}:{name}")
                labels[i] = label
            out += [images, labels]
    return tuple(out)
