"""Building blocks shared by the MLP models."""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..functional.checks import check_sizes
from ..nn import GatedLinear, Linear, Sequential, make_activation


def mlp(sizes, activation: str = "relu", rng=None, dtype=np.float32,
        final_activation: str = "identity", gated: bool = False) -> Sequential:
    """Linear → act → Linear → act → … → Linear [→ final_activation].

    ``sizes`` = [in, hidden₁, …, out]; e.g. ``mlp([784, 400, 40])``.

    ``gated=True`` builds GatedLinear → GatedLinear → … → Linear instead: each hidden
    layer is a gated unit h = (xW + b) ⊙ σ(xV + c), whose gate is its nonlinearity, so
    ``activation`` is not used; the output layer stays a plain Linear (the networks of
    the VampPrior VAE, Tomczak & Welling, 2018).
    """
    sizes = check_sizes(sizes, "sizes", example="[784, 400, 40]")
    if len(sizes) < 2:
        raise ConfigError(f"an MLP needs at least input and output sizes, e.g. [784, 400, 40], "
                          f"got {sizes}")
    layers = []
    for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        hidden = i < len(sizes) - 2
        if hidden and gated:
            layers.append(GatedLinear(d_in, d_out, rng=rng, dtype=dtype))
            continue
        layers.append(Linear(d_in, d_out, rng=rng, dtype=dtype))
        if hidden:
            layers.append(make_activation(activation, d_out, dtype=dtype))
    if final_activation != "identity":
        layers.append(make_activation(final_activation, sizes[-1], dtype=dtype))
    return Sequential(*layers)
