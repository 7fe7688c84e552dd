"""The built-in sprites: determinism, range, containment, factor coverage and identifiability."""
import time

import numpy as np
import pytest

from scratchvae.data import sprites
from scratchvae.data.sprites import (FACTOR_NAMES, FACTOR_SIZES, all_sprites, load_sprites,
                                     make_sprites, render_sprites)
from scratchvae.errors import DataError, ShapeError


@pytest.fixture(scope="module")
def every_sprite():
    return all_sprites()          # all 13,824 factor combinations, rendered once


def test_shapes_dtypes_and_metadata():
    ds = make_sprites(50, seed=0)
    assert ds.x.shape == (50, 1, 28, 28) and ds.x.dtype == np.float32
    assert ds.y.dtype == np.int64 and ds.factors.shape == (50, 5)
    np.testing.assert_array_equal(ds.y, ds.factors[:, 0])
    assert ds.factor_names == FACTOR_NAMES == ("shape", "scale", "rotation", "pos_x", "pos_y")
    assert ds.factor_sizes == FACTOR_SIZES
    assert ds.classes == ("square", "ellipse", "heart")
    assert ds[np.array([3, 1])].factors.shape == (2, 5)


def test_deterministic_in_seed():
    a, b, c = make_sprites(200, seed=7), make_sprites(200, seed=7), make_sprites(200, seed=8)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.factors, b.factors)
    assert not np.array_equal(a.factors, c.factors)


def test_values_are_anti_aliased_and_in_range(every_sprite):
    x = every_sprite.x
    assert x.min() == 0.0 and x.max() == 1.0
    grey = (x > 0) & (x < 1)
    assert grey.any(axis=(1, 2, 3)).all(), "every sprite should have anti-aliased edge pixels"
    assert len(np.unique(x)) > 30


def test_every_sprite_is_visible_and_inside_the_canvas(every_sprite):
    x = every_sprite.x[:, 0]                                      # (13824, 28, 28)
    assert (x.sum(axis=(1, 2)) > 5).all()
    # the disk of MAX_RADIUS around the outermost centres leaves >= 0.5 px of border
    centres = np.array(sprites.factor_values()["pos_x"])
    assert centres.min() - sprites.MAX_RADIUS >= 0.5
    assert centres.max() + sprites.MAX_RADIUS <= sprites.CANVAS - 0.5


def test_templates_do_not_spill_out_of_their_window():
    # rendered in a larger box, nothing may fall outside the central TEMPLATE window,
    # and the window must equal the template used on the canvas
    t, pad = sprites.TEMPLATE, 4
    big = sprites._templates(t + 2 * pad)
    inner = big[..., pad:pad + t, pad:pad + t]
    assert big.sum() == pytest.approx(inner.sum(), rel=0, abs=0)
    np.testing.assert_array_equal(inner, sprites._templates(t))


def test_canvas_keeps_all_the_mass(every_sprite):
    # composing = placing the template whole: the canvas total equals the template total
    f = every_sprite.factors
    tpl_mass = sprites._templates().sum(axis=(3, 4))[f[:, 0], f[:, 1], f[:, 2]]
    np.testing.assert_allclose(every_sprite.x.sum(axis=(1, 2, 3)), tpl_mass, rtol=1e-5)


def test_factor_coverage():
    f = make_sprites(20_000 // 4, seed=0).factors
    for j, (name, size) in enumerate(zip(FACTOR_NAMES, FACTOR_SIZES)):
        counts = np.bincount(f[:, j], minlength=size)
        assert len(counts) == size, name
        expected = len(f) / size
        assert np.all(np.abs(counts - expected) < 6 * np.sqrt(expected)), name


@pytest.mark.parametrize("j", range(5), ids=FACTOR_NAMES)
def test_changing_any_one_factor_changes_the_image(every_sprite, j):
    # group the images by all factors but j: within a group every image must differ
    f = every_sprite.factors
    x = every_sprite.x.reshape(len(f), -1)
    others = [k for k in range(5) if k != j]
    key = np.ravel_multi_index(f[:, others].T, [FACTOR_SIZES[k] for k in others])
    order = np.lexsort((f[:, j], key))
    g = x[order].reshape(-1, FACTOR_SIZES[j], x.shape[1]).astype(np.float64)  # (groups, L, D)
    sq = (g * g).sum(axis=-1)                                                  # (groups, L)
    dist2 = sq[:, :, None] + sq[:, None, :] - 2 * g @ g.transpose(0, 2, 1)     # (groups, L, L)
    off_diagonal = ~np.eye(FACTOR_SIZES[j], dtype=bool)
    # the closest pair is the smallest square (side ~4.6 px) turned by one 7.5° step:
    # squared distance 0.123, several pixels changing by 1/8; demand at least 0.1
    assert dist2[:, off_diagonal].min() > 0.1


def test_scale_orders_the_area(every_sprite):
    mass = every_sprite.x.sum(axis=(1, 2, 3)).reshape(FACTOR_SIZES)
    assert (np.diff(mass, axis=1) > 0).all()


def test_position_moves_the_centre_of_mass(every_sprite):
    x = every_sprite.x[:, 0]
    f = every_sprite.factors
    cols = (x.sum(axis=1) * np.arange(28)).sum(axis=1) / x.sum(axis=(1, 2))
    rows = (x.sum(axis=2) * np.arange(28)).sum(axis=1) / x.sum(axis=(1, 2))
    # same shape/scale/rotation one step right/down: centre of mass moves exactly 2 px
    cols = cols.reshape(FACTOR_SIZES)
    rows = rows.reshape(FACTOR_SIZES)
    np.testing.assert_allclose(np.diff(cols, axis=3), 2.0, atol=1e-3)
    np.testing.assert_allclose(np.diff(rows, axis=4), 2.0, atol=1e-3)


def test_standard_splits():
    test = load_sprites("test")
    assert len(test) == 2000 and test.name == "sprites/test"
    np.testing.assert_array_equal(test.x, make_sprites(2000, seed=1).x)
    with pytest.raises(DataError, match="unknown split"):
        load_sprites("valid")


def test_generation_is_fast():
    sprites._templates()                      # built once per process; timed separately below
    start = time.perf_counter()
    make_sprites(20_000, seed=0)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.5, f"20,000 sprites took {elapsed:.2f} s"


@pytest.mark.parametrize("factors, error", [
    (np.zeros((3, 4), np.int64), ShapeError),
    (np.zeros(5, np.int64), ShapeError),
    (np.zeros((3, 5), np.float32), DataError),
    (np.array([[3, 0, 0, 0, 0]]), DataError),
    (np.array([[0, 0, 0, 8, 0]]), DataError),
    (np.array([[0, -1, 0, 0, 0]]), DataError),
])
def test_render_rejects_bad_factors(factors, error):
    with pytest.raises(error):
        render_sprites(factors)


@pytest.mark.parametrize("n", [0, -3, 2.5, True])
def test_make_rejects_bad_n(n):
    with pytest.raises(DataError):
        make_sprites(n)
