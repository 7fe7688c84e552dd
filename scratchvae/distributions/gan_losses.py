"""GAN losses from discriminator logits: stable, each returned with its gradients.

Notation: l (N, 1) logits of the discriminator for one batch of N images; D(x) = σ(l)
is the probability it gives to "x is real". "Fake" batches are generated images
(in the VAE-GAN: reconstructions x̃ and prior samples x_p); there may be several, each
with its own size M_k.

Every loss is a binary cross-entropy from logits, computed by
:func:`scratchvae.distributions.bernoulli_nll` (stable: softplus in its
max(l, 0) + log1p(e^{−|l|}) form, no log of a rounded σ), summed over the single
output dimension and **averaged over each batch**, in nats:

    −log σ(l)      = softplus(−l)            (a "real" label)
    −log(1 − σ(l)) = softplus(l)             (a "fake" label)

Discriminator (it minimizes; this is the paper's L_GAN with the sign that makes it a
loss, ≥ 0):

    L_dis = mean_n softplus(−l_real) + Σ_k mean_m softplus(l_fake_k)
    ∂L_dis/∂l_real = (σ(l_real) − 1) / N          ∂L_dis/∂l_fake_k = σ(l_fake_k) / M_k

Generator (it minimizes), two variants:

    "minimax"         L_gen = −Σ_k mean_m softplus(l_fake_k)       (= −L_dis, fake terms)
                      ∂/∂l_fake = −σ(l_fake) / M → 0 when D rejects the fakes (σ → 0):
                      the gradient vanishes exactly when the generator is worst (saturates)
    "non_saturating"  L_gen = Σ_k mean_m softplus(−l_fake_k)       (= −Σ log D(fake))
                      ∂/∂l_fake = (σ(l_fake) − 1) / M → −1/M when D rejects the fakes
                      (Goodfellow et al. 2014, §3): same fixed point, strong early gradient
"""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from .likelihoods import bernoulli_nll
from ..errors import ConfigError, DataError, ShapeError
from ..functional.checks import check_array

GENERATOR_LOSSES = ("non_saturating", "minimax")


def _check_logits(logits, name: str):
    """(N, 1) float32/float64, not empty; O(1). NaN is the training loop's to report."""
    if getattr(logits, "ndim", None) == 1 and isinstance(logits.dtype, np.dtype):
        raise ShapeError(f"{name} must be discriminator logits of shape (N, 1), got "
                         f"{tuple(logits.shape)}; add the column axis: {name}[:, None]")
    check_array(logits, name, ndim=2, layout="(N, 1)")
    if logits.shape[1] != 1:
        raise ShapeError(f"{name} must be discriminator logits of shape (N, 1), "
                         f"got {tuple(logits.shape)}")
    return logits


def _bce(logits, label: float):
    """mean_n −log p(label | σ(l_n)) and its gradient w.r.t. l, (N, 1)."""
    xp = get_array_module(logits)
    loss, grads = bernoulli_nll(logits, xp.full_like(logits, label), check_data=False)
    return loss, grads["logits"]


def discriminator_loss(logits_real, *logits_fake):
    """The discriminator's cross-entropy: real → 1, every fake batch → 0.

    Args:
        logits_real: (N, 1) logits on data.
        *logits_fake: one or more (M_k, 1) logit arrays on generated images.
    Returns:
        ``(loss, {"logits_real": dreal, "logits_fake": dfakes})``: the loss (nats),
        dL/dl_real (N, 1) and the list of dL/dl_fake_k (M_k, 1).
    """
    if not logits_fake:
        raise DataError("discriminator_loss needs at least one batch of fake logits: "
                        "discriminator_loss(logits_real, logits_fake, ...)")
    loss, dreal = _bce(_check_logits(logits_real, "logits_real"), 1.0)   # softplus(−l)
    dfakes = []
    for k, lf in enumerate(logits_fake):
        part, dfake = _bce(_check_logits(lf, f"logits_fake[{k}]"), 0.0)  # softplus(l)
        loss += part
        dfakes.append(dfake)
    return float(loss), {"logits_real": dreal, "logits_fake": dfakes}


def generator_loss(*logits_fake, kind: str = "non_saturating"):
    """The generator's adversarial loss on one or more fake batches.

    Args:
        *logits_fake: (M_k, 1) logits of the discriminator on generated images.
        kind: "non_saturating" (default, −Σ log D(fake)) or "minimax" (Σ log(1 − D(fake))).
    Returns:
        ``(loss, {"logits_fake": dfakes})``: the loss (nats) and the list of
        dL/dl_fake_k (M_k, 1).
    """
    if not isinstance(kind, str) or kind not in GENERATOR_LOSSES:
        raise ConfigError(f"unknown generator loss kind {kind!r}; choose one of "
                          f"{GENERATOR_LOSSES}")
    if not logits_fake:
        raise DataError("generator_loss needs at least one batch of fake logits: "
                        "generator_loss(logits_fake, ..., kind=...)")
    loss, dfakes = 0.0, []
    for k, lf in enumerate(logits_fake):
        lf = _check_logits(lf, f"logits_fake[{k}]")
        if kind == "non_saturating":
            part, dfake = _bce(lf, 1.0)           # softplus(−l):   d = (σ(l) − 1)/M
        else:
            part, dfake = _bce(lf, 0.0)           # −softplus(l):   d = −σ(l)/M
            part, dfake = -part, -dfake
        loss += part
        dfakes.append(dfake)
    return float(loss), {"logits_fake": dfakes}


def discriminator_accuracy(logits, real: bool) -> float:
    """Fraction of a batch the discriminator labels correctly (l > 0 means "real")."""
    _check_logits(logits, "logits")
    if not isinstance(real, (bool, np.bool_)):
        raise ConfigError(f"real must be True (the logits are of real data) or False (of "
                          f"generated data), got {real!r}")
    hits = (logits > 0) if real else (logits < 0)
    return float(hits.mean())


__all__ = ["discriminator_loss", "generator_loss", "discriminator_accuracy", "GENERATOR_LOSSES"]
