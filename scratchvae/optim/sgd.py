"""Stochastic gradient descent with (optionally Nesterov) momentum.

    g ← g + λ p                      L2 weight decay (coupled, as in classic SGD)
    b ← μ b + g                      momentum buffer (b = g at the first step)
    p ← p − lr · (g + μ b  if nesterov else  b)
"""
from __future__ import annotations

from ..errors import ConfigError
from .optimizer import Optimizer, check_number


class SGD(Optimizer):
    """SGD with momentum μ (0 = plain SGD), optional Nesterov and L2 weight decay."""

    slots = ("buf",)

    def __init__(self, params, lr=1e-2, momentum=0.0, nesterov=False, weight_decay=0.0,
                 lr_schedule=None):
        momentum = check_number(momentum, "momentum", 0, hint="0 is plain SGD, e.g. 0.9")
        if nesterov and momentum <= 0:
            raise ConfigError("Nesterov momentum needs momentum > 0, e.g. momentum=0.9")
        weight_decay = check_number(weight_decay, "weight_decay", 0, hint="0 disables it")
        super().__init__(params, lr, lr_schedule)
        self.momentum, self.nesterov = momentum, bool(nesterov)
        self.weight_decay = weight_decay

    def _update(self, name, p, g, state, lr):
        d = g + self.weight_decay * p if self.weight_decay else g
        if self.momentum:
            buf = state["buf"]
            if self.t == 1:
                buf[...] = d
            else:
                buf *= self.momentum
                buf += d
            d = d + self.momentum * buf if self.nesterov else buf
        p -= lr * d
