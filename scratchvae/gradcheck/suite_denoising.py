"""Registry entries for the denoising autoencoder (Gaussian noise and masking, with a
Bernoulli likelihood; masking with MSE), and :func:`frozen_dae_case`, the case they check.

Checking standard: the one stated in :mod:`scratchvae.gradcheck.registry`. The
corruption is frozen (an explicit noise array or mask, then ``x_tilde`` passed to
``loss_and_grads``), so every one of the checker's forward calls sees the same input.
The noise is large (σ = 0.5, p = 0.4) so that x̃ is far from x: a backward that fed
the clean x to the encoder's cache would fail (tests/test_denoising_ae.py plants
exactly that bug).
"""
from __future__ import annotations

import numpy as np

from ..data.corruption import corrupt_gaussian, corrupt_masking, masking_mask
from .adapters import check_model
from .registry import F64, register, unit_weights


def frozen_dae_case(corruption, likelihood, seed):
    """(model, x, x_tilde): a tiny float64 DAE 7-5-2 with unit-scale weights, a clean batch
    x (3, 7) in (0, 1) and its frozen corruption."""
    from ..models import DenoisingAE  # noqa: PLC0415 - the package does not import models
    rng = np.random.default_rng(seed)
    level = 0.5 if corruption == "gaussian" else 0.4
    model = DenoisingAE(7, (5,), 2, likelihood=likelihood, activation="tanh",
                        corruption=corruption, noise_level=level, seed=1).astype(F64)
    unit_weights(model, rng)
    x = rng.uniform(0.05, 0.95, (3, 7))
    if corruption == "gaussian":
        x_tilde = corrupt_gaussian(x, level, noise=level * rng.standard_normal(x.shape))
    else:
        x_tilde = corrupt_masking(x, level, mask=masking_mask(x.shape, level, rng, F64))
    return model, x, x_tilde


def register_dae(name, corruption, likelihood):
    @register(name)
    def run(seed=0, **options):
        model, x, x_tilde = frozen_dae_case(corruption, likelihood, seed)
        return check_model(model, x, op=name, loss_kwargs={"x_tilde": x_tilde}, seed=seed,
                           **options)
    return run


register_dae("DenoisingAE(gaussian)", "gaussian", "bernoulli")
register_dae("DenoisingAE(masking)", "masking", "bernoulli")
register_dae("DenoisingAE(masking, mse)", "masking", "mse")
