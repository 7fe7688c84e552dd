"""Figures that reproduce: run the benchmarks in several fresh processes and report the
median of the runs and their range.

One run of ``vs_pytorch.py`` or ``conv_vae.py`` interleaves its contenders, so its ratios
survive the machine's drift within the run; across runs the same machine still moved by
up to 2x (other tenants, frequency). A figure published from one run need not reproduce.
This script starts each benchmark R times per thread count, each in a new Python process
(JIT caches warm, thread pools and allocator cold), alternating the thread counts, and
records the load average before and after every run:

    for r in 1..R:
        for t in the thread counts:
            python benchmarks/vs_pytorch.py --threads t --json ...   (a fresh process)
            python benchmarks/conv_vae.py   --threads t --json ...   (a fresh process)

Every figure is then reported as ``median [min–max]`` over its R runs: the two steps
against PyTorch and the FLOP floor, the Numba GEMM against OpenBLAS (FLOP-weighted and
its worst shape), and each conv layer (forward + backward) against PyTorch's, with the
issue-15 targets marked met or missed on the medians.

    python benchmarks/fresh_runs.py --runs 3 --threads 1,2 --quick
    python benchmarks/fresh_runs.py --runs 3 --threads 1,2 --quick --repeats 9 --pause 0.3 --write-docs
    python benchmarks/fresh_runs.py --runs 3 --threads 1,2 --write-docs   # full runs (long)

The per-run JSON files stay in --out (default runs/fresh_runs/), so a table can be
rebuilt or checked later (``--report-only``), or set against the runs of another commit,
figure by figure and GEMM by GEMM (``--report-only --compare DIR``):

    git worktree add /tmp/before <commit>
    cd /tmp/before && PYTHONPATH=. NUMBA_CACHE_DIR=/tmp/nc_before \
        python benchmarks/fresh_runs.py --quick --out /tmp/fr_before
    cd - && python benchmarks/fresh_runs.py --quick --out /tmp/fr_after
    python benchmarks/fresh_runs.py --report-only --out /tmp/fr_after --compare /tmp/fr_before
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import machine_info
from docs_block import write_block

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- fresh_runs.py:begin -->", "<!-- fresh_runs.py:end -->"
HEADING = "## Fresh-process runs: medians and ranges (benchmarks/fresh_runs.py)"
SCRIPTS = ("vs_pytorch", "conv_vae")

#: (label, target, "<=" or ">=") for the figures the CPU-speed issue sets.
TARGETS = {"conv VAE step ÷ PyTorch": (0.8, "<="), "MLP VAE step ÷ PyTorch": (0.6, "<="),
           "MLP VAE step ÷ FLOP floor": (1.5, "<="),
           "GEMM ÷ OpenBLAS, FLOP-weighted (both steps)": (1.0, ">="),
           "GEMM ÷ OpenBLAS, worst shape": (0.8, ">=")}


def run_once(script, threads, quick, out_dir, index, repeats=None, pause=None, log=print):
    """One fresh process of ``script``; returns its JSON dict with the loads around it."""
    path = out_dir / f"{script}-t{threads}-r{index}.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / f"{script}.py"), "--threads",
           str(threads), "--json", str(path)] + (["--quick"] if quick else []) \
        + ([f"--repeats={repeats}"] if repeats else []) \
        + ([f"--pause={pause}"] if pause is not None else [])
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    result = json.loads(path.read_text())
    result["fresh_run"] = {"load_before": load0, "load_after": os.getloadavg()[0],
                           "wall_s": time.perf_counter() - t0, "threads": threads,
                           "index": index, "command": " ".join(cmd[1:])}
    path.write_text(json.dumps(result, indent=2, default=float) + "\n")
    log(f"  {script} threads={threads} run {index}: {result['fresh_run']['wall_s']:.0f} s, "
        f"load {load0:.2f} → {result['fresh_run']['load_after']:.2f}", flush=True)
    return result


def figures(vs, conv):
    """{label: value} from one vs_pytorch.py result and one conv_vae.py result."""
    f = {}
    for kind in ("MLP VAE", "conv VAE"):
        step = vs["steps"][kind]
        f[f"{kind} step, numba (ms)"] = 1e3 * step["median_s"]["numba"]
        if "torch" in step["median_s"]:
            f[f"{kind} step, torch (ms)"] = 1e3 * step["median_s"]["torch"]
            f[f"{kind} step ÷ PyTorch"] = step["vs_torch"]["numba"]
        f[f"{kind} step ÷ FLOP floor"] = step["vs_floor"]["numba"]
    agg = vs["gemm"]["aggregate"]
    f["GEMM ÷ OpenBLAS, FLOP-weighted (both steps)"] = agg["both"]["numba_vs_openblas"]
    f["GEMM ÷ OpenBLAS, FLOP-weighted (MLP VAE)"] = agg["MLP VAE"]["numba_vs_openblas"]
    f["GEMM ÷ OpenBLAS, FLOP-weighted (conv VAE)"] = agg["conv VAE"]["numba_vs_openblas"]
    f["GEMM ÷ OpenBLAS, worst shape"] = min(r["numba_vs_openblas"] for r in vs["gemm"]["shapes"])
    for name, layer in conv["layers"].items():
        med = layer["median_s"]
        f[f"{name}, numba (ms)"] = 1e3 * med["numba"]
        if "torch" in med:
            f[f"{name} ÷ PyTorch"] = med["numba"] / med["torch"]
            if "im2col" in med:                 # the same layer on its im2col path
                f[f"{name}, im2col path ÷ PyTorch"] = med["im2col"] / med["torch"]
    return f


def worst_shape(vs):
    row = min(vs["gemm"]["shapes"], key=lambda r: r["numba_vs_openblas"])
    return f"{row['M']}×{row['K']}×{row['N']} {row['layout']}"


def summarize(runs):
    """{threads: {label: (median, min, max, n)}} over the runs of each thread count."""
    table = {}
    for threads, pairs in runs.items():
        per = [figures(vs, conv) for vs, conv in pairs]
        labels = [k for k in per[0] if all(k in p for p in per)]
        table[threads] = {k: (statistics.median(p[k] for p in per), min(p[k] for p in per),
                              max(p[k] for p in per), len(per)) for k in labels}
    return table


def report(runs, machine, command):
    table = summarize(runs)
    threads = sorted(table)
    out = [f"Each figure: median [min–max] over {min(v[next(iter(v))][3] for v in table.values())}"
           " fresh processes per thread count (each run interleaves its contenders; "
           "ratios are our time ÷ theirs, below 1 is faster, except the GEMM rows: "
           "OpenBLAS time ÷ ours, above 1 is faster).", "",
           "| figure | " + " | ".join(f"{t} thread{'s' if t > 1 else ''}" for t in threads)
           + " | target |", "|---" + "|---:" * len(threads) + "|---|"]
    labels = list(table[threads[0]])
    for label in labels:
        cells = []
        for t in threads:
            if label not in table[t]:
                cells.append("—")
                continue
            med, lo, hi, _ = table[t][label]
            fmt = ".1f" if "(ms)" in label else ".2f"
            cells.append(f"{med:{fmt}} [{lo:{fmt}}–{hi:{fmt}}]")
        target = ""
        if label in TARGETS:
            goal, op = TARGETS[label]
            met = [(table[t][label][0] <= goal) if op == "<=" else (table[t][label][0] >= goal)
                   for t in threads if label in table[t]]
            target = f"{op} {goal}: " + ", ".join("met" if m else "missed" for m in met)
        elif label.endswith("÷ PyTorch") and "step" not in label and "im2col" not in label:
            target = "<= 1.0: " + ", ".join(
                "met" if table[t][label][0] <= 1.0 else "missed" for t in threads
                if label in table[t])
        out.append(f"| {label} | " + " | ".join(cells) + f" | {target} |")
    worst = {t: sorted({worst_shape(vs) for vs, _ in runs[t]}) for t in threads}
    loads = [r["fresh_run"][k] for pairs in runs.values() for vs, conv in pairs
             for r in (vs, conv) for k in ("load_before", "load_after")]
    caches = machine.get("caches", {})
    out += ["", "Worst GEMM shape per run: " + "; ".join(
        f"{t} thread(s): {', '.join(w)}" for t, w in worst.items()) + ".", "",
        f"Machine: {machine['cpu']}, {machine['logical_cpus']} logical CPUs"
        + (f", L1d {caches.get('l1d', 0) // 1024} KiB and L2 {caches.get('l2', 0) // 1024} KiB"
           " per core" if caches else "")
        + f"; Python {machine['python']}, NumPy {machine['numpy']}, Numba {machine['numba']}; "
        f"load average {min(loads):.2f}–{max(loads):.2f} before and after the runs. "
        f"Command: `{command}`."]
    return "\n".join(out)


def load_runs(out_dir, threads, n):
    """{threads: [(vs_pytorch result, conv_vae result), ...]} from the JSON files of a
    finished set of runs in ``out_dir``."""
    return {t: [tuple(json.loads((Path(out_dir) / f"{s}-t{t}-r{r}.json").read_text())
                      for s in SCRIPTS) for r in range(1, n + 1)] for t in threads}


def gemm_rows(vs):
    """{"M×K×N layout": Numba ÷ OpenBLAS speed} for every step GEMM of one run."""
    return {f"{r['M']}×{r['K']}×{r['N']} {r['layout']}": r["numba_vs_openblas"]
            for r in vs["gemm"]["shapes"]}


def compare(before, after, before_label, after_label):
    """A before/after table: every figure and every step GEMM's speed against OpenBLAS,
    median [min–max] over the runs of each set, and the ratio of the two medians."""
    def per_run(runs):
        return {t: [{**figures(vs, conv), **{f"GEMM {k} ÷ OpenBLAS": v
                                             for k, v in gemm_rows(vs).items()}}
                    for vs, conv in pairs] for t, pairs in runs.items()}

    b, a = per_run(before), per_run(after)
    out = [f"Before: {before_label}; after: {after_label}. Each cell: median [min–max] over "
           "the fresh processes of that set; after ÷ before is the ratio of the medians.", "",
           "| figure | threads | before | after | after ÷ before |", "|---|---:|---:|---:|---:|"]
    for t in sorted(set(b) & set(a)):
        labels = [k for k in a[t][0] if all(k in r for r in a[t] + b[t])]
        for label in labels:
            cells = []
            meds = []
            for runs in (b[t], a[t]):
                vals = [r[label] for r in runs]
                med = statistics.median(vals)
                meds.append(med)
                fmt = ".1f" if "(ms)" in label else ".2f"
                cells.append(f"{med:{fmt}} [{min(vals):{fmt}}–{max(vals):{fmt}}]")
            out.append(f"| {label} | {t} | {cells[0]} | {cells[1]} | {meds[1] / meds[0]:.2f} |")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="fresh processes per thread count")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--quick", action="store_true", help="pass --quick to each benchmark")
    ap.add_argument("--repeats", type=int, default=None,
                    help="pass --repeats to each benchmark (interleaved samples per contender)")
    ap.add_argument("--pause", type=float, default=None, metavar="S",
                    help="pass --pause to each benchmark (idle time before each sample; "
                         "OpenBLAS's threads spin ~0.1 s after a call, so keep it >= 0.3)")
    ap.add_argument("--out", default=str(ROOT / "runs" / "fresh_runs"),
                    help="folder for the per-run JSON files")
    ap.add_argument("--report-only", action="store_true",
                    help="rebuild the table from the JSON files already in --out")
    ap.add_argument("--write-docs", action="store_true",
                    help="replace this script's block in docs/benchmarks.md")
    ap.add_argument("--compare", metavar="DIR", default=None,
                    help="with --report-only: a before/after table against the runs in DIR "
                         "(another commit's --out folder, same --runs and --threads)")
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error("--runs must be at least 1 (3 or more for a figure worth publishing)")
    threads = [int(t) for t in args.threads.split(",") if t.strip()]
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = {t: [] for t in threads}
    if args.compare and not args.report_only:
        ap.error("--compare reads finished runs: give it with --report-only")
    if args.report_only:
        runs = load_runs(out_dir, threads, args.runs)
        if args.compare:
            print(compare(load_runs(args.compare, threads, args.runs), runs,
                          args.compare, str(out_dir)))
            return 0
    else:
        for r in range(1, args.runs + 1):
            for t in threads:
                runs[t].append(tuple(run_once(s, t, args.quick, out_dir, r, args.repeats,
                                              args.pause) for s in SCRIPTS))
    command = (f"python benchmarks/fresh_runs.py --runs {args.runs} --threads {args.threads}"
               + (" --quick" if args.quick else "")
               + (f" --repeats {args.repeats}" if args.repeats else "")
               + (f" --pause {args.pause:g}" if args.pause is not None else ""))
    machine = machine_info()
    text = report(runs, machine, command)
    print("\n" + text)
    if args.write_docs:
        write_block(text, BEGIN, END, heading=HEADING)
        print("wrote docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
