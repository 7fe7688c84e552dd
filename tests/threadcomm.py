"""P ranks as P threads of one process: a Communicator for tests of data parallelism
that need no MPI (every model of the registry, uneven splits, reruns) in milliseconds.

The collectives meet at a ``threading.Barrier``; sums are taken in rank order, so a
run is deterministic. ``run_ranks(P, fn)`` calls ``fn(comm)`` on P threads and returns
their results in rank order (re-raising the first exception; a failing rank breaks the
barrier, so the others stop instead of waiting forever).
"""
from __future__ import annotations

import copy
import threading

import numpy as np

from scratchvae.distributed import Communicator


class _Group:
    def __init__(self, size):
        self.size = size
        self.barrier = threading.Barrier(size, timeout=120)
        self.slots = [None] * size


class ThreadComm(Communicator):
    def __init__(self, group: _Group, rank: int):
        self.group, self.rank, self.size = group, rank, group.size

    def _exchange(self, value):
        g = self.group
        g.slots[self.rank] = value
        g.barrier.wait()
        seen = list(g.slots)
        g.barrier.wait()                       # nobody overwrites a slot still being read
        return seen

    def allreduce_sum(self, buf):
        parts = self._exchange(buf.copy())
        total = parts[0].copy()
        for p in parts[1:]:
            total += p
        buf[...] = total
        return buf

    def bcast(self, obj):
        return copy.deepcopy(self._exchange(obj if self.rank == 0 else None)[0])

    def allgather(self, obj):
        return [copy.deepcopy(o) for o in self._exchange(obj)]

    def barrier(self):
        self.group.barrier.wait()


def run_ranks(size: int, fn):
    group = _Group(size)
    results, errors = [None] * size, [None] * size

    def work(rank):
        try:
            results[rank] = fn(ThreadComm(group, rank))
        except BaseException as exc:           # noqa: BLE001 - re-raised below
            errors[rank] = exc
            group.barrier.abort()

    threads = [threading.Thread(target=work, args=(r,)) for r in range(size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    first = next((e for e in errors if e is not None and
                  not isinstance(e, threading.BrokenBarrierError)), None) or \
        next((e for e in errors if e is not None), None)
    if first is not None:
        raise first
    return results


def relative_difference(a: dict, b: dict) -> float:
    """max over arrays of ‖a − b‖ / ‖a‖ (‖a‖ = 0: the absolute norm)."""
    worst = 0.0
    for k in a:
        d = float(np.linalg.norm(np.asarray(a[k], float) - np.asarray(b[k], float)))
        n = float(np.linalg.norm(np.asarray(a[k], float)))
        worst = max(worst, d / n if n > 0 else d)
    return worst
