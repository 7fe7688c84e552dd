"""Registry entries for colorization: the colour-from-chroma map, and the U-Net
colorizer's loss for every parameter.

Checking standard: the one stated in :mod:`scratchvae.gradcheck.registry`. The map
``chroma_to_rgb`` is checked for both inputs, the luminance y and the differences ab
(the colorizer never needs dy, but a map whose dy were wrong would pass a model check
and fail here). The colorizer gets random N(0, 0.5) weights so that every ReLU sees
inputs of both signs, and a batch of 3 images of 8×8 with tiny widths (3, 4, 5): both
skip connections, both stride-2 levels and the bottom 3×3 conv are exercised.
"""
from __future__ import annotations

import numpy as np

from ..functional.colour import chroma_to_rgb_backward, chroma_to_rgb_forward
from .adapters import check_model
from .core import check_function
from .registry import F64, register


@register("chroma_to_rgb")
def check_chroma_to_rgb(seed=0, **options):
    rng = np.random.default_rng(seed)
    inputs = {"y": rng.uniform(0, 1, (2, 1, 3, 4)), "ab": rng.normal(0, 0.3, (2, 2, 3, 4))}

    def forward():
        return chroma_to_rgb_forward(inputs["y"], inputs["ab"])[0]

    def backward(dy):
        dY, dab = chroma_to_rgb_backward(dy, chroma_to_rgb_forward(inputs["y"], inputs["ab"])[1])
        return {"y": dY, "ab": dab}

    return check_function(forward, backward, inputs, op="chroma_to_rgb", seed=seed, **options)


@register("Colorizer(U-Net)")
def check_colorizer(seed=0, **options):
    from ..models.colorizer import Colorizer  # noqa: PLC0415 - models load lazily
    rng = np.random.default_rng(seed)
    model = Colorizer((8, 8), (3, 4, 5), seed=1).astype(F64)
    for _, p, _ in model.parameters():
        p[...] = rng.normal(0, 0.5, p.shape)
    target = rng.uniform(0, 1, (3, 3, 8, 8))
    y = target.mean(axis=1, keepdims=True)                  # any grey input will do
    return check_model(model, y.reshape(3, -1), op="Colorizer(U-Net)",
                       loss_kwargs={"target": target.reshape(3, -1)}, seed=seed, **options)
