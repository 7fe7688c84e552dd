"""The reparameterization trick for a diagonal Gaussian posterior q(z|x) = N(μ, σ²).

    z = μ + σ ⊙ ε,    σ = exp(logvar / 2),    ε ~ N(0, I)          all (N, L)

Sampling is moved into the input ε, so z is a deterministic, differentiable
function of (μ, logvar). Backward, given dL/dz = dz:

    dμ      = dz
    dlogvar = dz ⊙ ε ⊙ σ / 2          (dσ/dlogvar = σ/2)

Note σ = exp(logvar/2), **not** exp(logvar): the latter is the variance, and using
it as the standard deviation is a bug no gradient check can see (the moment test
in tests/ is what guards it).

ε is always injectable: pass ``eps`` to freeze it (gradient checks, golden runs),
or ``rng`` to draw it reproducibly.
"""
from __future__ import annotations

import numpy as np

from ..backend import dispatched, get_array_module
from ..errors import check_same_shape


def standard_normal(shape, rng: np.random.Generator, dtype=np.float32, xp=np):
    """ε ~ N(0, I) of ``shape``, drawn on the CPU from ``rng`` (so a seed fixes it on
    every device) and moved to ``xp``'s device."""
    eps = rng.standard_normal(shape).astype(dtype, copy=False)
    return eps if xp is np else xp.asarray(eps)


def reparameterize_forward(mu, logvar, eps=None, rng=None):
    """z = μ + exp(logvar/2) ⊙ ε.

    Args:
        mu, logvar: (N, L) posterior mean and log-variance.
        eps: (N, L) frozen noise, or None to draw it from ``rng``.
        rng: ``numpy.random.Generator`` used when ``eps`` is None.
    Returns:
        z (N, L) and cache ``(eps, std)``.
    """
    check_same_shape(mu, logvar, "mu", "logvar")
    xp = get_array_module(mu)
    if eps is None:
        if rng is None:
            raise ValueError("reparameterize_forward needs eps (frozen noise) or rng to draw it")
        eps = standard_normal(mu.shape, rng, mu.dtype, xp)
    else:
        check_same_shape(mu, eps, "mu", "eps")
    z, std = reparameterize_z(mu, logvar, eps)
    return z, (eps, std)


def reparameterize_backward(dz, cache):
    """Return ``(dmu, dlogvar)`` given dL/dz (N, L)."""
    eps, std = cache
    return reparameterize_grads(dz, eps, std)


@dispatched("reparameterize_z")
def reparameterize_z(mu, logvar, eps):
    """σ = exp(logvar/2) and z = μ + σ ⊙ ε, (N, L) each (one CUDA pass on the GPU)."""
    std = get_array_module(mu).exp(0.5 * logvar)
    return mu + std * eps, std


@dispatched("reparameterize_grads")
def reparameterize_grads(dz, eps, std):
    """dμ = dz and dlogvar = dz ⊙ ε ⊙ σ / 2 (one CUDA pass on the GPU)."""
    dmu = dz                               # ∂z/∂μ = 1
    dlogvar = dz * eps * (0.5 * std)       # ∂z/∂logvar = ε σ / 2
    return dmu, dlogvar
