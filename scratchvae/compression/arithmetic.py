"""Arithmetic coding: a sequence of symbols to the fewest whole bits their probabilities allow.

Notation: a symbol s ∈ {0, …, S−1} drawn with probability p(s); a frequency table holds
integer frequencies f(s) ≥ 1 with total T = Σ f(s), and cumulative counts
c(s) = Σ_{t<s} f(t), so s owns the interval [c(s), c(s+1)) of [0, T).

The idea. A message is a nested interval: each symbol narrows the current interval
[low, high] to the part its probability owns,

    width = high − low + 1
    high  = low + width · c(s+1) / T − 1            (integer division)
    low   = low + width · c(s)   / T

and any number inside the final interval identifies the whole message. A message of
probability P needs about −log₂ P bits: Σ −log₂ p(s), the Shannon bound, plus at most two.

Finite precision (Witten, Neal & Cleary, "Arithmetic coding for data compression", 1987).
``low`` and ``high`` are B = 32-bit integers. Whenever both lie in the same half of the
range, their common leading bit can never change again: it is sent, and the interval is
doubled (renormalization). When they straddle the middle but lie inside the second and
third quarters, no bit is known yet; the interval is doubled around the middle and a
"pending" bit is remembered, sent (inverted) after the next known bit:

    while True:
        if high < HALF:                   send 0, then the pending bits as 1s
        elif low ≥ HALF:                  send 1, then the pending bits as 0s;  low, high −= HALF
        elif low ≥ QUARTER and high < 3·QUARTER:  pending += 1;  low, high −= QUARTER
        else: break
        low, high = 2·low, 2·high + 1

After renormalization the width exceeds a quarter of the range, so every symbol keeps a
non-empty interval as long as T ≤ QUARTER (2³⁰): the frequency tables guarantee it. The
decoder mirrors the encoder step for step on the same integers, reading bits instead of
writing them (bits past the end read as 0), so decoding is exact by construction — no
floating point anywhere.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError, DataError

PRECISION = 32
FULL = 1 << PRECISION
HALF = FULL >> 1
QUARTER = FULL >> 2
MASK = FULL - 1
MAX_TOTAL = QUARTER            # the largest frequency total that keeps every interval open


class FrequencyTable:
    """Integer frequencies of the symbols 0 … S−1 (each ≥ 1) and their cumulative counts.

    Build one from counts (``FrequencyTable([3, 1, 4])``) or from probabilities
    (:meth:`from_probabilities`, which keeps every symbol codable).
    """

    def __init__(self, frequencies: Sequence[int]):
        freqs = [int(f) for f in frequencies]
        if not freqs:
            raise ConfigError("a frequency table needs at least one symbol")
        if min(freqs) < 1:
            raise ConfigError(f"every symbol needs a frequency ≥ 1 (a zero-frequency symbol "
                              f"could not be coded), got {min(freqs)}")
        total = sum(freqs)
        if total > MAX_TOTAL:
            raise ConfigError(f"the frequencies sum to {total}; at most 2^30 keeps every "
                              f"symbol's interval open at 32-bit precision")
        self.frequencies = freqs
        self.cumulative = [0]
        for f in freqs:
            self.cumulative.append(self.cumulative[-1] + f)
        self.total = total

    @classmethod
    def from_probabilities(cls, p, total: int = 1 << 16) -> FrequencyTable:
        """Frequencies ≈ p · total, each at least 1, summing to exactly ``total``."""
        p = np.asarray(p, dtype=np.float64)
        if p.ndim != 1 or p.size == 0 or not np.isfinite(p).all() or (p < 0).any() \
                or p.sum() <= 0:
            raise ConfigError("probabilities must be a non-empty 1-D array of finite numbers "
                              "≥ 0 with a positive sum")
        if not p.size <= total <= MAX_TOTAL:
            raise ConfigError(f"total must lie in [{p.size}, 2^30] for {p.size} symbols, "
                              f"got {total}")
        p = p / p.sum()
        share = p * (total - p.size)                 # what is left after 1 for each symbol
        freqs = 1 + np.floor(share).astype(np.int64)  # each ≥ 1, Σ ≤ total
        rest = total - int(freqs.sum())              # 0 ≤ rest < S: largest remainders first
        freqs[np.argsort(-(share - np.floor(share)), kind="stable")[:rest]] += 1
        return cls(freqs.tolist())

    def __len__(self) -> int:
        return len(self.frequencies)

    def bits(self, s: int) -> float:
        """−log₂ of the symbol's coded probability f(s)/T: its ideal code length."""
        return -math.log2(self.frequencies[s] / self.total)


def _tables_for(tables, n):
    if isinstance(tables, FrequencyTable):
        return [tables] * n
    tables = list(tables)
    if len(tables) != n:
        raise ConfigError(f"one frequency table per symbol: got {len(tables)} tables for "
                          f"{n} symbols (or pass one table for all)")
    return tables


def encode(symbols: Sequence[int], tables) -> tuple[bytes, int]:
    """Code ``symbols`` under ``tables`` (one FrequencyTable for all, or one per symbol).

    Returns ``(data, n_bits)``: the code, padded with zero bits to whole bytes, and its
    exact length in bits (what a rate is measured in).
    """
    symbols = [int(s) for s in symbols]
    tables = _tables_for(tables, len(symbols))
    if not symbols:
        return b"", 0
    bits: list[int] = []
    low, high, pending = 0, MASK, 0

    def send(bit):
        nonlocal pending
        bits.append(bit)
        bits.extend([1 - bit] * pending)
        pending = 0

    for i, (s, table) in enumerate(zip(symbols, tables)):
        if not 0 <= s < len(table):
            raise DataError(f"symbol {s} at position {i} is outside its table's "
                            f"0 … {len(table) - 1}")
        width = high - low + 1
        high = low + width * table.cumulative[s + 1] // table.total - 1
        low = low + width * table.cumulative[s] // table.total
        while True:
            if high < HALF:
                send(0)
            elif low >= HALF:
                send(1)
                low, high = low - HALF, high - HALF
            elif low >= QUARTER and high < HALF + QUARTER:
                pending += 1
                low, high = low - QUARTER, high - QUARTER
            else:
                break
            low, high = 2 * low, 2 * high + 1
    pending += 1                                  # two more bits pin a number inside
    send(0 if low < QUARTER else 1)
    n_bits = len(bits)
    bits.extend([0] * (-n_bits % 8))
    data = np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes()
    return data, n_bits


def decode(data: bytes, tables, n: int) -> list[int]:
    """The ``n`` symbols that :func:`encode` coded into ``data`` under the same tables."""
    if n < 0:
        raise ConfigError(f"n is a number of symbols and must be ≥ 0, got {n}")
    tables = _tables_for(tables, n)
    if n == 0:
        return []
    bits = np.unpackbits(np.frombuffer(bytes(data), dtype=np.uint8)).tolist()
    position = 0

    def next_bit():
        nonlocal position
        position += 1
        return bits[position - 1] if position <= len(bits) else 0   # past the end: zeros

    value = 0
    for _ in range(PRECISION):
        value = 2 * value + next_bit()
    low, high = 0, MASK
    out = []
    for table in tables:
        width = high - low + 1
        target = ((value - low + 1) * table.total - 1) // width     # in [c(s), c(s+1))
        s = _find(table.cumulative, target)
        out.append(s)
        high = low + width * table.cumulative[s + 1] // table.total - 1
        low = low + width * table.cumulative[s] // table.total
        while True:
            if high < HALF:
                pass
            elif low >= HALF:
                low, high, value = low - HALF, high - HALF, value - HALF
            elif low >= QUARTER and high < HALF + QUARTER:
                low, high, value = low - QUARTER, high - QUARTER, value - QUARTER
            else:
                break
            low, high, value = 2 * low, 2 * high + 1, 2 * value + next_bit()
    return out


def _find(cumulative, target) -> int:
    """The s with cumulative[s] ≤ target < cumulative[s + 1] (binary search)."""
    lo, hi = 0, len(cumulative) - 2
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if cumulative[mid] <= target:
            lo = mid
        else:
            hi = mid - 1
    return lo
