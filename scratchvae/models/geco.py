"""GECO, the "generalized ELBO with constrained optimization" of Rezende & Viola (2018),
"Taming VAEs": minimise the KL subject to a reconstruction constraint.

Notation: N batch, D data dimensions, L latent dimensions; recon and KL are summed
over dimensions and averaged over the batch, in nats (for "mse", the sum of squared
errors per example, as in tutorial 10).

    min_θ KL   s.t.   C(x) = recon − κ ≤ 0                      κ: the tolerance

is turned into the Lagrangian

    J(θ; λ) = KL + λ · C = KL + λ · (recon − κ),        λ > 0

(the paper writes C = ‖x − x̂‖² − κ²; our κ is the tolerance on ``recon`` itself,
i.e. the paper's κ² when recon is the squared error). θ descends ∂J/∂θ with λ held
constant; λ is *not* a parameter and gets no gradient. After each optimiser step
(:meth:`after_step`, called by the Trainer) it is updated from a moving average of
the constraint measured on the batch that step used:

    C_ma ← C                                      on the first update
    C_ma ← ρ · C_ma + (1 − ρ) · C                 afterwards          (ρ = ``ma_decay``)
    λ    ← λ · exp(ν · C_ma)                      (ν = ``nu``, the multiplier's step size)

so λ grows while the constraint is violated (C_ma > 0) and shrinks once it holds.
The multiplicative form keeps λ > 0 without a projection. (Rezende & Viola fold the
moving average into the constraint's value with a stop-gradient; the θ-gradient,
λ · ∂C/∂θ, is the same as here.)

State: λ, C_ma and the number of updates are ``buffers`` ("lambda", "c_ma",
"updates"), so checkpoints save them and a resumed run continues exactly.
Evaluation (``compute_grads=False``) reads λ but never changes any state.

Backward (λ a constant):

    dout          = λ · ∂recon/∂out
    dμ, dlogvar   = reparameterize_backward(decoder.backward(dout)) + ∂KL/∂(μ, logvar)
"""
from __future__ import annotations

import math

import numpy as np

from ..functional.checks import check_real
from .vae import VAE


class GECOVAE(VAE):
    """VAE trained with GECO's reconstruction constraint and multiplicative λ update.

    Args (besides those of :class:`VAE`, whose β is not used):
        kappa: κ > 0, the tolerance: the constraint is recon ≤ κ (nats; for "mse",
            the summed squared error per example).
        nu: ν > 0, the step size of log λ per unit of C_ma.
        ma_decay: ρ in [0, 1), the decay of the constraint's moving average.
        lambda_init: the initial λ > 0.
        likelihood: "mse" by default (as tutorial 10).

    ``loss_and_grads`` reports ``loss`` (= J at the current λ), ``recon``, ``kl``,
    ``constraint`` (= recon − κ on the batch) and ``lambda``.
    """

    name = "geco-vae"
    terms = ("loss", "recon", "kl", "constraint", "lambda")
    step_statistics = ("_pending",)        # C of the batch: averaged over MPI ranks

    def __init__(self, input_dim=3, hidden=(32,), latent_dim=2, likelihood="mse",
                 learn_variance=False, logvar_x=0.0, activation="ptanh", kappa=0.05, nu=1e-3,
                 ma_decay=0.99, lambda_init=1.0, seed=0, dtype=np.float32):
        for name, value in (("kappa", kappa), ("nu", nu), ("lambda_init", lambda_init)):
            check_real(value, name, 0, low_open=True, hint=f"{name} must be a finite number > 0")
        check_real(ma_decay, "ma_decay", 0, 1, high_open=True,
                   hint="ma_decay is the moving average's decay ρ and must be in [0, 1)")
        super().__init__(input_dim, hidden, latent_dim, likelihood, learn_variance, logvar_x,
                         1.0, activation, seed, dtype)
        self.config.pop("beta")                  # λ weighs the reconstruction; there is no β
        self.config.update(kappa=float(kappa), nu=float(nu), ma_decay=float(ma_decay),
                           lambda_init=float(lambda_init))
        self.kappa, self.nu, self.ma_decay = float(kappa), float(nu), float(ma_decay)
        self.buffers["lambda"] = np.full(1, lambda_init, dtype=dtype)
        self.buffers["c_ma"] = np.zeros(1, dtype=dtype)
        self.buffers["updates"] = np.zeros(1, dtype=dtype)
        self._pending = None          # C of the last training batch, consumed by after_step

    kl_weight = None                             # the objective's weight is λ, on the recon

    @property
    def lam(self) -> float:
        """The current multiplier λ."""
        return float(self.buffers["lambda"][0])

    def loss_and_grads(self, x, eps=None, rng=None, compute_grads: bool = True) -> dict:
        """J = KL + λ·(recon − κ) on a batch, and its θ-gradients (λ held constant).

        Args and the ADD-into-``grads`` contract as :meth:`VAE.loss_and_grads`.
        With ``compute_grads`` the batch constraint is kept for the next
        :meth:`after_step`; without, nothing about the model changes.
        Returns ``{"loss", "recon", "kl", "constraint", "lambda"}`` as floats plus
        ``"mu"``, ``"logvar"``.
        """
        x = self.check_input(x, self.input_dim, self.likelihood)
        lam = self.lam
        res = self.weighted_pass(x, None, lam, 1.0, eps, rng, compute_grads)
        res.update(recon=float(res["recon"]), kl=float(res["kl"]))
        constraint = res["recon"] - self.kappa                        # C = recon − κ
        res.update(loss=res["kl"] + lam * constraint, constraint=constraint)
        res["lambda"] = lam
        if compute_grads:
            self._pending = constraint
        return res

    def after_step(self) -> None:
        """Update C_ma and λ from the constraint of the batch the last step used."""
        if self._pending is None:
            raise RuntimeError("GECOVAE.after_step() needs a constraint value: call "
                               "loss_and_grads(x) (with compute_grads=True) before each step")
        c, self._pending = self._pending, None
        b = self.buffers
        if b["updates"][0] == 0:
            c_ma = c                                                  # C_ma ← C (first update)
        else:
            c_ma = self.ma_decay * float(b["c_ma"][0]) + (1 - self.ma_decay) * c
        b["c_ma"][...] = c_ma
        b["lambda"][...] = float(b["lambda"][0]) * math.exp(self.nu * c_ma)   # λ ← λ·exp(ν·C_ma)
        b["updates"][...] += 1
