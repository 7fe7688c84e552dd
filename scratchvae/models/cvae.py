"""The conditional VAE (Sohn, Lee & Yan, 2015): a VAE told the label of each example.

Notation: N batch, D data dimensions, K classes, L latent dimensions, H hidden widths;
y (N,) integer labels and c = onehot(y) (N, K).

    encoder q(z|x,y):  [x, c] (N, D+K) → MLP → h (N, 2L) → μ = h[:, :L], logvar = h[:, L:]
    sample:            z = μ + exp(logvar/2) ⊙ ε,   ε ~ N(0, I)                 (N, L)
    decoder p(x|z,y):  [z, c] (N, L+K) → MLP → out (N, D)   (logits for Bernoulli)

    loss = recon + β · KL = −E_q[log p(x|z,y)] + β · KL(q(z|x,y) || N(0, I))

recon and KL are summed over dimensions and averaged over the batch, in nats; for
β = 1 the loss is the negative conditional ELBO, −log p(x|y) ≤ loss.

Because the decoder is *told* the label, z need not encode it: z is free to hold
what the label does not say (the "style": thickness, slant, size). Sampling
``decode(z, y)`` with one z and every y draws the same style in every class.

Backward (the label c is data, not a variable: it gets no gradient):

    dout              = ∂recon/∂out                          (likelihood)
    d[z, c]           = decoder.backward(dout);   dz = d[z, c][:, :L]
    dμ, dlogvar       = reparameterize_backward(dz)  +  β · ∂KL/∂(μ, logvar)
    d[x, c]           = encoder.backward([dμ, dlogvar]); dx_enc = d[x, c][:, :D]

and, only when ``input_grad=True``, the derivative of the loss w.r.t. the data x,
which enters twice — as the encoder's input and as the reconstruction target:

    dx = dx_enc + ∂recon/∂x|_out                 (the likelihood's ``target_grad``)

The pass itself is :class:`~scratchvae.models.vae_base.VAEBase`'s, which concatenates
the condition when a model has classes; this class sets the classes, builds the
networks with room for the condition, and takes batches (x, y).
"""
from __future__ import annotations

import numpy as np

from ..functional.checks import check_int
from .vae import VAE, mlp_pair
from .vae_base import VAEBase, check_vae_args, one_hot


class CVAE(VAE):
    """MLP conditional VAE: batches are (x, y).

    Args:
        input_dim: D (784 for flattened 28×28 images).
        n_classes: K, the number of labels the model is conditioned on.
        hidden: encoder hidden widths; the decoder mirrors them.
        latent_dim: L.
        likelihood: "bernoulli" (default), "gaussian" or "mse".
        learn_variance, logvar_x: for "gaussian", as in :class:`VAE`.
        beta: weight of the KL term.
        activation: hidden activation name.
        seed: seeds the initial weights and the model's own ε generator.

    ``encode(x, y)``, ``decode(z, y)``, ``reconstruct(x, y)``, ``sample(n, labels)``,
    ``loss_and_grads(x, y, ...)`` and ``evaluate(x, y)`` take the labels too.
    """

    name = "cvae"
    inputs = ("x", "y")

    def __init__(self, input_dim=784, n_classes=10, hidden=(400,), latent_dim=20,
                 likelihood="bernoulli", learn_variance=False, logvar_x=0.0, beta=1.0,
                 activation="relu", seed=0, dtype=np.float32):
        check_int(n_classes, "n_classes", 1, hint="the number of labels K the model is told")
        check_vae_args(input_dim, latent_dim, likelihood, learn_variance, logvar_x, beta, seed,
                       dtype, hidden=hidden, activation=activation)
        config = dict(input_dim=int(input_dim), n_classes=int(n_classes),
                      hidden=[int(h) for h in hidden], latent_dim=int(latent_dim),
                      likelihood=likelihood, learn_variance=bool(learn_variance),
                      logvar_x=float(logvar_x), beta=float(beta), activation=activation,
                      seed=int(seed))
        encoder, decoder = mlp_pair(input_dim, hidden, latent_dim, activation, seed, dtype,
                                    n_classes=int(n_classes))
        VAEBase.__init__(self, config, encoder, decoder, input_dim=input_dim,
                         latent_dim=latent_dim, likelihood=likelihood,
                         learn_variance=learn_variance, logvar_x=logvar_x, beta=beta,
                         n_classes=n_classes, seed=seed, dtype=dtype)

    def loss_and_grads(self, x, y, eps=None, rng=None, compute_grads: bool = True,
                       input_grad: bool = False) -> dict:
        """The VAE's loss on a labelled batch: x (N, D), integer labels y (N,) in [0, K);
        everything else as :meth:`VAEBase.loss_and_grads`."""
        return super().loss_and_grads(x, y, eps, rng, compute_grads, input_grad)


__all__ = ["CVAE", "one_hot"]
