"""The vector width the kernels are compiled for: 512-bit on the CPUs where it pays.

Numba compiles for the host CPU through LLVM, and LLVM's tuning for Intel's AVX-512 server
parts (Ice Lake server and later) sets ``prefer-256-bit``: it vectorises with 256-bit ymm
registers although the CPU has 512-bit zmm ones, because on the first AVX-512 chips
(Skylake-X) heavy 512-bit code lowered the clock. The GEMM micro-kernel then runs its
6 × 32 tile as 24 ymm FMAs per k instead of 12 zmm ones (``inspect_asm`` shows it), and a
core with two 512-bit FMA units does half the work it could per cycle.

This module, imported by every kernel module before it compiles anything, lifts that
preference where it costs nothing:

    SCRATCHVAE_VECTOR_WIDTH   "auto" (default): 512-bit on the CPUs in WIDE_CPUS and on
                              any with a feature in WIDE_FEATURES, the host's choice
                              elsewhere; "512": always lift the preference
                              (any AVX-512 CPU); "256": never.
    NUMBA_CPU_FEATURES        if the user set it, it is left alone: their features win.

How: Numba reads ``numba.config.CPU_FEATURES`` once, when its CPU code generator is first
created (at the first compilation in the process). Setting it to the host's features
plus ``-prefer-256-bit`` before then makes LLVM use zmm registers; the on-disk cache is
keyed by the features, so cached kernels of the other width are not reused by mistake.
If something in the process compiled a Numba function before the first kernel module
was imported, the setting comes too late and the host's choice stays (``vector_width()``
reports what was asked for, ``docs/kernels/gemm.md`` how to check the machine code).

The number of vector registers follows from the same features: 32 with AVX-512 (zmm0-31,
and ymm16-31 at 256 bits), 16 without it (ymm0-15 on AVX2 CPUs such as AMD's Zen 2 and
Zen 3). ``vector_registers()`` reports it, and the GEMM sizes its register tile from it
(``kernels/gemm_tiles.py``): a tile that needs more accumulators than there are
registers is spilled to the stack on every step of its k-loop.

Results do not depend on the width: no kernel lets LLVM reassociate floating-point sums
(the GEMM contracts FMAs only, in the k-loop's order), so a vector of 16 lanes computes
each element exactly as a vector of 8 does. Measurements: docs/kernels/gemm.md.
"""
from __future__ import annotations

import os

import numba

from . import cache_guard  # noqa: F401 - clears a cache compiled from other sources

#: LLVM CPU names whose cores run 512-bit FMAs at full rate with no clock penalty worth
#: the halved width (Intel server parts from Ice Lake on).
WIDE_CPUS = ("icelake-server", "sapphirerapids", "emeraldrapids", "graniterapids",
             "graniterapids-d", "diamondrapids")
#: CPU features that only those parts (Sapphire Rapids and later) have. A virtual machine
#: may report a CPU model that LLVM names otherwise -- a Sapphire-Rapids-class VM with
#: AMX and AVX-512 FP16 was named ``rocketlake``, a client part -- so "auto" also lifts
#: the preference when the host has AVX-512 and any of these.
WIDE_FEATURES = ("+amx-tile", "+avx512fp16")
CHOICES = ("auto", "512", "256")


def is_wide(name: str, features: list[str]) -> bool:
    """Whether "auto" compiles 512-bit code for a CPU LLVM calls ``name`` with ``features``
    (LLVM's "+feature" / "-feature" list): AVX-512 and a listed name or a listed feature."""
    return "+avx512f" in features and (
        name in WIDE_CPUS or any(f in features for f in WIDE_FEATURES))


def _configure() -> str:
    """Set Numba's CPU features for the chosen width; returns "512", "host" or "user"."""
    choice = os.environ.get("SCRATCHVAE_VECTOR_WIDTH", "auto").strip().lower()
    if choice not in CHOICES:
        raise ValueError(f"SCRATCHVAE_VECTOR_WIDTH={choice!r}: choose one of {CHOICES}")
    if numba.config.CPU_FEATURES is not None:           # NUMBA_CPU_FEATURES: the user's
        return "user"
    import llvmlite.binding as ll                       # noqa: PLC0415 - Numba's LLVM
    name = numba.config.CPU_NAME or ll.get_host_cpu_name()
    features = ll.get_host_cpu_features().flatten()
    flags = features.split(",")
    wide = "+avx512f" in flags and (
        choice == "512" or (choice == "auto" and is_wide(name, flags)))
    if not wide:
        return "host"
    numba.config.CPU_FEATURES = features + ",-prefer-256-bit"
    return "512"


_CHOSEN = _configure()


def _codegen_features() -> str:
    """The CPU features LLVM compiles for: the user's NUMBA_CPU_FEATURES, else the host's."""
    if numba.config.CPU_FEATURES is not None:
        return numba.config.CPU_FEATURES
    import llvmlite.binding as ll                       # noqa: PLC0415 - Numba's LLVM
    return ll.get_host_cpu_features().flatten()


#: Vector registers the compiled code may use: 32 with AVX-512, 16 otherwise. A pure
#: function of the features Numba compiles for, which key its on-disk cache, so a kernel
#: whose constants follow from it is never loaded from a cache built for another value.
VECTOR_REGISTERS = 32 if "+avx512f" in _codegen_features().split(",") else 16


def vector_registers() -> int:
    """32 where the kernels are compiled with AVX-512, else 16 (see the module docstring)."""
    return VECTOR_REGISTERS


def vector_width() -> str:
    """What this process asked LLVM for: "512" (preference lifted), "host" (LLVM's own
    tuning for this CPU) or "user" (NUMBA_CPU_FEATURES set by the user)."""
    return _CHOSEN
