"""Which latent units a VAE uses: active units and the KL of each dimension.

Notation: N images, L latent dimensions.

Active units (Burda et al., 2016, §5.2): unit j is active when the posterior mean moves
with the data,

    A_j = Cov_x( E_{q(z|x)}[z_j] ) = Var_n μ_j(x_n)  >  threshold  (0.01 by default),

a unit whose μ_j is the same for every x carries no information about x (its q(z_j|x)
has collapsed to something that ignores x, usually the prior).

KL per dimension: the mean over the data of KL(q(z_j|x) || N(0, 1)),

    KL_j = (1/N) Σ_n ½ ( μ_nj² + σ_nj² − 1 − log σ_nj² )    nats,

whose sum over j is the KL term of the ELBO; a unit with KL_j ≈ 0 is unused. A model
whose prior is not N(0, I) (a hierarchy) gives its own per-unit KL, ``kl_per_unit(x)``
(:mod:`.interface`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backend import get_array_module, to_numpy
from ..errors import check_float_array
from .interface import check_vae, encode_checked


@dataclass
class LatentUsage:
    """Per-unit statistics over a data set; arrays (L,) float64.

    variances:     Var_n μ_j(x_n), the activity of each unit.
    kl:            mean KL of each unit, nats (sums to the ELBO's KL term).
    kl_per_image:  (N,) KL(q(z|x_n) || p(z)) summed over the units, nats.
    active:        variances > threshold.
    """
    variances: np.ndarray
    kl: np.ndarray
    kl_per_image: np.ndarray
    threshold: float

    @property
    def active(self) -> np.ndarray:
        return self.variances > self.threshold

    @property
    def count(self) -> int:
        return int(self.active.sum())


def kl_per_unit(mu, logvar):
    """KL(N(μ, e^logvar) || N(0, 1)) of each image and unit, (B, L) — the terms of
    :func:`scratchvae.distributions.kl_standard_normal` before its sums (same expm1 form)."""
    xp = get_array_module(mu)
    return 0.5 * (mu * mu + (xp.expm1(logvar) - logvar))


def latent_usage(model, x, threshold: float = 0.01, batch_size: int = 1000) -> LatentUsage:
    """Encode ``x`` (N, D) in batches and return :class:`LatentUsage`."""
    check_vae(model)
    check_float_array(x, "x", ndim=2)
    was_training = model.training
    model.eval()
    try:
        mus, kls = [], []
        for i in range(0, len(x), batch_size):
            xb = model.check_input(x[i:i + batch_size], model.input_dim)
            mu, logvar = (a.astype(np.float64) for a in encode_checked(model, xb))
            mus.append(to_numpy(mu))                                     # (B, L)
            kl = model.kl_per_unit(xb) if hasattr(model, "kl_per_unit") else \
                kl_per_unit(mu, logvar)                                  # (B, L)
            kls.append(to_numpy(kl).astype(np.float64))
    finally:
        model.train(was_training)
    mu, kl = np.concatenate(mus), np.concatenate(kls)                   # (N, L) each
    # two-pass variance (subtract the mean first): stable when |μ| ≫ its spread
    variances = ((mu - mu.mean(axis=0)) ** 2).mean(axis=0)
    return LatentUsage(variances=variances, kl=kl.mean(axis=0), kl_per_image=kl.sum(axis=1),
                       threshold=float(threshold))


def active_units(model, x, threshold: float = 0.01, batch_size: int = 1000):
    """Number of active units and the per-unit variances Var_n μ_j(x_n), (L,) float64."""
    usage = latent_usage(model, x, threshold, batch_size)
    return usage.count, usage.variances
