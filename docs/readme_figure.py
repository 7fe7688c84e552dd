"""Make the README's picture from a trained checkpoint.

    python -m scratchvae train --data fashion-mnist --epochs 3 --out runs/fm3
    python docs/readme_figure.py runs/fm3/checkpoint.npz docs/images/fashion_mnist_vae.png
"""
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from scratchvae.data import load_dataset  # noqa: E402
from scratchvae.plots import image_grid  # noqa: E402
from scratchvae.train import load_model  # noqa: E402


def main(checkpoint, out):
    model, meta = load_model(checkpoint)
    x = load_dataset(meta["train_config"]["extra"]["data"], "test").flat().x
    samples = model.sample(48, rng=0).reshape(-1, 28, 28)
    pick = x[np.random.default_rng(0).choice(len(x), 8, replace=False)]
    recon = model.reconstruct(pick)
    rows = np.concatenate([pick[:4], recon[:4], pick[4:], recon[4:]]).reshape(-1, 28, 28)
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6), gridspec_kw={"width_ratios": [8, 4]})
    a.imshow(image_grid(samples, 12), cmap="gray", vmin=0, vmax=1)
    a.set_title("samples: z ~ N(0, I) → decoder")
    b.imshow(image_grid(rows, 4), cmap="gray", vmin=0, vmax=1)
    b.set_title("test images (rows 1, 3) and\nreconstructions (rows 2, 4)")
    for ax in (a, b):
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(out, dpi=100, bbox_inches="tight")


if __name__ == "__main__":
    main(*sys.argv[1:3])
