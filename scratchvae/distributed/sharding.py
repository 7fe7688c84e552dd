"""Splitting a batch over ranks so that P processes compute what one process computes.

Notation: P ranks, rank r; a global batch of B rows (examples); rank r holds the rows
[lo_r, hi_r), contiguous and in rank order, n_r = hi_r − lo_r of them: ⌊B/P⌋ each, and one
more for the first B mod P ranks. So rank 0 always holds rows (it is the rank whose
generator state the others take after a batch smaller than P, which some rank sat out).

Rows are the easy part: every rank indexes the same global batch and keeps its slice.
The noise is the subtle part. One process draws the batch's ε as one (B, L) call to its
generator; if each rank drew its own (n_r, L) from its own stream, the P-rank run would
be a different (equally valid) run, and it could never be checked against one process.
So every rank keeps an identical copy of the one generator, and
:class:`ShardedGenerator` turns each per-example draw of n_r rows into the draw of all
B rows, of which it returns rows lo_r:hi_r:

    one process       ε = g.standard_normal((B, L))
    rank r of P       ε = g.standard_normal((B, L))[lo_r:hi_r]      (same g, same state)

Every rank makes the same calls with the same global shapes, so the P copies of ``g``
stay in the same state, and ε of example i is the same number in every run, whatever
P. The price is that each rank draws all B rows of noise — B·L normals for a VAE, a few
microseconds — which is why the ε of a VAE is drawn this way and not the batch's data
(rows are indexed, not drawn).

Which axis is "per example": axis 0 for every model (ε (N, L), masks (N, D), prior
draws (N, L)), except those that declare ``noise_batch_axis`` (the IWAE model's ε is
(k, N, L): axis 1). A draw whose size on that axis is not n_r (a draw of one value, a
table) is drawn as it is, identically on every rank. Draws the rule cannot split —
distribution parameters given per example as arrays, whose other rows this rank never
saw — raise a ConfigError instead of silently becoming another run.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError


def shard_rows(n: int, rank: int, size: int) -> tuple[int, int]:
    """Rank ``rank``'s rows [lo, hi) of ``n`` rows split over ``size`` ranks (module
    docstring); empty (lo == hi) when n < size and rank ≥ n."""
    base, extra = divmod(n, size)             # the first ``extra`` ranks hold one row more
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (rank < extra)


class ShardedGenerator(np.random.Generator):
    """A ``numpy.random.Generator`` on the same bit generator as ``base`` whose
    per-example draws are rows lo:hi of the draw for all n rows (module docstring).

    ``set_rows(lo, hi, n)`` sets the window for the next draws (one batch);
    ``set_rows(None)`` makes it an ordinary generator again. Because the bit generator
    is shared, ``base`` and this generator advance one stream: a checkpoint that saves
    ``base.bit_generator.state`` saves this generator's state too.
    """

    def __init__(self, base: np.random.Generator, axis: int = 0):
        super().__init__(base.bit_generator)
        self.axis = int(axis)
        self.window = None                      # (lo, hi, n) or None

    def set_rows(self, lo, hi=None, n=None) -> None:
        self.window = None if lo is None else (int(lo), int(hi), int(n))

    # --------------------------------------------------------------- the rule
    def _global(self, size):
        """(size for all n rows, slicer back to rows lo:hi) — or (size, None) for a draw
        that is not per example."""
        if self.window is None or size is None:
            return size, None
        lo, hi, n = self.window
        shape = (int(size),) if np.isscalar(size) else tuple(int(s) for s in size)
        if len(shape) <= self.axis or shape[self.axis] != hi - lo:
            return size, None
        full = list(shape)
        full[self.axis] = n
        index = (slice(None),) * self.axis + (slice(lo, hi),)
        return tuple(full), index

    def _draw(self, method, size, params, name):
        full, index = self._global(size)
        if self.window is not None and any(np.ndim(p) for p in params):
            raise ConfigError(
                f"rng.{name} with per-example array parameters cannot be split over MPI "
                f"ranks (each rank holds only its rows of them), so this model's noise "
                f"would differ from a one-process run; train this model in one process")
        out = method(*params, size=full) if params else method(size=full)
        return out if index is None else np.ascontiguousarray(out[index])

    # ------------------------------------------------ the draws models make
    def standard_normal(self, size=None, dtype=np.float64, out=None):
        if out is not None:
            raise ConfigError("ShardedGenerator.standard_normal does not fill out=")
        sup = super().standard_normal
        return self._draw(lambda size: sup(size, dtype=dtype), size, (), "standard_normal")

    def random(self, size=None, dtype=np.float64, out=None):
        if out is not None:
            raise ConfigError("ShardedGenerator.random does not fill out=")
        sup = super().random
        return self._draw(lambda size: sup(size, dtype=dtype), size, (), "random")

    def normal(self, loc=0.0, scale=1.0, size=None):
        return self._draw(super().normal, size, (loc, scale), "normal")

    def uniform(self, low=0.0, high=1.0, size=None):
        return self._draw(super().uniform, size, (low, high), "uniform")

    def integers(self, low, high=None, size=None, dtype=np.int64, endpoint=False):
        sup = super().integers
        return self._draw(lambda lo, hi, size: sup(lo, hi, size, dtype=dtype, endpoint=endpoint),
                          size, (low, high), "integers")

    def binomial(self, n, p, size=None):
        return self._draw(super().binomial, size, (n, p), "binomial")


def _unsplittable(name):
    """A draw the row rule does not cover: refused while a window is set (it would leave
    the ranks' generators in different states), an ordinary draw otherwise."""
    def draw(self, *args, **kwargs):
        if self.window is not None:
            raise ConfigError(f"rng.{name} cannot be split over MPI ranks by rows; this "
                              f"model's noise would differ from a one-process run (draw it "
                              f"with standard_normal, random, uniform, normal, integers or "
                              f"binomial, or train this model in one process)")
        return getattr(np.random.Generator, name)(self, *args, **kwargs)
    draw.__name__ = name
    return draw


for _name in ("choice", "permutation", "permuted", "shuffle", "bytes", "exponential",
              "standard_exponential", "gamma", "standard_gamma", "beta", "poisson",
              "multinomial", "laplace", "logistic", "lognormal", "multivariate_normal",
              "dirichlet"):
    setattr(ShardedGenerator, _name, _unsplittable(_name))
del _name
