"""Stacked autoencoder: structure, the stage views sharing the stack's arrays, each loss
recomputed by hand, gradient checks of the stages and the whole stack, greedy
pretraining, the fine-tuning golden run, errors and the config round trip."""

import numpy as np
import pytest

from scratchvae.distributions import bernoulli_nll, squared_error
from scratchvae.errors import ShapeError
from scratchvae.models.stacked_ae import StackedAutoencoder
from scratchvae.train import greedy_pretrain
from scratchvae.optim import Adam
from scratchvae.train import TrainConfig

SIZES = (12, 8, 5, 3)
N = 6
SEEDS = (0, 1, 2)


def batch(n=N, d=SIZES[0], seed=0, dtype=np.float32):
    return np.random.default_rng(seed).uniform(0, 1, (n, d)).astype(dtype)


def test_structure_and_shapes():
    m = StackedAutoencoder(SIZES)
    assert m.n_stages == 3 and (m.input_dim, m.latent_dim) == (12, 3)
    x = batch()
    for depth, size in enumerate(SIZES):
        assert m.encode(x, depth=depth).shape == (N, size)
    np.testing.assert_array_equal(m.encode(x, depth=0), x)
    assert m.encode(x).shape == (N, 3)
    assert m.reconstruct(x).shape == (N, 12)
    assert ((m.reconstruct(x) > 0) & (m.reconstruct(x) < 1)).all()     # Bernoulli means
    np.testing.assert_array_equal(m.encode_batched(batch(n=7), batch_size=3),
                                  m.encode(batch(n=7)))
    for k in range(3):
        assert m.stage_encoder(k)[0].params["W"].shape == (SIZES[k], SIZES[k + 1])
        assert m.stage_decoder(k)[0].params["W"].shape == (SIZES[k + 1], SIZES[k])


def test_stage_shares_the_stack_arrays():
    m = StackedAutoencoder(SIZES)
    stack_params = {id(p) for _, p, _ in m.parameters()}
    for k in range(3):
        st = m.stage(k)
        assert len(st.parameters()) == 4                     # enc W, b and dec W, b
        assert all(id(p) in stack_params for _, p, _ in st.parameters())
    assert sum(len(m.stage(k).parameters()) for k in range(3)) == len(m.parameters())


def test_training_a_stage_moves_only_that_stage():
    m = StackedAutoencoder(SIZES, seed=2)
    before = {n: p.copy() for n, p, _ in m.parameters()}
    st = m.stage(1)
    own = {id(p) for _, p, _ in st.parameters()}
    opt = Adam(st.parameters(), lr=1e-2)
    h1 = m.encode(batch(), depth=1)
    for _ in range(3):
        st.zero_grad()
        st.loss_and_grads(h1)
        opt.step()
    for n, p, _ in m.parameters():
        changed = not np.array_equal(p, before[n])
        assert changed == (id(p) in own), n


def test_losses_match_hand_computation():
    m = StackedAutoencoder(SIZES, dtype=np.float64)
    x = batch(dtype=np.float64)
    sig = lambda a: 1 / (1 + np.exp(-a))
    lin = lambda seq, h: h @ seq[0].params["W"] + seq[0].params["b"]
    h = [x]
    for k in range(3):
        h.append(sig(lin(m.stage_encoder(k), h[-1])))
    # stage 0: Bernoulli NLL of x under the logits of dec_0(h_1)
    s0 = m.stage(0).loss_and_grads(x, compute_grads=False)["loss"]
    assert s0 == pytest.approx(bernoulli_nll(lin(m.stage_decoder(0), h[1]), x)[0], rel=1e-12)
    # stage 2: squared error between h_2 and sigmoid(dec_2(h_3))
    s2 = m.stage(2).loss_and_grads(h[2], compute_grads=False)["loss"]
    assert s2 == pytest.approx(squared_error(sig(lin(m.stage_decoder(2), h[3])), h[2])[0],
                               rel=1e-12)
    # the whole stack: x → h_3 → ĥ_2 → ĥ_1 → logits
    r = h[3]
    for k in (2, 1):
        r = sig(lin(m.stage_decoder(k), r))
    full = m.loss_and_grads(x, compute_grads=False)
    assert full["loss"] == pytest.approx(bernoulli_nll(lin(m.stage_decoder(0), r), x)[0],
                                         rel=1e-12)
    np.testing.assert_allclose(full["code"], h[3], rtol=1e-12)


def test_greedy_pretraining_then_fine_tuning():
    rng = np.random.default_rng(5)
    x = 1 / (1 + np.exp(-3 * rng.normal(size=(64, 4)) @ rng.normal(size=(4, 20))))  # rank-4
    x = np.clip(x, 0.01, 0.99).astype(np.float32)
    floor = float(-(x * np.log(x) + (1 - x) * np.log1p(-x)).sum(axis=1).mean())  # BCE ≥ H(x)
    cfg = TrainConfig(epochs=20, batch_size=16, lr=1e-2, progress=False)

    def run():
        m = StackedAutoencoder((20, 10, 4), seed=0)
        histories = greedy_pretrain(m, x, cfg)
        return m, histories

    m, hist = run()
    assert len(hist) == 2 and all(len(h) == 20 for h in hist)
    for h, low in zip(hist, (floor, 0.0)):                   # every stage learned
        first, last = h[0]["train_loss"] - low, h[-1]["train_loss"] - low
        assert last < 0.8 * first, [r["train_loss"] for r in h]
    m2, hist2 = run()
    assert hist2[0][-1]["train_loss"] == hist[0][-1]["train_loss"]   # reproducible
    for (n, p, _), (_, p2, _) in zip(m.parameters(), m2.parameters()):
        np.testing.assert_array_equal(p, p2, err_msg=n)
    # pretrained weights give a better starting point for the stack than random ones
    fresh = StackedAutoencoder((20, 10, 4), seed=0)
    assert m.evaluate(x)["loss"] < fresh.evaluate(x)["loss"]


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="at least one code size"):
        StackedAutoencoder((784,))
    with pytest.raises(ValueError, match="all positive"):
        StackedAutoencoder((784, 0))
    m = StackedAutoencoder(SIZES)
    with pytest.raises(IndexError, match="stages 0 … 2"):
        m.stage(3)
    with pytest.raises(IndexError, match="depth"):
        m.encode(batch(), depth=4)
    with pytest.raises(ShapeError, match=r"\(N, 12\)"):
        m.loss_and_grads(batch(d=13))
    with pytest.raises(ShapeError, match=r"\(N, 8\)"):
        m.stage(1).loss_and_grads(batch(d=12))
    with pytest.raises(ValueError, match="likelihood"):
        StackedAutoencoder(SIZES, likelihood="poisson")


def test_config_rebuilds_the_same_model():
    m = StackedAutoencoder(SIZES, likelihood="mse", activation="tanh", seed=3)
    cfg = dict(m.config)
    assert cfg.pop("model") == "stacked-ae" == m.name
    m2 = StackedAutoencoder(**cfg)
    x = batch()
    assert m2.loss_and_grads(x)["loss"] == m.loss_and_grads(x)["loss"]
    assert m.stage(1).config["stage"] == 1
