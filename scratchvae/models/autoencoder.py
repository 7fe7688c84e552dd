"""The deterministic autoencoder with MLP encoder and decoder.

    encoder: x (N, D) → MLP → code c (N, L)
    decoder: c (N, L) → MLP → out (N, D)      (logits for Bernoulli, mean otherwise)
    loss   = −log p(x | out)   summed over D, averaged over N (nats; for "mse" the
             plain sum of squared errors)
"""
from __future__ import annotations

import numpy as np

from ..nn.init import as_rng
from .base import Model
from .blocks import mlp
from .likelihood import check_likelihood, output_mean, reconstruction_loss


class Autoencoder(Model):
    """MLP autoencoder.

    Args:
        input_dim: D.
        hidden: encoder hidden widths (the decoder mirrors them).
        latent_dim: L, the size of the code (the bottleneck).
        likelihood: "bernoulli" (default), "gaussian" (fixed variance) or "mse".
        activation: hidden activation name.
        code_activation: activation applied to the code ("identity" by default).
        seed: seeds the initial weights.
    """

    name = "ae"
    terms = ("loss", "recon")

    def __init__(self, input_dim=784, hidden=(400,), latent_dim=20, likelihood="bernoulli",
                 activation="relu", code_activation="identity", seed=0, dtype=np.float32):
        super().__init__(dict(input_dim=int(input_dim), hidden=[int(h) for h in hidden],
                              latent_dim=int(latent_dim), likelihood=likelihood,
                              activation=activation, code_activation=code_activation,
                              seed=int(seed)))
        self.input_dim, self.latent_dim = int(input_dim), int(latent_dim)
        self.likelihood = check_likelihood(likelihood)
        rng = as_rng(seed)
        self.encoder = mlp([input_dim, *hidden, latent_dim], activation, rng, dtype,
                           final_activation=code_activation)
        self.decoder = mlp([latent_dim, *reversed(list(hidden)), input_dim], activation, rng, dtype)

    def encode(self, x):
        """x (N, D) → code (N, L)."""
        return self.encoder.forward(self._check_input(x, self.input_dim))

    def decode(self, c):
        """code (N, L) → mean reconstruction (N, D)."""
        return output_mean(self.likelihood, self.decoder.forward(c.astype(self.dtype, copy=False)))

    def reconstruct(self, x):
        return self.decode(self.encode(x))

    def loss_and_grads(self, x, compute_grads: bool = True) -> dict:
        """Forward (and backward) on a batch; returns ``{"loss", "recon", "code"}``.

        Gradients are ADDED into ``grads`` — call ``zero_grad()`` first.
        """
        x = self._check_input(x, self.input_dim, self.likelihood)
        code = self.encoder.forward(x)                        # (N, L)
        out = self.decoder.forward(code)                      # (N, D)
        recon, dout, _ = reconstruction_loss(self.likelihood, out, x)
        if compute_grads:
            self.encoder.backward(self.decoder.backward(dout), input_grad=False)   # x is data
        return {"loss": float(recon), "recon": float(recon), "code": code}
