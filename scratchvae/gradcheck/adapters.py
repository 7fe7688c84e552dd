"""Adapters that turn layers and models into ``check_function`` calls."""
from __future__ import annotations

import numpy as np

from .core import GradcheckReport, check_function


def check_module(module, x, *, op: str | None = None, check_input: bool = True,
                 **kwargs) -> GradcheckReport:
    """Check a layer's ``backward`` for its input and every parameter.

    The module must already be float64 (``module.astype(np.float64)``) and ``x``
    a float64 array. Any randomness inside the module must be frozen by the
    caller (e.g. a fixed dropout mask). ``kwargs`` go to :func:`check_function`.
    """
    inputs = {"x": x} if check_input else {}
    inputs.update({name: p for name, p, _ in module.parameters()})

    def forward():
        return module.forward(x)

    def backward(dy):
        module.zero_grad()
        module.forward(x)
        dx = module.backward(dy)
        grads = {name: g.copy() for name, _, g in module.parameters()}
        if check_input:
            grads["x"] = dx
        return grads

    return check_function(forward, backward, inputs, op=op or type(module).__name__, **kwargs)


def check_model(model, x, *, op: str | None = None, loss_kwargs: dict | None = None,
                **kwargs) -> GradcheckReport:
    """Check a model's ``loss_and_grads`` for every parameter.

    ``loss_kwargs`` must freeze all randomness (e.g. ``{"eps": frozen_noise}`` for
    a VAE). The checked scalar is the ``"loss"`` entry of the returned dict.
    """
    loss_kwargs = loss_kwargs or {}
    inputs = {name: p for name, p, _ in model.parameters()}

    def forward():
        return float(model.loss_and_grads(x, **loss_kwargs)["loss"])

    def backward(dy):
        model.zero_grad()
        model.loss_and_grads(x, **loss_kwargs)
        return {name: dy * g for name, _, g in model.parameters()}

    return check_function(forward, backward, inputs, op=op or type(model).__name__, **kwargs)


def as_float64(*arrays):
    return tuple(np.asarray(a, dtype=np.float64) for a in arrays)
