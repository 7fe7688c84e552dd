"""Data parallelism: P ranks, one model each, the same step as one process.

Notation: P ranks; a global batch of B rows, n_r of them on rank r (Σ_r n_r = B,
:func:`.sharding.shard_rows`); θ the parameters, identical on every rank; ℓ_i the loss
of example i. Every model reports batch *means* (the model contract), so

    one process     g   = ∇θ (1/B) Σ_{i ∈ batch} ℓ_i
    rank r          g_r = ∇θ (1/n_r) Σ_{i ∈ rows of r} ℓ_i
    so              g   = Σ_r (n_r / B) · g_r

and one sum over ranks of the scaled gradients (an Allreduce) gives every rank the
one-process gradient, up to the order of the float additions. Every rank then takes the
same optimizer step from the same state, so the P copies of θ stay equal without ever
being sent again — only the first step needs a broadcast of rank 0's θ.

One step, on every rank (the Trainer's loop with ``comm.size > 1``):

    rows lo:hi of the global batch          (the batch order is the one-process order)
    grads ← 0;  out = model.loss_and_grads(rows)          ε via ShardedGenerator
    buffer = [ (n_r/B)·g  for every parameter, every group
             | n_r · out[term]  for every reported term
             | n_r · statistic  for every ``model.step_statistics`` ]
    Allreduce(buffer, SUM)                               one message per step
    grads ← buffer's gradients;  terms and statistics ← their sums (÷ B)
    clip / check / optimizer step / after_step            identical on every rank

The buffer holds the gradients' own dtype (float32 for a float32 model): 4 bytes per
parameter per step, the volume docs/scaling.md models. The loss terms ride along, so a
non-finite loss on any rank stops every rank at the same step, and the reported epoch
means are means over the global batches. ``step_statistics`` names the attributes a
model's ``after_step`` reads that are batch means (GECO's constraint): they are averaged
over the global batch too, so ``after_step`` sees the one-process value.

What is *not* one-process-exact: a loss that is not a mean of per-example terms — the
sparse autoencoder's KL penalty on the batch-mean activation ρ̂, batch norm's batch
statistics — is computed from each rank's rows (like unsynchronised batch norm).
No model of the library has batch norm; the sparse AE's ρ̂ is per rank, stated in
docs/distributed.md, and the Trainer says so when it starts such a run.
"""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module, to_numpy


class DataParallel:
    """The gradient (and statistics) reduction of one model over ``comm``'s ranks.

    Args:
        comm: a :class:`.comm.Communicator`.
        params: every ``(name, param, grad)`` triple the optimizers step — all parameter
            groups (a VAE-GAN's discriminator included), in one fixed order.
        terms: the names of the floats ``loss_and_grads`` reports.
        statistics: attribute names of batch-mean statistics (``model.step_statistics``).
    """

    def __init__(self, comm, params, terms, statistics=()):
        self.comm, self.params = comm, list(params)
        self.terms, self.statistics = tuple(terms), tuple(statistics)
        dtype = np.result_type(*[to_numpy(g[:0]).dtype for _, _, g in self.params])
        self.offsets = np.cumsum([0] + [int(g.size) for _, _, g in self.params])
        n_grad = int(self.offsets[-1])
        self.buffer = np.empty(n_grad + len(self.terms) + len(self.statistics), dtype)
        self.grad_part = self.buffer[:n_grad]
        self.scalar_part = self.buffer[n_grad:]

    @property
    def nbytes(self) -> int:
        """Bytes one Allreduce sends per rank and step."""
        return int(self.buffer.nbytes)

    def broadcast_parameters(self, model) -> None:
        """Every rank's parameters and buffers := rank 0's (before the first step)."""
        state = self.comm.bcast(model.state_dict() if self.comm.is_root else None)
        if not self.comm.is_root:
            model.load_state_dict(state)

    def reduce_step(self, model, out, n_local: int, n_global: int):
        """Sum the step over ranks (module docstring), in place in every gradient.

        Args:
            model: the rank's model (its statistics are read and replaced).
            out: the dict ``loss_and_grads`` returned, or None for a rank with no rows.
            n_local, n_global: n_r and B.
        Returns:
            ``{term: Σ_i ℓ_i}`` over the global batch (the sums, not the means).
        """
        scale = self.buffer.dtype.type(n_local / n_global)
        for (_, _, g), a, b in zip(self.params, self.offsets[:-1], self.offsets[1:]):
            np.multiply(to_numpy(g).reshape(-1), scale, out=self.grad_part[a:b])  # one pass
        values = [float(out[k]) if out is not None else 0.0 for k in self.terms]
        values += [float(getattr(model, s) or 0.0) if out is not None else 0.0
                   for s in self.statistics]
        self.scalar_part[:] = np.asarray(values) * n_local
        self.comm.allreduce_sum(self.buffer)
        for (_, _, g), a, b in zip(self.params, self.offsets[:-1], self.offsets[1:]):
            part = self.grad_part[a:b].reshape(g.shape)
            g[...] = part if get_array_module(g) is np else get_array_module(g).asarray(part)
        sums = [float(v) for v in self.scalar_part]
        for s, total in zip(self.statistics, sums[len(self.terms):]):
            setattr(model, s, total / n_global)
        return dict(zip(self.terms, sums[:len(self.terms)]))

    def reduce_sums(self, sums: dict) -> dict:
        """``{name: Σ over ranks}`` of a few floats, in float64 (evaluations)."""
        names = list(sums)
        buf = self.comm.allreduce_sum(np.array([float(sums[k]) for k in names]))
        return dict(zip(names, (float(v) for v in buf)))
