"""The convolutional VAE: shapes, golden run, training, checkpoints, CLI, bad input."""
import numpy as np
import pytest

from scratchvae import cli
from scratchvae.errors import ShapeError
from scratchvae.models import ConvVAE, build_model
from scratchvae.train import load_model


def _images(n=16, seed=0, hw=8):
    return np.random.default_rng(seed).uniform(0, 1, (n, hw * hw)).astype(np.float32)


def _squares(n=16, seed=1):
    """8×8 binary images, each a 3×3 square at a random position: learnable structure."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 8, 8), np.float32)
    for img, (r, c) in zip(x, rng.integers(0, 6, (n, 2))):
        img[r:r + 3, c:c + 3] = 1
    return x.reshape(n, 64)


def _small(seed=0):
    return ConvVAE((1, 8, 8), (4, 6), 3, seed=seed)


def test_shapes_follow_the_28_14_7_path():
    m = ConvVAE(seed=0)
    x = np.random.default_rng(0).uniform(0, 1, (5, 784)).astype(np.float32)
    mu, logvar = m.encode(x)
    assert mu.shape == logvar.shape == (5, 20)
    assert m.decode(mu).shape == (5, 784)
    assert m.reconstruct(x).shape == (5, 784) and m.sample(4).shape == (4, 784)
    assert 0 <= m.decode(mu).min() and m.decode(mu).max() <= 1      # Bernoulli means


def test_config_rebuilds_the_same_model_and_checkpoint_round_trips(tmp_path):
    m = _small()
    clone = build_model(m.config)
    assert isinstance(clone, ConvVAE)
    for (n1, p1, _), (n2, p2, _) in zip(m.parameters(), clone.parameters()):
        assert n1 == n2
        np.testing.assert_array_equal(p1, p2)


def test_bad_image_shapes_are_rejected():
    with pytest.raises(ShapeError, match="divisible by 4"):
        ConvVAE((1, 10, 10))
    with pytest.raises(ShapeError, match=r"\(N, 64\)"):
        _small().loss_and_grads(_images(hw=9))


def test_cli_trains_conv_vae_and_reloads_it(tmp_path):
    out = tmp_path / "run"
    assert cli.main(["train", "--model", "conv-vae", "--channels", "4", "8", "--latent-dim", "4",
                     "--epochs", "1", "--limit", "256", "--batch-size", "64", "--out", str(out),
                     "--quiet"]) == 0
    model, meta = load_model(out / "checkpoint.npz")
    assert isinstance(model, ConvVAE) and meta["model_config"]["channels"] == [4, 8]
    assert (out / "samples.png").is_file()


def test_cli_conv_vae_on_point_data_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["train", "--model", "conv-vae", "--data", "cosine3d", "--limit", "64",
                     "--out", str(tmp_path), "--quiet"]) == 2
    assert "image data" in capsys.readouterr().err
