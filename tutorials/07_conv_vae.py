"""07 — The convolutional VAE: the same objective, an encoder and decoder that know images.

The one idea: nothing in the VAE's objective cares what the encoder and decoder are.
Swap the MLPs for convolutions — an encoder of two stride-2 convolutions (28 → 14 → 7)
and a decoder of two transposed convolutions (7 → 14 → 28) — and the loss, the
reparameterization, the sampler and the trainer stay exactly as in tutorial 06
(``ConvVAE`` inherits ``VAE.loss_and_grads`` unchanged). What changes is the prior
*the architecture* brings: a conv filter is the same at every position, so the model
spends its parameters on local shapes (edges, stripes, textures) instead of one weight
per pixel pair.

This tutorial trains both on the same images, for the same epochs, with the same
optimiser, and compares them: test −ELBO, recon and KL; parameters; seconds per epoch;
samples, reconstructions and an interpolation.

Full run: a 12,000-image subset of Fashion-MNIST, 6 epochs each — the conv path costs
~6× the MLP per epoch on this CPU (im2col, col2im and many small GEMMs on 2 cores), so
all 60,000 images would take ~35 s per conv epoch on the shared machine. Same-epoch comparisons are fair in
updates, not in compute: see the per-epoch times in results.json.

Run:   python tutorials/07_conv_vae.py [--quick] [--data sprites] [--epochs E] [--n-train N]
Time (2-core AMD EPYC, OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1):  --quick 4 s quiet,
       10–25 s busy;
       full 1–2 min on the shared machine, depending on its load (MLP 1.2 s, conv 6.7 s
       per epoch of 12,000 images).
See:   runs/tutorials/07_conv_vae/ — comparison.png (test −ELBO, recon and KL per epoch,
       both models), reconstructions.png (data / MLP / conv), samples_mlp.png,
       samples_conv.png, interpolation_conv.png, results.json.
"""
import numpy as np

from scratchvae.analysis.latent import interpolate
from scratchvae.models import VAE, ConvVAE
from scratchvae.plots import plt, save_image_grid
from scratchvae.train.trainer import TrainConfig, Trainer
from scratchvae.tutorial import Tutorial


def extra_args(parser):
    parser.add_argument("--epochs", type=int, default=None, help="epochs per model (default 6)")
    parser.add_argument("--n-train", type=int, default=12_000,
                        help="training images used by the full run (default 12000)")


tut = Tutorial(__doc__, name="07_conv_vae", extra_args=extra_args)
train, test = tut.image_data(n_train=tut.args.n_train, n_quick=600, n_test=2000,
                             n_test_quick=200)
x_train, x_test = train.flat().x, test.flat().x                     # (N, 784) in [0, 1]
image_shape = train.image_shape                                     # (1, 28, 28)
epochs = tut.args.epochs or tut.pick(6, 1)

models = {
    "mlp": VAE(784, [400], 20, seed=tut.seed),
    "conv": ConvVAE(image_shape, channels=(32, 64), latent_dim=20, seed=tut.seed),
}
results, histories = {}, {}
for name, model in models.items():
    tut.say(f"training the {name} VAE ({model.num_parameters():,} parameters) for {epochs} "
            f"epochs on {len(x_train)} images")
    trainer = Trainer(model, x_train, x_test, TrainConfig(epochs=epochs, batch_size=128,
                                                          lr=1e-3, seed=tut.seed))
    histories[name] = trainer.fit()
    test_terms = trainer.evaluate(x_test)
    results[name] = {**{f"test_{k}": v for k, v in test_terms.items()},
                     "parameters": model.num_parameters(),
                     "seconds_per_epoch": float(np.mean([r["seconds"]
                                                         for r in histories[name]]))}
    tut.say(f"{name}: test −ELBO {test_terms['loss']:.1f} nats "
            f"({results[name]['seconds_per_epoch']:.1f} s/epoch)")

# ------------------------------------------------------------- the curves, side by side
fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
for ax, term in zip(axes, ("loss", "recon", "kl")):
    for name, style in (("mlp", "o-"), ("conv", "s-")):
        h = histories[name]
        ax.plot([r["epoch"] for r in h], [r[f"val_{term}"] for r in h], style, ms=3,
                label=f"{name} VAE")
    ax.set_xlabel("epoch")
    ax.set_ylabel("nats")
    ax.set_title({"loss": "test −ELBO", "recon": "test recon", "kl": "test KL"}[term])
    ax.grid(alpha=0.3)
    ax.legend()
fig.tight_layout()
fig.savefig(tut.path("comparison.png"), dpi=100)
plt.close(fig)
tut.figure(tut.path("comparison.png"))
tut.expect("comparison.png: after a slower first epoch the conv VAE's test −ELBO drops below "
           "the MLP's and stays there, with lower recon and a higher KL (its codes carry more "
           "nats), from 40 % of the parameters")

# ------------------------------------------------------------------------- the pictures
n = 10
rows = [x_test[:n], models["mlp"].reconstruct(x_test[:n]), models["conv"].reconstruct(x_test[:n])]
tut.figure(save_image_grid(np.concatenate(rows), tut.path("reconstructions.png"), nrow=n,
                           title="data / MLP VAE / conv VAE"))
for name, model in models.items():
    tut.figure(save_image_grid(model.sample(64, rng=tut.seed), tut.path(f"samples_{name}.png"),
                               nrow=8, title=f"{name} VAE: z ~ N(0, I) → decoder mean"))
tut.expect("reconstructions.png: the MLP and conv rows are hard to tell apart by eye — the gap "
           "is a few nats, ~1 %; samples of both are blurry at this budget, the conv ones "
           "blotchier: a better ELBO does not promise nicer prior samples")

path_rows = []
for i, j in [(0, 1), (2, 3), (4, 5)]:
    path_rows.append(np.concatenate([x_test[i:i + 1],
                                     interpolate(models["conv"], x_test[i], x_test[j], 10),
                                     x_test[j:j + 1]]))
tut.figure(save_image_grid(np.concatenate(path_rows), tut.path("interpolation_conv.png"),
                           nrow=12, title="conv VAE: data | decoded line between the μ | data"))

ratio = results["conv"]["seconds_per_epoch"] / results["mlp"]["seconds_per_epoch"]
tut.say(f"conv / MLP time per epoch: {ratio:.1f}×")
tut.expect("results.json: the conv VAE costs several times the MLP per epoch on this CPU")
tut.finish({"epochs": epochs, "n_train": len(x_train), "n_test": len(x_test), **results,
            "conv_over_mlp_time": ratio,
            "history": {k: [{kk: round(vv, 3) for kk, vv in r.items()} for r in h]
                        for k, h in histories.items()}})
