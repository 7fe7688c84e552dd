"""Data-parallel scaling: measured on this machine (1 vs 2 MPI ranks), modelled beyond it.

What is measured (each in fresh processes, one Numba thread per rank):

    step       the Trainer's time per step of the MLP VAE (784-400-20) and the conv VAE
               (32, 64; L = 20) at the global batch B = 128 of the step benchmarks,
               under ``mpiexec -n P`` (P = 1, 2): the epoch's wall time ÷ its steps,
               epochs 2 and 3 (epoch 1 loads the kernels)
    comm       the part of a step spent in the one Allreduce (transfer + waiting for the
               slower rank), timed around ``allreduce_sum``
    allreduce  the Allreduce of the step's buffer alone, after a barrier (transfer only)
    compute    one process's step time at batch b = 1, 2, 4, …, 1024 (``--curve``):
               what a rank computes when the global batch is split P ways

The model (``--report``): rank r computes its ⌈B/P⌉ rows, then the ring allreduce of the
gradient buffer of n bytes over P ranks with per-message latency α and bandwidth β,

    T_ring(P) = 2(P − 1)·α + 2·(P − 1)/P · n/β
    T(P)      = T_compute(⌈B/P⌉) + T_ring(P),      speed-up S(P) = T(1) / T(P)

(Patarasuk & Yuan 2009; the reduce-scatter + all-gather that NCCL, Horovod and MPICH use
for large messages). T_compute is the measured curve (linear between measured batch
sizes). Networks: 10 Gb/s Ethernet (β = 1.25 GB/s, α = 25 µs over TCP) and 100 Gb/s
InfiniBand (β = 12.5 GB/s, α = 2 µs) — stated assumptions, not measurements.

Commands (docs/scaling.md quotes their output):

    python benchmarks/scaling.py --launch --out runs/scaling      # ~10 min on 2 cores
    python benchmarks/scaling.py --report runs/scaling --write-docs

``--worker`` and ``--curve`` are what ``--launch`` starts; they run alone too.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MODELS = ("MLP VAE", "conv VAE")
SLUG = {"MLP VAE": "mlp", "conv VAE": "conv"}
BATCH = 128
STEPS = 16                       # steps per epoch of the worker
CURVE = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
NETWORKS = {"10 Gb/s Ethernet": (1.25e9, 25e-6), "100 Gb/s InfiniBand": (12.5e9, 2e-6)}
RANKS_MODELLED = (1, 2, 4, 8, 16, 32, 64, 128, 256)
BEGIN, END = "<!-- scaling: begin -->", "<!-- scaling: end -->"


# -------------------------------------------------------------------- measuring
class TimedComm:
    """A communicator that times its Allreduces (everything else passes through)."""

    def __init__(self, comm):
        self.inner, self.seconds, self.calls = comm, 0.0, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def allreduce_sum(self, buf):
        t0 = time.perf_counter()
        out = self.inner.allreduce_sum(buf)
        self.seconds += time.perf_counter() - t0
        self.calls += 1
        return out


def synthetic_images(n, seed=0):
    """(n, 784) binary images: the step's cost does not depend on what they show."""
    return (np.random.default_rng(seed).random((n, 784)) < 0.3).astype(np.float32)


def step_times(kind, batch, comm, epochs=3, steps=STEPS):
    """Per-step wall time and Allreduce time of epochs 2.. of a Trainer run."""
    from contenders import build_model  # noqa: PLC0415
    from scratchvae.train import TrainConfig, Trainer  # noqa: PLC0415

    timed = TimedComm(comm)
    per_epoch = []

    def on_epoch(record):
        per_epoch.append({"step_s": record["seconds"] / steps,
                          "comm_s": timed.seconds / max(timed.calls, 1)})
        timed.seconds, timed.calls = 0.0, 0

    trainer = Trainer(build_model(kind), synthetic_images(batch * steps),
                      config=TrainConfig(epochs=epochs, batch_size=batch, progress=False,
                                         shuffle=False),
                      on_epoch=on_epoch, comm=timed)
    trainer.fit()
    return per_epoch[1:], trainer


def worker(args):
    from scratchvae.distributed import world  # noqa: PLC0415

    comm = world()
    epochs, trainer = step_times(args.worker, BATCH, comm)
    pure = None
    if comm.size > 1:
        buf = trainer.parallel.buffer
        samples = []
        for _ in range(30):
            comm.barrier()
            t0 = time.perf_counter()
            comm.allreduce_sum(buf)
            samples.append(time.perf_counter() - t0)
        pure = statistics.median(samples)
    if comm.is_root:
        result = {"model": args.worker, "ranks": comm.size, "batch": BATCH,
                  "epochs": epochs, "allreduce_s": pure,
                  "bytes": None if trainer.parallel is None else trainer.parallel.nbytes,
                  "parameters": trainer.model.num_parameters()}
        Path(args.json).write_text(json.dumps(result, indent=1))


def curve(args):
    from scratchvae.distributed import SingleProcess  # noqa: PLC0415

    points = {}
    for b in CURVE:
        epochs, _ = step_times(args.curve, b, SingleProcess(), epochs=2,
                               steps=max(4, min(STEPS, 2048 // b)))
        points[b] = epochs[-1]["step_s"]
    Path(args.json).write_text(json.dumps({"model": args.curve, "step_s": points}, indent=1))


def launch(args):
    from common import machine_info  # noqa: PLC0415

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": f"{ROOT}{os.pathsep}{HERE}"}
    mpiexec = str(Path(sys.executable).parent / "mpiexec")
    log = {"command": " ".join(sys.argv), "load_before": os.getloadavg()[0], "runs": []}
    for rep in range(args.repeats):
        for kind in MODELS:
            for p in args.ranks:
                path = out / f"{SLUG[kind]}-P{p}-run{rep}.json"
                cmd = [sys.executable, __file__, "--worker", kind, "--json", str(path)]
                cmd = [mpiexec, "-n", str(p), *cmd] if p > 1 else cmd
                subprocess.run(cmd, check=True, env=env, timeout=1200)
                log["runs"].append(path.name)
                print(f"{path.name}: {json.loads(path.read_text())['epochs']}", flush=True)
            path = out / f"{SLUG[kind]}-curve-run{rep}.json"
            subprocess.run([sys.executable, __file__, "--curve", kind, "--json", str(path)],
                           check=True, env=env, timeout=1200)
            print(f"{path.name}: done", flush=True)
    log["load_after"] = os.getloadavg()[0]
    env_machine = subprocess.run([sys.executable, "-c", "import json, common; "
                                  "print(json.dumps(common.machine_info()))"],
                                 env=env, cwd=HERE, capture_output=True, text=True, check=True)
    log["machine"] = json.loads(env_machine.stdout) if env_machine.stdout else machine_info()
    (out / "launch.json").write_text(json.dumps(log, indent=1))


# --------------------------------------------------------------------- modelling
def ring_seconds(p, nbytes, bandwidth, latency):
    """T_ring(P) of the module docstring."""
    return 0.0 if p == 1 else 2 * (p - 1) * latency + 2 * (p - 1) / p * nbytes / bandwidth


def compute_seconds(points: dict, b: float) -> float:
    """T_compute(b), linear between the measured batch sizes (b ≥ 1)."""
    xs = sorted(points)
    return float(np.interp(b, xs, [points[x] for x in xs]))


def modelled(points, nbytes, batch, network):
    bandwidth, latency = NETWORKS[network]
    t1 = compute_seconds(points, batch)
    rows = []
    for p in RANKS_MODELLED:
        if p > batch:
            break
        t = compute_seconds(points, math.ceil(batch / p)) + ring_seconds(p, nbytes, bandwidth,
                                                                        latency)
        rows.append((p, t, t1 / t))
    return rows


def _median_range(values):
    return statistics.median(values), min(values), max(values)


def report(args):
    out = Path(args.out)
    log = json.loads((out / "launch.json").read_text())
    lines, data = [], {}
    m = log["machine"]
    lines.append(f"Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs, caches "
                 f"{m['caches']}; MPICH from the `mpich` wheel, shared memory between the "
                 f"two ranks; one Numba thread per rank. Load average "
                 f"{log['load_before']:.2f} before, {log['load_after']:.2f} after. "
                 f"Command: `{log['command']}`, then `python benchmarks/scaling.py --report "
                 f"{args.out} --write-docs`. Medians of {len(set(r.split('-run')[1] for r in log['runs']))} "
                 f"fresh-process runs [min–max].\n")
    lines.append("| model | ranks | step (ms) | in the Allreduce (ms) | Allreduce alone (ms) | "
                 "bytes per step | speed-up | efficiency |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for kind in MODELS:
        slug = SLUG[kind]
        runs = {p: [json.loads(f.read_text()) for f in sorted(out.glob(f"{slug}-P{p}-run*.json"))]
                for p in (1, 2)}
        step = {p: _median_range([statistics.median(e["step_s"] for e in r["epochs"])
                                  for r in runs[p]]) for p in runs if runs[p]}
        curves = [json.loads(f.read_text())["step_s"] for f in
                  sorted(out.glob(f"{slug}-curve-run*.json"))]
        points = {int(b): statistics.median(c[b] for c in curves) for b in curves[0]}
        nbytes = runs[2][0]["bytes"]
        comm = _median_range([statistics.median(e["comm_s"] for e in r["epochs"])
                              for r in runs[2]])
        pure = _median_range([r["allreduce_s"] for r in runs[2]])
        data[kind] = {"points": points, "bytes": nbytes, "step": step, "pure": pure}
        for p in (1, 2):
            s = step[p]
            speed = step[1][0] / s[0]
            extra = (f"{comm[0] * 1e3:.2f} [{comm[1] * 1e3:.2f}–{comm[2] * 1e3:.2f}] | "
                     f"{pure[0] * 1e3:.2f} [{pure[1] * 1e3:.2f}–{pure[2] * 1e3:.2f}] | "
                     f"{nbytes / 1e6:.2f} MB") if p == 2 else "— | — | —"
            lines.append(f"| {kind} | {p} | {s[0] * 1e3:.1f} [{s[1] * 1e3:.1f}–{s[2] * 1e3:.1f}] "
                         f"| {extra} | {speed:.2f} | {speed / p:.0%} |")
    lines.append("")
    lines.append("Measured one-process step time by batch size (the compute curve, ms; "
                 "medians):\n")
    lines.append("| model | " + " | ".join(f"b={b}" for b in CURVE) + " |")
    lines.append("|---|" + "---:|" * len(CURVE))
    for kind in MODELS:
        pts = data[kind]["points"]
        lines.append(f"| {kind} | " + " | ".join(f"{pts[b] * 1e3:.2f}" for b in CURVE) + " |")
    lines.append("")
    lines.append(f"Modelled speed-up at global batch B = {BATCH} and B = 1024 (ring "
                 f"allreduce, module docstring of benchmarks/scaling.py):\n")
    lines.append("| model | network | B | " + " | ".join(f"P={p}" for p in RANKS_MODELLED)
                 + " |")
    lines.append("|---|---|---:|" + "---:|" * len(RANKS_MODELLED))
    curves_for_plot = {}
    for kind in MODELS:
        for net in NETWORKS:
            for batch in (BATCH, 1024):
                rows = modelled(data[kind]["points"], data[kind]["bytes"], batch, net)
                curves_for_plot[(kind, net, batch)] = rows
                cells = [f"{s:.1f}" for _, _, s in rows]
                cells += ["—"] * (len(RANKS_MODELLED) - len(cells))
                lines.append(f"| {kind} | {net} | {batch} | " + " | ".join(cells) + " |")
    lines.append("")
    for kind in MODELS:
        p2 = modelled(data[kind]["points"], data[kind]["bytes"], BATCH, "10 Gb/s Ethernet")
        measured = data[kind]["step"][2][0]
        predicted_local = compute_seconds(data[kind]["points"], BATCH / 2) + data[kind]["pure"][0]
        lines.append(f"- {kind}: measured 2-rank step {measured * 1e3:.1f} ms; the model with "
                     f"this machine's measured Allreduce ({data[kind]['pure'][0] * 1e3:.2f} ms) "
                     f"predicts {predicted_local * 1e3:.1f} ms. Peak modelled speed-up on 10 "
                     f"Gb/s at B = {BATCH}: {max(s for _, _, s in p2):.1f}× at P = "
                     f"{max(p2, key=lambda r: r[2])[0]}.")
    text = "\n".join(lines) + "\n"
    print(text)
    measured = {kind: data[kind]["step"][1][0] / data[kind]["step"][2][0] for kind in MODELS}
    plot(curves_for_plot, measured, ROOT / "docs" / "images" / "scaling.png")
    if args.write_docs:
        sys.path.insert(0, str(HERE))
        from docs_block import replace_marked_block  # noqa: PLC0415
        path = ROOT / "docs" / "scaling.md"
        path.write_text(replace_marked_block(path.read_text(), text, BEGIN, END))
        print(f"wrote {path} and docs/images/scaling.png")


def plot(curves, measured, path):
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, kind in zip(axes, MODELS):
        for (k, net, batch), rows in curves.items():
            if k != kind:
                continue
            ax.plot([r[0] for r in rows], [r[2] for r in rows], marker="o", markersize=3,
                    linestyle="-" if batch == BATCH else "--", label=f"{net}, B = {batch}")
        ps = list(RANKS_MODELLED)
        ax.plot(ps, ps, color="grey", linewidth=0.8, label="ideal")
        ax.plot([2], [measured[kind]], "kx", markersize=9, mew=2,
                label="measured: 2 ranks on this machine, B = 128")
        ax.set(xscale="log", yscale="log", xlabel="ranks P", title=kind)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("modelled speed-up T(1)/T(P)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--launch", action="store_true", help="run every measurement")
    ap.add_argument("--report", action="store_true", help="tables, model and plot from --out")
    ap.add_argument("--write-docs", action="store_true", help="with --report: docs/scaling.md")
    ap.add_argument("--worker", choices=MODELS, help="one step measurement (under mpiexec)")
    ap.add_argument("--curve", choices=MODELS, help="the compute curve, one process")
    ap.add_argument("--json", help="where --worker/--curve write")
    ap.add_argument("--out", default="runs/scaling")
    ap.add_argument("--ranks", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args)
    elif args.curve:
        curve(args)
    elif args.launch:
        launch(args)
    elif args.report:
        report(args)
    else:
        ap.error("give --launch, --report, --worker or --curve")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
