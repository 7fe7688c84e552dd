"""The grid codec for any code vector (VAE latents, PCA coefficients), the JPEG baseline's
size accounting, and rate–distortion fronts (scratchvae/compression/)."""
import numpy as np
import pytest

from scratchvae.analysis import PCA
from scratchvae.compression import (
    GridCodec, LatentCodec, jpeg_decode, jpeg_encode, jpeg_layout, pareto_front, pca_codec,
    prior_bins, quality_at_rate,
)
from scratchvae.errors import ConfigError, DataError, ShapeError


def _images(n=40, seed=0):
    """Smooth random 28×28 images in [0, 1] (blobs), flattened (n, 784) float32."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:28, :28]
    cx, cy, r = rng.uniform(8, 20, n), rng.uniform(8, 20, n), rng.uniform(3, 9, n)
    img = np.exp(-((xx - cx[:, None, None]) ** 2 + (yy - cy[:, None, None]) ** 2)
                 / (2 * r[:, None, None] ** 2))
    return img.reshape(n, -1).astype(np.float32)


def test_prior_bins_of_a_wider_prior_are_the_unit_bins_of_a_finer_step():
    np.testing.assert_allclose(prior_bins(0.5, 8, std=2.0), prior_bins(0.25, 8), rtol=1e-12)
    p = prior_bins(1.0, 3, std=0.01)                  # a very narrow prior: all mass at 0
    assert p[3] > 1 - 1e-12 and abs(p.sum() - 1) < 1e-12


def test_pca_codec_round_trips_every_image_exactly():
    x = _images(60)
    pca = PCA(12).fit(x)
    codec = pca_codec(pca, step=0.05)
    q = codec.quantize(x)
    codes = codec.encode(x)
    np.testing.assert_array_equal(codec.decode_indices(codes), q)       # the same integers
    np.testing.assert_array_equal(codec.decode(codes), codec.reconstruct(q))   # the same x̂
    np.testing.assert_array_equal(codec.reconstruct(q),
                                  pca.inverse_transform(q * 0.05))
    assert all(n <= b + 2 for (_, n), b in zip(codes, codec.ideal_bits(q)))
    assert all(len(d) == -(-n // 8) for d, n in codes)


def test_pca_codec_prior_is_each_components_training_spread():
    x = _images(50, seed=2)
    pca = PCA(6).fit(x)
    codec = pca_codec(pca, step=0.1)
    np.testing.assert_allclose(codec.prior_std, np.sqrt(pca.explained_variance))
    assert (np.diff(codec.k) <= 0).all()             # wider priors keep more bins
    # a fine step approaches the ideal quantizer: error far below PCA's own truncation error
    fine = pca_codec(pca, step=1e-3)
    err = np.mean(np.sum((fine.decode(fine.encode(x)) - pca.reconstruct(x)) ** 2, axis=1))
    assert err < 1e-4


def test_a_component_far_narrower_than_the_step_costs_almost_nothing():
    codec = GridCodec(lambda x: x, lambda c: c, 2, step=1.0, prior_std=[1.0, 1e-3])
    q = codec.quantize(np.zeros((5, 2)))
    bits = codec.ideal_bits(q)
    k0, k1 = codec.k
    assert k1 == 1 and codec.tables[1].bits(k1) < 1e-6
    np.testing.assert_allclose(bits, codec.tables[0].bits(k0) + codec.tables[1].bits(k1))


def test_latent_codec_with_a_fitted_prior_round_trips_and_spends_less_on_quiet_units():
    from scratchvae.models import VAE
    model = VAE(784, (16,), 4, seed=1)
    x = _images(30, seed=3)
    mu = model.encode(x)[0].astype(np.float64)
    centre, spread = mu.mean(axis=0), mu.std(axis=0)
    for prior in ({}, {"prior_std": spread, "prior_mean": centre}):
        codec = LatentCodec(model, 0.05, **prior)
        q = codec.quantize(x)
        codes = codec.encode(x)
        np.testing.assert_array_equal(codec.decode_indices(codes), q)
        c_hat = prior.get("prior_mean", 0.0) + q * 0.05
        np.testing.assert_array_equal(codec.decode(codes),
                                      model.decode(c_hat.astype(np.float32)))
        assert (np.abs(codec.dequantize(q) - mu) <= 0.025 + 1e-9).all()   # within half a step
    # an untrained encoder's μ huddle together: a prior fitted to them costs fewer bits
    unit = LatentCodec(model, 0.05)
    fitted = LatentCodec(model, 0.05, prior_std=spread, prior_mean=centre)
    assert fitted.ideal_bits(fitted.quantize(x)).mean() < unit.ideal_bits(unit.quantize(x)).mean()


def test_grid_codec_errors_name_the_problem():
    ident = (lambda x: x, lambda c: c)
    with pytest.raises(ConfigError, match="prior_std"):
        GridCodec(*ident, 3, 0.1, prior_std=[1.0, 0.0, 1.0])
    with pytest.raises(ShapeError, match="one per code dimension"):
        GridCodec(*ident, 3, 0.1, prior_std=[1.0, 1.0])
    with pytest.raises(ConfigError, match="dim"):
        GridCodec(*ident, 0, 0.1)
    with pytest.raises(ConfigError, match="step"):
        GridCodec(*ident, 2, float("inf"))
    with pytest.raises(ConfigError, match="prior_mean must be finite"):
        GridCodec(*ident, 2, 0.1, prior_mean=[0.0, np.nan])
    codec = GridCodec(*ident, 2, 0.1)
    with pytest.raises(ShapeError, match="codes \\(N, 2\\)"):
        codec.quantize(np.zeros((4, 3)))
    with pytest.raises(ShapeError, match="\\(N, 2\\)"):
        codec.encode_indices(np.zeros((4, 3), dtype=np.int64))
    with pytest.raises(ConfigError, match="not fitted"):
        pca_codec(PCA(2), 0.1)


# ------------------------------------------------------------------------ JPEG
def test_jpeg_layout_splits_a_real_file_into_header_ecs_and_eoi():
    x = np.rint(_images(6) * 255).astype(np.uint8).reshape(-1, 28, 28)
    for optimize in (False, True):
        for f in jpeg_encode(x, 50, optimize=optimize):
            parts = jpeg_layout(f)
            assert parts["header"] + parts["ecs"] + parts["trailer"] == parts["total"] == len(f)
            assert parts["trailer"] == 2 and f[-2:] == b"\xff\xd9"
            assert f[parts["header"] - 14:parts["header"]].find(b"\xff\xda") >= 0   # SOS
    std, opt = jpeg_encode(x, 50), jpeg_encode(x, 50, optimize=True)
    np.testing.assert_array_equal(jpeg_decode(std), jpeg_decode(opt))   # Huffman is lossless
    assert all(jpeg_layout(o)["total"] < jpeg_layout(s)["total"] for s, o in zip(std, opt))


def test_jpeg_quality_orders_size_and_error():
    x = np.rint(_images(8, seed=4) * 255).astype(np.uint8).reshape(-1, 28, 28)
    ecs, err = [], []
    for q in (5, 50, 95):
        files = jpeg_encode(x, q)
        ecs.append(sum(jpeg_layout(f)["ecs"] for f in files))
        err.append(np.mean((jpeg_decode(files).astype(float) - x) ** 2))
    assert ecs[0] < ecs[1] < ecs[2] and err[0] > err[1] > err[2], (ecs, err)
    blank = jpeg_layout(jpeg_encode(np.zeros((1, 28, 28), np.uint8), 50)[0])
    assert blank["ecs"] < 16                          # 16 blocks of DC only: a few bytes


def test_jpeg_layout_counts_stuffed_bytes_inside_the_ecs():
    head = b"\xff\xd8" + b"\xff\xda\x00\x04\x00\x00"  # SOI, a 4-byte SOS header
    body = b"\x12\xff\x00\x34\xff\xd0\x56"            # a stuffed FF and a restart marker
    parts = jpeg_layout(head + body + b"\xff\xd9")
    assert parts == {"header": len(head), "ecs": len(body), "trailer": 2,
                     "total": len(head) + len(body) + 2}


def test_jpeg_errors_name_the_problem():
    with pytest.raises(DataError, match="SOI"):
        jpeg_layout(b"\x89PNG\r\n")
    f = jpeg_encode(np.zeros((1, 28, 28), np.uint8), 50)[0]
    with pytest.raises(DataError, match="truncated"):
        jpeg_layout(f[:-2])
    with pytest.raises(DataError, match="truncated"):
        jpeg_layout(f[:40])
    with pytest.raises(DataError, match="single-scan"):
        jpeg_layout(f[:-2] + b"\xff\xc4\x00\x02\xff\xd9")
    with pytest.raises(ShapeError, match="uint8"):
        jpeg_encode(np.zeros((1, 28, 28)), 50)
    with pytest.raises(ConfigError, match="quality"):
        jpeg_encode(np.zeros((1, 28, 28), np.uint8), 0)


# ------------------------------------------------------------- R–D fronts
def test_pareto_front_keeps_the_settings_nothing_beats():
    rates = [100, 50, 200, 50, 400, 300]
    psnr = [20, 18, 19, 17, 26, 25]
    assert pareto_front(rates, psnr).tolist() == [1, 0, 5, 4]   # 200@19 and 50@17 are beaten
    assert pareto_front([10, 10], [3, 3]).tolist() == [0]


def test_quality_at_rate_interpolates_in_log_rate_and_never_extrapolates():
    rates, psnr = [64, 256], [20, 24]
    out = quality_at_rate(rates, psnr, [64, 128, 256, 32, 512])
    np.testing.assert_allclose(out[:3], [20, 22, 24])
    assert np.isnan(out[3:]).all()
    with pytest.raises(ShapeError):
        pareto_front([1, 2], [1])


def test_high_rate_bits_are_the_fine_grid_limit_of_the_ideal_bits():
    rng = np.random.default_rng(5)
    std, mean = np.array([2.0, 1.0, 3.0]), np.array([0.3, 0.0, -1.0])
    c = mean + std * rng.normal(size=(200, 3))                 # codes drawn from the prior
    codec = GridCodec(lambda x: x, lambda z: z, 3, 0.01, prior_std=std, prior_mean=mean)
    gap = codec.ideal_bits(codec.quantize(c)) - codec.high_rate_bits(c)
    assert np.abs(gap).max() < 0.05 and abs(gap.mean()) < 0.005     # integer tables round
    coarse = GridCodec(lambda x: x, lambda z: z, 3, 10.0, prior_std=std)
    assert coarse.high_rate_bits(np.zeros((1, 3)))[0] < 0     # a limit, not a code length
    assert coarse.ideal_bits(coarse.quantize(np.zeros((1, 3))))[0] > 0
