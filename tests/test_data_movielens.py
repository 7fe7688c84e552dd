"""The MovieLens loader on files the tests make: archives and extracted files, search
paths, checksums, corrupt and truncated files, bad lines, offline downloads."""
import hashlib
import io
import urllib.error
import zipfile

import numpy as np
import pytest

import scratchvae.data.movielens as ml
from scratchvae.errors import DataError

LINES = ["1\t10\t5\t881250949", "2\t10\t3\t891717742", "1\t30\t4\t878887116",
         "3\t20\t1\t880606923"]


def fake_archive(lines=LINES, member="ml-100k/u.data"):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(member, "\n".join(lines) + "\n")
    return buf.getvalue()


@pytest.fixture
def fake_set(monkeypatch):
    """ml-100k's spec pointed at a test archive's checksum and size."""
    data = fake_archive()
    spec = ml.SETS["ml-100k"]
    monkeypatch.setitem(ml.SETS, "ml-100k", ml.MovieLens(
        spec.name, spec.archive, spec.member, spec.separator,
        hashlib.md5(data).hexdigest(), len(data) + 1024, spec.max_member_bytes,
        "https://example/x"))
    return data


def test_the_archive_gives_the_ratings_matrix_and_mask(fake_set, tmp_path):
    (tmp_path / "ml-100k.zip").write_bytes(fake_set)
    R, M = ml.load_movielens("ml-100k", root=tmp_path)
    assert R.shape == (3, 3) and M.sum() == 4                  # items 10, 20, 30; users 1-3
    assert R[0].tolist() == [5, 3, 0] and R[1].tolist() == [0, 0, 1]
    assert (R[~M] == 0).all() and set(R[M]) == {1, 3, 4, 5}


def test_an_extracted_ratings_file_is_read_too(tmp_path):
    (tmp_path / "u.data").write_text("\n".join(LINES))
    R, M = ml.load_movielens("ml-100k", root=tmp_path)
    assert M.sum() == 4


def test_a_changed_or_damaged_archive_is_refused(fake_set, tmp_path):
    (tmp_path / "ml-100k.zip").write_bytes(fake_set[:-10])           # truncated
    with pytest.raises(DataError, match="checksum mismatch"):
        ml.load_movielens("ml-100k", root=tmp_path)
    (tmp_path / "ml-100k.zip").write_bytes(b"x" * 200)                # foreign
    with pytest.raises(DataError, match="checksum mismatch"):
        ml.load_movielens("ml-100k", root=tmp_path)


def test_the_real_checksums_are_the_published_ones():
    assert ml.SETS["ml-100k"].md5 == "0e33842e24a9c977be4e0107933c0723"
    assert ml.SETS["ml-1m"].md5 == "c4d9eecfca2ab87c1945afe126590906"


@pytest.mark.parametrize("line, message", [
    ("1\t10\tfive\t0", "four integers"), ("1\t10\t6\t0", "ratings are 1"),
    ("0\t10\t3\t0", "ids start at 1"), ("1\t10\t3", "four integers"),
])
def test_bad_lines_name_the_file_and_the_line(line, message, tmp_path):
    (tmp_path / "u.data").write_text("\n".join(LINES[:2] + [line]))
    with pytest.raises(DataError, match=f"line 3.*{message}|{message}"):
        ml.load_movielens("ml-100k", root=tmp_path)


def test_missing_files_say_where_to_put_them_and_offline_downloads_fail_clearly(
        fake_set, tmp_path, monkeypatch):
    with pytest.raises(DataError, match="download=True"):
        ml.load_movielens("ml-100k", root=tmp_path)

    def offline(url, timeout):
        raise urllib.error.URLError("no network")
    monkeypatch.setattr(ml, "_urlopen", offline)
    with pytest.raises(DataError, match="offline"):
        ml.load_movielens("ml-100k", root=tmp_path, download=True)
    assert not list(tmp_path.iterdir())                                # nothing written


def test_a_download_is_verified_then_written(fake_set, tmp_path, monkeypatch):
    class Response(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False
    monkeypatch.setattr(ml, "_urlopen", lambda url, timeout: Response(fake_set))
    R, M = ml.load_movielens("ml-100k", root=tmp_path, download=True)
    assert M.sum() == 4 and (tmp_path / "ml-100k.zip").read_bytes() == fake_set
    monkeypatch.setattr(ml, "_urlopen", lambda url, timeout: Response(fake_set[::-1]))
    (tmp_path / "ml-100k.zip").unlink()
    with pytest.raises(DataError, match="nothing was written"):
        ml.load_movielens("ml-100k", root=tmp_path, download=True)
    assert not (tmp_path / "ml-100k.zip").exists()


def test_unknown_set():
    with pytest.raises(DataError, match="ml-100k"):
        ml.load_movielens("ml-25m")


def test_the_parsed_matrix_matches_the_lines():
    rows = ml.parse_ratings("\n".join(LINES).encode(), "\t", "test")
    R, M = ml.ratings_matrix(rows)
    assert np.array_equal(np.sort(R[M]), np.sort(rows[:, 2]).astype(np.float32))


def test_the_ids_of_rows_and_columns_come_back_when_asked(fake_set, tmp_path):
    assert ml.find_movielens("ml-100k", root=tmp_path) is None
    (tmp_path / "ml-100k.zip").write_bytes(fake_set)
    assert ml.find_movielens("ml-100k", root=tmp_path) == tmp_path / "ml-100k.zip"
    R, M, items, users = ml.load_movielens("ml-100k", root=tmp_path, return_ids=True)
    assert items.tolist() == [10, 20, 30] and users.tolist() == [1, 2, 3]
    assert R[list(items).index(30), list(users).index(1)] == 4       # "1\t30\t4"
