"""Figures: reconstructions, samples, loss curves, the latent space.

Every function takes NumPy arrays, draws with matplotlib's non-interactive Agg
backend (no display needed) and writes a PNG, returning its path.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
import numpy as np  # noqa: E402


def image_grid(images, nrow: int, pad: int = 1):
    """Tile (N, H, W) images into one (rows·(H+pad), nrow·(W+pad)) array."""
    images = np.asarray(images)
    n, h, w = images.shape
    rows = -(-n // nrow)
    grid = np.ones((rows * (h + pad) + pad, nrow * (w + pad) + pad), dtype=np.float32)
    for i, img in enumerate(images):
        r, c = divmod(i, nrow)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = img
    return grid


def colour_grid(images, nrow: int, pad: int = 1):
    """Tile (N, 3, H, W) colour images into one (rows·(H+pad)+pad, nrow·(W+pad)+pad, 3) array."""
    tiles = np.asarray(images, dtype=np.float32)
    return np.stack([image_grid(tiles[:, c], nrow, pad) for c in range(3)], axis=-1)


def save_image_rows(rows, path, title: str = "", nrow: int | None = None, dpi: int = 100,
                    fontsize: int = 9) -> Path:
    """One labelled row of images per ``(label, images)`` entry of ``rows``: grey images
    (n, H, W) or (n, 1, H, W), or colour images (n, 3, H, W); values clipped to [0, 1].
    ``nrow`` images per row (default: all of the first row's)."""
    rows = [(label, np.clip(np.asarray(imgs, dtype=np.float32), 0, 1)) for label, imgs in rows]
    nrow = nrow or len(rows[0][1])
    fig, axes = plt.subplots(len(rows), 1, figsize=(0.62 * nrow + 1.4, 0.66 * len(rows) + 0.5),
                             squeeze=False)
    for ax, (label, imgs) in zip(axes[:, 0], rows):
        if imgs.ndim == 4 and imgs.shape[1] == 3:
            ax.imshow(colour_grid(imgs[:nrow], nrow), interpolation="nearest")
        else:
            grey = imgs[:, 0] if imgs.ndim == 4 else imgs
            ax.imshow(image_grid(grey[:nrow], nrow), cmap="gray", vmin=0, vmax=1,
                      interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=fontsize)
    if title:
        axes[0, 0].set_title(title, fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def save_image_grid(images, path, image_shape=(28, 28), nrow: int = 8, title: str = "") -> Path:
    """Save (N, D) flattened images as a grid."""
    imgs = np.clip(np.asarray(images, dtype=np.float32).reshape(-1, *image_shape), 0, 1)
    fig, ax = plt.subplots(figsize=(nrow * 0.55 + 0.4, -(-len(imgs) // nrow) * 0.55 + 0.6))
    ax.imshow(image_grid(imgs, nrow), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)
    return _save(fig, path)


def save_reconstructions(x, x_hat, path, image_shape=(28, 28), n: int = 8) -> Path:
    """Originals (top row) above their reconstructions (bottom row)."""
    n = min(n, len(x))
    pairs = np.concatenate([np.asarray(x[:n]), np.asarray(x_hat[:n])])
    return save_image_grid(pairs, path, image_shape, nrow=n,
                           title="top: data   bottom: reconstruction")


def save_loss_curves(history: list[dict], path, unit: str = "nats",
                     val_label: str = "validation") -> Path:
    """One panel per loss term, train and validation curves against epochs; ``unit``
    names what the terms measure (nats for a likelihood, "squared error per image"...)."""
    terms = [k[len("train_"):] for k in history[0] if k.startswith("train_")]
    fig, axes = plt.subplots(1, len(terms), figsize=(4 * len(terms), 3.2), squeeze=False)
    epochs = [r["epoch"] for r in history]
    for ax, term in zip(axes[0], terms):
        ax.plot(epochs, [r[f"train_{term}"] for r in history], "o-", label="train", ms=3)
        if f"val_{term}" in history[0]:
            ax.plot(epochs, [r[f"val_{term}"] for r in history], "s--", label=val_label, ms=3)
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"{term} ({unit})")
        ax.set_title(term)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return _save(fig, path)


def project_2d(z):
    """z (N, L) → (N, 2): itself when L ≤ 2, else its top-2 principal components (SVD)."""
    z = np.asarray(z, dtype=np.float64)
    if z.shape[1] == 1:
        return np.concatenate([z, np.zeros_like(z)], axis=1), ("z₁", "")
    if z.shape[1] == 2:
        return z, ("z₁", "z₂")
    zc = z - z.mean(axis=0)
    _, _, vt = np.linalg.svd(zc, full_matrices=False)
    p = zc @ vt[:2].T                                   # (N, 2), or (N, 1) when N = 1
    if p.shape[1] < 2:                                  # too few points for two components
        p = np.concatenate([p, np.zeros((len(p), 2 - p.shape[1]))], axis=1)
    return p, ("PC 1 of μ", "PC 2 of μ")


def save_latent_scatter(z, labels, path, title: str = "latent means") -> Path:
    """Scatter of posterior means (projected to 2-D when L > 2), coloured by label."""
    p, (xl, yl) = project_2d(z)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    if labels is not None:
        sc = ax.scatter(p[:, 0], p[:, 1], c=labels, cmap="tab10", s=4, alpha=0.7)
        fig.colorbar(sc, ax=ax, label="label")
    else:
        ax.scatter(p[:, 0], p[:, 1], c="tab:blue", s=4, alpha=0.7)
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)
    ax.set_title(title)
    return _save(fig, path)


def save_points_3d(points, path, title: str = "", reference=None) -> Path:
    """3-D scatter (for the cosine data set), optionally over reference points."""
    fig = plt.figure(figsize=(5, 4.5))
    ax = fig.add_subplot(projection="3d")
    if reference is not None:
        ax.scatter(*np.asarray(reference)[:, :3].T, s=1, c="lightgray", alpha=0.5)
    ax.scatter(*np.asarray(points)[:, :3].T, s=2, c="tab:blue")
    ax.set_title(title)
    return _save(fig, path)
