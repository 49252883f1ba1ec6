"""Atomic file replacement.

A reader of a path written with :func:`write_atomic` sees either the previous complete
file or the new complete file, never a torn one, even if the writer is killed half-way
(SIGKILL, a segfault in a framework, power loss after the rename is durable).

The recipe is the usual one: write a temporary file in the *same directory* (so that
the final rename does not cross a file system), flush and ``fsync`` it, ``os.replace``
it over the target (atomic on POSIX and on Windows), then ``fsync`` the directory so the
rename itself survives a crash.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(path: str | os.PathLike, data: str | bytes, *, fsync: bool = True) -> None:
    """Replace the file at ``path`` with ``data`` atomically.

    ``data`` given as ``str`` is encoded as UTF-8. The parent directory must exist.
    On any failure the temporary file is removed and the previous file is untouched.
    """
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if fsync:
        _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable; a no-op where directories cannot be opened."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
