"""The probabilistic core every VAE of the library shares, whatever its networks.

Notation: N batch, D data dimensions, L latent dimensions, K classes of an optional
condition c = onehot(y) (N, K) (K = 0: no condition).

    encoder   [x, c] (N, D+K) → h (N, 2L) → μ = h[:, :L], logvar = h[:, L:]
    sample    z = μ + σ ⊙ ε,  σ = exp(logvar/2),  ε ~ N(0, I)                   (N, L)
    decoder   [z, c] (N, L+K) → out (N, D)   logits (Bernoulli) or the mean (Gaussian)

    recon = −E_q[log p(x|z)]                 the likelihood table of distributions/
    KL    = KL(q(z|x) ‖ N(0, I))             closed form (distributions/kl.py)
    J     = a · recon + b · KL               the weighted objective

both terms summed over their dimensions and averaged over the batch, in nats. Each
model picks the weights (a, b): the VAE (1, β) — for β = 1, J is the negative ELBO
and J ≥ −log p(x) on average; the Lagrangian VAE (1 + α, α); GECO (λ, 1). The
condition c is data: concatenated to both inputs for a conditional VAE, absent otherwise.

Backward of J, the graph in reverse (:meth:`VAEBase.weighted_pass`):

    dout          = a · ∂recon/∂out                    (and a · ∂recon/∂logvar_x, if learned)
    dz            = decoder.backward(dout)[:, :L]      (c gets no gradient)
    dμ, dlogvar   = reparameterize_backward(dz)  +  b · ∂KL/∂(μ, logvar)
    dx            = encoder.backward([dμ, dlogvar])[:, :D]  +  a · ∂recon/∂x|_out
                    (only when asked: x is data, and its first GEMM is skipped otherwise)

The last term is there because x enters twice, as the encoder's input and as the
reconstruction target.

A subclass supplies the two networks (any modules mapping (N, D+K) → (N, 2L) and
(N, L+K) → (N, D)) and, if it has other weights, its own ``loss_and_grads`` around
:meth:`weighted_pass`; the IWAE and the VAE-GAN reuse the encoder half
(:meth:`posterior`, :meth:`encoder_backward`) under objectives of their own. The prior
p(z) = N(0, I) lives in two methods, :meth:`prior_sample` (for :meth:`sample`) and
:meth:`log_prior` (for the IWAE estimate of ``evaluation/``): a model with a learned
prior, the VampPrior VAE, overrides those two and its own objective.
"""
from __future__ import annotations

import math

import numpy as np

from ..distributions import (
    kl_per_dimension, kl_standard_normal, reparameterize_backward, reparameterize_forward,
    standard_normal,
)
from ..distributions.likelihoods import LOG_2PI, get_likelihood
from ..errors import ConfigError, DataError, DTypeError, ShapeError
from ..functional.checks import (
    check_array, check_dtype, check_int, check_real, check_sizes,
)
from ..functional.shape import concat_backward, concat_forward
from ..nn.activations import activation_key
from ..backend import to_numpy
from ..rng import as_rng
from .base import Model, join_halves, split_halves


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


def check_beta(beta) -> float:
    """The KL weight β: a finite number ≥ 0."""
    try:
        value = float(beta)
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(beta, (bool, np.bool_)) or not (math.isfinite(value) and value >= 0):
        raise ConfigError(f"beta is the weight of the KL term and must be a finite number ≥ 0, "
                          f"got {beta!r} (1 gives the ELBO)")
    return value


def check_vae_args(input_dim, latent_dim, likelihood="bernoulli", learn_variance=False,
                   logvar_x=0.0, beta=1.0, seed=0, dtype=np.float32, hidden=None,
                   activation=None) -> None:
    """Refuse, before anything is built, the constructor arguments a VAE cannot use: sizes
    that are not positive integers, an unknown likelihood or activation, a learned variance
    for a likelihood without one, a non-finite log-variance, β outside [0, ∞), a negative
    or non-integer seed, a dtype other than float32/float64. One line each, naming the
    argument and its allowed range."""
    check_int(input_dim, "input_dim", 1, hint="the number of data dimensions D, e.g. 784")
    check_int(latent_dim, "latent_dim", 1, hint="the number of latent dimensions L, e.g. 20")
    if hidden is not None:
        check_sizes(hidden, "hidden", example="(400,)")
    lik = get_likelihood(likelihood)
    if not isinstance(learn_variance, (bool, np.bool_)) and learn_variance not in (0, 1):
        raise ConfigError(f"learn_variance must be True or False, got {learn_variance!r}")
    if learn_variance and not lik.variance:
        raise ConfigError(f"learn_variance=True needs likelihood='gaussian' (the "
                          f"{likelihood!r} likelihood has no variance to learn)")
    check_real(logvar_x, "logvar_x", hint="the Gaussian log-variance log σ², e.g. 0.0")
    check_beta(beta)
    if activation is not None:
        activation_key(activation)
    check_int(seed, "seed", 0, hint="e.g. seed=0")
    check_dtype(dtype)


class VAEBase(Model):
    """The latent part of a VAE for any encoder/decoder pair (module docstring).

    Args:
        config: the subclass's constructor arguments (stored for ``build_model``).
        encoder, decoder: the networks, (N, D+K) → (N, 2L) and (N, L+K) → (N, D).
        input_dim: D; latent_dim: L; n_classes: K (0 for an unconditional model).
        likelihood: "bernoulli", "gaussian" or "mse" (``distributions.LIKELIHOODS``).
        learn_variance: for "gaussian", learn one log-variance per data dimension
            (``params["logvar_x"]`` (D,)); otherwise the variance is exp(``logvar_x``).
        logvar_x: the fixed (or initial) Gaussian log-variance.
        beta: β, the KL weight of the plain objective (``kl_weight``).
        seed: seeds the model's own ε generator ``rng`` (saved in checkpoints).
    """

    terms = ("loss", "recon", "kl")

    def __init__(self, config: dict, encoder, decoder, *, input_dim: int, latent_dim: int,
                 likelihood="bernoulli", learn_variance=False, logvar_x=0.0, beta=1.0,
                 n_classes=0, seed=0, dtype=np.float32):
        check_vae_args(input_dim, latent_dim, likelihood, learn_variance, logvar_x, beta, seed,
                       dtype)
        check_int(n_classes, "n_classes", 0)
        super().__init__(config)
        self.input_dim, self.latent_dim, self.n_classes = int(input_dim), int(latent_dim), \
            int(n_classes)
        self.lik = get_likelihood(likelihood)
        self.likelihood = likelihood
        self.beta = check_beta(beta)
        self.learn_variance = bool(learn_variance) and self.lik.variance
        if self.learn_variance:
            self.add_param("logvar_x", np.full(self.input_dim, logvar_x, dtype=dtype))
        self.fixed_logvar_x = float(logvar_x)
        self.rng = np.random.default_rng([int(seed), 1])    # ε for training; saved in checkpoints
        self.encoder, self.decoder = encoder, decoder

    # --------------------------------------------------------------- the hooks
    @property
    def kl_weight(self) -> float | None:
        return self.beta

    @kl_weight.setter
    def kl_weight(self, value: float) -> None:
        self.beta = check_beta(value)

    @property
    def logvar_x(self):
        """log σ² of a Gaussian p(x|z): the learned (D,) array, or the fixed float."""
        return self.params["logvar_x"] if self.learn_variance else self.fixed_logvar_x

    def condition(self, y, n: int):
        """The condition c (N, K) of labels y, or None for an unconditional model."""
        if self.n_classes == 0:
            if y is not None:
                raise ConfigError(f"{type(self).__name__} is not conditional and takes no "
                                  f"labels; use a CVAE to condition on them")
            return None
        if y is None:
            raise DataError(f"{type(self).__name__} is conditional: pass the labels y (N,) "
                            f"with the data")
        return one_hot(y, self.n_classes, n, self.dtype)

    def _rng(self, rng):
        return as_rng(rng) if rng is not None else self.rng

    # ------------------------------------------------------------ the two halves
    def posterior(self, x, c=None):
        """Encoder forward (keeps its cache): x (N, D) → (μ, logvar), each (N, L)."""
        h = x if c is None else concat_forward(x, c)[0]              # (N, D+K)
        return split_halves(self.encoder.forward(h), self.latent_dim)

    def decoder_output(self, z, c=None):
        """Decoder forward (keeps its cache): z (N, L) → out (N, D), logits or mean."""
        return self.decoder.forward(z if c is None else concat_forward(z, c)[0])

    def encoder_backward(self, dz, rep_cache, dkl, w_kl=1.0, input_grad=False):
        """Back from dL/dz (N, L) through z = μ + σε, plus w_kl · ∂KL/∂(μ, logvar) (``dkl``,
        the KL's gradients), through the encoder. Returns dL/dx (N, D) from the encoder's
        input, or None."""
        dmu, dlogvar = reparameterize_backward(dz, rep_cache)        # through z = μ + σε
        dmu += w_kl * dkl["mu"]                                      # plus w_kl · ∂KL/∂μ
        dlogvar += w_kl * dkl["logvar"]                              # plus w_kl · ∂KL/∂logvar
        dh = join_halves(dmu, dlogvar)                               # (N, 2L)
        if not input_grad:                     # x is data: skip the first layer's dx GEMM
            self.encoder.backward(dh, input_grad=False)
            return None
        dx = self.encoder.backward(dh)                               # (N, D+K)
        return dx if self.n_classes == 0 else concat_backward(dx, self.input_dim)

    # ------------------------------------------------------------------ the pass
    def weighted_pass(self, x, c, w_recon: float, w_kl: float, eps=None, rng=None,
                      compute_grads: bool = True, input_grad: bool = False) -> dict:
        """Forward and (unless ``compute_grads=False``) backward of
        ``w_recon · recon + w_kl · KL`` on a validated batch (module docstring).

        The weights are constants here (a multiplier's own gradient is the caller's).
        Gradients are ADDED into ``grads``.

        Args:
            x: (N, D) batch in the model's dtype; c: its condition (N, K) or None.
            eps: (N, L) frozen ε, else drawn from ``rng`` (a Generator or seed) or the
                model's own generator.
            input_grad: also return ``"dx"`` (N, D), the gradient with respect to x.
        Returns:
            ``{"recon", "kl"}`` as the loss functions return them (0-d arrays, batch
            means, nats), ``"mu"``, ``"logvar"`` (N, L) and, if asked, ``"dx"``.
        """
        mu, logvar = self.posterior(x, c)                             # (N, L) each
        z, rep_cache = reparameterize_forward(mu, logvar, eps, self._rng(rng))
        out = self.decoder_output(z, c)                               # (N, D)
        logvar_x = self.logvar_x
        recon, drecon = self.lik.nll(out, x, logvar_x, check_data=False)   # x checked once
        kl, dkl = kl_standard_normal(mu, logvar)
        result = {"recon": recon, "kl": kl, "mu": mu, "logvar": logvar}
        if not compute_grads:
            return result
        if "logvar" in drecon:
            self.grads["logvar_x"] += w_recon * drecon["logvar"]     # ∂(a·recon)/∂logvar_x
        dout = drecon["out"] if w_recon == 1.0 else w_recon * drecon["out"]
        dz = self.decoder.backward(dout)                              # (N, L+K)
        if c is not None:
            dz = concat_backward(dz, self.latent_dim)                 # (N, L); c gets none
        dx = self.encoder_backward(dz, rep_cache, dkl, w_kl, input_grad)
        if input_grad:               # x is also the reconstruction target: ∂recon/∂x|_out
            dtarget = self.lik.target_grad(out, x, logvar_x)
            result["dx"] = dx + (dtarget if w_recon == 1.0 else w_recon * dtarget)
        return result

    def loss_and_grads(self, x, y=None, eps=None, rng=None, compute_grads: bool = True,
                       input_grad: bool = False) -> dict:
        """loss = recon + β·KL on a batch (the negative ELBO for β = 1), and its gradients.

        Args:
            x: (N, D) batch; targets in [0, 1] for the Bernoulli likelihood.
            y: (N,) integer labels, for a conditional model only.
            eps: (N, L) frozen ε for the reparameterization (gradient checks); otherwise
                 drawn from ``rng`` (a Generator or an int seed) or, when ``rng`` is
                 None, from the model's own generator.
            compute_grads: False for evaluation (no backward, grads untouched).
            input_grad: also return ``"dx"`` (N, D) (needs ``compute_grads``).
        Returns:
            ``{"loss", "recon", "kl"}`` as floats (batch means, nats), the posterior
            ``"mu"``/``"logvar"`` (N, L), and ``"dx"`` if asked. Gradients are ADDED into
            ``grads`` — call ``zero_grad()`` first.
        """
        x = self.check_input(x, self.input_dim, self.likelihood)
        res = self.weighted_pass(x, self.condition(y, len(x)), 1.0, self.beta, eps, rng,
                                 compute_grads, input_grad)
        recon, kl = res["recon"], res["kl"]
        res.update(loss=float(recon + self.beta * kl), recon=float(recon), kl=float(kl))
        return res

    # ---------------------------------------------------------------- the prior
    # p(z) = N(0, I) for every VAE of this core; a model with another prior (the
    # VampPrior VAE) overrides these two, and the sampler and the IWAE estimate follow.
    def prior_sample(self, n: int, rng):
        """n codes z ~ p(z) (n, L) from the Generator ``rng``, in the model's dtype."""
        return standard_normal((n, self.latent_dim), rng, self.dtype, self.xp())

    def log_prior(self, z):
        """log p(z) = −½ Σ_j (z_j² + log 2π) of codes z (..., L), summed over L: (...),
        nats, in z's dtype (the importance weights of ``evaluation/`` pass float64)."""
        return -0.5 * (z * z + LOG_2PI).sum(axis=-1)

    # --------------------------------------------------------------- inference
    def encode(self, x, y=None):
        """x (N, D) [and labels y (N,)] → (μ, logvar) of q(z|x), each (N, L); x must be data
        the model can score (in [0, 1] for the Bernoulli likelihood)."""
        x = self.check_input(x, self.input_dim, self.likelihood)
        return self.posterior(x, self.condition(y, len(x)))

    def decode(self, z, y=None):
        """z (N, L) [and labels y (N,)] → the mean of p(x|z), (N, D)."""
        z = self.check_codes(z, self.latent_dim, "z")
        return self.lik.mean(self.decoder_output(z, self.condition(y, len(z))))

    def reconstruct(self, x, y=None):
        """Decode the posterior mean: x (N, D) → x̂ (N, D)."""
        mu, _ = self.encode(x, y)
        return self.decode(mu, y)

    def sample(self, n: int, labels=None, rng=None):
        """n draws from the model: z ~ N(0, I) → decoder mean, (n, D). A conditional model
        takes ``labels``: one int for all n, or an (n,) array."""
        n = check_int(n, "n", 1, hint="the number of samples to draw")
        if labels is not None and np.isscalar(labels):
            if not isinstance(labels, (int, np.integer)) or isinstance(labels, bool):
                raise DTypeError(f"labels must be an integer class in [0, {self.n_classes}) or "
                                 f"an (n,) integer array, got {labels!r}")
            labels = np.full(n, labels, dtype=np.int64)
        return self.decode(self.prior_sample(n, self._rng(rng)), labels)

    def reconstruction_nll(self, x, z, y=None, reduction: str = "none"):
        """−log p(x|z) of each example (N,) (or reduced), through the decoder."""
        x = self.check_input(x, self.input_dim, self.likelihood)
        z = self.check_codes(z, self.latent_dim, "z")
        if len(z) != len(x):
            raise ShapeError(f"z has {len(z)} rows but x has {len(x)}; pass one code per example")
        out = self.decoder_output(z, self.condition(y, len(x)))
        return self.lik.nll(out, x, self.logvar_x, reduction, check_data=False)[0]

    def kl_per_dimension(self, x, y=None, batch_size: int = 1000):
        """Mean KL of each latent unit over ``x`` (L,), for diagnosing unused units."""
        batch_size = check_int(batch_size, "batch_size", 1)
        check_array(x, "x", dtypes=None, min_ndim=1)
        parts = []
        for i in range(0, len(x), batch_size):
            yb = None if y is None else y[i:i + batch_size]
            parts.append(kl_per_dimension(*self.encode(x[i:i + batch_size], yb))
                         * len(x[i:i + batch_size]))
        return sum(parts) / len(x)
