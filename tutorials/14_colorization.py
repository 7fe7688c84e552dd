"""14 — Colorization: predict the colour a grey image leaves open.

The one idea: an autoencoder need not reconstruct its own input. Give it the grey
image Y (luminance, Y = 0.299 R + 0.587 G + 0.114 B) and ask for the colour image x:
the input is one channel, the target three. Most of x is already in Y; what is missing
is two numbers per pixel, the colour differences a = R − Y and b = B − Y. So the
network predicts only (a, b), and the colour image is rebuilt from Y and (a, b) in a
way that keeps Y exactly (scratchvae.functional.colour).

A model can only beat a per-pixel rule if it knows *what* it is looking at. The
colorizer is a small U-Net (scratchvae.models.Colorizer): a conv encoder that sees most
of the image, a transposed-conv decoder, and skip connections that carry the edges back
at full resolution. It is trained with the squared error to the true colours, so it
learns the mean colour given the grey image: right where the colour follows from the
object, a muddy average where it does not.

Two baselines: the grey image copied into all three channels (the input's own
luminance, no colour), and a per-pixel linear regression from luminance (every pixel
position and channel gets its own least-squares line: where colour tends to be, not
what an object is).

Data: CIFAR-10 when its files are on disk (or ``--data cifar10`` downloads it, checked
against its published MD5); otherwise the built-in sprites, coloured by shape (squares
red, ellipses green, hearts blue, each jittered; a dim background of random colour).

Run:
    python tutorials/14_colorization.py            # full: 20,000 sprites, 6 epochs
    python tutorials/14_colorization.py --quick    # smoke run: 1,000 images, 1 epoch
    python tutorials/14_colorization.py --data cifar10   # downloads CIFAR-10 (170 MB)

Time on the 2-core development machine (Intel Xeon, shared with other jobs): quick
≈ 18 s; full run on the sprites 8 min (about 75 s per epoch).

What you should see (sprites, 2,000 test images; PSNR over all three channels):
  * colorized.png: the U-Net paints each shape in its own colour (squares red, ellipses
    green, hearts blue); the background's hue is not in Y, so it paints a dim average;
  * PSNR: grey copy 20.6 dB, per-pixel line 20.9, U-Net 24.1 (per-pixel squared error
    0.0101, 0.0094, 0.0050): the line only learns where colour tends to be, the U-Net
    that a heart is blue;
  * psnr_by_class.png: the U-Net gains on every shape (square 20.2 → 23.9 dB over the
    grey copy); the line only on the green ellipses (21.4 → 22.6), whose colour is mostly
    luminance anyway;
  * loss.png: the test error sits on a plateau for three epochs, then drops (19.6 → 11.8
    per image) once the network tells the shapes apart.
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
import numpy as np  # noqa: E402

from scratchvae.analysis.image_metrics import PixelwiseLinearColour, psnr  # noqa: E402
from scratchvae.data.colour import default_colour_set, load_colour_images  # noqa: E402
from scratchvae.functional.colour import luminance  # noqa: E402
from scratchvae.models import Colorizer  # noqa: E402
from scratchvae.plots import save_image_rows, save_loss_curves  # noqa: E402
from scratchvae.train import TrainConfig, Trainer  # noqa: E402
from scratchvae.tutorial import Tutorial  # noqa: E402

CLASS_NAMES = {"sprites": ("square", "ellipse", "heart"),
               "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                           "horse", "ship", "truck")}

tut = Tutorial(__doc__, name="14_colorization")
source = tut.args.data or default_colour_set()
if tut.args.data is None and source == "sprites":
    tut.say("CIFAR-10 not found on disk; using the built-in coloured sprites "
            "(pass --data cifar10 to download it)")
x_train, y_train = load_colour_images(source, "train", download=tut.args.data == "cifar10")
x_test, y_test = load_colour_images(source, "test", download=False)
n_train, n_test = tut.pick(len(x_train), 1000), tut.pick(len(x_test), 300)
x_train, y_train = x_train[:n_train], y_train[:n_train]                # (N, 3, H, W) in [0, 1]
x_test, y_test = x_test[:n_test], y_test[:n_test]
tut.data_source = source
H, W = x_train.shape[2:]
tut.say(f"data: {source}, {len(x_train)} train / {len(x_test)} test colour images of {H}×{W}")

L_train, L_test = luminance(x_train), luminance(x_test)                # (N, 1, H, W)
flat = lambda a: a.reshape(len(a), -1)                                 # noqa: E731

# ------------------------------------------------------------------ the colorizer
CHANNELS = (16, 32, 64)
EPOCHS = tut.pick(6, 1)
model = Colorizer((H, W), CHANNELS, seed=tut.seed)
tut.say(f"Colorizer{CHANNELS}: {model.num_parameters():,} parameters, {EPOCHS} epochs")
config = TrainConfig(epochs=EPOCHS, batch_size=64, lr=2e-3, lr_schedule="cosine",
                     seed=tut.seed, progress=False)
history = Trainer(model, (flat(L_train), flat(x_train)), (flat(L_test), flat(x_test)),
                  config).fit()
for record in history:
    tut.say(f"epoch {record['epoch']}: train {record['train_loss']:.2f}, "
            f"test {record['val_loss']:.2f} (squared error per image)")
tut.figure(save_loss_curves(history, tut.path("loss.png"), unit="squared error per image",
                            val_label="test"))

# -------------------------------------------------------------- the three answers
predictions = {
    "grey copy": np.repeat(L_test, 3, axis=1),
    "per-pixel line": PixelwiseLinearColour().fit(L_train, x_train).predict(L_test),
    "U-Net": model.colorize(L_test),
}


def scores(x, x_hat):
    """Per-pixel squared error (mean over 3·H·W values) and PSNR (dB, over all three
    channels) of each image: psnr's (N, H, W) images are the colour planes stacked."""
    stack = lambda a: np.asarray(a, np.float64).reshape(len(a), -1, a.shape[-1])  # noqa: E731
    return (((x_hat - x) ** 2).reshape(len(x), -1).mean(axis=1), psnr(stack(x), stack(x_hat)))


classes = CLASS_NAMES[source]
results = {"per_pixel_mse": {}, "psnr_db": {}, "psnr_db_by_class": {}}
for name, x_hat in predictions.items():
    mse, db = scores(x_test, x_hat)
    results["per_pixel_mse"][name] = float(mse.mean())
    results["psnr_db"][name] = float(db.mean())
    results["psnr_db_by_class"][name] = {c: float(db[y_test == k].mean())
                                         for k, c in enumerate(classes) if (y_test == k).any()}
    tut.say(f"{name:15s} per-pixel error {mse.mean():.5f}   PSNR {db.mean():6.2f} dB   by class: "
            + ", ".join(f"{c} {v:.1f}" for c, v in results["psnr_db_by_class"][name].items()))
kept = np.abs(luminance(predictions["U-Net"]) - L_test).max()
tut.say(f"largest luminance change by the U-Net (from clipping to [0, 1] only): {kept:.4f}")

# ------------------------------------------------------------------------ figures
SHOW = 10
rows = [("grey input", predictions["grey copy"]), ("per-pixel line", predictions["per-pixel line"]),
        ("U-Net", predictions["U-Net"]), ("truth", x_test)]
save_image_rows([(label, imgs[:SHOW]) for label, imgs in rows], tut.path("colorized.png"),
                "test images: what each method paints from the grey image")
tut.figure(tut.path("colorized.png"))

fig, ax = plt.subplots(figsize=(1.2 * len(classes) + 3, 3.4))
width = 0.8 / len(predictions)
for i, (name, by_class) in enumerate(results["psnr_db_by_class"].items()):
    ax.bar(np.arange(len(by_class)) + (i - 1) * width, list(by_class.values()), width, label=name)
ax.set_xticks(np.arange(len(classes)), classes, fontsize=8)
ax.set_ylabel("PSNR (dB), test images")
ax.set_title(f"colour from luminance, by class ({source})", fontsize=10)
ax.legend(fontsize=8)
ax.grid(alpha=0.3, axis="y")
fig.tight_layout()
fig.savefig(tut.path("psnr_by_class.png"), dpi=100)
plt.close(fig)
tut.figure(tut.path("psnr_by_class.png"))

# ------------------------------------------------------------------------ results
db = results["psnr_db"]
tut.expect("colorized.png: the U-Net paints each object in the colour its kind tends to "
           "have; where Y says nothing about the hue (a random background) it paints an "
           "average, desaturated colour")
tut.expect(f"PSNR rises from the grey copy ({db['grey copy']:.1f} dB) to the per-pixel line "
           f"({db['per-pixel line']:.1f}) to the U-Net ({db['U-Net']:.1f})")
tut.expect("psnr_by_class.png: the U-Net gains on every class; the per-pixel line gains "
           "little over the grey copy, and only where a colour is mostly luminance anyway "
           "(green: G weighs 0.587 in Y)")
tut.finish({"epochs": EPOCHS, "channels": list(CHANNELS), "parameters": model.num_parameters(),
            "image_shape": [int(H), int(W)], "n_train": len(x_train), "n_test": len(x_test),
            "history": [{k: r[k] for k in ("epoch", "train_loss", "val_loss")} for r in history],
            **results,
            "max_luminance_change": float(kept)})
