"""The deterministic autoencoder: the shared pass, and the MLP autoencoder.

Notation: N batch, D data dimensions, L code size.

    encoder: x̃ (N, D) → code c (N, L)
    decoder: c (N, L) → out (N, D)          (logits for Bernoulli, mean otherwise)
    loss   = −log p(x | out) [+ β · P(c)]   summed over D, averaged over N (nats; for
                                             "mse" the plain sum of squared errors)

The encoder's input x̃ is the data x itself, or a corrupted copy for a denoising AE;
the target is always the clean x. A code penalty P (sparse AE) adds its gradient to
the code's. Backward, the graph in reverse (:meth:`AutoencoderBase.backward_pass`):

    dout  = ∂recon/∂out                       (the likelihood table of distributions/)
    dc    = decoder.backward(dout) [+ β ∂P/∂c]
    encoder.backward(dc)                      (x̃ is data: no input gradient)

:class:`AutoencoderBase` owns the pass for any encoder/decoder pair; the plain,
denoising, sparse and stacked autoencoders differ only in their networks, their
input and an optional code penalty.
"""
from __future__ import annotations

import numpy as np

from ..distributions.likelihoods import get_likelihood
from ..functional.checks import check_dtype, check_int, check_sizes
from ..nn.activations import activation_key
from .base import Model
from .blocks import mlp
from ..rng import as_rng


def check_ae_args(input_dim, hidden, latent_dim, likelihood, activation, code_activation,
                  seed, dtype) -> None:
    """Refuse, before anything is built, what an MLP autoencoder cannot use (one line each,
    naming the argument and its range): sizes that are not positive integers, unknown
    likelihood or activation names, a negative or non-integer seed, a dtype other than
    float32/float64."""
    check_int(input_dim, "input_dim", 1, hint="the number of data dimensions D, e.g. 784")
    check_sizes(hidden, "hidden", example="(400,)")
    check_int(latent_dim, "latent_dim", 1, hint="the code size L, e.g. 20")
    get_likelihood(likelihood)
    activation_key(activation)
    activation_key(code_activation)
    check_int(seed, "seed", 0, hint="e.g. seed=0")
    check_dtype(dtype)


class AutoencoderBase(Model):
    """The pass of a deterministic autoencoder for any encoder/decoder pair.

    Args:
        config: the subclass's constructor arguments (for ``build_model``).
        encoder, decoder: (N, D) → (N, L) and (N, L) → (N, D).
        input_dim: D; latent_dim: L.
        likelihood: "bernoulli", "gaussian" (unit variance) or "mse".
    """

    terms = ("loss", "recon")

    def __init__(self, config: dict, encoder, decoder, *, input_dim: int, latent_dim: int,
                 likelihood="bernoulli"):
        super().__init__(config)
        self.input_dim, self.latent_dim = int(input_dim), int(latent_dim)
        self.lik = get_likelihood(likelihood)
        self.likelihood = likelihood
        self.encoder, self.decoder = encoder, decoder

    # ------------------------------------------------------------------ the pass
    def forward_pass(self, x_in, target):
        """code (N, L), out (N, D) and recon = −log p(target | out) with its gradient
        ``{"out": (N, D)}``; the networks keep their caches for :meth:`backward_pass`."""
        code = self.encoder.forward(x_in)                     # (N, L)
        out = self.decoder.forward(code)                      # (N, D)
        recon, drecon = self.lik.nll(out, target, check_data=False)   # checked by the caller
        return code, out, recon, drecon

    def backward_pass(self, dout, dcode_extra=None) -> None:
        """dc = decoder.backward(dout) [+ dcode_extra], then the encoder; ADDS into grads."""
        dcode = self.decoder.backward(dout)                   # ∂recon/∂c (N, L)
        if dcode_extra is not None:
            dcode += dcode_extra                              # + a penalty's ∂/∂c
        self.encoder.backward(dcode, input_grad=False)        # the input is data

    def loss_and_grads(self, x, compute_grads: bool = True) -> dict:
        """Forward (and backward) on a batch; returns ``{"loss", "recon", "code"}``.

        Gradients are ADDED into ``grads`` — call ``zero_grad()`` first.
        """
        x = self.check_input(x, self.input_dim, self.likelihood)
        code, _, recon, drecon = self.forward_pass(x, x)
        if compute_grads:
            self.backward_pass(drecon["out"])
        return {"loss": float(recon), "recon": float(recon), "code": code}

    # --------------------------------------------------------------- inference
    def encode(self, x):
        """x (N, D) → code (N, L)."""
        return self.encoder.forward(self.check_input(x, self.input_dim))

    def decode(self, c):
        """code (N, L) → mean reconstruction (N, D)."""
        return self.lik.mean(self.decoder.forward(self.check_codes(c, self.latent_dim, "c")))

    def reconstruct(self, x):
        return self.decode(self.encode(x))

    def reconstruction_nll(self, x, reduction: str = "none"):
        """−log p(x | dec(enc(x))) of each example (N,) (or reduced)."""
        x = self.check_input(x, self.input_dim, self.likelihood)
        return self.lik.nll(self.decoder.forward(self.encoder.forward(x)), x,
                            reduction=reduction, check_data=False)[0]


class Autoencoder(AutoencoderBase):
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

    def __init__(self, input_dim=784, hidden=(400,), latent_dim=20, likelihood="bernoulli",
                 activation="relu", code_activation="identity", seed=0, dtype=np.float32):
        check_ae_args(input_dim, hidden, latent_dim, likelihood, activation, code_activation,
                      seed, dtype)                            # clear errors before building
        config = dict(input_dim=int(input_dim), hidden=[int(h) for h in hidden],
                      latent_dim=int(latent_dim), likelihood=likelihood,
                      activation=activation, code_activation=code_activation, seed=int(seed))
        rng = as_rng(seed)
        encoder = mlp([input_dim, *hidden, latent_dim], activation, rng, dtype,
                      final_activation=code_activation)
        decoder = mlp([latent_dim, *reversed(list(hidden)), input_dim], activation, rng, dtype)
        super().__init__(config, encoder, decoder, input_dim=input_dim, latent_dim=latent_dim,
                         likelihood=likelihood)
