"""The device gateway on a machine without a GPU: CuPy stays unimported, asking for the
GPU fails with an error that says what to install, unknown devices are refused, and NumPy
arrays stay on the NumPy path (never the fused CUDA kernels)."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from scratchvae import backend
from scratchvae.backend import (DeviceError, check_device, device_of, get_array_module, path_of,
                                gpu_available, to_device, to_numpy)
from scratchvae.errors import ScratchVAEError
from scratchvae.models import VAE

REPO = Path(__file__).resolve().parents[1]
needs_no_gpu = pytest.mark.skipif(gpu_available(), reason="a GPU is usable here: the no-GPU "
                                                          "errors cannot happen")


def _run(code, extra_path=None):
    env = dict(os.environ)
    if extra_path:
        env["PYTHONPATH"] = os.pathsep.join([str(extra_path), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_importing_and_using_scratchvae_on_the_cpu_never_imports_cupy():
    out = _run("""
        import sys
        import numpy as np
        import scratchvae, scratchvae.nn, scratchvae.models, scratchvae.train, scratchvae.optim
        import scratchvae.distributions, scratchvae.gradcheck, scratchvae.cli
        import kernels.cuda.fused                     # numba.cuda only, not CuPy
        from scratchvae.models import VAE
        from scratchvae.optim import Adam
        model = VAE(input_dim=12, hidden=(8,), latent_dim=2, seed=0)
        opt = Adam(model.parameters())
        model.loss_and_grads(np.random.default_rng(0).uniform(0, 1, (4, 12)).astype(np.float32))
        opt.step()
        model.to("cpu")
        print("cupy imported:", "cupy" in sys.modules)
    """)
    assert "cupy imported: False" in out


@needs_no_gpu
@pytest.mark.parametrize("name", ["cuda", "CUDA", "gpu", "cuda:0"])
def test_asking_for_the_gpu_without_one_names_cupy_and_the_extra(name):
    with pytest.raises(DeviceError, match=r"CuPy.*pip install -e '\.\[gpu\]'") as info:
        check_device(name)
    assert isinstance(info.value, ScratchVAEError) and isinstance(info.value, RuntimeError)
    with pytest.raises(DeviceError, match="CuPy"):
        to_device(np.ones(3), name)


@needs_no_gpu
def test_model_to_cuda_without_a_gpu_raises_and_leaves_the_model_on_the_cpu():
    model = VAE(input_dim=6, hidden=(4,), latent_dim=2, seed=0)
    before = model.state_dict()
    with pytest.raises(DeviceError, match=r"GPU extra"):
        model.to("cuda")
    assert all(type(p) is np.ndarray for _, p, _ in model.parameters())
    after = model.state_dict()
    assert all(np.array_equal(after[k], before[k]) for k in before)


@pytest.mark.parametrize("name", ["tpu", "metal", "", "cuda1", "cpu0", "numpyy"])
def test_unknown_device_names_raise(name):
    with pytest.raises(DeviceError, match=r"unknown device .*use 'cpu' or 'cuda'"):
        check_device(name)
    with pytest.raises(DeviceError, match="unknown device"):
        VAE(input_dim=6, hidden=(4,), latent_dim=2).to(name)


@pytest.mark.parametrize("name", ["cpu", "CPU", "numpy"])
def test_cpu_names_are_accepted(name):
    assert check_device(name) == "cpu"


def test_numpy_arrays_stay_numpy():
    a, b = np.ones((2, 3)), np.zeros(4, np.float32)
    assert get_array_module(a) is np and get_array_module(a, b) is np
    assert get_array_module(a, None, 1.5) is np and get_array_module() is np
    assert device_of(a) == "cpu"
    assert to_device(a, "cpu") is a and to_numpy(a) is a               # no copies on the CPU
    assert isinstance(to_device([1.0, 2.0], "cpu"), np.ndarray)
    assert path_of(a) != "cuda" and path_of(a, a) != "cuda" and path_of() == "numpy"  # no CUDA


def test_a_cupy_that_sees_no_device_gives_the_same_clear_error(tmp_path):
    """CuPy installed on a machine without a usable GPU: gpu_available() is False, and the
    error carries CuPy's own reason (a stand-in cupy package plays the part)."""
    fake = tmp_path / "cupy"
    fake.mkdir()
    (fake / "__init__.py").write_text(textwrap.dedent("""
        class _Runtime:
            @staticmethod
            def getDeviceCount():
                raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
        class cuda:
            runtime = _Runtime
    """))
    out = _run("""
        import numpy as np
        from scratchvae.backend import DeviceError, check_device, gpu_available
        assert not gpu_available()
        try:
            check_device("cuda")
        except DeviceError as exc:
            print("ERROR:", exc)
    """, extra_path=tmp_path)
    assert "no CUDA-capable device is detected" in out and ".[gpu]" in out


def test_the_gateway_caches_the_failed_import():
    gpu_available()                       # the first answer is kept: no re-import per call
    state = (backend._cupy, backend._cupy_error)
    gpu_available()
    assert (backend._cupy, backend._cupy_error) == state
    assert (backend._cupy is None) != (backend._cupy_error is None)


# ------------------------------------------------------------------ the kernel registry
def _dispatched_ops():
    """Every op of the library decorated with @dispatched, by its registry name."""
    import scratchvae.distributions.kl as kl
    import scratchvae.distributions.likelihoods as lik
    import scratchvae.distributions.reparam as reparam
    import scratchvae.distributions.vampprior as vampprior
    import scratchvae.functional.activations as act
    import scratchvae.functional.conv as conv
    import scratchvae.functional.gated as gated
    import scratchvae.functional.gemm as gemm
    import scratchvae.functional.patches as patches
    import scratchvae.optim.adam as adam
    found = {}
    for mod in (kl, lik, reparam, vampprior, act, conv, gated, gemm, patches, adam):
        for obj in vars(mod).values():
            if callable(obj) and hasattr(obj, "reference") and hasattr(obj, "op"):
                found[obj.op] = obj
    return found


def test_every_registered_kernel_imports_and_every_entry_has_its_op():
    import importlib
    ops = _dispatched_ops()
    assert set(ops) == set(backend.KERNELS), "registry entries without an op, or ops without one"
    for op, paths in backend.KERNELS.items():
        assert set(paths) <= {"numba", "cuda"}, op
        for target, _ in paths.values():
            module, name = target.split(":")
            assert callable(getattr(importlib.import_module(module), name)), target


def test_dispatch_runs_the_kernel_the_reference_or_the_reference_after_a_refusal(monkeypatch):
    from scratchvae.functional.activations import relu_forward
    x = np.array([[-1.0, 2.0, -3.0]])
    calls = []
    monkeypatch.setitem(backend._loaded, "kernels.elementwise:relu_forward",
                        lambda a: calls.append("kernel") or None)       # refuses: None
    y, mask = relu_forward(x)
    assert calls == ["kernel"] and y.tolist() == [[0.0, 2.0, 0.0]]     # the reference ran
    with backend.use_cpu_kernels("numpy"):
        relu_forward(x)
    assert calls == ["kernel"]                                          # numpy path: no kernel
    assert backend.path_of(x.astype(np.float16)) == "numpy"             # no kernel for float16
    assert backend.path_of(x, x.astype(np.float32)) == "numpy"          # nor for mixed dtypes
    mask = x > 0                                    # a boolean mask is not a second dtype:
    assert backend.path_of(x, mask) == backend.path_of(mask, x) == "numba"  # ReLU's backward
    assert backend.path_of(mask) == "numpy"                             # alone: no float


def test_a_kernel_error_reaches_the_caller_as_the_librarys_error(monkeypatch):
    from kernels.errors import KernelShapeError
    from scratchvae.errors import ShapeError
    from scratchvae.functional.gemm import matmul

    def broken(a, b):
        raise KernelShapeError("matmul_numba: A is (2, 3) but B is (4, 5)")
    monkeypatch.setitem(backend._loaded, "kernels.matmul:matmul_numba", broken)
    with pytest.raises(ShapeError, match="A is"):
        matmul(np.ones((2, 3)), np.ones((4, 5)))


def test_reference_ops_runs_the_reference_for_those_ops_only():
    from scratchvae.functional.activations import relu_forward
    x = np.array([[-1.0, 2.0]])
    assert backend.kernel("relu_forward", x) is not None
    with backend.reference_ops("relu_forward"):
        assert backend.kernel("relu_forward", x) is None
        assert backend.kernel("matmul", x, x.T) is not None           # other ops unchanged
        y, _ = relu_forward(x)                                         # the reference runs
        with backend.reference_ops("relu_forward"):                    # nesting is harmless
            pass
        assert backend.kernel("relu_forward", x) is None
    assert backend.kernel("relu_forward", x) is not None
    assert y.tolist() == [[0.0, 2.0]]
    with pytest.raises(KeyError, match="no kernels registered"):
        with backend.reference_ops("no_such_op"):
            pass
