"""Gradient clipping by global norm."""
from __future__ import annotations

import math

from .optimizer import check_not_stale, check_number, check_params


def global_grad_norm(params) -> float:
    """‖g‖₂ over every gradient of ``params`` taken together."""
    params = check_params(params)
    return math.sqrt(sum(float((g * g).sum()) for _, _, g in params))


def clip_grad_norm(params, max_norm: float) -> float:
    """Scale all gradients in place so their global norm is at most ``max_norm``.

    Returns the norm *before* clipping (useful to log). Non-finite norms are returned
    untouched so that the caller's NaN check sees them.
    """
    max_norm = check_number(max_norm, "max_norm", 0, low_open=True,
                            hint="the largest global gradient norm allowed, e.g. 1.0")
    params = check_params(params)
    check_not_stale(params)                       # it writes into the gradients
    norm = global_grad_norm(params)
    if math.isfinite(norm) and norm > max_norm:
        scale = max_norm / (norm + 1e-12)
        for _, _, g in params:
            g *= scale
    return norm
