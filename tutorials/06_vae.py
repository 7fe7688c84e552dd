"""06 — The variational autoencoder: a latent space you can sample, walk and map.

The one idea: a VAE's encoder outputs a *distribution* q(z|x) = N(μ, σ²), not a point,
and the loss pays for it in two terms — the reconstruction (−E_q log p(x|z)) and the KL
to the prior N(0, I). The KL packs the codes around the origin with no holes, so that
*every* z, not only the encoded ones, decodes to a plausible image:

    −ELBO = recon + KL      (nats, summed over pixels / latent units, averaged over images)

This tutorial trains the library's MLP ``VAE`` (784-400-20, Bernoulli) and shows
  1. the ELBO split: recon falls while the KL *rises* to pay for informative codes;
  2. samples z ~ N(0, I) → decoder, and reconstructions of test images;
  3. latent interpolation: decode the straight line between the μ of two test images;
  4. the 2-D latent manifold: a second VAE with L = 2, decoded on a 15×15 grid of
     Gaussian quantiles Φ⁻¹(p), p = 0.05 … 0.95 (each cell holds equal prior mass).

Run:   python tutorials/06_vae.py [--quick] [--data sprites] [--epochs E]
Time (2-core AMD EPYC, OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1):  --quick 4 s quiet,
       10–25 s busy;
       full ≈ 3 min measured on the shared, busy machine (~9 s per epoch of 60,000
       Fashion-MNIST images, 10 epochs, two models; ~3 s per epoch on a quiet machine).
See:   runs/tutorials/06_vae/ — loss_curves.png (loss | recon | KL per epoch),
       samples.png, reconstructions.png, interpolation.png, manifold.png,
       latent_scatter.png, results.json.
"""
import numpy as np

from scratchvae.analysis.latent import interpolate, manifold_grid
from scratchvae.models import VAE
from scratchvae.plots import (
    save_image_grid, save_latent_scatter, save_loss_curves, save_reconstructions,
)
from scratchvae.train.trainer import TrainConfig, Trainer
from scratchvae.tutorial import Tutorial


def extra_args(parser):
    parser.add_argument("--epochs", type=int, default=None, help="epochs per model (default 10)")


tut = Tutorial(__doc__, name="06_vae", extra_args=extra_args)
train, test = tut.image_data(n_train=None, n_quick=1000, n_test=None, n_test_quick=300)
x_train, x_test = train.flat().x, test.flat().x                     # (N, 784) in [0, 1]
epochs = tut.args.epochs or tut.pick(10, 2)


def fit(latent_dim):
    """Train a 784-400-L VAE; return the model, its history and the test terms."""
    model = VAE(784, [400], latent_dim, seed=tut.seed)
    trainer = Trainer(model, x_train, x_test, TrainConfig(epochs=epochs, batch_size=128,
                                                          lr=1e-3, seed=tut.seed))
    history = trainer.fit()
    return model, history, trainer.evaluate(x_test)


# ---------------------------------------------------------------- 1. the ELBO split
tut.say(f"training VAE 784-400-20 for {epochs} epochs")
vae, history, test_terms = fit(20)
tut.figure(save_loss_curves(history, tut.path("loss_curves.png")))
tut.expect("loss_curves.png: recon falls steadily while the training KL *rises* (from ~14 to "
           "~16 nats on Fashion-MNIST: the price of codes that carry information); their "
           "sum, the −ELBO, falls")
kl_units = vae.kl_per_dimension(x_test)                              # (20,) nats per unit
active = int((kl_units > 0.05).sum())
tut.say(f"test −ELBO {test_terms['loss']:.1f} = recon {test_terms['recon']:.1f} + "
        f"KL {test_terms['kl']:.1f} nats; {active}/20 latent units carry > 0.05 nats")

# ------------------------------------------------------- 2. samples and reconstructions
rng = np.random.default_rng(tut.seed)
tut.figure(save_image_grid(vae.sample(64, rng=rng), tut.path("samples.png"), nrow=8,
                           title="z ~ N(0, I) → decoder mean"))
tut.figure(save_reconstructions(x_test[:10], vae.reconstruct(x_test[:10]),
                                tut.path("reconstructions.png"), n=10))
tut.expect("samples.png: blurry but recognisable items (a Bernoulli decoder's mean is an "
           "average of plausible images); reconstructions keep shape, lose fine texture")

# ------------------------------------------------------------------ 3. interpolation
y_test = test.y
class_pairs = [(0, 7), (1, 8), (5, 9), (2, 3)] if y_test.max() >= 9 else [(0, 1), (1, 2), (2, 0)]
pairs = [(int(np.flatnonzero(y_test == a)[0]), int(np.flatnonzero(y_test == b)[0]))
         for a, b in class_pairs]                # the first test image of class a, of class b
rows = []
for i, j in pairs:
    path = interpolate(vae, x_test[i], x_test[j], steps=10)            # (10, 784)
    rows.append(np.concatenate([x_test[i:i + 1], path, x_test[j:j + 1]]))
tut.figure(save_image_grid(np.concatenate(rows), tut.path("interpolation.png"), nrow=12,
                           title="data | decode((1−t)·μ₀ + t·μ₁), t = 0 … 1 | data"))
tut.expect("interpolation.png: each row morphs smoothly from one item to the other — no "
           "step of the path falls into a hole of the latent space")

# ------------------------------------------------------- 4. the 2-D latent manifold
tut.say(f"training VAE 784-400-2 for {epochs} epochs")
vae2, history2, test_terms2 = fit(2)
n_grid = 15
tut.figure(save_image_grid(manifold_grid(vae2, n_grid), tut.path("manifold.png"), nrow=n_grid,
                           title="z₁ → (left to right), z₂ ↑ (bottom to top): Φ⁻¹(0.05 … 0.95)"))
mu2, _ = vae2.encode(x_test)
tut.figure(save_latent_scatter(mu2, y_test, tut.path("latent_scatter.png"),
                               title="test μ of the L = 2 VAE, coloured by label"))
tut.expect("manifold.png: classes occupy regions (trousers, bags, footwear, tops) and blend "
           "at their borders; latent_scatter.png: the same layout, roughly N(0, I)-shaped")
tut.expect("the L = 2 VAE's test −ELBO is ~20 nats worse than L = 20's: two numbers cannot "
           "hold as much of an image")

tut.finish({
    "epochs": epochs,
    "latent20": {"test_loss": test_terms["loss"], "test_recon": test_terms["recon"],
                 "test_kl": test_terms["kl"], "active_units": active,
                 "kl_per_unit": np.round(kl_units, 3),
                 "seconds_per_epoch": float(np.mean([r["seconds"] for r in history]))},
    "latent2": {"test_loss": test_terms2["loss"], "test_recon": test_terms2["recon"],
                "test_kl": test_terms2["kl"],
                "kl_per_unit": np.round(vae2.kl_per_dimension(x_test), 3)},
    "history": [{k: round(v, 3) for k, v in r.items()} for r in history],
})
