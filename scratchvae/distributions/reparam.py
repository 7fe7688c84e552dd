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
or ``rng`` to draw it reproducibly. A frozen ε is data: it must be a floating array of
μ's shape and finite (read once, only when it is given); μ and logvar are checked in O(1).
"""
from __future__ import annotations

import numpy as np

from ..backend import dispatched, get_array_module
from ..errors import ConfigError, ShapeError
from ..functional.checks import check_array, check_finite, check_grad, check_same_shapes


def check_generator(rng, name: str = "rng"):
    """A ``numpy.random.Generator`` (anything with ``standard_normal``); ConfigError else."""
    if not hasattr(rng, "standard_normal"):
        raise ConfigError(f"{name} must be a numpy.random.Generator, got {rng!r}; pass "
                          f"np.random.default_rng(seed) (one generator for the whole run, so "
                          f"each call draws new noise)")
    return rng


def standard_normal(shape, rng: np.random.Generator, dtype=np.float32, xp=np):
    """ε ~ N(0, I) of ``shape``, drawn on the CPU from ``rng`` (so a seed fixes it on
    every device) and moved to ``xp``'s device."""
    eps = check_generator(rng).standard_normal(shape).astype(dtype, copy=False)
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
    check_array(mu, "mu", min_ndim=1, layout="(N, L)", allow_empty=True)
    check_array(logvar, "logvar", min_ndim=1, layout="(N, L)", allow_empty=True)
    if logvar.shape != mu.shape:
        check_same_shapes(mu, "mu", logvar=logvar)
    xp = get_array_module(mu)
    if eps is None:
        if rng is None:
            raise ConfigError("reparameterize_forward needs eps (frozen noise) or rng to draw "
                              "it; pass rng=np.random.default_rng(seed)")
        eps = standard_normal(mu.shape, rng, mu.dtype, xp)
    else:
        check_array(eps, "eps", dtypes=None, allow_empty=True)
        if tuple(eps.shape) != tuple(mu.shape):
            raise ShapeError(f"eps must have mu's shape {tuple(mu.shape)} (one ε per latent "
                             f"value), got {tuple(eps.shape)}; draw it as "
                             f"rng.standard_normal({tuple(mu.shape)})")
        check_finite(eps, "eps")
    z, std = reparameterize_z(mu, logvar, eps)
    return z, (eps, std)


def reparameterize_backward(dz, cache):
    """Return ``(dmu, dlogvar)`` given dL/dz (N, L)."""
    eps, std = cache
    check_grad(dz, eps.shape, "reparameterize_backward", "dz")
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
