"""What the commands share: loading a data split, and telling images from points."""
from __future__ import annotations

import numpy as np


def load_split(name: str, split: str, limit: int | None):
    """(x (N, D) float32 flattened, y (N,) or None, the shape of one example)."""
    from ..data import load_dataset  # noqa: PLC0415 - keep `--help` fast

    ds = load_dataset(name, split)
    x = ds.x.reshape(len(ds.x), -1).astype(np.float32, copy=False)
    y = ds.y
    if limit:
        x, y = x[:limit], (y[:limit] if y is not None else None)
    return x, y, tuple(ds.x.shape[1:])


def image_shape(shape) -> tuple | None:
    """(1, H, W) or (H, W) → (H, W); anything else (e.g. (3,) points) → None."""
    shape = tuple(shape)
    if len(shape) == 3 and shape[0] == 1:
        return shape[1:]
    return shape if len(shape) == 2 else None


def batch_of(model, x, y):
    """The arrays a model's batch holds (``model.inputs``): (x,) or (x, y)."""
    return (x,) if tuple(model.inputs) == ("x",) else (x, y)
