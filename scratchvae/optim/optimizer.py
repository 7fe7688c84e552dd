"""Optimizer base: parameter bookkeeping, learning-rate schedule hook, state dicts.

An optimizer receives ``model.parameters()`` — a list of ``(name, param, grad)``
triples — and updates each ``param`` **in place** from its ``grad``. Its state
(step count and per-parameter moments) is keyed by parameter name, so it can be
saved in a checkpoint and restored into a freshly built optimizer.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..backend import get_array_module, to_device, to_numpy
from ..errors import CheckpointError


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
        self.params = list(params)
        if not self.params:
            raise ValueError("the optimizer got no parameters (is the model empty?)")
        names = [n for n, _, _ in self.params]
        if len(set(names)) != len(names):
            raise ValueError("parameter names must be unique")
        if lr <= 0:
            raise ValueError(f"learning rate must be positive, got {lr}")
        self.base_lr = float(lr)
        self.lr_schedule = lr_schedule
        self.t = 0                                   # number of steps taken
        self.state = {n: {s: p * 0 for s in self.slots} for n, p, _ in self.params}

    @property
    def lr(self) -> float:
        """The learning rate the next ``step()`` will use."""
        return float(self.lr_schedule(self.t + 1)) if self.lr_schedule else self.base_lr

    def step(self) -> None:
        """Apply one update to every parameter from its accumulated gradient."""
        lr = self.lr
        self.t += 1
        for name, p, g in self.params:
            self._update(name, p, g, self.state[name], lr)

    def zero_grad(self) -> None:
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
