"""Optimizer base: parameter bookkeeping, learning-rate schedule hook, state dicts.

An optimizer receives ``model.parameters()`` — a list of ``(name, param, grad)``
triples — and updates each ``param`` **in place** from its ``grad``. Its state
(step count and per-parameter moments) is keyed by parameter name, so it can be
saved in a checkpoint and restored into a freshly built optimizer.

Stale arrays. ``model.astype(...)``/``model.to(...)`` replace the model's arrays; an
optimizer built before that would go on updating the old ones and training would
silently change nothing. ``step()`` (and ``zero_grad()``) refuse, before touching any
array: each triple of ``model.parameters()`` remembers the dict that holds its array
(``home``), and the replaced NumPy arrays are read-only. The check is one dict lookup
and one identity test per parameter — under a microsecond per step for a VAE.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import numpy as np

from ..backend import get_array_module, to_device, to_numpy
from ..errors import CheckpointError, ConfigError

STALE = ("the model's arrays were replaced by astype()/to() after this optimizer (or this "
         "parameter list) was built: parameter {name!r} is no longer the model's; build the "
         "optimizer, from model.parameters(), after casting or moving the model")


def check_number(value, name: str, low: float, high: float | None = None,
                 low_open: bool = False, high_open: bool = False, hint: str = "") -> float:
    """A finite real number in the interval given; a ConfigError naming it otherwise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
            or not math.isfinite(float(value)) \
            or (float(value) <= low if low_open else float(value) < low) \
            or (high is not None and (float(value) >= high if high_open else float(value) > high)):
        lo = ("(" if low_open else "[") + f"{low:g}"
        hi = "inf)" if high is None else f"{high:g}" + (")" if high_open else "]")
        raise ConfigError(f"{name} must be a finite number in {lo}, {hi}, got {value!r}"
                          f"{'; ' + hint if hint else ''}")
    return float(value)


def check_not_stale(params) -> None:
    """ConfigError if any (name, param, grad) triple holds an array that ``astype()``/``to()``
    has replaced in its model (module docstring); reads no array."""
    for t in params:
        home = getattr(t, "home", None)
        if home is not None:
            if home[0].get(home[1]) is not t[1]:
                raise ConfigError(STALE.format(name=t[0]))
        elif isinstance(t[1], np.ndarray) and not t[1].flags.writeable:
            raise ConfigError(STALE.format(name=t[0]) + " (or the array is read-only)")


def check_params(params) -> list:
    """``model.parameters()``: (name, param, grad) triples of arrays of one shape each."""
    try:
        params = list(params)
    except TypeError:
        raise ConfigError(f"an optimizer takes model.parameters(), a list of (name, param, grad) "
                          f"triples, got {type(params).__name__}") from None
    for t in params:
        if not (isinstance(t, tuple) and len(t) == 3 and isinstance(t[0], str)
                and hasattr(t[1], "shape") and hasattr(t[2], "shape")):
            raise ConfigError(f"an optimizer takes model.parameters(), (name, param, grad) "
                              f"triples; got an entry {type(t).__name__} {str(t)[:60]}")
        if tuple(t[1].shape) != tuple(t[2].shape):
            raise ConfigError(f"parameter {t[0]!r} has shape {tuple(t[1].shape)} but its gradient "
                              f"{tuple(t[2].shape)}; pass model.parameters()")
    return params


class Optimizer:
    """Base class. Subclasses implement ``_update(name, p, g, state, lr)``.

    Args:
        params: ``model.parameters()``.
        lr: the base learning rate.
        lr_schedule: optional ``step -> learning rate`` (step counts from 1); it
            replaces ``lr`` when given. See :mod:`scratchvae.optim.schedules`.
    """

    #: names of the per-parameter state arrays this optimizer keeps
    slots: tuple[str, ...] = ()

    def __init__(self, params, lr: float, lr_schedule: Callable[[int], float] | None = None):
        self.params = check_params(params)
        if not self.params:
            raise ConfigError("the optimizer got no parameters (is the model empty?); pass "
                              "model.parameters()")
        names = [n for n, _, _ in self.params]
        if len(set(names)) != len(names):
            raise ConfigError("parameter names must be unique (the same model's parameters "
                              "passed twice?)")
        self.base_lr = check_number(lr, "the learning rate lr", 0, low_open=True,
                                    hint="the learning rate must be positive, e.g. 1e-3")
        if lr_schedule is not None and not callable(lr_schedule):
            raise ConfigError(f"lr_schedule must be a function step -> learning rate (see "
                              f"scratchvae.optim.schedules), got {lr_schedule!r}")
        self.lr_schedule = lr_schedule
        check_not_stale(self.params)
        self.t = 0                                   # number of steps taken
        self.state = {n: {s: get_array_module(p).zeros_like(p) for s in self.slots}
                      for n, p, _ in self.params}          # zeros, even beside an inf in p

    @property
    def lr(self) -> float:
        """The learning rate the next ``step()`` will use."""
        return float(self.lr_schedule(self.t + 1)) if self.lr_schedule else self.base_lr

    def step(self) -> None:
        """Apply one update to every parameter from its accumulated gradient."""
        check_not_stale(self.params)              # before any array is touched
        lr = self.lr
        if not (math.isfinite(lr) and lr >= 0):
            raise ConfigError(f"the learning rate of step {self.t + 1} is {lr!r}; the lr_schedule "
                              f"must return finite numbers ≥ 0")
        self.t += 1
        for name, p, g in self.params:
            self._update(name, p, g, self.state[name], lr)

    def zero_grad(self) -> None:
        check_not_stale(self.params)
        for _, _, g in self.params:
            g.fill(0)

    def _update(self, name, p, g, state, lr):
        raise NotImplementedError

    # --------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict:
        return {"t": self.t, "base_lr": self.base_lr,
                "state": {n: {k: to_numpy(v).copy() for k, v in s.items()}
                          for n, s in self.state.items()}}

    def load_state_dict(self, sd: dict) -> None:
        if set(sd["state"]) != set(self.state):
            raise CheckpointError("optimizer state does not match the model's parameters: "
                                  f"missing {sorted(set(self.state) - set(sd['state']))}, "
                                  f"unexpected {sorted(set(sd['state']) - set(self.state))}")
        for name, slots in self.state.items():     # validate everything before changing anything
            if set(sd["state"][name]) != set(slots):
                raise CheckpointError(
                    f"optimizer state for {name!r} has slots {sorted(sd['state'][name])}, "
                    f"{type(self).__name__} keeps {sorted(slots)} (a state saved by another optimizer?)")
            for k, target in slots.items():
                shape = np.shape(sd["state"][name][k])
                if shape != target.shape:
                    raise CheckpointError(f"optimizer slot {name}.{k} has shape {shape}, "
                                          f"expected {target.shape}")
        self.t = int(sd["t"])
        self.base_lr = float(sd["base_lr"])
        for name, slots in self.state.items():
            for k, target in slots.items():
                value = np.asarray(sd["state"][name][k])
                target[...] = value if get_array_module(target) is np else to_device(value, "cuda")
