"""Gradient clipping by global norm."""
from __future__ import annotations

import math


def global_grad_norm(params) -> float:
    """‖g‖₂ over every gradient of ``params`` taken together."""
    return math.sqrt(sum(float((g * g).sum()) for _, _, g in params))


def clip_grad_norm(params, max_norm: float) -> float:
    """Scale all gradients in place so their global norm is at most ``max_norm``.

    Returns the norm *before* clipping (useful to log). Non-finite norms are returned
    untouched so that the caller's NaN check sees them.
    """
    if max_norm <= 0:
        raise ValueError(f"max_norm must be positive, got {max_norm}")
    norm = global_grad_norm(params)
    if math.isfinite(norm) and norm > max_norm:
        scale = max_norm / (norm + 1e-12)
        for _, _, g in params:
            g *= scale
    return norm
