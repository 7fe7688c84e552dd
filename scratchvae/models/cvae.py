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

    dx = dx_enc + ∂recon/∂x|_out                 (see :func:`target_grad`)
"""
from __future__ import annotations

import math
import time

import numpy as np

from ..backend import get_array_module, to_numpy
from ..data.loader import BatchIterator
from ..distributions import (
    kl_per_dimension, kl_standard_normal, reparameterize_backward, reparameterize_forward,
    standard_normal,
)
from ..errors import DataError, DTypeError, NonFiniteError, ShapeError
from ..nn.init import as_rng
from ..optim import Adam
from .base import Model, join_halves, split_halves
from .blocks import mlp
from .likelihood import check_likelihood, output_mean, reconstruction_loss


# --------------------------------------------------------------- the condition
def one_hot(y, n_classes: int, n: int | None = None, dtype=np.float32):
    """Integer labels y (N,) → one-hot c (N, K); a clear error for anything else.

    ``n`` is the batch size y must match (the N of x), when known.
    """
    y = to_numpy(y)                                          # labels live on the CPU
    if y.dtype.kind not in "iu":
        raise DTypeError(f"labels y must be integers in [0, {n_classes}), got dtype {y.dtype}; "
                         f"pass class indices, not one-hot vectors or floats")
    if y.ndim != 1:
        raise ShapeError(f"labels y must be one-dimensional (N,), got shape {y.shape}")
    if n is not None and len(y) != n:
        raise ShapeError(f"labels y have length {len(y)} but x has {n} rows; they must match")
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        bad = int(y[(y < 0) | (y >= n_classes)][0])
        raise DataError(f"label {bad} is outside [0, {n_classes}); this CVAE was built with "
                        f"n_classes={n_classes}")
    c = np.zeros((len(y), n_classes), dtype=dtype)           # (N, K)
    c[np.arange(len(y)), y] = 1
    return c


def concat_forward(a, c):
    """[a, c]: (N, A), (N, K) → (N, A+K); the cache is A, where the split goes back."""
    xp = get_array_module(a)
    return xp.concatenate([a, xp.asarray(c, dtype=a.dtype)], axis=1), a.shape[1]


def concat_backward(dh, cache):
    """d[a, c] (N, A+K) → da (N, A); the condition c is data and gets no gradient."""
    return dh[:, :cache]


def target_grad(likelihood: str, out, x, logvar_x=0.0):
    """∂recon/∂x (N, D) with the decoder output ``out`` held fixed: how the loss moves
    when the *target* moves. Per example, then divided by N (batch mean):

        bernoulli:  recon_n = Σ_d softplus(l) − x·l        →  ∂/∂x = −l
        gaussian:   recon_n = Σ_d ½ (x − m)² / v + const   →  ∂/∂x = (x − m) / v
        mse:        recon_n = Σ_d (m − x)²                 →  ∂/∂x = −2 (m − x)
    """
    n = x.shape[0]
    if likelihood == "bernoulli":
        return -out / n
    if likelihood == "gaussian":
        xp = get_array_module(x)
        return (x - out) * xp.exp(-xp.asarray(logvar_x, dtype=x.dtype)) / n
    return -2.0 * (out - x) / n


# -------------------------------------------------------------------- the model
class CVAE(Model):
    """MLP conditional VAE.

    Args:
        input_dim: D (784 for flattened 28×28 images).
        n_classes: K, the number of labels the model is conditioned on.
        hidden: encoder hidden widths; the decoder mirrors them.
        latent_dim: L.
        likelihood: "bernoulli" (default), "gaussian" or "mse" (see models.likelihood).
        learn_variance, logvar_x: for "gaussian", as in :class:`VAE`.
        beta: weight of the KL term.
        activation: hidden activation name.
        seed: seeds the initial weights and the model's own ε generator.
    """

    name = "cvae"
    terms = ("loss", "recon", "kl")

    def __init__(self, input_dim=784, n_classes=10, hidden=(400,), latent_dim=20,
                 likelihood="bernoulli", learn_variance=False, logvar_x=0.0, beta=1.0,
                 activation="relu", seed=0, dtype=np.float32):
        super().__init__(dict(input_dim=int(input_dim), n_classes=int(n_classes),
                              hidden=[int(h) for h in hidden], latent_dim=int(latent_dim),
                              likelihood=likelihood, learn_variance=bool(learn_variance),
                              logvar_x=float(logvar_x), beta=float(beta), activation=activation,
                              seed=int(seed)))
        if int(n_classes) < 1:
            raise ValueError(f"n_classes must be ≥ 1, got {n_classes}")
        self.input_dim, self.latent_dim = int(input_dim), int(latent_dim)
        self.n_classes = int(n_classes)
        self.likelihood = check_likelihood(likelihood)
        self.beta = float(beta)
        self.learn_variance = bool(learn_variance) and likelihood == "gaussian"
        if self.learn_variance:
            self.add_param("logvar_x", np.full(self.input_dim, logvar_x, dtype=dtype))
        self.fixed_logvar_x = float(logvar_x)
        self.rng = np.random.default_rng([int(seed), 1])     # ε for training
        init_rng = as_rng(seed)
        K = self.n_classes
        self.encoder = mlp([self.input_dim + K, *hidden, 2 * self.latent_dim], activation,
                           init_rng, dtype)
        self.decoder = mlp([self.latent_dim + K, *reversed(list(hidden)), self.input_dim],
                           activation, init_rng, dtype)

    def _condition(self, y, n):
        return one_hot(y, self.n_classes, n, self.dtype)     # (N, K)

    def _logvar_x(self):
        return self.params["logvar_x"] if self.learn_variance else self.fixed_logvar_x

    # --------------------------------------------------------------- inference
    def encode(self, x, y):
        """x (N, D), labels y (N,) → (μ, logvar) of q(z|x,y), each (N, L)."""
        x = self._check_input(x, self.input_dim)
        h, _ = concat_forward(x, self._condition(y, len(x)))
        return split_halves(self.encoder.forward(h), self.latent_dim)

    def decode(self, z, y):
        """z (N, L), labels y (N,) → the mean of p(x|z,y), (N, D)."""
        z = self._xp().asarray(z, dtype=self.dtype)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ShapeError(f"z must be (N, {self.latent_dim}), got shape {z.shape}")
        h, _ = concat_forward(z, self._condition(y, len(z)))
        return output_mean(self.likelihood, self.decoder.forward(h))

    def reconstruct(self, x, y):
        """Decode the posterior mean with the same label: x (N, D) → x̂ (N, D)."""
        mu, _ = self.encode(x, y)
        return self.decode(mu, y)

    def sample(self, n: int, labels, rng=None):
        """n draws from p(x|y): z ~ N(0, I), decoded with ``labels`` — one int for all n
        or an (n,) array. Returns (n, D)."""
        labels = np.full(int(n), labels, dtype=np.int64) if np.isscalar(labels) else labels
        rng = as_rng(rng) if rng is not None else self.rng
        z = standard_normal((int(n), self.latent_dim), rng, self.dtype, self._xp())
        return self.decode(z, labels)

    # ----------------------------------------------------------------- training
    def loss_and_grads(self, x, y, eps=None, rng=None, compute_grads: bool = True,
                       input_grad: bool = False) -> dict:
        """One forward (and backward) pass on a labelled batch.

        Args:
            x: (N, D) batch; targets in [0, 1] for the Bernoulli likelihood.
            y: (N,) integer labels in [0, K).
            eps: (N, L) frozen ε (gradient checks); otherwise drawn from ``rng``
                (Generator or int seed) or, when None, from the model's own generator.
            compute_grads: False for evaluation (no backward, grads untouched).
            input_grad: also return ``"dx"`` (N, D), dloss/dx through both the encoder
                input and the reconstruction target (needs ``compute_grads``).
        Returns:
            ``{"loss", "recon", "kl"}`` floats (batch means, nats), ``"mu"``/``"logvar"``
            (N, L) and, if asked, ``"dx"``. Gradients are ADDED into ``grads``.
        """
        x = self._check_input(x, self.input_dim, self.likelihood)
        c = self._condition(y, len(x))                                # (N, K)
        hx, cat_x = concat_forward(x, c)                              # (N, D+K)
        mu, logvar = split_halves(self.encoder.forward(hx), self.latent_dim)   # (N, L) each
        z, rep_cache = reparameterize_forward(
            mu, logvar, eps, as_rng(rng) if rng is not None else self.rng)
        hz, cat_z = concat_forward(z, c)                              # (N, L+K)
        out = self.decoder.forward(hz)                                # (N, D)
        logvar_x = self._logvar_x()
        recon, dout, dlogvar_x = reconstruction_loss(self.likelihood, out, x, logvar_x)
        kl, dmu_kl, dlogvar_kl = kl_standard_normal(mu, logvar)
        result = {"loss": float(recon + self.beta * kl), "recon": float(recon), "kl": float(kl),
                  "mu": mu, "logvar": logvar}
        if not compute_grads:
            return result
        if dlogvar_x is not None:
            self.grads["logvar_x"] += dlogvar_x
        dz = concat_backward(self.decoder.backward(dout), cat_z)      # (N, L); c gets none
        dmu, dlogvar = reparameterize_backward(dz, rep_cache)         # through z = μ + σε
        dmu = dmu + self.beta * dmu_kl                                # plus ∂(βKL)/∂μ
        dlogvar = dlogvar + self.beta * dlogvar_kl                    # plus ∂(βKL)/∂logvar
        dh = join_halves(dmu, dlogvar)                                # (N, 2L)
        if not input_grad:                    # x is data: skip the first layer's dx GEMM
            self.encoder.backward(dh, input_grad=False)
            return result
        dx_enc = concat_backward(self.encoder.backward(dh), cat_x)    # (N, D); c gets none
        # x is also the reconstruction target: add ∂recon/∂x with out held fixed
        result["dx"] = dx_enc + target_grad(self.likelihood, out, x, logvar_x)
        return result

    def evaluate(self, x, y, batch_size: int = 1000, **loss_kwargs) -> dict[str, float]:
        """Mean of each of ``terms`` over (x (N, D), y (N,)), in batches; grads untouched."""
        totals = dict.fromkeys(self.terms, 0.0)
        for start in range(0, len(x), batch_size):
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
            out = self.loss_and_grads(xb, yb, compute_grads=False, **loss_kwargs)
            for k in self.terms:
                totals[k] += out[k] * len(xb)
        return {k: v / len(x) for k, v in totals.items()}

    def kl_per_dimension(self, x, y, batch_size: int = 1000):
        """Mean KL of each latent unit over (x, y), (L,)."""
        parts = [kl_per_dimension(*self.encode(x[i:i + batch_size], y[i:i + batch_size]))
                 * len(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
        return sum(parts) / len(x)


# ---------------------------------------------------------------- the training loop
def fit(model: CVAE, x, y, epochs: int, batch_size: int = 128, lr: float = 1e-3,
        seed: int = 0, val=None, on_epoch=None) -> list[dict]:
    """Train a CVAE with Adam on labelled data; the :class:`~scratchvae.train.Trainer`
    feeds x alone, a CVAE needs (x, y).

    Args:
        model: the CVAE (its own generator draws ε, so a run is a function of its seed).
        x: (N, D) float data; y: (N,) integer labels.
        epochs, batch_size, lr: the usual; batches follow ``BatchIterator(N, B, seed)``.
        val: optional (x_val, y_val), evaluated after every epoch with ε from
            ``rng([seed, 2])`` (the same ε every epoch, so the curve is comparable).
        on_epoch: optional ``callback(record)`` (e.g. to print progress).
    Returns:
        one record per epoch: ``{"epoch", "train_loss", "train_recon", "train_kl",
        ["val_…"], "seconds"}`` — the shape :func:`scratchvae.plots.save_loss_curves` draws.
    Raises:
        NonFiniteError if the loss becomes non-finite (lower ``lr``).
    """
    y = np.asarray(y)
    if len(y) != len(x):
        raise ShapeError(f"x has {len(x)} rows but y has {len(y)} labels; they must match")
    opt = Adam(model.parameters(), lr=lr)
    batches = BatchIterator(len(x), batch_size, seed=seed)
    history = []
    for epoch in range(int(epochs)):
        t0, sums = time.perf_counter(), dict.fromkeys(model.terms, 0.0)
        model.train()
        for idx in batches.epoch(epoch):
            model.zero_grad()
            out = model.loss_and_grads(x[idx], y[idx])
            if not math.isfinite(out["loss"]):
                raise NonFiniteError(f"CVAE loss became {out['loss']} in epoch {epoch + 1}; "
                                         f"lower the learning rate (lr={lr})")
            opt.step()
            for k in model.terms:
                sums[k] += out[k] * len(idx)
        record = {"epoch": epoch + 1, **{f"train_{k}": v / len(x) for k, v in sums.items()}}
        if val is not None:
            model.eval()
            ev = model.evaluate(*val, rng=np.random.default_rng([seed, 2]))
            record.update({f"val_{k}": v for k, v in ev.items()})
        record["seconds"] = time.perf_counter() - t0
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
    return history
