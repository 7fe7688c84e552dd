"""The two-level hierarchical VAE (HVAE) of the VampPrior paper (Tomczak & Welling, 2018):
two stochastic layers, z₂ on top, z₁ below, every distribution a diagonal Gaussian.

Notation: N batch, D data dimensions, L₁ and L₂ the sizes of z₁ and z₂, H hidden width.

    inference   q(z₂ | x)        = N(μ₂(x), diag e^{lv₂(x)})              encoder_z2
                q(z₁ | x, z₂)    = N(μ₁(x, z₂), diag e^{lv₁(x, z₂)})      encoder_z1
    generative  p(z₂)            = N(0, I), or the VampPrior (1/K) Σ_k q(z₂ | u_k)
                p(z₁ | z₂)       = N(m₁(z₂), diag e^{s₁(z₂)})             prior_z1
                p(x | z₁, z₂)    = Bernoulli(σ(logits(z₁, z₂)))           decoder

The networks with two inputs (x and z₂; z₁ and z₂) give each input its own first layer
and join them, as the paper's do:  h = join([act(W_a a + b_a), act(W_b b + b_b)]) → MLP.
With ``gated=True`` (the paper's networks, the default) every hidden layer is a gated
unit (xW + b) ⊙ σ(xV + c) (:class:`~scratchvae.nn.GatedLinear`) instead of Linear → act.

Sampling, top-down in the generative direction and bottom-up in inference:

    z₂ = μ₂ + σ₂ ⊙ ε₂,     z₁ = μ₁(x, z₂) + σ₁ ⊙ ε₁,     ε = [ε₁, ε₂] ~ N(0, I)   (N, L₁+L₂)

With ``prior="vampprior"`` p(z₂) is the mixture of q(z₂|·) at K learned pseudo-inputs
(:mod:`.pseudo_inputs`, the VampPrior VAE's prior moved to the top level, as the paper's
HVAE + VampPrior does); encoder_z2 then runs once on the stacked rows [x; u].

The objective, one sample of (z₁, z₂) per image, in nats (sum over dimensions, mean
over the batch); the inner KL is closed-form given the sampled z₂:

    −ELBO = E_q[ −log p(x | z₁, z₂) ]                           recon
          + E_q(z₂|x)[ KL(q(z₁ | x, z₂) ‖ p(z₁ | z₂)) ]            kl_z1
          + KL(q(z₂ | x) ‖ p(z₂))                                  kl_z2
    loss  = recon + β · (kl_z1 + kl_z2)

kl_z2 is closed-form for N(0, I) and the single-sample estimate log q(z₂|x) − log p(z₂)
at the same z₂ for the VampPrior (``distributions.vampprior.sampled_kl``).

Backward, the graph in reverse (:meth:`HVAE.loss_and_grads`). z₂ feeds three networks
(q(z₁|x, z₂), p(z₁|z₂) and the decoder), so its gradient is the sum of three paths:

    dlogits          = ∂recon/∂logits                           the likelihood
    dz₁, dz₂^dec     = decoder.backward(dlogits)                both its inputs
    dμ₁ = dz₁ + β ∂KL₁/∂μ₁,   dlv₁ = dz₁ ⊙ ε₁ σ₁/2 + β ∂KL₁/∂lv₁       through z₁ = μ₁ + σ₁ε₁
    dz₂^q            = encoder_z1.backward([dμ₁, dlv₁])        (x is data: its branch
                                                                 gets no input gradient)
    dz₂^p            = prior_z1.backward([β ∂KL₁/∂m₁, β ∂KL₁/∂s₁])
    dz₂              = dz₂^dec + dz₂^q + dz₂^p
    dμ₂ = dz₂ + β ∂KL₂/∂μ₂,   dlv₂ = dz₂ ⊙ ε₂ σ₂/2 + β ∂KL₂/∂lv₂       through z₂ = μ₂ + σ₂ε₂
    encoder_z2.backward([dμ₂, dlv₂])

The KLs' gradients are those of ``distributions.kl`` (their formulas are in its
docstring). The order of the backward calls matters only for the caches: every network
runs forward once per step and backward once, so each keeps exactly one cache.
"""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from ..distributions import (
    kl_diag_gaussians, kl_standard_normal, reparameterize_backward, reparameterize_forward,
    standard_normal,
)
from ..distributions.likelihoods import get_likelihood
from ..distributions.likelihoods import LOG_2PI
from ..distributions.vampprior import sampled_kl
from ..errors import ConfigError, ShapeError
from ..functional.checks import check_array, check_finite, check_int, check_real, check_sizes
from ..functional.shape import concat_forward
from ..nn import GatedLinear, Module, Sequential
from ..rng import as_rng
from .base import Model, join_halves, split_halves
from .blocks import mlp
from .pseudo_inputs import PseudoInputPrior, pseudo_options
from .vae_base import check_beta, check_vae_args


class TwoInputNet(Module):
    """h = net([branch_a(a), branch_b(b)]): a network of two inputs, each with its own
    first layers, joined by concatenation (the paper's q(z₁|x, z₂) and p(x|z₁, z₂)).

        branch_a   a (N, A) → (N, H_a)
        branch_b   b (N, B) → (N, H_b)
        net        [h_a, h_b] (N, H_a + H_b) → (N, out)

    Args: the three networks (each a module with forward/backward; ``branch_a`` a
    Sequential, whose backward can skip its input gradient). :func:`two_input_mlp` builds
    the MLP version, ``ConvHVAE`` a convolutional one.
    """

    def __init__(self, branch_a, branch_b, net):
        super().__init__()
        self.branch_a, self.branch_b, self.net = branch_a, branch_b, net
        self.width_a = None                   # H_a, where the concatenation is cut

    def forward(self, a, b):
        """a (N, A), b (N, B) → (N, out)."""
        ha, hb = self.branch_a.forward(a), self.branch_b.forward(b)
        self.width_a = ha.shape[1]
        return self.net.forward(concat_forward(ha, hb)[0])        # (N, H_a + H_b) → (N, out)

    def forward_shared(self, ha, b, copies: int):
        """Forward with a's branch already computed once: ha (G, H) from ``branch_a`` is
        used for ``copies`` consecutive rows of b (G·copies, B) each → (G·copies, out).
        Inference only (no cache for a's branch): importance sampling runs S samples of z₂
        per image through q(z₁|x, z₂), and x's first layer need not run S times."""
        xp = get_array_module(ha)
        hb = self.branch_b.forward(b)                                      # (G·S, H_b)
        self.width_a = ha.shape[1]
        return self.net.forward(concat_forward(xp.repeat(ha, copies, axis=0), hb)[0])

    def backward(self, dy, grad_a: bool = True):
        """dy (N, out) → (da (N, A) or None when ``grad_a`` is False, db (N, B))."""
        dh = self.net.backward(dy)                                        # (N, H_a + H_b)
        dha, dhb = dh[:, :self.width_a], dh[:, self.width_a:]             # the concat's adjoint
        da = self.branch_a.backward(dha, input_grad=grad_a)               # None if not asked
        return da, self.branch_b.backward(dhb)


def two_input_mlp(size_a: int, size_b: int, hidden, out: int, activation: str, rng, dtype,
                  gated: bool = False) -> TwoInputNet:
    """The MLP TwoInputNet: each input through one layer of width hidden[0] (Linear → act,
    or GatedLinear), then an MLP hidden[1:] → out on the concatenation (width 2·hidden[0])."""
    h = int(hidden[0])

    def branch(size):
        if gated:
            return Sequential(GatedLinear(size, h, rng=rng, dtype=dtype))
        return mlp([size, h], activation, rng, dtype, final_activation=activation)
    branch_a, branch_b = branch(size_a), branch(size_b)
    return TwoInputNet(branch_a, branch_b,
                       mlp([2 * h, *hidden[1:], out], activation, rng, dtype, gated=gated))


PRIORS = ("gaussian", "vampprior")


class HVAEBase(PseudoInputPrior, Model):
    """The probabilistic part of a two-level VAE for any four networks (module docstring):
    the objective and its backward, the importance weights, the samplers. A subclass
    builds the networks and calls :meth:`_setup`."""

    terms = ("loss", "recon", "kl", "kl_z1", "kl_z2")

    def _setup(self, networks, *, input_dim, latent_dims, likelihood, logvar_x, beta, prior,
               pseudo, rng, seed, dtype) -> None:
        """Attach ``networks`` = (encoder_z2, encoder_z1, prior_z1, decoder) — the two
        two-input ones TwoInputNets — and the model's settings; the pseudo-inputs of a
        VampPrior are drawn from ``rng`` after the networks' weights."""
        self.encoder_z2, self.encoder_z1, self.prior_z1, self.decoder = networks
        self.input_dim, self.latent_dims = int(input_dim), tuple(latent_dims)
        self.vampprior = prior == "vampprior"
        if self.vampprior:                    # then the pseudo-inputs, from the same stream
            self.add_pseudo_inputs(pseudo, rng, dtype)
        self.likelihood, self.lik = likelihood, get_likelihood(likelihood)
        self.logvar_x = check_real(logvar_x, "logvar_x")
        self.beta = check_beta(beta)
        self.rng = np.random.default_rng([int(seed), 1])    # ε for training; saved in checkpoints

    @property
    def learned_prior(self) -> bool:
        return self.vampprior

    @property
    def prior_encoder(self):
        """The VampPrior's network: the components are q(z₂|u_k)."""
        return self.encoder_z2

    @property
    def prior_latent_dim(self) -> int:
        return self.latent_dims[1]

    @property
    def latent_dim(self) -> int:
        """L₁ + L₂: the size of z = [z₁, z₂], of the posterior summaries and of ε."""
        return sum(self.latent_dims)

    @property
    def kl_weight(self) -> float:
        return self.beta

    @kl_weight.setter
    def kl_weight(self, value: float) -> None:
        self.beta = check_beta(value)

    def _rng(self, rng):
        return as_rng(rng) if rng is not None else self.rng

    # ------------------------------------------------------------ the networks
    def _z2_posterior(self, x):
        """q(z₂|x): x (N, D) → (μ₂, lv₂), each (N, L₂)."""
        return split_halves(self.encoder_z2.forward(x), self.latent_dims[1])

    def _z1_posterior(self, x, z2):
        """q(z₁|x, z₂): → (μ₁, lv₁), each (N, L₁)."""
        return split_halves(self.encoder_z1.forward(x, z2), self.latent_dims[0])

    def _z1_prior(self, z2):
        """p(z₁|z₂): z₂ (N, L₂) → (m₁, s₁), each (N, L₁)."""
        return split_halves(self.prior_z1.forward(z2), self.latent_dims[0])

    def _noise(self, n, eps, rng):
        """ε (N, L₁+L₂) split into (ε₁, ε₂): frozen, or drawn in one call."""
        L1, L2 = self.latent_dims
        if eps is None:
            eps = standard_normal((n, L1 + L2), self._rng(rng), self.dtype, self.xp())
        else:
            check_array(eps, "eps", dtypes=None, ndim=2, layout="(N, L1+L2)")
            if tuple(eps.shape) != (n, L1 + L2):
                raise ShapeError(f"eps must be (N, L1+L2) = {(n, L1 + L2)}: ε₁ then ε₂ for each "
                                 f"example, got {tuple(eps.shape)}")
            check_finite(eps, "eps")
        return eps[:, :L1], eps[:, L1:]

    # ------------------------------------------------------------------ the pass
    def loss_and_grads(self, x, eps=None, rng=None, compute_grads: bool = True) -> dict:
        """loss = recon + β·(kl_z1 + kl_z2) on a batch, and (unless ``compute_grads`` is
        False) its gradients ADDED into ``grads`` (module docstring).

        Args:
            x: (N, D) batch; targets in [0, 1] for the Bernoulli likelihood.
            eps: (N, L₁+L₂) frozen noise [ε₁, ε₂]; otherwise drawn from ``rng`` or the
                model's own generator.
        Returns:
            the ``terms`` as floats (batch means, nats) and the posteriors' ``"mu"``/
            ``"logvar"`` of both levels, (N, L₁+L₂) each, z₁'s columns first.
        """
        x = self.check_input(x, self.input_dim, self.likelihood)
        eps1, eps2 = self._noise(len(x), eps, rng)
        beta = self.beta
        xp = get_array_module(x)
        N, L2 = len(x), self.latent_dims[1]
        if self.vampprior:                    # one pass of encoder_z2 on [x; u] (N + K rows)
            u, clip_cache = self.pseudo_inputs()
            h2 = self.encoder_z2.forward(xp.concatenate([x, u]))
            (mu2, lv2), (mu_p, lv_p) = split_halves(h2[:N], L2), split_halves(h2[N:], L2)
        else:
            mu2, lv2 = self._z2_posterior(x)                              # (N, L₂) each
        z2, rep2 = reparameterize_forward(mu2, lv2, eps2)
        mu1, lv1 = self._z1_posterior(x, z2)                              # (N, L₁) each
        z1, rep1 = reparameterize_forward(mu1, lv1, eps1)
        m1, s1 = self._z1_prior(z2)                                       # (N, L₁) each
        out = self.decoder.forward(z1, z2)                                # (N, D) logits
        recon, drecon = self.lik.nll(out, x, self.logvar_x, check_data=False)
        kl1, dkl1 = kl_diag_gaussians(mu1, lv1, m1, s1)
        kl2, dkl2 = sampled_kl(z2, mu2, lv2, mu_p, lv_p) if self.vampprior else \
            kl_standard_normal(mu2, lv2)
        kl1, kl2, recon = float(kl1), float(kl2), float(recon)
        result = {"loss": recon + beta * (kl1 + kl2), "recon": recon, "kl": kl1 + kl2,
                  "kl_z1": kl1, "kl_z2": kl2,
                  "mu": xp.concatenate([mu1, mu2], axis=1),
                  "logvar": xp.concatenate([lv1, lv2], axis=1)}
        if not compute_grads:
            return result
        dz1, dz2 = self.decoder.backward(drecon["out"])                   # (N, L₁), (N, L₂)
        dmu1, dlv1 = reparameterize_backward(dz1, rep1)                   # through z₁
        dmu1 += beta * dkl1["mu_q"]
        dlv1 += beta * dkl1["logvar_q"]
        _, dz2_q = self.encoder_z1.backward(join_halves(dmu1, dlv1), grad_a=False)
        dz2_p = self.prior_z1.backward(join_halves(beta * dkl1["mu_p"], beta * dkl1["logvar_p"]))
        dz2 = dz2 + dz2_q + dz2_p                                         # the three paths
        if self.vampprior:
            dz2 += beta * dkl2["z"]                                       # KL̂₂ depends on z₂
        dmu2, dlv2 = reparameterize_backward(dz2, rep2)                   # through z₂
        dmu2 += beta * dkl2["mu"]
        dlv2 += beta * dkl2["logvar"]
        if not self.vampprior:
            self.encoder_z2.backward(join_halves(dmu2, dlv2), input_grad=False)
            return result
        dh_pseudo = join_halves(beta * dkl2["mu_p"], beta * dkl2["logvar_p"])    # (K, 2L₂)
        du = self.encoder_z2.backward(xp.concatenate([join_halves(dmu2, dlv2), dh_pseudo]))
        self.pseudo_input_grad(du[N:], clip_cache)                        # ∂loss/∂u → ∂/∂a
        return result

    # ---------------------------------------------------- importance sampling
    def log_weights_chunk(self, x, mu, logvar, eps):
        """Log importance weights of G images with S samples each (the evaluation's hook,
        :mod:`scratchvae.evaluation.densities`), every constant in:

            log w = log p(x|z₁, z₂) + log p(z₁|z₂) + log p(z₂) − log q(z₁|x, z₂) − log q(z₂|x)

        with z₂ = μ₂ + σ₂ ε₂ and z₁ = μ₁(x, z₂) + σ₁ ε₁, so that (z − μ)/σ = ε in each q:

            log p(z₂) − log q(z₂|x)      = −½ Σ_j ( z₂ⱼ² − ε₂ⱼ² − lv₂ⱼ )        N(0, I)
                                         = log p(z₂) + ½ Σ_j ( ε₂ⱼ² + lv₂ⱼ + log 2π )  VampPrior
            log p(z₁|z₂) − log q(z₁|x,z₂) = −½ Σ_j ( (z₁ⱼ − m₁ⱼ)² e^{−s₁ⱼ} + s₁ⱼ − ε₁ⱼ² − lv₁ⱼ )

        (the log 2π terms cancel). The networks run in the model's dtype; the densities
        in float64.

        Args:
            x: (G, D) images in the model's dtype.
            mu, logvar: (G, L₁+L₂) float64 from :meth:`encode`; only the z₂ part is used
                (z₁'s posterior depends on each sample of z₂).
            eps: (G, S, L₁+L₂) float64 standard-normal noise [ε₁, ε₂].
        Returns:
            ``(log_w, log_px_z)``, each (G, S) float64.
        """
        xp = get_array_module(mu)
        L1, L2 = self.latent_dims
        G, S, _ = eps.shape
        e1, e2 = eps[..., :L1].reshape(G * S, L1), eps[..., L1:]
        mu2, lv2 = mu[:, None, L1:], logvar[:, None, L1:]                  # (G, 1, L₂)
        z2 = mu2 + xp.exp(0.5 * lv2) * e2                                  # (G, S, L₂)
        if self.vampprior:                                                 # (G, S)
            log_w2 = self.log_prior(z2) + 0.5 * (e2 * e2 + lv2 + LOG_2PI).sum(axis=-1)
        else:
            log_w2 = -0.5 * (z2 * z2 - e2 * e2 - lv2).sum(axis=-1)
        z2 = z2.reshape(G * S, L2)
        z2_net = z2.astype(self.dtype)
        h = self.encoder_z1.forward_shared(self.encoder_z1.branch_a.forward(x), z2_net, S)
        mu1, lv1 = (a.astype(np.float64) for a in split_halves(h, L1))    # (G·S, L₁)
        z1 = mu1 + xp.exp(0.5 * lv1) * e1
        m1, s1 = (a.astype(np.float64) for a in self._z1_prior(z2_net))
        d = z1 - m1
        log_w1 = -0.5 * (d * d * xp.exp(-s1) + s1 - e1 * e1 - lv1).sum(axis=-1)
        out = self.decoder.forward(z1.astype(self.dtype), z2_net)          # (G·S, D)
        log_px_z = self.lik.log_density(out.reshape(G, S, -1), x, self.logvar_x)   # (G, S)
        return log_px_z + log_w2 + log_w1.reshape(G, S), log_px_z

    @property
    def latent_levels(self) -> dict:
        """{level: size} in the order of the columns of :meth:`encode`: z₁, then z₂."""
        return {"z1": self.latent_dims[0], "z2": self.latent_dims[1]}

    def kl_per_unit(self, x):
        """Per-unit KL of each image, (N, L₁+L₂) float64, at the point summary z₂ = μ₂:
        KL(q(z₁ⱼ|x, μ₂) ‖ p(z₁ⱼ|μ₂)) for z₁, KL(q(z₂ⱼ|x) ‖ N(0, 1)) for z₂ (NaN under the
        VampPrior, which has no per-unit split). (The ELBO's z₁
        term averages over z₂ ~ q(z₂|x) instead; the report's total KL is that one.)"""
        x = self.check_input(x, self.input_dim, self.likelihood)
        xp = get_array_module(x)
        mu2, lv2 = (a.astype(np.float64) for a in self._z2_posterior(x))
        mu1, lv1 = (a.astype(np.float64) for a in self._z1_posterior(x, mu2.astype(self.dtype)))
        m1, s1 = (a.astype(np.float64) for a in self._z1_prior(mu2.astype(self.dtype)))
        d = lv1 - s1
        kl1 = 0.5 * (xp.expm1(d) - d + (mu1 - m1) ** 2 * xp.exp(-s1))
        kl2 = xp.full(mu2.shape, np.nan) if self.vampprior else \
            0.5 * (mu2 * mu2 + xp.expm1(lv2) - lv2)        # the mixture does not factorise
        return xp.concatenate([kl1, kl2], axis=1)

    # --------------------------------------------------------------- inference
    def encode(self, x):
        """The top-down means of inference: x (N, D) → (μ, logvar) (N, L₁+L₂), the z₁ part
        taken at z₂ = μ₂ (the usual point summary of q(z₁, z₂|x))."""
        x = self.check_input(x, self.input_dim, self.likelihood)
        mu2, lv2 = self._z2_posterior(x)
        mu1, lv1 = self._z1_posterior(x, mu2)
        xp = get_array_module(x)
        return xp.concatenate([mu1, mu2], axis=1), xp.concatenate([lv1, lv2], axis=1)

    def decode(self, z):
        """z = [z₁, z₂] (N, L₁+L₂) → the mean of p(x|z₁, z₂), (N, D)."""
        L1 = self.latent_dims[0]
        z = self.check_codes(z, sum(self.latent_dims), "z")
        return self.lik.mean(self.decoder.forward(z[:, :L1], z[:, L1:]))

    def reconstruct(self, x):
        """Decode the posterior means: x (N, D) → x̂ (N, D)."""
        return self.decode(self.encode(x)[0])

    def sample_latents(self, n: int, rng=None):
        """Ancestral samples of the prior: z₂ ~ p(z₂) (N(0, I) or the VampPrior), then
        z₁ ~ p(z₁|z₂); (n, L₁+L₂). ε is drawn first, then the mixture's draws."""
        n = check_int(n, "n", 1, hint="the number of samples to draw")
        L1, L2 = self.latent_dims
        rng = self._rng(rng)
        eps = standard_normal((n, L1 + L2), rng, self.dtype, self.xp())
        z2 = self.prior_sample(n, rng).astype(self.dtype) if self.vampprior else eps[:, L1:]
        m1, s1 = self._z1_prior(z2)
        z1, _ = reparameterize_forward(m1, s1, eps[:, :L1])
        return get_array_module(z1).concatenate([z1, z2], axis=1)

    def sample(self, n: int, rng=None):
        """n draws from the model: (z₁, z₂) from the prior → decoder mean, (n, D)."""
        return self.decode(self.sample_latents(n, rng))


def check_hvae_args(latent_dims, prior, n_pseudo, pseudo_init, pseudo_clip, likelihood):
    """(L₁, L₂) and the checked pseudo-input options; one-line errors for the rest."""
    L1, L2 = check_sizes(latent_dims, "latent_dims", example="(40, 40)", length=2)
    if prior not in PRIORS:
        raise ConfigError(f"prior must be one of {PRIORS} (the prior of z₂), got {prior!r}")
    return (L1, L2), pseudo_options(n_pseudo, pseudo_init, pseudo_clip, likelihood)


class HVAE(HVAEBase):
    """Two-level hierarchical VAE with MLP networks (module docstring).

    Args:
        input_dim: D.
        hidden: widths H of each network's hidden layers (the paper: (300, 300)); the
            two-input networks give each input a first layer of width H[0].
        latent_dims: (L₁, L₂), the sizes of z₁ (near the data) and z₂ (on top).
        likelihood: "bernoulli" (default), "gaussian" or "mse" (``distributions.LIKELIHOODS``).
        logvar_x: the fixed log-variance of a Gaussian p(x|z₁, z₂).
        beta: weight of both KL terms (1: the ELBO; the Trainer's warm-up ramps it).
        activation: hidden activation name ("relu", "tanh", ...) when ``gated`` is False.
        gated: gated hidden units, as in the paper (True, the default).
        prior: p(z₂), "gaussian" (N(0, I), the default) or "vampprior".
        n_pseudo, pseudo_init, pseudo_clip: the VampPrior's K pseudo-inputs, their starting
            value and the hardtanh to [0, 1] (:mod:`.pseudo_inputs`; unused for "gaussian").
        seed: seeds the initial weights and the model's ε generator; dtype: float32/float64.
    """

    name = "hvae"

    def __init__(self, input_dim=784, hidden=(300, 300), latent_dims=(40, 40),
                 likelihood="bernoulli", logvar_x=0.0, beta=1.0, activation="relu", gated=True,
                 prior="gaussian", n_pseudo=500, pseudo_init=0.5, pseudo_clip=None, seed=0,
                 dtype=np.float32):
        (L1, L2), pseudo = check_hvae_args(latent_dims, prior, n_pseudo, pseudo_init,
                                           pseudo_clip, likelihood)
        check_vae_args(input_dim, L1 + L2, likelihood, False, logvar_x, beta, seed, dtype,
                       hidden=hidden, activation=activation)
        hidden = [int(h) for h in hidden]
        D = int(input_dim)
        super().__init__(dict(input_dim=D, hidden=hidden, latent_dims=[L1, L2],
                              likelihood=likelihood, logvar_x=float(logvar_x),
                              beta=float(beta), activation=activation, gated=bool(gated),
                              prior=prior, **pseudo, seed=int(seed)))
        rng, g = as_rng(seed), bool(gated)    # the weights, in this order:
        networks = (mlp([D, *hidden, 2 * L2], activation, rng, dtype, gated=g),       # q(z₂|x)
                    two_input_mlp(D, L2, hidden, 2 * L1, activation, rng, dtype, g),  # q(z₁|x,z₂)
                    mlp([L2, *hidden, 2 * L1], activation, rng, dtype, gated=g),      # p(z₁|z₂)
                    two_input_mlp(L1, L2, hidden[::-1], D, activation, rng, dtype, g))  # p(x|·)
        self._setup(networks, input_dim=D, latent_dims=(L1, L2), likelihood=likelihood,
                    logvar_x=logvar_x, beta=beta, prior=prior, pseudo=pseudo, rng=rng,
                    seed=seed, dtype=dtype)
