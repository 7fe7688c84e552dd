"""Shared fixtures and the ``gpu`` marker's skip rule.

Fixtures:
    cpu_path  runs a test once on each CPU kernel path (``scratchvae.backend.CPU_KERNELS``:
              the Numba kernels and the NumPy reference path); its value is the path name.
    rng       a ``np.random.default_rng(0)``, fresh for each test.
    run_dir   ``tmp_path / "run"``, a not-yet-existing run directory for training or the CLI.

Tests marked ``gpu`` (see pyproject.toml) are skipped, with the reason, where CuPy is
missing or sees no CUDA device; the check runs only when such a test was collected.
"""
from __future__ import annotations

import numpy as np
import pytest

from scratchvae.backend import CPU_KERNELS, gpu_available, use_cpu_kernels


@pytest.fixture(params=CPU_KERNELS)
def cpu_path(request):
    with use_cpu_kernels(request.param):
        yield request.param


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def run_dir(tmp_path):
    return tmp_path / "run"


def pytest_collection_modifyitems(config, items):
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if gpu_items and not gpu_available():
        skip = pytest.mark.skip(reason="needs CuPy and a CUDA GPU: CuPy is not installed or "
                                       "sees no CUDA device")
        for item in gpu_items:
            item.add_marker(skip)
