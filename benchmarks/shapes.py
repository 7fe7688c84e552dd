"""The GEMMs and convolutions of one training step, read from the models' layers, and
their FLOP counts.

Notation: C (M, N) = A (M, K) · B (K, N), 2·M·K·N floating-point operations; the layout
says which operand is a transposed view ("T") and which is C-contiguous ("N").

    gemm_flops(M, K, N), conv_flops(...)     FLOPs of one GEMM, of one conv pass
    param_layers(model)                      the Linear / Conv2d / ConvTranspose2d layers
                                             of a model with their input shapes
    layer_gemms(layer, in_shape, batch, first)   the GEMMs of one layer's step
    vae_gemm_shapes(batch)                   every GEMM of one step of both VAEs, labelled
    unique_shapes(shapes)                    merged by (M, K, N, layout)
    conv_layer_specs()                       the conv VAE's convolutions

``gpu.py`` times its SGEMM and conv sections on these shapes; they are derived from the
layer objects, so they follow the models (``tests/test_benchmark_gpu_script.py`` checks
them against the GEMMs a real step runs). ``step_gemms.py`` is the independent hand count
that ``vs_pytorch.py`` uses for its FLOP floor.
"""
from __future__ import annotations

import math

from contenders import BATCH, vae_models
from scratchvae.nn import Conv2d, ConvTranspose2d, Flatten, Linear, Unflatten

__all__ = ["gemm_flops", "conv_flops", "param_layers", "layer_gemms", "layer_name",
           "vae_gemm_shapes", "unique_shapes", "conv_layer_specs", "vae_models"]


# ------------------------------------------------------------------------ FLOPs
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


# ------------------------------------------------------------ shapes of a step
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
