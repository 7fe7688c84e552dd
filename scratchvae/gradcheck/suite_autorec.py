"""Registry entry for item-based AutoRec: the masked reconstruction loss plus weight decay,
checked for every parameter with about a third of the ratings unobserved (the standard of
:mod:`scratchvae.gradcheck.registry`). Unobserved ratings enter the encoder as 0, as in
the paper, and are no target: a backward that let them into the loss's gradient would
pull the predictions towards 0 there and fail the check."""
from __future__ import annotations

import numpy as np

from .core import check_function
from .registry import F64, register


@register("AutoRec(masked, l2)")
def check_autorec(seed=0, **options):
    from ..models.autorec import AutoRec  # noqa: PLC0415 - models load lazily
    rng = np.random.default_rng(seed)
    model = AutoRec(n_users=7, hidden=5, l2=0.3, seed=1).astype(F64)
    for _, p, _ in model.parameters():
        p[...] = rng.normal(0, 0.7, p.shape)
    mask = rng.uniform(size=(4, 7)) > 0.35                    # (items, users) observed
    x = np.where(mask, rng.integers(1, 6, (4, 7)).astype(F64), 0.0)

    def forward():
        return model.loss_and_grads(x, mask, compute_grads=False)["loss"]

    def backward(dy):
        model.zero_grad()
        model.loss_and_grads(x, mask)
        return {name: dy * g for name, _, g in model.parameters()}

    inputs = {name: p for name, p, _ in model.parameters()}
    return check_function(forward, backward, inputs, op="AutoRec(masked, l2)", seed=seed,
                          **options)
