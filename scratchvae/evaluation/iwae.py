"""The importance-weighted estimate of −log p(x) (Burda, Grosse & Salakhutdinov, 2016).

Notation: N images, D data dimensions, L latent dimensions, K samples per image;
a chunk holds G images × S samples (R = G·S decoder rows).

With z_k = μ(x) + σ(x) ⊙ ε_k, ε_k ~ N(0, I), and w_k = p(x, z_k) / q(z_k|x)
(:mod:`.densities`):

    NLL_K(x) = −log (1/K) Σ_k w_k = −( logsumexp_k log w_k − log K )

E[NLL_K] ≥ E[NLL_{K+1}] ≥ −log p(x), and NLL_K → −log p(x) as K → ∞; K = 1 is the
negative ELBO of one sample. Published test NLLs (dynamically binarized MNIST and
Fashion-MNIST) use K = 5000.

How the K samples are visited, so that K = 5000 on 10,000 images fits in memory:
each image is encoded once; then ε is drawn S ≤ ``sample_chunk`` samples at a time for
G images at a time, with G·S·D decoder outputs within ``memory_mb``; each chunk is one
decoder forward and one vectorised log-likelihood, and is folded into a running
logsumexp per image (float64, max shift):

    m' = max(m, max_k log w_k)
    s' = s · e^{m − m'} + Σ_k e^{log w_k − m'}         logsumexp = m + log s

Exactly K samples are used for every image, whatever the chunk sizes.

Cost (2-core AVX-512 CPU, 784-400-20 MLP VAE, float32, K = 5000): about 45 ms per
image — the decoder's GEMMs ~30 ms (3.2 GFLOP at ~105 GFLOP/s), the Bernoulli
log-likelihood ~15 ms (memory-bound passes over the 5000 × 784 logits) — so
~7.5 minutes for the 10,000 test images. The default budget of 16 MB (one image's
5000 samples per chunk at D = 784) took 10–20 % less CPU time than 64 MB, whose
larger activations fall out of cache.

Where ε comes from (``rng``):

    None or an int seed s   image n (its index in x) draws its samples in order from
                            default_rng([s, n]): the result does not depend on the batch
                            or chunk sizes, nor on which other images are evaluated
    a numpy Generator       (S, G, L) blocks in visiting order
    a callable              called as f((S, G, L)) → array, in visiting order
    ``eps=`` (K, N, L)      frozen noise (tests); ``rng`` is then ignored

Over MPI ranks (``comm``, ``mpiexec -n P python -m scratchvae evaluate``): the encoder
batches of ``batch_size`` images are dealt out in contiguous blocks, rank r taking
blocks [⌊r·nb/P⌋ …) of the nb batches; the per-image results are gathered on every rank.
Each image keeps its own ε stream and is computed in a batch of the same images as in
one process (the same array shapes, so the same kernels' summation order): the result
is bit for bit the one-process result for any P. Only the per-image seeded streams
(and frozen ``eps``) can be split; a shared Generator's visiting order cannot.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from ..backend import get_array_module, to_numpy
from ..distributed import shard_rows
from ..errors import ShapeError, check_float_array
from ..functional.numerics import logsumexp
from .densities import log_weights_chunk
from .interface import check_vae, encode_checked

DEFAULT_MEMORY_MB = 16.0      # decoder output per chunk (module docstring, Cost)


@dataclass
class IWAEResult:
    """Per-image results of one importance-sampling pass; arrays (N,) float64.

    nll:   −log (1/K) Σ_k w_k, nats.
    recon: −(1/K) Σ_k log p(x|z_k), the K-sample reconstruction term of the ELBO.
    neg_elbo: −(1/K) Σ_k log w_k, the K-sample estimate of −ELBO (any prior, any
           number of stochastic layers; a closed-form KL is sharper where one exists).
    ess:   effective sample size (Σ w)² / Σ w², in [1, K]: how many samples carried
           the estimate (close to 1: q is a poor proposal and NLL_K is unreliable).
    """
    nll: np.ndarray
    recon: np.ndarray
    ess: np.ndarray
    neg_elbo: np.ndarray
    k: int
    seconds: float


# ------------------------------------------------------------------ the reference
def log_importance_weights(model, x, eps):
    """All log weights at once — the plain reference the chunked estimator is tested against.

    Args:
        model: a VAE (see :mod:`.interface`).
        x: (N, D) images.
        eps: (K, N, L) standard-normal noise; z_kn = μ(x_n) + σ(x_n) ⊙ ε_kn.
    Returns:
        (K, N) float64: log p(x_n|z_kn) + log p(z_kn) − log q(z_kn|x_n), nats.
    """
    check_vae(model)
    x = model.check_input(x, model.input_dim, model.likelihood)
    xp = get_array_module(x)
    eps = xp.asarray(eps, dtype=np.float64)
    K, N, L = eps.shape
    if (N, L) != (len(x), model.latent_dim):
        raise ShapeError(f"eps must be (K, N, L) = (K, {len(x)}, {model.latent_dim}), "
                         f"got {tuple(eps.shape)}")
    mu, logvar = (a.astype(np.float64) for a in encode_checked(model, x))
    log_w, _ = log_weights_chunk(model, x, mu, logvar, eps.transpose(1, 0, 2))   # (N, K)
    return log_w.T


def iwae_nll_reference(model, x, eps):
    """NLL_K (N,) from :func:`log_importance_weights` and one logsumexp over K."""
    log_w = log_importance_weights(model, x, eps)                      # (K, N)
    return -(logsumexp(log_w, axis=0) - math.log(log_w.shape[0]))


# --------------------------------------------------------------- the estimator
def iwae_nll(model, x, k, *, batch_size=100, sample_chunk=None, rng=None, eps=None,
             memory_mb=DEFAULT_MEMORY_MB, progress=False, comm=None):
    """NLL_K of every image, (N,) float64 nats; see :func:`importance_sample`."""
    return importance_sample(model, x, k, batch_size=batch_size, sample_chunk=sample_chunk,
                             rng=rng, eps=eps, memory_mb=memory_mb, progress=progress,
                             comm=comm).nll


def importance_sample(model, x, k, *, batch_size=100, sample_chunk=None, rng=None, eps=None,
                      memory_mb=DEFAULT_MEMORY_MB, progress=False, comm=None) -> IWAEResult:
    """Estimate −log p(x) of each image with exactly ``k`` importance samples.

    Args:
        model: a VAE (see :mod:`.interface`); put in eval mode for the pass.
        x: (N, D) images (binarized, for published Bernoulli numbers).
        k: K ≥ 1 samples per image.
        batch_size: images encoded at once.
        sample_chunk: at most S samples per image per decoder call (default: as many
            as ``memory_mb`` allows, up to K).
        rng, eps: where ε comes from (module docstring).
        memory_mb: budget for one chunk's decoder output (G·S·D values).
        progress: show a progress bar over images (rank 0's, under MPI).
        comm: a :class:`~scratchvae.distributed.Communicator` to split the images over
            (module docstring); None: this process alone.
    Returns:
        :class:`IWAEResult` with per-image nll, recon, ess.
    """
    check_vae(model)
    check_float_array(x, "x", ndim=2)
    k = int(k)
    if k < 1 or batch_size < 1 or (sample_chunk is not None and sample_chunk < 1):
        raise ValueError(f"k, batch_size and sample_chunk must be ≥ 1, got {k}, {batch_size}, "
                         f"{sample_chunk}")
    N, L = len(x), model.latent_dim
    if eps is not None and tuple(eps.shape) != (k, N, L):
        raise ShapeError(f"eps must be (K, N, L) = {(k, N, L)}, got {tuple(eps.shape)}")
    draw = _noise_source(rng, eps, L)
    P = 1 if comm is None else comm.size
    if P > 1 and eps is None and not isinstance(draw, _PerImageStreams):
        raise ValueError("importance_sample over several MPI ranks needs rng=None or an int "
                         "seed (one ε stream per image) or frozen eps; a shared Generator or "
                         "callable is read in visiting order, which the ranks cannot share")
    n_batches = -(-N // batch_size)
    first, last = shard_rows(n_batches, comm.rank, P) if P > 1 else (0, n_batches)
    mine = range(first * batch_size, min(last * batch_size, N), batch_size)
    max_rows = max(1, int(memory_mb * 2**20 // (model.input_dim * np.dtype(model.dtype).itemsize)))
    S = min(k, int(sample_chunk) if sample_chunk else max_rows)
    G = max(1, min(batch_size, max_rows // S))
    nll, recon, ess, neg_elbo = (np.empty(N) for _ in range(4))
    was_training = model.training
    model.eval()
    t0 = time.perf_counter()
    try:
        with tqdm(total=min(last * batch_size, N) - first * batch_size, desc=f"IWAE K={k}",
                  unit="img", disable=not (progress and (P == 1 or comm.is_root)),
                  dynamic_ncols=True) as bar:
            for b0 in mine:
                xb = model.check_input(x[b0:b0 + batch_size], model.input_dim, model.likelihood)
                mu, logvar = (a.astype(np.float64) for a in encode_checked(model, xb))
                for g0 in range(0, len(xb), G):
                    g1 = min(g0 + G, len(xb))
                    n0 = b0 + g0                       # index of the group's first image in x
                    stats = _sample_group(model, xb[g0:g1], mu[g0:g1], logvar[g0:g1], k, S,
                                          lambda s0, s1: draw(s0, s1, n0, n0 + g1 - g0))
                    for arr, val in zip((nll, recon, ess, neg_elbo), stats):
                        arr[n0:n0 + g1 - g0] = to_numpy(val)
                    bar.update(g1 - g0)
        if P > 1:                              # every rank's images, on every rank
            lo, hi = first * batch_size, min(last * batch_size, N)
            for r_lo, r_hi, parts in comm.allgather(
                    (lo, hi, [a[lo:hi] for a in (nll, recon, ess, neg_elbo)])):
                for arr, part in zip((nll, recon, ess, neg_elbo), parts):
                    arr[r_lo:r_hi] = part
    finally:
        model.train(was_training)
    return IWAEResult(nll=nll, recon=recon, ess=ess, neg_elbo=neg_elbo, k=k,
                      seconds=time.perf_counter() - t0)


def _sample_group(model, x, mu, logvar, k, S, draw):
    """Fold K samples of G images, S at a time, into running sums. Returns (nll, recon, ess,
    neg_elbo)."""
    xp = get_array_module(mu)
    G = len(x)
    acc = RunningLogSumExp((G,), xp)          # log Σ_k w_k
    acc2 = RunningLogSumExp((G,), xp)         # log Σ_k w_k², for the ESS
    recon_sum, log_w_sum = xp.zeros(G), xp.zeros(G)
    for s0 in range(0, k, S):
        s1 = min(s0 + S, k)
        eps = xp.asarray(draw(s0, s1), dtype=np.float64)             # (s1 − s0, G, L)
        eps = xp.ascontiguousarray(eps.transpose(1, 0, 2))            # (G, S', L): image-major rows
        log_w, log_px_z = log_weights_chunk(model, x, mu, logvar, eps)   # (G, S') each
        acc.add(log_w)
        acc2.add(2 * log_w)
        recon_sum -= log_px_z.sum(axis=1)
        log_w_sum += log_w.sum(axis=1)
    log_sum = acc.value()
    return (math.log(k) - log_sum,              # NLL_K = −(log Σ w − log K)
            recon_sum / k,
            xp.exp(2 * log_sum - acc2.value()),  # ESS = (Σ w)² / Σ w²
            -log_w_sum / k)


class RunningLogSumExp:
    """log Σ exp(a) over values added chunk by chunk along the last axis, float64.

    State per entry: m, the largest value so far, and s = Σ e^{a − m} ∈ [1, count];
    adding a chunk rescales s to the new maximum, so no exp ever overflows and the
    largest term is always e^0. Entries that have only seen −inf stay −inf.
    """

    def __init__(self, shape, xp=np):
        self.xp = xp
        self.m = xp.full(shape, -np.inf)
        self.s = xp.zeros(shape)

    def add(self, a):
        """Fold in a (..., C) chunk of values."""
        xp = self.xp
        a = xp.asarray(a, dtype=np.float64)
        m_new = xp.maximum(self.m, a.max(axis=-1))
        shift = xp.where(xp.isfinite(m_new), m_new, 0.0)             # all −inf so far: s stays 0
        self.s = self.s * xp.exp(self.m - shift) + xp.exp(a - shift[..., None]).sum(axis=-1)
        self.m = m_new

    def value(self):
        """log Σ e^a, (...)."""
        xp = self.xp
        with np.errstate(divide="ignore"):
            return xp.where(xp.isfinite(self.m), self.m + xp.log(self.s), self.m)


def _noise_source(rng, eps, L):
    """draw(s0, s1, n0, n1) → ε (s1 − s0, n1 − n0, L): samples s0:s1 of images n0:n1."""
    if eps is not None:
        return lambda s0, s1, n0, n1: eps[s0:s1, n0:n1]
    if rng is None or isinstance(rng, (int, np.integer)):
        return _PerImageStreams(0 if rng is None else int(rng), L)
    if isinstance(rng, np.random.Generator):
        return lambda s0, s1, n0, n1: rng.standard_normal((s1 - s0, n1 - n0, L))
    if callable(rng):
        return lambda s0, s1, n0, n1: rng((s1 - s0, n1 - n0, L))
    raise TypeError(f"rng must be None, an int seed, a numpy Generator or a callable "
                    f"f(shape) → array; got {type(rng).__name__}")


class _PerImageStreams:
    """ε of image n from its own generator default_rng([seed, n]), read in sample order.

    A generator's stream does not depend on how it is read in pieces, so the samples of
    an image are the same for any chunking, batching or subset of images.
    """

    def __init__(self, seed: int, L: int):
        self.seed, self.L = seed, L
        self.streams: dict[int, np.random.Generator] = {}

    def __call__(self, s0, s1, n0, n1):
        if s0 == 0:                                   # a new group: fresh streams
            self.streams = {n: np.random.default_rng([self.seed, n]) for n in range(n0, n1)}
        out = np.empty((s1 - s0, n1 - n0, self.L))     # (S', G, L)
        for n in range(n0, n1):
            out[:, n - n0] = self.streams[n].standard_normal((s1 - s0, self.L))
        return out
