"""The vector-width choice of kernels/target.py, each case in a fresh process (Numba reads
its CPU features once, at the first compilation, so the choice is per process)."""
import os
import re
import subprocess
import sys

import pytest

PROBE = ("import numba, llvmlite.binding as ll; from kernels import target; "
         "print(target.vector_width(), numba.config.CPU_FEATURES, "
         "'+avx512f' in ll.get_host_cpu_features().flatten().split(','), ll.get_host_cpu_name())")


def probe_code(code, **env):
    clean = {k: v for k, v in os.environ.items()
             if k not in ("SCRATCHVAE_VECTOR_WIDTH", "NUMBA_CPU_FEATURES")}
    return subprocess.run([sys.executable, "-c", code], env={**clean, **env},
                          capture_output=True, text=True, timeout=300)


def probe(**env):
    return probe_code(PROBE, **env)


def test_256_keeps_the_host_choice_and_512_lifts_the_preference_on_avx512():
    chosen, features, _, _ = probe(SCRATCHVAE_VECTOR_WIDTH="256").stdout.split()
    assert chosen == "host" and features == "None"
    chosen, features, avx512, _ = probe(SCRATCHVAE_VECTOR_WIDTH="512").stdout.split()
    if avx512 == "True":
        assert chosen == "512" and features.endswith(",-prefer-256-bit")
        assert "+avx512f" in features.split(",")
    else:                                             # nothing to lift without AVX-512
        assert chosen == "host" and features == "None"


def test_auto_lifts_it_only_on_the_listed_cpus_or_features():
    import llvmlite.binding as ll
    from kernels.target import is_wide
    chosen, _, _, name = probe().stdout.split()
    flags = ll.get_host_cpu_features().flatten().split(",")
    assert chosen == ("512" if is_wide(name, flags) else "host")


def test_the_wide_rule_reads_names_and_features():
    from kernels.target import is_wide
    server = ["+avx512f", "+amx-tile", "+avx512fp16"]
    assert is_wide("sapphirerapids", ["+avx512f"])
    assert is_wide("rocketlake", server)            # a VM that misreports its model
    assert is_wide("rocketlake", ["+avx512f", "-amx-tile", "+avx512fp16"])
    assert not is_wide("rocketlake", ["+avx512f", "-amx-tile", "-avx512fp16"])
    assert not is_wide("skylake-avx512", ["+avx512f"])
    assert not is_wide("sapphirerapids", ["-avx512f", "+amx-tile"])   # no AVX-512 at all


def test_the_users_numba_features_win_and_a_bad_choice_is_refused():
    chosen, features, _, _ = probe(NUMBA_CPU_FEATURES="+sse2").stdout.split()
    assert chosen == "user" and features == "+sse2"
    proc = probe(SCRATCHVAE_VECTOR_WIDTH="1024")
    assert proc.returncode != 0
    assert "SCRATCHVAE_VECTOR_WIDTH='1024': choose one of" in proc.stderr


@pytest.mark.parametrize("module", ["conv", "conv_direct", "elementwise", "gemm_driver",
                                    "gemm_pack", "gemm_tiles", "matmul", "matmul_stream",
                                    "mixture", "registers"])
def test_every_kernel_module_sets_the_width_before_it_compiles(module):
    import importlib
    source = importlib.util.find_spec(f"kernels.{module}").origin
    text = open(source).read()
    first_numba_import = re.search(r"^(import numba|from numba)", text, re.M).start()
    assert text.index("from . import target") < first_numba_import


TILE_PROBE = (
    "import numpy as np; from kernels import target; from kernels.gemm_tiles import NR, PASS_ROWS, NARROW; "
    "from kernels.matmul import matmul_numba; rng = np.random.default_rng(0); "
    "A = rng.standard_normal((61, 300)).astype(np.float32); "
    "B = rng.standard_normal((300, 45)).astype(np.float32); "
    "err = np.abs(matmul_numba(A, B) - A.astype(np.float64) @ B).max(); "
    "print(target.vector_registers(), NR, PASS_ROWS, NARROW, err < 1e-3)")


def test_the_register_tile_follows_the_register_count_of_the_compiled_code(tmp_path):
    # The 6 x 32 tile in one pass of six rows with AVX-512's 32 registers, in two passes
    # of three with AVX2's 16 (six rows at once would spill), and the narrow edge tile
    # 16 or 24 wide. Compiled without AVX-512 -- on any x86 host -- the kernels take
    # the two-pass tile and stay correct; a cache of its own keeps the two builds apart.
    # (A 61 x 45 product: an edge panel of 13 columns, and a last A panel of one row.)
    import llvmlite.binding as ll
    host = ll.get_host_cpu_features().flatten().split(",")
    if "+avx2" not in host:
        pytest.skip("needs an AVX2 CPU")
    no512 = ",".join("-" + f[1:] if f.startswith("+avx512") else f for f in host)
    proc = probe_code(TILE_PROBE, NUMBA_CPU_FEATURES=no512,
                      NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["16", "32", "3", "24", "True"]
    registers, nr, rows, narrow, ok = probe_code(TILE_PROBE).stdout.split()
    assert nr == "32" and ok == "True"
    assert (rows, narrow) == (("6", "16") if registers == "32" else ("3", "24"))
    assert registers == ("32" if "+avx512f" in host else "16")
