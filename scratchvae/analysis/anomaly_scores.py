"""Per-example anomaly scores from trained autoencoders: higher = less like the training data.

Notation: N examples, D data dimensions, L latent dimensions, S samples of ε.

The training losses average over the batch; scoring needs one number per example,
so these use the ``reduction="none"`` form of the same losses
(:mod:`scratchvae.distributions.reduction`): summed over dimensions, in nats.

    autoencoder      score_n = −log p(x_n | dec(enc(x_n)))                  (reconstruction)
    VAE, −ELBO       score_n = (1/S) Σ_s −log p(x_n | z_ns) + KL(q(z|x_n) || N(0, I))
                     z_ns = μ_n + exp(logvar_n / 2) ⊙ ε_ns,  ε_ns ~ N(0, I)
    VAE, recon       score_n = −log p(x_n | dec(μ_n))                         (no sampling)

The KL term is exact (closed form); only the reconstruction term is a Monte-Carlo
estimate, whose noise S > 1 averages down. The −ELBO uses weight 1 on the KL
whatever β the model was trained with: it is an upper bound on −log p(x_n).
"""
from __future__ import annotations

import numpy as np

from ..distributions import kl_standard_normal, reparameterize_forward
from ..errors import ShapeError, check_float_array
from ..rng import as_rng


def ae_scores(model, x, batch_size: int = 1000):
    """−log p(x_n | x̂_n) per example for an autoencoder (its ``reconstruction_nll``):
    (N,) float64, nats."""
    check_float_array(x, "x", ndim=2)
    parts = [model.reconstruction_nll(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    return np.concatenate(parts).astype(np.float64)


def vae_scores(model, x, n_samples: int = 1, rng=0, eps=None, batch_size: int = 1000) -> dict:
    """Per-example −ELBO of a VAE, with its parts and the posterior-mean reconstruction.

    Args:
        model: a :class:`scratchvae.models.VAE` (or subclass).
        x: (N, D) data.
        n_samples: S, draws of ε averaged in the reconstruction term.
        rng: seed or Generator for ε (the scores are reproducible for a fixed seed).
        eps: optional frozen noise (S, N, L); overrides ``n_samples`` and ``rng``.
    Returns:
        ``{"neg_elbo", "recon", "kl", "recon_at_mean"}``, each (N,) float64 in nats;
        neg_elbo = recon + kl.
    """
    check_float_array(x, "x", ndim=2)
    if eps is not None:
        if eps.ndim != 3 or eps.shape[1:] != (len(x), model.latent_dim):
            raise ShapeError(f"frozen eps must be (S, {len(x)}, {model.latent_dim}), got "
                             f"{tuple(eps.shape)}")
        n_samples = eps.shape[0]
    if n_samples < 1:
        raise ValueError(f"n_samples must be ≥ 1, got {n_samples}")
    rng = as_rng(rng)
    out = {k: [] for k in ("recon", "kl", "recon_at_mean")}
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].astype(model.dtype, copy=False)            # (B, D)
        mu, logvar = model.encode(xb)                                       # (B, L) each
        out["kl"].append(kl_standard_normal(mu, logvar, reduction="none")[0])
        out["recon_at_mean"].append(model.reconstruction_nll(xb, mu))      # −log p(x | dec(μ))
        recon = np.zeros(len(xb))
        for s in range(n_samples):
            frozen = eps[s, i:i + len(xb)] if eps is not None else None
            z, _ = reparameterize_forward(mu, logvar, frozen, rng)          # (B, L)
            recon += model.reconstruction_nll(xb, z)                        # −log p(x|z), (B,)
        out["recon"].append(recon / n_samples)
    result = {k: np.concatenate(v).astype(np.float64) for k, v in out.items()}
    result["neg_elbo"] = result["recon"] + result["kl"]
    return result


__all__ = ["ae_scores", "vae_scores"]
