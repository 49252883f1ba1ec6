"""The CIFAR-10 loader: official format (md5, restricted unpickler, structure), JPEG copy, cache,
where the data is looked for."""

from __future__ import annotations

import hashlib
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from bnconform.cifar import cache, dataset, locate
from bnconform.cifar.errors import ChecksumMismatch, CorruptData, DataNotFound, UnsafePickle
from bnconform.cifar.jpeg import read_jpeg_zip
from bnconform.cifar.official import MEMBER_MD5, read_official
from bnconform.cifar.unpickle import loads

from . import fakes


@pytest.fixture
def fake(tmp_path):
    return fakes.official_folder(tmp_path)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own cache and no data from the environment or the home folder."""
    monkeypatch.setenv("BNCONFORM_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CIFAR10_PATH", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))


# -- official format ------------------------------------------------------------------------------

def test_folder_round_trip(fake):
    folder, md5, arrays = fake
    x_train, y_train, x_test, y_test = read_official(folder, checksums=md5)
    np.testing.assert_array_equal(x_train, arrays["x_train"])  # CHW planes became NHWC
    np.testing.assert_array_equal(y_train, arrays["y_train"])
    np.testing.assert_array_equal(x_test, arrays["x_test"])
    np.testing.assert_array_equal(y_test, arrays["y_test"])
    assert x_train.shape == (20, 32, 32, 3) and x_train.dtype == np.uint8


def test_tar_round_trip_and_archive_md5(fake):
    folder, md5, arrays = fake
    tar = fakes.official_tar(folder)
    tar_md5 = hashlib.md5(tar.read_bytes()).hexdigest()
    x_train, *_ = read_official(tar, checksums=md5, archive_md5=tar_md5)
    np.testing.assert_array_equal(x_train, arrays["x_train"])
    with pytest.raises(ChecksumMismatch, match="cifar-10-python.tar.gz: md5"):
        read_official(tar, checksums=md5, archive_md5="0" * 32)


def test_official_checksums_reject_a_fake_and_name_the_file(fake):
    folder, _, _ = fake
    with pytest.raises(ChecksumMismatch) as info:
        read_official(folder)  # the published md5s
    assert str(folder / "batches.meta") in str(info.value) or "data_batch_1" in str(info.value)
    assert MEMBER_MD5["data_batch_1"] == "c99cafc152244af753f735de768cd75f"


def test_modified_byte_is_a_checksum_error_naming_the_file(fake):
    folder, md5, _ = fake
    path = folder / "data_batch_3"
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ChecksumMismatch, match=r"data_batch_3: md5 [0-9a-f]{32} differs"):
        read_official(folder, checksums=md5)


def test_truncated_file_is_a_clear_error_naming_it(fake):
    folder, md5, _ = fake
    path = folder / "test_batch"
    path.write_bytes(path.read_bytes()[:500])
    md5["test_batch"] = hashlib.md5(path.read_bytes()).hexdigest()  # intact checksum, broken pickle
    with pytest.raises(CorruptData, match=r"test_batch: not a readable pickle"):
        read_official(folder, checksums=md5)


def test_missing_file_is_named(fake):
    folder, md5, _ = fake
    (folder / "data_batch_5").unlink()
    with pytest.raises(DataNotFound, match="data_batch_5"):
        read_official(folder, checksums=md5)


class _Payload:
    """Unpickling this runs ``os.system(command)`` with a plain unpickler."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_malicious_pickle_is_refused_before_it_runs(fake, tmp_path):
    folder, md5, _ = fake
    marker = tmp_path / "pwned"
    evil = pickle.dumps({"data": _Payload(f"touch {marker}"), "labels": []}, protocol=2)
    (folder / "data_batch_2").write_bytes(evil)
    md5["data_batch_2"] = hashlib.md5(evil).hexdigest()
    with pytest.raises(UnsafePickle, match=r"data_batch_2: refused to unpickle: global '(posix|os)\.system'"):
        read_official(folder, checksums=md5)
    assert not marker.exists()
    pickle.loads(evil)  # the control: a plain unpickler does run it
    assert marker.exists()


def test_unpickler_accepts_arrays_and_refuses_other_globals():
    array = np.arange(6, dtype=np.uint8).reshape(2, 3)
    np.testing.assert_array_equal(loads(fakes.py2_dumps(array), "x"), array)
    with pytest.raises(UnsafePickle, match="_frombuffer"):  # NumPy's protocol 5 form: not CIFAR's
        loads(pickle.dumps(array, protocol=5), "x")
    with pytest.raises(UnsafePickle, match=r"x: refused to unpickle: global '(builtins|__builtin__)\.eval'"):
        loads(pickle.dumps(eval, protocol=2), "x")
    with pytest.raises(UnsafePickle, match="global 'collections.OrderedDict'"):
        loads(pickle.dumps(__import__("collections").OrderedDict(a=1), protocol=2), "x")
    with pytest.raises(UnsafePickle, match="global '_codecs.encode'"):  # Python 3 bytes, protocol 2
        loads(pickle.dumps(b"abc", protocol=2), "x")


@pytest.mark.parametrize("bad, message", [
    ({"data": np.zeros((2, 3072), np.float32), "labels": [0, 1]}, "'data' must be a uint8 array"),
    ({"data": np.zeros((2, 3072), object), "labels": [0, 1]}, "'data' must be a uint8 array"),
    ({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 10]}, "'labels' must be a list of ints"),
    ({"data": np.zeros((2, 3072), np.uint8), "labels": [0]}, "1 labels for 2 images"),
    ({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1], "extra": 1}, "unexpected keys"),
    ([1, 2, 3], "expected a dict"),
])
def test_structure_is_checked(fake, bad, message):
    folder, md5, _ = fake
    blob = fakes.py2_dumps(bad)
    (folder / "data_batch_4").write_bytes(blob)
    md5["data_batch_4"] = hashlib.md5(blob).hexdigest()
    with pytest.raises(CorruptData, match=f"data_batch_4: .*{message}"):
        read_official(folder, checksums=md5)


# -- JPEG copy ----------------------------------------------------------------------------------

def test_jpeg_zip_order_labels_and_pixels(tmp_path):
    path = tmp_path / "cifar10-jpeg.zip"
    content = fakes.jpeg_zip(path, {"train": 3, "test": 2})
    x_train, y_train, x_test, y_test = read_jpeg_zip(path, expected={"train": 30, "test": 20})
    assert x_train.shape == (30, 32, 32, 3) and x_test.shape == (20, 32, 32, 3)
    np.testing.assert_array_equal(y_train, np.repeat(np.arange(10), 3))  # class, then number
    np.testing.assert_array_equal(y_test, np.repeat(np.arange(10), 2))
    colour, label = content["train/cat/0002.jpg"]
    image = x_train[3 * 3 + 2]
    # a constant 32x32 colour survives JPEG at quality 95 up to the DC quantization step
    # (1 at this quality) and YCbCr rounding (1 level per conversion): within 2 levels
    assert np.abs(image.astype(int) - np.array(colour)).max() <= 2
    assert label == 3


def test_jpeg_counts_are_checked(tmp_path):
    path = tmp_path / "cifar10-jpeg.zip"
    fakes.jpeg_zip(path, {"train": 1, "test": 1})
    with pytest.raises(CorruptData, match="10 train images, expected 50000"):
        read_jpeg_zip(path)


def test_jpeg_damaged_member_is_named(tmp_path):
    path = tmp_path / "cifar10-jpeg.zip"
    fakes.jpeg_zip(path, {"train": 1, "test": 1})
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("train/dog/0000.jpg")
    data = bytearray(path.read_bytes())
    data[info.header_offset + 30 + len(info.filename) + 200] ^= 0xFF  # inside the stored JPEG
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptData, match=r"cifar10-jpeg.zip:train/dog/0000.jpg: .*CRC"):
        read_jpeg_zip(path, expected=None)


def test_jpeg_unexpected_member(tmp_path):
    path = tmp_path / "cifar10-jpeg.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("train/unicorn/0000.jpg", b"x")
    with pytest.raises(CorruptData, match="train/unicorn/0000.jpg: unexpected member"):
        read_jpeg_zip(path, expected=None)


def test_not_a_zip(tmp_path):
    path = tmp_path / "cifar10-jpeg.zip"
    path.write_bytes(b"not a zip")
    with pytest.raises(CorruptData, match="cifar10-jpeg.zip: not a readable zip"):
        read_jpeg_zip(path)


# -- locating the data --------------------------------------------------------------------------

def test_explicit_path_wins_and_a_wrong_one_is_an_error(fake, tmp_path, monkeypatch):
    folder, _, _ = fake
    assert locate.locate(folder) == (folder, "official-dir")
    assert locate.locate(folder.parent) == (folder, "official-dir")  # a folder holding it
    monkeypatch.setenv("CIFAR10_PATH", str(tmp_path / "elsewhere"))
    assert locate.locate(folder) == (folder, "official-dir")  # the option before the variable
    with pytest.raises(DataNotFound, match="CIFAR10_PATH .*elsewhere is not a CIFAR-10"):
        locate.locate()
    with pytest.raises(DataNotFound, match="given path .*nowhere"):
        locate.locate(tmp_path / "nowhere")


def test_keras_cache_is_found(tmp_path, monkeypatch):
    keras_dir = tmp_path / "keras-home" / "datasets" / "cifar-10-batches-py-target"
    folder, _, _ = fakes.official_folder(keras_dir)
    assert locate.locate() == (folder, "official-dir")


def test_missing_data_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setattr(locate, "SHARED_JPEG", tmp_path / "no" / "cifar10-jpeg.zip")
    with pytest.raises(DataNotFound) as info:
        locate.locate()
    text = str(info.value)
    assert "cifar-10-python.tar.gz" in text and "CIFAR10_PATH" in text and "--cifar-path" in text
    assert "cifar10-jpeg.zip" in text and "Looked in:" in text


def test_load_names_the_corrupt_file(fake, monkeypatch):
    folder, _, _ = fake
    monkeypatch.setenv("CIFAR10_PATH", str(folder))
    with pytest.raises(ChecksumMismatch, match=r"cifar-10-batches-py/\w+"):
        dataset.load()


# -- cache ----------------------------------------------------------------------------------------

def test_decoded_arrays_are_cached(tmp_path, monkeypatch):
    path = tmp_path / "cifar10-jpeg.zip"
    fakes.jpeg_zip(path, {"train": 1, "test": 1})
    monkeypatch.setattr("bnconform.cifar.jpeg.EXPECTED_COUNTS", None)
    first = dataset.load(path)
    assert first.source == "jpeg" and len(first.y_train) == 10
    assert len(list(cache.cache_dir().iterdir())) == 1
    assert str(cache.cache_dir()).startswith(str(tmp_path))  # never inside the repository

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again although cached")

    monkeypatch.setattr(dataset, "_decode", no_decoding)
    second = dataset.load(path)
    assert second.sha256 == first.sha256
    np.testing.assert_array_equal(second.x_train, first.x_train)
    path.write_bytes(path.read_bytes() + b"\0")  # a different file is a different cache key
    with pytest.raises(AssertionError, match="decoded again"):
        dataset.load(path)


def test_content_sha256_identifies_pixels_not_files(fake):
    folder, md5, _ = fake
    arrays = read_official(folder, checksums=md5)
    tar_arrays = read_official(fakes.official_tar(folder), checksums=md5, archive_md5=None)
    assert dataset.content_sha256(*arrays) == dataset.content_sha256(*tar_arrays)
    changed = [a.copy() for a in arrays]
    changed[0][0, 0, 0, 0] ^= 1
    assert dataset.content_sha256(*changed) != dataset.content_sha256(*arrays)


# -- the real offline copy ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def shared_jpeg(require_data):
    path = locate.SHARED_JPEG
    if not path.exists():
        message = f"the offline JPEG copy is not at {path}"
        if require_data:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


def test_real_jpeg_copy(shared_jpeg, monkeypatch):
    monkeypatch.delenv("BNCONFORM_CACHE")  # the real copy uses the real cache
    sums = dict(reversed(line.split()) for line in
                (shared_jpeg.parent / "SHA256SUMS").read_text().splitlines() if line.strip())
    assert dataset.file_sha256(shared_jpeg) == sums["cifar10-jpeg.zip"]
    data = dataset.load(shared_jpeg)
    assert data.x_train.shape == (50_000, 32, 32, 3) and data.x_test.shape == (10_000, 32, 32, 3)
    assert np.bincount(data.y_train).tolist() == [5000] * 10
    assert np.bincount(data.y_test).tolist() == [1000] * 10
    # the copy's README: per-channel training means decode to 0.4913, 0.4821, 0.4465
    means = (np.asarray(data.x_train, np.float64) / 255).mean(axis=(0, 1, 2))
    np.testing.assert_array_equal(np.round(means, 4), [0.4913, 0.4821, 0.4465])
