"""02 — PCA vs autoencoders: a linear autoencoder is PCA; a nonlinear one can bend.

The one idea: PCA keeps the K-dimensional flat subspace that loses the least squared
error (Eckart–Young). An autoencoder whose encoder and decoder are single linear maps,
trained on the same squared error, can do no better — and with enough training it does
exactly as well, because it learns to span the same subspace (in some basis of its own).
Put nonlinearities in, and the "subspace" can curve: the same code size then loses less.

Part 1, images: PCA, a linear AE (784-K-784) and a nonlinear AE (784-256-K-256-784,
ReLU), all measured by the squared error per image, for K = 2, 8, 32; and the 2-D codes
of the three side by side.
Part 2, the 3-D cosine surface of Ko & Ko (a curved 2-D sheet): with K = 2 PCA must
flatten it; the nonlinear AE (3-32-2-32-3, parametric tanh, as in the paper) follows it.

Run:
    python tutorials/02_pca_vs_ae.py            # full
    python tutorials/02_pca_vs_ae.py --quick    # smoke run on a data subset
    python tutorials/02_pca_vs_ae.py --data sprites

Time on the 2-core development machine (AMD EPYC, shared; OPENBLAS_NUM_THREADS=1
NUMBA_NUM_THREADS=1): quick 3 s of CPU (18 s wall with the machine 5× oversubscribed);
full 130 s on Fashion-MNIST while shared (load average 4–6; 65 s of CPU), of which the
SVD of the 60,000 × 784 training images takes 22 s.

What you should see (Fashion-MNIST, squared error per test image):
  * the linear AE within 0.2 % of PCA at every K (K = 2: 36.14 and 36.14; K = 32: 11.89
    and 11.87), its decoder spanning PCA's subspace (principal-angle cosines ≈ 1, except
    where PCA's own eigenvalues nearly tie);
  * the linear AE's 2-D codes are PCA's codes seen through an affine map (R² = 1.0000);
  * the nonlinear AE below both at every K (K = 2: 22.4; K = 32: 8.7), its 2-D codes
    separating the classes more;
  * on the cosine surface, PCA and the linear AE reconstruct a flat sheet (error 0.31,
    the variance of the height they drop), the nonlinear AE the ripple (error 0.004,
    near the 0.0025 of noise off the surface that no 2-D code can keep).
"""
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
import numpy as np  # noqa: E402

from scratchvae.analysis import PCA, mean_squared_error, principal_angle_cosines  # noqa: E402
from scratchvae.data import load_dataset  # noqa: E402
from scratchvae.models import Autoencoder  # noqa: E402
from scratchvae.train import TrainConfig, Trainer  # noqa: E402
from scratchvae.tutorial import Tutorial  # noqa: E402

tut = Tutorial(__doc__, name="02_pca_vs_ae")
train, test = tut.image_data(n_train=None, n_quick=1000, n_test=None, n_test_quick=500)
x, x_test = train.flat().x, test.flat().x                      # (N, 784), (M, 784)
classes = getattr(test, "classes", None)

KS = tut.pick([2, 8, 32], [2])
EPOCHS = tut.pick(10, 2)
METHODS = {"PCA": "pca", "linear AE": "linear_ae", "nonlinear AE": "nonlinear_ae"}  # name → key


def fit(model, data, epochs, lr):
    """Adam on the squared error with a cosine learning-rate decay; returns the model."""
    config = TrainConfig(epochs=epochs, batch_size=128, lr=lr, lr_schedule="cosine",
                         seed=tut.seed, progress=False)
    Trainer(model, data, None, config).fit()
    return model


def r_squared_of_affine_fit(source, target):
    """R² of the least-squares fit target ≈ [source, 1] A: 1 ⇔ an exact affine map."""
    design = np.column_stack([source, np.ones(len(source))])
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    resid = target - design @ coef
    return float(1 - np.sum(resid ** 2) / np.sum((target - target.mean(axis=0)) ** 2))


# ------------------------------------------------------------------ part 1: images
t0 = time.perf_counter()
pca_all = PCA(max(KS)).fit(x)                                  # one SVD; truncate for each K
tut.say(f"PCA by SVD of the centred {x.shape[0]}×{x.shape[1]} data: "
        f"{time.perf_counter() - t0:.1f} s")
table, codes2 = [], {}
for k in KS:
    t0 = time.perf_counter()
    pca = pca_all.truncate(k)
    linear = fit(Autoencoder(x.shape[1], (), k, likelihood="mse", seed=tut.seed), x, EPOCHS, 3e-3)
    deep = fit(Autoencoder(x.shape[1], (256,), k, likelihood="mse", activation="relu",
                           seed=tut.seed), x, EPOCHS, 1e-3)
    # decoder weights W (K, 784): their rows span the linear AE's reconstruction subspace
    cosines = principal_angle_cosines(linear.decoder[0].params["W"], pca.components)
    row = {"K": k, "pca": pca.reconstruction_error(x_test),
           "linear_ae": mean_squared_error(x_test, linear.reconstruct(x_test)),
           "nonlinear_ae": mean_squared_error(x_test, deep.reconstruct(x_test)),
           "pca_explained_variance": float(pca.explained_variance_ratio.sum()),
           "angle_cosines_min_median": [float(cosines.min()), float(np.median(cosines))],
           "seconds": round(time.perf_counter() - t0, 1)}
    row["linear_over_pca"] = row["linear_ae"] / row["pca"]
    table.append(row)
    if k == 2:
        codes2 = {"PCA": pca.transform(x_test), "linear AE": linear.encode(x_test),
                  "nonlinear AE": deep.encode(x_test)}
    tut.say(f"K = {k:2d}: squared error per test image  PCA {row['pca']:6.2f}   linear AE "
            f"{row['linear_ae']:6.2f} (×{row['linear_over_pca']:.3f})   nonlinear AE "
            f"{row['nonlinear_ae']:6.2f}   cos(angles to PCA) min {cosines.min():.3f} "
            f"median {np.median(cosines):.3f}   ({row['seconds']:.0f} s)")

r2 = {name: r_squared_of_affine_fit(codes2["PCA"], c) for name, c in codes2.items()
      if name != "PCA"}
tut.say(f"K = 2 codes as an affine map of PCA's codes: R² linear AE {r2['linear AE']:.4f}, "
        f"nonlinear AE {r2['nonlinear AE']:.4f}")

fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
for ax, (name, c) in zip(axes, codes2.items()):
    for label in np.unique(test.y):
        pts = c[test.y == label]
        ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.5,
                   label=classes[label] if classes is not None else str(label))
    ax.set_title(f"{name}: squared error {table[0][METHODS[name]]:.1f}", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
axes[-1].legend(markerscale=5, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
fig.suptitle("2-D codes of the test images, coloured by class (never seen in training)",
             fontsize=11)
fig.savefig(tut.path("codes_2d.png"), dpi=90, bbox_inches="tight")
plt.close(fig)
tut.figure(tut.path("codes_2d.png"))

fig, ax = plt.subplots(figsize=(5, 3.6))
for (name, key), style in zip(METHODS.items(), ("o-", "s--", "^-")):
    ax.plot(KS, [r[key] for r in table], style, label=name)
ax.set_xscale("log", base=2)
ax.set_xticks(KS, [str(k) for k in KS])
ax.set_xlabel("code size K")
ax.set_ylabel("test squared error per image")
ax.grid(alpha=0.3)
ax.legend()
fig.savefig(tut.path("error_vs_k.png"), dpi=100, bbox_inches="tight")
plt.close(fig)
tut.figure(tut.path("error_vs_k.png"))

# -------------------------------------------------------- part 2: a curved surface
cos_train, cos_test = load_dataset("cosine3d", "train"), load_dataset("cosine3d", "test")
p_train = cos_train.x[:tut.pick(None, 2000)]                   # (10000, 3) points
p_test = cos_test.x                                            # (2000, 3)
noise = float(cos_train.noise)
SURF_EPOCHS = tut.pick(60, 5)
t0 = time.perf_counter()
surface = {"PCA": PCA(2).fit(p_train),
           "linear AE": fit(Autoencoder(3, (), 2, likelihood="mse", seed=tut.seed),
                            p_train, SURF_EPOCHS, 3e-3),
           "nonlinear AE": fit(Autoencoder(3, (32,), 2, likelihood="mse", activation="ptanh",
                                           seed=tut.seed), p_train, SURF_EPOCHS, 3e-3)}
surf_err = {name: mean_squared_error(p_test, m.reconstruct(p_test)) for name, m in surface.items()}
tut.say("cosine surface, K = 2, squared error per test point: "
        + "   ".join(f"{n} {e:.4f}" for n, e in surf_err.items())
        + f"   (noise off the surface: σ² = {noise ** 2:.4f}; "
          f"{time.perf_counter() - t0:.0f} s)")

fig = plt.figure(figsize=(13, 3.6))
shown = p_test[:1500]
panels = [("data (test points)", shown)] + [
    (f"{n}: error {surf_err[n]:.3g}", m.reconstruct(shown)) for n, m in surface.items()]
for i, (title, pts) in enumerate(panels):
    ax = fig.add_subplot(1, 4, i + 1, projection="3d")
    ax.scatter(pts[:, 0], pts[:, 1], pts[:, 2], c=shown[:, 2], cmap="viridis", s=1.5,
               vmin=-1, vmax=1)
    ax.set_title(title, fontsize=9)
    ax.set_zlim(-1.3, 1.3)
    ax.view_init(elev=25, azim=-60)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_zticks([])
fig.suptitle("the cosine surface through a 2-D code: colour = true height", fontsize=11)
fig.savefig(tut.path("cosine3d.png"), dpi=90, bbox_inches="tight")
plt.close(fig)
tut.figure(tut.path("cosine3d.png"))

# ------------------------------------------------------------------------- results
tut.expect("the linear AE's error is within about 1 % of PCA's at every K, and its "
           "decoder spans PCA's subspace (cosines of the principal angles near 1, except "
           "between directions whose PCA variances nearly tie)")
tut.expect("the linear AE's 2-D codes are an affine map of PCA's codes (R² ≈ 1); the "
           "nonlinear AE's are not, and they separate the classes more (codes_2d.png)")
tut.expect("the nonlinear AE has the lowest error at every K (error_vs_k.png)")
tut.expect("on the cosine surface PCA and the linear AE flatten it; the nonlinear AE "
           "keeps the ripple, its error down near the noise level (cosine3d.png)")
tut.finish({"images": {"epochs": EPOCHS, "table": table, "codes_r2_vs_pca": r2},
            "cosine3d": {"epochs": SURF_EPOCHS, "squared_error": surf_err,
                         "noise_variance_off_surface": noise ** 2}})
