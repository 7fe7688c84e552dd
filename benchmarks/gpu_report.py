"""Pure helpers of benchmarks/gpu.py, none of which needs a GPU, CuPy or PyTorch.

It holds the GEMM and conv shapes of the two VAEs (:func:`vae_gemm_shapes`,
:func:`conv_layer_specs`), their FLOP counts, the float32 round-off check that every
result passes before it is timed (:func:`check_close`, :class:`Mismatch`), the settings
and header of a run's JSON, the markdown tables rendered from that JSON, the version
strings, and the replacement of the block between the docs markers in docs/benchmarks.md.

benchmarks/gpu.py, the runnable script, imports these (and re-exports them) around its
three timed sections; ``gpu.py --from-json`` renders a saved run with this module alone.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

from conv_vae import BATCH
from scratchvae.models import VAE, ConvVAE
from scratchvae.nn import Conv2d, ConvTranspose2d, Flatten, Linear, Unflatten

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- gpu.py:begin -->", "<!-- gpu.py:end -->"
TOL_FACTOR = 4.0           # the round-off bound is TOL_FACTOR·√K·ε₃₂ of Σ|a||b|


class Mismatch(AssertionError):
    """A kernel's result differs from the reference: the timings would be meaningless."""


# ------------------------------------------------------------ shapes and FLOPs
def gemm_flops(M: int, K: int, N: int) -> int:
    """Floating-point operations of C (M, N) = A (M, K) · B (K, N): one multiply and one
    add per term, 2·M·K·N."""
    return 2 * int(M) * int(K) * int(N)


def conv_flops(N: int, C_in: int, C_out: int, KH: int, KW: int, H: int, W: int,
               stride=1, padding=0, transposed: bool = False) -> int:
    """Multiply-adds ×2 of one conv pass at batch N, input C_in×H×W.

    Conv2d(C_in→C_out): 2·N·OH·OW·C_out·C_in·KH·KW, OH = (H + 2P − KH)//S + 1 — each output
    sums C_in·KH·KW products. ConvTranspose2d(C_in→C_out): 2·N·H·W·C_in·C_out·KH·KW — each
    input pixel scatters C_out·KH·KW products. The forward, dx and dW are each one GEMM of
    this size (the im2col GEMM and its two adjoints), so all three passes count the same.
    """
    if transposed:
        return 2 * N * H * W * C_in * C_out * KH * KW
    OH, OW = (H + 2 * padding - KH) // stride + 1, (W + 2 * padding - KW) // stride + 1
    return 2 * N * OH * OW * C_out * C_in * KH * KW


def param_layers(model):
    """Yield ``(where, layer, in_shape, first)`` for every Linear, Conv2d and
    ConvTranspose2d of the model's encoder and decoder, in forward order.

    in_shape is one example's input shape ((D,) or (C, H, W)), found by walking the
    layers from the model's input sizes; ``first`` marks the encoder's first layer with
    parameters, whose dX the training step skips (its input is data).
    """
    for part, seq, shape in (("encoder", model.encoder, (model.input_dim,)),
                             ("decoder", model.decoder, (model.latent_dim,))):
        first = part == "encoder"
        for i, layer in enumerate(seq.layers):
            where = f"{part}[{i}]"
            if isinstance(layer, Linear):
                yield where, layer, shape, first
                shape, first = (layer.out_features,), False
            elif isinstance(layer, (Conv2d, ConvTranspose2d)):
                yield where, layer, shape, first
                shape, first = (layer.out_channels, *layer.output_shape(*shape[1:])), False
            elif isinstance(layer, Unflatten):
                shape = tuple(layer.shape)
            elif isinstance(layer, Flatten):
                shape = (math.prod(shape),)
            # activations keep the shape


def layer_gemms(layer, in_shape, batch: int, first: bool):
    """The GEMMs (name, M, K, N, layout) of one layer's forward and backward, as the
    functional code runs them (``scratchvae.functional.linear`` / ``.conv``):

        Linear(D→M):      fwd x·W (B, D)(D, M)   dX dy·Wᵀ (B, M)(M, D)   dW xᵀ·dy (D, B)(B, M)
        Conv2d(C→F):      R = B·OH·OW, K = KH·KW·C
                          fwd cols·Wmatᵀ (R, K)(K, F)   dX dy2·Wmat (R, F)(F, K)
                          dW dy2ᵀ·cols (F, R)(R, K)
        ConvT(Cin→Cout):  R = B·H·W, K = KH·KW·Cout
                          fwd x2·Wmat (R, Cin)(Cin, K)  dX dcols·Wmatᵀ (R, K)(K, Cin)
                          dW x2ᵀ·dcols (Cin, R)(R, K)

    layout says which operand is a transposed view ("T": Wᵀ, Wmatᵀ, xᵀ, dy2ᵀ, x2ᵀ) and
    which is C-contiguous ("N"). dX is left out for ``first`` (the encoder's first layer:
    its input is data).
    """
    B = int(batch)
    if isinstance(layer, Linear):
        D, M = layer.in_features, layer.out_features
        gemms = [("fwd", B, D, M, "NN"), ("dX", B, M, D, "NT"), ("dW", D, B, M, "TN")]
    elif isinstance(layer, Conv2d):
        C, H, W = in_shape
        (KH, KW), F = layer.kernel_size, layer.out_channels
        OH, OW = layer.output_shape(H, W)
        R, K = B * OH * OW, KH * KW * C
        gemms = [("fwd", R, K, F, "NT"), ("dX", R, F, K, "NN"), ("dW", F, R, K, "TN")]
    elif isinstance(layer, ConvTranspose2d):
        C_in, H, W = in_shape
        (KH, KW), C_out = layer.kernel_size, layer.out_channels
        R, K = B * H * W, KH * KW * C_out
        gemms = [("fwd", R, C_in, K, "NN"), ("dX", R, K, C_in, "NT"), ("dW", C_in, R, K, "TN")]
    else:
        raise TypeError(f"no GEMMs known for {type(layer).__name__}")
    return [g for g in gemms if not (first and g[0] == "dX")]


def layer_name(layer) -> str:
    if isinstance(layer, Linear):
        return f"Linear({layer.in_features},{layer.out_features})"
    kind = "Conv2d" if isinstance(layer, Conv2d) else "ConvT"
    return f"{kind}({layer.in_channels},{layer.out_channels},{layer.kernel_size[0]})"


def vae_models():
    """The two models of the benchmark: MLP VAE 784-400-20 and the conv VAE (32, 64), L=20."""
    return {"MLP VAE": VAE(784, (400,), 20, seed=0),
            "conv VAE": ConvVAE((1, 28, 28), (32, 64), 20, seed=0)}


def vae_gemm_shapes(batch: int = BATCH, models=None):
    """Every GEMM of one training step of each model: a list of (label, M, K, N, layout),
    e.g. ``("MLP VAE enc Linear(784,400) fwd", 128, 784, 400, "NN")``."""
    out = []
    for mname, model in (models or vae_models()).items():
        for where, layer, shape, first in param_layers(model):
            for g, M, K, N, layout in layer_gemms(layer, shape, batch, first):
                part = where[:3]                                  # "enc" / "dec"
                out.append((f"{mname} {part} {layer_name(layer)} {g}", M, K, N, layout))
    return out


def unique_shapes(shapes):
    """Merge entries of equal (M, K, N, layout), joining their labels with ' = ', first
    order kept."""
    merged = {}
    for label, *key in shapes:
        merged.setdefault(tuple(key), []).append(label)
    return [(" = ".join(labels), *key) for key, labels in merged.items()]


def conv_layer_specs():
    """The conv VAE's convolutions as dicts (where, name, layer, in_shape (C, H, W), first)."""
    model = vae_models()["conv VAE"]
    return [dict(where=where, name=layer_name(layer), layer=layer, in_shape=shape, first=first)
            for where, layer, shape, first in param_layers(model)
            if isinstance(layer, (Conv2d, ConvTranspose2d))]


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


def markdown_table(header, rows) -> str:
    """A GitHub markdown table; cells are str()-ed."""
    lines = ["| " + " | ".join(str(h) for h in header) + " |",
             "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def replace_marked_block(doc: str, text: str, begin: str = BEGIN, end: str = END) -> str:
    """doc with everything between the begin and end markers replaced by text (markers
    kept). ValueError when a marker is missing or they are out of order."""
    i, j = doc.find(begin), doc.find(end)
    if i < 0 or j < 0 or j < i:
        raise ValueError(f"markers {begin} … {end} not found (in that order)")
    return doc[:i] + f"{begin}\n{text}\n{end}" + doc[j + len(end):]


def write_docs(text: str, path: Path = DOCS) -> None:
    """Write ``text`` between the gpu.py markers of ``path``; a clear error if they are absent."""
    path = Path(path)
    try:
        doc = path.read_text()
        path.write_text(replace_marked_block(doc, text))
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


# --------------------------------------------------------------------- versions
def _version(v: int) -> str:
    """CUDA's version integer 1000·major + 10·minor → "major.minor"."""
    return f"{v // 1000}.{v % 1000 // 10}"


def cudnn_version(v) -> str:
    """cuDNN's version integer → "major.minor.patch": 10000·major + 100·minor + patch from
    cuDNN 9 on, 1000·major + 100·minor + patch before."""
    v = int(v)
    major, rest = (v // 10000, v % 10000) if v >= 90000 else (v // 1000, v % 1000)
    return f"{major}.{rest // 100}.{rest % 100}"
