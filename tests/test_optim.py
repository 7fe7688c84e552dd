"""Optimizers against textbook formulas written out here, schedules, clipping, state dicts."""
import math

import numpy as np
import pytest

from scratchvae.errors import CheckpointError
from scratchvae.optim import SGD, Adam, clip_grad_norm, global_grad_norm, schedules

# a quadratic  f(p) = ½ Σ h ⊙ (p − c)²  over two named parameters, gradient h ⊙ (p − c)
H = {"w": np.array([[1.0, 10.0], [0.3, 4.0]]), "b": np.array([2.0, 0.5, 7.0])}
C = {"w": np.array([[1.0, -2.0], [0.5, 3.0]]), "b": np.array([-1.0, 0.0, 2.0])}
START = {"w": np.array([[3.0, 1.0], [-2.0, 0.0]]), "b": np.array([2.0, -3.0, 0.5])}


def quad_grad(name, p):
    return H[name] * (p - C[name])


def quad_loss(params):
    return sum(0.5 * float((H[n] * (p - C[n]) ** 2).sum()) for n, p in params.items())


def make_params(start=START):
    """``[(name, param, grad)]`` triples, as ``model.parameters()`` returns them."""
    return [(n, v.copy(), np.zeros_like(v)) for n, v in start.items()]


def run(opt, params, steps):
    for _ in range(steps):
        for n, p, g in params:
            g[...] = quad_grad(n, p)
        opt.step()
    return {n: p.copy() for n, p, _ in params}


# ---------------------------------------------------------- textbook references
def adam_reference(steps, lr, b1=0.9, b2=0.999, eps=1e-8, wd=0.0, lr_at=None):
    out = {}
    for n, p0 in START.items():
        p, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
        for t in range(1, steps + 1):
            a = lr_at(t) if lr_at else lr
            g = quad_grad(n, p)
            p = p - a * wd * p                         # decoupled weight decay (AdamW)
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g ** 2
            m_hat = m / (1 - b1 ** t)
            v_hat = v / (1 - b2 ** t)
            p = p - a * m_hat / (np.sqrt(v_hat) + eps)
        out[n] = p
    return out


def sgd_reference(steps, lr, mu=0.0, nesterov=False, wd=0.0):
    out = {}
    for n, p0 in START.items():
        p, buf = p0.copy(), None
        for _ in range(steps):
            g = quad_grad(n, p) + wd * p
            if mu:
                buf = g if buf is None else mu * buf + g
                d = g + mu * buf if nesterov else buf
            else:
                d = g
            p = p - lr * d
        out[n] = p
    return out


def assert_close(got, want, rtol=1e-12):
    for n in want:
        np.testing.assert_allclose(got[n], want[n], rtol=rtol, atol=1e-14, err_msg=n)


@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.5, 0.9)])
def test_adam_matches_textbook(betas):
    params = make_params()
    got = run(Adam(params, lr=0.05, betas=betas), params, 40)
    assert_close(got, adam_reference(40, 0.05, *betas))


def test_adamw_matches_textbook():
    params = make_params()
    got = run(Adam(params, lr=0.05, weight_decay=0.1), params, 40)
    assert_close(got, adam_reference(40, 0.05, wd=0.1))
    assert not np.allclose(got["w"], adam_reference(40, 0.05)["w"])   # decay did something


def test_first_adam_step_is_lr_times_sign():
    # with bias correction the first step is lr * g / |g|; without it, lr * 0.1 / sqrt(0.001)
    params = make_params()
    got = run(Adam(params, lr=0.01), params, 1)
    for n in START:
        np.testing.assert_allclose(got[n] - START[n], -0.01 * np.sign(quad_grad(n, START[n])),
                                   rtol=1e-6)


@pytest.mark.parametrize("mu, nesterov, wd", [(0.0, False, 0.0), (0.9, False, 0.0),
                                              (0.9, True, 0.0), (0.8, True, 0.05),
                                              (0.0, False, 0.1)])
def test_sgd_matches_textbook(mu, nesterov, wd):
    params = make_params()
    got = run(SGD(params, lr=0.02, momentum=mu, nesterov=nesterov, weight_decay=wd), params, 30)
    assert_close(got, sgd_reference(30, 0.02, mu, nesterov, wd))


def test_nesterov_differs_from_plain_momentum():
    a, b = make_params(), make_params()
    pa = run(SGD(a, lr=0.02, momentum=0.9), a, 5)
    pb = run(SGD(b, lr=0.02, momentum=0.9, nesterov=True), b, 5)
    assert not np.allclose(pa["w"], pb["w"])


@pytest.mark.parametrize("make", [lambda p: Adam(p, lr=0.05),
                                  lambda p: SGD(p, lr=0.05, momentum=0.9),
                                  lambda p: SGD(p, lr=0.05, momentum=0.9, nesterov=True)],
                         ids=["adam", "momentum", "nesterov"])
def test_optimizers_converge_on_a_quadratic(make):
    params = make_params()
    start = quad_loss({n: p for n, p, _ in params})
    final = run(make(params), params, 1000)
    assert quad_loss(final) < 1e-8 * start
    for n in C:
        np.testing.assert_allclose(final[n], C[n], atol=1e-4)


# ------------------------------------------------------------------- schedules
def test_schedule_values():
    assert [schedules.constant(0.1)(s) for s in (1, 50)] == [0.1, 0.1]
    exp = schedules.exponential_decay(1.0, 0.5, every=2)
    assert [exp(s) for s in range(1, 7)] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    assert schedules.exponential_decay(2.0, 0.9)(3) == pytest.approx(2.0 * 0.81)
    cos = schedules.cosine(1.0, 10, min_lr=0.1)
    assert cos(1) == pytest.approx(1.0)
    assert cos(6) == pytest.approx(0.55)                 # halfway: (1 + 0.1) / 2
    assert cos(11) == pytest.approx(0.1) and cos(100) == pytest.approx(0.1)
    values = [cos(s) for s in range(1, 12)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    warm = schedules.linear_warmup(schedules.constant(2.0), 4)
    assert [warm(s) for s in range(1, 7)] == [0.5, 1.0, 1.5, 2.0, 2.0, 2.0]


def test_lr_schedule_is_used_by_sgd():
    sched = schedules.exponential_decay(0.1, 0.5)
    params = make_params()
    opt = SGD(params, lr=1.0, lr_schedule=sched)
    for step in range(1, 5):
        assert opt.lr == pytest.approx(sched(step))
        before = params[0][1].copy()
        g = quad_grad("w", before)
        params[0][2][...] = g
        params[1][2][...] = 0
        opt.step()
        np.testing.assert_allclose(params[0][1], before - sched(step) * g, rtol=1e-14)


def test_lr_schedule_is_used_by_adam():
    sched = schedules.linear_warmup(schedules.cosine(0.05, 30), 5)
    params = make_params()
    got = run(Adam(params, lr=123.0, lr_schedule=sched), params, 30)
    assert_close(got, adam_reference(30, None, lr_at=sched))


# -------------------------------------------------------------------- clipping
def test_clip_grad_norm_scales_to_max_norm():
    params = [("a", np.zeros(2), np.array([3.0, 4.0])), ("b", np.zeros(1), np.array([0.0]))]
    params.append(("c", np.zeros((2, 2)), np.full((2, 2), 0.0)))
    before = np.concatenate([g.ravel() for _, _, g in params])
    norm = clip_grad_norm(params, 1.0)
    assert norm == pytest.approx(5.0, rel=1e-15)          # the norm before clipping
    assert global_grad_norm(params) == pytest.approx(1.0, rel=1e-12)
    after = np.concatenate([g.ravel() for _, _, g in params])
    np.testing.assert_allclose(after, before / 5.0, rtol=1e-12)   # direction kept


def test_clip_grad_norm_leaves_small_gradients_alone():
    g = np.array([0.3, -0.4])
    params = [("a", np.zeros(2), g)]
    assert clip_grad_norm(params, 1.0) == pytest.approx(0.5)
    np.testing.assert_array_equal(g, [0.3, -0.4])


def test_clip_grad_norm_non_finite_and_invalid():
    g = np.array([np.inf, 1.0])
    assert clip_grad_norm([("a", np.zeros(2), g)], 1.0) == math.inf
    np.testing.assert_array_equal(g, [np.inf, 1.0])
    with pytest.raises(ValueError):
        clip_grad_norm([("a", np.zeros(2), np.ones(2))], 0.0)


# ---------------------------------------------------------------- state dicts
@pytest.mark.parametrize("make", [lambda p: Adam(p, lr=0.05, weight_decay=0.01),
                                  lambda p: SGD(p, lr=0.02, momentum=0.9, nesterov=True)],
                         ids=["adam", "sgd"])
def test_state_dict_round_trip_is_bit_identical(make):
    params = make_params()
    opt = make(params)
    run(opt, params, 7)
    state = opt.state_dict()
    assert state["t"] == 7

    resumed = make_params({n: p for n, p, _ in params})     # same values, new arrays
    opt2 = make(resumed)
    opt2.load_state_dict(state)
    a = run(opt, params, 5)
    b = run(opt2, resumed, 5)
    for n in a:
        np.testing.assert_array_equal(a[n], b[n])
    # without the state the continuation differs (the test above can fail)
    fresh = make_params({n: p for n, p, _ in resumed})
    c = run(make(fresh), fresh, 1)
    d = run(opt2, resumed, 1)
    assert not np.array_equal(c["w"], d["w"])


def test_state_dict_is_a_copy():
    params = make_params()
    opt = Adam(params, lr=0.1)
    run(opt, params, 2)
    state = opt.state_dict()
    m = state["state"]["w"]["m"].copy()
    run(opt, params, 2)
    np.testing.assert_array_equal(state["state"]["w"]["m"], m)


def test_load_state_dict_mismatched_names_raises():
    params = make_params()
    opt = Adam(params)
    state = opt.state_dict()
    state["state"]["other"] = state["state"].pop("w")
    with pytest.raises(CheckpointError, match="other"):
        Adam(make_params()).load_state_dict(state)
    bad_shape = Adam(make_params()).state_dict()
    bad_shape["state"]["b"]["v"] = np.zeros(4)
    with pytest.raises(CheckpointError, match="shape"):
        Adam(make_params()).load_state_dict(bad_shape)


# ---------------------------------------------------------------- construction
@pytest.mark.parametrize("lr", [0.0, -1e-3])
def test_invalid_learning_rate_raises(lr):
    with pytest.raises(ValueError, match="learning rate"):
        Adam(make_params(), lr=lr)
    with pytest.raises(ValueError, match="learning rate"):
        SGD(make_params(), lr=lr)


def test_invalid_parameter_lists_raise():
    with pytest.raises(ValueError, match="no parameters"):
        Adam([])
    dup = make_params() + make_params()[:1]
    with pytest.raises(ValueError, match="unique"):
        SGD(dup)
    with pytest.raises(ValueError, match="Nesterov"):
        SGD(make_params(), nesterov=True)


def test_load_state_dict_from_another_optimizer_raises_checkpoint_error():
    sgd = SGD(make_params(), momentum=0.9)
    with pytest.raises(CheckpointError):
        Adam(make_params()).load_state_dict(sgd.state_dict())
