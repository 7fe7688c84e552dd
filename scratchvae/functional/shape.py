"""Shape-only and masking ops: nearest-neighbour upsampling and inverted dropout.

Notation: N batch size, C channels, H, W spatial sizes, s the integer scale factor,
p the drop probability.

    upsample_nearest   (N, C, H, W) -> (N, C, s·H, s·W)   y[n, c, i, j] = x[n, c, i // s, j // s]
                       (any number of spatial axes after C: (N, C, L), (N, C, D, H, W) too)
    dropout            y = x ⊙ mask / (1 − p), mask ∈ {0, 1} drawn with P(1) = 1 − p
    concat (condition) [a, c]  (N, A), (N, K) -> (N, A+K); c is data: only a gets a gradient

Randomness is never drawn inside a forward: the dropout mask is an argument
(``dropout_mask`` draws one from a caller's generator), so a frozen mask makes
the op deterministic and gradient-checkable.
"""
from __future__ import annotations

from ..backend import get_array_module
from ..errors import ShapeError
from .checks import check_grad, check_int, check_real


# ------------------------------------------------------------- nearest upsampling
def _interleave(spatial, factors):
    """(H, W), (a, b) -> (H, a, W, b): each spatial size followed by its block size."""
    return tuple(d for pair in zip(spatial, factors) for d in pair)


def upsample_nearest_forward(x, scale):
    """Repeat every spatial entry ``scale`` times along each spatial axis.

    Args:
        x: (N, C, *S) input, S the spatial sizes (at least one axis).
        scale: integer factor s >= 1.
    Returns:
        y: (N, C, *(s·S)), cache ``(x.shape, s)``.
    """
    check_int(scale, "scale", 1, hint="the integer upsampling factor s, e.g. 2")
    if getattr(x, "ndim", 0) < 3:
        raise ShapeError(f"upsample_nearest_forward: x must be (N, C, H, W) (or (N, C, L), "
                         f"(N, C, D, H, W)), got shape {tuple(getattr(x, 'shape', ()))}")
    xp = get_array_module(x)
    n, c, *spatial = x.shape
    ones, blocks = (1,) * len(spatial), (scale,) * len(spatial)
    # view x as (N, C, H, 1, W, 1), broadcast to (N, C, H, s, W, s), then merge (H, s) -> s·H
    expanded = xp.broadcast_to(x.reshape((n, c) + _interleave(spatial, ones)),
                               (n, c) + _interleave(spatial, blocks))
    y = expanded.reshape((n, c) + tuple(scale * d for d in spatial))   # a copy
    return y, (tuple(x.shape), scale)


def upsample_nearest_backward(dy, cache):
    """dx[n, c, i, j] = Σ_{a, b < s} dy[n, c, s·i + a, s·j + b]: each s×s block summed,
    since x[n, c, i, j] was copied into every entry of that block.

    Args:
        dy: (N, C, *(s·S)) upstream gradient.
        cache: from ``upsample_nearest_forward``.
    Returns:
        dx: (N, C, *S).
    """
    shape, scale = cache
    n, c, *spatial = shape
    check_grad(dy, (n, c, *(scale * d for d in spatial)), "upsample_nearest_backward")
    blocks = dy.reshape((n, c) + _interleave(spatial, (scale,) * len(spatial)))
    return blocks.sum(axis=tuple(range(3, 3 + 2 * len(spatial), 2)))   # the block axes


# ------------------------------------------------------------------------ dropout
def dropout_mask(shape, p, rng, dtype=bool):
    """A keep-mask: each entry is 1 (kept) with probability 1 − p, independently.

    Args:
        shape: the input's shape.
        p: drop probability in [0, 1).
        rng: a ``numpy.random.Generator`` (the caller owns the randomness).
    Returns:
        a NumPy array of ``dtype`` (bool by default) with entries in {0, 1}.
    """
    check_real(p, "p", 0, 1, high_open=True, hint="the drop probability, e.g. 0.5")
    return (rng.random(shape) >= p).astype(dtype, copy=False)


def dropout_forward(x, mask, p):
    """Inverted dropout y = x ⊙ mask / (1 − p), so that E[y] = x when mask ~ Bernoulli(1 − p).

    Args:
        x: any shape.
        mask: shaped like x, entries in {0, 1} (bool or float).
        p: drop probability in [0, 1).
    Returns:
        y shaped like x, cache ``(mask, 1 / (1 − p))``.
    """
    check_real(p, "p", 0, 1, high_open=True, hint="the drop probability, e.g. 0.5")
    if getattr(mask, "shape", None) != getattr(x, "shape", ()):
        raise ShapeError(f"dropout_forward: mask must have x's shape {tuple(x.shape)}, got "
                         f"{tuple(getattr(mask, 'shape', ()))}; draw it with "
                         f"dropout_mask(x.shape, p, rng)")
    scale = 1.0 / (1.0 - p)
    return x * mask * scale, (mask, scale)


def dropout_backward(dy, cache):
    """dx = dy ⊙ mask / (1 − p): kept entries pass the gradient, scaled as in the forward."""
    mask, scale = cache
    check_grad(dy, mask.shape, "dropout_backward")
    return dy * mask * scale


# ------------------------------------------------------------- a constant condition
def concat_forward(a, c):
    """[a, c]: (N, A), (N, K) → (N, A+K). The cache is A, where the gradient is cut."""
    xp = get_array_module(a)
    if getattr(c, "ndim", None) != 2 or a.ndim != 2 or len(c) != len(a):
        raise ShapeError(f"concat_forward: a (N, A) and the condition c (N, K) need one N, got "
                         f"{tuple(a.shape)} and {tuple(getattr(c, 'shape', ()))}")
    return xp.concatenate([a, xp.asarray(c, dtype=a.dtype)], axis=1), a.shape[1]


def concat_backward(dh, cache):
    """d[a, c] (N, A+K) → da = d[a, c][:, :A] (a view); the condition c is data."""
    return dh[:, :cache]
