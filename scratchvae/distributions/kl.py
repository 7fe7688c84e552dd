"""Closed-form KL divergences between diagonal Gaussians, with their gradients.

Notation: N batch, L latent dimensions; every array (N, L). Results in nats,
summed over the L latent dimensions, reduced over the batch as described in
:mod:`scratchvae.distributions.reduction` (mean by default).

KL(N(μ, σ²) || N(0, I)), with v = exp(logvar):

    KL_n = ½ Σ_j ( μ_j² + v_j − 1 − logvar_j )
         = ½ Σ_j ( μ_j² + expm1(logvar_j) − logvar_j )
    ∂KL_n/∂μ      = μ
    ∂KL_n/∂logvar = ½ (v − 1) = ½ expm1(logvar)

KL(N(μ_q, v_q) || N(μ_p, v_p)), with d = logvar_q − logvar_p (so v_q / v_p = e^d):

    KL_n = ½ Σ_j ( logvar_p − logvar_q + (v_q + (μ_q − μ_p)²) / v_p − 1 )
         = ½ Σ_j ( expm1(d) − d + (μ_q − μ_p)² / v_p )
    ∂/∂μ_q       =  (μ_q − μ_p) / v_p
    ∂/∂μ_p       = −(μ_q − μ_p) / v_p
    ∂/∂logvar_q  =  ½ expm1(d)
    ∂/∂logvar_p  = −½ ( expm1(d) + (μ_q − μ_p)² / v_p )

Input checks (O(1)): every argument a float32/float64 array (N, L), not empty, all of
one shape; ``reduction`` one of "mean", "sum", "none". The values are a model's outputs
and are not scanned: a non-finite μ or logvar gives a non-finite KL, which the trainer
reports with its step.

Why expm1: near q = p (a collapsed latent unit) v − 1 − logvar is a difference of
nearly equal numbers and rounds to slightly *negative* values; expm1(x) − x keeps
the O(x²) result accurate, so KL ≥ 0 holds in floating point too.
"""
from __future__ import annotations

from ..backend import dispatched, get_array_module
from ..functional.checks import check_array, check_same_shapes
from .reduction import batch_scale, check_reduction, per_sample_sum, reduce_batch


def _check_gaussians(**arrays):
    """Each array (N, L) float32/float64, not empty, all of the first one's shape; O(1)."""
    (first, ref), *_ = arrays.items()
    for name, a in arrays.items():
        check_array(a, name, ndim=2, layout="(N, L)")
        if a.shape != ref.shape:
            check_same_shapes(ref, first, **{name: a})


def kl_standard_normal(mu, logvar, reduction: str = "mean"):
    """KL(N(μ, exp(logvar)) || N(0, I)).

    Returns ``(kl, {"mu": dmu, "logvar": dlogvar})``: kl is a scalar (or (N,) for
    reduction="none"), dmu and dlogvar (N, L) the gradients of the returned value.
    """
    _check_gaussians(mu=mu, logvar=logvar)
    rows, dmu, dlogvar = kl_standard_normal_rows(mu, logvar, batch_scale(mu.shape[0], reduction))
    kl, _ = reduce_batch(rows.astype(mu.dtype, copy=False), reduction)
    return kl, {"mu": dmu, "logvar": dlogvar}


@dispatched("kl_standard_normal_rows")
def kl_standard_normal_rows(mu, logvar, scale):
    """The per-example KL (N,) and its gradients (N, L) × 2 for a batch scale (1/N for a
    mean), behind :func:`kl_standard_normal`; one fused pass on the CUDA path."""
    xp = get_array_module(mu)
    var_m1 = xp.expm1(logvar)                                   # v − 1, accurate near 0
    rows = 0.5 * per_sample_sum(mu * mu + (var_m1 - logvar))    # (N,)
    return rows, mu * scale, (0.5 * scale) * var_m1


def kl_per_dimension(mu, logvar):
    """Batch-mean KL of each latent dimension, (L,) — the "KL per unit" diagnostic."""
    _check_gaussians(mu=mu, logvar=logvar)
    xp = get_array_module(mu)
    return (0.5 * (mu * mu + (xp.expm1(logvar) - logvar))).mean(axis=0)


def kl_diag_gaussians(mu_q, logvar_q, mu_p, logvar_p, reduction: str = "mean"):
    """KL(N(μ_q, exp(logvar_q)) || N(μ_p, exp(logvar_p))), all (N, L).

    Returns ``(kl, {"mu_q": …, "logvar_q": …, "mu_p": …, "logvar_p": …})``.
    """
    _check_gaussians(mu_q=mu_q, logvar_q=logvar_q, mu_p=mu_p, logvar_p=logvar_p)
    check_reduction(reduction)
    xp = get_array_module(mu_q)
    d = logvar_q - logvar_p
    ratio_m1 = xp.expm1(d)                             # v_q / v_p − 1
    inv_var_p = xp.exp(-logvar_p)
    diff = mu_q - mu_p
    mahal = diff * diff * inv_var_p                    # (μ_q − μ_p)² / v_p
    kl, scale = reduce_batch(0.5 * per_sample_sum((ratio_m1 - d) + mahal), reduction)
    dmu_q = (diff * inv_var_p) * scale
    dlogvar_q = (0.5 * scale) * ratio_m1
    dlogvar_p = (-0.5 * scale) * (ratio_m1 + mahal)
    return kl, {"mu_q": dmu_q, "logvar_q": dlogvar_q, "mu_p": -dmu_q, "logvar_p": dlogvar_p}
