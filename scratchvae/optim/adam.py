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

from ..backend import dispatched, get_array_module
from ..errors import ConfigError
from .optimizer import Optimizer, check_number


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
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ConfigError(f"betas must be a pair (β₁, β₂), e.g. (0.9, 0.999), got {betas!r}")
        self.beta1 = check_number(betas[0], "betas[0] (β₁)", 0, 1, high_open=True,
                                  hint="a moment decay rate, e.g. 0.9")
        self.beta2 = check_number(betas[1], "betas[1] (β₂)", 0, 1, high_open=True,
                                  hint="a moment decay rate, e.g. 0.999")
        self.eps = check_number(eps, "eps", 0, low_open=True,
                                hint="added to the denominator, e.g. 1e-8")
        self.weight_decay = check_number(weight_decay, "weight_decay", 0,
                                         hint="0 disables the decoupled decay")

    def _update(self, name, p, g, state, lr):
        t = self.t
        adam_update(p, g, state["m"], state["v"], lr, self.beta1, self.beta2, self.eps,
                    1 - self.beta1 ** t, 1 - self.beta2 ** t, self.weight_decay)


@dispatched("adam_update")
def adam_update(p, g, m, v, lr, b1, b2, eps, bc1, bc2, weight_decay):
    """One Adam/AdamW step of p, m, v in place (module docstring); bc1 = 1 − β₁ᵗ and
    bc2 = 1 − β₂ᵗ are the bias corrections. One fused pass on the Numba and CUDA paths."""
    if weight_decay:
        p *= 1 - lr * weight_decay                    # decoupled weight decay
    m *= b1
    m += (1 - b1) * g                                 # first moment
    v *= b2
    v += (1 - b2) * (g * g)                           # second moment
    denom = get_array_module(p).sqrt(v)
    denom /= math.sqrt(bc2)
    denom += eps
    p -= (lr / bc1) * (m / denom)
    return p
