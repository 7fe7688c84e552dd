"""Image quality and the classical baselines learned restorers are compared with.

Notation: images x, x̂ (N, H, W) (or (N, 1, H, W)) in [0, 1]; an optional region mask
(N, H, W) selects the pixels a number is about (e.g. inside a watermark).

    MSE  = mean over the selected pixels of (x̂ − x)²
    PSNR = 10 log₁₀(peak² / MSE)  dB, per image, then averaged        (peak = 1)

The median filter replaces every pixel by the median of its k×k neighbourhood (edges
padded by reflection): it removes thin, isolated marks and keeps edges better than a
mean filter — the non-learned baseline of watermark removal.

For colorization (colour x (N, 3, H, W) from luminance L (N, 1, H, W)), the non-learned
baseline is ``PixelwiseLinearColour``: one least-squares line from L per pixel and channel.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, ShapeError

_MEDIAN_CHUNK = 500                   # images filtered together (memory: 500·k²·H·W values)


def _images(x, name):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 3:
        raise ShapeError(f"{name} must be images (N, H, W) or (N, 1, H, W), got {x.shape}")
    return x


def psnr(x, x_hat, mask=None, peak: float = 1.0) -> np.ndarray:
    """PSNR of each image (N,) in dB, over ``mask``'s pixels if given (images whose mask
    selects nothing get NaN); identical images get +inf."""
    x, x_hat = _images(x, "x"), _images(x_hat, "x_hat")
    if x.shape != x_hat.shape:
        raise ShapeError(f"x {x.shape} and x_hat {x_hat.shape} must have one shape")
    m = np.ones(x.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if m.shape != x.shape:
        raise ShapeError(f"mask must be (N, H, W) = {x.shape}, got {m.shape}")
    err = ((x_hat - x) ** 2 * m).reshape(len(x), -1).sum(axis=1)
    count = m.reshape(len(x), -1).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mse = err / count
        return 10 * np.log10(peak ** 2 / mse)


def median_filter(x, size: int = 3) -> np.ndarray:
    """The k×k median of every pixel (k odd), edges reflected: (N, H, W) float64."""
    if isinstance(size, bool) or int(size) != size or size < 1 or size % 2 == 0:
        raise ConfigError(f"size must be an odd integer ≥ 1, got {size!r}")
    x = _images(x, "x")
    r = size // 2
    out = np.empty_like(x)
    for start in range(0, len(x), _MEDIAN_CHUNK):         # k² copies of a chunk at a time
        padded = np.pad(x[start:start + _MEDIAN_CHUNK], ((0, 0), (r, r), (r, r)),
                        mode="reflect")
        windows = np.lib.stride_tricks.sliding_window_view(padded, (size, size), axis=(1, 2))
        out[start:start + _MEDIAN_CHUNK] = np.median(windows, axis=(-2, -1))
    return out


class PixelwiseLinearColour:
    """The per-pixel linear baseline of colorization: every pixel position p and channel c
    get their own least-squares line from luminance,

        x̂[c, p] = a[c, p] + b[c, p] · L[p],   (a, b) = argmin Σₙ (a + b Lₙ[p] − xₙ[c, p])²

    so b = cov(L[p], x[c, p]) / var(L[p]) and a = mean(x[c, p]) − b · mean(L[p]), over the
    training images (closed form; a position whose luminance never varies gets b = 0, the
    mean colour). It knows where colour tends to be, not what an object is.
    """

    def fit(self, L, x) -> "PixelwiseLinearColour":
        """L (N, 1, H, W) luminance, x (N, 3, H, W) colour, N ≥ 1."""
        L, x = np.asarray(L, dtype=np.float64), np.asarray(x, dtype=np.float64)
        if L.ndim != 4 or L.shape[1] != 1 or x.shape != (len(L), 3) + L.shape[2:]:
            raise ShapeError(f"fit needs L (N, 1, H, W) and x (N, 3, H, W) of one N, H, W; got "
                             f"{L.shape} and {x.shape}")
        dL, dx = L - L.mean(axis=0), x - x.mean(axis=0)
        var = (dL ** 2).mean(axis=0)                                   # (1, H, W)
        cov = (dL * dx).mean(axis=0)                                   # (3, H, W)
        self.b = np.divide(cov, var, out=np.zeros_like(cov), where=var > 1e-12)
        self.a = x.mean(axis=0) - self.b * L.mean(axis=0)
        return self

    def predict(self, L) -> np.ndarray:
        """(N, 3, H, W) float64 colour predicted from L (N, 1, H, W), clipped to [0, 1]."""
        if not hasattr(self, "b"):
            raise ConfigError("PixelwiseLinearColour: call fit(L, x) before predict")
        L = np.asarray(L, dtype=np.float64)
        if L.ndim != 4 or L.shape[1:] != (1,) + self.b.shape[1:]:
            raise ShapeError(f"predict needs L (N, 1, {self.b.shape[1]}, {self.b.shape[2]}), "
                             f"got {L.shape}")
        return np.clip(self.a + self.b * L, 0.0, 1.0)
