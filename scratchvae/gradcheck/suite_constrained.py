"""Registry entries for the constrained VAEs: the Lagrangian VAE (Ko & Ko, "A Study on
the Optimization Problem of Variational AutoEncoder") and GECO, each with MSE and
ParametricTanh, and with a Gaussian of learned variance.

Checking standard: the one stated in :mod:`scratchvae.gradcheck.registry`, with ε
frozen (each entry is :func:`~scratchvae.gradcheck.registry.model_check`).

The multipliers are set away from their initial values (α = 0.7, λ = 2.3) so that a
backward that drops a weight, or uses 1 in its place, fails: with α = 1 the two
weights (1 + α) and α would be 2 and 1, and λ = 1 would hide a missing λ. α is a
parameter and is checked like the weights (∂J/∂α = recon + KL − δ); λ is a buffer,
held constant by design, and ``after_step`` is never called, so its state is fixed.
"""
from __future__ import annotations

from .registry import register_model


# Models are imported inside the builders: the gradcheck package does not import them.
def lagrangian(likelihood, **kw):
    from ..models import LagrangianVAE  # noqa: PLC0415
    model = LagrangianVAE(7, (5,), 2, likelihood=likelihood, activation="ptanh", delta=0.3,
                          seed=1, **kw)
    model.params["alpha"][...] = 0.7
    return model


def geco(likelihood, **kw):
    from ..models import GECOVAE  # noqa: PLC0415
    model = GECOVAE(7, (5,), 2, likelihood=likelihood, activation="ptanh", kappa=0.2, seed=1, **kw)
    model.buffers["lambda"][...] = 2.3
    return model


register_model("LagrangianVAE(mse, ptanh)", lagrangian, "mse")
register_model("LagrangianVAE(gaussian, learned var)",
               lambda lik: lagrangian(lik, learn_variance=True), "gaussian")
register_model("GECOVAE(mse, ptanh)", geco, "mse")
register_model("GECOVAE(gaussian, learned var)",
               lambda lik: geco(lik, learn_variance=True), "gaussian")
