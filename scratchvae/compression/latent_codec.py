"""A lossy image codec from a trained VAE: quantize the latent, code it under the prior.

Notation: N images, L latent dimensions, Δ the quantization step, K the largest grid
index kept (the grid is −K … K, 2K + 1 bins per dimension), Φ the standard-normal CDF.

    encode   x → μ = posterior mean (the VAE's encoder)            (N, L)
             q = clip(round(μ / Δ), −K, K)                         integers
             bits = arithmetic code of q + K under the prior's bins, one code per image
    decode   bits → q → ẑ = q · Δ → x̂ = the decoder's mean at ẑ

The prior of every latent is N(0, 1), so one frequency table serves all L dimensions: bin j
(the values whose rounding is j) has probability

    P(j) = Φ((j + ½)Δ) − Φ((j − ½)Δ),    the two end bins also taking the tails,

turned into integer frequencies that keep every bin codable. The rate of an image is the
length of its own code in bits — a real file size, not an estimate — so the codec can be
compared with PCA and JPEG at matched sizes. A latent the encoder puts where the prior
is unlikely costs more bits, which is the ELBO's KL term made concrete (tutorial 17
compares the two). Decoding is exact: the decoder recovers the integers q that the encoder
coded, and from them the same ẑ and x̂ (tested on every image of a batch).
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError, ShapeError
from .arithmetic import FrequencyTable, decode, encode


def prior_bins(step: float, k: int) -> np.ndarray:
    """P(j) for j = −k … k under N(0, 1) with the grid step Δ, tails in the end bins."""
    edges = [(j + 0.5) * step for j in range(-k, k)]              # 2k inner edges
    cdf = [0.0] + [0.5 * (1 + math.erf(e / math.sqrt(2))) for e in edges] + [1.0]
    return np.diff(np.asarray(cdf))                               # (2k + 1,)


class LatentCodec:
    """Quantize a VAE's posterior means on a grid of step Δ and code them under its prior.

    Args:
        model: anything with ``encode(x) -> (μ, logvar)``, ``decode(z) -> x̂`` and
            ``latent_dim`` (every VAE of the library).
        step: Δ > 0; a larger step, fewer bits, a coarser image.
        bound: the grid covers ±bound prior standard deviations (K = ceil(bound / Δ)).
    """

    def __init__(self, model, step: float, bound: float = 6.0):
        if not (math.isfinite(step) and step > 0):
            raise ConfigError(f"the quantization step must be a finite number > 0, got {step}")
        if not (math.isfinite(bound) and bound > 0):
            raise ConfigError(f"bound must be a finite number > 0, got {bound}")
        self.model, self.step = model, float(step)
        self.k = max(1, math.ceil(bound / step))
        self.table = FrequencyTable.from_probabilities(prior_bins(self.step, self.k),
                                                       total=1 << 24)

    def quantize(self, x) -> np.ndarray:
        """x (N, D) → the grid indices q (N, L), integers in −K … K."""
        mu, _ = self.model.encode(x)
        mu = np.asarray(mu, dtype=np.float64)
        return np.clip(np.rint(mu / self.step), -self.k, self.k).astype(np.int64)

    def encode(self, x) -> list[tuple[bytes, int]]:
        """One ``(code, n_bits)`` per image: each image decodes on its own."""
        q = self.quantize(x)
        return [encode((row + self.k).tolist(), self.table) for row in q]

    def decode_indices(self, codes) -> np.ndarray:
        """The grid indices q (N, L) of ``codes`` (what :meth:`encode` returned)."""
        L = self.model.latent_dim
        rows = [np.asarray(decode(data, self.table, L), dtype=np.int64) - self.k
                for data, _ in codes]
        return np.stack(rows) if rows else np.zeros((0, L), dtype=np.int64)

    def decode(self, codes) -> np.ndarray:
        """The reconstructions x̂ (N, D): the decoder's mean at ẑ = q · Δ."""
        q = self.decode_indices(codes)
        if len(q) == 0:
            raise ShapeError("decode needs at least one code")
        return np.asarray(self.model.decode((q * self.step).astype(self.model.dtype)))

    def ideal_bits(self, q) -> np.ndarray:
        """Σ_l −log₂ P(q_l) of each image (N,): the code length the coder approaches."""
        bits = np.array([self.table.bits(j) for j in range(len(self.table))])
        return bits[np.asarray(q) + self.k].sum(axis=1)
