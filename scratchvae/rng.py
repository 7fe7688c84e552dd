"""Random number generators: one seed (or a Generator passed along) → one reproducible run.

Every random draw of the library — initial weights, ε, corruption masks, batch orders —
comes from a ``numpy.random.Generator`` that the caller can pass in or seed.
"""
from __future__ import annotations

import numpy as np


def as_rng(rng=None) -> np.random.Generator:
    """Accept a Generator, an int seed or None (fresh entropy) and return a Generator."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)
