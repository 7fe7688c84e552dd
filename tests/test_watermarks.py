"""Procedural watermarks, PSNR and the median-filter baseline (tutorial 15's pieces)."""
import numpy as np
import pytest

from scratchvae.analysis.image_metrics import median_filter, psnr
from scratchvae.data.watermarks import apply_watermark, make_watermarks
from scratchvae.errors import ConfigError, DataError, ShapeError


@pytest.mark.parametrize("family", ["strokes", "logos"])
def test_watermarks_are_seeded_partial_and_in_range(family):
    a, ink = make_watermarks(64, (28, 28), family, rng=3)
    b, ink2 = make_watermarks(64, (28, 28), family, rng=3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ink, ink2)
    assert a.shape == (64, 28, 28) and a.min() >= 0 and a.max() <= 0.7 + 1e-6
    covered = (a > 0.05).mean(axis=(1, 2))
    assert (covered > 0.01).all() and (covered < 0.5).all()        # a mark, not the image
    assert ((ink < 0.1) | (ink > 0.9)).all() and 0 < (ink < 0.5).mean() < 1
    assert not np.array_equal(a, make_watermarks(64, (28, 28), family, rng=4)[0])


def test_the_two_families_are_different_shapes():
    """A logo's cross runs through its centre; letters side by side leave gaps between them:
    the share of marked pixels at each mark's centre of mass tells the families apart
    (here about 0.96 against 0.63)."""
    def centre_share(alpha):
        yy, xx = np.mgrid[0:28, 0:28]
        shares = []
        for a in alpha:
            w = a / a.sum()
            cy, cx = (w * yy).sum(), (w * xx).sum()
            near = np.hypot(yy - cy, xx - cx) < 2
            shares.append((a[near] > 0.05).mean())
        return np.array(shares)
    strokes = centre_share(make_watermarks(100, (28, 28), "strokes", rng=0)[0])
    logos = centre_share(make_watermarks(100, (28, 28), "logos", rng=0)[0])
    assert logos.mean() > strokes.mean() + 0.15, (strokes.mean(), logos.mean())


def test_applying_a_mark_composites_and_keeps_the_shape():
    x = np.random.default_rng(0).uniform(0, 1, (5, 1, 12, 12)).astype(np.float32)
    marks = make_watermarks(5, (12, 12), rng=1)
    y = apply_watermark(x, marks)
    a, ink = marks
    assert y.shape == x.shape and y.dtype == x.dtype and y.min() >= 0 and y.max() <= 1
    np.testing.assert_allclose(y[:, 0], (1 - a) * x[:, 0] + a * ink[:, None, None], rtol=1e-6)
    np.testing.assert_array_equal(y[:, 0][a == 0], x[:, 0][a == 0])  # untouched outside
    with pytest.raises(DataError, match="do not fit"):
        apply_watermark(x[:3], marks)
    with pytest.raises(ConfigError, match="family"):
        make_watermarks(2, (12, 12), "text")


def test_psnr_and_its_region():
    x = np.zeros((2, 4, 4))
    y = x.copy()
    y[0, 0, 0] = 0.1                                              # MSE = 0.01/16
    p = psnr(x, y)
    assert p[1] == np.inf and p[0] == pytest.approx(10 * np.log10(16 / 0.01))
    m = np.zeros((2, 4, 4), bool)
    m[0, 0, 0] = True
    assert psnr(x, y, m)[0] == pytest.approx(20.0) and np.isnan(psnr(x, y, m)[1])
    with pytest.raises(ShapeError):
        psnr(x, y[:1])


def test_the_median_filter_removes_a_thin_line_and_keeps_a_flat_image():
    x = np.full((1, 9, 9), 0.5)
    marked = x.copy()
    marked[0, 4, :] = 1.0                                         # a one-pixel line
    np.testing.assert_allclose(median_filter(marked, 3), x)
    np.testing.assert_allclose(median_filter(x, 5), x)
    with pytest.raises(ConfigError, match="odd"):
        median_filter(x, 4)
