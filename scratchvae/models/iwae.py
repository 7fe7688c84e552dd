"""The importance-weighted autoencoder objective (Burda, Grosse & Salakhutdinov, 2016).

Notation: N batch, D data dimensions, L latent dimensions, k importance samples
per example; i indexes samples, b examples. Same encoder and decoder as the VAE
(MLP or conv); only the objective changes.

    encoder:  x (N, D) → μ, logvar (N, L)                      once, on N rows
    sample:   z_bi = μ_b + σ_b ⊙ ε_bi,  σ = exp(logvar/2),  ε ~ N(0, I)   (k, N, L)
    decoder:  z (k·N, L) → out (k·N, D)                        one batched call
    log w_bi = log p(x_b|z_bi) + log p(z_bi) − log q(z_bi|x_b)             (k, N)

    loss = −(1/N) Σ_b [ logsumexp_i(log w_bi) − log k ]        nats, the −IWAE bound

With k = 1 this is the single-sample −ELBO estimator (the KL is *sampled*, not the
analytic one the VAE uses); the bound tightens as k grows, E[−loss] ≤ (1/N) Σ_b
log p(x_b) for every k, and the gap closes as k → ∞. The full densities of the latent
terms are

    log p(z)   = −½ Σ_j ( z_j² + log 2π )
    log q(z|x) = −½ Σ_j ( log 2π + logvar_j + (z_j − μ_j)² / σ_j² )
               = −½ Σ_j ( log 2π + logvar_j + ε_j² )          (under z = μ + σ ε)

so log 2π cancels in log w and is never computed. For the "mse" likelihood,
log p(x|z) = −Σ_d (x̂_d − x_d)² is the σ² = ½ Gaussian without its constant
(D/2) log π — as in the VAE's loss: it shifts every log w, and so the loss, by
that constant and leaves the weights and gradients unchanged.

Backward. With normalised weights w̃_bi = softmax_i(log w_bi) (max-shifted, so
log w ≈ −1e4 neither underflows nor overflows):

    ∂loss/∂log w_bi = −w̃_bi / N =: −c_bi                       c (k, N), Σ_i c_bi = 1/N

and each log w term passes its share on:

    log p(x|z)    dout_bi  = c_bi · ∂(−log p(x_b|z))/∂out_bi    the likelihood's rows,
                             and likewise ∂/∂logvar_x (a learned Gaussian variance)
                  dz_bi   += decoder.backward(dout)_bi
    log p(z)      ∂/∂z = −z               ⇒  dz_bi += c_bi · z_bi
    −log q(z|x)   with ε held fixed:  ∂/∂μ = 0,  ∂/∂logvar_j = +½
                  ⇒  dlogvar_b += Σ_i (−c_bi) · ½ = −1/(2N)  (the weights sum to 1)
    z = μ + σ ε   dμ_b      = Σ_i dz_bi
                  dlogvar_b = Σ_i dz_bi ⊙ ε_bi ⊙ σ_b / 2

Why log q has no μ term and a constant logvar term: written through ε, log q does not
depend on μ at all. Written through z instead, its direct derivatives are (z − μ)/σ²
for μ and −½ + ½ε² for logvar, and its path through z (∂log q/∂z = −(z − μ)/σ², times
∂z/∂μ = 1 and ∂z/∂logvar = εσ/2) adds −(z − μ)/σ² and −½ε²: the totals are 0 and −½,
the derivative of the normaliser −½ logvar alone.

Reported terms (the Trainer logs ``terms``): ``loss`` is the −IWAE bound; ``recon`` =
−(1/(kN)) Σ_bi log p(x_b|z_bi), the mean over the k samples of the reconstruction
loss; ``kl`` = the analytic KL(q(z|x) || N(0, I)), batch mean. recon + kl is then
the VAE's −ELBO estimated with k samples — an upper bound of ``loss`` in expectation,
not sample by sample; ``loss`` is **not** recon + kl.
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import get_array_module
from ..distributions import kl_standard_normal, standard_normal
from ..errors import ConfigError, ShapeError
from ..functional.checks import check_array, check_finite
from .base import join_halves
from .conv_vae import ConvVAE
from .vae import VAE


def importance_weights(log_w, axis: int = 0):
    """Normalised importance weights and the log of their sum, both max-shifted.

        m   = max_i log w_i
        w̃_i = exp(log w_i − m) / Σ_j exp(log w_j − m)      = softmax_i(log w)
        lse = m + log Σ_j exp(log w_j − m)                  = logsumexp_i(log w)

    The largest term is e⁰ = 1, so the sum is in [1, k]: nothing overflows, and
    log w ≈ −1e4 (where exp underflows to 0) gives the right answer.

    Args:
        log_w: (k, N) log-weights (any shape; ``axis`` holds the samples).
    Returns:
        ``(weights, lse)``: weights with log_w's shape, summing to 1 along ``axis``;
        lse with ``axis`` removed.
    """
    xp = get_array_module(log_w)
    m = xp.max(log_w, axis=axis, keepdims=True)
    e = xp.exp(log_w - m)                                    # in (0, 1], max entry 1
    s = e.sum(axis=axis, keepdims=True)                      # in [1, k]
    return e / s, xp.squeeze(m + xp.log(s), axis=axis)


def check_k(k) -> int:
    """The number of importance samples, validated: an integer ≥ 1."""
    if (isinstance(k, bool) or not isinstance(k, (int, np.integer, float))
            or not math.isfinite(k) or int(k) != k or k < 1):
        raise ConfigError(f"k is the number of importance samples and must be an integer >= 1, "
                          f"got {k!r} (k = 1 is the single-sample ELBO)")
    return int(k)


class IWAEObjective:
    """Mixin: replaces a VAE's ``loss_and_grads`` with the k-sample IWAE bound.

    Put it before the VAE class (``class IWAE(IWAEObjective, VAE)``); the host is a
    :class:`~scratchvae.models.vae_base.VAEBase`, whose encoder half
    (:meth:`~VAEBase.posterior`), decoder, likelihood and ε generator it uses. Call
    :meth:`_setup_k` in the constructor: it stores k in ``config`` and drops β,
    which the IWAE bound does not have.
    """

    terms = ("loss", "recon", "kl")
    kl_weight = None                       # the bound has no KL term to weigh
    noise_batch_axis = 1                   # ε is (k, N, L): examples on axis 1

    def _setup_k(self, k):
        self.k = check_k(k)
        self.config.pop("beta", None)
        self.config["k"] = self.k

    def _draw_eps(self, k, n, eps, rng, like):
        """ε (k, N, L): the frozen ``eps`` checked, or drawn from ``rng`` / the model's own."""
        shape = (k, n, self.latent_dim)
        if eps is None:
            return standard_normal(shape, self._rng(rng), like.dtype, get_array_module(like))
        check_array(eps, "eps", dtypes=None)
        if tuple(eps.shape) != shape:
            raise ShapeError(f"eps must have shape (k, N, L) = {shape} for {k} importance "
                             f"samples of a batch of {n}, got {tuple(eps.shape)}")
        return check_finite(eps, "eps").astype(like.dtype, copy=False)

    def loss_and_grads(self, x, eps=None, rng=None, compute_grads: bool = True,
                       k: int | None = None) -> dict:
        """One forward (and backward) pass of the −IWAE bound on a batch.

        Args:
            x: (N, D) batch; targets in [0, 1] for the Bernoulli likelihood.
            eps: (k, N, L) frozen ε (gradient checks); otherwise drawn from ``rng``
                 (a Generator or an int seed) or, when ``rng`` is None, from the
                 model's own generator, in that (k, N, L) order.
            compute_grads: False for evaluation (no backward, grads untouched).
            k: the number of samples for this call (default: the model's ``k``) —
               e.g. a large k at evaluation for a tighter estimate of log p(x).
        Returns:
            ``{"loss", "recon", "kl"}`` as floats (batch means, nats; see the module
            docstring), ``"mu"``/``"logvar"`` (N, L), and the samples with their
            normalised weights: ``"z"`` (k, N, L), ``"log_w"`` and ``"weights"`` (k, N).
            Gradients are ADDED into ``grads`` — call ``zero_grad()`` first.
        """
        k = self.k if k is None else check_k(k)
        x = self.check_input(x, self.input_dim, self.likelihood)    # (N, D)
        N, D, L = x.shape[0], self.input_dim, self.latent_dim
        xp = get_array_module(x)
        mu, logvar = self.posterior(x)                                # (N, L) each
        eps = self._draw_eps(k, N, eps, rng, mu)                      # (k, N, L)
        std = xp.exp(0.5 * logvar)                                    # (N, L)
        z = mu + std * eps                                            # (k, N, L)
        out = self.decoder.forward(z.reshape(k * N, L))               # (kN, D), one call

        # log p(x|z) per sample: the likelihood's rows, x repeated for each i
        x_rep = xp.broadcast_to(x, (k, N, D)).reshape(k * N, D)      # (kN, D)
        logvar_x = self.logvar_x
        if not isinstance(logvar_x, float):                           # learned (D,): per-row grads
            logvar_x = xp.broadcast_to(logvar_x, (k * N, D))
        nll, dnll = self.lik.nll(out, x_rep, logvar_x, reduction="none",
                                 check_data=False)           # x was checked above
        # nll (kN,) = −log p(x|z); dnll["out"] (kN, D) = ∂nll_row/∂out_row;
        # dnll["logvar"] (kN, D) for a learned variance

        # log p(z) − log q(z|x) = −½ Σ_j (z² − logvar − ε²)   (log 2π cancels)
        log_pz_qz = -0.5 * (z * z - logvar - eps * eps).sum(axis=2)   # (k, N)
        log_w = log_pz_qz - nll.reshape(k, N)                         # (k, N)
        weights, lse = importance_weights(log_w, axis=0)              # (k, N), (N,)

        kl = kl_standard_normal(mu, logvar)[0]                        # for logging only
        result = {"loss": float(-(lse.mean() - math.log(k))), "recon": float(nll.mean()),
                  "kl": float(kl), "mu": mu, "logvar": logvar, "z": z, "log_w": log_w,
                  "weights": weights}
        if not compute_grads:
            return result

        c = weights / N                                               # (k, N) = −∂loss/∂log w
        c_rows = c.reshape(k * N, 1)                                  # row i·N + b of the decoder
        if "logvar" in dnll:
            self.grads["logvar_x"] += (c_rows * dnll["logvar"]).sum(axis=0)   # (D,)
        dz = self.decoder.backward(c_rows * dnll["out"]).reshape(k, N, L)   # log p(x|z) via out
        dz += c[:, :, None] * z                                       # log p(z): ∂(−log p)/∂z = z
        dmu = dz.sum(axis=0)                                          # z = μ + σε: ∂z/∂μ = 1
        dlogvar = (dz * eps).sum(axis=0) * (0.5 * std)                # ∂z/∂logvar = ε σ / 2
        dlogvar -= 0.5 / N                                            # −log q: Σ_i (−c_bi) · ½
        self.encoder.backward(join_halves(dmu, dlogvar), input_grad=False)   # x is data
        return result


class IWAE(IWAEObjective, VAE):
    """MLP encoder and decoder of :class:`VAE`, trained on the k-sample IWAE bound.

    Args: as :class:`VAE` without β, plus ``k`` (number of importance samples, ≥ 1;
    k = 1 is the single-sample ELBO estimator).
    """

    name = "iwae"

    def __init__(self, input_dim=784, hidden=(400,), latent_dim=20, likelihood="bernoulli",
                 learn_variance=False, logvar_x=0.0, activation="relu", k=5, seed=0,
                 dtype=np.float32):
        check_k(k)
        super().__init__(input_dim, hidden, latent_dim, likelihood, learn_variance, logvar_x,
                         beta=1.0, activation=activation, seed=seed, dtype=dtype)
        self._setup_k(k)


class ConvIWAE(IWAEObjective, ConvVAE):
    """Conv encoder and transposed-conv decoder of :class:`ConvVAE`, trained on the
    k-sample IWAE bound. Args: as :class:`ConvVAE` without β, plus ``k``."""

    name = "conv-iwae"

    def __init__(self, image_shape=(1, 28, 28), channels=(32, 64), latent_dim=20,
                 likelihood="bernoulli", learn_variance=False, logvar_x=0.0, k=5, seed=0,
                 dtype=np.float32):
        check_k(k)
        super().__init__(image_shape, channels, latent_dim, likelihood, learn_variance, logvar_x,
                         beta=1.0, seed=seed, dtype=dtype)
        self._setup_k(k)
