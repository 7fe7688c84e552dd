"""Registry entries for the likelihoods, KL terms and the reparameterization of
:mod:`scratchvae.distributions`: bernoulli_nll, gaussian_nll (fixed and learned
variance), squared_error, kl_standard_normal, kl_diag_gaussians, reparameterize.

Checking standard: the one stated in :mod:`scratchvae.gradcheck.registry`. A loss is
checked w.r.t. its differentiable arguments only; the data x is a fixed target. The
reparameterization's noise ε is drawn once and frozen.
"""
from __future__ import annotations

import numpy as np

from ..distributions import (
    bernoulli_nll, gaussian_nll, kl_diag_gaussians, kl_standard_normal,
    masked_squared_error, reparameterize_backward, reparameterize_forward, squared_error,
)
from .core import check_function
from .registry import loss_check, register


@register("bernoulli_nll")
def check_bernoulli_nll(seed=0, reduction="mean", **options):
    rng = np.random.default_rng(seed)
    arrays = {"logits": rng.normal(0, 3, (4, 6)), "x": rng.uniform(0, 1, (4, 6))}

    def fn(logits, x):                 # every loss returns (value, {input: gradient})
        return bernoulli_nll(logits, x, reduction)
    return loss_check("bernoulli_nll", fn, arrays, ["logits"], seed, **options)


@register("gaussian_nll(fixed var)")
def check_gaussian_nll_fixed(seed=0, **options):
    rng = np.random.default_rng(seed)
    arrays = {"mean": rng.normal(size=(4, 6)), "x": rng.normal(size=(4, 6))}

    def fn(mean, x):
        return gaussian_nll(mean, x, -0.7)                        # log σ² = −0.7, a constant
    return loss_check("gaussian_nll(fixed var)", fn, arrays, ["mean"], seed, **options)


@register("gaussian_nll(learned var)")
def check_gaussian_nll_learned(seed=0, **options):
    rng = np.random.default_rng(seed)
    arrays = {"mean": rng.normal(size=(4, 6)), "x": rng.normal(size=(4, 6)),
              "logvar": rng.normal(0, 0.5, (6,))}

    return loss_check("gaussian_nll(learned var)", gaussian_nll, arrays, ["mean", "logvar"],
                      seed, **options)


@register("squared_error")
def check_squared_error(seed=0, **options):
    rng = np.random.default_rng(seed)
    arrays = {"pred": rng.normal(size=(4, 6)), "x": rng.normal(size=(4, 6))}

    return loss_check("squared_error", squared_error, arrays, ["pred"], seed, **options)


@register("masked_squared_error")
def check_masked_squared_error(seed=0, **options):
    """About 40 % of the entries unobserved, and NaN there in x: ignored, no gradient."""
    rng = np.random.default_rng(seed)
    mask = rng.uniform(size=(4, 6)) > 0.4
    x = np.where(mask, rng.normal(size=(4, 6)), np.nan)
    arrays = {"pred": rng.normal(size=(4, 6)), "x": x, "mask": mask}
    return loss_check("masked_squared_error", masked_squared_error, arrays, ["pred"], seed,
                      **options)


@register("kl_standard_normal")
def check_kl_standard_normal(seed=0, **options):
    rng = np.random.default_rng(seed)
    arrays = {"mu": rng.normal(size=(4, 3)), "logvar": rng.normal(0, 0.7, (4, 3))}

    return loss_check("kl_standard_normal", kl_standard_normal, arrays, ["mu", "logvar"], seed,
                      **options)


@register("kl_diag_gaussians")
def check_kl_diag_gaussians(seed=0, **options):
    rng = np.random.default_rng(seed)
    names = ["mu_q", "logvar_q", "mu_p", "logvar_p"]
    arrays = {k: rng.normal(0, 0.7, (4, 3)) for k in names}

    return loss_check("kl_diag_gaussians", kl_diag_gaussians, arrays, names, seed, **options)


@register("reparameterize")
def check_reparameterize(seed=0, **options):
    rng = np.random.default_rng(seed)
    mu, logvar = rng.normal(size=(4, 3)), rng.normal(0, 0.7, (4, 3))
    noise = rng.standard_normal((4, 3))                       # frozen ε (N, L)

    def forward():
        return reparameterize_forward(mu, logvar, noise)[0]

    def backward(dz):
        dmu, dlogvar = reparameterize_backward(dz, reparameterize_forward(mu, logvar, noise)[1])
        return {"mu": dmu, "logvar": dlogvar}

    return check_function(forward, backward, {"mu": mu, "logvar": logvar}, op="reparameterize",
                          seed=seed, **options)
