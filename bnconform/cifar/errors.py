"""Exceptions of the CIFAR-10 data layer.

Every message names the file (or the archive member) it is about, so that a user can act on it.
"""

from __future__ import annotations


class DataError(Exception):
    """Base class of the data layer's errors."""


class DataNotFound(DataError):
    """No copy of CIFAR-10 was found; the message lists where it was looked for."""


class ChecksumMismatch(DataError):
    """A file's md5/sha256 differs from the expected one."""


class CorruptData(DataError):
    """A file could not be read, or does not have the structure its format prescribes."""


class UnsafePickle(CorruptData):
    """A pickle asked for a global outside the small set the CIFAR-10 format needs."""
