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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike, data: str | bytes, *, fsync: bool = True,
                 fsync_directory: bool | None = None) -> None:
    """Replace the file at ``path`` with ``data`` atomically.

    ``data`` given as ``str`` is encoded as UTF-8. The parent directory must exist.
    On any failure the temporary file is removed and the previous file is untouched.
    The file gets the usual permissions (``0o666`` less the umask), not ``mkstemp``'s 0600.

    ``fsync`` flushes the file's data before the rename; ``fsync_directory`` (default:
    same as ``fsync``) also makes the rename itself durable. Neither is needed against a
    killed process (the page cache survives it), only against an OS crash or power loss;
    a writer that replaces the same file many times may skip the directory ``fsync`` on
    all but the last write.
    """
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
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
    if fsync if fsync_directory is None else fsync_directory:
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
