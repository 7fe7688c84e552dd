"""benchmarks/gpu.py on a machine without a GPU: it imports without CuPy, --help works,
it exits 2 with a one-line reason, and its pure helpers are right (FLOP counts, the
GEMM shapes of a training step — checked against the GEMMs the layers really run —
the round-off check, the markdown tables and the docs-marker replacement)."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
import types
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu.py"


@pytest.fixture(scope="module")
def gpu():
    """benchmarks/gpu.py as a module (its folder on sys.path, as when run as a script)."""
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        spec = importlib.util.spec_from_file_location("bench_gpu", SCRIPT)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.path.remove(str(SCRIPT.parent))


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


# ----------------------------------------------------------------- the script
def test_import_does_not_import_cupy_or_torch():
    code = ("import sys, importlib.util; sys.path.insert(0, 'benchmarks'); "
            "s = importlib.util.spec_from_file_location('g', 'benchmarks/gpu.py'); "
            "m = importlib.util.module_from_spec(s); s.loader.exec_module(m); "
            "print('cupy' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


def test_help():
    out = _run("--help")
    assert out.returncode == 0, out.stderr
    for flag in ("--quick", "--json", "--write-docs", "--from-json"):
        assert flag in out.stdout


def test_exits_2_with_one_line_reason_without_gpu(gpu):
    if gpu.probe_gpu()[0] is not None:
        pytest.skip("a GPU is usable here")
    out = _run("--quick")
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and ("CuPy" in lines[0] or "GPU" in lines[0]), out.stderr
    assert out.stdout == ""


def test_probe_names_what_is_missing(gpu):
    def no_cupy(name):
        raise ModuleNotFoundError("No module named 'cupy'")

    cp, why = gpu.probe_gpu(no_cupy)
    assert cp is None and "CuPy is not installed" in why

    class Runtime:
        @staticmethod
        def getDeviceCount():
            raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    fake = type("cupy", (), {"cuda": type("cuda", (), {"runtime": Runtime})})
    cp, why = gpu.probe_gpu(lambda name: fake)
    assert cp is None and "no CUDA GPU" in why and "cudaErrorNoDevice" in why

    class Zero:
        @staticmethod
        def getDeviceCount():
            return 0

    fake0 = type("cupy", (), {"cuda": type("cuda", (), {"runtime": Zero})})
    assert gpu.probe_gpu(lambda name: fake0) == (None, "no CUDA GPU: CuPy sees 0 devices")


# ------------------------------------------------------------------ FLOP counts
def test_gemm_flops(gpu):
    assert gpu.gemm_flops(2, 3, 4) == 48
    assert gpu.gemm_flops(8192, 8192, 8192) == 2 * 8192 ** 3


def test_conv_flops_match_the_im2col_gemm(gpu):
    # Conv2d(1, 32, 4, 2, 1) on 28×28: cols (128·14·14, 16) · (16, 32)
    assert gpu.conv_flops(128, 1, 32, 4, 4, 28, 28, 2, 1) == gpu.gemm_flops(128 * 196, 16, 32)
    # Conv2d(32, 64, 4, 2, 1) on 14×14 → 7×7
    assert gpu.conv_flops(128, 32, 64, 4, 4, 14, 14, 2, 1) == gpu.gemm_flops(128 * 49, 512, 64)
    # ConvT(64, 32, 4, 2, 1) on 7×7: x2 (128·49, 64) · Wmat (64, 16·32)
    assert (gpu.conv_flops(128, 64, 32, 4, 4, 7, 7, 2, 1, transposed=True)
            == gpu.gemm_flops(128 * 49, 64, 512))
    # an odd case by brute force: every output sums C·KH·KW products
    N, C, F, KH, KW, H, W, S, P = 2, 3, 5, 3, 2, 7, 6, 2, 1
    OH, OW = (H + 2 * P - KH) // S + 1, (W + 2 * P - KW) // S + 1
    assert gpu.conv_flops(N, C, F, KH, KW, H, W, S, P) == 2 * N * F * OH * OW * C * KH * KW


# -------------------------------------------------------------- the GEMM shapes
def test_mlp_vae_gemm_shapes(gpu):
    shapes = [s for s in gpu.vae_gemm_shapes(128) if s[0].startswith("MLP VAE")]
    got = {label.split(" ", 2)[2]: (M, K, N) for label, M, K, N, _ in shapes}
    assert {label.rsplit(" ", 1)[1]: layout for label, *_, layout in shapes} == {
        "fwd": "NN", "dX": "NT", "dW": "TN"}
    assert got == {
        "enc Linear(784,400) fwd": (128, 784, 400),      # no dX: the input is data
        "enc Linear(784,400) dW": (784, 128, 400),
        "enc Linear(400,40) fwd": (128, 400, 40),
        "enc Linear(400,40) dX": (128, 40, 400),
        "enc Linear(400,40) dW": (400, 128, 40),
        "dec Linear(20,400) fwd": (128, 20, 400),
        "dec Linear(20,400) dX": (128, 400, 20),
        "dec Linear(20,400) dW": (20, 128, 400),
        "dec Linear(400,784) fwd": (128, 400, 784),
        "dec Linear(400,784) dX": (128, 784, 400),
        "dec Linear(400,784) dW": (400, 128, 784),
    }


def test_conv_vae_gemm_shapes(gpu):
    shapes = {label.split(" ", 2)[2]: (M, K, N) for label, M, K, N, _ in
              gpu.vae_gemm_shapes(128) if label.startswith("conv VAE")}
    assert len(shapes) == 17                                     # 6 layers × 3, minus conv1 dX
    assert shapes["enc Conv2d(1,32,4) fwd"] == (128 * 196, 16, 32)
    assert "enc Conv2d(1,32,4) dX" not in shapes
    assert shapes["enc Conv2d(32,64,4) dX"] == (128 * 49, 64, 512)
    assert shapes["enc Conv2d(32,64,4) dW"] == (64, 128 * 49, 512)
    assert shapes["enc Linear(3136,40) fwd"] == (128, 3136, 40)
    assert shapes["dec ConvT(64,32,4) fwd"] == (128 * 49, 64, 512)
    assert shapes["dec ConvT(32,1,4) dW"] == (32, 128 * 196, 16)


@pytest.mark.parametrize("kind", ["MLP VAE", "conv VAE"])
def test_gemm_shapes_are_those_the_layers_run(gpu, kind, monkeypatch):
    """Record every matmul of one real training step (batch 3), with which operand is a
    transposed view, and compare with the list the benchmark times."""
    import scratchvae.functional.conv as fconv
    import scratchvae.functional.linear as flin

    seen = []

    def note(a, b):
        def t(m):
            return "T" if m.flags.f_contiguous and not m.flags.c_contiguous else "N"
        seen.append((a.shape[0], a.shape[1], b.shape[1], t(a) + t(b)))
    for mod in (flin, fconv):
        real = mod.matmul

        def spy(a, b, real=real):
            note(a, b)
            return real(a, b)
        monkeypatch.setattr(mod, "matmul", spy)
    real_add = flin.matmul_add                     # Linear's dW: C += xᵀ dy

    def spy_add(c, a, b):
        note(a, b)
        return real_add(c, a, b)
    monkeypatch.setattr(flin, "matmul_add", spy_add)
    from scratchvae.backend import reference_ops
    model = gpu.vae_models()[kind]
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (3, 784)).astype(np.float32)
    eps = rng.standard_normal((3, model.latent_dim)).astype(np.float32)
    with reference_ops(*fconv.NHWC_CONV_OPS):    # the GPU path's convs: im2col + GEMM
        model.loss_and_grads(x, eps=eps)
    expected = [tuple(rest) for label, *rest in gpu.vae_gemm_shapes(3, {kind: model})]
    assert Counter(seen) == Counter(expected)


def test_unique_shapes_merges_labels(gpu):
    out = gpu.unique_shapes([("a", 1, 2, 3, "NN"), ("b", 4, 5, 6, "NN"), ("c", 1, 2, 3, "NN"),
                             ("d", 1, 2, 3, "NT")])
    assert out == [("a = c", 1, 2, 3, "NN"), ("b", 4, 5, 6, "NN"), ("d", 1, 2, 3, "NT")]


def test_conv_layer_specs(gpu):
    specs = gpu.conv_layer_specs()
    assert [(s["name"], s["in_shape"], s["first"]) for s in specs] == [
        ("Conv2d(1,32,4)", (1, 28, 28), True), ("Conv2d(32,64,4)", (32, 14, 14), False),
        ("ConvT(64,32,4)", (64, 7, 7), False), ("ConvT(32,1,4)", (32, 14, 14), False)]


# ------------------------------------------------------------- round-off check
def test_roundoff_check_passes_float32_and_catches_a_missing_term(gpu):
    rng = np.random.default_rng(1)
    K = 1024
    a = rng.uniform(-1, 1, (64, K)).astype(np.float32)
    b = rng.uniform(-1, 1, (K, 48)).astype(np.float32)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    abs_ref = np.abs(a) @ np.abs(b)
    c = a @ b                                                    # float32 BLAS
    ratio = gpu.check_close("float32 matmul", c, ref, abs_ref, K)
    assert ratio < 0.25                                          # far inside the bound
    bad = c.copy()
    bad[10, 7] -= a[10, K - 1] * b[K - 1, 7]                     # one term missed
    if abs(a[10, K - 1] * b[K - 1, 7]) > 1e-3:
        with pytest.raises(gpu.Mismatch, match=r"entry \(10, 7\)"):
            gpu.check_close("planted bug", bad, ref, abs_ref, K)
    off_by_tile = a[:, : K - 32] @ b[: K - 32]                   # a whole k-tile missed
    with pytest.raises(gpu.Mismatch, match="planted tile"):
        gpu.check_close("planted tile", off_by_tile, ref, abs_ref, K)
    nan = c.copy()
    nan[0, 0] = np.nan
    with pytest.raises(gpu.Mismatch):
        gpu.check_close("nan", nan, ref, abs_ref, K)
    with pytest.raises(gpu.Mismatch, match="shape"):
        gpu.check_close("shape", c[:, :-1], ref, abs_ref, K)


# -------------------------------------------------------------------- report
def test_version_strings(gpu):
    assert gpu.cuda_version(13000) == "13.0" and gpu.cuda_version(12040) == "12.4"
    assert gpu.cudnn_version(91002) == "9.10.2" and gpu.cudnn_version(8907) == "8.9.7"


def test_markdown_table(gpu):
    assert gpu.markdown_table(["a", "b"], [[1, "x"], [2.5, "y"]]) == (
        "| a | b |\n|---|---|\n| 1 | x |\n| 2.5 | y |")


def _stats(t):
    return {"median_s": t, "best_s": t, "samples": 5, "calls_per_sample": 1}


def _results():
    return {
        "machine": {"gpu": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0", "sms": 132,
                    "memory_gib": 79.2, "cuda_runtime": "13.0", "cuda_driver": "13.0",
                    "driver": "580.159.04", "cupy": "14.2.0", "torch": "2.11.0+cu130",
                    "cudnn": "cuDNN 91000 via PyTorch 2.11.0"},
        "settings": {"command": "python benchmarks/gpu.py"},
        "notes": ["a note"],
        "sgemm": {"versions": ["v1_naive", "v5_vectorized"], "rows": [
            dict(label="1024", group="square", M=1024, K=1024, N=1024, flops=2 * 1024 ** 3,
                 times={"cublas": _stats(1e-4), "v1_naive": _stats(4e-4),
                        "v5_vectorized": _stats(2e-4)}),
            dict(label="MLP VAE enc Linear(784,400) fwd", group="vae", M=128, K=784,
                 N=400, flops=2 * 128 * 784 * 400,
                 times={"cublas": _stats(1e-5), "v5_vectorized": _stats(1e-5)})]},
        "conv": {"reference": "cuDNN via PyTorch", "rows": [
            {"layer": "Conv2d(1,32,4) 1×28×28", "pass": "forward", "flops": 10 ** 9,
             "ours": _stats(2e-3), "ref": _stats(1e-3)}]},
        "steps": {"rows": [
            dict(model="MLP VAE", ours=_stats(1e-3), ours_cublas=_stats(8e-4),
                 torch=_stats(5e-4)),
            dict(model="conv VAE", ours=_stats(4e-3), ours_cublas=None, torch=None)]},
    }


def test_render_markdown(gpu):
    text = gpu.render_markdown(_results())
    for needle in ("NVIDIA H100 80GB HBM3", "CUDA runtime 13.0", "CUDA driver API 13.0",
                   "NVIDIA driver 580.159.04",
                   "CuPy 14.2.0", "PyTorch 2.11.0+cu130", "TF32 off"):
        assert needle in text
    # 2·1024³ flops in 1e-4 s = 21,475 GFLOP/s; v1 4× slower = 25 %, v5 2× slower = 50 %
    assert "| 1024: 1024×1024×1024 | 21,475 | 5,369 (25%) | 10,737 (50%) |" in text
    assert "| — | 8,028 (100%) |" in text                       # v1 skipped on that row
    assert "| Conv2d(1,32,4) 1×28×28 | forward | 2.000 | 1.000 | 50% | 500 |" in text
    assert "| MLP VAE | 1.000 | 0.800 | 0.500 | 0.50 | 0.62 |" in text
    assert "| conv VAE | 4.000 | — | — | — | — |" in text
    assert "Notes: a note." in text


def test_replace_marked_block(gpu):
    doc = "intro\n<!-- gpu.py:begin -->\nold\ntable\n<!-- gpu.py:end -->\noutro\n"
    markers = gpu.BEGIN, gpu.END
    assert gpu.replace_marked_block(doc, "new", *markers) == (
        "intro\n<!-- gpu.py:begin -->\nnew\n<!-- gpu.py:end -->\noutro\n")
    with pytest.raises(ValueError, match="not found"):
        gpu.replace_marked_block("no markers", "new", *markers)
    with pytest.raises(ValueError):
        gpu.replace_marked_block(f"{gpu.END}\n{gpu.BEGIN}", "new", *markers)


def test_write_docs_on_a_temp_file(gpu, tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# B\n\n{gpu.BEGIN}\nstale\n{gpu.END}\n\nrest\n")
    gpu.write_docs("| t |", doc)
    assert doc.read_text() == f"# B\n\n{gpu.BEGIN}\n| t |\n{gpu.END}\n\nrest\n"
    doc.write_text("# B without markers\n")
    with pytest.raises(SystemExit) as err:
        gpu.write_docs("| t |", doc)
    msg = str(err.value)
    assert gpu.BEGIN in msg and gpu.END in msg and str(doc) in msg
    assert doc.read_text() == "# B without markers\n"           # untouched


def test_from_json_writes_docs_without_gpu(gpu, tmp_path, capsys):
    saved = tmp_path / "gpu.json"
    saved.write_text(json.dumps(_results()))
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"{gpu.BEGIN}\n{gpu.END}\n")
    assert gpu.main(["--from-json", str(saved), "--write-docs", "--docs", str(doc)]) == 0
    assert "NVIDIA H100 80GB HBM3" in doc.read_text()
    assert "21,475" in capsys.readouterr().out


# ------------------------------------- the GPU sections, run on NumPy stand-ins
class _Event:
    def record(self, stream=None):
        self.t = time.perf_counter()

    def synchronize(self):
        pass


class _RandomState:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def random_sample(self, shape, dtype=np.float64):
        return self.rng.random(shape).astype(dtype)

    def standard_normal(self, shape, dtype=np.float64):
        return self.rng.standard_normal(shape).astype(dtype)


def _fake_cupy():
    """Just enough of CuPy's API, on NumPy arrays and wall-clock 'events'."""
    cp = types.SimpleNamespace(**{n: getattr(np, n) for n in (
        "float32", "float64", "matmul", "abs", "empty", "ones", "asarray", "ascontiguousarray")})
    cp.random = types.SimpleNamespace(RandomState=_RandomState)
    cp.cuda = types.SimpleNamespace(
        Event=_Event, get_elapsed_time=lambda a, b: 1e3 * (b.t - a.t),
        cudnn=types.SimpleNamespace(getVersion=lambda: 90000))
    cp.get_default_memory_pool = lambda: types.SimpleNamespace(free_all_blocks=lambda: None)
    return cp


TINY = dict(warmup=0, sample_s=0.0, target_s=0.0, min=1, max=1)


def test_time_cuda_counts_calls(gpu):
    calls = []
    stats = gpu.time_cuda(lambda: calls.append(1), gpu.Clock(_fake_cupy(), "cupy"),
                          dict(warmup=2, sample_s=0.0, target_s=0.0, min=3, max=5))
    assert stats["samples"] == 3 and stats["calls_per_sample"] == 1
    assert len(calls) == 2 + 1 + 3                          # warm-up, sizing call, samples
    assert 0 <= stats["best_s"] <= stats["median_s"]


@pytest.fixture
def fake_sgemm(monkeypatch):
    import kernels.cuda.gemm as kgemm

    bug = {"version": None}

    def sgemm(a, b, *, version=None, out=None):
        c = np.matmul(a, b, out=out)
        if version == bug["version"]:
            c[-1, -1] += 0.01 * np.abs(a[-1]) @ np.abs(b[:, -1])
        return c
    monkeypatch.setattr(kgemm, "sgemm", sgemm)
    return bug


def test_bench_sgemm_runs_and_aborts_on_a_wrong_kernel(gpu, fake_sgemm, monkeypatch):
    monkeypatch.setattr(gpu, "NAIVE_MAX", 32)
    res = gpu.bench_sgemm(_fake_cupy(), (16, 48), TINY, TINY, lambda m: None, batch=2)
    rows = res["rows"]
    assert [r["label"] for r in rows[:2]] == ["16", "48"]
    assert "v1_naive" in rows[0]["times"] and "v1_naive" in rows[1]["skipped"]
    assert len(rows) == 2 + len(gpu.unique_shapes(gpu.vae_gemm_shapes(2)))
    assert all(set(r["times"]) >= {"cublas", "v5_vectorized"} for r in rows)
    assert "| 16: 16×16×16 |" in gpu.sgemm_table(rows, res["versions"])
    fake_sgemm["version"] = "v3_smem"
    with pytest.raises(gpu.Mismatch, match="sgemm v3_smem 16×16×16 NN"):
        gpu.bench_sgemm(_fake_cupy(), (16,), TINY, TINY, lambda m: None, batch=2)


class _FakeCudnn:
    """cupyx.cudnn's three convolution calls, from the loop oracles (NCHW, float64 inside)."""

    @staticmethod
    def convolution_forward(x, W, b, y, pad, stride, dilation, groups, **kw):
        from scratchvae.functional.conv_reference import conv2d_naive
        y[...] = conv2d_naive(x.astype(np.float64), W.astype(np.float64),
                              None if b is None else b.astype(np.float64), stride, pad)

    @staticmethod
    def convolution_backward_data(W, gy, b, gx, pad, stride, dilation, groups, **kw):
        from scratchvae.functional.conv_reference import conv_transpose2d_naive
        (S, _), (P, _), K = stride, pad, W.shape[2]
        opad = gx.shape[2] - ((gy.shape[2] - 1) * S - 2 * P + K)
        gx[...] = conv_transpose2d_naive(gy.astype(np.float64), W.astype(np.float64),
                                         None if b is None else b.astype(np.float64),
                                         stride, pad, opad)

    @staticmethod
    def convolution_backward_filter(x, gy, gW, pad, stride, dilation, groups, **kw):
        (S, _), (P, _) = stride, pad
        OH, OW = gy.shape[2:]
        xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (P, P), (P, P)))
        for kh in range(gW.shape[2]):          # dW[f, c, kh, kw] = Σ dy[n, f, i, j]·x_pad[…]
            for kw in range(gW.shape[3]):
                win = xp[:, :, kh:kh + S * (OH - 1) + 1:S, kw:kw + S * (OW - 1) + 1:S]
                gW[:, :, kh, kw] = np.einsum("nfij,ncij->fc", gy, win)


def test_bench_conv_against_a_cudnn_stand_in(gpu):
    """Our conv layers (CPU path here) agree with cuDNN's primitives as the CupyxCudnn
    mapping calls them — for ConvTranspose2d too (forward = backward data, dx = forward,
    dW = backward filter with the roles of x and dy swapped)."""
    cp = _fake_cupy()
    ref = gpu.CupyxCudnn(_FakeCudnn, cp)
    res = gpu.bench_conv(cp, ref, TINY, lambda m: None, batch=2)
    assert res["reference"] == "cuDNN 9.0.0 via cupyx.cudnn"
    assert len(res["rows"]) == 4 * 3
    assert [r["pass"] for r in res["rows"][:3]] == ["forward", "backward dx, dW, db",
                                                    "backward dW, db"]
    assert res["rows"][0]["flops"] == gpu.conv_flops(2, 1, 32, 4, 4, 28, 28, 2, 1)
    assert "% of cuDNN" in gpu.conv_table(res["rows"], "cuDNN")


def test_bench_conv_catches_a_wrong_transposed_mapping(gpu, monkeypatch):
    cp = _fake_cupy()
    ref = gpu.CupyxCudnn(_FakeCudnn, cp)
    real_bwd = ref.bwd

    def swapped(dy, x, W, stride, padding, transposed, input_grad):
        dx, dW, db = real_bwd(dy, x, W, stride, padding, transposed, input_grad)
        return dx, (dW[:, :, ::-1] if transposed else dW), db   # a flipped kernel
    monkeypatch.setattr(ref, "bwd", swapped)
    with pytest.raises(gpu.Mismatch, match=r"ConvT\(64,32,4\) 7×7 dW"):
        gpu.bench_conv(cp, ref, TINY, lambda m: None, batch=2)


def test_bench_steps_checks_losses_and_times(gpu, monkeypatch):
    from scratchvae.nn.module import Module

    monkeypatch.setattr(Module, "to", lambda self, device: self)   # stay on the CPU
    notes = []
    res = gpu.bench_steps(_fake_cupy(), None, TINY, lambda m: None, notes)
    assert [r["model"] for r in res["rows"]] == ["MLP VAE", "conv VAE"]
    assert all(r["ours"] and r["ours_cublas"] and r["torch"] is None for r in res["rows"])
    assert any("PyTorch" in n for n in notes)
    assert "| MLP VAE |" in gpu.steps_table(res["rows"])
    real = gpu.ours_step

    def off(cp, kind, gemm):                    # a contender computing something else
        step, loss = real(cp, kind, gemm)
        return step, loss * (1.001 if gemm == "cublas" else 1)
    monkeypatch.setattr(gpu, "ours_step", off)
    with pytest.raises(gpu.Mismatch, match="MLP VAE: our GPU loss"):
        gpu.bench_steps(_fake_cupy(), None, TINY, lambda m: None, [])
