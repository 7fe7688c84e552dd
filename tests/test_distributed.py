"""Data parallelism (scratchvae/distributed): P ranks compute the one-process run.

In-process: P ranks as P threads (tests/threadcomm.py) train every model of the
registry in float64 and must end where one process ends, to round-off — uneven splits
and a batch smaller than P included. The row split, the sharded generator (values and
moments), the single-process fallback and the launcher detection are tested directly.
The real thing, ``mpiexec -n 2``, is in tests/test_mpi.py.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest

from scratchvae.backend import use_cpu_kernels
from scratchvae.distributed import ShardedGenerator, SingleProcess, comm as comm_module, \
    shard_rows, world
from scratchvae.errors import ConfigError
from scratchvae.models import REGISTRY
from scratchvae.train import TrainConfig, Trainer

from test_model_contract import batch, make
from threadcomm import relative_difference, run_ranks


@pytest.fixture(autouse=True)
def numpy_kernels():
    """The NumPy reference path for every rank-thread, set once here in the main thread
    (``use_cpu_kernels`` is process state: entered in each thread it would be restored
    out of order). What is tested is the splitting, on either path."""
    with use_cpu_kernels("numpy"):
        yield


# ------------------------------------------------------------------ the row split
@pytest.mark.parametrize("n", [1, 2, 5, 12, 128])
@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_shard_rows_cover_every_row_once_in_order_and_balanced(n, size):
    parts = [shard_rows(n, r, size) for r in range(size)]
    assert parts[0][0] == 0 and parts[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
    counts = [hi - lo for lo, hi in parts]
    assert max(counts) - min(counts) <= 1


# --------------------------------------------------------- the sharded generator
def draws(g):
    return [g.standard_normal((10, 3)), g.random((10, 2), dtype=np.float32),
            g.uniform(-1, 2, (10,)), g.normal(1.0, 3.0, (10, 2)),
            g.integers(0, 5, (10, 4)), g.binomial(3, 0.4, (10,)),
            g.standard_normal(2)]                          # not per example: drawn as is


@pytest.mark.parametrize("lo,hi", [(0, 4), (4, 10), (3, 3 + 1)])
def test_sharded_generator_returns_this_ranks_rows_of_the_one_process_draw(lo, hi):
    full = draws(np.random.default_rng(7))
    sharded = ShardedGenerator(np.random.default_rng(7))
    sharded.set_rows(lo, hi, 10)
    n = hi - lo
    mine = [sharded.standard_normal((n, 3)), sharded.random((n, 2), dtype=np.float32),
            sharded.uniform(-1, 2, (n,)), sharded.normal(1.0, 3.0, (n, 2)),
            sharded.integers(0, 5, (n, 4)), sharded.binomial(3, 0.4, (n,)),
            sharded.standard_normal(2)]
    for a, b in zip(full[:-1], mine[:-1]):
        np.testing.assert_array_equal(a[lo:hi], b)
        assert a.dtype == b.dtype
    if n != 2:
        np.testing.assert_array_equal(full[-1], mine[-1])


def test_sharded_generator_splits_along_the_declared_axis_and_shares_the_stream():
    base = np.random.default_rng(3)
    full = np.random.default_rng(3).standard_normal((4, 9, 2))             # (k, N, L)
    sharded = ShardedGenerator(base, axis=1)
    sharded.set_rows(2, 5, 9)
    np.testing.assert_array_equal(sharded.standard_normal((4, 3, 2)), full[:, 2:5])
    after = np.random.default_rng(3)
    after.standard_normal((4, 9, 2))
    assert base.bit_generator.state == after.bit_generator.state          # one stream
    sharded.set_rows(None)
    np.testing.assert_array_equal(sharded.standard_normal(3), after.standard_normal(3))


def test_sharded_generator_moments_are_those_of_the_distribution():
    sharded = ShardedGenerator(np.random.default_rng(0))
    sharded.set_rows(1000, 41000, 50000)
    z = sharded.standard_normal((40000, 2))
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02
    u = sharded.random((40000,))
    assert abs(u.mean() - 0.5) < 0.01 and abs(u.var() - 1 / 12) < 0.003


def test_sharded_generator_refuses_what_it_cannot_split():
    sharded = ShardedGenerator(np.random.default_rng(0))
    sharded.set_rows(0, 3, 6)
    with pytest.raises(ConfigError, match="per-example array parameters"):
        sharded.uniform(0, np.arange(1.0, 4.0))
    with pytest.raises(ConfigError, match="cannot be split"):
        sharded.permutation(6)
    sharded.set_rows(None)
    assert sorted(sharded.permutation(6)) == list(range(6))


# ------------------------------------------------------ every model, P ranks as threads
SHARED = dict(epochs=2, batch_size=5, lr=1e-2, seed=3, progress=False, eval_batch_size=4)
#: the sparse AE's KL penalty is a function of the batch-mean activation, computed per
#: rank (per_rank_statistics); its L1 penalty is a mean of per-example terms
EXACT_OPTIONS = {"sparse-ae": {"penalty": "l1"}}


def train(name, comm=None, binarize=False, **options):
    """Two epochs of model ``name`` (float64) on 12 examples; its parameters, history."""
    model = make(name, **options).astype(np.float64)
    data = batch(model.astype(np.float64), n=12, seed=0)
    val = batch(model, n=7, seed=1)
    extra = {"kl_warmup_epochs": 1.0} if getattr(model, "kl_weight", None) is not None else {}
    cfg = TrainConfig(**SHARED, binarize=binarize and name in ("vae", "hvae", "iwae"), **extra)
    trainer = Trainer(model, data if len(data) > 1 else data[0],
                      val if len(val) > 1 else val[0], cfg, comm=comm)
    history = trainer.fit()
    return model.state_dict(), history


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_data_parallel_training_equals_one_process(name):
    """P = 2 (rows 3+2 of each batch of 5) and P = 3 (2+2+1, and a last batch of 2 that
    one rank sits out) end where one process ends, float64, to round-off; the reported
    train and validation losses agree too."""
    options = EXACT_OPTIONS.get(name, {})
    reference, ref_history = train(name, binarize=True, **options)
    for size in (2, 3):
        ranks = run_ranks(size, lambda comm: train(name, comm, binarize=True, **options))
        for state, history in ranks:
            assert relative_difference(reference, state) < 1e-10, (name, size)
            for rec, ref in zip(history, ref_history):
                for k in ref:
                    if k.startswith(("train_", "val_")):
                        assert rec[k] == pytest.approx(ref[k], rel=1e-10, abs=1e-12), (k, size)
        for state, _ in ranks[1:]:                                  # every rank identical
            assert all(np.array_equal(ranks[0][0][k], state[k]) for k in state)


def test_a_loss_of_the_whole_batch_is_named_when_it_is_computed_per_rank(capsys):
    assert "ρ̂" in make("sparse-ae").per_rank_statistics
    assert make("sparse-ae", penalty="l1").per_rank_statistics is None
    model = make("sparse-ae")
    run_ranks(2, lambda comm: Trainer(make("sparse-ae"), batch(model)[0],
                                      config=TrainConfig(progress=True), comm=comm))
    assert capsys.readouterr().out.count("computed from each rank's rows") == 1   # rank 0


def test_noise_that_cannot_be_split_by_rows_is_refused_not_silently_changed():
    """The watermark corruption draws positions with per-example array bounds."""
    with pytest.raises(ConfigError, match="per-example array parameters"):
        run_ranks(2, lambda comm: train("dae", comm, corruption="watermark"))
    train("dae", corruption="watermark")                     # one process: as always


def test_data_parallel_training_is_bit_identical_on_rerun():
    first = run_ranks(2, lambda comm: train("vae", comm))
    again = run_ranks(2, lambda comm: train("vae", comm))
    assert all(np.array_equal(first[0][0][k], again[0][0][k]) for k in first[0][0])


def test_only_rank_0_writes_the_run(tmp_path):
    def fit(comm):
        model = make("vae")
        out = tmp_path / f"rank-files-{comm.rank}"
        trainer = Trainer(model, batch(model)[0], batch(model, 6, 1)[0],
                          TrainConfig(**{**SHARED, "epochs": 1}), out_dir=tmp_path / "run",
                          comm=comm)
        trainer.fit()
        return out
    run_ranks(2, fit)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == \
        ["best.npz", "checkpoint.npz", "history.csv", "history.json"]


# ------------------------------------------------ the communicator and the launcher
def test_single_process_collectives_are_the_identity():
    comm = SingleProcess()
    buf = np.arange(4.0)
    assert comm.allreduce_sum(buf) is buf and comm.bcast({"a": 1}) == {"a": 1}
    assert comm.allgather(3) == [3] and comm.is_root and comm.size == 1


def test_root_call_hands_rank_0s_result_or_error_to_every_rank():
    def fn(comm):
        assert comm.root_call(lambda: comm.rank * 10 + 7) == 7
        try:
            comm.root_call(lambda: (_ for _ in ()).throw(ConfigError("bad --out")))
        except ConfigError as exc:
            return str(exc), exc.collective
    assert run_ranks(3, fn) == [("bad --out", True)] * 3


def test_world_is_one_process_without_a_launcher(monkeypatch):
    for name in comm_module.LAUNCHER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(comm_module, "_WORLD", None)
    assert isinstance(world(), SingleProcess) and world() is world()


def test_a_launcher_without_mpi4py_is_a_one_line_error(monkeypatch):
    monkeypatch.setenv("PMI_SIZE", "4")
    monkeypatch.setattr(comm_module, "_WORLD", None)
    monkeypatch.setitem(sys.modules, "mpi4py", None)                     # not installed
    with pytest.raises(ConfigError, match=r"started 4 processes.*pip install -e \"\.\[mpi\]\""):
        world()


# ------------------------------------------------------------ distributed evaluation
def test_importance_sampling_over_ranks_is_exactly_the_one_process_result():
    """7 encoder batches of 3 images (the last short) dealt out to 1, 2, 3 and 8 ranks
    (8 > batches: some ranks get none): every per-image number is bit-identical."""
    from scratchvae.evaluation import importance_sample

    model = make("vae")
    x = batch(model, n=20, seed=4)[0]
    one = importance_sample(model, x, 7, batch_size=3, sample_chunk=4, rng=5)
    for size in (2, 3, 8):
        for got in run_ranks(size, lambda comm: importance_sample(
                make("vae"), x, 7, batch_size=3, sample_chunk=4, rng=5, comm=comm)):
            for field in ("nll", "recon", "ess", "neg_elbo"):
                np.testing.assert_array_equal(getattr(got, field), getattr(one, field))


def test_importance_sampling_over_ranks_refuses_a_shared_generator():
    from scratchvae.evaluation import importance_sample

    model = make("vae")
    x = batch(model, n=4)[0]
    with pytest.raises(ValueError, match="one ε stream per image"):
        run_ranks(2, lambda comm: importance_sample(model, x, 3, rng=np.random.default_rng(0),
                                                    comm=comm))
