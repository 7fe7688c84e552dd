"""Registry entries for the dense layers and activations of :mod:`scratchvae.nn`:
Linear (with and without bias), ReLU, LeakyReLU, Tanh, Sigmoid, Softplus, Identity,
ParametricTanh (per feature and shared), a small Sequential MLP, and the gated
dense layer GatedLinear (with and without biases, and in a gated MLP).

Checking standard: the one stated in :mod:`scratchvae.gradcheck.registry`. Each entry
checks the input and every parameter of one tiny layer on an input with |x| in
[0.1, 2] (off ReLU's kink at 0).
"""
from __future__ import annotations

from .. import nn
from .registry import register_layer


def parametric_tanh(rng, features):
    """A ParametricTanh a·tanh(b·x) with a and b drawn from [0.5, 1.5], not left at 1:
    a backward that confused either factor with 1 would pass at a = b = 1."""
    layer = nn.ParametricTanh(features)
    size = layer.params["a"].shape
    layer.params["a"][...] = rng.uniform(0.5, 1.5, size)
    layer.params["b"][...] = rng.uniform(0.5, 1.5, size)
    return layer


register_layer("Linear", lambda r: nn.Linear(5, 3, rng=r), (4, 5))
register_layer("Linear(bias=False)", lambda r: nn.Linear(5, 3, bias=False, rng=r), (4, 5))
register_layer("ReLU", lambda r: nn.ReLU(), (4, 6))
register_layer("LeakyReLU", lambda r: nn.LeakyReLU(0.1), (4, 6))
register_layer("Tanh", lambda r: nn.Tanh(), (4, 6))
register_layer("Sigmoid", lambda r: nn.Sigmoid(), (4, 6))
register_layer("Softplus", lambda r: nn.Softplus(), (4, 6))
register_layer("Identity", lambda r: nn.Identity(), (4, 6))
register_layer("ParametricTanh", lambda r: parametric_tanh(r, 6), (4, 6))
register_layer("ParametricTanh(shared)", lambda r: parametric_tanh(r, None), (4, 6))
register_layer("Sequential(MLP)", lambda r: nn.Sequential(nn.Linear(5, 7, rng=r), nn.Tanh(),
                                                          nn.Linear(7, 3, rng=r)), (4, 5))
register_layer("GatedLinear", lambda r: nn.GatedLinear(5, 3, rng=r), (4, 5))
register_layer("GatedLinear(bias=False)", lambda r: nn.GatedLinear(5, 3, bias=False, rng=r),
               (4, 5))
register_layer("Sequential(gated MLP)", lambda r: nn.Sequential(nn.GatedLinear(5, 7, rng=r),
                                                                nn.GatedLinear(7, 6, rng=r),
                                                                nn.Linear(6, 3, rng=r)), (4, 5))
