"""Luminance, coloured sprites (seeded, colour tied to shape) and the per-pixel linear baseline."""
import numpy as np
import pytest

from scratchvae.analysis.image_metrics import PixelwiseLinearColour
from scratchvae.data.colour import BASE_COLOURS, colour_sprites
from scratchvae.functional.colour import luminance
from scratchvae.data.sprites import make_sprites
from scratchvae.errors import ConfigError, ShapeError


def test_luminance_weights_sum_to_one_so_grey_keeps_its_luminance():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(3, 3, 4, 5))
    L = luminance(x)
    assert L.shape == (3, 1, 4, 5)
    np.testing.assert_allclose(L[0, 0, 1, 2], 0.299 * x[0, 0, 1, 2] + 0.587 * x[0, 1, 1, 2]
                               + 0.114 * x[0, 2, 1, 2])
    np.testing.assert_allclose(luminance(np.repeat(L, 3, axis=1)), L)
    with pytest.raises(ShapeError, match=r"\(N, 3, H, W\)"):
        luminance(x[:, :2])


def test_coloured_sprites_are_seeded_and_take_their_shapes_colour():
    ds = make_sprites(300, seed=0)
    a, b = colour_sprites(ds.x, ds.y, rng=5), colour_sprites(ds.x, ds.y, rng=5)
    assert a.shape == (300, 3, 28, 28) and a.dtype == np.float32 and (a == b).all()
    assert 0 <= a.min() and a.max() <= 1
    assert not (colour_sprites(ds.x, ds.y, rng=6) == a).all()
    full = ds.x[:, 0] > 0.99                                            # inside the shape
    for shape in range(3):
        mean = np.array([a[ds.y == shape][:, c][full[ds.y == shape]].mean() for c in range(3)])
        assert np.argmax(mean) == np.argmax(BASE_COLOURS[shape])       # its dominant channel
        np.testing.assert_allclose(mean, BASE_COLOURS[shape] * 0.95, atol=0.06)
    with pytest.raises(ShapeError, match="ids in 0"):
        colour_sprites(ds.x[:2], np.array([0, 3]))


def test_the_pixelwise_line_is_exact_on_linear_data_and_beats_grey_on_sprites():
    rng = np.random.default_rng(1)
    L = rng.uniform(size=(50, 1, 3, 4))
    a, b = rng.uniform(0, 0.3, size=(3, 3, 4)), rng.uniform(0, 0.6, size=(3, 3, 4))
    model = PixelwiseLinearColour().fit(L, a + b * L)
    np.testing.assert_allclose(model.b, b, atol=1e-12)
    np.testing.assert_allclose(model.a, a, atol=1e-12)
    const = PixelwiseLinearColour().fit(np.ones((4, 1, 2, 2)), np.full((4, 3, 2, 2), 0.5))
    assert (const.b == 0).all() and np.allclose(const.predict(np.zeros((1, 1, 2, 2))), 0.5)

    train, test = make_sprites(2000, seed=0), make_sprites(300, seed=1)
    xtr, xte = colour_sprites(train.x, train.y, rng=0), colour_sprites(test.x, test.y, rng=1)
    pred = PixelwiseLinearColour().fit(luminance(xtr), xtr).predict(luminance(xte))
    grey = np.repeat(luminance(xte), 3, axis=1)
    assert ((pred - xte) ** 2).mean() < ((grey - xte) ** 2).mean()
    with pytest.raises(ConfigError, match="call fit"):
        PixelwiseLinearColour().predict(L)
    with pytest.raises(ShapeError, match="predict needs"):
        model.predict(np.zeros((1, 1, 5, 5)))
