"""Learning-rate schedules: plain functions ``step -> lr`` (step counts from 1).

Pass one as ``lr_schedule=`` to any optimizer. Being pure functions of the step,
they need no saved state: a resumed run recomputes the same learning rates.
"""
from __future__ import annotations

import math


def constant(lr: float):
    return lambda step: lr


def exponential_decay(lr: float, gamma: float, every: int = 1):
    """lr · γ^⌊(step − 1) / every⌋."""
    return lambda step: lr * gamma ** ((step - 1) // every)


def cosine(lr: float, total_steps: int, min_lr: float = 0.0):
    """Cosine from lr down to min_lr over total_steps, then flat at min_lr."""
    def f(step):
        frac = min(step - 1, total_steps) / max(total_steps, 1)
        return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * frac))
    return f


def linear_warmup(schedule, warmup_steps: int):
    """Scale ``schedule`` linearly from 1/warmup_steps up to 1 over the first steps."""
    return lambda step: schedule(step) * min(1.0, step / warmup_steps)
