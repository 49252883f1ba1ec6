"""Where the CIFAR-10 data is looked for.

Order (the first that exists wins):

1. the path given explicitly (``--cifar-path`` / ``path=``); if it does not exist that is an error,
   there is no silent fallback;
2. the environment variable ``CIFAR10_PATH``; likewise;
3. the usual caches: Keras' ``~/.keras/datasets`` (Keras 3 extracts to
   ``cifar-10-batches-py-target/cifar-10-batches-py``, Keras 2 to ``cifar-10-batches-py``), and this
   project's cache directory (``$BNCONFORM_CACHE`` or ``~/.cache/bnconform``);
4. the offline JPEG copy next to the project, ``../shared/data/cifar10-jpeg.zip``.

A path may name the ``.tar.gz`` archive, the extracted ``cifar-10-batches-py`` folder, the JPEG
``.zip``, or a folder holding any of these. The official data comes before the JPEG copy among the
defaults because it is the data the course figures were measured on.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import DataNotFound

ENV_VAR = "CIFAR10_PATH"
CACHE_ENV_VAR = "BNCONFORM_CACHE"

ARCHIVE_NAME = "cifar-10-python.tar.gz"
KERAS_ARCHIVE_NAME = "cifar-10-batches-py.tar.gz"
FOLDER_NAME = "cifar-10-batches-py"
JPEG_NAME = "cifar10-jpeg.zip"

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # the clone (its sibling shared/ holds the data)
SHARED_JPEG = PROJECT_ROOT.parent / "shared" / "data" / JPEG_NAME


def cache_home() -> Path:
    """The project's cache directory: ``$BNCONFORM_CACHE``, else ``$XDG_CACHE_HOME/bnconform``."""
    if os.environ.get(CACHE_ENV_VAR):
        return Path(os.environ[CACHE_ENV_VAR]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "bnconform"


def default_candidates() -> list[Path]:
    """The default places, in the order they are tried."""
    keras = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser() / "datasets"
    own = cache_home() / "cifar10"
    return [
        keras / "cifar-10-batches-py-target" / FOLDER_NAME,
        keras / FOLDER_NAME,
        keras / ARCHIVE_NAME,
        keras / KERAS_ARCHIVE_NAME,
        own / FOLDER_NAME,
        own / ARCHIVE_NAME,
        own / JPEG_NAME,
        SHARED_JPEG,
    ]


def kind_of(path: Path) -> str | None:
    """``"official-dir"``, ``"official-tar"``, ``"jpeg-zip"`` or None for a path that is none of them."""
    if path.is_dir():
        if (path / "data_batch_1").exists() or (path / "batches.meta").exists():
            return "official-dir"
        return None
    if path.is_file():
        name = path.name.lower()
        if name.endswith((".tar.gz", ".tgz")):
            return "official-tar"
        if name.endswith(".zip"):
            return "jpeg-zip"
    return None


def resolve(path: Path) -> tuple[Path, str] | None:
    """The data file or folder at or directly inside ``path``, with its kind."""
    path = path.expanduser()
    kind = kind_of(path)
    if kind:
        return path, kind
    if path.is_dir():
        for name in (FOLDER_NAME, ARCHIVE_NAME, KERAS_ARCHIVE_NAME, JPEG_NAME):
            inner = path / name
            kind = kind_of(inner)
            if kind:
                return inner, kind
        inner = path / "cifar-10-batches-py-target" / FOLDER_NAME
        if kind_of(inner):
            return inner, "official-dir"
    return None


def where_to_put() -> str:
    """The help text of a missing-data message."""
    return (
        "CIFAR-10 not found. Put the official 'cifar-10-python.tar.gz' (or its extracted "
        f"'cifar-10-batches-py/') or the JPEG copy '{JPEG_NAME}' somewhere and point to it with "
        f"--cifar-path PATH or the environment variable {ENV_VAR}=PATH, or place it in "
        f"~/.keras/datasets/ or {cache_home() / 'cifar10'}/. The offline JPEG copy is expected at "
        f"{SHARED_JPEG}."
    )


def locate(explicit: str | os.PathLike | None = None) -> tuple[Path, str]:
    """Find the data: returns ``(path, kind)`` or raises :class:`DataNotFound`."""
    for label, value in (("given path", explicit), (ENV_VAR, os.environ.get(ENV_VAR))):
        if value:
            found = resolve(Path(value))
            if found is None:
                raise DataNotFound(
                    f"{label} {value!s} is not a CIFAR-10 archive, folder or JPEG zip "
                    f"(nor a folder holding one). {where_to_put()}"
                )
            return found
    for candidate in default_candidates():
        found = resolve(candidate) if candidate.exists() else None
        if found:
            return found
    looked = ", ".join(str(c) for c in default_candidates())
    raise DataNotFound(f"{where_to_put()} Looked in: {looked}.")
