"""04 — Sparse autoencoder: a wide code that is mostly silent.

The idea: a code does not have to be narrow to be useful. Give the autoencoder
many code units (196 sigmoid units for 784 pixels, no bottleneck at all) and add
a penalty that keeps each unit quiet on average:

    loss = recon + β · Σ_j KL(ρ || ρ̂_j),    ρ̂_j = mean activation of unit j over the batch

With ρ = 0.05 every unit is asked to fire on about 5 % of the images. The units
then stop sharing the work evenly and specialise: each one responds to one kind
of image — a trouser outline, a shirt, a shoe sole — which you can see by
drawing the weights that feed it (its "feature") as an image. The same network
trained with β = 0 is the control.

Run:
    python tutorials/04_sparse_ae.py            # full run, Fashion-MNIST (or sprites)
    python tutorials/04_sparse_ae.py --quick    # smoke run
    options: --penalty kl|l1, --beta B, --rho R, --data sprites

Time on the 2-core development machine (shared, OPENBLAS_NUM_THREADS=1):
quick 6–12 s; full 1–3 min depending on the load (60,000 images, 2 models ×
10 epochs).

What you should see:
  * mean_activation.png — the control's units are on about half the time; the
    sparse model's mean activations ρ̂_j pile up just above the target ρ = 0.05,
    and an image turns on (h > 0.5) about 7 of the 196 units instead of ~100;
  * features.png — the control's features are noisy, high-frequency mixtures;
    the sparse model's are recognisable garment silhouettes (trouser legs, shirt
    and dress outlines, shoe soles);
  * the sparse code costs about 5 % of reconstruction (221 vs 211 nats per image).
"""
from __future__ import annotations

import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import numpy as np  # noqa: E402

from scratchvae.functional.sparsity import bernoulli_kl  # noqa: E402
from scratchvae.models.sparse_ae import SparseAutoencoder  # noqa: E402
from scratchvae.plots import image_grid, save_reconstructions  # noqa: E402
from scratchvae.train import TrainConfig, Trainer  # noqa: E402
from scratchvae.tutorial import Tutorial  # noqa: E402


def options(parser):
    parser.add_argument("--penalty", choices=["kl", "l1"], default="kl",
                        help="kl: Σ KL(ρ||ρ̂) on sigmoid codes (default); l1: mean |h|")
    parser.add_argument("--beta", type=float, default=None,
                        help="penalty weight (default 3 for kl, 0.3 for l1)")
    parser.add_argument("--rho", type=float, default=0.05, help="target mean activation (kl)")


tut = Tutorial(__doc__, name="04_sparse_ae", extra_args=options)
args = tut.args
beta = args.beta if args.beta is not None else (3.0 if args.penalty == "kl" else 0.3)
CODE = 196                                       # 14 × 14 code units: wider than needed

train, test = tut.image_data(n_train=None, n_quick=2000, n_test=None, n_test_quick=500)
x_train, x_test = train.flat().x, test.flat().x
cfg = TrainConfig(epochs=tut.pick(10, 2), batch_size=128, lr=1e-3, seed=tut.seed,
                  progress=not tut.quick)


def build(b):
    # the same architecture and initial weights for both runs: only β differs
    return SparseAutoencoder(x_train.shape[1], (), CODE, penalty=args.penalty, rho=args.rho,
                             beta=b, code_activation="sigmoid", seed=tut.seed)


def measure(model):
    """Reconstruction and code statistics on the test set."""
    codes = np.concatenate([model.encode(x_test[i:i + 1000]) for i in range(0, len(x_test), 1000)])
    rho_hat = codes.astype(np.float64).mean(axis=0)                      # (L,)
    ev = model.evaluate(x_test)
    return codes, rho_hat, {
        "test_recon_nats": ev["recon"],
        "mean_activation": float(rho_hat.mean()),
        "median_unit_mean_activation": float(np.median(rho_hat)),
        "units_within_2x_of_rho": float(((rho_hat > args.rho / 2)
                                         & (rho_hat < 2 * args.rho)).mean()),
        "kl_to_rho_nats": float(bernoulli_kl(args.rho, np.clip(rho_hat, 1e-9, 1 - 1e-9)).sum()),
        "active_units_per_image": float((codes > 0.5).sum(axis=1).mean()),
    }


runs = {}
for label, b in (("control (β = 0)", 0.0), (f"sparse (β = {beta:g})", beta)):
    tut.say(f"training the {label} model: {x_train.shape[1]}-{CODE}-{x_train.shape[1]}, "
            f"{args.penalty} penalty, ρ = {args.rho}, {cfg.epochs} epochs")
    model = build(b)
    t0 = time.perf_counter()
    Trainer(model, x_train, config=cfg).fit()
    codes, rho_hat, stats = measure(model)
    stats["train_seconds"] = round(time.perf_counter() - t0, 1)
    runs[label] = (model, codes, rho_hat, stats)
    tut.say(", ".join(f"{k} {v:.4g}" for k, v in stats.items()))

(dense_label, (dense, _, dense_rho, dense_stats)), (sparse_label, (sparse, _, sparse_rho,
                                                                  sparse_stats)) = runs.items()

# ------------------------------------------------------------------ figures
fig, ax = plt.subplots(figsize=(6, 3.6))
bins = np.linspace(0, max(dense_rho.max(), sparse_rho.max()) * 1.02, 50)
ax.hist(dense_rho, bins=bins, alpha=0.6, label=dense_label)
ax.hist(sparse_rho, bins=bins, alpha=0.6, label=sparse_label)
ax.axvline(args.rho, color="k", ls="--", lw=1, label=f"target ρ = {args.rho}")
ax.set_xlabel("mean activation ρ̂_j of a code unit (test set)")
ax.set_ylabel("number of units")
ax.legend()
fig.tight_layout()
fig.savefig(tut.path("mean_activation.png"), dpi=110)
plt.close(fig)
tut.figure(tut.path("mean_activation.png"))


def feature_panel(ax, model, title, n=64):
    """Each unit's incoming weights, min-max scaled on its own, as a 28 × 28 image."""
    w = model.features()[:n]                                             # (n, D)
    lo, hi = w.min(axis=1, keepdims=True), w.max(axis=1, keepdims=True)
    w = (w - lo) / np.maximum(hi - lo, 1e-12)
    ax.imshow(image_grid(w.reshape(n, *test.image_shape[1:]), nrow=8), cmap="gray",
              interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.set_axis_off()


fig, axes = plt.subplots(1, 2, figsize=(9, 4.8))
feature_panel(axes[0], dense, f"features, {dense_label}")
feature_panel(axes[1], sparse, f"features, {sparse_label}")
fig.tight_layout()
fig.savefig(tut.path("features.png"), dpi=80)
plt.close(fig)
tut.figure(tut.path("features.png"))

tut.figure(save_reconstructions(x_test[:10], sparse.reconstruct(x_test[:10]),
                                tut.path("reconstructions.png"), test.image_shape[1:], n=10))

if args.penalty == "kl":
    tut.expect(f"the sparse model's mean activation is near ρ = {args.rho} "
               f"(here {sparse_stats['mean_activation']:.3f}; control "
               f"{dense_stats['mean_activation']:.3f}; full run 0.067 vs 0.487)")
else:
    tut.expect(f"the L1 penalty has no target ρ; it lowers the mean activation "
               f"(here {sparse_stats['mean_activation']:.3f}; control "
               f"{dense_stats['mean_activation']:.3f})")
tut.expect(f"units on (h > 0.5) per image: sparse {sparse_stats['active_units_per_image']:.1f} "
           f"of {CODE}, control {dense_stats['active_units_per_image']:.1f} (KL full run on Fashion-MNIST: 7.0 vs "
           f"95.9; after a quick run the sparse units are all weakly on, none above 0.5)")
tut.expect("features.png: the sparse model's features are recognisable templates (on Fashion-MNIST "
           "trouser, shirt and shoe silhouettes); the control's are noisy high-frequency mixtures")
tut.expect(f"test reconstruction: sparse {sparse_stats['test_recon_nats']:.1f} vs control "
           f"{dense_stats['test_recon_nats']:.1f} nats per image (KL full run on Fashion-MNIST: "
           f"221.1 vs 211.1; the penalty costs about 5 %)")
tut.finish({"penalty": args.penalty, "rho": args.rho, "beta": beta, "code_units": CODE,
            "epochs": cfg.epochs, "control": dense_stats, "sparse": sparse_stats})
