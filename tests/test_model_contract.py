"""The model contract (scratchvae/models/base.py), checked on every model of the registry.

For each name in ``REGISTRY`` (``MODELS`` and the ``TASK_MODELS``): a small instance is
built; its batches are the arrays its ``inputs`` name; ``loss_and_grads`` reports every
term of ``terms`` as a finite float, leaves ``grads`` untouched with
``compute_grads=False`` and adds into them otherwise; ``encode``/``decode``/
``reconstruct``/``sample`` of the image models return what they promise where the model
has them; ``config`` rebuilds the same architecture; the state dict and a checkpoint
round-trip every array and the noise generator; and one Trainer epoch runs through the
hooks the model declares.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from scratchvae.models import MODELS, REGISTRY, build_model
from scratchvae.train import TrainConfig, Trainer, load_model, save_checkpoint

N = 12
SMALL = {
    "vae": dict(input_dim=16, hidden=(8,), latent_dim=3),
    "ae": dict(input_dim=16, hidden=(8,), latent_dim=3),
    "conv-vae": dict(image_shape=(1, 8, 8), channels=(2, 3), latent_dim=3),
    "cvae": dict(input_dim=16, n_classes=3, hidden=(8,), latent_dim=3),
    "dae": dict(input_dim=16, hidden=(8,), latent_dim=3),
    "sparse-ae": dict(input_dim=16, hidden=(), latent_dim=6),
    "stacked-ae": dict(sizes=(16, 8, 3)),
    "lagrangian-vae": dict(input_dim=16, hidden=(8,), latent_dim=2),
    "geco-vae": dict(input_dim=16, hidden=(8,), latent_dim=2),
    "vae-gan": dict(input_dim=16, hidden=(8,), latent_dim=3, dis_hidden=(8, 4)),
    "iwae": dict(input_dim=16, hidden=(8,), latent_dim=3, k=3),
    "conv-iwae": dict(image_shape=(1, 8, 8), channels=(2, 3), latent_dim=3, k=3),
    "hvae": dict(input_dim=16, hidden=(8, 6), latent_dims=(3, 2)),
    "conv-hvae": dict(image_shape=(1, 8, 8), channels=(2, 3), hidden=5, latent_dims=(3, 2)),
    "vampprior-vae": dict(input_dim=16, hidden=(8, 6), latent_dim=3, n_pseudo=4),
    "autorec": dict(n_users=16, hidden=5, l2=0.1),                    # TASK_MODELS from here
    "colorizer": dict(image_shape=(4, 4), channels=(2, 3, 4)),
}


def test_every_registered_model_has_a_small_case():
    assert set(SMALL) == set(REGISTRY)


def make(name, **kw):
    return build_model({"model": name, **SMALL[name], **kw})


def batch(model, n=N, seed=0):
    """The arrays ``model.inputs`` names, for the SMALL instances above."""
    rng = np.random.default_rng(seed)
    if tuple(model.inputs) == ("x", "target"):                          # a 4×4 colorizer
        return (rng.uniform(0.05, 0.95, (n, 16)).astype(model.dtype),      # luminance
                rng.uniform(0.05, 0.95, (n, 48)).astype(model.dtype))      # colour
    x = rng.uniform(0.05, 0.95, (n, 64 if "image_shape" in model.config else 16))
    x = x.astype(model.dtype)
    second = {("x",): None, ("x", "y"): np.arange(n) % 3,              # labels
              ("x", "mask"): rng.uniform(size=x.shape) < 0.6}          # observed ratings
    extra = second[tuple(model.inputs)]
    return (x,) if extra is None else (x, extra)


def grads_of(model):
    return {n: g.copy() for n, _, g in model.parameters()}


@pytest.mark.parametrize("name", list(REGISTRY))
def test_loss_and_grads_reports_finite_terms_and_adds_into_grads(name):
    model = make(name)
    data = batch(model)
    assert model.config["model"] == name and model.terms[0] == "loss"
    model.zero_grad()
    out = model.loss_and_grads(*data, compute_grads=False)
    assert all(isinstance(out[k], float) and math.isfinite(out[k]) for k in model.terms)
    assert all(not g.any() for g in grads_of(model).values())       # untouched
    noise = {"rng": 1} if getattr(model, "rng", None) is not None else {}   # frozen noise
    first = model.loss_and_grads(*data, **noise)
    once = grads_of(model)
    assert any(g.any() for g in once.values())
    model.loss_and_grads(*data, **noise)                              # the same noise again
    for n, g in grads_of(model).items():                              # ADDED, not replaced
        np.testing.assert_allclose(g, 2 * once[n], rtol=1e-5, atol=1e-7, err_msg=n)
    assert first["loss"] == model.loss_and_grads(*data, **noise, compute_grads=False)["loss"]


@pytest.mark.parametrize("name", list(MODELS))
def test_inference_methods_return_their_shapes(name):
    model = make(name)
    data = batch(model)
    x, extra = data[0], data[1:]
    D, L = x.shape[1], model.latent_dim
    code = model.encode(*data)
    code = code[0] if isinstance(code, tuple) else code
    assert code.shape == (N, L)
    assert model.reconstruct(*data).shape == (N, D)
    if hasattr(model, "decode") and name != "stacked-ae":
        assert model.decode(code, *extra).shape == (N, D)
    if hasattr(model, "sample"):
        labels = {"labels": np.arange(5) % 3} if extra else {}
        a = model.sample(5, rng=3, **labels)
        assert a.shape == (5, D)
        np.testing.assert_array_equal(a, model.sample(5, rng=3, **labels))   # seeded


@pytest.mark.parametrize("name", list(REGISTRY))
def test_config_state_dict_and_checkpoint_round_trip(name, tmp_path):
    model = make(name, seed=3)
    data = batch(model)
    model.loss_and_grads(*data)                     # advance the noise generator, if any
    clone = build_model(model.config)
    clone.load_state_dict(model.state_dict())
    for (n1, p1, _), (n2, p2, _) in zip(model.parameters(), clone.parameters()):
        assert n1 == n2
        np.testing.assert_array_equal(p1, p2, err_msg=n1)
    path = save_checkpoint(tmp_path / "c.npz", model)
    loaded, meta = load_model(path)
    assert meta["model_config"] == model.config and type(loaded) is type(model)
    state, back = model.state_dict(), loaded.state_dict()
    assert state.keys() == back.keys()
    for k in state:
        np.testing.assert_array_equal(state[k], back[k], err_msg=k)
    if getattr(model, "rng", None) is not None:     # the same noise continues after loading
        assert loaded.rng.bit_generator.state == model.rng.bit_generator.state
        assert (loaded.loss_and_grads(*data, compute_grads=False)["loss"]
                == model.loss_and_grads(*data, compute_grads=False)["loss"])


@pytest.mark.parametrize("name", list(REGISTRY))
def test_one_trainer_epoch_through_the_declared_hooks(name, tmp_path):
    model = make(name)
    data = batch(model, n=24)
    config = TrainConfig(epochs=1, batch_size=8, lr=1e-3, progress=False,
                         betas=model.optimizer_defaults.get("betas", (0.9, 0.999)))
    trainer = Trainer(model, data, data, config, out_dir=tmp_path)
    assert set(trainer.optimizer.optimizers) == set(model.parameter_groups())
    history = trainer.fit()
    assert len(history) == 1 and trainer.optimizer.t == 3
    assert all(math.isfinite(history[0][f"train_{k}"]) for k in model.terms)
    assert all(math.isfinite(history[0][f"val_{k}"]) for k in model.terms)
    assert (tmp_path / "checkpoint.npz").is_file()


@pytest.mark.parametrize("name", list(REGISTRY))
def test_kl_warm_up_only_for_a_model_with_a_kl_weight(name):
    model = make(name)
    data = batch(model, n=16)
    config = TrainConfig(epochs=2, batch_size=8, kl_warmup_epochs=2.0, progress=False)
    if model.kl_weight is None:
        with pytest.raises(ValueError, match="KL weight"):
            Trainer(model, data, config=config)
        return
    target = model.kl_weight
    history = Trainer(model, data, config=config).fit()
    assert history[0]["beta"] < target and history[-1]["beta"] == target == model.kl_weight
