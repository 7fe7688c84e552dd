"""The colorizer: a small U-Net that predicts colour from luminance.

Notation: N batch, H×W pixels (H, W divisible by 4), c₁, c₂, c₃ channel widths;
Y (N, 1, H, W) the grey (luminance) image, x (N, 3, H, W) the colour image in [0, 1].

    e₁ = ReLU(Conv3×3(Y))                         (N, c₁, H, W)      full resolution
    e₂ = ReLU(Conv4×4/2(e₁))                      (N, c₂, H/2, W/2)
    e₃ = ReLU(Conv3×3(ReLU(Conv4×4/2(e₂))))       (N, c₃, H/4, W/4)  the widest view
    d₂ = ReLU(ConvT4×4/2(e₃))                     (N, c₂, H/2, W/2)
    d₁ = ReLU(ConvT4×4/2([d₂, e₂]))               (N, c₁, H, W)      skip: concat channels
    ab = Conv3×3([d₁, e₁])                        (N, 2, H, W)       a = R − Y, b = B − Y
    x̂  = chroma_to_rgb(Y, ab)                     (N, 3, H, W)       luminance of x̂ is Y

    loss = (1/N) Σₙ ‖x̂ₙ − xₙ‖²                    summed over 3·H·W, averaged over N

Why this shape. The encoder half sees a wide window (the bottom layer's receptive
field covers most of a 28×28 or 32×32 image), so it can tell *what* an object is and
hence its likely colour; the skip connections [d₂, e₂] and [d₁, e₁] (U-Net, Ronneberger
et al. 2015) carry the exact edges back to full resolution, so colour stays inside the
object's outline instead of bleeding out of a blurry bottleneck. The network predicts
only the two colour differences (:mod:`scratchvae.functional.colour`): the luminance is
copied from the input exactly.

Why deterministic, not a CVAE. The task's measures, per-pixel squared error and PSNR,
are minimized by the conditional *mean* colour E[x | Y], which is what a squared-error
regressor learns. A conditional VAE would instead sample plausible colourings; each
sample pays the conditional variance on top (an exact sample from p(x | Y) has twice the
mean's expected squared error), so it scores lower on these measures even when it is
right. The price of the mean is desaturation where the colour is ambiguous (an object
that comes in red or blue becomes a muddy average): tutorial 14 shows where.

Backward, the graph in reverse (each skip's gradient splits along the channels and
joins the gradient that reaches the same tensor through the deeper path):

    dx̂          = 2 (x̂ − x) / N
    dab         = chroma_to_rgb_backward(dx̂)            (dY unused: Y is data)
    [dd₁, de₁′] = head.backward(dab)
    [dd₂, de₂′] = up₁.backward(dd₁)
    de₃         = up₂.backward(dd₂)
    de₂         = down₃.backward(de₃) + de₂′
    de₁         = down₂.backward(de₂) + de₁′
                  down₁.backward(de₁)                   (input is data: no dY)

Inputs travel flat, as for every model the Trainer feeds: Y as (N, H·W) and x as
(N, 3·H·W); images (N, 1, H, W) and (N, 3, H, W) are accepted too.
"""
from __future__ import annotations

import numpy as np

from ..distributions.likelihoods import squared_error
from ..errors import ShapeError, check_float_array
from ..functional.checks import check_dtype, check_int, check_sizes
from ..functional.colour import chroma_to_rgb_backward, chroma_to_rgb_forward
from ..nn import ReLU, Sequential
from ..nn.conv import Conv2d, ConvTranspose2d
from ..rng import as_rng
from .base import Model


class Colorizer(Model):
    """U-Net colorizer: batches are (luminance (N, H·W), colour target (N, 3·H·W)).

    Args:
        image_shape: (H, W) of the images, both divisible by 4.
        channels: (c₁, c₂, c₃), the widths at full, half and quarter resolution.
        seed: seeds the initial weights.
    """

    name = "colorizer"
    terms = ("loss",)
    inputs = ("x", "target")

    def __init__(self, image_shape=(32, 32), channels=(16, 32, 64), seed: int = 0,
                 dtype=np.float32):
        H, W = check_sizes(image_shape, "image_shape", example="(32, 32)", length=2)
        c1, c2, c3 = check_sizes(channels, "channels", example="(16, 32, 64)", length=3)
        check_int(seed, "seed", 0, hint="e.g. seed=0")
        check_dtype(dtype)
        if H % 4 or W % 4:
            raise ShapeError(f"Colorizer needs H and W divisible by 4 (two stride-2 levels), "
                             f"got image_shape {(H, W)}; crop or pad the images")
        super().__init__(dict(image_shape=[H, W], channels=[c1, c2, c3], seed=int(seed)))
        self.image_shape = (H, W)
        rng = as_rng(seed)
        same = dict(kernel_size=3, stride=1, padding=1, rng=rng, dtype=dtype)   # keeps H×W
        half = dict(kernel_size=4, stride=2, padding=1, rng=rng, dtype=dtype)   # halves/doubles
        self.down1 = Sequential(Conv2d(1, c1, **same), ReLU())
        self.down2 = Sequential(Conv2d(c1, c2, **half), ReLU())
        self.down3 = Sequential(Conv2d(c2, c3, **half), ReLU(), Conv2d(c3, c3, **same), ReLU())
        self.up2 = Sequential(ConvTranspose2d(c3, c2, **half), ReLU())
        self.up1 = Sequential(ConvTranspose2d(2 * c2, c1, **half), ReLU())
        self.head = Conv2d(2 * c1, 2, **same)

    # ------------------------------------------------------------------ inputs
    def _images(self, a, channels: int, name: str):
        """a as (N, channels, H, W) in the model's dtype: flat (N, channels·H·W) or images."""
        H, W = self.image_shape
        a = self.xp().asarray(a)
        if a.ndim == 2 and a.shape[1] == channels * H * W:
            a = a.reshape(len(a), channels, H, W)
        if a.ndim != 4 or a.shape[1:] != (channels, H, W):
            raise ShapeError(f"{name} must be (N, {channels * H * W}) or (N, {channels}, {H}, {W}) "
                             f"for this Colorizer (image_shape={(H, W)}), got {tuple(a.shape)}")
        return check_float_array(a, name).astype(self.dtype, copy=False)  # float, non-empty, finite

    # ------------------------------------------------------------------ the pass
    def forward(self, y):
        """Colour x̂ (N, 3, H, W), unclipped, from luminance y (N, 1, H, W); the layers keep
        their caches for :meth:`backward`."""
        xp = self.xp()
        e1 = self.down1.forward(y)                                      # (N, c₁, H, W)
        e2 = self.down2.forward(e1)                                     # (N, c₂, H/2, W/2)
        d2 = self.up2.forward(self.down3.forward(e2))                   # (N, c₂, H/2, W/2)
        d1 = self.up1.forward(xp.concatenate([d2, e2], axis=1))         # (N, c₁, H, W)
        ab = self.head.forward(xp.concatenate([d1, e1], axis=1))        # (N, 2, H, W)
        rgb, self._colour_cache = chroma_to_rgb_forward(y, ab)
        self._widths = (d2.shape[1], d1.shape[1])
        return rgb

    def backward(self, drgb) -> None:
        """ADD every parameter's gradient into ``grads`` given dL/dx̂ (N, 3, H, W)."""
        c2, c1 = self._widths
        _, dab = chroma_to_rgb_backward(drgb, self._colour_cache)       # y is data
        dcat1 = self.head.backward(dab)                                 # (N, 2c₁, H, W)
        dcat2 = self.up1.backward(dcat1[:, :c1])                        # (N, 2c₂, H/2, W/2)
        de2 = self.down3.backward(self.up2.backward(dcat2[:, :c2]))
        de2 += dcat2[:, c2:]                                            # + the skip's share
        de1 = self.down2.backward(de2)
        de1 += dcat1[:, c1:]
        self.down1.backward(de1, input_grad=False)

    def loss_and_grads(self, x, target, compute_grads: bool = True) -> dict:
        """Forward (and backward) on a batch: luminance x, colour target; returns
        ``{"loss", "rgb"}``, loss the squared error per image. Gradients are ADDED into
        ``grads`` — call ``zero_grad()`` first."""
        y = self._images(x, 1, "x (the luminance)")
        t = self._images(target, 3, "target (the colour image)")
        if len(t) != len(y):
            raise ShapeError(f"target has {len(t)} images but x has {len(y)}; they must match")
        rgb = self.forward(y)
        loss, grads = squared_error(rgb, t, check_data=False)           # checked above
        if compute_grads:
            self.backward(grads["pred"])
        return {"loss": float(loss), "rgb": rgb}

    # --------------------------------------------------------------- inference
    def colorize(self, y, batch_size: int = 500):
        """Colour images (N, 3, H, W) in [0, 1] from luminance (N, H·W) or (N, 1, H, W).

        The output is clipped to [0, 1]; every target lies there, so clipping can only
        lower the error. Its luminance is the input's wherever no channel was clipped."""
        y = self._images(y, 1, "y (the luminance)")
        parts = [self.forward(y[i:i + batch_size]) for i in range(0, len(y), batch_size)]
        return self.xp().clip(self.xp().concatenate(parts), 0.0, 1.0)
