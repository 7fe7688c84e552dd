"""What the commands share: loading a data split, telling images from points, and the
types that validate command-line arguments before anything runs."""
from __future__ import annotations

import argparse
import math

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


# ------------------------------------------------------------ argument types
# argparse calls these on the strings of the command line; an ArgumentTypeError becomes
# "error: argument --lr: <message>" and exit code 2, before anything runs.
def _number(kind, text, name):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {name}") from None


def positive_int(text: str) -> int:
    """An integer ≥ 1 (epochs, batch sizes, sample counts, widths)."""
    value = _number(int, text, "an integer")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer ≥ 1, got {value}")
    return value


def nonnegative_int(text: str) -> int:
    """An integer ≥ 0 (seeds, epochs of an optional phase)."""
    value = _number(int, text, "an integer")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer ≥ 0, got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (learning rates, clipping norms, ε)."""
    value = _number(float, text, "a number")
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def nonnegative_float(text: str) -> float:
    """A finite number ≥ 0 (β, warm-up epochs, noise levels)."""
    value = _number(float, text, "a number")
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number ≥ 0, got {text}")
    return value


def finite_float(text: str) -> float:
    """Any finite number (log-variances)."""
    value = _number(float, text, "a number")
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def fraction(text: str) -> float:
    """A number strictly between 0 and 1 (a share of the data, a target activation)."""
    value = _number(float, text, "a number")
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1, got {text}")
    return value


def unit_beta(text: str) -> float:
    """A number in [0, 1) (Adam's β₁, β₂; a moving average's decay)."""
    value = _number(float, text, "a number")
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must lie in [0, 1), got {text}")
    return value
