"""The communicator: who am I (``rank``), how many are we (``size``), and the four
collective operations data-parallel training and distributed evaluation need.

    allreduce_sum(buf)   buf ← Σ_r buf_r, in place, on every rank      (gradients, sums)
    bcast(obj)           every rank receives rank 0's object          (weights, settings)
    allgather(obj)       every rank receives [obj_0, …, obj_{P−1}]    (per-image results)
    barrier()            nobody leaves before everybody has arrived   (files written)

:func:`world` returns the communicator of this process. Under an MPI launcher
(``mpiexec -n P``, ``srun``) it is :class:`MPICommunicator`, a thin layer over
``mpi4py``'s ``COMM_WORLD``; otherwise it is :class:`SingleProcess`, whose operations do
nothing (a sum over one rank is the buffer itself), so a program written for P ranks
runs unchanged as one process, and ``import scratchvae`` never needs mpi4py. A program
that an MPI launcher started with P > 1 processes while mpi4py is missing stops with a
one-line error naming ``pip install -e ".[mpi]"``: P copies of one process would each
train alone and write over each other's files.

How a launcher is recognised, without importing mpi4py: MPICH's and Intel MPI's Hydra
set ``PMI_SIZE``, Open MPI sets ``OMPI_COMM_WORLD_SIZE``, PMIx launchers (Slurm's
``srun --mpi=pmix``, Open MPI 5) set ``PMIX_RANK``, Slurm with PMI-2 sets ``PMI_SIZE``.

Threads per rank: P ranks on one machine must share its cores, or each rank's Numba
pool would start one thread per core and the machine would run P× oversubscribed
(measured in docs/scaling.md). :func:`world` therefore gives each rank
cores ÷ (ranks on this node) Numba threads, unless ``NUMBA_NUM_THREADS`` was set.

Errors that one rank finds must reach all ranks, or the others wait forever in the next
collective. :meth:`Communicator.root_call` runs a function on rank 0 alone (checking a
run directory, reading a checkpoint) and hands every rank its result — or its
exception, re-raised everywhere and marked ``collective`` so the command line prints it
once and every rank exits with the same code.
"""
from __future__ import annotations

import importlib
import os

import numpy as np

from ..errors import ConfigError

#: environment variables whose presence means an MPI launcher started this process
LAUNCHER_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK")

_WORLD = None


class Communicator:
    """The interface (and the single-process meaning of each operation)."""

    rank: int = 0
    size: int = 1

    @property
    def is_root(self) -> bool:
        """Rank 0: the one rank that prints, logs and writes files."""
        return self.rank == 0

    def allreduce_sum(self, buf: np.ndarray) -> np.ndarray:
        """Σ over ranks of a contiguous NumPy array, in place; returns it."""
        return buf

    def bcast(self, obj):
        """Rank 0's ``obj`` on every rank (any picklable object)."""
        return obj

    def allgather(self, obj) -> list:
        """``[obj of rank 0, …, obj of rank P−1]`` on every rank."""
        return [obj]

    def barrier(self) -> None:
        """Return once every rank has called it."""

    def abort(self, code: int) -> None:
        """End every rank at once (an error on one rank that the others cannot see)."""
        raise SystemExit(code)

    def root_call(self, fn, *args, **kwargs):
        """``fn(*args, **kwargs)`` run on rank 0 only; its result on every rank, or its
        exception raised on every rank (with ``exc.collective = True``)."""
        outcome = None
        if self.is_root:
            try:
                outcome = ("ok", fn(*args, **kwargs))
            except Exception as exc:             # noqa: BLE001 - handed on, not swallowed
                outcome = ("error", exc)
        kind, value = self.bcast(outcome) if self.size > 1 else outcome
        if kind == "error":
            value.collective = True
            raise value
        return value

    def describe(self) -> str:
        return "1 process"


class SingleProcess(Communicator):
    """One process, no MPI: every collective is the identity."""


class MPICommunicator(Communicator):
    """``mpi4py.MPI.COMM_WORLD`` behind the interface above.

    Buffers go through mpi4py's buffer interface (``Allreduce``: no pickling, one message
    of the array's bytes); objects through its pickle-based lower-case calls.
    """

    def __init__(self, mpi_comm=None):
        from mpi4py import MPI  # noqa: PLC0415 - only under a launcher (module docstring)

        self.MPI = MPI
        self.comm = mpi_comm if mpi_comm is not None else MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        node = self.comm.Split_type(MPI.COMM_TYPE_SHARED)
        self.local_size = node.Get_size()           # ranks sharing this machine's cores
        node.Free()

    def allreduce_sum(self, buf):
        if not (isinstance(buf, np.ndarray) and buf.flags.c_contiguous):
            raise TypeError("allreduce_sum takes a C-contiguous NumPy array")
        self.comm.Allreduce(self.MPI.IN_PLACE, buf, op=self.MPI.SUM)
        return buf

    def bcast(self, obj):
        return self.comm.bcast(obj, root=0)

    def allgather(self, obj):
        return self.comm.allgather(obj)

    def barrier(self):
        self.comm.Barrier()

    def abort(self, code):
        self.comm.Abort(code)

    def describe(self):
        return (f"{self.size} MPI processes ({self.local_size} on this machine; "
                f"{self.MPI.Get_library_version().splitlines()[0].strip()})")


def launched_by_mpi() -> int:
    """The number of processes an MPI launcher started (0: no launcher)."""
    for name in LAUNCHER_VARIABLES:
        if name in os.environ:
            size = os.environ.get("PMI_SIZE") or os.environ.get("OMPI_COMM_WORLD_SIZE")
            return int(size) if size and size.isdigit() else 2
    return 0


def world() -> Communicator:
    """This process's communicator (module docstring); the same object on every call."""
    global _WORLD
    if _WORLD is None:
        launched = launched_by_mpi()
        if not launched:
            _WORLD = SingleProcess()
        else:
            try:
                importlib.import_module("mpi4py")
            except ImportError:
                if launched > 1:
                    raise ConfigError(
                        f"an MPI launcher started {launched} processes, but mpi4py is not "
                        f"installed, so they cannot work together; install it with "
                        f"pip install -e \".[mpi]\" (mpi4py and an MPI), or run one "
                        f"process without mpiexec") from None
                _WORLD = SingleProcess()
            else:
                _WORLD = MPICommunicator()
                _share_cores(_WORLD.local_size)
    return _WORLD


def _share_cores(local_size: int) -> None:
    """Give each of the ``local_size`` ranks on this machine its share of the cores."""
    if local_size <= 1 or "NUMBA_NUM_THREADS" in os.environ:
        return
    import numba  # noqa: PLC0415

    numba.set_num_threads(max(1, min(numba.config.NUMBA_NUM_THREADS,
                                     (os.cpu_count() or 1) // local_size)))
