"""Several optimizers stepping together, one per parameter group.

A model whose parts minimize different objectives (a VAE-GAN's encoder, decoder and
discriminator) declares ``parameter_groups()``; each group gets an optimizer of its
own — its own learning rate and moments — and one ``step()`` steps them all, in the
groups' order, after one backward pass has filled every gradient (simultaneous
updates). With a single group this is exactly that group's optimizer.

The state dict merges the groups' per-parameter state (parameter names are unique
across groups) and records each group's step count and learning rate.
"""
from __future__ import annotations

from ..errors import CheckpointError, ConfigError
from .optimizer import check_not_stale


class OptimizerGroups:
    """``{group name: optimizer}`` behaving as one optimizer."""

    def __init__(self, optimizers: dict):
        if not isinstance(optimizers, dict) or not optimizers:
            raise ConfigError(f"OptimizerGroups needs a dict {{group name: optimizer}} with at "
                              f"least one optimizer, got {optimizers!r}")
        for g, opt in optimizers.items():
            if not (hasattr(opt, "step") and hasattr(opt, "state_dict")):
                raise ConfigError(f"group {g!r} holds {type(opt).__name__}, not an optimizer "
                                  f"(e.g. Adam(model.parameter_groups()[{g!r}]))")
        self.optimizers = dict(optimizers)
        self.first = next(iter(self.optimizers.values()))

    def step(self) -> None:
        for opt in self.optimizers.values():       # every group checked before any steps
            check_not_stale(opt.params)
        for opt in self.optimizers.values():
            opt.step()

    @property
    def t(self) -> int:
        """Steps taken (every group steps together)."""
        return self.first.t

    @property
    def lr(self) -> float:
        """The learning rate of the first group's next step."""
        return self.first.lr

    @property
    def params(self) -> list:
        return [p for opt in self.optimizers.values() for p in opt.params]

    def state_dict(self) -> dict:
        parts = {g: opt.state_dict() for g, opt in self.optimizers.items()}
        state = {name: slots for sd in parts.values() for name, slots in sd["state"].items()}
        return {"type": type(self.first).__name__, "t": self.first.t,
                "base_lr": self.first.base_lr, "state": state,
                "groups": {g: {"t": sd["t"], "base_lr": sd["base_lr"]} for g, sd in parts.items()}}

    def load_state_dict(self, sd: dict) -> None:
        groups = sd.get("groups") or {g: {"t": sd["t"], "base_lr": sd["base_lr"]}
                                      for g in self.optimizers}
        if set(groups) != set(self.optimizers):
            raise CheckpointError(f"the checkpoint's optimizer groups {sorted(groups)} do not "
                                  f"match the model's {sorted(self.optimizers)}")
        for g, opt in self.optimizers.items():          # validate everything first
            names = {n for n, _, _ in opt.params}
            missing = names - set(sd["state"])
            if missing:
                raise CheckpointError(f"optimizer state of group {g!r} lacks {sorted(missing)}")
        for g, opt in self.optimizers.items():
            names = {n for n, _, _ in opt.params}
            opt.load_state_dict({**groups[g], "state": {n: v for n, v in sd["state"].items()
                                                        if n in names}})
