"""The VampPrior's densities (Tomczak & Welling, 2018): a mixture of K diagonal Gaussians
as the prior, its log-density and gradients, a sampler, and the sampled KL term.

Notation: N codes (a batch), L latent dimensions, K mixture components; k indexes
components, n codes, j latent dimensions; σ² = exp(logvar); all results in nats.

The prior. In the VampPrior VAE each component is the encoder's posterior at a learned
pseudo-input u_k, (μ_k, logvar_k) = encoder(u_k); here they are just K Gaussians:

    p(z) = (1/K) Σ_k N(z; μ_k, diag σ_k²)                         μ, logvar (K, L)

    ℓ_nk   = log N(z_n; μ_k, σ_k²) = −½ Σ_j [ (z_nj − μ_kj)² e^{−logvar_kj}
                                               + logvar_kj + log 2π ]              (N, K)
    log p(z_n) = logsumexp_k ℓ_nk − log K                                          (N,)

The logsumexp is max-shifted (``functional.numerics.logsumexp``): m_n = max_k ℓ_nk,
log Σ_k e^{ℓ_nk} = m_n + log Σ_k e^{ℓ_nk − m_n}; the largest term is e⁰ = 1, so a code
far from every component (every ℓ_nk ≈ −1e6, where each e^{ℓ} underflows to 0) still
gets its finite log-density instead of log 0 = −inf.

Its gradients. With the responsibilities — how much of z_n each component explains —

    r_nk = e^{ℓ_nk} / Σ_k' e^{ℓ_nk'} = exp(ℓ_nk − logsumexp_k ℓ_nk)      Σ_k r_nk = 1

(the posterior over components, computed from the same max-shifted logsumexp, so
r ∈ [0, 1] never overflows), and ∂ logsumexp/∂ℓ_nk = r_nk, the chain rule through
ℓ_nk gives, for one code:

    ∂ log p(z_n)/∂z_n       = Σ_k r_nk · ( −(z_n − μ_k) e^{−logvar_k} )     pulled to the
                                                                             components
    ∂ log p(z_n)/∂μ_k       = r_nk · (z_n − μ_k) e^{−logvar_k}              each component
                                                                             pulled to z_n
    ∂ log p(z_n)/∂logvar_k  = r_nk · ½ [ (z_n − μ_k)² e^{−logvar_k} − 1 ]   widened if z_n
                                                                             is outside σ_k

and a component's gradient sums over the codes n (:func:`mixture_log_density_backward`,
given an upstream gradient per code).

The KL term. KL(q(z|x) ‖ p(z)) of a Gaussian q and a mixture p has no closed form; the
VampPrior VAE uses the single-sample estimate at the reparameterized z = μ + σ ⊙ ε,

    KL̂_n = log q(z_n|x_n) − log p(z_n),    E_ε[KL̂_n] = KL(q(z|x_n) ‖ p(z))

    log q(z|x) = −½ Σ_j [ (z_j − μ_j)² e^{−logvar_j} + logvar_j + log 2π ]

summed over the latent dimensions and averaged over the batch (:mod:`.reduction`). One
sample can make KL̂_n negative; only its mean is the (non-negative) KL. −log q(z|x) is
the Gaussian negative log-likelihood of z under mean μ and log-variance logvar, so
:func:`~.likelihoods.gaussian_nll` computes it, and its gradients give log q's:

    ∂ log q/∂μ      = +(z − μ) e^{−logvar}                (the nll's "mean" gradient, negated)
    ∂ log q/∂logvar = −½ + ½ (z − μ)² e^{−logvar}        (its "logvar" gradient, negated)
    ∂ log q/∂z      = −(z − μ) e^{−logvar} = −∂ log q/∂μ  (log q depends on z − μ alone)

:func:`sampled_kl` treats z, μ, logvar and the components as five independent inputs and
returns a gradient for each; the path through z = μ + σε is the model's to add
(``models/vampprior_vae.py``, whose docstring follows it to the encoder).
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import dispatched, get_array_module
from ..errors import ShapeError
from ..functional.checks import check_array, check_grad, check_int, check_same_shapes
from ..functional.numerics import logsumexp
from .likelihoods import LOG_2PI, gaussian_nll
from .reduction import reduce_batch
from .reparam import check_generator


def check_components(mu, logvar, latent_dim: int | None = None):
    """The mixture's component parameters: μ and logvar, float arrays (K, L) of one shape,
    with L = ``latent_dim`` when given; O(1)."""
    check_array(mu, "component mu", ndim=2, layout="(K, L)")
    check_array(logvar, "component logvar", ndim=2, layout="(K, L)")
    if logvar.shape != mu.shape:
        check_same_shapes(mu, "component mu", **{"component logvar": logvar})
    if latent_dim is not None and mu.shape[1] != latent_dim:
        raise ShapeError(f"the mixture's components have {mu.shape[1]} latent dimensions but "
                         f"the codes z have {latent_dim}; pass components (K, {latent_dim})")


@dispatched("mixture_log_terms")
def mixture_log_terms(z, mu, logvar):
    """ℓ_nk = log N(z_n; μ_k, diag e^{logvar_k}) for every code and component (N, K).

    The NumPy body broadcasts z_n − μ_k to (N, K, L); the Numba path runs
    ``kernels/mixture.py``, which keeps it in registers (same sums, other orders).
    """
    xp = get_array_module(z)
    diff = z[:, None, :] - mu[None, :, :]                             # z_n − μ_k  (N, K, L)
    inv_var = xp.exp(-logvar)                                         # e^{−logvar} (K, L)
    return -0.5 * ((diff * diff * inv_var).sum(axis=2)                # ℓ_nk       (N, K)
                   + logvar.sum(axis=1) + logvar.shape[1] * LOG_2PI)


@dispatched("mixture_grads")
def mixture_grads(w, z, mu, logvar):
    """(dz (N, L), dmu (K, L), dlogvar (K, L)) from w = dL/dℓ (N, K): the chain rule
    through ℓ_nk (module docstring), d = z_n − μ_k recomputed from z and μ."""
    xp = get_array_module(z)
    diff = z[:, None, :] - mu[None, :, :]                             # z_n − μ_k  (N, K, L)
    pull = diff * xp.exp(-logvar)                                     # (z_n − μ_k) e^{−logvar_k}
    dz = -xp.einsum("nk,nkl->nl", w, pull)          # Σ_k w_nk · (−(z_n − μ_k) e^{−logvar_k})
    dmu = xp.einsum("nk,nkl->kl", w, pull)          # Σ_n w_nk · (z_n − μ_k) e^{−logvar_k}
    dlogvar = 0.5 * (xp.einsum("nk,nkl->kl", w, pull * diff)          # Σ_n w_nk · ½ [(z − μ)²
                     - w.sum(axis=0)[:, None])                        #   e^{−logvar} − 1]
    return dz, dmu, dlogvar


def mixture_log_density_forward(z, mu, logvar):
    """log p(z_n) = log (1/K) Σ_k N(z_n; μ_k, diag e^{logvar_k}), max-shifted.

    Args:
        z: (N, L) codes.
        mu, logvar: (K, L) the components' means and log-variances.
    Returns:
        log_p (N,) in nats, and the cache ``(z, mu, logvar, r)`` with the
        responsibilities r (N, K).
    """
    xp = get_array_module(z)
    log_p, ell, lse = _mixture_log_density(z, mu, logvar)
    r = xp.exp(ell - lse)                                             # responsibilities (N, K)
    return log_p, (z, mu, logvar, r)


def mixture_log_density(z, mu, logvar):
    """log p(z_n) (N,) as :func:`mixture_log_density_forward` gives it, with no cache: the
    evaluation's prior term, which never runs a backward, skips the N·K exponentials of
    the responsibilities."""
    return _mixture_log_density(z, mu, logvar)[0]


def _mixture_log_density(z, mu, logvar):
    """(log p (N,), ℓ (N, K), logsumexp_k ℓ (N, 1)): the shared forward."""
    check_array(z, "z", ndim=2, layout="(N, L)")
    check_components(mu, logvar, z.shape[1])
    ell = mixture_log_terms(z, mu, logvar)                            # ℓ_nk       (N, K)
    lse = logsumexp(ell, axis=1, keepdims=True)                       # (N, 1), max-shifted
    return lse[:, 0] - math.log(mu.shape[0]), ell, lse


def mixture_log_density_backward(dlog_p, cache):
    """Gradients of :func:`mixture_log_density_forward` (module docstring).

    Args:
        dlog_p: (N,) upstream gradient dL/d log p(z_n).
        cache: from the forward.
    Returns:
        dz (N, L), dmu (K, L), dlogvar (K, L).
    """
    z, mu, logvar, r = cache
    check_grad(dlog_p, r.shape[:1], "mixture_log_density_backward", "dlog_p")
    w = dlog_p[:, None] * r                                           # dL/dℓ_nk   (N, K)
    return mixture_grads(w, z, mu, logvar)


def mixture_sample(mu, logvar, n: int, rng: np.random.Generator):
    """n draws from p(z) = (1/K) Σ_k N(μ_k, diag e^{logvar_k}): a component k ~ U{0…K−1}
    for each draw, then z = μ_k + e^{logvar_k/2} ⊙ ε, ε ~ N(0, I).

    Both draws come from ``rng`` on the CPU (components first, then ε), so a seed fixes
    them on every device. Returns z (n, L) in μ's dtype and array module.
    """
    check_components(mu, logvar)
    n = check_int(n, "n", 1, hint="the number of samples to draw")
    xp = get_array_module(mu)
    rng = check_generator(rng)
    k = rng.integers(0, mu.shape[0], size=n)                          # component of each draw
    eps = rng.standard_normal((n, mu.shape[1])).astype(mu.dtype, copy=False)
    k = k if xp is np else xp.asarray(k)
    eps = eps if xp is np else xp.asarray(eps)
    return mu[k] + xp.exp(0.5 * logvar[k]) * eps                       # (n, L)


def sampled_kl(z, mu, logvar, mu_p, logvar_p, reduction: str = "mean"):
    """The single-sample KL estimate log q(z|x) − log p(z) under a Gaussian-mixture prior.

    Args:
        z: (N, L) the codes drawn from q, z = μ + σ ⊙ ε.
        mu, logvar: (N, L) the posterior q(z|x) = N(μ, diag e^{logvar}).
        mu_p, logvar_p: (K, L) the prior's components.
        reduction: "mean" (default), "sum" or "none" (:mod:`.reduction`).
    Returns:
        ``(kl, grads)``: kl a scalar (or (N,) for "none"), nats; grads maps "z", "mu",
        "logvar" (N, L) and "mu_p", "logvar_p" (K, L) to the gradients of the returned
        value, each input held independent of the others (module docstring).
    """
    check_array(z, "z", ndim=2, layout="(N, L)")
    check_array(mu, "mu", ndim=2, layout="(N, L)")
    check_array(logvar, "logvar", ndim=2, layout="(N, L)")
    if mu.shape != z.shape or logvar.shape != z.shape:
        check_same_shapes(z, "z", mu=mu, logvar=logvar)
    neg_log_q, dq = gaussian_nll(mu, z, logvar, reduction="none", check_data=False)   # (N,)
    log_p, cache = mixture_log_density_forward(z, mu_p, logvar_p)                      # (N,)
    kl, scale = reduce_batch(-neg_log_q - log_p, reduction)       # KL̂_n = log q − log p
    dlog_q_dmu = -dq["mean"]                                      # ∂ log q/∂μ = (z − μ)/σ²
    dz_p, dmu_p, dlogvar_p = mixture_log_density_backward(
        get_array_module(z).full(len(z), -scale, dtype=z.dtype), cache)   # of −scale·Σ log p
    return kl, {"z": dz_p - scale * dlog_q_dmu,                  # ∂ log q/∂z = −∂ log q/∂μ
                "mu": scale * dlog_q_dmu,
                "logvar": -scale * dq["logvar"],                  # −½ + ½ (z − μ)²/σ²
                "mu_p": dmu_p, "logvar_p": dlogvar_p}
