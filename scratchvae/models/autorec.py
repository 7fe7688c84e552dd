"""Item-based AutoRec (Sedhain, Menon, Sanner & Xie, "AutoRec: Autoencoders Meet
Collaborative Filtering", 2015): an autoencoder over each item's vector of user ratings,
trained on the observed ratings only.

Notation: N items in a batch, U users (the data dimension), H hidden units; r (N, U) the
ratings of a batch of items, m (N, U) their observed-entry mask.

    h     = sigmoid(r W₁ + b₁)                     (N, H)    unobserved ratings enter as 0
    r̂     = h W₂ + b₂                              (N, U)    a rating for every user
    loss  = (1/N) Σ_n Σ_u m_nu (r̂_nu − r_nu)²  +  (λ/2) (‖W₁‖² + ‖W₂‖²)

The first term is :func:`scratchvae.distributions.masked_squared_error` — the model learns
only from ratings that exist — and the second is weight decay on the two weight matrices
(not the biases), as in the paper. The prediction of an unobserved rating (item n, user u)
is r̂_nu. Backward, the graph in reverse:

    dr̂ = 2 m ⊙ (r̂ − r) / N                       (the masked loss)
    dh = decoder.backward(dr̂),   encoder.backward(dh)    (r is data: no input gradient)
    dW₁ += λ W₁,  dW₂ += λ W₂                      (the weight decay)
"""
from __future__ import annotations

import numpy as np

from ..distributions import masked_squared_error
from ..errors import ConfigError, ShapeError, check_float_array
from ..nn import Linear, Sequential, Sigmoid
from ..rng import as_rng
from .base import Model


class AutoRec(Model):
    """I-AutoRec: batches are (ratings (N, U), mask (N, U)), one row per item.

    Args:
        n_users: U, the length of an item's ratings vector.
        hidden: H, the number of hidden (sigmoid) units (500 in the paper).
        l2: λ, the weight decay of the loss (on W₁ and W₂).
        seed: seeds the initial weights.
    """

    name = "autorec"
    terms = ("loss", "recon")
    inputs = ("x", "mask")

    def __init__(self, n_users: int = 600, hidden: int = 500, l2: float = 1.0, seed: int = 0,
                 dtype=np.float32):
        for arg, value in (("n_users", n_users), ("hidden", hidden)):
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ConfigError(f"{arg} must be an integer ≥ 1, got {value!r}")
        if not (np.isfinite(l2) and l2 >= 0):
            raise ConfigError(f"l2 is the weight decay λ and must be a finite number ≥ 0, "
                              f"got {l2}")
        super().__init__(dict(n_users=int(n_users), hidden=int(hidden), l2=float(l2),
                              seed=int(seed)))
        self.input_dim, self.latent_dim, self.l2 = int(n_users), int(hidden), float(l2)
        rng = as_rng(seed)
        self.encoder = Sequential(Linear(self.input_dim, self.latent_dim, rng=rng, dtype=dtype),
                                  Sigmoid())
        self.decoder = Sequential(Linear(self.latent_dim, self.input_dim, rng=rng, dtype=dtype))

    def _weights(self):
        return self.encoder[0].params["W"], self.decoder[0].params["W"]

    def _check(self, x, mask):
        check_float_array(x, "ratings x", ndim=2)
        if x.shape[1] != self.input_dim:
            raise ShapeError(f"AutoRec expects each item's ratings of all {self.input_dim} "
                             f"users, (N, {self.input_dim}); got {tuple(x.shape)}")
        if getattr(mask, "shape", None) != x.shape:
            raise ShapeError(f"mask must have the shape of x {tuple(x.shape)}, got "
                             f"{getattr(mask, 'shape', type(mask).__name__)}")
        return x.astype(self.dtype, copy=False)

    def loss_and_grads(self, x, mask, compute_grads: bool = True) -> dict:
        """The masked reconstruction loss plus weight decay on a batch of items (module
        docstring); gradients are ADDED into ``grads``."""
        x = self._check(x, mask)
        r_hat = self.decoder.forward(self.encoder.forward(x))            # (N, U)
        recon, drecon = masked_squared_error(r_hat, x, mask)
        W1, W2 = self._weights()
        decay = 0.5 * self.l2 * (float((W1 * W1).sum()) + float((W2 * W2).sum()))
        if compute_grads:
            self.encoder.backward(self.decoder.backward(drecon["pred"]), input_grad=False)
            self.encoder[0].grads["W"] += self.l2 * W1                 # ∂(λ/2 ‖W₁‖²)/∂W₁
            self.decoder[0].grads["W"] += self.l2 * W2
        return {"loss": float(recon) + decay, "recon": float(recon), "prediction": r_hat}

    def predict(self, x) -> np.ndarray:
        """r̂ (N, U): a rating for every user of every item in ``x`` (unobserved entries 0)."""
        check_float_array(x, "ratings x", ndim=2)
        return self.decoder.forward(self.encoder.forward(x.astype(self.dtype, copy=False)))
