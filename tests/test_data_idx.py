"""IDX reader/writer: round trips for every type and rank, and one test per malformation."""
import gzip

import numpy as np
import pytest

from scratchvae.data.idx import IDX_DTYPES, parse_idx, read_idx, write_idx
from scratchvae.errors import DataError, DTypeError, ShapeError

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]
SHAPES = [(5,), (3, 4), (2, 3, 5), (2, 1, 3, 2)]


def _random(dtype, shape, rng):
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    return rng.standard_normal(shape).astype(dtype)


def _idx_bytes(code=0x08, dims=(2, 3), payload=None):
    header = bytes([0, 0, code, len(dims)]) + np.asarray(dims, dtype=">u4").tobytes()
    if payload is None:
        payload = bytes(int(np.prod(dims)) * IDX_DTYPES.get(code, np.dtype("u1")).itemsize)
    return header + payload


@pytest.mark.parametrize("suffix", [".idx", ".idx.gz"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{len(s)}d")
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_round_trip(tmp_path, dtype, shape, suffix):
    a = _random(dtype, shape, np.random.default_rng(0))
    path = tmp_path / f"a{suffix}"
    write_idx(path, a)
    b = read_idx(path)
    assert b.dtype == np.dtype(dtype)
    assert b.dtype.isnative
    assert b.shape == shape
    np.testing.assert_array_equal(a, b)
    assert b.flags.writeable


def test_written_bytes_follow_the_format(tmp_path):
    write_idx(tmp_path / "a", np.array([[1, 2, 3]], dtype=np.int16))
    assert (tmp_path / "a").read_bytes() == (
        b"\x00\x00\x0b\x02" + b"\x00\x00\x00\x01" + b"\x00\x00\x00\x03"
        + b"\x00\x01\x00\x02\x00\x03")           # big-endian data


def test_gzip_detected_by_magic_not_suffix(tmp_path):
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    (tmp_path / "plain-name").write_bytes(gzip.compress(_idx_bytes(dims=(3, 4), payload=a.tobytes())))
    np.testing.assert_array_equal(read_idx(tmp_path / "plain-name"), a)
    # and a raw file that only carries a .gz suffix still reads
    (tmp_path / "fake.gz").write_bytes(_idx_bytes(dims=(3, 4), payload=a.tobytes()))
    np.testing.assert_array_equal(read_idx(tmp_path / "fake.gz"), a)


def test_multi_member_gzip(tmp_path):
    data = _idx_bytes(dims=(4,), payload=b"\x01\x02\x03\x04")
    (tmp_path / "m.gz").write_bytes(gzip.compress(data[:6]) + gzip.compress(data[6:]))
    np.testing.assert_array_equal(read_idx(tmp_path / "m.gz"), [1, 2, 3, 4])


def test_gz_output_is_reproducible(tmp_path):
    a = np.arange(10, dtype=np.float32)
    write_idx(tmp_path / "a.gz", a)
    write_idx(tmp_path / "b.gz", a)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


def test_zero_length_dimension_reads(tmp_path):
    write_idx(tmp_path / "e", np.zeros((0, 3), np.uint8))
    assert read_idx(tmp_path / "e").shape == (0, 3)


# -- malformed files: (bytes, substrings the message must contain) ----------

GOOD = _idx_bytes(dims=(2, 3))
CORRUPTIONS = {
    "bad magic": (b"\x01\x02" + GOOD[2:], ["not an IDX file", "bad magic"]),
    "text file": (b"hello world, not idx", ["not an IDX file"]),
    "too short": (b"\x00\x00", ["not an IDX file", "2 bytes"]),
    "bad type code": (_idx_bytes(code=0x0A), ["unknown IDX type code 0x0A"]),
    "zero dims": (b"\x00\x00\x08\x00", ["zero dims"]),
    "truncated header": (b"\x00\x00\x08\x03" + bytes(5), ["truncated IDX header", "16 bytes"]),
    "truncated payload": (GOOD[:-2], ["truncated", "expected 6 bytes", "actual 4 bytes"]),
    "truncated int32": (_idx_bytes(code=0x0C, dims=(2,))[:-1], ["truncated", "expected 8", "actual 7"]),
    "trailing bytes": (GOOD + b"\x00\x00\x00", ["3 trailing bytes"]),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_corrupt_files_raise_data_error(tmp_path, case):
    data, expected = CORRUPTIONS[case]
    path = tmp_path / "broken-idx"
    path.write_bytes(data)
    with pytest.raises(DataError) as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message
    for part in expected:
        assert part in message


@pytest.mark.parametrize("damage", ["cut", "flip"])
def test_corrupt_gzip_stream(tmp_path, damage):
    gz = bytearray(gzip.compress(_idx_bytes(dims=(50, 50), payload=bytes(range(250)) * 10)))
    if damage == "cut":
        gz = gz[: len(gz) // 2]
    else:
        gz[len(gz) // 2] ^= 0xFF
    path = tmp_path / "x.gz"
    path.write_bytes(bytes(gz))
    with pytest.raises(DataError, match="corrupt gzip stream") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_idx(tmp_path / "nope.gz")


def test_directory_is_not_readable(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        read_idx(tmp_path)


def test_parse_idx_names_its_source():
    with pytest.raises(DataError, match="^my-source: "):
        parse_idx(b"\x00\x00\x08\x00", source="my-source")


def test_write_rejects_unsupported_arrays(tmp_path):
    with pytest.raises(DTypeError, match="int64"):
        write_idx(tmp_path / "a", np.zeros(3, np.int64))
    with pytest.raises(DTypeError):
        write_idx(tmp_path / "a", np.zeros(3, bool))
    with pytest.raises(ShapeError):
        write_idx(tmp_path / "a", np.float32(1.0))
    assert not list(tmp_path.iterdir())


# -- bounded reading: the header decides what is allocated ---------------------------

def test_gzip_trailing_bytes_are_counted_and_the_stream_checked(tmp_path):
    data = _idx_bytes(dims=(2, 3)) + b"\x07" * 5
    with pytest.raises(DataError, match="5 trailing bytes"):
        parse_idx(gzip.compress(data), source="x.gz")
    # zero padding after the last member is part of the gzip format; other bytes are not
    np.testing.assert_array_equal(parse_idx(gzip.compress(GOOD) + bytes(4)), np.zeros((2, 3)))
    with pytest.raises(DataError, match="corrupt gzip stream.*not another gzip member"):
        parse_idx(gzip.compress(GOOD) + b"junk")
    cut = gzip.compress(GOOD)[:-4]                      # the trailer's ISIZE missing
    with pytest.raises(DataError, match="corrupt gzip stream"):
        parse_idx(cut)


def test_gzip_payload_shorter_than_declared(tmp_path):
    path = tmp_path / "short.gz"
    path.write_bytes(gzip.compress(GOOD[:-2]))
    with pytest.raises(DataError, match="truncated IDX payload.*expected 6 bytes.*actual 4"):
        read_idx(path)


def test_read_idx_limits_the_decompressed_size_and_says_how_to_raise_it(tmp_path):
    path = tmp_path / "a.gz"
    write_idx(path, np.zeros((100, 100), np.uint8))      # 10,012 bytes decompressed
    assert read_idx(path, max_bytes=10_012).shape == (100, 100)
    with pytest.raises(DataError, match=r"10012 bytes.*over the limit of 10011.*max_bytes="):
        read_idx(path, max_bytes=10_011)
    # a raw file is held to its own size instead: no limit needed
    write_idx(tmp_path / "raw", np.zeros((100, 100), np.uint8))
    assert read_idx(tmp_path / "raw", max_bytes=10).shape == (100, 100)


def test_expected_shape_and_dtype_are_checked_at_the_header(tmp_path):
    path = tmp_path / "labels"
    write_idx(path, np.zeros(7, np.int32))
    assert read_idx(path, shape=(7,), dtype=np.int32).shape == (7,)
    with pytest.raises(DataError, match=r"declares shape \(7,\).*must hold shape \(8,\)"):
        read_idx(path, shape=(8,))
    with pytest.raises(DataError, match="declares int32 values.*must hold uint8"):
        read_idx(path, dtype=np.uint8)


def test_big_endian_values_are_swapped_in_place_and_writable():
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    data = bytes([0, 0, 0x0E, 2]) + np.asarray((2, 3), ">u4").tobytes() + a.astype(">f8").tobytes()
    for blob in (data, gzip.compress(data)):
        b = parse_idx(blob)
        np.testing.assert_array_equal(a, b)
        assert b.dtype.isnative and b.flags.writeable


def test_write_idx_leaves_no_temp_file_when_the_disk_refuses(tmp_path, monkeypatch):
    from scratchvae.errors import WriteError
    import os

    def full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(WriteError, match=r"could not write .*a\.gz: No space left on device "
                                         r"\(errno 28\); free some space"):
        write_idx(tmp_path / "a.gz", np.zeros(3, np.uint8))
    assert list(tmp_path.iterdir()) == []
