"""A lossy codec from any code vector: quantize it on a grid, code it under a Gaussian prior.

Notation: N images, L code dimensions, Δ the quantization step, m_l and σ_l the coding
prior's mean and standard deviation in dimension l, K_l the largest grid index kept there
(the grid is −K_l … K_l, 2K_l + 1 bins, centred on m_l), Φ the standard-normal CDF.

    encode   x → c = the model's code of x                          (N, L) real
             q = clip(round((c − m) / Δ), −K_l, K_l)               integers
             bits = arithmetic code of q_l + K_l under dimension l's bins, one code per image
    decode   bits → q → ĉ = m + q · Δ → x̂ = the model's decoder at ĉ

Bin j of dimension l (the values whose rounding is j) has, under the prior N(m_l, σ_l²),

    P_l(j) = Φ((j + ½)Δ / σ_l) − Φ((j − ½)Δ / σ_l),   the end bins also taking the tails,

turned into integer frequencies that keep every bin codable. The prior must be known to
the decoder without the image: it is part of the codec, like the decoder's weights —

    VAE (``LatentCodec``)   c = the posterior mean μ(x), m_l = 0, σ_l = 1: the model's
                            own prior N(0, I) (or, optionally, m_l and σ_l fitted to the
                            training set's μ: a Gaussian fit of the aggregate posterior);
    PCA (``pca_codec``)     c = the PCA coefficients (x − x̄) V_Kᵀ, m_l = 0, σ_l = √λ_l,
                            each component's training-set standard deviation.

One step Δ serves every dimension, in the code's own units. For PCA, whose basis is
orthonormal, that is the right quantizer for squared error: every coded coefficient adds
about Δ²/12 to it, and a component whose σ_l is well below Δ rounds to 0 almost always
and costs almost nothing, so the step also decides how many components are worth sending.

The rate of an image is the length of its own code — a real file size, not an estimate.
No header or length field is needed: the number of symbols is L, fixed by the model, and
the decoder reads exactly that many (a file holding many images would also need each
one's length, or one code for them all). Decoding is exact: the decoder recovers the
integers q that the encoder coded, and from them the same ĉ and x̂ (tested on every image
of a batch). Tutorial 17 compares these real bits with the ELBO's KL term.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError, ShapeError
from .arithmetic import FrequencyTable, decode, encode

TABLE_TOTAL = 1 << 24            # the frequency total: the rarest bin costs at most 24 bits


def prior_bins(step: float, k: int, std: float = 1.0) -> np.ndarray:
    """P(j) for j = −k … k under N(0, std²) with the grid step Δ, tails in the end bins."""
    edges = [(j + 0.5) * step / std for j in range(-k, k)]        # 2k inner edges, in σ units
    cdf = [0.0] + [0.5 * (1 + math.erf(e / math.sqrt(2))) for e in edges] + [1.0]
    return np.diff(np.asarray(cdf))                               # (2k + 1,)


class GridCodec:
    """Quantize the codes of any (encode, decode) pair on a grid of step Δ and code them
    under the prior N(0, σ_l²) of each dimension (module docstring).

    Args:
        encode: x → codes (N, L), real numbers.
        decode: codes ĉ (N, L) float64 → reconstructions x̂.
        dim: L, the number of code dimensions.
        step: Δ > 0, in the code's units; a larger step, fewer bits, a coarser image.
        prior_std: σ_l, one number for every dimension or an (L,) array, each > 0.
        prior_mean: m_l, one number or an (L,) array (the grid's centre).
        bound: the grid of dimension l covers ±bound·σ_l (K_l = max(1, ⌈bound·σ_l / Δ⌉));
            codes beyond it are clipped to the end bins.
    """

    def __init__(self, encode, decode, dim: int, step: float, prior_std=1.0,
                 bound: float = 6.0, prior_mean=0.0):
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ConfigError(f"dim is the number of code dimensions, a positive int; got {dim!r}")
        if not (isinstance(step, (int, float, np.number)) and math.isfinite(step) and step > 0):
            raise ConfigError(f"the quantization step must be a finite number > 0, got {step}")
        if not (isinstance(bound, (int, float, np.number)) and math.isfinite(bound) and bound > 0):
            raise ConfigError(f"bound must be a finite number > 0, got {bound}")
        std, mean = _per_dim(prior_std, dim, "prior_std"), _per_dim(prior_mean, dim, "prior_mean")
        if not (std > 0).all():
            raise ConfigError("prior_std must be > 0 in every dimension (a prior of width 0 "
                              "could not code any value but its mean)")
        self._encode, self._decode = encode, decode
        self.dim, self.step, self.prior_std, self.prior_mean = int(dim), float(step), std, mean
        self.k = np.maximum(1, np.ceil(bound * std / self.step)).astype(np.int64)   # (L,)
        cache: dict[tuple[float, int], FrequencyTable] = {}      # equal priors share a table
        for s, k in zip(std.tolist(), self.k.tolist()):
            if (s, k) not in cache:
                cache[s, k] = FrequencyTable.from_probabilities(prior_bins(self.step, k, s),
                                                                total=TABLE_TOTAL)
        self.tables = [cache[s, k] for s, k in zip(std.tolist(), self.k.tolist())]

    # --------------------------------------------------------------- encoder side
    def codes(self, x) -> np.ndarray:
        """The real codes c (N, L) of x, float64."""
        c = np.asarray(self._encode(x), dtype=np.float64)
        if c.ndim != 2 or c.shape[1] != self.dim:
            raise ShapeError(f"the encoder returned codes of shape {c.shape}; this codec "
                             f"codes (N, {self.dim})")
        return c

    def quantize(self, x) -> np.ndarray:
        """x → the grid indices q (N, L), integers in −K_l … K_l."""
        u = (self.codes(x) - self.prior_mean) / self.step
        return np.clip(np.rint(u), -self.k, self.k).astype(np.int64)

    def encode_indices(self, q) -> list[tuple[bytes, int]]:
        """One ``(code, n_bits)`` per row of q (N, L): each image decodes on its own."""
        q = np.asarray(q, dtype=np.int64)
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise ShapeError(f"grid indices must be (N, {self.dim}), got shape {q.shape}")
        return [encode((row + self.k).tolist(), self.tables) for row in q]

    def encode(self, x) -> list[tuple[bytes, int]]:
        """One ``(code, n_bits)`` per image; the file of an image is its ``code`` bytes."""
        return self.encode_indices(self.quantize(x))

    # --------------------------------------------------------------- decoder side
    def decode_indices(self, codes) -> np.ndarray:
        """The grid indices q (N, L) of ``codes`` (what :meth:`encode` returned)."""
        rows = [np.asarray(decode(data, self.tables, self.dim), dtype=np.int64) - self.k
                for data, _ in codes]
        return np.stack(rows) if rows else np.zeros((0, self.dim), dtype=np.int64)

    def dequantize(self, q) -> np.ndarray:
        """ĉ = m + q · Δ (N, L), float64: the grid point of each index."""
        return self.prior_mean + np.asarray(q, dtype=np.int64) * self.step

    def reconstruct(self, q) -> np.ndarray:
        """x̂ from grid indices: the decoder at ĉ = m + q · Δ — what both sides compute."""
        if len(q) == 0:
            raise ShapeError("decode needs at least one code")
        return np.asarray(self._decode(self.dequantize(q)))

    def decode(self, codes) -> np.ndarray:
        """The reconstructions x̂ of ``codes``: the decoder at ĉ = m + q · Δ."""
        return self.reconstruct(self.decode_indices(codes))

    def high_rate_bits(self, x) -> np.ndarray:
        """Σ_l −log₂(Δ · N(c_l; m_l, σ_l²)) of each image (N,), at the unrounded codes: the
        limit of :meth:`ideal_bits` as the grid gets fine (a bin's mass ≈ Δ × the density)."""
        u = (self.codes(x) - self.prior_mean) / self.prior_std
        nats = 0.5 * u ** 2 + 0.5 * math.log(2 * math.pi) + np.log(self.prior_std / self.step)
        return nats.sum(axis=1) / math.log(2)

    def ideal_bits(self, q) -> np.ndarray:
        """Σ_l −log₂ P_l(q_l) of each image (N,): the code length the coder approaches."""
        q = np.asarray(q, dtype=np.int64) + self.k
        bits = np.zeros(len(q))
        for l, table in enumerate(self.tables):
            col = np.array([table.bits(j) for j in range(len(table))])
            bits += col[q[:, l]]
        return bits


class LatentCodec(GridCodec):
    """A VAE's codec: the posterior means μ(x), quantized on a grid of step Δ, coded under
    the model's prior N(0, 1) in every dimension (or N(m_l, σ_l²), e.g. the mean and spread
    of the training set's μ, which the decoder can know in advance as it knows the weights).

    Args:
        model: anything with ``encode(x) -> (μ, logvar)``, ``decode(z) -> x̂``,
            ``latent_dim`` and ``dtype`` (every VAE of the library).
        step: Δ > 0, in prior standard deviations.
        bound: the grid covers ±bound·σ_l.
        prior_std, prior_mean: σ_l and m_l of the coding prior (default 1 and 0: the
            model's own prior).
    """

    def __init__(self, model, step: float, bound: float = 6.0, prior_std=1.0, prior_mean=0.0):
        self.model = model
        super().__init__(lambda x: model.encode(x)[0],
                         lambda c: model.decode(c.astype(model.dtype)),
                         model.latent_dim, step, prior_std, bound, prior_mean)


def pca_codec(pca, step: float, bound: float = 6.0) -> GridCodec:
    """PCA's codec: coefficients (x − x̄) V_Kᵀ on a grid of step Δ (pixel units: the basis
    is orthonormal), coefficient k coded under N(0, λ_k), its variance on the data the PCA
    was fitted to (a fixed part of the codec, like the components)."""
    if getattr(pca, "mean", None) is None:
        raise ConfigError("the PCA is not fitted; call pca.fit(x_train) before building its codec")
    return GridCodec(pca.transform, pca.inverse_transform, pca.n_components, step,
                     np.sqrt(pca.explained_variance), bound)


def _per_dim(value, dim, name) -> np.ndarray:
    """One finite number for every dimension, or an (L,) array of them → (L,) float64."""
    a = np.asarray(value, dtype=np.float64)
    a = np.full(int(dim), float(a)) if a.ndim == 0 else a.copy()
    if a.shape != (int(dim),):
        raise ShapeError(f"{name} must be one number or one per code dimension, ({dim},); "
                         f"got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ConfigError(f"{name} must be finite in every dimension")
    return a
