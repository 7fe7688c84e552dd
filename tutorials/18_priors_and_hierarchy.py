"""18 — The prior is part of the model: N(0, I), the VampPrior, and a second latent level.

The one idea: a VAE's KL term pulls every posterior q(z|x) towards the prior p(z), and the
codes the decoder actually sees come from the *aggregate posterior*
q(z) = (1/N) Σ_n q(z|x_n), a mixture of N Gaussians. N(0, I) is a poor match for that
mixture — it puts mass where no image's code lives (samples drawn there decode to
nothing in particular), and every nat of KL(q(z) ‖ p(z)) is a nat the ELBO pays. Two ways
to close the gap, each a model of the library:

    VampPrior    p(z) = (1/K) Σ_k q(z|u_k): the prior *is* a mixture of posteriors, at K
                 learned pseudo-inputs u_k (models/vampprior_vae.py) — it can become the
                 aggregate posterior's shape
    hierarchy    z₂ on top, z₁ | z₂ below (models/hvae.py): p(z₁) = ∫ p(z₁|z₂) p(z₂) dz₂ is
                 a learned, non-Gaussian prior for z₁, and z₂ can hold what is global

We train the 2 × 2 table — {N(0, I), VampPrior} × {one level, two levels} — with the same
ReLU networks (784-300-300, latent 40 per level) and measure, for each:

    * the test NLL (IWAE, K importance samples) and −ELBO, on dynamically binarized data;
    * KL(q(z) ‖ p(z)) of the aggregate posterior against the prior, estimated with the
      test set's own posteriors as the mixture q(z) (one code z ~ q(z|x_n) per image):
      KL ≈ mean_n [ log q(z_n) − log p(z_n) ],  log q(z) = logsumexp_m log q(z|x_m) − log M;
    * active units per level.

Run:
    python tutorials/18_priors_and_hierarchy.py            # full: 60,000 images, 10 epochs each
    python tutorials/18_priors_and_hierarchy.py --quick    # smoke run: 2,000 images, 1 epoch

Time on the 2-core development machine (Intel Xeon, shared with a training run and the
test suite, load average 3.7–4.9; one thread): quick 5–16 s; full 1,940 s, of which
training took 15 s per epoch for the VAE, 68 for the VampPrior VAE, 22 for the HVAE and
74 for the HVAE with a VampPrior (the VampPrior models run their encoder on the 500
pseudo-inputs too, every step).

What you should see (Fashion-MNIST, full run, seed 0, the first 1,000 test images
binarized, K = 200; one run, so read differences under a nat with care):

    model              NLL      −ELBO    KL(q(z) ‖ p(z)) of the top level   active units
    VAE, N(0, I)      238.93   241.64    7.48                               10 / 40
    VAE, VampPrior    237.68   240.28    5.18                               40 / 40
    HVAE, N(0, I)     237.88   240.80    4.03 (z₂)                          z₁ 40, z₂ 8
    HVAE, VampPrior   237.50   240.22    2.21 (z₂)                          z₁ 40, z₂ 40

  * nll: each change helps — the VampPrior by 1.25 nats, the second level by 1.05 — and
    the two together are the best of the four (1.43 under the VAE). After 10 epochs the
    gains do not add up; the published models train for hundreds.
  * aggregate_kl: the learned priors sit much closer to the codes they must explain
    (7.48 → 5.18 with the VampPrior, 2.21 for the HVAE's z₂ under it).
  * active units: a learned prior lets every unit move with x at little KL cost (40 of
    40 active against 10 under N(0, I)); z₁'s μ moves with x in both HVAEs because its
    prior p(z₁|z₂) moves too, so "active" there does not mean "costs KL".
  * prior_vs_posterior.png: the codes of the test images (dots) and samples of each prior
    (crosses), projected on the same two principal axes: under N(0, I) both are round
    clouds (most of the 7.5 nats of mismatch lie in the other 38 directions); under the
    VampPrior codes and samples share one non-round, clustered shape.
  * pseudo_inputs.png: after 10 epochs the pseudo-inputs are noisy grey images with faint
    garment silhouettes (they start as uniform mid-grey plus 1 % noise).
  * hvae_levels.png: each row keeps one z₂ and draws z₁ ~ p(z₁|z₂): the garment (boot,
    T-shirt, trousers, sneaker, sandal) stays, small details change — z₂ holds what is
    global.
"""
from __future__ import annotations

import math

import numpy as np

from scratchvae.data import binarize_fixed
from scratchvae.distributions.vampprior import mixture_log_density_forward
from scratchvae.evaluation import evaluate_model
from scratchvae.models import HVAE, VAE, VampPriorVAE
from scratchvae.plots import plt, project_2d, save_image_grid, save_image_rows
from scratchvae.train import TrainConfig, Trainer
from scratchvae.tutorial import Tutorial

tut = Tutorial(__doc__, name="18_priors_and_hierarchy")
train, test = tut.image_data(n_train=60_000, n_quick=2_000, n_test=1_000, n_test_quick=200)
x, x_test = train.flat().x, binarize_fixed(test.flat().x, seed=0)     # (N, 784), binarized
EPOCHS, K_PSEUDO, K_IWAE = tut.pick(10, 1), tut.pick(500, 20), tut.pick(200, 5)
HIDDEN, LATENT = (300, 300), 40
seed = tut.seed
SHAPE = test.x.shape[1:]                                             # (1, 28, 28)

MODELS = {            # the 2 × 2 table, one set of networks (ReLU, no gates)
    "VAE, N(0, I)": lambda: VAE(784, HIDDEN, LATENT, seed=seed),
    "VAE, VampPrior": lambda: VampPriorVAE(784, HIDDEN, LATENT, gated=False,
                                           n_pseudo=K_PSEUDO, seed=seed),
    "HVAE, N(0, I)": lambda: HVAE(784, HIDDEN, (LATENT, LATENT), gated=False, seed=seed),
    "HVAE, VampPrior": lambda: HVAE(784, HIDDEN, (LATENT, LATENT), gated=False,
                                    prior="vampprior", n_pseudo=K_PSEUDO, seed=seed),
}


def top_codes(model, x, rng):
    """One code of the top level per image, z ~ q(z|x), and q's parameters: (z, μ, logvar),
    each (N, L) float64 — z itself for a VAE, z₂ for an HVAE."""
    mu, logvar = (a.astype(np.float64) for a in model.encode(x))
    if isinstance(model, HVAE):
        L1 = model.latent_dims[0]
        mu, logvar = mu[:, L1:], logvar[:, L1:]
    return mu + np.exp(0.5 * logvar) * rng.standard_normal(mu.shape), mu, logvar


def log_top_prior(model, z):
    """log p(z) of the top level, (N,) nats: the VampPrior's mixture or N(0, I)."""
    if getattr(model, "learned_prior", False):
        return model.log_prior(z)
    return -0.5 * (z * z + math.log(2 * math.pi)).sum(axis=1)


def aggregate_kl(model, x, rng):
    """KL(q(z) ‖ p(z)) of the top level, q(z) = (1/M) Σ_m q(z|x_m) over the M images of x:
    the mean over one z_n ~ q(z|x_n) per image of log q(z_n) − log p(z_n), nats."""
    z, mu, logvar = top_codes(model, x, rng)
    log_q = mixture_log_density_forward(z, mu, logvar)[0]        # logsumexp_m − log M
    return float(np.mean(log_q - log_top_prior(model, z)))


def top_prior_samples(model, n, rng):
    """n samples of the top level's prior, (n, L)."""
    if getattr(model, "learned_prior", False):
        return model.prior_sample(n, rng).astype(np.float64)
    return rng.standard_normal((n, model.prior_latent_dim if isinstance(model, HVAE)
                                else model.latent_dim))


# ------------------------------------------------------------------- 1. train all four
results, trained = {}, {}
for name, make in MODELS.items():
    model = make()
    cfg = TrainConfig(epochs=EPOCHS, batch_size=100, lr=5e-4, binarize=True, seed=seed,
                      kl_warmup_epochs=tut.pick(3, 0), progress=False)
    tut.say(f"training {name} for {EPOCHS} epoch(s)")
    history = Trainer(model, x, None, cfg).fit()
    report = evaluate_model(model, x_test, k=K_IWAE, rng=seed)
    rng = np.random.default_rng(seed + 1)
    results[name] = {
        "test_nll": report.nll, "test_neg_elbo": report.neg_elbo, "test_kl": report.kl,
        "aggregate_kl": aggregate_kl(model, x_test, rng),
        "active_units": report.active_per_level or {"z": [report.active_units, LATENT]},
        "seconds_per_epoch": float(np.mean([r["seconds"] for r in history])),
    }
    trained[name] = model
    r = results[name]
    tut.say(f"{name}: NLL {r['test_nll']:.2f}, −ELBO {r['test_neg_elbo']:.2f}, "
            f"KL(q(z) ‖ p(z)) {r['aggregate_kl']:.2f} nats, active {r['active_units']}")
tut.expect("the NLL falls from 'VAE, N(0, I)' (238.9 in the full run) to 'VAE, VampPrior' "
           "(237.7) and 'HVAE, N(0, I)' (237.9); 'HVAE, VampPrior' is the lowest (237.5); "
           "--quick is too short to order them")
tut.expect("aggregate_kl is smaller under the VampPrior than under N(0, I)")

# ------------------------------------------- 2. the prior against the aggregate posterior
fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
for ax, name in zip(axes, ["VAE, N(0, I)", "VAE, VampPrior"]):
    model, rng = trained[name], np.random.default_rng(seed + 2)
    z, _, _ = top_codes(model, x_test, rng)
    prior = top_prior_samples(model, len(z), rng)
    both, _ = project_2d(np.concatenate([z, prior]))          # the same two axes for both
    ax.scatter(*both[:len(z)].T, s=4, alpha=0.5, label="codes z ~ q(z|x), test images")
    ax.scatter(*both[len(z):].T, s=8, marker="x", alpha=0.5, label="samples of p(z)")
    ax.set_title(f"{name}: KL(q(z) ‖ p(z)) ≈ {results[name]['aggregate_kl']:.1f} nats",
                 fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
fig.tight_layout()
fig.savefig(tut.path("prior_vs_posterior.png"), dpi=110)
plt.close(fig)
tut.figure(tut.path("prior_vs_posterior.png"))
tut.expect("prior_vs_posterior.png: under N(0, I) codes and prior samples are both round "
           "clouds in this projection; under the VampPrior they share one clustered shape")

# ------------------------------------------------------------- 3. what the priors learned
vamp = trained["VAE, VampPrior"]
tut.figure(save_image_grid(vamp.pseudo_inputs()[0][:32], tut.path("pseudo_inputs.png"),
                           nrow=8, title="the first 32 pseudo-inputs u_k (VAE, VampPrior)"))
rng = np.random.default_rng(seed + 3)
tut.figure(save_image_rows([(name, m.sample(10, rng=rng).reshape(-1, *SHAPE))
                            for name, m in trained.items()],
                           tut.path("samples.png"), title="samples: z ~ p(z) → decoder mean"))
tut.expect("pseudo_inputs.png: after the full run, noisy grey images with faint garment "
           "silhouettes (they start as uniform mid-grey)")

# ---------------------------------------------------------- 4. what the second level adds
hvae = trained["HVAE, VampPrior"]
rng = np.random.default_rng(seed + 4)
L1 = hvae.latent_dims[0]
rows = []
for i in range(6):                                  # one z₂ per row, eight z₁ ~ p(z₁|z₂)
    z2 = np.repeat(hvae.prior_sample(1, rng), 8, axis=0).astype(np.float32)
    m1, s1 = hvae._z1_prior(z2)
    z1 = m1 + np.exp(0.5 * s1) * rng.standard_normal(m1.shape).astype(np.float32)
    rows.append((f"z₂ #{i + 1}", hvae.decode(np.concatenate([z1, z2], axis=1))
                 .reshape(-1, *SHAPE)))
tut.figure(save_image_rows(rows, tut.path("hvae_levels.png"),
                           title="HVAE, VampPrior: each row one z₂, z₁ ~ p(z₁|z₂) along it"))
tut.expect("hvae_levels.png: along a row the garment stays (boot, shirt, trousers, ...) "
           "and small details vary")

tut.finish({"epochs": EPOCHS, "n_pseudo": K_PSEUDO, "iwae_k": K_IWAE,
            "test_images": len(x_test), "models": results})
