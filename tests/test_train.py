"""Trainer: exact resume, NaN stop with the last good checkpoint intact, atomic files."""
import json
import os

import numpy as np
import pytest

from scratchvae.errors import CheckpointError, NonFiniteError
from scratchvae.models import VAE, Autoencoder, build_model
from scratchvae.train import (
    TrainConfig, Trainer, atomic_write, load_checkpoint, load_model, save_checkpoint,
)


def _data(n=96, d=20, seed=0):
    return np.random.default_rng(seed).uniform(0.02, 0.98, (n, d)).astype(np.float32)


def _vae(seed=0):
    return VAE(20, (16,), 3, seed=seed)


def _config(**kw):
    return TrainConfig(**{"epochs": 3, "batch_size": 32, "lr": 3e-3, "progress": False, **kw})


def _params(model):
    return {n: p.copy() for n, p, _ in model.parameters()}


def test_fit_lowers_the_loss_and_writes_history(tmp_path):
    trainer = Trainer(_vae(), _data(), _data(32, seed=1), _config(epochs=4), out_dir=tmp_path)
    history = trainer.fit()
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert {"val_loss", "val_recon", "val_kl", "lr", "seconds"} <= set(history[0])
    assert json.loads((tmp_path / "history.json").read_text()) == history
    csv_lines = (tmp_path / "history.csv").read_text().strip().splitlines()
    assert len(csv_lines) == 5 and csv_lines[0].startswith("epoch,")


@pytest.mark.parametrize("binarize", [False, True])
def test_resume_is_bit_identical(tmp_path, binarize):
    x, v = _data(), _data(32, seed=1)
    straight = Trainer(_vae(), x, v, _config(binarize=binarize))
    straight.fit()

    first = Trainer(_vae(), x, v, _config(binarize=binarize), out_dir=tmp_path)
    first.fit(epochs=1)
    # a fresh process would rebuild everything from the checkpoint alone
    meta, _, _ = load_checkpoint(tmp_path / "checkpoint.npz")
    model = build_model(meta["model_config"])
    resumed = Trainer(model, x, v, TrainConfig(**meta["train_config"]), out_dir=tmp_path)
    resumed.load(tmp_path / "checkpoint.npz")
    assert resumed.epoch == 1
    resumed.fit()

    for name, p in _params(straight.model).items():
        np.testing.assert_array_equal(p, _params(resumed.model)[name], err_msg=name)
    assert [r["train_loss"] for r in straight.history] == [r["train_loss"] for r in resumed.history]
    assert straight.optimizer.t == resumed.optimizer.t


def test_two_runs_with_the_same_seed_are_identical():
    a = Trainer(_vae(), _data(), None, _config(epochs=2))
    b = Trainer(_vae(), _data(), None, _config(epochs=2))
    assert a.fit() and b.fit()
    assert [r["train_loss"] for r in a.history] == [r["train_loss"] for r in b.history]


class _PoisonedVAE(VAE):
    """Turns its gradients into NaN at a chosen global step (a deterministic stand-in for divergence)."""

    def __init__(self, *args, poison_step, **kw):
        super().__init__(*args, **kw)
        self.calls, self.poison_step = 0, poison_step

    def loss_and_grads(self, x, *args, compute_grads=True, **kw):
        out = super().loss_and_grads(x, *args, compute_grads=compute_grads, **kw)
        if compute_grads:
            self.calls += 1
            if self.calls == self.poison_step:
                self.decoder[0].grads["W"][0, 0] = np.nan
        return out


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    x = _data()                                    # 96 samples / 32 = 3 steps per epoch
    good = Trainer(_vae(), x, None, _config(epochs=1))
    good.fit()

    model = _PoisonedVAE(20, (16,), 3, seed=0, poison_step=5)    # epoch 2, step 2
    trainer = Trainer(model, x, None, _config(), out_dir=tmp_path)
    with pytest.raises(NonFiniteError) as err:
        trainer.fit()
    msg = str(err.value)
    assert "epoch 2" in msg and "checkpoint.npz" in msg and "intact" in msg and "--lr" in msg

    meta, state, _ = load_checkpoint(tmp_path / "checkpoint.npz")
    assert meta["epoch"] == 1
    for name, p in _params(good.model).items():
        np.testing.assert_array_equal(state[name], p, err_msg=name)
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_nan_before_any_checkpoint_says_so():
    model = _PoisonedVAE(20, (16,), 3, seed=0, poison_step=1)
    with pytest.raises(NonFiniteError, match="no checkpoint had been written"):
        Trainer(model, _data(), None, _config()).fit()


def test_checkpoint_round_trip_restores_model_optimizer_and_rng(tmp_path):
    trainer = Trainer(_vae(), _data(), None, _config(epochs=1))
    trainer.fit()
    path = trainer.save(tmp_path / "c.npz")
    model, meta = load_model(path)
    for name, p in _params(trainer.model).items():
        np.testing.assert_array_equal(p, _params(model)[name])
    assert model.rng.bit_generator.state == trainer.model.rng.bit_generator.state
    assert meta["optimizer"]["t"] == trainer.optimizer.t == 3


def test_autoencoder_trains_and_checkpoints(tmp_path):
    trainer = Trainer(Autoencoder(20, (16,), 3), _data(), _data(32, seed=1), _config(epochs=2),
                      out_dir=tmp_path)
    history = trainer.fit()
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    model, _ = load_model(tmp_path / "checkpoint.npz")
    assert isinstance(model, Autoencoder)


@pytest.mark.parametrize("content, match", [
    (b"", "corrupt"), (b"PK\x03\x04 truncated zip", "corrupt"), (b"not a zip at all", "corrupt"),
])
def test_corrupt_checkpoints_raise_a_clear_error(tmp_path, content, match):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(path)


def test_truncated_checkpoint_is_rejected(tmp_path):
    path = save_checkpoint(tmp_path / "c.npz", _vae())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(path)


def test_missing_and_foreign_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.npz")
    np.savez(tmp_path / "foreign.npz", a=np.zeros(3))
    with pytest.raises(CheckpointError, match="not a scratchvae checkpoint"):
        load_checkpoint(tmp_path / "foreign.npz")


def test_checkpoint_for_another_architecture_is_rejected(tmp_path):
    path = save_checkpoint(tmp_path / "c.npz", _vae())
    _, state, _ = load_checkpoint(path)
    with pytest.raises(CheckpointError, match="shape"):
        VAE(20, (8,), 3).load_state_dict(state)


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")

    def explode(f):
        f.write(b"half of the new")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, explode)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_trainer_rejects_bad_data():
    from scratchvae.errors import DataError, DTypeError, NonFiniteError as NF, ShapeError
    with pytest.raises(DTypeError, match="floating"):
        Trainer(_vae(), np.zeros((4, 20), dtype=np.uint8), config=_config())
    bad = _data()
    bad[3, 4] = np.nan
    with pytest.raises(NF, match="NaN"):
        Trainer(_vae(), bad, config=_config())
    with pytest.raises(DataError, match="empty"):
        Trainer(_vae(), np.zeros((0, 20), np.float32), config=_config())
    with pytest.raises(ShapeError, match="dimensions"):
        Trainer(_vae(), _data().reshape(96, 4, 5), config=_config())
    with pytest.raises(ShapeError, match=r"\(N, 20\)"):
        Trainer(_vae(), _data(d=30), config=_config()).fit()


def test_config_validation():
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="lr_schedule"):
        TrainConfig(lr_schedule="bogus")
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="rmsprop")


@pytest.mark.parametrize("kw", [dict(optimizer="sgd", lr=0.05), dict(lr_schedule="cosine"),
                                dict(lr_schedule="exponential", warmup_epochs=1, clip_norm=5.0)])
def test_optimizer_and_schedule_options_train(kw):
    history = Trainer(_vae(), _data(), None, _config(epochs=3, **kw)).fit()
    assert history[-1]["train_loss"] < history[0]["train_loss"]


class _BetaRecorder(VAE):
    """Records the KL weight β it was called with at every training step."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = []

    def loss_and_grads(self, x, *args, compute_grads=True, **kwargs):
        if compute_grads:
            self.seen.append(self.beta)
        return super().loss_and_grads(x, *args, compute_grads=compute_grads, **kwargs)


def test_kl_warmup_ramps_beta_linearly_and_evaluates_the_true_objective():
    x = _data()                                    # 96 examples, batch 32: 3 steps per epoch
    model = _BetaRecorder(input_dim=x.shape[1], hidden=(8,), latent_dim=2, beta=2.0, seed=0)
    trainer = Trainer(model, x, x[:16], _config(epochs=3, kl_warmup_epochs=1.5))
    steps = trainer.steps_per_epoch
    trainer.fit()
    warm = round(1.5 * steps)
    expected = [2.0 * min(1.0, (s + 1) / warm) for s in range(3 * steps)]
    np.testing.assert_allclose(model.seen, expected, rtol=0, atol=1e-15)
    assert model.beta == 2.0                       # restored after every epoch
    assert [r["beta"] for r in trainer.history] == [expected[steps - 1], expected[2 * steps - 1],
                                                   2.0]
    # validation is the full objective: loss = recon + β·KL with the model's own β
    val = trainer.history[-1]
    assert val["val_loss"] == pytest.approx(val["val_recon"] + 2.0 * val["val_kl"], rel=1e-6)


def test_kl_warmup_resume_is_bit_identical(tmp_path):
    x = _data()
    cfg = dict(epochs=3, kl_warmup_epochs=2.0)
    straight = Trainer(_vae(), x, None, _config(**cfg))
    straight.fit()
    first = Trainer(_vae(), x, None, _config(**cfg), out_dir=tmp_path)
    first.fit(epochs=1)
    meta, _, _ = load_checkpoint(tmp_path / "checkpoint.npz")
    resumed = Trainer(build_model(meta["model_config"]), x, None,
                      TrainConfig(**meta["train_config"]), out_dir=tmp_path)
    resumed.load(tmp_path / "checkpoint.npz")
    resumed.fit()
    for name, p in _params(straight.model).items():
        np.testing.assert_array_equal(p, _params(resumed.model)[name], err_msg=name)


def test_kl_warmup_needs_a_model_with_a_kl_weight():
    with pytest.raises(ValueError, match="KL warm-up needs a model with a KL weight"):
        Trainer(Autoencoder(input_dim=12, hidden=(4,), latent_dim=2), _data(), None,
                _config(kl_warmup_epochs=1.0))
    with pytest.raises(ValueError, match="kl_warmup_epochs must be ≥ 0"):
        TrainConfig(kl_warmup_epochs=-1.0)
