"""An MLP discriminator with a feature tap: the learned similarity metric of a VAE-GAN.

Notation: N batch, D data dimensions, H₁ … H_K hidden widths, l the tapped layer
(1 ≤ l ≤ K), F = H_l the feature size.

    body:  x (N, D) → [Linear → LeakyReLU] × l                     → f = Dis_l(x) (N, F)
    head:  f (N, F) → [Linear → LeakyReLU] × (K − l) → Linear       → logit (N, 1)

D(x) = σ(logit) is the probability that x is real. The forward returns both the logit
and the hidden features Dis_l(x), because a VAE-GAN (Larsen et al. 2016) measures
reconstructions in that feature space. Backward takes one upstream gradient per
output and joins them where the feature tap leaves the body:

    df_total = head.backward(dlogit) + dfeat          (both reach f: their sum)
    dx       = body.backward(df_total)

Why an MLP and not a conv net: on the 2-core development machine one forward and
backward pass over 192 28×28 images took 16 ms for this MLP (784-512-256-1) and
93 ms for a two-layer stride-2 conv net (32 and 64 channels), and a VAE-GAN step runs
the discriminator three times (see ``models/vae_gan.py``).
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, ShapeError
from ..functional.checks import (
    check_array, check_dtype, check_grad, check_int, check_real, check_seed, check_sizes,
    is_integer,
)
from ..nn import LeakyReLU, Linear, Module, Sequential, make_activation
from ..nn.activations import activation_key
from ..rng import as_rng


def check_discriminator_args(hidden, feature_layer, activation, name: str = "hidden") -> None:
    """Refuse hidden widths that are not positive integers (at least one: the features),
    a feature layer outside 1..K (or −1) and an unknown activation, before building;
    ``name`` is what the caller calls the widths ("hidden", "dis_hidden")."""
    k = len(check_sizes(hidden, name, min_len=1, example="(512, 256)",
                        what=" (a Discriminator needs at least one hidden layer: its features)"))
    if not (is_integer(feature_layer) and (int(feature_layer) == -1
                                           or 1 <= int(feature_layer) <= k)):
        raise ConfigError(f"feature_layer must be in 1..{k} (or −1 for the last hidden layer), "
                          f"got {feature_layer!r}")
    activation_key(activation)


def _activation(name: str, negative_slope: float, width: int, dtype):
    if activation_key(name) == "leaky_relu":
        return LeakyReLU(negative_slope)                # the GAN default slope 0.2
    return make_activation(name, width, dtype=dtype)


class Discriminator(Module):
    """MLP discriminator returning ``(logit, features)``.

    Args:
        input_dim: D.
        hidden: widths H₁ … H_K (K ≥ 1).
        feature_layer: l, the hidden layer whose activations are the features
            (1-based; −1, the default, is the last hidden layer).
        activation: hidden activation ("leaky_relu", "relu", "tanh", ...).
        negative_slope: LeakyReLU slope (0.2, as in DCGAN).
        seed: a Generator or int seed for the initial weights.
        dtype: float32 (default) or float64.
    """

    def __init__(self, input_dim=784, hidden=(512, 256), feature_layer=-1,
                 activation="leaky_relu", negative_slope=0.2, seed=0, dtype=np.float32):
        super().__init__()
        check_int(input_dim, "input_dim", 1, hint="the number of data dimensions D, e.g. 784")
        check_discriminator_args(hidden, feature_layer, activation)
        check_real(negative_slope, "negative_slope", hint="the LeakyReLU slope, e.g. 0.2")
        check_seed(seed, "seed")
        check_dtype(dtype)
        hidden = [int(h) for h in hidden]
        k = len(hidden)
        layer = k if feature_layer == -1 else int(feature_layer)
        self._feat_shape = None
        self.input_dim, self.feature_layer = int(input_dim), layer
        self.feature_dim = hidden[layer - 1]                  # F
        rng = as_rng(seed)
        sizes = [self.input_dim, *hidden]
        blocks = []                                      # [Linear, act] for each hidden layer
        for d_in, d_out in zip(sizes[:-1], sizes[1:]):
            blocks.append([Linear(d_in, d_out, rng=rng, dtype=dtype),
                           _activation(activation, negative_slope, d_out, dtype)])
        self.body = Sequential(*[m for b in blocks[:layer] for m in b])
        self.head = Sequential(*[m for b in blocks[layer:] for m in b],
                               Linear(hidden[-1], 1, rng=rng, dtype=dtype))

    def forward(self, x):
        """x (N, D) → (logit (N, 1), features Dis_l(x) (N, F))."""
        check_array(x, "x", dtypes=None, allow_empty=True)
        if x.ndim != 2 or x.shape[1] != self.input_dim:
            raise ShapeError(f"Discriminator expects inputs of shape (N, {self.input_dim}), "
                             f"got {tuple(x.shape)}; flatten images with x.reshape(len(x), -1)")
        feat = self.body.forward(x)                      # (N, F)
        self._feat_shape = feat.shape                    # what backward's dfeat must match
        logit = self.head.forward(feat)                  # (N, 1)
        return logit, feat

    def backward(self, dlogit, dfeat=None):
        """Given dL/dlogit (N, 1) and dL/dfeatures (N, F), add parameter gradients into
        ``grads`` and return dL/dx (N, D). Either may be None (a zero gradient); with
        ``dlogit=None`` the head is skipped (its cache is left to the next forward)."""
        if dlogit is None and dfeat is None:
            raise ConfigError("Discriminator.backward needs dlogit, dfeat or both")
        if dfeat is not None and self._feat_shape is not None:   # dlogit: the head checks it
            check_grad(dfeat, self._feat_shape, "Discriminator.backward", "dfeat")
        if dlogit is None:
            return self.body.backward(dfeat)             # only the features' path
        df = self.head.backward(dlogit)                  # the logit's path back to f
        if dfeat is not None:
            df = df + dfeat                              # plus the features' own gradient
        return self.body.backward(df)

    def extra_repr(self):
        return f"input_dim={self.input_dim}, feature_layer={self.feature_layer}"
