"""The GEMM's cache blocking: sizes read from sysfs, the rules of kernels/blocking.py,
and the task grids they lead to."""
from __future__ import annotations

import pytest

from kernels import blocking
from kernels.blocking import KC, cache_sizes, mc_for
from kernels.gemm_driver import _task_grid_py
from kernels.gemm_tiles import MR, NR


def _fake_sysfs(root, entries):
    for i, (level, kind, size) in enumerate(entries):
        d = root / f"index{i}"
        d.mkdir()
        (d / "level").write_text(f"{level}\n")
        (d / "type").write_text(f"{kind}\n")
        (d / "size").write_text(f"{size}\n")
    return root


def test_cache_sizes_are_read_from_sysfs(tmp_path, monkeypatch):
    monkeypatch.delenv("SCRATCHVAE_L2_BYTES", raising=False)
    root = _fake_sysfs(tmp_path, [(1, "Data", "48K"), (1, "Instruction", "32K"),
                                  (2, "Unified", "2048K"), (3, "Unified", "307200K")])
    assert cache_sizes(root) == {"l1d": 48 * 1024, "l2": 2 * 1024 * 1024}


def test_missing_or_garbled_sysfs_falls_back_to_the_defaults(tmp_path, monkeypatch):
    monkeypatch.delenv("SCRATCHVAE_L2_BYTES", raising=False)
    assert cache_sizes(tmp_path / "absent") == {"l1d": blocking.DEFAULT_L1D,
                                                "l2": blocking.DEFAULT_L2}
    root = _fake_sysfs(tmp_path, [(1, "Data", "lots"), (2, "Unified", "")])
    assert cache_sizes(root) == {"l1d": blocking.DEFAULT_L1D, "l2": blocking.DEFAULT_L2}


def test_the_l2_override(tmp_path, monkeypatch):
    monkeypatch.setenv("SCRATCHVAE_L2_BYTES", "1M")
    assert cache_sizes(tmp_path)["l2"] == 1024 * 1024
    monkeypatch.setenv("SCRATCHVAE_L2_BYTES", "big")
    with pytest.raises(ValueError, match="SCRATCHVAE_L2_BYTES='big' is not a size"):
        cache_sizes(tmp_path)


def test_the_rule_reproduces_the_tuned_constants():
    # 1 MiB L2 (the machine MC = 288 was measured on) and 2 MiB
    assert mc_for(1024 * 1024, MR) == 288
    assert mc_for(2 * 1024 * 1024, MR) == 576
    assert mc_for(4096, MR) == 4 * MR                        # absurdly small: still sane
    assert KC == 256                                         # fixed: it sets the sum order
    for l2 in (256 * 1024, 1024 * 1024, 3 * 1024 * 1024):
        assert mc_for(l2, MR) % MR == 0


@pytest.mark.parametrize("M,N,mc", [
    (6272, 64, 288),              # conv forward: N stays whole, A packed once
    (128, 784, 576),              # 128 x 784 (Linear(400, 784)): A packed once...
    (128, 784, 144),              # ... whatever the L2 (no cap on a task's columns)
    (784, 400, 144),              # a dW: six row blocks on this L2, N still whole
])
def test_the_grid_does_not_split_n_just_to_balance(M, N, mc):
    npa, npb = -(-M // MR), -(-N // NR)                      # panels, for this machine's NR
    mb, nb = _task_grid_py(npa, npb, 2, mc)
    assert nb == 1 and mb >= 2                               # both threads busy
    assert -(-npa // mb) * MR <= mc + MR                     # row blocks within MC
