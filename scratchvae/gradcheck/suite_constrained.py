"""Registry entries for the constrained VAEs (Lagrangian VAE of seed paper 003, GECO);
importing this module adds them to ``CHECKS``.

Same standard as :mod:`scratchvae.gradcheck.suite`: float64, eps 1e-6, rtol 1e-6,
a random upstream gradient, every parameter checked, ε frozen.

The multipliers are set away from their initial values (α = 0.7, λ = 2.3) so that a
backward that drops a weight, or uses 1 in its place, fails: with α = 1 the two
weights (1 + α) and α would be 2 and 1, and λ = 1 would hide a missing λ. α is a
parameter and is checked like the weights (∂J/∂α = recon + KL − δ); λ is a buffer,
held constant by design, and ``after_step`` is never called, so its state is fixed.
"""
from __future__ import annotations

from .suite import _register_model


def _lagrangian(likelihood, **kw):
    from ..models.lagrangian_vae import LagrangianVAE  # noqa: PLC0415 - as suite.py
    model = LagrangianVAE(7, (5,), 2, likelihood=likelihood, activation="ptanh", delta=0.3,
                          seed=1, **kw)
    model.params["alpha"][...] = 0.7
    return model


def _geco(likelihood, **kw):
    from ..models.geco import GECOVAE  # noqa: PLC0415
    model = GECOVAE(7, (5,), 2, likelihood=likelihood, activation="ptanh", kappa=0.2, seed=1, **kw)
    model.buffers["lambda"][...] = 2.3
    return model


_register_model("LagrangianVAE(mse, ptanh)", _lagrangian, "mse")
_register_model("LagrangianVAE(gaussian, learned var)",
                lambda lik: _lagrangian(lik, learn_variance=True), "gaussian")
_register_model("GECOVAE(mse, ptanh)", _geco, "mse")
_register_model("GECOVAE(gaussian, learned var)",
                lambda lik: _geco(lik, learn_variance=True), "gaussian")
