"""The sparse autoencoder: an autoencoder whose code is pushed to be mostly silent.

Notation: N batch, D data dimensions, L code units (often L ≥ what a plain
bottleneck would use: sparsity, not size, is what limits the code).

    encoder:  x (N, D) → MLP → code activation → h (N, L)
    decoder:  h (N, L) → MLP → out (N, D)        (logits for Bernoulli, mean otherwise)

    loss = recon + β · P(h)

    recon = −log p(x | out), summed over D, averaged over N (nats)
    P     = Σ_j KL(ρ || ρ̂_j),  ρ̂_j = batch mean of h[:, j]   ("kl", sigmoid codes)
          or (1/N) Σ_n Σ_j |h_nj|                             ("l1", any code)

(see :mod:`scratchvae.functional.sparsity`). Backward: the code receives two
gradients, one through the decoder and one from the penalty, and their sum goes
back through the encoder:

    dh = decoder.backward(∂recon/∂out) + β · ∂P/∂h
    encoder.backward(dh)

With one hidden layer (``hidden=()``), column j of the encoder's weight
``encoder.0.W`` (D, L) — row j of PyTorch's (out, in) weight — is the image
that most excites code unit j: the unit's "feature".
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..functional.checks import check_array, check_choice, check_int, check_real
from ..functional.sparsity import (
    PENALTIES, check_rho, sparsity_backward, sparsity_forward,
)
from ..nn.activations import activation_key
from .autoencoder import Autoencoder, check_ae_args


class SparseAutoencoder(Autoencoder):
    """MLP autoencoder with a KL or L1 sparsity penalty on its code.

    Args:
        input_dim: D.
        hidden: encoder hidden widths (the decoder mirrors them); () for the classic
            one-hidden-layer sparse AE whose features are the encoder's weights.
        latent_dim: L, the number of code units.
        likelihood: "bernoulli" (default), "gaussian" or "mse".
        penalty: "kl" (default; needs a sigmoid code) or "l1".
        rho: ρ, the target mean activation of each unit ("kl" only).
        beta: β, the weight of the penalty (0 gives a plain autoencoder).
        activation: hidden activation name.
        code_activation: "sigmoid" by default (required by "kl"); for "l1" any
            activation name, e.g. "relu".
        seed: seeds the initial weights.
    """

    name = "sparse-ae"
    terms = ("loss", "recon", "sparsity")

    def __init__(self, input_dim=784, hidden=(), latent_dim=196, likelihood="bernoulli",
                 penalty="kl", rho=0.05, beta=3.0, activation="relu", code_activation="sigmoid",
                 seed=0, dtype=np.float32):
        check_ae_args(input_dim, hidden, latent_dim, likelihood, activation, code_activation,
                      seed, dtype)
        check_choice(penalty, "sparsity penalty", PENALTIES)
        if penalty == "kl" and activation_key(code_activation) != "sigmoid":
            raise ConfigError(f"the KL sparsity penalty treats each code unit as a firing "
                              f"probability and needs code_activation='sigmoid', got "
                              f"{code_activation!r}; use penalty='l1' for other codes")
        check_real(beta, "the penalty weight beta", 0,
                   hint="beta must be ≥ 0 (0 gives a plain autoencoder)")
        check_rho(rho)
        super().__init__(input_dim, hidden, latent_dim, likelihood, activation, code_activation,
                         seed, dtype)
        self.penalty = penalty
        self.rho = check_rho(rho)
        self.beta = float(beta)
        self.config.update(penalty=penalty, rho=self.rho, beta=self.beta)

    @property
    def per_rank_statistics(self) -> str | None:
        """What data-parallel training computes per rank (scratchvae.distributed)."""
        return "the KL sparsity penalty's batch-mean activation ρ̂" \
            if self.penalty == "kl" and self.beta > 0 else None

    def loss_and_grads(self, x, compute_grads: bool = True) -> dict:
        """Forward (and backward) on a batch.

        Returns ``{"loss", "recon", "sparsity", "code", "rho_hat"}``: floats are batch
        values as in the module docstring (``sparsity`` is P before the weight β),
        ``code`` is h (N, L) and ``rho_hat`` the batch-mean activation (L,).
        Gradients are ADDED into ``grads`` — call ``zero_grad()`` first.
        """
        x = self.check_input(x, self.input_dim, self.likelihood)
        code, _, recon, drecon = self.forward_pass(x, x)                   # h (N, L)
        penalty, p_cache = sparsity_forward(self.penalty, code, self.rho)
        result = {"loss": float(recon + self.beta * penalty), "recon": float(recon),
                  "sparsity": penalty, "code": code, "rho_hat": code.mean(axis=0)}
        if compute_grads:                  # dh = ∂recon/∂h + β ∂P/∂h, then the encoder
            self.backward_pass(drecon["out"], sparsity_backward(self.penalty, self.beta,
                                                                p_cache))
        return result

    # -------------------------------------------------------------- diagnostics
    def mean_activation(self, x, batch_size: int = 1000):
        """ρ̂ over a whole data set: the mean code of each unit, (L,) float64."""
        batch_size = check_int(batch_size, "batch_size", 1)
        check_array(x, "x", dtypes=None, ndim=2, layout=f"(N, {self.input_dim})")
        total = np.zeros(self.latent_dim)
        for i in range(0, len(x), batch_size):
            total += np.asarray(self.encode(x[i:i + batch_size]), dtype=np.float64).sum(axis=0)
        return total / len(x)

    def features(self):
        """The first layer's weights as one row per code unit: (M, D) float64, M its width.

        For ``hidden=()`` these are the L features that the code units detect.
        """
        return np.asarray(self.encoder[0].params["W"], dtype=np.float64).T.copy()


__all__ = ["SparseAutoencoder"]
