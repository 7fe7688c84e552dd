"""The command line: train/resume, sample, reconstruct, gradcheck, --help, bad input."""
import json
import subprocess
import sys

import numpy as np
import pytest

from scratchvae import cli
from scratchvae import nn
from scratchvae.gradcheck import CHECKS, check_module
from scratchvae.models import MODELS
from scratchvae.train import load_checkpoint

QUICK = ["--limit", "300", "--hidden", "32", "--latent-dim", "4", "--batch-size", "64", "--quiet"]


def test_train_writes_checkpoint_history_results_and_figures(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "--epochs", "2", "--out", str(out), *QUICK]) == 0
    printed = capsys.readouterr().out
    assert "test (the model of epoch 2, lowest validation loss): loss" in printed and "−ELBO" in printed
    for name in ["checkpoint.npz", "history.json", "history.csv", "results.json",
                 "loss_curves.png", "reconstructions.png", "samples.png", "latent.png"]:
        assert (out / name).is_file(), name
    results = json.loads((out / "results.json").read_text())
    assert results["epochs"] == 2 and results["data"] == "sprites"
    assert set(results["test"]) == {"loss", "recon", "kl"}


def test_cli_resume_matches_an_uninterrupted_run(tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert cli.main(["train", "--epochs", "2", "--out", str(straight), *QUICK]) == 0
    assert cli.main(["train", "--epochs", "1", "--out", str(split), *QUICK]) == 0
    assert cli.main(["train", "--resume", "--epochs", "2", "--out", str(split), *QUICK]) == 0
    _, a, opt_a = load_checkpoint(straight / "checkpoint.npz")
    _, b, opt_b = load_checkpoint(split / "checkpoint.npz")
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert opt_a["t"] == opt_b["t"]


def test_sample_and_reconstruct(tmp_path):
    out = tmp_path / "run"
    cli.main(["train", "--epochs", "1", "--out", str(out), *QUICK])
    ckpt = str(out / "checkpoint.npz")
    assert cli.main(["sample", ckpt, "--n", "16", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").stat().st_size > 1000
    assert cli.main(["reconstruct", ckpt, "--n", "4", "--out", str(tmp_path / "r.png")]) == 0
    assert (tmp_path / "r.png").is_file()


def test_autoencoder_and_point_data(tmp_path):
    assert cli.main(["train", "--model", "ae", "--epochs", "1", "--out", str(tmp_path / "ae"),
                     *QUICK]) == 0
    out = tmp_path / "cos"
    assert cli.main(["train", "--data", "cosine3d", "--epochs", "1", "--latent-dim", "2",
                     "--activation", "ptanh", "--out", str(out), "--limit", "300", "--quiet"]) == 0
    meta, _, _ = load_checkpoint(out / "checkpoint.npz")
    assert meta["model_config"]["likelihood"] == "gaussian"     # auto: data not in [0, 1]
    assert cli.main(["sample", str(out / "checkpoint.npz"), "--n", "10",
                     "--out", str(tmp_path / "pts.png")]) == 0
    assert np.load(tmp_path / "pts.npy").shape == (10, 3)


def test_gradcheck_prints_a_table_and_exits_zero(capsys):
    assert cli.main(["gradcheck", "--only", "Linear", "ReLU", "bernoulli_nll"]) == 0
    out = capsys.readouterr().out
    assert "max rel err" in out and "3 passed, 0 failed" in out
    assert out.count("pass") >= 5       # Linear x/W/b, ReLU x, bernoulli logits


def test_gradcheck_exits_nonzero_on_a_failure(monkeypatch, capsys):
    """Register a layer whose backward is off by 1 % and run the real checker on it."""
    class Wrong(nn.Linear):
        def backward(self, dy):
            return 1.01 * super().backward(dy)

    def broken(seed=0, **options):
        x = np.random.default_rng(seed).normal(size=(3, 4))
        return check_module(Wrong(4, 2, rng=seed).astype(np.float64), x, op="broken", **options)

    monkeypatch.setitem(CHECKS, "broken", broken)
    assert cli.main(["gradcheck", "--only", "Tanh", "broken"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "1 passed, 1 failed" in out
    assert "gradcheck 'broken': FAIL" in out      # the full report of the failure follows


def test_unknown_data_set_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["train", "--data", "imagenet", "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "imagenet" in err and "fashion-mnist" in err


def test_bernoulli_on_unbounded_data_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["train", "--data", "cosine3d", "--likelihood", "bernoulli", "--epochs", "1",
                     "--limit", "100", "--out", str(tmp_path), "--quiet"]) == 2
    assert "[0, 1]" in capsys.readouterr().err


def test_resume_without_a_checkpoint_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["train", "--resume", "--out", str(tmp_path / "none"), "--quiet"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_gradcheck_runs_a_family_by_its_name(capsys):
    """A name that is no entry but a family runs each entry of it; an exact name, one."""
    assert cli.main(["gradcheck", "--only", "GECOVAE", "ParametricTanh"]) == 0
    out = capsys.readouterr().out
    assert "GECOVAE(mse, ptanh)" in out and "GECOVAE(gaussian, learned var)" in out
    assert "ParametricTanh(shared)" not in out and "3 passed, 0 failed" in out


def test_unknown_gradcheck_name(capsys):
    assert cli.main(["gradcheck", "--only", "Nope"]) == 2
    assert "Nope" in capsys.readouterr().err


@pytest.mark.parametrize("command", [[], ["train"], ["sample"], ["reconstruct"], ["gradcheck"]])
def test_help_for_every_command(command, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([*command, "--help"])
    assert exc.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_module_entry_point_runs():
    proc = subprocess.run([sys.executable, "-m", "scratchvae", "gradcheck", "--only", "Tanh"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "1 passed, 0 failed" in proc.stdout


COMMON = ["--limit", "300", "--batch-size", "64", "--quiet"]
MODEL_QUICK = {"conv-vae": [], "conv-iwae": [], "stacked-ae": ["--sizes", "32", "8"],
               "cvae": ["--hidden", "32"]}


@pytest.mark.parametrize("model", list(MODELS))
def test_every_model_of_the_registry_trains_from_the_command_line(model, tmp_path):
    out = tmp_path / model
    extra = MODEL_QUICK.get(model, ["--hidden", "32"])
    assert cli.main(["train", "--model", model, "--epochs", "1", "--out", str(out),
                     *COMMON, *extra]) == 0
    meta, _, _ = load_checkpoint(out / "checkpoint.npz")
    assert meta["model_config"]["model"] == model and meta["epoch"] == 1
    results = json.loads((out / "results.json").read_text())
    assert all(np.isfinite(v) for v in results["test"].values())


@pytest.mark.parametrize("argv, message", [
    (["--model", "conv-vae", "--hidden", "32"], "--model conv-vae does not take --hidden"),
    (["--model", "vae", "--k", "3"], "--model vae does not take --k"),
    (["--model", "ae", "--beta", "2"], "--model ae does not take --beta"),
    (["--model", "cvae", "--data", "cosine3d"], "has none"),
    (["--model", "conv-vae", "--data", "cosine3d"], "needs image data"),
    (["--model", "vae", "--pretrain-epochs", "1"], "no stages"),
    (["--group-lr", "discriminator"], "GROUP=LR"),
])
def test_options_a_model_cannot_take_are_refused(argv, message, tmp_path, capsys):
    assert cli.main(["train", "--epochs", "1", "--out", str(tmp_path / "r"), *COMMON,
                     *argv]) == 2
    assert message in capsys.readouterr().err


def test_stacked_ae_pretrains_stage_by_stage_before_fine_tuning(tmp_path):
    out = tmp_path / "stacked"
    assert cli.main(["train", "--model", "stacked-ae", "--sizes", "32", "8", "--epochs", "1",
                     "--pretrain-epochs", "1", "--out", str(out), *COMMON]) == 0


def test_vae_gan_trains_with_its_own_betas_and_a_group_rate(tmp_path):
    out = tmp_path / "gan"
    assert cli.main(["train", "--model", "vae-gan", "--hidden", "32", "--dis-hidden", "32",
                     "--group-lr", "discriminator=3e-4", "--epochs", "1", "--out", str(out),
                     *COMMON]) == 0
    meta, _, _ = load_checkpoint(out / "checkpoint.npz")
    assert meta["train_config"]["betas"] == [0.5, 0.999]
    assert meta["train_config"]["group_lr"] == {"discriminator": 3e-4}
    assert meta["optimizer"]["groups"]["discriminator"]["base_lr"] == 3e-4


@pytest.mark.parametrize("model", ["iwae", "conv-iwae"])
def test_train_iwae_models_keep_k_and_take_no_beta(model, tmp_path):
    out = tmp_path / model
    extra = MODEL_QUICK.get(model, ["--hidden", "32"])
    assert cli.main(["train", "--model", model, "--k", "3", "--epochs", "1", "--kl-warmup", "0",
                     "--latent-dim", "4", "--out", str(out), *COMMON, *extra]) == 0
    meta, _, _ = load_checkpoint(out / "checkpoint.npz")
    assert meta["model_config"]["model"] == model and meta["model_config"]["k"] == 3
    assert "beta" not in meta["model_config"]


def test_kl_warmup_option_reaches_the_trainer(tmp_path):
    out = tmp_path / "warm"
    assert cli.main(["train", "--epochs", "2", "--kl-warmup", "1.5", "--out", str(out), *QUICK]) == 0
    meta, _, _ = load_checkpoint(out / "checkpoint.npz")
    assert meta["train_config"]["kl_warmup_epochs"] == 1.5
    assert meta["history"][0]["beta"] < 1.0 and meta["history"][-1]["beta"] == 1.0


def test_pseudo_inputs_start_from_training_images_when_asked(tmp_path, capsys):
    from scratchvae.cli.train import pseudo_inputs_from_data
    from scratchvae.models import build_model

    model = build_model({"model": "vampprior-vae", "input_dim": 16, "hidden": [8],
                         "latent_dim": 2, "n_pseudo": 5})
    x = np.random.default_rng(0).uniform(size=(40, 16)).astype(np.float32)
    idx = pseudo_inputs_from_data(model, x, seed=3)
    assert len(set(idx.tolist())) == 5
    np.testing.assert_array_equal(model.params["pseudo_inputs"], x[idx])
    assert np.array_equal(idx, pseudo_inputs_from_data(model, x, seed=3))      # seeded
    out = tmp_path / "vamp"
    assert cli.main(["train", "--model", "vampprior-vae", "--n-pseudo", "6",
                     "--pseudo-from-data", "--epochs", "1", "--out", str(out), *QUICK]) == 0
    meta, _, _ = load_checkpoint(out / "checkpoint.npz")
    assert meta["train_config"]["extra"]["pseudo_from_data"] is True
    assert cli.main(["train", "--resume", "--epochs", "2", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert cli.main(["train", "--pseudo-from-data", "--epochs", "1",
                     "--out", str(tmp_path / "plain"), *QUICK]) == 2
    assert "--model vae has none" in capsys.readouterr().err
