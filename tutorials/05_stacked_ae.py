"""05 — Stacked autoencoder: greedy layer-wise pretraining, fine-tuning, codes as features.

The idea: a deep autoencoder can be built one layer at a time. Train a shallow
autoencoder on the pixels (784 → 256 → 784), freeze it, train a second one on
its 256-d codes (256 → 64 → 256), then stack the two encoders and the two
decoders into one deep autoencoder (784 → 256 → 64 → 256 → 784) and fine-tune it
end to end. No label is used. The 64-d top code is then a compressed description
of each image — and we measure how much class information it kept by training a
softmax-regression classifier on it, against three baselines: the 784 raw
pixels, the codes of the same network with random (untrained) weights, and the
codes after pretraining alone.

Run:
    python tutorials/05_stacked_ae.py            # full run, Fashion-MNIST (or sprites)
    python tutorials/05_stacked_ae.py --quick    # smoke run
    options: --data sprites (classes are then the three shapes)

Time on the 2-core development machine (shared, OPENBLAS_NUM_THREADS=1):
quick 9–12 s; full 1–3 min depending on the load (60,000 images; 5 + 5 epochs of
pretraining, 5 of fine-tuning; 16 classifier fits).

What you should see:
  * each pretraining stage's loss falls; fine-tuning lowers the deep model's test
    reconstruction loss further (reconstructions.png, rows 2 and 3);
  * accuracy.png: trained codes beat random codes by 2.5–4 points at every number of
    labels; up to 1,000 labels they match the raw pixels (within a point) with 12×
    fewer dimensions; with 10,000 or more labels the pixels win by 1–2 points — a
    linear classifier on 784 pixels is already a strong baseline on this data.
"""
from __future__ import annotations

import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import numpy as np  # noqa: E402

from scratchvae.analysis.softmax_regression import fit_and_score  # noqa: E402
from scratchvae.models.stacked_ae import StackedAutoencoder  # noqa: E402
from scratchvae.plots import image_grid  # noqa: E402
from scratchvae.train import TrainConfig, Trainer, greedy_pretrain  # noqa: E402
from scratchvae.tutorial import Tutorial  # noqa: E402

tut = Tutorial(__doc__, name="05_stacked_ae")
SIZES = [784, 256, 64]

train, test = tut.image_data(n_train=None, n_quick=2000, n_test=None, n_test_quick=500)
x_train, x_test = train.flat().x, test.flat().x
y_train, y_test = train.y, test.y
n_classes = int(max(y_train.max(), y_test.max())) + 1
SIZES[0] = x_train.shape[1]
pre_cfg = TrainConfig(epochs=tut.pick(5, 1), batch_size=128, lr=1e-3, seed=tut.seed,
                      progress=not tut.quick)
fine_cfg = TrainConfig(epochs=tut.pick(5, 1), batch_size=128, lr=1e-3, seed=tut.seed,
                       progress=not tut.quick)

# ------------------------------------------------------------------ 1. greedy pretraining
model = StackedAutoencoder(SIZES, likelihood="bernoulli", activation="sigmoid", seed=tut.seed)
random_init = StackedAutoencoder(SIZES, activation="sigmoid", seed=tut.seed)   # the control
t0 = time.perf_counter()
tut.say(f"greedy pretraining of {'-'.join(map(str, SIZES))}: {model.n_stages} stages × "
        f"{pre_cfg.epochs} epochs")
histories = greedy_pretrain(model, x_train, pre_cfg)
pretrain_seconds = time.perf_counter() - t0
stage_losses = [{"stage": k, "first_epoch": h[0]["train_loss"], "last_epoch": h[-1]["train_loss"]}
                for k, h in enumerate(histories)]
for s in stage_losses:
    tut.say(f"stage {s['stage']}: train loss {s['first_epoch']:.2f} → {s['last_epoch']:.2f} "
            f"({'nats' if s['stage'] == 0 else 'squared error on the codes'})")

pretrained = StackedAutoencoder(**{k: v for k, v in model.config.items() if k != "model"})
pretrained.load_state_dict(model.state_dict())                 # a frozen copy, before fine-tuning
test_recon_pretrained = model.evaluate(x_test)["recon"]

# ------------------------------------------------------------------ 2. fine-tuning
t0 = time.perf_counter()
tut.say(f"fine-tuning the whole stack end to end: {fine_cfg.epochs} epochs")
Trainer(model, x_train, x_test, fine_cfg).fit()
finetune_seconds = time.perf_counter() - t0
test_recon_finetuned = model.evaluate(x_test)["recon"]
test_recon_random = random_init.evaluate(x_test)["recon"]
tut.say(f"test reconstruction (nats/image): random {test_recon_random:.1f}, pretrained "
        f"{test_recon_pretrained:.1f}, fine-tuned {test_recon_finetuned:.1f}")

# ------------------------------------------------------------------ 3. codes as features
features = {
    "raw pixels (784-d)": (x_train, x_test),
    "random-init codes (64-d)": (random_init.encode_batched(x_train),
                                 random_init.encode_batched(x_test)),
    "pretrained codes (64-d)": (pretrained.encode_batched(x_train),
                                pretrained.encode_batched(x_test)),
    "fine-tuned codes (64-d)": (model.encode_batched(x_train), model.encode_batched(x_test)),
}
label_counts = [n for n in tut.pick([100, 1000, 10_000, len(x_train)], [100, len(x_train)])
                if n <= len(x_train)]
# The first n training images are the labelled ones; every feature set sees the same ones
# and the same classifier settings (Adam, lr 1e-3, L2 1e-3, at least ~2000 steps; 150 quick).
accuracy = {name: {} for name in features}
t0 = time.perf_counter()
for n in label_counts:
    steps_per_epoch = -(-n // 256)
    epochs = max(tut.pick(10, 3), tut.pick(2000, 150) // steps_per_epoch)
    for name, (f_train, f_test) in features.items():
        res = fit_and_score(f_train[:n], y_train[:n], f_test, y_test, n_classes, l2=1e-3,
                            lr=1e-3, epochs=epochs, batch_size=256, seed=tut.seed)
        accuracy[name][n] = res["test_accuracy"]
    tut.say(f"{n:6d} labels: " + ", ".join(f"{k.split(' (')[0]} {v[n]:.3f}"
                                           for k, v in accuracy.items()))
classify_seconds = time.perf_counter() - t0

# ------------------------------------------------------------------ figures
fig, ax = plt.subplots(figsize=(6.2, 3.8))
for (name, acc), marker in zip(accuracy.items(), "osD^"):
    ax.plot(label_counts, [acc[n] for n in label_counts], marker=marker, label=name)
ax.set_xscale("log")
ax.set_xlabel("labelled training images")
ax.set_ylabel("test accuracy (softmax regression)")
ax.grid(alpha=0.3)
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(tut.path("accuracy.png"), dpi=110)
plt.close(fig)
tut.figure(tut.path("accuracy.png"))

n_show = 10
rows = [x_test[:n_show], pretrained.reconstruct(x_test[:n_show]),
        model.reconstruct(x_test[:n_show])]
shape = test.image_shape[1:]
fig, ax = plt.subplots(figsize=(n_show * 0.6, 2.3))
ax.imshow(image_grid(np.concatenate(rows).reshape(-1, *shape), nrow=n_show), cmap="gray",
          vmin=0, vmax=1, interpolation="nearest")
ax.set_title("rows: data / stacked, pretrained only / after fine-tuning", fontsize=9)
ax.set_axis_off()
fig.savefig(tut.path("reconstructions.png"), dpi=110, bbox_inches="tight")
plt.close(fig)
tut.figure(tut.path("reconstructions.png"))

n_all = label_counts[-1]
best_code = max(accuracy["pretrained codes (64-d)"][n_all],
                accuracy["fine-tuned codes (64-d)"][n_all])
tut.expect(f"fine-tuning lowers the test reconstruction loss: {test_recon_pretrained:.1f} → "
           f"{test_recon_finetuned:.1f} nats per image (full run: 225.9 → 216.8)")
tut.expect(f"trained 64-d codes vs random-weight codes: {best_code:.3f} vs "
           f"{accuracy['random-init codes (64-d)'][n_all]:.3f} test accuracy with {n_all} labels, "
           f"pixels {accuracy['raw pixels (784-d)'][n_all]:.3f} (full run on Fashion-MNIST: "
           f"0.824 vs 0.794, pixels 0.841; a quick run is too short to tell them apart)")
tut.finish({
    "sizes": SIZES, "pretrain_epochs_per_stage": pre_cfg.epochs, "finetune_epochs": fine_cfg.epochs,
    "stage_losses": stage_losses,
    "test_recon_nats": {"random_init": test_recon_random, "pretrained": test_recon_pretrained,
                        "fine_tuned": test_recon_finetuned},
    "test_accuracy": {name: {str(n): a for n, a in acc.items()} for name, acc in accuracy.items()},
    "seconds": {"pretrain": round(pretrain_seconds, 1), "finetune": round(finetune_seconds, 1),
                "classifiers": round(classify_seconds, 1)},
})
