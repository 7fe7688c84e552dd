"""Learning-rate schedules: plain functions ``step -> lr`` (step counts from 1).

Pass one as ``lr_schedule=`` to any optimizer. Being pure functions of the step,
they need no saved state: a resumed run recomputes the same learning rates.
"""
from __future__ import annotations

import math
import numbers

from ..errors import ConfigError
from .optimizer import check_number


def _steps(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ConfigError(f"{name} must be an integer ≥ 1 (a number of steps), got {value!r}")
    return int(value)


def constant(lr: float):
    lr = check_number(lr, "lr", 0, low_open=True, hint="the learning rate, e.g. 1e-3")
    return lambda step: lr


def exponential_decay(lr: float, gamma: float, every: int = 1):
    """lr · γ^⌊(step − 1) / every⌋."""
    lr = check_number(lr, "lr", 0, low_open=True, hint="the learning rate, e.g. 1e-3")
    gamma = check_number(gamma, "gamma", 0, low_open=True, hint="the decay factor, e.g. 0.97")
    every = _steps(every, "every")
    return lambda step: lr * gamma ** ((step - 1) // every)


def cosine(lr: float, total_steps: int, min_lr: float = 0.0):
    """Cosine from lr down to min_lr over total_steps, then flat at min_lr."""
    lr = check_number(lr, "lr", 0, low_open=True, hint="the learning rate, e.g. 1e-3")
    total_steps = _steps(total_steps, "total_steps")
    min_lr = check_number(min_lr, "min_lr", 0, lr, hint="the final rate, at most lr")

    def f(step):
        frac = min(step - 1, total_steps) / max(total_steps, 1)
        return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * frac))
    return f


def linear_warmup(schedule, warmup_steps: int):
    """Scale ``schedule`` linearly from 1/warmup_steps up to 1 over the first steps."""
    if not callable(schedule):
        raise ConfigError(f"linear_warmup wraps a schedule (a function step -> lr, e.g. "
                          f"constant(1e-3)), got {schedule!r}")
    warmup_steps = _steps(warmup_steps, "warmup_steps")
    return lambda step: schedule(step) * min(1.0, step / warmup_steps)
