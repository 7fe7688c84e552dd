"""The colour-from-chroma map (exact luminance, exact inverse), the U-Net colorizer (shapes,
errors, training through the Trainer) and the colour data sets."""
import numpy as np
import pytest

from scratchvae.data.cifar10 import find_cifar10
from scratchvae.data.colour import default_colour_set, load_colour_images
from scratchvae.errors import ConfigError, DataError, DTypeError, NonFiniteError, ShapeError
from scratchvae.functional.colour import (
    LUMA, chroma_to_rgb_backward, chroma_to_rgb_forward, luminance, rgb_to_chroma,
)
from scratchvae.models import Colorizer
from scratchvae.train import TrainConfig, Trainer


def test_chroma_round_trip_is_exact_and_any_chroma_keeps_the_luminance():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(3, 3, 5, 4))
    y, ab = rgb_to_chroma(x)
    np.testing.assert_allclose(y[:, 0], np.einsum("c,nchw->nhw", LUMA, x))
    np.testing.assert_allclose(ab[:, 0], x[:, 0] - y[:, 0])            # a = R − Y
    np.testing.assert_allclose(ab[:, 1], x[:, 2] - y[:, 0])            # b = B − Y
    np.testing.assert_allclose(chroma_to_rgb_forward(y, ab)[0], x, atol=1e-15)
    rgb, _ = chroma_to_rgb_forward(y, rng.normal(size=ab.shape))       # any (a, b) at all
    np.testing.assert_allclose(luminance(rgb), y, atol=1e-14)
    assert luminance(x.astype(np.float32)).dtype == np.float32


def test_chroma_backward_is_the_transpose_of_the_linear_map():
    rng = np.random.default_rng(1)
    y, ab = rng.uniform(size=(2, 1, 3, 3)), rng.normal(size=(2, 2, 3, 3))
    drgb = rng.normal(size=(2, 3, 3, 3))
    _, cache = chroma_to_rgb_forward(y, ab)
    dy, dab = chroma_to_rgb_backward(drgb, cache)
    # ⟨drgb, A·ab⟩ = ⟨Aᵀ·drgb, ab⟩ for the linear part (y = 0) and ⟨drgb, 1·y⟩ = ⟨dy, y⟩
    lin = chroma_to_rgb_forward(np.zeros_like(y), ab)[0]
    np.testing.assert_allclose((drgb * lin).sum(), (dab * ab).sum())
    np.testing.assert_allclose((drgb * chroma_to_rgb_forward(y, 0 * ab)[0]).sum(), (dy * y).sum())


def test_chroma_maps_refuse_wrong_planes():
    y, ab = np.zeros((2, 1, 3, 3)), np.zeros((2, 2, 3, 3))
    with pytest.raises(ShapeError, match=r"ab must be \(N, 2, H, W\)"):
        chroma_to_rgb_forward(y, ab[:, :1])
    with pytest.raises(ShapeError, match="must share N, H and W"):
        chroma_to_rgb_forward(y[:1], ab)
    with pytest.raises(ShapeError, match=r"\(N, 3, H, W\)"):
        rgb_to_chroma(ab)


def test_colorizer_takes_flat_or_image_batches_and_keeps_the_luminance():
    rng = np.random.default_rng(2)
    model = Colorizer((8, 12), (3, 4, 5))
    x = rng.uniform(size=(4, 3, 8, 12)).astype(np.float32)
    L = luminance(x)
    a = model.loss_and_grads(L, x, compute_grads=False)
    b = model.loss_and_grads(L.reshape(4, -1), x.reshape(4, -1), compute_grads=False)
    assert a["loss"] == b["loss"] and a["rgb"].shape == (4, 3, 8, 12)
    np.testing.assert_allclose(luminance(a["rgb"]), L, atol=1e-5)      # before clipping
    out = model.colorize(L, batch_size=3)                              # in pieces
    assert out.shape == (4, 3, 8, 12) and out.min() >= 0 and out.max() <= 1
    np.testing.assert_allclose(out, np.clip(a["rgb"], 0, 1), atol=1e-6)
    assert model.config == {"model": "colorizer", "image_shape": [8, 12],
                            "channels": [3, 4, 5], "seed": 0}


def test_colorizer_refuses_bad_shapes_and_dtypes_in_one_line():
    with pytest.raises(ShapeError, match="divisible by 4"):
        Colorizer((10, 12))
    with pytest.raises(ConfigError):
        Colorizer((8, 8), (3, 4))
    model = Colorizer((8, 8), (2, 2, 2))
    L, x = np.zeros((2, 64), np.float32), np.zeros((2, 192), np.float32)
    with pytest.raises(ShapeError, match=r"x \(the luminance\) must be \(N, 64\) or \(N, 1, 8, 8\)"):
        model.loss_and_grads(x, x)
    with pytest.raises(ShapeError, match="target has 1 images but x has 2"):
        model.loss_and_grads(L, x[:1])
    with pytest.raises(DTypeError):
        model.loss_and_grads(L.astype(np.int64), x)
    bad = x.copy()
    bad[1, 5] = np.nan
    with pytest.raises(NonFiniteError, match=r"target \(the colour image\) holds 1 NaN"):
        model.loss_and_grads(L, bad)


def test_colorizer_learns_colour_that_follows_from_the_shape():
    """Bright squares are red and bright discs blue: only a model that sees the shape can
    colour them; a few epochs through the Trainer must beat the grey copy by far."""
    rng = np.random.default_rng(3)
    n, yy, xx = 256, *np.mgrid[0:8, 0:8]
    x = np.zeros((n, 3, 8, 8), np.float32)
    for i in range(n):
        cy, cx = rng.integers(2, 6, 2)
        disc = i % 2 == 1
        inside = ((yy - cy) ** 2 + (xx - cx) ** 2 <= 4) if disc else \
            ((abs(yy - cy) <= 1) & (abs(xx - cx) <= 1))
        colour = np.array([0.1, 0.2, 0.9]) if disc else np.array([0.9, 0.2, 0.1])
        x[i] = inside * colour[:, None, None]
    L = luminance(x)
    model = Colorizer((8, 8), (8, 8, 8), seed=0)
    grey_error = ((np.repeat(L, 3, axis=1) - x) ** 2).sum() / n
    Trainer(model, (L.reshape(n, -1), x.reshape(n, -1)),
            config=TrainConfig(epochs=40, batch_size=32, lr=5e-3, progress=False)).fit()
    error = ((model.colorize(L) - x) ** 2).sum() / n
    assert error < 0.2 * grey_error, (error, grey_error)


def test_colour_sets_sprites_are_seeded_by_split_and_cifar_absent_is_reported(tmp_path,
                                                                             monkeypatch):
    monkeypatch.setenv("SCRATCHVAE_DATA", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    x, y = load_colour_images("sprites", "test")
    assert x.shape == (2000, 3, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64
    assert (load_colour_images("sprites", "test")[0] == x).all()          # the same colours
    assert not np.array_equal(load_colour_images("sprites", "train")[0][:2000], x)
    assert find_cifar10(tmp_path) is None and default_colour_set(tmp_path) == "sprites"
    with pytest.raises(DataError, match="CIFAR-10 not found"):
        load_colour_images("cifar10", "test", root=tmp_path)
    with pytest.raises(DataError, match="unknown colour data set"):
        load_colour_images("imagenet")
    with pytest.raises(DataError, match="unknown split"):
        load_colour_images("sprites", "val")
