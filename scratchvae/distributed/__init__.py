"""Data-parallel training and distributed evaluation over MPI (docs/distributed.md).

    comm           the communicator: rank, size, allreduce/bcast/allgather/barrier, the
                   single-process fallback, and how a launcher is recognised
    sharding       which rows of a batch a rank holds, and the generator that gives
                   every rank the noise one process would have drawn
    data_parallel  one training step's gradients and statistics in one Allreduce

``mpiexec -n P python -m scratchvae train ...`` and ``... evaluate ...`` use them; the
Trainer and :func:`scratchvae.evaluation.importance_sample` take a ``comm``.
"""
from .comm import Communicator, MPICommunicator, SingleProcess, launched_by_mpi, world
from .data_parallel import DataParallel
from .sharding import ShardedGenerator, shard_rows

__all__ = ["Communicator", "MPICommunicator", "SingleProcess", "world", "launched_by_mpi",
           "DataParallel", "ShardedGenerator", "shard_rows"]
