"""The denoising autoencoder: corrupt the input, reconstruct the clean data
(Vincent et al., 2008).

Notation: N batch, D data dimensions, L code size.

    corrupt:  x̃ = C(x)                  (N, D)   Gaussian x + σε, masking x ⊙ m, or a
                                                 watermark (1 − a) ⊙ x + a·v
    encoder:  x̃ (N, D) → MLP → code (N, L)
    decoder:  code (N, L) → MLP → out (N, D)
    loss    = −log p(x | out)            the target is the CLEAN x

summed over D, averaged over N, in nats ("mse": the plain sum of squared errors).
An undercomplete AE can only copy what fits through its bottleneck; a DAE must also
undo the corruption, so it learns which inputs are likely — the structure of the data.

Backward is the autoencoder's: the loss differentiates only through the network
(x̃ is data, not a function of any parameter):

    dout  = ∂recon/∂out              (likelihood, against the clean x)
    dcode = decoder.backward(dout)
    encoder.backward(dcode)          (its cache holds x̃, the input it actually saw)

The corruption is frozen by passing ``x_tilde`` (gradient checks, figures); otherwise
it is drawn from ``rng`` or from the model's own generator, which checkpoints save.
"""
from __future__ import annotations

import numpy as np

from ..data.corruption import (CORRUPTIONS, check_corruption, check_noise_level, corrupt,
                               watermark_image_shape)
from ..errors import check_same_shape
from ..functional.checks import check_choice, check_real
from ..rng import as_rng
from .autoencoder import Autoencoder, check_ae_args


class DenoisingAE(Autoencoder):
    """MLP denoising autoencoder: an :class:`Autoencoder` trained on corrupted inputs.

    Args:
        input_dim, hidden, latent_dim, likelihood, activation, code_activation:
            as :class:`Autoencoder`.
        corruption: "gaussian" (x + σε), "masking" (each input set to 0 with probability p)
            or "watermark" (one text-like mark per image; D must be H·H pixels).
        noise_level: σ ≥ 0 for "gaussian", p in [0, 1) for "masking", the largest opacity
            a_max in [0, 1] for "watermark". 0 makes it a plain AE.
        seed: seeds the initial weights (the same weights as ``Autoencoder(seed=seed)``)
            and, separately, the corruption drawn during training.
        dtype: float32 (default) or float64.
    """

    name = "dae"
    terms = ("loss", "recon")

    def __init__(self, input_dim=784, hidden=(400,), latent_dim=20, likelihood="bernoulli",
                 activation="relu", code_activation="identity", corruption="gaussian",
                 noise_level=0.3, seed=0, dtype=np.float32):
        check_ae_args(input_dim, hidden, latent_dim, likelihood, activation, code_activation,
                      seed, dtype)
        check_choice(corruption, "corruption", CORRUPTIONS)
        if corruption == "gaussian":
            check_real(noise_level, "noise_level", 0,
                       hint="the std σ of the Gaussian noise must be ≥ 0 (e.g. 0.3)")
        elif corruption == "masking":
            check_real(noise_level, "noise_level", 0, 1, high_open=True,
                       hint="the masking probability p must be in [0, 1) (e.g. 0.25)")
        else:
            check_real(noise_level, "noise_level", 0, 1,
                       hint="the largest watermark opacity must be in [0, 1] (e.g. 0.7)")
            watermark_image_shape(input_dim)                  # marks need square images
        super().__init__(input_dim, hidden, latent_dim, likelihood, activation, code_activation,
                         seed, dtype)
        self.corruption = check_corruption(corruption)
        self.noise_level = check_noise_level(corruption, noise_level)
        self.config.update(corruption=self.corruption, noise_level=self.noise_level)
        self.rng = np.random.default_rng([int(seed), 1])    # corruption for training; checkpointed

    def corrupt(self, x, rng=None):
        """x̃ = C(x) (N, D), drawn from ``rng`` (Generator or int seed), else the model's own."""
        return corrupt(x, self.corruption, self.noise_level,
                       as_rng(rng) if rng is not None else self.rng)

    def denoise(self, x_tilde):
        """The reconstruction of a (possibly corrupted) input: x̃ (N, D) → x̂ (N, D)."""
        return self.reconstruct(x_tilde)

    def loss_and_grads(self, x, x_tilde=None, rng=None, compute_grads: bool = True) -> dict:
        """Forward (and backward) on a batch of clean data ``x`` (N, D).

        Args:
            x: the clean batch: the target (in [0, 1] for the Bernoulli likelihood).
            x_tilde: (N, D) a frozen corrupted input; when None it is drawn as
                ``self.corrupt(x, rng)``.
            rng: a Generator or int seed for the corruption (None: the model's own).
            compute_grads: False for evaluation (no backward, grads untouched).
        Returns:
            ``{"loss", "recon"}`` as floats (batch means, nats), ``"code"`` (N, L) and the
            ``"x_tilde"`` that was used. Gradients are ADDED into ``grads``.
        """
        x = self.check_input(x, self.input_dim, self.likelihood)             # (N, D) target
        if x_tilde is None:
            x_tilde = self.corrupt(x, rng)
        else:
            x_tilde = self.check_input(x_tilde, self.input_dim)               # any real values
            check_same_shape(x_tilde, x, "x_tilde", "x")
        code, _, recon, drecon = self.forward_pass(x_tilde, x)               # against clean x
        if compute_grads:
            self.backward_pass(drecon["out"])
        return {"loss": float(recon), "recon": float(recon), "code": code, "x_tilde": x_tilde}
