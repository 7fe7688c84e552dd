"""The VAE-GAN (Larsen et al. 2016, "Autoencoding beyond pixels using a learned
similarity metric"): a VAE whose pixel reconstruction loss is replaced by a distance
in the hidden features of a GAN discriminator, trained together with that GAN.

Notation: N data batch, M prior batch, D data dimensions, L latent size, F the
discriminator's feature size; Dis_l(·) (·, F) its hidden features, Dis(·) (·, 1) its logit.

    encoder      x (N, D) → μ, logvar (N, L);  z = μ + exp(logvar/2) ⊙ ε       ε (N, L)
    decoder      [z; z_p] (N+M, L) → logits → x̃ = σ(·)[:N], x_p = σ(·)[N:]     z_p (M, L) ~ N(0, I)
    discrimin.   [x; x̃; x_p] (2N+M, D) → Dis logits, Dis_l features

The three losses, each summed over its dimensions, averaged over its batch, in nats:

    L_prior = KL(q(z|x) ‖ N(0, I))
    L_llike = −log N(Dis_l(x) | Dis_l(x̃), σ²I) = ½ Σ_f [(Dis_l(x) − Dis_l(x̃))²/σ² + log 2πσ²]
              (the paper: σ² = 1; ``feature_logvar`` = log σ² sets how sharply the features
              must match, i.e. the weight of L_llike against the KL)
    L_dis   = −log D(x) − log(1 − D(x̃)) − log(1 − D(x_p))    (the paper's L_GAN as a loss)
    L_gen   = −log D(x̃) − log D(x_p)   ("non_saturating", default), or −L_dis's fake terms
              ("minimax", the paper's literal −L_GAN; see distributions/gan_losses.py)

and the three objectives, each minimized over its own parameter group only
(Algorithm 1 of the paper):

    encoder        KL + L_llike
    decoder        γ · L_llike + L_gen
    discriminator  L_dis                 (L_llike never trains the discriminator, as in the
                                          paper: it would learn to pull Dis_l(x) and Dis_l(x̃)
                                          together, a metric that sees no difference)

So one forward serves three backward passes with different upstream gradients, and in
each a network that does not own the objective is only a path for the gradient — a
stop-gradient for its parameters (``_params_fixed``):

    1. θ_Dis:  Dis.backward(∂L_dis/∂logits)                          (from the forward's cache)
    2. θ_Dec:  dimg = Dis.backward(∂L_gen/∂logits, γ ∂L_llike/∂Dis_l(x̃))   [Dis fixed]
               Dec.backward(dimg ⊙ σ'(·))                             (from the forward's cache)
    3. θ_Enc:  dx̃ = Dis.backward(0, ∂L_llike/∂Dis_l(x̃));  dz = Dec.backward(dx̃ ⊙ σ')
               [Dis and Dec fixed]
               dμ, dlogvar = reparameterize_backward(dz) + ∂KL/∂(μ, logvar);  Enc.backward

Passes 2 and 3 re-run the forward of the fixed networks, because a layer keeps one
cache per forward. Everything random is injectable: ``eps`` (N, L) and ``z_prior``
(M, L), else drawn from ``rng`` or the model's own generator.

Training: the Trainer builds one optimizer per group of :meth:`VAEGAN.parameter_groups`
(``TrainConfig(betas=(0.5, 0.999), group_lr={"discriminator": ...})``), and all three
step after the one forward and three backward passes of a batch (simultaneous updates,
as in the paper's Algorithm 1).
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from ..distributions import gaussian_nll, kl_standard_normal, reparameterize_forward, \
    standard_normal
from ..errors import ShapeError
from ..functional.checks import check_array, check_choice, check_finite, check_real
from ..functional.activations import sigmoid_backward, sigmoid_forward
from ..distributions.gan_losses import (
    GENERATOR_LOSSES, discriminator_accuracy, discriminator_loss, generator_loss,
)
from ..rng import as_rng
from .discriminator import Discriminator, check_discriminator_args
from .vae import mlp_pair
from .vae_base import VAEBase, check_vae_args

GROUPS = ("encoder", "decoder", "discriminator")


@contextmanager
def _params_fixed(*modules):
    """Backward passes inside propagate through ``modules`` to their inputs but leave
    their ``grads`` as they were: the paper's "limit error signals to relevant networks"."""
    saved = [(g, g.copy()) for m in modules for _, _, g in m.parameters()]
    try:
        yield
    finally:
        for g, value in saved:
            g[...] = value


class VAEGAN(VAEBase):
    """MLP VAE-GAN. ``encode``, ``decode``, ``reconstruct``, ``sample`` are the VAE's
    (Bernoulli-mean images σ(decoder logits)); ``loss_and_grads`` is the VAE-GAN's.

    Args:
        input_dim: D (784 for flattened 28×28 images; data in [0, 1]).
        hidden: encoder hidden widths; the decoder mirrors them.
        latent_dim: L.
        dis_hidden: discriminator hidden widths.
        feature_layer: which discriminator hidden layer is Dis_l (1-based; −1 = last).
        gamma: γ, the weight of L_llike against L_gen in the decoder's objective.
        feature_logvar: log σ² of the Gaussian observation model on the features
            (0: identity covariance, as in the paper).
        generator_loss: "non_saturating" (default) or "minimax".
        activation: encoder/decoder hidden activation; dis_activation: the discriminator's.
        seed: seeds the initial weights and the model's own noise generator.
        dtype: float32 (default) or float64.
    """

    name = "vae-gan"
    terms = ("loss", "kl", "llike", "dis", "gen", "acc_real", "acc_recon", "acc_prior",
             "pixel_sse")

    def __init__(self, input_dim=784, hidden=(512,), latent_dim=32, dis_hidden=(512, 256),
                 feature_layer=-1, gamma=1.0, feature_logvar=0.0,
                 generator_loss="non_saturating", activation="relu", dis_activation="leaky_relu",
                 seed=0, dtype=np.float32):
        check_choice(generator_loss, "generator_loss", GENERATOR_LOSSES)
        check_real(gamma, "gamma", 0, low_open=True,
                   hint="gamma must be positive: the weight of L_llike in the decoder's objective")
        check_real(feature_logvar, "feature_logvar", hint="log σ² of the feature metric, e.g. 0.0")
        check_vae_args(input_dim, latent_dim, "bernoulli", False, 0.0, 1.0, seed, dtype,
                       hidden=hidden, activation=activation)
        check_discriminator_args(dis_hidden, feature_layer, dis_activation, "dis_hidden")
        config = dict(
            input_dim=int(input_dim), hidden=[int(h) for h in hidden], latent_dim=int(latent_dim),
            dis_hidden=[int(h) for h in dis_hidden], feature_layer=int(feature_layer),
            gamma=float(gamma), feature_logvar=float(feature_logvar),
            generator_loss=generator_loss, activation=activation, dis_activation=dis_activation,
            seed=int(seed))
        init_rng = as_rng(seed)           # encoder, decoder, then discriminator weights
        encoder, decoder = mlp_pair(input_dim, hidden, latent_dim, activation, init_rng, dtype)
        # Bernoulli: the decoder emits logits and the image is σ(logits) ∈ (0, 1), like the data
        super().__init__(config, encoder, decoder, input_dim=input_dim, latent_dim=latent_dim,
                         likelihood="bernoulli", seed=seed, dtype=dtype)
        self.gamma, self.generator_loss = float(gamma), generator_loss
        self.feature_logvar = float(feature_logvar)
        self.discriminator = Discriminator(input_dim, dis_hidden, feature_layer, dis_activation,
                                           seed=init_rng, dtype=dtype)

    kl_weight = None                    # the encoder's objective is KL + L_llike, unweighted
    optimizer_defaults = {"betas": (0.5, 0.999)}   # less momentum against a moving opponent

    def parameter_groups(self) -> dict[str, list]:
        """``{"encoder"|"decoder"|"discriminator": [(name, param, grad), ...]}`` — one
        optimizer each; names are the model's dotted names."""
        return {g: [t for t in self.parameters() if t[0].startswith(g + ".")] for g in GROUPS}

    def draw_prior(self, n: int, rng=None):
        """z_p ~ N(0, I), (n, L): the GAN's noise, from ``rng`` or the model's generator."""
        return standard_normal((int(n), self.latent_dim), self._rng(rng), self.dtype, self.xp())

    def _check_prior(self, z_prior):
        check_array(z_prior, "z_prior", ndim=2, layout=f"(M, {self.latent_dim})", dtypes=None)
        if z_prior.shape[1] != self.latent_dim:
            raise ShapeError(f"z_prior must have shape (M, {self.latent_dim}), "
                             f"got {tuple(z_prior.shape)}")
        return check_finite(z_prior, "z_prior").astype(self.dtype, copy=False)

    def loss_and_grads(self, x, eps=None, z_prior=None, rng=None,
                       compute_grads: bool = True) -> dict:
        """One forward and (unless ``compute_grads=False``) the three backward passes.

        Args:
            x: (N, D) data in [0, 1].
            eps: (N, L) frozen reparameterization noise; z_prior: (M, L) frozen prior
                samples (M = N when drawn). When not given they are drawn, ε first, from
                ``rng`` (a Generator or an int seed) or else the model's own generator.
        Returns:
            floats ``loss`` (= KL + L_llike, the encoder's objective: the VAE loss in the
            learned metric), ``kl``, ``llike``, ``dis`` (L_dis), ``gen`` (L_gen),
            ``enc_objective``, ``dec_objective`` (γ·llike + gen), ``dis_objective``,
            the discriminator's accuracies ``acc_real``/``acc_recon``/``acc_prior``, and
            ``pixel_sse`` = mean_n Σ_d (x̃ − x)² (a diagnostic: no objective uses it).
            Each group's ``grads`` receive (are ADDED) the gradient of its own objective.
        """
        x = self.check_input(x, self.input_dim, "bernoulli")         # (N, D) in [0, 1]
        xp, n = self.xp(), len(x)
        rng = self._rng(rng)
        mu, logvar = self.posterior(x)                                       # (N, L) each
        if eps is not None:
            eps = check_array(eps, "eps", ndim=2, layout=f"(N, {self.latent_dim})",
                              dtypes=None).astype(self.dtype, copy=False)   # shape, NaN: below
        z, rep_cache = reparameterize_forward(mu, logvar, eps, rng)          # (N, L)
        z_p = self.draw_prior(n, rng) if z_prior is None else self._check_prior(z_prior)   # (M, L)
        imgs, sig_cache = sigmoid_forward(self.decoder.forward(
            xp.concatenate([z, z_p])))                                       # (N+M, D)
        x_rec = imgs[:n]                              # x̃ (N, D); imgs[n:] are the prior samples x_p
        logits, feats = self.discriminator.forward(
            xp.concatenate([x, imgs]))                                   # (2N+M, 1), (2N+M, F)
        l_real, l_rec, l_pri = logits[:n], logits[n:2 * n], logits[2 * n:]
        f_real, f_rec = feats[:n], feats[n:2 * n]                            # (N, F) each

        kl, dkl = kl_standard_normal(mu, logvar)
        llike, dllike = gaussian_nll(f_rec, f_real, self.feature_logvar,   # target Dis_l(x)
                                     check_data=False)          # features of checked data
        dfeat_rec = dllike["mean"]                                           # (N, F)
        dis, ddis = discriminator_loss(l_real, l_rec, l_pri)
        dl_real, (dl_rec_d, dl_pri_d) = ddis["logits_real"], ddis["logits_fake"]
        gen, dgen = generator_loss(l_rec, l_pri, kind=self.generator_loss)
        dl_rec_g, dl_pri_g = dgen["logits_fake"]
        kl, llike = float(kl), float(llike)
        diff = x_rec - x
        result = {
            "loss": kl + llike, "kl": kl, "llike": llike, "dis": dis, "gen": gen,
            "enc_objective": kl + llike, "dec_objective": self.gamma * llike + gen,
            "dis_objective": dis,
            "acc_real": discriminator_accuracy(l_real, True),
            "acc_recon": discriminator_accuracy(l_rec, False),
            "acc_prior": discriminator_accuracy(l_pri, False),
            "pixel_sse": float((diff * diff).sum() / n), "mu": mu, "logvar": logvar,
        }
        if not compute_grads:
            return result

        # 1. discriminator: ∂L_dis/∂θ_Dis (no feature gradient: L_llike does not train it)
        self.discriminator.backward(xp.concatenate([dl_real, dl_rec_d, dl_pri_d]))

        # 2. decoder: ∂(γ L_llike + L_gen)/∂θ_Dec, through a fixed discriminator
        dfeat_dec = xp.concatenate([self.gamma * dfeat_rec, xp.zeros_like(feats[2 * n:])])
        with _params_fixed(self.discriminator):
            self.discriminator.forward(imgs)                                 # a cache for this pass
            dimgs = self.discriminator.backward(xp.concatenate([dl_rec_g, dl_pri_g]), dfeat_dec)
        self.decoder.backward(sigmoid_backward(dimgs, sig_cache))           # dimg ⊙ σ(1 − σ)

        # 3. encoder: ∂(KL + L_llike)/∂θ_Enc, through a fixed decoder and discriminator
        with _params_fixed(self.discriminator, self.decoder):
            self.discriminator.forward(x_rec)
            dx_rec = self.discriminator.backward(None, dfeat_rec)           # L_llike's path only
            self.decoder.forward(z)
            dz = self.decoder.backward(sigmoid_backward(dx_rec, x_rec))     # (N, L)
        self.encoder_backward(dz, rep_cache, dkl)                         # z = μ + σε, plus ∂KL
        return result
