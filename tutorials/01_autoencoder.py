"""01 — The autoencoder: squeeze each image through a bottleneck of L numbers and back.

The one idea: an autoencoder is trained to copy its input, x → code (L numbers) → x̂,
and the only thing that makes this hard — and useful — is the bottleneck. With L much
smaller than the 784 pixels, the encoder must keep what matters most about an image
and the decoder must redraw the rest from it. The smaller L, the more is lost.

We train the same MLP autoencoder, 784-256-L-256-784 with ReLU and a Bernoulli
(cross-entropy) reconstruction loss, for code sizes L = 2 … 64, and look at
  * the reconstructions of the same test images for every L,
  * the test reconstruction error against L (nats, and squared error per image),
  * the 2-D codes of the L = 2 model, coloured by class, and what its decoder draws
    across that code plane.

Run:
    python tutorials/01_autoencoder.py            # full: 60,000 images, 6 code sizes × 5 epochs
    python tutorials/01_autoencoder.py --quick    # smoke run: 1,000 images, L = 2, 16, 2 epochs
    python tutorials/01_autoencoder.py --data sprites   # the built-in data, no files needed

Time on the 2-core development machine (AMD EPYC, shared; OPENBLAS_NUM_THREADS=1
NUMBA_NUM_THREADS=1): quick 3 s of CPU (16 s wall with the machine 5× oversubscribed);
full 4.7 min on Fashion-MNIST while shared (load average 3–10), 20–70 s per code size.

What you should see:
  * the error falls steadily as L grows, with diminishing returns (Fashion-MNIST, test:
    259 nats and a squared error of 23.4 per image at L = 2; 222 nats, 10.1 at L = 16;
    217 nats, 8.6 at L = 64);
  * L = 2 reconstructions are blurry prototypes of the right kind of garment; by L = 32
    stripes, collars and logos start to come through;
  * the 2-D codes group by class although the model never saw a label — and between
    the groups the decoder draws blends and faint, broken shapes (code_plane.png),
    because nothing asks an autoencoder for a well-behaved code space (the VAE of
    tutorial 06 does).
"""
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
import numpy as np  # noqa: E402

from scratchvae.analysis import mean_squared_error  # noqa: E402
from scratchvae.models import Autoencoder  # noqa: E402
from scratchvae.plots import save_image_grid, save_image_rows  # noqa: E402
from scratchvae.train import TrainConfig, Trainer  # noqa: E402
from scratchvae.tutorial import Tutorial  # noqa: E402

tut = Tutorial(__doc__, name="01_autoencoder")
train, test = tut.image_data(n_train=None, n_quick=1000, n_test=None, n_test_quick=500)
x, x_test = train.flat().x, test.flat().x                      # (N, 784), (M, 784) in [0, 1]
classes = getattr(test, "classes", None)

CODE_SIZES = tut.pick([2, 4, 8, 16, 32, 64], [2, 16])
EPOCHS = tut.pick(5, 2)
HIDDEN = (256,)
SHOW = 10                                                      # test images in the figures


# ---------------------------------------------------------------- train one AE per L
models, rows, table = {}, [x_test[:SHOW]], []
for latent in CODE_SIZES:
    t0 = time.perf_counter()
    model = Autoencoder(x.shape[1], HIDDEN, latent, likelihood="bernoulli", seed=tut.seed)
    config = TrainConfig(epochs=EPOCHS, batch_size=128, lr=1e-3, seed=tut.seed, progress=False)
    history = Trainer(model, x, x_test, config).fit()
    x_hat = model.reconstruct(x_test)                          # (M, 784) Bernoulli means
    row = {"code_size": latent, "test_bce_nats": history[-1]["val_loss"],
           "train_bce_nats": history[-1]["train_loss"],
           "test_squared_error": mean_squared_error(x_test, x_hat),
           "seconds": round(time.perf_counter() - t0, 1)}
    table.append(row)
    models[latent] = model
    rows.append(x_hat[:SHOW])
    tut.say(f"L = {latent:3d}: test BCE {row['test_bce_nats']:7.2f} nats, squared error "
            f"{row['test_squared_error']:6.2f} per image ({row['seconds']:.0f} s)")

# ------------------------------------------------------------------------- figures
labels = ["data"] + [f"L = {k}" for k in CODE_SIZES]
tut.figure(save_image_rows([(label, r.reshape(-1, 28, 28)) for label, r in zip(labels, rows)],
                           tut.path("reconstructions.png"),
                           "test images (top) and their reconstructions for each code size L"))

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
ax1.plot(CODE_SIZES, [r["test_bce_nats"] for r in table], "o-")
ax1.set_ylabel("test cross-entropy (nats / image)")
ax2.plot(CODE_SIZES, [r["test_squared_error"] for r in table], "o-", color="tab:orange")
ax2.set_ylabel("test squared error (per image)")
for ax in (ax1, ax2):
    ax.set_xscale("log", base=2)
    ax.set_xticks(CODE_SIZES, [str(k) for k in CODE_SIZES])
    ax.set_xlabel("code size L")
    ax.grid(alpha=0.3)
fig.suptitle(f"reconstruction error vs bottleneck size ({EPOCHS} epochs each)", fontsize=10)
fig.tight_layout()
fig.savefig(tut.path("error_vs_code_size.png"), dpi=100)
plt.close(fig)
tut.figure(tut.path("error_vs_code_size.png"))

# the L = 2 model: its codes, and what its decoder draws across the code plane
ae2 = models[2]
codes = ae2.encode(x_test)                                     # (M, 2)
fig, ax = plt.subplots(figsize=(5.6, 4.6))
for c in np.unique(test.y):
    pts = codes[test.y == c]
    ax.scatter(pts[:, 0], pts[:, 1], s=3, alpha=0.5,
               label=classes[c] if classes is not None else str(c))
ax.set_xlabel("code 1")
ax.set_ylabel("code 2")
ax.set_title("2-D codes of test images (L = 2), coloured by class")
ax.legend(markerscale=4, fontsize=7, loc="best")
fig.savefig(tut.path("codes_2d.png"), dpi=100, bbox_inches="tight")
plt.close(fig)
tut.figure(tut.path("codes_2d.png"))

GRID = 10
lo, hi = np.percentile(codes, 1, axis=0), np.percentile(codes, 99, axis=0)
u, v = np.meshgrid(np.linspace(lo[0], hi[0], GRID), np.linspace(hi[1], lo[1], GRID))
plane = np.stack([u.ravel(), v.ravel()], axis=1).astype(np.float32)   # (GRID², 2), row = code 2
tut.figure(save_image_grid(ae2.decode(plane), tut.path("code_plane.png"), nrow=GRID,
                           title="decoder of the L = 2 model over its code plane"))

# -------------------------------------------------------------------------- results
errors = [r["test_squared_error"] for r in table]
tut.expect("the test error falls as the code size L grows, steeply up to L ≈ 16 and slowly "
           "after (error_vs_code_size.png)")
tut.expect("L = 2 reconstructions are blurry prototypes; larger L keeps more detail "
           "(reconstructions.png)")
tut.expect("the L = 2 codes group by class without ever seeing a label (codes_2d.png)")
tut.finish({"code_sizes": CODE_SIZES, "epochs": EPOCHS, "hidden": list(HIDDEN),
            "table": table,
            "error_falls_with_code_size": bool(all(b < a for a, b in zip(errors, errors[1:])))})
