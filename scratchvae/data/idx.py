"""Reader and writer for the IDX format of MNIST-style data sets.

Layout (http://yann.lecun.com/exdb/mnist/, "FILE FORMATS")::

    byte 0-1   0x00 0x00
    byte 2     type code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                          0x0D float32, 0x0E float64
    byte 3     number of dimensions K >= 1
    then       K sizes, big-endian uint32
    then       prod(sizes) values, big-endian, C order

Files may be gzip-compressed; compression is detected from the gzip magic bytes
1f 8b, not from the suffix, because mirrors and users rename files freely.
Every malformation raises DataError naming the file and the problem, since a
half-downloaded data set otherwise surfaces as a baffling reshape error.
"""
from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from scratchvae.errors import DataError, DTypeError, ShapeError

# type code -> big-endian dtype as stored on disk
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF = {dt.newbyteorder("=").str[1:]: code for code, dt in IDX_DTYPES.items()}  # "u1" -> 0x08
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path) -> np.ndarray:
    """Read an IDX file (raw or gzip) into a native-endian array of shape ``sizes``.

    Raises DataError (message starts with the path) for a missing or unreadable
    file, a corrupt gzip stream, a bad magic, an unknown type code, zero
    dimensions, a truncated header or payload (expected vs actual bytes) and
    trailing bytes.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read IDX file ({exc})") from exc
    return parse_idx(data, source=str(path))


def decompress_if_gzip(data: bytes, source: str = "<bytes>") -> bytes:
    """Gunzip ``data`` if it starts with the gzip magic 1f 8b, else return it unchanged."""
    if not data.startswith(_GZIP_MAGIC):
        return data
    try:
        # zlib in gzip mode (wbits=31) is about twice as fast as gzip.decompress on one
        # member; files made of several members (rare) go through gzip.decompress
        inflater = zlib.decompressobj(wbits=31)
        out = inflater.decompress(data)
        if not inflater.eof:
            raise EOFError("compressed stream ended before the end-of-stream marker")
        if inflater.unused_data:
            out = gzip.decompress(data)
        return out
    except (OSError, EOFError, zlib.error) as exc:
        # zlib.error for bad headers/data/CRC, EOFError for a cut-off stream,
        # BadGzipFile (an OSError) from gzip.decompress
        raise DataError(f"{source}: corrupt gzip stream ({exc}); the file is damaged or "
                        f"partially downloaded — delete it and fetch it again") from exc


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Parse the bytes of an IDX file (raw or gzip); ``source`` names it in errors."""
    data = decompress_if_gzip(data, source)
    if len(data) < 4:
        raise DataError(f"{source}: not an IDX file (only {len(data)} bytes, the header needs 4)")
    if data[0] != 0 or data[1] != 0:
        raise DataError(f"{source}: not an IDX file (bad magic {data[:4].hex(' ')}; "
                        f"an IDX file starts with 00 00 <type> <ndim>)")
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X} {dt.name}" for c, dt in IDX_DTYPES.items())
        raise DataError(f"{source}: unknown IDX type code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise DataError(f"{source}: IDX header declares zero dims; at least one is required")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{source}: truncated IDX header: expected {header} bytes for "
                        f"{ndim} dims, got {len(data)}")
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(data) - header
    if actual < expected:
        raise DataError(f"{source}: truncated IDX payload: shape {shape} of {dtype.name} needs "
                        f"expected {expected} bytes, got actual {actual} bytes")
    if actual > expected:
        raise DataError(f"{source}: {actual - expected} trailing bytes after the IDX payload "
                        f"(shape {shape} of {dtype.name} needs {expected} bytes, file has {actual})")
    values = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    # astype copies: the result is writable, native-endian and does not pin `data`
    return values.astype(dtype.newbyteorder("="))


def write_idx(path, array) -> None:
    """Write ``array`` (1 to 255 dims) as an IDX file; gzip-compressed if path ends with .gz.

    Raises DTypeError for dtypes IDX cannot hold (supported: uint8, int8, int16,
    int32, float32, float64) and ShapeError for 0-d arrays or sizes >= 2**32.
    """
    path = Path(path)
    array = np.asarray(array)
    code = _CODE_OF.get(array.dtype.newbyteorder("=").str[1:])
    if code is None:
        raise DTypeError(f"IDX cannot store dtype {array.dtype}; use one of "
                         f"{', '.join(dt.name for dt in IDX_DTYPES.values())}")
    if not 1 <= array.ndim <= 255:
        raise ShapeError(f"IDX needs 1 to 255 dims, got shape {array.shape}")
    if any(s >= 2 ** 32 for s in array.shape):
        raise ShapeError(f"IDX sizes are uint32, got shape {array.shape}")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    data = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    if path.name.endswith(".gz"):
        data = gzip.compress(data, compresslevel=6, mtime=0)  # mtime=0: same array, same bytes
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)  # never leave a half-written file under the final name
