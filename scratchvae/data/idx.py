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

A data file is untrusted input, so reading costs at most the memory of the array it
declares, and that only after the declaration was checked:

* the gzip stream is inflated piece by piece; the header (magic, type code, sizes) is
  read and checked first, the payload size computed with Python integers (no
  overflow) and compared, *before anything is allocated*, with the file size (a raw
  file), with ``max_bytes`` (a compressed file: 64 MiB by default, well above the
  47 MB of MNIST's largest file) and with the expected shape where the caller knows it;
* the payload is inflated straight into its preallocated array, and at most 1 MiB
  beyond it is inflated to tell trailing bytes (counted) from a decompression bomb.
"""
from __future__ import annotations

import gzip
import hashlib
import math
import os
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from scratchvae.atomic import atomic_write
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
#: the default cap on the decompressed size of a gzip-compressed IDX file
MAX_GZIP_BYTES = 64 << 20
TRAILING_SCAN = 1 << 20           # decompressed bytes inflated past the payload, at most
_IN_CHUNK = 1 << 16               # stored bytes fed to the inflater at a time
_OUT_CHUNK = 1 << 20              # decompressed bytes asked for at a time


def read_idx(path, max_bytes: int = MAX_GZIP_BYTES, shape: tuple | None = None,
             dtype=None) -> np.ndarray:
    """Read an IDX file (raw or gzip) into a native-endian array of shape ``sizes``.

    ``max_bytes`` caps the decompressed size of a gzip-compressed file (a raw file is
    checked against its own size instead); ``shape`` and ``dtype``, where given, are
    what the file must declare — a file declaring anything else is refused at its header.

    Raises DataError (message starts with the path) for a missing or unreadable
    file, a corrupt gzip stream, a bad magic, an unknown type code, zero
    dimensions, a truncated header or payload (expected vs actual bytes),
    trailing bytes, a declared size over ``max_bytes``, or another shape or dtype.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size

            def chunks():
                while data := f.read(_IN_CHUNK):
                    yield data

            return _parse(_Payload(chunks(), str(path)), str(path), size, max_bytes, shape, dtype)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read IDX file ({exc})") from exc


def parse_idx(data: bytes, source: str = "<bytes>", max_bytes: int = MAX_GZIP_BYTES,
              shape: tuple | None = None, dtype=None) -> np.ndarray:
    """Parse the bytes of an IDX file (raw or gzip); ``source`` names it in errors.

    ``max_bytes``, ``shape`` and ``dtype`` as for :func:`read_idx`.
    """
    return _parse(_Payload(_slices(data), source), source, len(data), max_bytes, shape, dtype)


def decompress_if_gzip(data: bytes, source: str = "<bytes>",
                       max_bytes: int = MAX_GZIP_BYTES) -> bytes:
    """Gunzip ``data`` if it starts with the gzip magic 1f 8b, else return it unchanged.

    Raises DataError for a corrupt stream or one that inflates to more than ``max_bytes``.
    """
    if not data.startswith(_GZIP_MAGIC):
        return data
    payload = _Payload(_slices(data), source)
    out = bytearray()
    while piece := payload.read_some(_OUT_CHUNK):
        out += piece
        if len(out) > max_bytes:
            raise _too_large(source, f"more than {max_bytes} bytes", max_bytes)
    return bytes(out)


def payload_md5(data: bytes, source: str = "<bytes>", max_bytes: int = MAX_GZIP_BYTES) -> str:
    """MD5 of the decompressed bytes of ``data`` (raw or gzip), hashed piece by piece.

    Raises DataError for a corrupt stream or more than ``max_bytes`` decompressed bytes
    (hashing stops there: a bomb costs 1 MiB of memory and the time of ``max_bytes``).
    """
    digest = hashlib.md5(usedforsecurity=False)
    payload = _Payload(_slices(data), source)
    total = 0
    while piece := payload.read_some(_OUT_CHUNK):
        total += len(piece)
        if total > max_bytes:
            raise _too_large(source, f"more than {max_bytes} bytes", max_bytes)
        digest.update(piece)
    return digest.hexdigest()


# ------------------------------------------------------------------ the bounded reader

class _Payload:
    """The decompressed bytes of an IDX file, inflated on demand from its stored bytes.

    ``chunks`` yields the stored bytes (a raw file, or one or more gzip members,
    possibly followed by zero padding). Nothing is inflated before it is asked for.
    """

    def __init__(self, chunks: Iterable[bytes], source: str):
        self._chunks: Iterator = iter(chunks)
        self.source = source
        self._pending = b""                  # stored bytes not yet fed to the inflater
        head = b""
        while len(head) < 2 and (more := next(self._chunks, b"")):
            head += bytes(more)
        self._pending = head
        self.gzip = head[:2] == _GZIP_MAGIC
        self._inflater = None                # the gzip member being inflated, if any

    def _pull(self) -> bytes:
        data, self._pending = self._pending, b""
        return data if len(data) else next(self._chunks, b"")

    def read_some(self, limit: int) -> bytes:
        """At most ``limit`` (> 0) next bytes; b"" only at the end of the payload."""
        if not self.gzip:
            data = self._pull()
            if len(data) > limit:
                data, self._pending = data[:limit], data[limit:]
            return bytes(data)
        try:
            return self._inflate(limit)
        except zlib.error as exc:
            raise self.corrupt(str(exc)) from exc

    def _inflate(self, limit: int) -> bytes:
        while True:
            data = self._pull()
            if self._inflater is None:       # between members: the end, padding or a member
                if not len(data):
                    return b""
                data = bytes(data).lstrip(b"\x00")
                if not data:
                    continue
                if len(data) < 2:
                    data += bytes(next(self._chunks, b""))
                if data[:2] != _GZIP_MAGIC:
                    raise self.corrupt("bytes after the end of the gzip stream that are not "
                                       "another gzip member")
                self._inflater = zlib.decompressobj(wbits=31)   # gzip header and CRC
            out = self._inflater.decompress(data, limit)
            if self._inflater.eof:
                self._pending = self._inflater.unused_data
                self._inflater = None
            else:
                self._pending = self._inflater.unconsumed_tail
                if not out and not len(data):
                    raise self.corrupt("compressed stream ended before the end-of-stream marker")
            if out:
                return out

    def read(self, n: int) -> bytes:
        """Exactly ``n`` bytes, or fewer at the end of the payload."""
        parts, got = [], 0
        while got < n and (piece := self.read_some(min(n - got, _OUT_CHUNK))):
            parts.append(piece)
            got += len(piece)
        return b"".join(parts)

    def readinto(self, buf: memoryview) -> int:
        """Fill ``buf``; return how many bytes came (fewer at the end of the payload)."""
        got = 0
        while got < len(buf) and (piece := self.read_some(min(len(buf) - got, _OUT_CHUNK))):
            buf[got:got + len(piece)] = piece
            got += len(piece)
        return got

    def skip(self, limit: int) -> int:
        """Read and drop up to ``limit`` + 1 bytes; return how many there were."""
        got = 0
        while got <= limit and (piece := self.read_some(min(limit + 1 - got, _OUT_CHUNK))):
            got += len(piece)
        return got

    def corrupt(self, why: str) -> DataError:
        return DataError(f"{self.source}: corrupt gzip stream ({why}); the file is damaged or "
                         f"partially downloaded — delete it and fetch it again")


def _slices(data) -> Iterator[memoryview]:
    view = memoryview(data)
    for start in range(0, len(view), _IN_CHUNK):
        yield view[start:start + _IN_CHUNK]


def _too_large(source, what, max_bytes) -> DataError:
    return DataError(f"{source}: the gzip stream decompresses to {what}, over the limit of "
                     f"{max_bytes} bytes: a decompression bomb or a damaged file; if it is a "
                     f"genuine larger IDX file, raise the limit: read_idx(path, max_bytes=...)")


def _parse(payload: _Payload, source: str, stored_size: int, max_bytes: int,
           expect_shape, expect_dtype) -> np.ndarray:
    head = payload.read(4)
    if len(head) < 4:
        raise DataError(f"{source}: not an IDX file (only {len(head)} bytes, the header needs 4)")
    if head[0] != 0 or head[1] != 0:
        raise DataError(f"{source}: not an IDX file (bad magic {head.hex(' ')}; "
                        f"an IDX file starts with 00 00 <type> <ndim>)")
    code, ndim = head[2], head[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X} {dt.name}" for c, dt in IDX_DTYPES.items())
        raise DataError(f"{source}: unknown IDX type code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise DataError(f"{source}: IDX header declares zero dims; at least one is required")
    header = 4 + 4 * ndim
    sizes = payload.read(4 * ndim)
    if len(sizes) < 4 * ndim:
        raise DataError(f"{source}: truncated IDX header: expected {header} bytes for "
                        f"{ndim} dims, got {4 + len(sizes)}")
    shape = tuple(int.from_bytes(sizes[i:i + 4], "big") for i in range(0, 4 * ndim, 4))
    dtype = IDX_DTYPES[code]
    if expect_dtype is not None and dtype.newbyteorder("=") != np.dtype(expect_dtype):
        raise DataError(f"{source}: the IDX header declares {dtype.name} values, but this file "
                        f"must hold {np.dtype(expect_dtype).name}; it is damaged or not the file "
                        f"expected — delete it and fetch it again")
    if expect_shape is not None and shape != tuple(expect_shape):
        raise DataError(f"{source}: the IDX header declares shape {shape}, but this file must "
                        f"hold shape {tuple(expect_shape)}; it is damaged or not the file "
                        f"expected — delete it and fetch it again")
    expected = math.prod(shape) * dtype.itemsize           # Python ints: no overflow
    if not payload.gzip:                                   # the file's size is the truth
        actual = stored_size - header
        if actual < expected:
            raise DataError(f"{source}: truncated IDX payload: shape {shape} of {dtype.name} "
                            f"needs expected {expected} bytes, got actual {actual} bytes")
        if actual > expected:
            raise DataError(f"{source}: {actual - expected} trailing bytes after the IDX payload "
                            f"(shape {shape} of {dtype.name} needs {expected} bytes, file has "
                            f"{actual})")
    elif header + expected > max_bytes:
        raise _too_large(source, f"{header + expected} bytes (its IDX header declares shape "
                                 f"{shape} of {dtype.name})", max_bytes)
    buf = np.empty(expected, dtype=np.uint8)
    got = payload.readinto(memoryview(buf))
    if got < expected:
        raise DataError(f"{source}: truncated IDX payload: shape {shape} of {dtype.name} needs "
                        f"expected {expected} bytes, got actual {got} bytes")
    extra = payload.skip(TRAILING_SCAN)
    if extra > TRAILING_SCAN:
        raise DataError(f"{source}: more than {TRAILING_SCAN} bytes after the IDX payload (shape "
                        f"{shape} of {dtype.name} needs {expected} bytes): not the IDX file its "
                        f"header declares, or a decompression bomb — delete it and fetch it again")
    if extra:
        raise DataError(f"{source}: {extra} trailing bytes after the IDX payload "
                        f"(shape {shape} of {dtype.name} needs {expected} bytes, file has "
                        f"{expected + extra})")
    values = buf.view(dtype)
    if not dtype.isnative:                                 # big-endian on disk: swap in place
        values = values.byteswap(inplace=True).view(dtype.newbyteorder("="))
    return values.reshape(shape)


# --------------------------------------------------------------------------- writing

def write_idx(path, array) -> None:
    """Write ``array`` (1 to 255 dims) as an IDX file; gzip-compressed if path ends with .gz.

    Raises DTypeError for dtypes IDX cannot hold (supported: uint8, int8, int16,
    int32, float32, float64), ShapeError for 0-d arrays or sizes >= 2**32, and
    WriteError (an OSError) if the file system refuses the file. The write is atomic.
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
    atomic_write(path, lambda f: f.write(data))
