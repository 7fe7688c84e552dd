"""Pure helpers of benchmarks/gpu.py, none of which needs a GPU, CuPy or PyTorch.

It holds the float32 round-off check that every result passes before it is timed
(:func:`check_close`, :class:`Mismatch`), the settings and header of a run's JSON, the
markdown tables rendered from that JSON, and the writing of those tables between the
gpu.py markers of docs/benchmarks.md. The shapes and FLOP counts the sections time are
in ``shapes.py``; the GPU itself (probe, versions, CUDA-event timing) in ``gpu_device.py``.

benchmarks/gpu.py, the runnable script, imports these (and re-exports them) around its
three timed sections; ``gpu.py --from-json`` renders a saved run with this module alone.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

from contenders import BATCH
from docs_block import DOCS, ROOT, write_block

__all__ = ["BEGIN", "END", "DOCS", "ROOT", "TOL_FACTOR", "Mismatch", "roundoff_ratio",
           "check_close", "markdown_table", "write_docs", "sgemm_table", "conv_table",
           "steps_table", "render_markdown", "command_line", "new_results"]

BEGIN, END = "<!-- gpu.py:begin -->", "<!-- gpu.py:end -->"
TOL_FACTOR = 4.0           # the round-off bound is TOL_FACTOR·√K·ε₃₂ of Σ|a||b|


class Mismatch(AssertionError):
    """A kernel's result differs from the reference: the timings would be meaningless."""


# ----------------------------------------------------------- the round-off check
def roundoff_ratio(c, ref, abs_ref, k: int):
    """Worst |c − ref| / (TOL_FACTOR·√k·ε₃₂·abs_ref) over all entries: ≤ 1 passes.

    abs_ref is the same product on absolute values (Σ|a||b| per entry), the scale of the
    round-off of a float32 sum of k terms. Returns (ratio, flat index of the worst entry);
    NaN anywhere gives an infinite ratio. Works on NumPy and CuPy arrays.
    """
    xp = sys.modules[type(c).__module__.split(".")[0]]
    tol = TOL_FACTOR * math.sqrt(max(int(k), 1)) * float(np.finfo(np.float32).eps)
    err = xp.abs(c.astype(xp.float64) - ref.astype(xp.float64))
    bound = tol * abs_ref.astype(xp.float64) + np.finfo(np.float32).tiny
    ratio = (err / bound).ravel()
    if bool(xp.isnan(ratio).any()):
        return math.inf, int(xp.argmax(xp.isnan(ratio)))
    worst = int(xp.argmax(ratio))
    return float(ratio[worst]), worst


def check_close(what, c, ref, abs_ref, k, hint=""):
    """Raise :class:`Mismatch` naming ``what``, the worst entry and both values, unless
    :func:`roundoff_ratio` ≤ 1."""
    if tuple(c.shape) != tuple(ref.shape):
        raise Mismatch(f"{what}: shape {tuple(c.shape)} != reference {tuple(ref.shape)}")
    ratio, i = roundoff_ratio(c, ref, abs_ref, k)
    if ratio > 1:
        idx = np.unravel_index(i, tuple(ref.shape))
        raise Mismatch(
            f"{what}: entry {tuple(int(j) for j in idx)} is {float(c.ravel()[i])!r}, the "
            f"reference {float(ref.ravel()[i])!r}; error {ratio:.3g}× the float32 bound "
            f"{TOL_FACTOR}·√K·ε·Σ|a||b| (K = {k}). {hint}".rstrip())
    return ratio


# ------------------------------------------------------------ markdown and docs
def markdown_table(header, rows) -> str:
    """A GitHub markdown table; cells are str()-ed."""
    lines = ["| " + " | ".join(str(h) for h in header) + " |",
             "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_docs(text: str, path: Path = DOCS) -> None:
    """Write ``text`` between the gpu.py markers of ``path``; a clear error if they are absent."""
    path = Path(path)
    try:
        write_block(text, BEGIN, END, path, append=False)
    except (OSError, ValueError) as exc:
        raise SystemExit(
            f"gpu.py --write-docs: cannot write into {path} ({exc}). Add the two lines\n"
            f"    {BEGIN}\n    {END}\n"
            f"to {path.name} where the GPU tables belong (e.g. under a '## GPU' heading, after "
            f"the conv_vae.py block), then run again; the tables are printed above and "
            f"`--from-json` re-renders a saved run without a GPU.") from None


# ------------------------------------------------------------------------ report
def _gflops(flops, t):
    return f"{flops / t / 1e9:,.0f}"


def _pct(ref_t, t):
    return f"{100 * ref_t / t:.0f}%"


def _ms(t):
    return f"{1e3 * t:.3f}" if t < 0.01 else f"{1e3 * t:.2f}"


def sgemm_table(rows, versions):
    """Rows of section 1 → markdown: GFLOP/s of cuBLAS and of each version (% of cuBLAS)."""
    header = ["shape M×K×N", "cuBLAS GFLOP/s"] + [f"{v} GFLOP/s (% cuBLAS)" for v in versions]
    body = []
    for r in rows:
        t_ref = r["times"]["cublas"]["median_s"]
        layout = f" {r['layout']}" if r.get("layout", "NN") != "NN" else ""
        cells = [f"{r['label']}: {r['M']}×{r['K']}×{r['N']}{layout}", _gflops(r["flops"], t_ref)]
        for v in versions:
            if v in r["times"]:
                t = r["times"][v]["median_s"]
                cells.append(f"{_gflops(r['flops'], t)} ({_pct(t_ref, t)})")
            else:
                cells.append("—")
        body.append(cells)
    return markdown_table(header, body)


def conv_table(rows, ref_name):
    header = ["layer, batch 128", "pass", "ours (ms)", f"{ref_name} (ms)", "% of cuDNN",
              "ours GFLOP/s"]
    body = [[r["layer"], r["pass"], _ms(r["ours"]["median_s"]), _ms(r["ref"]["median_s"]),
             _pct(r["ref"]["median_s"], r["ours"]["median_s"]),
             _gflops(r["flops"], r["ours"]["median_s"])] for r in rows]
    return markdown_table(header, body)


def steps_table(rows):
    header = ["training step, batch 128", "ours, our SGEMM (ms)", "ours, cuBLAS GEMMs (ms)",
              "PyTorch CUDA (ms)", "PyTorch ÷ ours", "PyTorch ÷ ours-cuBLAS"]
    body = []
    for r in rows:
        t = {k: (r[k]["median_s"] if r.get(k) else None) for k in ("ours", "ours_cublas", "torch")}
        body.append([r["model"], _ms(t["ours"]),
                     _ms(t["ours_cublas"]) if t["ours_cublas"] else "—",
                     _ms(t["torch"]) if t["torch"] else "—",
                     f"{t['torch'] / t['ours']:.2f}" if t["torch"] else "—",
                     f"{t['torch'] / t['ours_cublas']:.2f}" if t["torch"] and t["ours_cublas"]
                     else "—"])
    return markdown_table(header, body)


def render_markdown(results) -> str:
    """The docs block for a run (the dict ``--json`` writes)."""
    m, s = results["machine"], results["settings"]
    parts = [f"GPU: **{m['gpu']}** (compute capability {m['compute_capability']}, "
             f"{m['sms']} SMs, {m['memory_gib']:.0f} GiB); CUDA runtime {m['cuda_runtime']}, "
             f"CUDA driver API {m['cuda_driver']}, NVIDIA driver {m.get('driver', '?')}; CuPy "
             f"{m['cupy']}; PyTorch {m['torch']}; conv reference: {m['cudnn']}. FP32, TF32 off "
             f"(CUPY_TF32=0, NVIDIA_TF32_OVERRIDE=0, PyTorch allow_tf32=False). Median of "
             f"CUDA-event samples after a warm-up. Command: `{s['command']}`."]
    sg = results.get("sgemm")
    if sg and sg["rows"]:
        for group, title in (("square", "SGEMM, square (GFLOP/s; % of cuBLAS FP32)"),
                             ("vae", "SGEMM at the GEMM shapes of a training step, batch 128 "
                                     "(NT: B is a transposed view, TN: A is; as the layers "
                                     "pass them)")):
            rows = [r for r in sg["rows"] if r["group"] == group]
            if rows:
                parts.append(f"{title}:\n\n{sgemm_table(rows, sg['versions'])}")
    cv = results.get("conv")
    if cv and cv.get("rows"):
        parts.append(f"Conv VAE layers, our layer code (im2col/col2im kernels + SGEMM) against "
                     f"{cv['reference']}:\n\n{conv_table(cv['rows'], 'cuDNN')}")
    st = results.get("steps")
    if st and st.get("rows"):
        parts.append("Whole training steps (zero grads, forward, loss, backward, Adam), "
                     f"batch 128:\n\n{steps_table(st['rows'])}")
    notes = results.get("notes") or []
    if notes:
        parts.append("Notes: " + " ".join(f"{n}" if n.endswith(".") else f"{n}." for n in notes))
    return "\n\n".join(parts)


# ----------------------------------------------------------------- a run's JSON
def command_line(quick: bool, sections: str, sizes) -> str:
    """The command that reproduces a run, as recorded in its settings and the docs."""
    cmd = "python benchmarks/gpu.py" + (" --quick" if quick else "")
    if sections != "sgemm,conv,steps":
        cmd += f" --sections {sections}"
    if sizes:
        cmd += " --sizes " + " ".join(map(str, sizes))
    return cmd


def new_results(machine, command: str, quick: bool, timing, notes):
    """The JSON of a run before its sections fill in "sgemm", "conv" and "steps"."""
    return {"machine": machine,
            "settings": {"command": command, "quick": quick, "timing": timing,
                         "tol_factor": TOL_FACTOR, "batch": BATCH},
            "notes": notes}
