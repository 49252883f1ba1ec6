"""The data order every framework shares, and the fixed split of the data.

Random streams: every use of randomness derives its own NumPy generator from the run seed and a
purpose (``stream(seed, purpose, index)``, a ``SeedSequence`` spawn key), so that adding a use never
shifts another: initial weights, the order of each epoch, the frameworks' dropout seeds.

The subset a profile trains on and the validation split are fixed per data copy, independent of the
run seed (permutation with :data:`DATA_SEED`): seeds vary the initial weights, the epoch order and
dropout, not which images are used. The JPEG copy is grouped by class, so this permutation is what
makes a subset balanced.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DATA_SEED = 20_150_211  # Ioffe and Szegedy's arXiv submission date; any constant would do
PURPOSES = {"weights": 0, "epoch": 1, "dropout": 2}


def stream(seed: int, purpose: str, index: int = 0) -> np.random.Generator:
    """An independent generator for ``purpose`` ("weights", "epoch", "dropout") and ``index``."""
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(PURPOSES[purpose], index)))


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order in which the ``n`` training images are visited in ``epoch`` (0-based)."""
    return stream(seed, "epoch", epoch).permutation(n)


def framework_seed(seed: int) -> int:
    """The seed handed to a framework's own generator (dropout masks), derived from ``seed``."""
    return int(stream(seed, "dropout").integers(2**31 - 1))


@dataclass(frozen=True)
class Split:
    """uint8 images and labels of train, validation (per epoch) and test (all test images)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def fixed_subset(n_total: int, n: int | None) -> np.ndarray:
    """The first ``n`` indices (all if None) of the fixed permutation, in permuted order.

    Permuted even for all images: a validation split taken from the end of the JPEG copy's file
    order would hold trucks only.
    """
    perm = np.random.default_rng(DATA_SEED).permutation(n_total)
    return perm if n is None else perm[:n]


def split(data, n_train: int | None, n_val: int | None, validation_split: float,
          n_test: int | None = None) -> Split:
    """Train/validation/test for one profile and architecture.

    ``validation_split == 0``: validate on (the first ``n_val`` of the fixed permutation of) the test
    images (model A, as the first lecture did). Otherwise the last ``validation_split`` of the
    (sub)set of training images is held out, as Keras' ``fit(validation_split=...)`` does (model B).
    The test set is all test images, in file order (every profile), or the first ``n_test`` of their
    fixed permutation (a custom run that needs fewer, the determinism test's).
    """
    train = fixed_subset(len(data.y_train), n_train)
    x_all, y_all = np.asarray(data.x_test), np.asarray(data.y_test)
    keep = fixed_subset(len(y_all), n_test) if n_test is not None else slice(None)
    x_test, y_test = x_all[keep], y_all[keep]
    x, y = np.asarray(data.x_train[train]), np.asarray(data.y_train[train])
    if not validation_split:
        val = fixed_subset(len(y_all), n_val)
        return Split(x, y, x_all[val], y_all[val], x_test, y_test)
    cut = len(y) - int(round(len(y) * validation_split))
    return Split(x[:cut], y[:cut], x[cut:], y[cut:], x_test, y_test)
