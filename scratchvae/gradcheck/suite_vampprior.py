"""Registry entries for the VampPrior: the hardtanh clamp of the pseudo-inputs, the
mixture log-density (w.r.t. the codes and the K components' means and log-variances), the
sampled KL log q(z|x) − log p(z) (w.r.t. all five inputs), and the whole VampPriorVAE
loss w.r.t. every parameter, the pseudo-inputs included — gated networks with the
Bernoulli likelihood and clipped pseudo-inputs, and tanh networks with the Gaussian
likelihood, β = 0.7 and unclipped pseudo-inputs.

Checking standard: the one stated in :mod:`scratchvae.gradcheck.registry`. The model
entries freeze ε (N, L) and draw the weights W ~ N(0, 1/fan_in)
(:func:`~scratchvae.gradcheck.registry.fan_in_weights`) rather than registry.model_check's
unit-scale ones: with those, the K components can spread so far apart that one code's
responsibility is 1.000 (seed 2) and the other components' gradients are ~0 and go
untested; with fan-in weights the largest r_nk stays near 0.3 for K = 4, so every
component is pulled by every code. The clipped
pseudo-inputs are drawn in (0.05, 0.95), away from hardtanh's kinks at 0 and 1; the
hardtanh entry's inputs stay at least 0.1 from its bounds.
"""
from __future__ import annotations

import numpy as np

from ..distributions.vampprior import (
    mixture_log_density_backward, mixture_log_density_forward, sampled_kl,
)
from ..functional.activations import hardtanh_backward, hardtanh_forward
from .adapters import check_model
from .core import check_function
from .registry import F64, fan_in_weights, loss_check, register

N, K, L = 3, 4, 2                          # codes, components, latent dimensions


def components(rng, k=K, lat=L):
    """K component means in [−1.5, 1.5] and log-variances in [−1, 0.5]: overlapping, so
    that every responsibility r_nk is well inside (0, 1)."""
    return rng.uniform(-1.5, 1.5, (k, lat)), rng.uniform(-1.0, 0.5, (k, lat))


@register("hardtanh")
def run_hardtanh(seed=0, **options):
    rng = np.random.default_rng(seed)
    inside = rng.uniform(size=(4, 6)) < 0.5                 # |x| in [0.1, 0.9] or [1.1, 2]
    size = np.where(inside, rng.uniform(0.1, 0.9, (4, 6)), rng.uniform(1.1, 2.0, (4, 6)))
    x = rng.choice([-1.0, 1.0], (4, 6)) * size
    return check_function(lambda: hardtanh_forward(x)[0],
                          lambda dy: {"x": hardtanh_backward(dy, hardtanh_forward(x)[1])},
                          {"x": x}, op="hardtanh", seed=seed, **options)


@register("mixture_log_density")
def run_mixture_log_density(seed=0, **options):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(5, 3))
    mu, logvar = components(rng, 4, 3)

    def backward(dy):
        dz, dmu, dlogvar = mixture_log_density_backward(
            dy, mixture_log_density_forward(z, mu, logvar)[1])
        return {"z": dz, "mu": dmu, "logvar": dlogvar}

    return check_function(lambda: mixture_log_density_forward(z, mu, logvar)[0], backward,
                          {"z": z, "mu": mu, "logvar": logvar}, op="mixture_log_density",
                          seed=seed, **options)


@register("sampled_kl(vampprior)")
def run_sampled_kl(seed=0, **options):
    rng = np.random.default_rng(seed)
    mu_p, logvar_p = components(rng)
    arrays = dict(z=rng.normal(size=(N, L)), mu=rng.normal(size=(N, L)),
                  logvar=rng.uniform(-1.0, 0.5, (N, L)), mu_p=mu_p, logvar_p=logvar_p)
    return loss_check("sampled_kl(vampprior)", sampled_kl, arrays, list(arrays), seed,
                      **options)


def vampprior_vae(**kw):
    from ..models.vampprior_vae import VampPriorVAE  # noqa: PLC0415 - no model at import
    return VampPriorVAE(7, (5,), L, n_pseudo=K, seed=1, **kw)


def register_vampprior(name, make):
    @register(name)
    def run(seed=0, **options):
        rng = np.random.default_rng(seed)
        model = fan_in_weights(make().astype(F64), rng)
        model.set_pseudo_inputs(rng.uniform(0.05, 0.95, (K, model.input_dim)))
        x = rng.uniform(0.05, 0.95, (N, model.input_dim))                # (N, D)
        eps = rng.standard_normal((N, L))                                # frozen ε
        return check_model(model, x, op=name, loss_kwargs={"eps": eps}, seed=seed, **options)
    return run


register_vampprior("VampPriorVAE(bernoulli, gated)", vampprior_vae)
register_vampprior("VampPriorVAE(gaussian, tanh, unclipped, beta=0.7)",
                   lambda: vampprior_vae(gated=False, activation="tanh", likelihood="gaussian",
                                         pseudo_clip=False, beta=0.7))
