"""Layers with hand-written forward and backward passes.

Every layer follows the contract in :mod:`scratchvae.nn.module`: ``forward(x)``
keeps a cache, ``backward(dy)`` returns dL/dx and adds into ``grads``.
"""
from .activations import (
    ACTIVATIONS, Identity, LeakyReLU, ParametricTanh, ReLU, Sigmoid, Softplus, Tanh,
    make_activation,
)
from .batchnorm import BatchNorm1d, BatchNorm2d
from .conv import Conv2d, ConvTranspose2d
from .linear import Linear
from .module import Module, Sequential
from .shape import Dropout, Flatten, Reshape, Unflatten, Upsample
from .gated import GatedConv2d, GatedConvTranspose2d, GatedLinear

__all__ = [
    "Module", "Sequential", "Linear", "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "Softplus",
    "ParametricTanh", "Identity", "ACTIVATIONS", "make_activation",
    "Conv2d", "ConvTranspose2d", "BatchNorm1d", "BatchNorm2d", "Flatten", "Unflatten", "Reshape", "Upsample", "Dropout",
    "GatedLinear", "GatedConv2d", "GatedConvTranspose2d",
]
