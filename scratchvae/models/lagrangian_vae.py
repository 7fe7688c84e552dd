"""The Lagrangian VAE of Ko & Ko ("A Study on the Optimization Problem of
Variational AutoEncoder"): a VAE whose reconstruction and KL terms are weighted by a
learned multiplier α ≥ 0.

Notation: N batch, D data dimensions, L latent dimensions; recon and KL are summed
over dimensions and averaged over the batch, in nats (for "mse", the paper's
(1/n)‖Z − Z̃‖²_F of eq. 5).

The paper poses  min E[L(x, x̃)]  s.t.  KL ≤ δ  (eq. 3), writes its Lagrangian
(eq. 4), replaces the KL by the ELBO (eq. 6) and arrives at eq. 7:

    J(θ, α) = (1 + α) · recon + α · (KL − δ),      α ≥ 0              (eq. 7)
            = recon + α · (recon + KL − δ)

How the paper updates α (section 3, our translation): "the network parameters and
α were learned at the same time. To keep α from becoming negative, when α becomes
negative the gradient is reversed." So:

* **Direction: descent.** Eq. 7 is a *min* over everything, and α is trained with
  the network parameters by the same optimiser, i.e. α moves against ∂J/∂α. This is
  not the dual *ascent* of a textbook Lagrangian (which would maximise over α).
* **∂J/∂α = recon + KL − δ** (the second line above), which is positive whenever
  −ELBO > δ — always, in practice (δ = 0.1). Descent therefore drives α to 0, where
  J becomes the plain reconstruction error and the KL is no longer held down. This
  is the paper's own Table 1: α → 0.00018 ± 0.0002, reconstruction 0.009, KL 56,832.
* **Keeping α ≥ 0 is ambiguous.** "Reverse the gradient when α is negative" does
  not say whether the reversal applies to the step that crossed zero or to every
  step while α < 0, nor how it interacts with Adam's moments. We implement two rules:

    "project" (default)  α ← max(α, 0) after every optimiser step (``after_step``),
                         the standard projected-gradient reading; α then
                         sits at exactly 0 once it reaches it.
    "flip"               the literal reading: while α < 0, ``loss_and_grads`` writes
                         −∂J/∂α into ``grads["alpha"]``, so the optimiser pushes α
                         back up; with Adam's momentum α keeps crossing 0 and ends
                         at |α| ~ 1e-4 — the paper's magnitude (0.00018 ± 0.0002),
                         though in our runs mostly on the negative side
                         (docs/tutorials/10_lagrangian_vae.md).

Backward (w = 1 + α is the reconstruction weight, α the KL weight):

    dout            = w · ∂recon/∂out
    dz              = decoder.backward(dout)
    dμ, dlogvar     = reparameterize_backward(dz) + α · ∂KL/∂(μ, logvar)
    ∂J/∂α           = recon + KL − δ
"""
from __future__ import annotations

import numpy as np

from ..functional.checks import check_choice, check_real
from .vae import VAE

ALPHA_RULES = ("project", "flip")


class LagrangianVAE(VAE):
    """VAE trained on eq. 7 of Ko & Ko, with the multiplier ``params["alpha"]`` (1,).

    Args (besides those of :class:`VAE`, whose β is not used):
        delta: δ ≥ 0, the KL budget of the constraint KL ≤ δ (the paper uses 0.1).
        alpha_init: the initial α ≥ 0 (the paper starts at 1).
        alpha_rule: "project" or "flip", how α is kept non-negative (module docstring).
        likelihood: "mse" by default, the paper's squared error (eq. 5).

    ``loss_and_grads`` reports ``loss`` (= J), ``recon``, ``kl`` and the current
    ``alpha``; the Trainer calls :meth:`after_step` after each optimiser step.
    """

    name = "lagrangian-vae"
    terms = ("loss", "recon", "kl", "alpha")

    def __init__(self, input_dim=3, hidden=(32,), latent_dim=2, likelihood="mse",
                 learn_variance=False, logvar_x=0.0, activation="ptanh", delta=0.1,
                 alpha_init=1.0, alpha_rule="project", seed=0, dtype=np.float32):
        check_real(delta, "delta", 0, hint="delta is the KL budget of KL ≤ δ and must be ≥ 0 "
                                           "(the paper uses 0.1)")
        check_real(alpha_init, "alpha_init", 0, hint="alpha_init must be ≥ 0 (α is a multiplier "
                                                     "of an inequality constraint)")
        check_choice(alpha_rule, "alpha_rule", ALPHA_RULES)
        super().__init__(input_dim, hidden, latent_dim, likelihood, learn_variance, logvar_x,
                         1.0, activation, seed, dtype)
        self.config.pop("beta")                  # α weighs the KL; there is no β
        self.config.update(delta=float(delta), alpha_init=float(alpha_init), alpha_rule=alpha_rule)
        self.delta, self.alpha_rule = float(delta), alpha_rule
        self.add_param("alpha", np.full(1, alpha_init, dtype=dtype))

    @property
    def alpha(self) -> float:
        return float(self.params["alpha"][0])

    kl_weight = None                             # the KL weight is the learned α

    def loss_and_grads(self, x, eps=None, rng=None, compute_grads: bool = True) -> dict:
        """J = (1 + α)·recon + α·(KL − δ) on a batch, and its gradients (α's included).

        Args and the ADD-into-``grads`` contract as :meth:`VAE.loss_and_grads`.
        Returns ``{"loss", "recon", "kl", "alpha"}`` as floats plus ``"mu"``, ``"logvar"``.
        """
        x = self.check_input(x, self.input_dim, self.likelihood)
        alpha = self.alpha
        res = self.weighted_pass(x, None, 1.0 + alpha, alpha, eps, rng, compute_grads)
        recon, kl = float(res["recon"]), float(res["kl"])
        res.update(loss=(1.0 + alpha) * recon + alpha * (kl - self.delta), recon=recon, kl=kl,
                   alpha=alpha)
        if compute_grads:
            dalpha = recon + kl - self.delta                          # ∂J/∂α
            if self.alpha_rule == "flip" and alpha < 0:
                dalpha = -dalpha                                      # the paper's reversal
            self.grads["alpha"] += dalpha
        return res

    def after_step(self) -> None:
        """Projection α ← max(α, 0) (rule "project"; "flip" leaves α to its gradient)."""
        if self.alpha_rule == "project":
            a = self.params["alpha"]
            a[...] = self.xp().maximum(a, 0)
