"""09 — The conditional VAE: tell the model the label, and choose what it draws.

The one idea: give the label y to both halves — the encoder q(z|x, y) sees [x, onehot(y)],
the decoder p(x|z, y) sees [z, onehot(y)] — and train on the conditional ELBO

    −log p(x|y) ≤ recon + KL = −E_q log p(x|z, y) + KL(q(z|x, y) || N(0, I)).

Because the decoder is told *what* the item is, z no longer has to store it: the KL
pushes z to keep only what the label leaves open — the *style* (thickness, size, slant,
brightness). Then
  - ``model.sample(n, labels=a)`` draws only class a — generation you can steer;
  - one z decoded with every label draws the same style in every class — in part: on
    Fashion-MNIST a shoe's "style" is its shape, so z keeps some of the coarse category,
    and the style grid shows where the label wins and where z does.

A plain VAE cannot do either: its samples come in whatever class the prior lands on.
The CVAE trains with the same ``Trainer`` as every model; its batches are (x, y) pairs,
because the model says so (``CVAE.inputs == ("x", "y")``).

How we check that the labels steer: a nearest-class-mean classifier (each class's mean
training image; predict the closest in pixel space) labels the generated images. Its
agreement with the label we asked for is compared with its accuracy on real test images —
a weak classifier, so the real-data accuracy is the ceiling to compare with.

Run:   python tutorials/09_conditional_vae.py [--quick] [--classes 3 7] [--epochs E]
       (default classes: 3 7 — dress and sneaker on Fashion-MNIST; 0 2 on sprites)
Time (2-core AMD EPYC, OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1):  --quick 4 s quiet,
       10–25 s busy;
       full 1–3 min on the shared machine, depending on its load (60,000 Fashion-MNIST
       images, 10 epochs; CPU time 36 s).
See:   runs/tutorials/09_conditional_vae/ — picked_classes.png, style_grid.png,
       style_transfer.png, loss_curves.png, results.json.
"""
import numpy as np

from scratchvae.models import CVAE
from scratchvae.plots import save_image_grid, save_loss_curves
from scratchvae.train import TrainConfig, Trainer
from scratchvae.tutorial import Tutorial


def extra_args(parser):
    parser.add_argument("--classes", type=int, nargs=2, default=None, metavar=("A", "B"),
                        help="the two classes to generate (default 3 7; 0 2 on sprites)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default 10)")


tut = Tutorial(__doc__, name="09_conditional_vae", extra_args=extra_args)
train, test = tut.image_data(n_train=None, n_quick=1000, n_test=None, n_test_quick=300)
x_train, y_train = train.flat().x, train.y                          # (N, 784), (N,)
x_test, y_test = test.flat().x, test.y
K = int(max(y_train.max(), y_test.max())) + 1
class_names = list(getattr(train, "classes", range(K)))
picked = tut.args.classes or ([3, 7] if K >= 8 else [0, K - 1])
if not all(0 <= c < K for c in picked):
    raise SystemExit(f"--classes {picked[0]} {picked[1]}: {tut.data_source} has classes 0 … "
                     f"{K - 1} ({', '.join(f'{i} {n}' for i, n in enumerate(class_names))})")
epochs = tut.args.epochs or tut.pick(10, 2)

# ------------------------------------------------------------------------- training
model = CVAE(784, K, [400], 20, seed=tut.seed)
tut.say(f"training CVAE [784 + {K}]-400-20 for {epochs} epochs on {len(x_train)} images")
config = TrainConfig(epochs=epochs, batch_size=128, lr=1e-3, seed=tut.seed, progress=False)
history = Trainer(model, (x_train, y_train), (x_test, y_test), config,
                  on_epoch=lambda r: tut.say(f"epoch {r['epoch']:2d}  train {r['train_loss']:.1f}"
                                             f"  test {r['val_loss']:.1f} nats  "
                                             f"({r['seconds']:.1f} s)")).fit()
test_terms = model.evaluate(x_test, y_test, rng=np.random.default_rng([tut.seed, 2]))
tut.figure(save_loss_curves(history, tut.path("loss_curves.png")))
tut.say(f"test −ELBO {test_terms['loss']:.1f} = recon {test_terms['recon']:.1f} + "
        f"KL {test_terms['kl']:.1f} nats")

# ---------------------------------------------------------------- the picked classes
rng = np.random.default_rng(tut.seed)
n_per = 12
samples = np.concatenate([model.sample(n_per, c, rng=rng) for c in picked])   # (2·12, 784)
a, b = (class_names[c] for c in picked)
tut.figure(save_image_grid(samples, tut.path("picked_classes.png"), nrow=n_per,
                           title=f"model.sample(12, {picked[0]}) — {a};  "
                                 f"model.sample(12, {picked[1]}) — {b}"))
tut.expect(f"picked_classes.png: the top row shows mostly {a}, the bottom row mostly {b}, "
           f"in varied styles; a few samples are ambiguous")

# ------------------------------------------------------------- same z, every label
n_styles = 10
z = rng.standard_normal((n_styles, model.latent_dim))                    # (10, L) styles
grid = np.concatenate([model.decode(z, np.full(n_styles, k)) for k in range(K)])   # (K·10, D)
tut.figure(save_image_grid(grid, tut.path("style_grid.png"), nrow=n_styles,
                           title="row: label 0 … K−1;  column: one z (style) for every label"))
tut.expect("style_grid.png: in most columns the item changes with the row while brightness "
           "and width stay; but a z from the footwear part of the space stays shoe-like in the "
           "garment rows (and the reverse): z still carries the coarse category")

# ----------------------------------------- style transfer: encode with y, decode with y'
n_src = 8
mu, _ = model.encode(x_test[:n_src], y_test[:n_src])                      # (8, L)
rows = [x_test[:n_src]] + [model.decode(mu, np.full(n_src, k)) for k in range(K)]
tut.figure(save_image_grid(np.concatenate(rows), tut.path("style_transfer.png"), nrow=n_src,
                           title="top: test images; below: their z decoded as label 0 … K−1"))

# ------------------------------------------------ do the labels steer? (a crude judge)
means = np.stack([x_train[y_train == k].mean(axis=0) for k in range(K)])  # (K, D)


def nearest_mean(x):
    """Predict the class whose mean training image is closest in squared distance."""
    d = (x * x).sum(1)[:, None] - 2 * x @ means.T + (means * means).sum(1)[None, :]
    return d.argmin(axis=1)


real_acc = float((nearest_mean(x_test) == y_test).mean())
n_judge = 200
asked = np.repeat(np.arange(K), n_judge)
generated = model.sample(len(asked), asked, rng=np.random.default_rng([tut.seed, 3]))
agree = nearest_mean(generated) == asked
agree_by_class = [float(agree[asked == k].mean()) for k in range(K)]
tut.say(f"nearest-class-mean judge: {real_acc:.1%} on real test images, "
        f"{agree.mean():.1%} agreement on {len(asked)} generated ones")
tut.expect("the judge agrees with the asked-for label on about half of the generated images: "
           "far above the 1/K of chance (a plain VAE cannot be asked), below its own accuracy "
           "on real images")

tut.finish({
    "epochs": epochs, "classes": picked, "class_names": [str(a), str(b)],
    "test_loss": test_terms["loss"], "test_recon": test_terms["recon"],
    "test_kl": test_terms["kl"],
    "judge_accuracy_real_test": real_acc, "judge_agreement_generated": float(agree.mean()),
    "judge_agreement_by_class": np.round(agree_by_class, 3),
    "judge_agreement_picked": [agree_by_class[c] for c in picked],
    "seconds_per_epoch": float(np.mean([r["seconds"] for r in history])),
    "history": [{k: round(v, 3) for k, v in r.items()} for r in history],
})
