"""Cache blocking for the GEMM, sized from this machine's caches at import.

The BLIS-style GEMM (``gemm_driver``) cuts C (M, N) = A (M, K) @ B (K, N) into blocks that
stay in one level of the cache while they are re-read (MR x NR is the register tile of
``gemm_tiles``):

    KC   depth of one packed K slice. The B micro-panel (KC, NR) is re-read by every A
         micro-panel of a task, so it should stay in L1.
    MC   rows of A per task. The A block (MC, KC) is re-read once per B micro-panel, so
         it should stay in L2.

There is no NC (BLIS's cap on the columns of a B block): ``gemm_driver`` packs all of B
once, before the tasks start, and a task reads each of its B micro-panels from there once
per K slice, using it across all its A panels from L1 -- no B block is re-read from L2,
so nothing needs to fit there. The task grid alone decides how C's columns are split
(docs/kernels/gemm.md, "No NC").

Rules (float32, the dtype the models train in; float64 blocks are twice the bytes and
spill one level out, which measured better than halving them):

    KC = 256                                   fixed, whatever the machine (see below)
    MC = largest multiple of MR with MC · KC · 4 bytes ≤ 9/32 of L2

With the 1 MiB L2 of the machine these constants were first tuned on (AMD EPYC, Zen 4)
the rule gives its measured optimum, MC = 288; with a 2 MiB L2 (Intel Sapphire/Emerald
Rapids) MC = 576.

**Why KC is fixed.** The K slices fix the order in which each element of C is summed
(slice by slice), so KC decides the result's last bits. MC and the thread grid only
decide which thread computes which block, never the order of a sum: with KC fixed, a
result is bit-identical on every machine that runs the same machine code, and a
training run resumed on another machine stays on the same trajectory.

The sizes come from Linux's sysfs (``/sys/devices/system/cpu/cpu0/cache``); where that
is missing they default to a 48 KiB L1d and a 1 MiB L2. ``SCRATCHVAE_L2_BYTES``
overrides the L2 size (e.g. to reproduce another machine's blocking). Measurements:
docs/kernels/gemm.md.
"""
from __future__ import annotations

import os
from pathlib import Path

from .gemm_tiles import MR

__all__ = ["KC", "MC", "CACHES", "cache_sizes", "mc_for"]

KC = 256
DEFAULT_L1D = 48 * 1024
DEFAULT_L2 = 1024 * 1024
_SYSFS = Path("/sys/devices/system/cpu/cpu0/cache")


def _parse_size(text: str) -> int | None:
    """'48K' / '2048K' / '2M' / '1048576' -> bytes; None if it is not a size."""
    text = text.strip().upper()
    scale = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}.get(text[-1:], 1)
    digits = text[:-1] if text[-1:] in "KMG" else text
    return int(digits) * scale if digits.isdigit() and int(digits) > 0 else None


def cache_sizes(root: Path = _SYSFS) -> dict[str, int]:
    """{'l1d': bytes, 'l2': bytes} of one core, from sysfs, else the defaults."""
    found = {}
    for index in sorted(root.glob("index*")) if root.is_dir() else []:
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            size = _parse_size((index / "size").read_text())
        except (OSError, ValueError):
            continue
        if size is None:
            continue
        if level == "1" and kind in ("Data", "Unified"):
            found.setdefault("l1d", size)
        elif level == "2" and kind in ("Data", "Unified"):
            found.setdefault("l2", size)
    sizes = {"l1d": found.get("l1d", DEFAULT_L1D), "l2": found.get("l2", DEFAULT_L2)}
    override = os.environ.get("SCRATCHVAE_L2_BYTES", "").strip()
    if override:
        size = _parse_size(override)
        if size is None:
            raise ValueError(f"SCRATCHVAE_L2_BYTES={override!r} is not a size; "
                             f"give bytes, e.g. 1048576 or 1M")
        sizes["l2"] = size
    return sizes


def mc_for(l2: int, mr: int, kc: int = KC) -> int:
    """MC for an L2 of ``l2`` bytes and MR-row panels (module docstring's rule), at least
    4 panels so that a tiny or misreported cache still gets a sane block."""
    mc = (l2 * 9 // 32) // (kc * 4) // mr * mr
    return max(mc, 4 * mr)


CACHES = cache_sizes()
MC = mc_for(CACHES["l2"], MR)
