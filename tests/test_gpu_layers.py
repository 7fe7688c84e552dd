"""The GPU path against the NumPy path: every layer forward and backward, the losses,
the reparameterization and KL, Adam, the fused numba.cuda kernels on CuPy arrays,
``to("cuda")``/``to("cpu")`` round trips, and whole VAE training runs whose loss curves
must match the CPU run's.

Each check builds the same layer twice from one seed, runs the NumPy copy on the CPU
("numpy" kernel path, the reference) and the CuPy copy on the GPU, and compares outputs,
input gradients, parameter gradients and buffers: float64 to 1e-10, float32 to round-off
(relative to the largest value of the reference). Randomness (ε, dropout masks, batch
order) is drawn on the host from seeded generators in both runs, so the draws are equal.

Skipped, with the reason, where CuPy is not installed or sees no CUDA device.
"""
import numpy as np
import pytest

cupy = pytest.importorskip("cupy", reason="CuPy (the GPU extra: pip install -e '.[gpu]') "
                                          "is not installed")

from scratchvae import nn  # noqa: E402
from scratchvae.backend import device_of, gpu_available, to_numpy, use_cpu_kernels  # noqa: E402
from scratchvae.distributions import (  # noqa: E402
    bernoulli_nll, gaussian_nll, kl_diag_gaussians, kl_standard_normal, reparameterize_backward,
    reparameterize_forward, squared_error,
)
from scratchvae.models import VAE  # noqa: E402
from scratchvae.models.conv_vae import ConvVAE  # noqa: E402
from scratchvae.optim import Adam  # noqa: E402
from scratchvae.train.trainer import TrainConfig, Trainer  # noqa: E402


def _device_count():
    try:
        return cupy.cuda.runtime.getDeviceCount()
    except Exception:     # CUDARuntimeError: no driver / no device
        return 0


if _device_count() < 1 or not gpu_available():
    pytest.skip("CuPy is installed but sees no CUDA device", allow_module_level=True)

pytestmark = pytest.mark.gpu
DTYPES = [np.float64, np.float32]


def assert_loss_close(gpu, cpu, dtype, what=""):
    """A loss's ``(value, {input: gradient})`` on both devices: the value and every gradient."""
    assert_close(gpu[0], cpu[0], dtype, f"{what}: value")
    assert gpu[1].keys() == cpu[1].keys(), f"{what}: gradients {sorted(gpu[1])} vs {sorted(cpu[1])}"
    for k in cpu[1]:
        assert_close(gpu[1][k], cpu[1][k], dtype, f"{what}: d/d{k}")


def assert_close(gpu, cpu, dtype, what=""):
    """float64: 1e-10 relative and absolute; float32: round-off relative to max |cpu|."""
    gpu, cpu = to_numpy(gpu), np.asarray(cpu)
    assert gpu.shape == cpu.shape, f"{what}: shapes {gpu.shape} vs {cpu.shape}"
    if np.dtype(dtype) == np.float64:
        np.testing.assert_allclose(gpu, cpu, rtol=1e-10, atol=1e-10, err_msg=what)
    else:
        scale = float(np.max(np.abs(cpu))) if cpu.size else 1.0
        np.testing.assert_allclose(gpu, cpu, rtol=1e-5, atol=1e-5 * max(scale, 1e-30),
                                   err_msg=what)


def to_gpu(*arrays):
    return [cupy.asarray(a) for a in arrays]


# ======================================================================== layers
def _layer_cases(dtype):
    """(name, factory, input shape, input transform): the factory builds identical layers."""
    def away_from_zero(x):                                  # no kinks in checked code
        return x + np.sign(x) * 0.1
    return [
        ("linear", lambda: nn.Linear(7, 5, rng=0, dtype=dtype), (6, 7), None),
        ("linear_no_bias", lambda: nn.Linear(7, 5, bias=False, rng=1, dtype=dtype), (6, 7), None),
        ("conv2d", lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1, rng=2, dtype=dtype),
         (2, 3, 9, 7), None),
        ("conv2d_rect", lambda: nn.Conv2d(2, 3, (3, 2), stride=(1, 2), padding=(0, 1), rng=3,
                                          dtype=dtype), (3, 2, 6, 5), None),
        ("conv_transpose2d", lambda: nn.ConvTranspose2d(3, 4, 4, stride=2, padding=1, rng=4,
                                                        dtype=dtype), (2, 3, 5, 4), None),
        ("conv_transpose2d_outpad", lambda: nn.ConvTranspose2d(
            2, 3, 3, stride=2, padding=1, output_padding=1, rng=5, dtype=dtype), (2, 2, 4, 3), None),
        ("batchnorm1d", lambda: nn.BatchNorm1d(5, dtype=dtype), (8, 5), None),
        ("batchnorm2d", lambda: nn.BatchNorm2d(3, dtype=dtype), (4, 3, 5, 4), None),
        ("batchnorm2d_eval", lambda: _eval_bn(dtype), (4, 3, 5, 4), None),
        ("relu", nn.ReLU, (5, 11), away_from_zero),
        ("leaky_relu", lambda: nn.LeakyReLU(0.2), (5, 11), away_from_zero),
        ("tanh", nn.Tanh, (5, 11), None),
        ("sigmoid", nn.Sigmoid, (5, 11), None),
        ("softplus", nn.Softplus, (5, 11), None),
        ("identity", nn.Identity, (5, 11), None),
        ("ptanh_shared", lambda: nn.ParametricTanh(None, a=1.3, b=0.7, dtype=dtype), (5, 11), None),
        ("ptanh_per_feature", lambda: _ptanh(dtype), (5, 11), None),
        ("flatten", nn.Flatten, (3, 2, 4, 5), None),
        ("reshape", lambda: nn.Reshape((2, 4, 5)), (3, 40), None),
        ("upsample", lambda: nn.Upsample(2), (2, 3, 4, 5), None),
        ("dropout", lambda: nn.Dropout(0.3, rng=6), (5, 11), None),
        ("sequential", lambda: nn.Sequential(
            nn.Conv2d(1, 2, 3, stride=2, padding=1, rng=7, dtype=dtype), nn.BatchNorm2d(2, dtype=dtype),
            nn.LeakyReLU(0.1), nn.Flatten(), nn.Linear(2 * 4 * 4, 6, rng=8, dtype=dtype),
            nn.ParametricTanh(6, dtype=dtype), nn.Linear(6, 32, rng=9, dtype=dtype),
            nn.Reshape((2, 4, 4)), nn.Upsample(2)), (3, 1, 8, 8), None),
    ]


def _eval_bn(dtype):
    layer = nn.BatchNorm2d(3, dtype=dtype)
    rng = np.random.default_rng(11)
    layer.params["gamma"][...] = rng.uniform(0.5, 1.5, 3)
    layer.params["beta"][...] = rng.normal(size=3)
    layer.buffers["running_mean"][...] = rng.normal(size=3)
    layer.buffers["running_var"][...] = rng.uniform(0.5, 2, 3)
    return layer.eval()


def _ptanh(dtype):
    layer = nn.ParametricTanh(11, dtype=dtype)
    rng = np.random.default_rng(12)
    layer.params["a"][...] = rng.uniform(0.5, 1.5, 11)
    layer.params["b"][...] = rng.uniform(0.5, 1.5, 11)
    return layer


def _forward_backward(layer, x, dy_of):
    y = layer.forward(x)
    dy = dy_of(y)
    dx = layer.backward(dy)
    grads = {n: g for n, _, g in layer.parameters()}
    return y, dx, grads, layer.state_dict()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", range(len(_layer_cases(np.float64))),
                         ids=[c[0] for c in _layer_cases(np.float64)])
def test_layer_forward_backward_matches_numpy(case, dtype):
    name, make, shape, transform = _layer_cases(dtype)[case]
    rng = np.random.default_rng(case)
    x = rng.standard_normal(shape)
    x = (transform(x) if transform else x).astype(dtype)
    dys = {}

    def dy_of(y):                              # one random upstream gradient for both runs
        if "dy" not in dys:
            dys["dy"] = np.random.default_rng(100 + case).standard_normal(y.shape).astype(dtype)
        return dys["dy"] if device_of(y) == "cpu" else cupy.asarray(dys["dy"])

    with use_cpu_kernels("numpy"):
        cpu = _forward_backward(make(), x, dy_of)
    layer = make().to("cuda")
    assert all(device_of(p) == "cuda" for _, p, _ in layer.parameters())
    gpu = _forward_backward(layer, cupy.asarray(x), dy_of)
    assert device_of(gpu[0]) == "cuda" and device_of(gpu[1]) == "cuda"
    assert gpu[0].dtype == dtype and gpu[1].dtype == dtype
    assert_close(gpu[0], cpu[0], dtype, f"{name} forward")
    assert_close(gpu[1], cpu[1], dtype, f"{name} dx")
    assert gpu[2].keys() == cpu[2].keys()
    for k in cpu[2]:
        assert_close(gpu[2][k], cpu[2][k], dtype, f"{name} grad {k}")
    assert gpu[3].keys() == cpu[3].keys()
    for k in cpu[3]:                           # parameters and buffers (BatchNorm running stats)
        if cpu[3][k].dtype.kind == "f":
            assert_close(gpu[3][k], cpu[3][k], dtype, f"{name} state {k}")
        else:
            np.testing.assert_array_equal(gpu[3][k], cpu[3][k])


# ======================================================================== losses
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses_match_numpy(dtype, reduction):
    rng = np.random.default_rng(20)
    out = (rng.standard_normal((9, 37)) * 4).astype(dtype)
    out[0, :2] = [60.0, -60.0]                                    # saturated logits
    x = rng.uniform(0, 1, out.shape).astype(dtype)
    logvar = rng.normal(0, 0.5, out.shape).astype(dtype)
    logvar_d = rng.normal(0, 0.5, 37).astype(dtype)
    q = [rng.standard_normal((9, 5)).astype(dtype) for _ in range(4)]
    cases = {
        "bernoulli": lambda a, b, *_: bernoulli_nll(a, b, reduction),
        "gaussian_fixed": lambda a, b, *_: gaussian_nll(a, b, 0.3, reduction),
        "gaussian_pixel": lambda a, b, lv, _: gaussian_nll(a, b, lv, reduction),
        "gaussian_per_dim": lambda a, b, _, lvd: gaussian_nll(a, b, lvd, reduction),
        "mse": lambda a, b, *_: squared_error(a, b, reduction),
    }
    for name, fn in cases.items():
        with use_cpu_kernels("numpy"):
            cpu = fn(out, x, logvar, logvar_d)
        gpu = fn(*to_gpu(out, x, logvar, logvar_d))
        assert_loss_close(gpu, cpu, dtype, f"{name} {reduction}")
    with use_cpu_kernels("numpy"):
        cpu_kl = kl_standard_normal(q[0], q[1], reduction)
        cpu_kld = kl_diag_gaussians(*q, reduction)
    assert_loss_close(kl_standard_normal(*to_gpu(q[0], q[1]), reduction), cpu_kl, dtype,
                      f"kl_standard_normal {reduction}")
    assert_loss_close(kl_diag_gaussians(*to_gpu(*q), reduction), cpu_kld, dtype,
                      f"kl_diag_gaussians {reduction}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_reparameterization_and_kl_on_encoder_halves(dtype):
    """μ and logvar as the VAE makes them: strided halves of one (N, 2L) array."""
    rng = np.random.default_rng(21)
    N, L = 33, 7
    h = rng.standard_normal((N, 2 * L)).astype(dtype)
    eps = rng.standard_normal((N, L)).astype(dtype)
    dz = rng.standard_normal((N, L)).astype(dtype)
    with use_cpu_kernels("numpy"):
        z, cache = reparameterize_forward(h[:, :L], h[:, L:], eps)
        dmu, dlogvar = reparameterize_backward(dz.copy(), cache)
        kl = kl_standard_normal(h[:, :L], h[:, L:])
    hg, epsg, dzg = to_gpu(h, eps, dz)
    zg, cacheg = reparameterize_forward(hg[:, :L], hg[:, L:], epsg)
    assert_close(zg, z, dtype, "z")
    assert_close(cacheg[1], cache[1], dtype, "std")
    for g, c, what in zip(reparameterize_backward(dzg, cacheg), (dmu, dlogvar), ("dmu", "dlogvar")):
        assert_close(g, c, dtype, what)
    assert_loss_close(kl_standard_normal(hg[:, :L], hg[:, L:]), kl, dtype, "kl")
    # ε drawn from a seeded generator on the host is the same on both devices
    e_cpu = reparameterize_forward(h[:, :L], h[:, L:], rng=np.random.default_rng(3))[1][0]
    e_gpu = reparameterize_forward(hg[:, :L], hg[:, L:], rng=np.random.default_rng(3))[1][0]
    np.testing.assert_array_equal(to_numpy(e_gpu), e_cpu)


# ========================================================================== Adam
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_adam_steps_match_numpy(dtype, weight_decay):
    rng = np.random.default_rng(22)
    shapes = {"W": (31, 17), "b": (17,), "k": (4, 3, 3, 3)}
    init = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    grads = [{k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()} for _ in range(5)]
    results = {}
    for device in ("cpu", "cuda"):
        xp = np if device == "cpu" else cupy
        params = [(k, xp.array(v), xp.zeros_like(xp.array(v))) for k, v in init.items()]
        opt = Adam(params, lr=1e-2, weight_decay=weight_decay)
        with use_cpu_kernels("numpy"):
            for step in grads:
                for k, _, g in params:
                    g[...] = xp.asarray(step[k])
                opt.step()
        results[device] = ({k: p for k, p, _ in params}, opt.state_dict())
    for k in shapes:
        assert_close(results["cuda"][0][k], results["cpu"][0][k], dtype, f"param {k}")
        for slot in ("m", "v"):
            assert_close(results["cuda"][1]["state"][k][slot], results["cpu"][1]["state"][k][slot],
                         dtype, f"{slot} of {k}")


# ============================================================ fused CUDA kernels
def test_fused_kernels_can_launch_here():
    from kernels.cuda import fused
    assert fused.usable(cupy), ("numba.cuda cannot compile or launch on this machine; the "
                                "fused kernels would silently fall back to CuPy expressions")


@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_kernels_on_cupy_arrays_match_references(dtype):
    from kernels.cuda import fused as F
    rng = np.random.default_rng(23)
    tol = 1e-13 if dtype == np.float64 else 1e-6
    logits = (rng.standard_normal((300, 785)) * 5).astype(dtype)     # > MAX_THREADS columns
    logits[0, :3] = [1e4, -1e4, 0.0]
    x = rng.uniform(0, 1, logits.shape).astype(dtype)
    rows_ref, dl_ref = F.bce_logits_reference(logits.astype(np.float64), x.astype(np.float64),
                                              1 / 300)
    for kw in ({}, {"threads": 32, "blocks": 7}):
        rows, dl = F.bce_logits(*to_gpu(logits, x), 1 / 300, **kw)
        np.testing.assert_allclose(to_numpy(rows), rows_ref, rtol=tol)
        np.testing.assert_allclose(to_numpy(dl), dl_ref, rtol=tol, atol=tol / 300)
    again = F.bce_logits(*to_gpu(logits, x), 1 / 300)[0]
    np.testing.assert_array_equal(to_numpy(again),                                     # bitwise
                                  to_numpy(F.bce_logits(*to_gpu(logits, x), 1 / 300)[0]))

    N, L = 1001, 13                                     # > MAX_BLOCKS rows: the grid strides
    h = rng.standard_normal((N, 2 * L)).astype(dtype)
    eps, dz = (rng.standard_normal((N, L)).astype(dtype) for _ in range(2))
    hg, epsg, dzg = to_gpu(h, eps, dz)
    z, std = F.reparameterize(hg[:, :L], hg[:, L:], epsg)
    z_ref, std_ref = F.reparameterize_reference(h[:, :L], h[:, L:], eps)
    np.testing.assert_allclose(to_numpy(z), z_ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(to_numpy(std), std_ref, rtol=tol)
    _, dlv = F.reparameterize_backward(dzg, epsg, std)
    np.testing.assert_allclose(to_numpy(dlv), F.reparameterize_backward_reference(dz, eps, std_ref)[1],
                               rtol=tol, atol=tol)
    rows, dmu, dlv = F.kl_standard_normal(hg[:, :L], hg[:, L:], 1 / N)
    ref = F.kl_standard_normal_reference(h[:, :L].astype(np.float64), h[:, L:].astype(np.float64),
                                         1 / N)
    for got, want in zip((rows, dmu, dlv), ref):
        np.testing.assert_allclose(to_numpy(got), want, rtol=tol, atol=tol / N)


def test_fused_path_is_taken_for_cupy_arrays(monkeypatch):
    """The library reaches the fused kernels for CuPy arrays (and they do not refuse them)."""
    from kernels.cuda import fused as F
    calls = []
    for name in ("bce_logits", "kl_standard_normal", "reparameterize", "reparameterize_backward",
                 "adam_update"):
        real = getattr(F, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            result = _real(*args, **kwargs)
            calls.append((_name, result is not None))
            return result
        monkeypatch.setattr(F, name, spy)
    model = VAE(input_dim=20, hidden=(16,), latent_dim=3, seed=0).to("cuda")
    opt = Adam(model.parameters())
    model.loss_and_grads(cupy.asarray(np.random.default_rng(0).uniform(0, 1, (8, 20)), np.float32))
    opt.step()
    assert {n for n, _ in calls} == {"bce_logits", "kl_standard_normal", "reparameterize",
                                     "reparameterize_backward", "adam_update"}
    assert all(ok for _, ok in calls), calls


# ======================================================== moving whole models
@pytest.mark.parametrize("make", [
    lambda: VAE(input_dim=20, hidden=(16, 12), latent_dim=3, seed=1, dtype=np.float64),
    lambda: ConvVAE(image_shape=(1, 8, 8), channels=(4, 8), latent_dim=3, seed=1,
                    dtype=np.float64),
], ids=["vae", "conv_vae"])
def test_model_to_cuda_and_back_round_trips(make):
    model = make()
    before = model.state_dict()
    x = np.random.default_rng(2).uniform(0, 1, (5, model.input_dim))
    eps = np.random.default_rng(3).standard_normal((5, model.latent_dim))
    model.zero_grad()
    cpu = model.loss_and_grads(x, eps=eps.copy())
    cpu_grads = {n: g.copy() for n, _, g in model.parameters()}

    assert model.to("cuda") is model
    assert all(device_of(a) == "cuda" for _, p, g in model.parameters() for a in (p, g))
    on_gpu = model.state_dict()
    assert on_gpu.keys() == before.keys()
    assert all(isinstance(v, np.ndarray) and np.array_equal(v, before[k]) for k, v in on_gpu.items())
    model.zero_grad()
    gpu = model.loss_and_grads(cupy.asarray(x), eps=cupy.asarray(eps))
    for k in ("loss", "recon", "kl"):
        np.testing.assert_allclose(gpu[k], cpu[k], rtol=1e-10)
    for n, _, g in model.parameters():
        assert_close(g, cpu_grads[n], np.float64, f"grad {n}")

    assert model.to("cpu") is model
    assert all(type(a) is np.ndarray for _, p, g in model.parameters() for a in (p, g))
    after = model.state_dict()
    assert all(np.array_equal(after[k], before[k]) for k in before)


# ========================================================= a whole training run
def _data(n=192, d=48, seed=0):
    """Smooth [0, 1] images: a few random prototypes blended per example."""
    rng = np.random.default_rng(seed)
    protos = rng.uniform(0, 1, (4, d))
    w = rng.dirichlet(np.ones(4), n)
    return np.clip(w @ protos + rng.normal(0, 0.02, (n, d)), 0, 1)


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-9), (np.float32, 2e-4)])
def test_vae_training_run_matches_cpu(dtype, rtol):
    """Three epochs of Trainer with Adam: the same batch order (BatchIterator's seed) and the
    same ε (model.rng draws on the host and copies), so the loss curves must agree to the
    dtype's round-off, accumulated over 18 steps."""
    x = _data().astype(dtype)
    config = TrainConfig(epochs=3, batch_size=32, lr=3e-3, seed=4, progress=False)
    runs = {}
    for device in ("cpu", "cuda"):
        model = VAE(input_dim=48, hidden=(32,), latent_dim=4, seed=5, dtype=dtype)
        data = x
        if device == "cuda":
            model.to("cuda")
            data = cupy.asarray(x)
        with use_cpu_kernels("numpy"):
            history = Trainer(model, data, config=config).fit()
        runs[device] = ([[r[f"train_{k}"] for k in ("loss", "recon", "kl")] for r in history],
                        model.state_dict())
    (gpu_curve, gpu_sd), (cpu_curve, cpu_sd) = runs["cuda"], runs["cpu"]
    np.testing.assert_allclose(gpu_curve, cpu_curve, rtol=rtol)
    assert cpu_curve[-1][0] < cpu_curve[0][0]                        # it did learn
    if dtype == np.float64:
        for k in cpu_sd:
            np.testing.assert_allclose(gpu_sd[k], cpu_sd[k], rtol=1e-8, atol=1e-10, err_msg=k)
