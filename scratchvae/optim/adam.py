"""Adam with bias correction and optional decoupled weight decay (AdamW).

For a parameter p with gradient g, at step t (counting from 1):

    p ← p − lr·λ·p                                   decoupled weight decay (AdamW)
    m ← β₁ m + (1 − β₁) g                             first moment
    v ← β₂ v + (1 − β₂) g²                            second moment
    p ← p − lr · (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε)

written, as PyTorch does, with the corrections folded into the step size so the
update needs one temporary array.
"""
from __future__ import annotations

import math

from ..backend import cuda_path, get_array_module, numba_path
from .optimizer import Optimizer


class Adam(Optimizer):
    """Adam / AdamW.

    Args:
        params: ``model.parameters()``.
        lr: learning rate (default 1e-3).
        betas: (β₁, β₂) moment decay rates.
        eps: ε added to the denominator.
        weight_decay: λ of the decoupled decay (0 disables it; AdamW when > 0).
        lr_schedule: optional ``step -> lr``.
    """

    slots = ("m", "v")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 lr_schedule=None):
        super().__init__(params, lr, lr_schedule)
        self.beta1, self.beta2 = map(float, betas)
        self.eps, self.weight_decay = float(eps), float(weight_decay)

    def _update(self, name, p, g, state, lr):
        m, v = state["m"], state["v"]
        b1, b2, t = self.beta1, self.beta2, self.t
        bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
        if numba_path(p, g, m, v):            # the same update, one fused pass per element
            from kernels.elementwise import adam_update  # noqa: PLC0415
            if adam_update(p, g, m, v, lr, b1, b2, self.eps, bc1, bc2, self.weight_decay):
                return
        if cuda_path(p, g, m, v):             # CuPy: the same update, one CUDA pass
            from kernels.cuda.fused import adam_update as adam_update_cuda  # noqa: PLC0415
            if adam_update_cuda(p, g, m, v, lr, b1, b2, self.eps, bc1, bc2, self.weight_decay):
                return
        if self.weight_decay:
            p *= 1 - lr * self.weight_decay
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * (g * g)
        xp = get_array_module(p)
        denom = xp.sqrt(v)
        denom /= math.sqrt(bc2)
        denom += self.eps
        p -= (lr / bc1) * (m / denom)
