"""Procedural watermarks, the "watermark" corruption a denoising AE trains with (seeded,
from the model's own checkpointed generator), PSNR and the median-filter baseline
(tutorial 15's pieces)."""
import numpy as np
import pytest

from scratchvae.analysis.image_metrics import median_filter, psnr
from scratchvae.data.corruption import corrupt, corrupt_watermark, watermark_marks
from scratchvae.data.watermarks import apply_watermark, make_watermarks
from scratchvae.errors import ConfigError, DataError, ShapeError
from scratchvae.models.denoising_ae import DenoisingAE
from scratchvae.train import TrainConfig, Trainer
from scratchvae.train.checkpoint import load_checkpoint, save_checkpoint


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


# ------------------------------------- the "watermark" corruption of a denoising AE
Z = 5.0                                                       # standard errors allowed


def flat_images(n=400, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, 784)).astype(np.float32)


def test_watermark_corruption_is_seeded_and_marks_a_region_only():
    x = flat_images()
    a, b = corrupt(x, "watermark", 0.7, rng=4), corrupt(x, "watermark", 0.7, rng=4)
    np.testing.assert_array_equal(a, b)
    assert a.shape == x.shape and a.dtype == np.float32 and a.min() >= 0 and a.max() <= 1
    assert not np.array_equal(a, corrupt(x, "watermark", 0.7, rng=5))
    # the corruption is the sampler's marks laid on the images: frozen marks give it back
    alpha, ink = watermark_marks(len(x), (28, 28), 0.7, rng=4)
    np.testing.assert_array_equal(corrupt_watermark(x, 0.7, marks=(alpha, ink)), a)
    changed = (a != x).reshape(-1, 28, 28)
    assert not changed[alpha == 0].any()                      # untouched outside the mark
    inside = alpha > 0.05
    assert changed[inside].mean() > 0.99                      # and changed inside it
    covered = inside.mean(axis=(1, 2))
    assert (covered > 0.01).all() and (covered < 0.5).all()
    np.testing.assert_array_equal(corrupt(x, "watermark", 0.0, rng=0), x)   # a_max = 0: none


@pytest.mark.parametrize("family", ["strokes", "logos"])
def test_peak_opacity_is_uniform_between_half_and_all_of_the_maximum(family):
    """Every mark's shape peaks at 1, so its largest opacity is the opacity drawn,
    U(a_max / 2, a_max): check its range, mean, variance and median."""
    n, a_max = 4000, 0.8
    alpha, _ = watermark_marks(n, (28, 28), a_max, rng=1, family=family)
    peak = alpha.reshape(n, -1).max(axis=1).astype(np.float64)
    lo, w = a_max / 2, a_max / 2
    assert peak.min() >= lo - 1e-6 and peak.max() <= a_max + 1e-6
    assert abs(peak.mean() - (lo + w / 2)) <= Z * w / np.sqrt(12 * n)
    assert abs(peak.var(ddof=1) - w ** 2 / 12) <= Z * w ** 2 * np.sqrt((1 / 80 - 1 / 144) / n)
    assert abs((peak < lo + w / 2).mean() - 0.5) <= Z * np.sqrt(0.25 / n)


def test_the_dae_draws_watermarks_from_its_own_checkpointed_generator(tmp_path):
    x = flat_images(64)
    a, b = (DenoisingAE(784, (16,), 4, corruption="watermark", noise_level=0.6, seed=2)
            for _ in range(2))
    first = a.loss_and_grads(x, compute_grads=False)["x_tilde"]
    np.testing.assert_array_equal(first, b.loss_and_grads(x, compute_grads=False)["x_tilde"])
    assert not np.array_equal(first, a.corrupt(x))            # the generator moves on
    np.testing.assert_array_equal(a.corrupt(x, rng=9), corrupt(x, "watermark", 0.6, rng=9))
    path = save_checkpoint(tmp_path / "c.npz", a, None, {"epoch": 0})
    meta, state, _ = load_checkpoint(path)
    clone = DenoisingAE(**{k: v for k, v in a.config.items() if k != "model"})
    clone.load_state_dict(state)
    clone.rng.bit_generator.state = meta["model_rng"]
    np.testing.assert_array_equal(clone.corrupt(x), a.corrupt(x))
    assert a.config["corruption"] == "watermark" and a.config["noise_level"] == 0.6


def test_the_trainer_trains_a_watermark_dae_unchanged():
    x = flat_images(256)
    dae = DenoisingAE(784, (16,), 4, corruption="watermark", noise_level=0.7, seed=0)
    hist = Trainer(dae, x, x[:64], TrainConfig(epochs=2, batch_size=64, progress=False)).fit()
    assert all(np.isfinite(r["train_loss"]) and np.isfinite(r["val_loss"]) for r in hist)


def test_watermark_corruption_errors_name_the_fix():
    x = flat_images(4)
    with pytest.raises(ShapeError, match="not a square"):
        corrupt(x[:, :783], "watermark", 0.5, rng=0)
    with pytest.raises(ShapeError, match="H·W = D"):
        corrupt_watermark(x, 0.5, rng=0, shape=(28, 27))
    assert corrupt_watermark(x[:, :756], 0.5, rng=0, shape=(28, 27)).shape == (4, 756)
    with pytest.raises(ValueError, match=r"opacity must lie in \[0, 1\]"):
        corrupt(x, "watermark", 1.5, rng=0)
    with pytest.raises(ShapeError, match="dimensions"):
        corrupt_watermark(x.reshape(4, 28, 28), 0.5, rng=0)
    with pytest.raises(DataError, match="do not fit"):
        corrupt_watermark(x, 0.5, marks=watermark_marks(3, (28, 28), 0.5, rng=0))
    with pytest.raises(ShapeError, match="not a square"):
        DenoisingAE(12, (5,), 3, corruption="watermark", noise_level=0.5)
    with pytest.raises(ConfigError, match="opacity"):
        DenoisingAE(784, (5,), 3, corruption="watermark", noise_level=1.5)
