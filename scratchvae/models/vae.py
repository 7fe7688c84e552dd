"""The variational autoencoder with MLP encoder and decoder (Kingma & Welling, 2014).

Notation: N batch, D data dimensions, H hidden widths, L latent dimensions.

    encoder:  x (N, D) → MLP → h (N, 2L) → μ = h[:, :L], logvar = h[:, L:]
    sample:   z = μ + exp(logvar/2) ⊙ ε,  ε ~ N(0, I)                  (N, L)
    decoder:  z (N, L) → MLP → out (N, D)      (logits for Bernoulli, mean otherwise)

    loss = recon + β · KL = −E_q[log p(x|z)] + β · KL(q(z|x) || N(0, I))

with recon and KL summed over dimensions and averaged over the batch, in nats;
for β = 1 the loss is the negative ELBO. Backward runs the graph in reverse:

    dout            = ∂recon/∂out                       (likelihood)
    dz              = decoder.backward(dout)
    dμ, dlogvar     = reparameterize_backward(dz)  +  β · ∂KL/∂(μ, logvar)
    encoder.backward([dμ, dlogvar])
"""
from __future__ import annotations

import numpy as np

from ..distributions import (
    kl_per_dimension, kl_standard_normal, reparameterize_backward, reparameterize_forward,
    standard_normal,
)
from ..nn.init import as_rng
from .base import Model, join_halves, split_halves
from .blocks import mlp
from .likelihood import check_likelihood, output_mean, reconstruction_loss


class VAE(Model):
    """MLP VAE. Subclasses (e.g. :class:`ConvVAE`) swap in other ``encoder``/``decoder``
    networks — any modules mapping (N, D) → (N, 2L) and (N, L) → (N, D) — and inherit
    the whole probabilistic part below unchanged.

    Args:
        input_dim: D (784 for 28×28 images, flattened).
        hidden: widths of the encoder's hidden layers; the decoder mirrors them.
        latent_dim: L.
        likelihood: "bernoulli" (default), "gaussian" or "mse" (see models.likelihood).
        learn_variance: for "gaussian", learn one log-variance per data dimension
            (``params["logvar_x"]``, (D,)); otherwise the variance is exp(``logvar_x``).
        logvar_x: the fixed (or initial) Gaussian log-variance.
        beta: weight of the KL term (1 = the ELBO; β-VAE otherwise).
        activation: hidden activation name ("relu", "tanh", "ptanh", ...).
        seed: seeds the initial weights and the sampling of ε.
        dtype: float32 (default) or float64.
    """

    name = "vae"
    terms = ("loss", "recon", "kl")

    def __init__(self, input_dim=784, hidden=(400,), latent_dim=20, likelihood="bernoulli",
                 learn_variance=False, logvar_x=0.0, beta=1.0, activation="relu", seed=0,
                 dtype=np.float32):
        super().__init__(dict(input_dim=int(input_dim), hidden=[int(h) for h in hidden],
                              latent_dim=int(latent_dim), likelihood=likelihood,
                              learn_variance=bool(learn_variance), logvar_x=float(logvar_x),
                              beta=float(beta), activation=activation, seed=int(seed)))
        self._setup_latent(input_dim, latent_dim, likelihood, learn_variance, logvar_x, beta,
                           seed, dtype)
        init_rng = as_rng(seed)
        self.encoder = mlp([input_dim, *hidden, 2 * latent_dim], activation, init_rng, dtype)
        self.decoder = mlp([latent_dim, *reversed(list(hidden)), input_dim], activation,
                           init_rng, dtype)

    def _setup_latent(self, input_dim, latent_dim, likelihood, learn_variance, logvar_x, beta,
                      seed, dtype):
        """The parts every VAE shares, whatever its encoder and decoder networks."""
        self.input_dim, self.latent_dim = int(input_dim), int(latent_dim)
        self.likelihood = check_likelihood(likelihood)
        self.beta = float(beta)
        self.learn_variance = bool(learn_variance) and likelihood == "gaussian"
        if self.learn_variance:
            self.add_param("logvar_x", np.full(input_dim, logvar_x, dtype=dtype))
        self.fixed_logvar_x = float(logvar_x)
        self.rng = np.random.default_rng([int(seed), 1])    # ε for training; saved in checkpoints

    # --------------------------------------------------------------- inference
    def encode(self, x):
        """x (N, D) → (μ, logvar), each (N, L)."""
        x = self._check_input(x, self.input_dim)
        mu, logvar = split_halves(self.encoder.forward(x), self.latent_dim)
        return mu, logvar

    def decode(self, z):
        """z (N, L) → the mean of p(x|z), (N, D) (probabilities for Bernoulli)."""
        return output_mean(self.likelihood, self.decoder.forward(z.astype(self.dtype, copy=False)))

    def reconstruct(self, x):
        """Decode the posterior mean: x (N, D) → x̂ (N, D)."""
        mu, _ = self.encode(x)
        return self.decode(mu)

    def sample(self, n: int, rng=None):
        """Draw n samples from the model: z ~ N(0, I) → decoder mean, (n, D)."""
        rng = as_rng(rng) if rng is not None else self.rng
        eps = standard_normal((int(n), self.latent_dim), rng, self.dtype, self._xp())
        return self.decode(eps)

    # ----------------------------------------------------------------- training
    def _logvar_x(self):
        return self.params["logvar_x"] if self.learn_variance else self.fixed_logvar_x

    def loss_and_grads(self, x, eps=None, rng=None, compute_grads: bool = True) -> dict:
        """One forward (and backward) pass on a batch.

        Args:
            x: (N, D) batch; targets in [0, 1] for the Bernoulli likelihood.
            eps: (N, L) frozen ε for the reparameterization (gradient checks);
                 otherwise drawn from ``rng`` (a Generator or an int seed) or, when
                 ``rng`` is None, from the model's own generator.
            compute_grads: False for evaluation (no backward, grads untouched).
        Returns:
            ``{"loss", "recon", "kl"}`` as floats (batch means, nats) and, under
            ``"mu"``/``"logvar"``, the posterior parameters. Gradients are ADDED into
            ``grads`` — call ``zero_grad()`` first.
        """
        x = self._check_input(x, self.input_dim, self.likelihood)
        h = self.encoder.forward(x)                                   # (N, 2L)
        mu, logvar = split_halves(h, self.latent_dim)                 # (N, L) each
        z, rep_cache = reparameterize_forward(
            mu, logvar, eps, as_rng(rng) if rng is not None else self.rng)
        out = self.decoder.forward(z)                                 # (N, D)
        recon, dout, dlogvar_x = reconstruction_loss(self.likelihood, out, x, self._logvar_x())
        kl, dmu_kl, dlogvar_kl = kl_standard_normal(mu, logvar)
        result = {"loss": float(recon + self.beta * kl), "recon": float(recon), "kl": float(kl),
                  "mu": mu, "logvar": logvar}
        if not compute_grads:
            return result
        if dlogvar_x is not None:
            self.grads["logvar_x"] += dlogvar_x
        dz = self.decoder.backward(dout)                              # (N, L)
        dmu, dlogvar = reparameterize_backward(dz, rep_cache)         # through z = μ + σε
        dmu += self.beta * dmu_kl                                     # plus ∂(βKL)/∂μ
        dlogvar += self.beta * dlogvar_kl                             # plus ∂(βKL)/∂logvar
        self.encoder.backward(join_halves(dmu, dlogvar), input_grad=False)   # x is data
        return result

    def kl_per_dimension(self, x, batch_size: int = 1000):
        """Mean KL of each latent unit over ``x`` (L,), for diagnosing unused units."""
        parts = [kl_per_dimension(*self.encode(x[i:i + batch_size])) * len(x[i:i + batch_size])
                 for i in range(0, len(x), batch_size)]
        return sum(parts) / len(x)
