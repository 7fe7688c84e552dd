"""Random number generators for initialisation: one seed → one reproducible model."""
from __future__ import annotations

import numpy as np


def as_rng(rng=None) -> np.random.Generator:
    """Accept a Generator, an int seed or None (fresh entropy) and return a Generator."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)
