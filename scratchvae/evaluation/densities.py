"""Full log-densities for importance sampling: log p(x|z), log p(z) − log q(z|x), log w.

Notation: N images, D data dimensions, L latent dimensions, K importance samples;
in a chunk, G images × S samples (the decoder sees R = G·S rows).

The importance weight of a sample z ~ q(z|x) is w = p(x, z) / q(z|x), so

    log w = log p(x|z) + log p(z) − log q(z|x)

and every constant must stay in: log p(x) = log E_q[w] is a number one compares
with published tables, not a loss to differentiate. With z = μ + σ ⊙ ε (σ = e^{logvar/2}):

    log p(z)   = −½ Σ_j ( z_j² + log 2π )                        standard-normal prior
    log q(z|x) = −½ Σ_j ( ε_j² + logvar_j + log 2π )             since (z_j − μ_j)/σ_j = ε_j
    log p(z) − log q(z|x) = −½ Σ_j ( z_j² − ε_j² − logvar_j )    the log 2π terms cancel

A model whose prior is not N(0, I) supplies its own ``model.log_prior(z)`` (the
VampPrior VAE's mixture, exact over its K components); every VAE of
:class:`~scratchvae.models.VAEBase` has one, N(0, I) by default. log p(z) is then the
model's, minus the full log q(z|x) above.

and the decoder's density (the losses of :mod:`scratchvae.distributions.likelihoods`
with the sign flipped, constants included):

    Bernoulli, logits l:  log p(x|z) = Σ_d [ x_d l_d − softplus(l_d) ]        (= −BCE)
    Gaussian, mean m, log-variance s (a float or (D,)):
                          log p(x|z) = −½ Σ_d [ (x_d − m_d)² e^{−s_d} + s_d + log 2π ]
    "mse" (Σ_d (m_d − x_d)², the training loss with its constant dropped) is the
    Gaussian with σ² = ½; it is evaluated as that full density, so its recon term
    here is the training loss plus (D/2) log π.

For a Bernoulli model and non-binary x the "density" is a cross-entropy, not a
probability of the data; published test NLLs use binarized images.

Precision: the decoder runs in the model's dtype; each row's sum over D is converted to
float64, and everything after (prior, posterior, weights, logsumexp) is float64.
"""
from __future__ import annotations


import numpy as np

from ..backend import get_array_module
from ..distributions.likelihoods import LOG_2PI, get_likelihood
from ..errors import ShapeError


def log_likelihood(name: str, out, x, logvar=0.0):
    """log p(x|z) of every sample, summed over D: the likelihood table's ``log_density``.

    Args:
        name: the model's likelihood ("bernoulli", "gaussian" or "mse").
        out: (G, S, D) decoder outputs, S samples for each of G images, model dtype.
        x: (G, D) the images, same dtype.
        logvar: Gaussian log σ²: a float or a (D,) array (learned per dimension).
    Returns:
        (G, S) float64, nats. ``out`` is used as scratch space and overwritten.
    """
    G, S, D = out.shape
    if x.shape != (G, D):
        raise ShapeError(f"log_likelihood: out {tuple(out.shape)} needs x of shape {(G, D)}, "
                         f"got {tuple(x.shape)}")
    return get_likelihood(name).log_density(out, x, logvar)


def log_prior_minus_posterior(z, eps, logvar, log_prior=None):
    """log p(z) − log q(z|x), float64.

    Args:
        z, eps: (..., L) and logvar broadcastable to them.
        log_prior: the model's log p(z) of codes (..., L) → (...) — a learned prior such as
            the VampPrior's (``model.log_prior``) — or None for N(0, I), where the log 2π
            terms cancel: −½ Σ_j (z_j² − ε_j² − logvar_j).
    Returns (...,).
    """
    if log_prior is None:
        return -0.5 * (z * z - eps * eps - logvar).sum(axis=-1)
    log_q = -0.5 * (eps * eps + logvar + LOG_2PI).sum(axis=-1)          # log q(z|x), full
    return log_prior(z) - log_q


def log_weights_chunk(model, x, mu, logvar, eps):
    """Log importance weights of G images with S samples each.

    Args:
        model: a VAE (see :mod:`.interface`).
        x: (G, D) images in the model's dtype.
        mu, logvar: (G, L) float64 posterior parameters of those images.
        eps: (G, S, L) float64 standard-normal noise.
    Returns:
        ``(log_w, log_px_z)``, each (G, S) float64: the log weights and their
        reconstruction part log p(x|z). A model with latents of its own structure
        computes them itself (``model.log_weights_chunk``, :mod:`.interface`).
    """
    if hasattr(model, "log_weights_chunk"):
        return model.log_weights_chunk(x, mu, logvar, eps)
    xp = get_array_module(mu)
    G, S, L = eps.shape
    z = mu[:, None, :] + xp.exp(0.5 * logvar)[:, None, :] * eps       # (G, S, L)
    out = model.decoder_output(z.reshape(G * S, L).astype(model.dtype))    # (G·S, D)
    log_px_z = log_likelihood(model.likelihood, out.reshape(G, S, -1), x,
                              _logvar_value(model))                    # (G, S)
    log_pz_qz = log_prior_minus_posterior(z, eps, logvar[:, None, :],
                                          getattr(model, "log_prior", None))
    return log_px_z + log_pz_qz, log_px_z


def _logvar_value(model):
    """The Gaussian log σ² as a float or a float64 (D,) array."""
    s = model.logvar_x
    return float(s) if isinstance(s, (int, float, np.floating)) else s
