"""The CIFAR-10 binary loader on files the tests make: the archive and the extracted folder,
the record layout, checksums, truncated and foreign files, bad labels, offline downloads.
Batches are shrunk to 4 records (RECORDS_PER_FILE is read at call time)."""
import hashlib
import io
import tarfile
import urllib.error

import numpy as np
import pytest

import scratchvae.data.cifar10 as c10
from scratchvae.errors import DataError

N = 4


@pytest.fixture(autouse=True)
def small_batches(monkeypatch):
    monkeypatch.setattr(c10, "RECORDS_PER_FILE", N)


def batch_bytes(seed, labels=None):
    """One batch of N records; image i's red plane is constant seed*10+i, green 100+i, blue 200."""
    labels = list(range(N)) if labels is None else labels
    recs = []
    for i, label in enumerate(labels):
        planes = np.stack([np.full((32, 32), seed * 10 + i), np.full((32, 32), 100 + i),
                           np.full((32, 32), 200)]).astype(np.uint8)
        planes[0, 0, 1] = 7                                        # row 0, column 1 of red
        recs.append(bytes([label]) + planes.tobytes())
    return b"".join(recs)


def make_archive(files=None):
    files = files or {n: batch_bytes(s) for s, n in enumerate(c10.FILES["train"] +
                                                               c10.FILES["test"])}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{c10.FOLDER}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def archive(monkeypatch):
    data = make_archive()
    monkeypatch.setattr(c10, "MD5", hashlib.md5(data).hexdigest())
    return data


def test_the_archive_gives_images_in_nchw_and_labels(archive, tmp_path):
    (tmp_path / c10.ARCHIVE).write_bytes(archive)
    x, y = c10.load_cifar10("train", root=tmp_path)
    assert x.shape == (5 * N, 3, 32, 32) and x.dtype == np.uint8 and y.dtype == np.int64
    assert y.tolist() == list(range(N)) * 5
    assert x[N + 2, 0, 5, 5] == 12 and x[N + 2, 1, 5, 5] == 102 and x[N + 2, 2, 5, 5] == 200
    assert x[0, 0, 0, 1] == 7 and x[0, 0, 1, 0] == 0                # planes are row-major
    xt, yt = c10.load_cifar10("test", root=tmp_path)
    assert xt.shape == (N, 3, 32, 32) and xt[0, 0, 3, 3] == 50      # test_batch is seed 5


def test_an_extracted_folder_is_read_too(tmp_path):
    folder = tmp_path / c10.FOLDER
    folder.mkdir()
    for s, name in enumerate(c10.FILES["train"] + c10.FILES["test"]):
        (folder / name).write_bytes(batch_bytes(s))
    x, y = c10.load_cifar10("test", root=tmp_path)
    assert x.shape == (N, 3, 32, 32) and x[1, 0, 4, 4] == 51


def test_the_real_checksum_and_layout_are_the_published_ones():
    assert c10.MD5 == "c32a1d4ab5d03f1284b67883e8d87530"
    assert c10.RECORD == 3073 and c10.MAX_ARCHIVE_BYTES > 170_052_171


def test_a_changed_or_damaged_archive_is_refused(archive, tmp_path):
    (tmp_path / c10.ARCHIVE).write_bytes(archive[:-10])            # truncated
    with pytest.raises(DataError, match="checksum mismatch"):
        c10.load_cifar10(root=tmp_path)
    (tmp_path / c10.ARCHIVE).write_bytes(b"x" * 300)                # foreign
    with pytest.raises(DataError, match="checksum mismatch"):
        c10.load_cifar10(root=tmp_path)


def test_an_archive_with_the_right_checksum_but_wrong_members_is_refused(monkeypatch, tmp_path):
    short = make_archive({"data_batch_1.bin": batch_bytes(0)[:-1]})
    monkeypatch.setattr(c10, "MD5", hashlib.md5(short).hexdigest())
    (tmp_path / c10.ARCHIVE).write_bytes(short)
    with pytest.raises(DataError, match="not a plain file of"):
        c10.load_cifar10(root=tmp_path)
    partial = make_archive({"data_batch_1.bin": batch_bytes(0)})
    monkeypatch.setattr(c10, "MD5", hashlib.md5(partial).hexdigest())
    (tmp_path / c10.ARCHIVE).write_bytes(partial)
    with pytest.raises(DataError, match="data_batch_2.bin.*missing"):
        c10.load_cifar10(root=tmp_path)
    not_gz = b"plain bytes, not gzip" * 10
    monkeypatch.setattr(c10, "MD5", hashlib.md5(not_gz).hexdigest())
    (tmp_path / c10.ARCHIVE).write_bytes(not_gz)
    with pytest.raises(DataError, match="not a readable"):
        c10.load_cifar10(root=tmp_path)


def test_truncated_files_and_bad_labels_in_a_folder_are_refused(tmp_path):
    folder = tmp_path / c10.FOLDER
    folder.mkdir()
    (folder / "test_batch.bin").write_bytes(batch_bytes(0)[:-5])
    with pytest.raises(DataError, match="truncated"):
        c10.load_cifar10("test", root=tmp_path)
    (folder / "test_batch.bin").write_bytes(batch_bytes(0, labels=[0, 1, 10, 2]))
    with pytest.raises(DataError, match="record 2 has label 10"):
        c10.load_cifar10("test", root=tmp_path)
    with pytest.raises(DataError, match="data_batch_1.bin"):
        c10.load_cifar10("train", root=tmp_path)                    # missing files


def test_missing_data_and_bad_splits_say_where_and_how(tmp_path):
    with pytest.raises(DataError, match=f"looked in {tmp_path}.*download=True"):
        c10.load_cifar10(root=tmp_path)
    with pytest.raises(DataError, match="unknown CIFAR-10 split 'valid'"):
        c10.load_cifar10("valid", root=tmp_path)


class Response(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_a_download_is_verified_then_written(archive, monkeypatch, tmp_path):
    monkeypatch.setattr(c10, "_urlopen", lambda url, timeout: Response(archive))
    x, _ = c10.load_cifar10("test", root=tmp_path, download=True)
    assert x.shape == (N, 3, 32, 32) and (tmp_path / c10.ARCHIVE).read_bytes() == archive


def test_a_bad_or_failed_download_writes_nothing(archive, monkeypatch, tmp_path):
    monkeypatch.setattr(c10, "_urlopen", lambda url, timeout: Response(archive[:-1]))
    with pytest.raises(DataError, match="not the published"):
        c10.load_cifar10(root=tmp_path, download=True)

    def offline(url, timeout):
        raise urllib.error.URLError("no network")
    monkeypatch.setattr(c10, "_urlopen", offline)
    with pytest.raises(DataError, match="offline\\? Put cifar-10-binary.tar.gz"):
        c10.load_cifar10(root=tmp_path, download=True)
    monkeypatch.setattr(c10, "MAX_ARCHIVE_BYTES", 100)
    monkeypatch.setattr(c10, "_urlopen", lambda url, timeout: Response(archive))
    with pytest.raises(DataError, match="more than 100"):
        c10.load_cifar10(root=tmp_path, download=True)
    assert list(tmp_path.iterdir()) == []                            # no file, no temp file


def test_colour_images_read_cifar10_as_floats_in_the_unit_range(archive, tmp_path):
    from scratchvae.data.colour import default_colour_set, load_colour_images
    (tmp_path / c10.ARCHIVE).write_bytes(archive)
    assert c10.find_cifar10(tmp_path) == tmp_path / c10.ARCHIVE
    assert default_colour_set(tmp_path) == "cifar10"
    x, y = load_colour_images("cifar10", "test", root=tmp_path)
    assert x.shape == (N, 3, 32, 32) and x.dtype == np.float32 and y.tolist() == list(range(N))
    np.testing.assert_allclose(x[1, :, 5, 5], np.array([51, 101, 200]) / 255, rtol=1e-6)
    assert 0 <= x.min() and x.max() <= 1
