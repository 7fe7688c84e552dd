"""The VAE with a VampPrior, "variational mixture of posteriors" (Tomczak & Welling, 2018).

Notation: N batch, D data dimensions, L latent dimensions, K pseudo-inputs; n indexes
data rows, k pseudo-inputs, j latent dimensions; σ² = exp(logvar); nats throughout.

The standard VAE's prior N(0, I) is replaced by the mixture of the encoder's own
posteriors at K learned pseudo-inputs u_k — points of data space, parameters of the
model like the network weights:

    encoder    e(x) = (μ, logvar)                    the one encoder, for data and u_k
    prior      p(z) = (1/K) Σ_k N(z; μ_k, σ_k²),     (μ_k, logvar_k) = e(u_k)      (K, L)
    posterior  q(z|x_n) = N(μ_n, σ_n²),               (μ_n, logvar_n) = e(x_n)      (N, L)
    sample     z_n = μ_n + σ_n ⊙ ε_n,  ε ~ N(0, I)                                   (N, L)
    decoder    z (N, L) → out (N, D)

    loss = recon + β · KL̂,    KL̂ = (1/N) Σ_n [ log q(z_n|x_n) − log p(z_n) ]

The KL of a Gaussian to a mixture has no closed form, so KL̂ is its single-sample
estimate at the same z as the reconstruction (``distributions/vampprior.py``:
:func:`~scratchvae.distributions.vampprior.sampled_kl`), and the loss for β = 1 is the
negative ELBO estimated with one sample — unbiased, not an upper bound sample by sample.
The prior's densities, its max-shifted logsumexp and its gradients (the responsibilities
r_nk) are written out in that module; this one follows them through the networks.

Pseudo-inputs. ``params["pseudo_inputs"]`` (K, D) holds the raw values a_k; the
pseudo-inputs are u_k = hardtanh(a_k) with ``pseudo_clip`` (the default for Bernoulli
data), else a_k. How they start, how to set them, the prior's sampler and its log-density
are :class:`~scratchvae.models.pseudo_inputs.PseudoInputPrior`'s, shared with the HVAE's
VampPrior over z₂.

Backward, the graph in reverse. For one row, before the batch's 1/N (write b = β/N):

    1. the decoder     dz_n  = ∂recon/∂z_n                       decoder.backward(dout)
    2. log q(z|x)      ∂ log q/∂z_n   = −(z_n − μ_n)/σ_n²
                       ∂ log q/∂μ_n   = +(z_n − μ_n)/σ_n²        (held apart from z)
                       ∂ log q/∂logvar_n = −½ + ½ (z_n − μ_n)²/σ_n²
    3. −log p(z)       ∂(−log p)/∂z_n = Σ_k r_nk (z_n − μ_k)/σ_k²
                       dz_n += b · [ ∂ log q/∂z_n + ∂(−log p)/∂z_n ]
    4. z = μ + σε      dμ_n      = dz_n + b · ∂ log q/∂μ_n
                       dlogvar_n = dz_n ⊙ ε_n σ_n/2 + b · ∂ log q/∂logvar_n

       Along the path through z, log q's own terms are −(z − μ)/σ² · 1 for μ and
       −(z − μ)/σ² · εσ/2 = −½ε² for logvar (z − μ = σε): they cancel its direct
       terms, +(z − μ)/σ² and ½(z − μ)²/σ² = ½ε², up to rounding, and leave log q's
       total derivatives 0 for μ and −½ for logvar — the derivative of its normaliser
       −½ logvar alone (as in the IWAE, ``models/iwae.py``). What moves μ_n and
       logvar_n besides the decoder is −log p, through z.
    5. the components  dμ_k      = −(β/N) Σ_n r_nk (z_n − μ_k)/σ_k²
                       dlogvar_k = −(β/N) Σ_n r_nk · ½ [ (z_n − μ_k)²/σ_k² − 1 ]
       (−log p pulls each component towards the codes it is responsible for, and widens
       it to cover them.)
    6. the encoder, a second time: its input was [x; u] (N + K rows), so its upstream
       gradient is [dμ_n, dlogvar_n] for the first N rows and [dμ_k, dlogvar_k] for
       the last K. Each layer's weight gradient is a sum over rows,

           dW = [x; u]ᵀ [d_data; d_pseudo] = xᵀ d_data + uᵀ d_pseudo,

       so one backward adds the data path's and the prior's gradients of every encoder
       weight together; the rows N … N+K−1 of the encoder's input gradient are
       ∂loss/∂u_k (the first N, ∂/∂x, are not needed: x is data).
    7. the pseudo-inputs  ∂loss/∂a_k = ∂loss/∂u_k ⊙ 1[0 < a_k < 1]     (hardtanh)

Why one batch [x; u] and not two passes: a layer keeps one cache (``nn/module.py``), and
the data path's backward needs the components (steps 3 and 5), which need the encoder's
forward on u — so two passes would need three encoder forwards (u, x, then u again for
its backward), or caches saved and restored behind the layers' backs. Stacking the rows
costs one forward and one backward, and is exact because the encoder works row by row:
no row's output depends on another row (an encoder with batch statistics, batch norm,
could not be stacked so). The batch mean is not the encoder's business: it sums over
rows and never divides, and the only 1/N is in the gradients the KL puts into the rows,
which average over the N data rows alone (the K pseudo rows carry (β/N) Σ_n …, a sum
over the data, not K more examples). Cost: the encoder runs on N + K rows every step —
with the paper's K = 500 and batches of 100 the prior is most of the encoder's work.
"""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from ..distributions.vampprior import sampled_kl
from ..distributions import reparameterize_backward, reparameterize_forward
from ..errors import ConfigError
from ..rng import as_rng
from .base import join_halves, split_halves
from .pseudo_inputs import PseudoInputPrior, check_flag, pseudo_options
from .vae import mlp_pair
from .vae_base import VAEBase, check_vae_args


class VampPriorVAE(PseudoInputPrior, VAEBase):
    """VAE whose prior is the mixture of its posteriors at K learned pseudo-inputs.

    Args:
        input_dim: D.
        hidden: widths of the encoder's hidden layers; the decoder mirrors them. The
            paper's networks: two gated layers of 300 units each.
        latent_dim: L (40 in the paper).
        gated: hidden layers are GatedLinear (default), else Linear → ``activation``.
        activation: the hidden activation when ``gated`` is False.
        n_pseudo: K, the number of pseudo-inputs (mixture components), ≥ 1.
        pseudo_init: the value the pseudo-inputs start around (module docstring).
        pseudo_clip: pass the pseudo-inputs through hardtanh to [0, 1]; None (default):
            True for the Bernoulli likelihood, whose data lives there, else False.
        likelihood: "bernoulli" (default), "gaussian" (unit variance) or "mse".
        beta: the weight of the KL term (``kl_weight``; the Trainer's warm-up ramps it).
        seed: seeds the weights, the pseudo-inputs and the sampling of ε.
        dtype: float32 (default) or float64.
    """

    name = "vampprior-vae"

    def __init__(self, input_dim=784, hidden=(300, 300), latent_dim=40, gated=True,
                 activation="relu", n_pseudo=500, pseudo_init=0.5, pseudo_clip=None,
                 likelihood="bernoulli", beta=1.0, seed=0, dtype=np.float32):
        check_vae_args(input_dim, latent_dim, likelihood, beta=beta, seed=seed, dtype=dtype,
                       hidden=hidden, activation=activation)
        gated = check_flag(gated, "gated")
        pseudo = pseudo_options(n_pseudo, pseudo_init, pseudo_clip, likelihood)
        config = dict(input_dim=int(input_dim), hidden=[int(h) for h in hidden],
                      latent_dim=int(latent_dim), gated=gated, activation=activation,
                      **pseudo, likelihood=likelihood, beta=float(beta), seed=int(seed))
        init_rng = as_rng(seed)                 # encoder, decoder, then the pseudo-inputs
        encoder, decoder = mlp_pair(input_dim, hidden, latent_dim, activation, init_rng,
                                    dtype, gated=gated)
        super().__init__(config, encoder, decoder, input_dim=input_dim, latent_dim=latent_dim,
                         likelihood=likelihood, beta=beta, seed=seed, dtype=dtype)
        self.add_pseudo_inputs(pseudo, init_rng, dtype)                # a_k, (K, D)

    # ------------------------------------------------------------- the prior
    @property
    def prior_encoder(self):
        """The network whose posteriors at the pseudo-inputs are the prior: the encoder."""
        return self.encoder

    @property
    def prior_latent_dim(self) -> int:
        return self.latent_dim

    def kl_per_dimension(self, x, y=None, batch_size: int = 1000):
        raise ConfigError("the VampPrior does not factorise over the latent dimensions, so "
                          "there is no KL per unit; use evaluation.latent_usage's activity "
                          "Var μ_j instead")

    def kl_per_unit(self, x):
        """NaN (B, L) for the evaluation report's per-unit KL column: the mixture prior does
        not factorise over units, so the KL has no per-unit split (the report's total KL
        comes from the importance samples; Var μ_j still measures each unit's use)."""
        return self.xp().full((len(x), self.latent_dim), np.nan)

    # ------------------------------------------------------------------ the pass
    def loss_and_grads(self, x, eps=None, rng=None, compute_grads: bool = True) -> dict:
        """loss = recon + β·KL̂ on a batch (module docstring), and its gradients.

        Args:
            x: (N, D) batch; targets in [0, 1] for the Bernoulli likelihood.
            eps: (N, L) frozen ε for the reparameterization (gradient checks); otherwise
                 drawn from ``rng`` (a Generator or an int seed) or, when ``rng`` is None,
                 from the model's own generator.
            compute_grads: False for evaluation (no backward, grads untouched).
        Returns:
            ``{"loss", "recon", "kl"}`` as floats (batch means, nats; "kl" is the sampled
            KL̂), the posterior ``"mu"``/``"logvar"`` (N, L), the code ``"z"`` (N, L) and the
            prior's components ``"mu_p"``/``"logvar_p"`` (K, L). Gradients are ADDED into
            ``grads`` — call ``zero_grad()`` first.
        """
        x = self.check_input(x, self.input_dim, self.likelihood)     # (N, D)
        N, L = len(x), self.latent_dim
        xp = get_array_module(x)
        u, clip_cache = self.pseudo_inputs()                            # (K, D)
        h = self.encoder.forward(xp.concatenate([x, u]))                # (N + K, 2L), one pass
        mu, logvar = split_halves(h[:N], L)                             # q(z|x_n)    (N, L)
        mu_p, logvar_p = split_halves(h[N:], L)                         # components  (K, L)
        z, rep_cache = reparameterize_forward(mu, logvar, eps, self._rng(rng))
        out = self.decoder_output(z)                                    # (N, D)
        recon, drecon = self.lik.nll(out, x, self.logvar_x, check_data=False)
        kl, dkl = sampled_kl(z, mu, logvar, mu_p, logvar_p)             # log q − log p
        result = {"loss": float(recon + self.beta * kl), "recon": float(recon),
                  "kl": float(kl), "mu": mu, "logvar": logvar, "z": z,
                  "mu_p": mu_p, "logvar_p": logvar_p}
        if not compute_grads:
            return result
        b = self.beta
        dz = self.decoder.backward(drecon["out"]) + b * dkl["z"]       # steps 1–3
        dmu, dlogvar = reparameterize_backward(dz, rep_cache)           # step 4: z = μ + σε
        dh_data = join_halves(dmu + b * dkl["mu"], dlogvar + b * dkl["logvar"])     # (N, 2L)
        dh_pseudo = join_halves(b * dkl["mu_p"], b * dkl["logvar_p"])               # step 5
        du = self.encoder.backward(xp.concatenate([dh_data, dh_pseudo]))[N:]  # step 6 (K, D)
        self.pseudo_input_grad(du, clip_cache)                                      # step 7
        return result

