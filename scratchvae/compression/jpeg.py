"""JPEG as a baseline codec: real files from Pillow, their sizes split into header and
entropy-coded data.

A baseline JPEG file is a sequence of marker segments, each ``FF xx`` and (except SOI
and EOI) a 2-byte big-endian length that counts itself:

    SOI  FFD8
    APP0 FFE0 …   JFIF header          ┐
    DQT  FFDB …   quantization tables  │ the header: tables and sizes the decoder
    SOF0 FFC0 …   image size, sampling │ needs before the first pixel; for a
    DHT  FFC4 …   Huffman tables       │ 28×28 grey image about 300 bytes with the
    SOS  FFDA …   scan header          ┘ standard tables
         …        entropy-coded segment (ECS): the Huffman-coded DCT coefficients; a
                  data byte FF is followed by a stuffed 00, and ``FF D0``–``FF D7``
                  are restart markers inside it
    EOI  FFD9

:func:`jpeg_layout` walks the segments and measures the ECS: the bytes that actually
depend on the image. With the standard (Annex K) Huffman tables and tables scaled from a
quality setting, a decoder that knows the quality and the image size needs nothing else,
just as a learned codec's decoder needs only its model — so the ECS is the fair "no
header" size next to a learned codec, and the whole file the fair "as stored" size.
``optimize=True`` asks Pillow for Huffman tables built for the image: a smaller ECS, but
the tables must then travel in the header.
"""
from __future__ import annotations

import io

import numpy as np

from ..errors import ConfigError, DataError, ShapeError

SOI, EOI, SOS = 0xD8, 0xD9, 0xDA
STANDALONE = {0x01, *range(0xD0, 0xD8)}          # TEM and RST0–RST7 carry no length


def _pillow():
    try:
        from PIL import Image
    except ImportError as exc:                   # matplotlib installs Pillow
        raise ConfigError("the JPEG baseline needs Pillow: pip install pillow") from exc
    return Image


def jpeg_layout(data: bytes) -> dict:
    """``{"header", "ecs", "trailer", "total"}`` byte counts of a baseline, single-scan
    JPEG file: everything up to the end of the scan header, the entropy-coded segment,
    and what follows it (EOI)."""
    data = bytes(data)
    if data[:2] != b"\xff\xd8":
        raise DataError("not a JPEG file: it does not start with the SOI marker FF D8")
    pos = 2
    while True:                                   # the header's segments, up to SOS
        if pos + 4 > len(data) or data[pos] != 0xFF:
            raise DataError(f"truncated or damaged JPEG: no marker at byte {pos} before the "
                            f"scan header")
        marker = data[pos + 1]
        if marker == 0xFF:                        # fill byte before a marker
            pos += 1
            continue
        if marker in STANDALONE or marker in (SOI, EOI):
            raise DataError(f"unexpected marker FF {marker:02X} at byte {pos} in the header")
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        pos += 2 + length
        if marker == SOS:
            break
    start = pos                                   # the ECS: up to the first real marker
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            raise DataError("truncated JPEG: the entropy-coded segment has no end marker")
        nxt = data[pos + 1]
        if nxt == 0x00 or 0xD0 <= nxt <= 0xD7:    # a stuffed FF, or a restart marker
            pos += 2
            continue
        break
    if nxt != EOI:
        raise DataError(f"marker FF {nxt:02X} after the first scan: only baseline, single-scan "
                        f"JPEGs are measured (not progressive ones)")
    return {"header": start, "ecs": pos - start, "trailer": len(data) - pos, "total": len(data)}


def jpeg_encode(images, quality: int, optimize: bool = False) -> list[bytes]:
    """One baseline JPEG file per grey image (N, H, W) uint8, at Pillow's ``quality``
    (1 … 95; 1 the coarsest)."""
    images = np.asarray(images)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ShapeError(f"images must be grey uint8 (N, H, W), got {images.dtype} "
                         f"{images.shape}; use np.rint(x * 255).astype(np.uint8)")
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) \
            or not 1 <= quality <= 95:
        raise ConfigError(f"quality must be an int in 1 … 95, got {quality!r}")
    image = _pillow()
    out = []
    for img in images:
        buf = io.BytesIO()
        image.fromarray(img, "L").save(buf, "JPEG", quality=int(quality), optimize=optimize,
                                       progressive=False)
        out.append(buf.getvalue())
    return out


def jpeg_decode(files) -> np.ndarray:
    """The grey images (N, H, W) uint8 of JPEG files."""
    image = _pillow()
    return np.stack([np.asarray(image.open(io.BytesIO(f)).convert("L")) for f in files])
