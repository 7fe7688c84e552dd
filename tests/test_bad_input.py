"""Bad input at every public entry point gets a library error that names the argument.

Issue 13, "nothing lost, nothing silent". Each case below hands one public function,
method or constructor one kind of bad input — a wrong dtype (uint8/bool/complex/object/
float16), 0–255 targets for a Bernoulli likelihood, an empty batch, a 0-d array, a wrong
rank or shape, NaN/Inf where data must be finite, a ``dy`` of the wrong shape, a number
out of range, an unknown name, an optimizer built before ``astype()``/``to()`` — and is
classified:

    clean    a ``scratchvae.errors.ScratchVAEError`` (a subclass), one line, whose message
             names the argument (the case's patterns, all of them)
    silent   no error at all: a wrong result, or an option ignored
    crash    any other exception (a bare NumPy/Numba error, a TypeError, …), or a library
             error that does not name the argument

Every case must be clean. ``python tests/test_bad_input.py`` prints the counts by kind
and outcome (it runs against whichever ``scratchvae`` is importable, so the same table
can be made for an older checkout). A few tests at the end check the other side: what a
user would naturally pass (images into a ConvVAE, an optimizer built after casting) works,
with the same numbers.
"""
from __future__ import annotations

import collections
import math
import re
import sys

import numpy as np
import pytest

from scratchvae import distributions as Dist
from scratchvae import nn
from scratchvae.distributions import gan_losses as G
from scratchvae.errors import ScratchVAEError
from scratchvae import functional as F
from scratchvae.functional import linear_backward, linear_forward
from scratchvae.models import (
    CVAE, GECOVAE, IWAE, VAE, VAEGAN, Autoencoder, ConvVAE, DenoisingAE, Discriminator,
    LagrangianVAE, SparseAutoencoder, StackedAutoencoder, build_model,
)
from scratchvae.optim import SGD, Adam, OptimizerGroups, clip_grad_norm, schedules

N, D, L = 4, 6, 2
R = np.random.default_rng(0)
X = R.uniform(0.05, 0.95, (N, D)).astype(np.float32)         # valid data in (0, 1)
MU = R.normal(size=(N, L)).astype(np.float32)
LV = R.normal(0, 0.5, (N, L)).astype(np.float32)

CASES: list = []      # (kind, label, fn, patterns)


def case(kind: str, label: str, fn, *patterns: str) -> None:
    """Register a case: ``fn()`` must raise a clean error matching every pattern (regex)."""
    CASES.append((kind, label, fn, patterns))


def bad_dtypes(shape=(N, D), scale=1.0):
    """The wrong dtypes of the issue, as arrays of ``shape``."""
    base = R.uniform(0, 1, shape) * scale
    return {"uint8": (base * 255).astype(np.uint8), "bool": base > 0.5,
            "complex": base.astype(np.complex128), "object": base.astype(object),
            "float16": base.astype(np.float16)}


def with_value(a, value, where=(1, 2)):
    a = a.copy()
    a[where] = value
    return a


def outcome(fn, patterns):
    """("clean" | "silent" | "crash", the message or the exception)."""
    try:
        fn()
    except ScratchVAEError as exc:
        msg = str(exc)
        if "\n" in msg or not all(re.search(p, msg) for p in patterns):
            return "crash", f"{type(exc).__name__} without {patterns}: {msg}"
        return "clean", msg
    except Exception as exc:                                    # noqa: BLE001 (classified)
        return "crash", f"{type(exc).__name__}: {exc}"
    return "silent", "no error"


# =================================================================== the losses
LOSSES = {
    "bernoulli_nll": (lambda p, x, **k: Dist.bernoulli_nll(p, x, **k), "logits"),
    "gaussian_nll": (lambda p, x, **k: Dist.gaussian_nll(p, x, **k), "mean"),
    "squared_error": (lambda p, x, **k: Dist.squared_error(p, x, **k), "pred"),
}
for loss, (f, pred) in LOSSES.items():
    for kind, bad in bad_dtypes().items():
        case("dtype", f"{loss} x {kind}", lambda f=f, b=bad: f(X, b), r"\bx\b", kind)
        case("dtype", f"{loss} {pred} {kind}", lambda f=f, b=bad: f(b, X), pred, kind)
    case("dtype", f"{loss} x list", lambda f=f: f(X, X.tolist()), r"\bx\b", "array")
    case("empty", f"{loss} empty batch", lambda f=f: f(X[:0], X[:0]), pred, "empty")
    case("0-d", f"{loss} 0-d arrays", lambda f=f: f(np.float32(0.3) * np.ones(()),
                                                   np.ones((), np.float32) * 0.5), pred)
    case("ndim", f"{loss} 1-d arrays", lambda f=f: f(X[0], X[0]), pred, r"\[None\]")
    case("shape", f"{loss} shapes differ", lambda f=f: f(X, X[:, :-1]), r"\bx\b", pred)
    case("shape", f"{loss} rows differ", lambda f=f: f(X, X[:-1]), r"\bx\b", pred)
    case("nonfinite", f"{loss} NaN target", lambda f=f: f(X, with_value(X, np.nan)),
         r"\bx\b", "NaN")
    case("nonfinite", f"{loss} Inf target", lambda f=f: f(X, with_value(X, np.inf)),
         r"\bx\b", "NaN/Inf")
    case("name", f"{loss} reduction 'avg'", lambda f=f: f(X, X, reduction="avg"), "reduction")
case("range", "bernoulli_nll 0-255 float targets",
     lambda: Dist.bernoulli_nll(X, X * 255), r"\[0, 1\]", "255")
case("range", "bernoulli_nll negative targets",
     lambda: Dist.bernoulli_nll(X, X - 0.5), r"\[0, 1\]")
case("range", "gaussian_nll logvar NaN", lambda: Dist.gaussian_nll(X, X, math.nan), "logvar")
case("range", "gaussian_nll logvar True", lambda: Dist.gaussian_nll(X, X, True), "logvar")
case("dtype", "gaussian_nll logvar str", lambda: Dist.gaussian_nll(X, X, "0"), "logvar")
case("shape", "gaussian_nll logvar (D+1,)",
     lambda: Dist.gaussian_nll(X, X, np.zeros(D + 1, np.float32)), "logvar")
case("dtype", "gaussian_nll logvar uint8",
     lambda: Dist.gaussian_nll(X, X, np.zeros(D, np.uint8)), "logvar")
case("name", "check_targets unknown likelihood",
     lambda: Dist.check_targets(X, "poisson"), "likelihood")

# ------------------------------------------------------------------------ KLs
KLS = {
    "kl_standard_normal": (lambda a, b, **k: Dist.kl_standard_normal(a, b, **k), "mu"),
    "kl_diag_gaussians": (lambda a, b, **k: Dist.kl_diag_gaussians(a, b, MU, LV, **k), "mu_q"),
    "kl_per_dimension": (lambda a, b, **k: Dist.kl_per_dimension(a, b), "mu"),
}
for kl, (f, first) in KLS.items():
    for kind, bad in bad_dtypes((N, L)).items():
        case("dtype", f"{kl} {first} {kind}", lambda f=f, b=bad: f(b, LV), first, kind)
    case("empty", f"{kl} empty", lambda f=f: f(MU[:0], LV[:0]), first, "empty")
    case("0-d", f"{kl} 0-d", lambda f=f: f(np.ones((), np.float32), np.ones((), np.float32)),
         first, "0-d")
    case("ndim", f"{kl} 1-d", lambda f=f: f(MU[0], LV[0]), first, r"\[None\]")
    case("ndim", f"{kl} 3-d", lambda f=f: f(MU[None], LV[None]), first, r"\(N, L\)")
    case("shape", f"{kl} logvar of another shape", lambda f=f: f(MU, LV[:, :1]), "logvar")
case("name", "kl_standard_normal reduction", lambda: Dist.kl_standard_normal(MU, LV, "avg"),
     "reduction")
case("name", "kl_diag_gaussians reduction",
     lambda: Dist.kl_diag_gaussians(MU, LV, MU, LV, reduction=None), "reduction")
case("shape", "kl_diag_gaussians mu_p (1, L) prior", lambda: Dist.kl_diag_gaussians(
    MU, LV, MU[:1], LV), "mu_p")

# ----------------------------------------------------------------- GAN losses
LOGITS = R.normal(size=(N, 1)).astype(np.float32)
case("ndim", "discriminator_loss (N,) logits",
     lambda: G.discriminator_loss(LOGITS[:, 0], LOGITS), "logits_real", r"\[:, None\]")
case("shape", "discriminator_loss (N, 2) fakes",
     lambda: G.discriminator_loss(LOGITS, np.ones((N, 2), np.float32)), r"logits_fake\[0\]")
case("dtype", "discriminator_loss uint8 logits",
     lambda: G.discriminator_loss(LOGITS.astype(np.uint8), LOGITS), "logits_real", "uint8")
case("empty", "generator_loss empty batch",
     lambda: G.generator_loss(LOGITS[:0]), r"logits_fake\[0\]", "empty")
case("empty", "discriminator_loss without fakes", lambda: G.discriminator_loss(LOGITS),
     "fake logits")
case("name", "generator_loss kind 'hinge'", lambda: G.generator_loss(LOGITS, kind="hinge"),
     "kind", "hinge")
case("range", "discriminator_accuracy real='yes'",
     lambda: G.discriminator_accuracy(LOGITS, "yes"), "real")

# ------------------------------------------------------- the reparameterization
GEN = np.random.default_rng(1)
case("shape", "reparameterize_forward eps (N, L+1)",
     lambda: Dist.reparameterize_forward(MU, LV, np.zeros((N, L + 1), np.float32)), "eps")
case("shape", "reparameterize_forward eps (L,)",
     lambda: Dist.reparameterize_forward(MU, LV, np.zeros(L, np.float32)), "eps")
for kind in ("uint8", "bool", "complex", "object"):
    case("dtype", f"reparameterize_forward eps {kind}", lambda k=kind: Dist.reparameterize_forward(
        MU, LV, bad_dtypes((N, L))[k]), "eps", kind)
case("dtype", "reparameterize_forward eps list",
     lambda: Dist.reparameterize_forward(MU, LV, MU.tolist()), "eps", "array")
case("nonfinite", "reparameterize_forward eps NaN",
     lambda: Dist.reparameterize_forward(MU, LV, with_value(MU, np.nan, (0, 0))), "eps", "NaN")
case("dtype", "reparameterize_forward mu int",
     lambda: Dist.reparameterize_forward(MU.astype(int), LV, rng=GEN), r"\bmu\b")
case("shape", "reparameterize_forward logvar of another shape",
     lambda: Dist.reparameterize_forward(MU, LV[:, :1], rng=GEN), "logvar")
case("name", "reparameterize_forward rng=42 (a seed)",
     lambda: Dist.reparameterize_forward(MU, LV, rng=42), "rng", "Generator")
case("name", "reparameterize_forward neither eps nor rng",
     lambda: Dist.reparameterize_forward(MU, LV), "eps", "rng")
case("dy", "reparameterize_backward dz of another shape", lambda: Dist.reparameterize_backward(
    MU[:, :1], Dist.reparameterize_forward(MU, LV, rng=GEN)[1]), "dz", "reparameterize")
case("name", "standard_normal rng=None", lambda: Dist.standard_normal((2, 2), None), "rng")


# ==================================================================== the layers
def dy_case(label, make, x, dy=None):
    """Forward x, then backward a dy of the wrong shape (one more column, or ``dy``)."""
    def fn():
        layer = make()
        y = layer.forward(x)
        layer.backward(np.zeros(y.shape[:-1] + (y.shape[-1] + 1,), y.dtype) if dy is None
                       else dy)
    case("dy", f"{label}.backward wrong dy shape", fn, re.escape(label.split("(")[0].strip()),
         r"\bdy\b", "shape")


IMG = R.uniform(0, 1, (2, 3, 8, 8)).astype(np.float32)
dy_case("Linear", lambda: nn.Linear(D, 3, rng=0), X)
dy_case("Linear (transposed dy)", lambda: nn.Linear(D, 3, rng=0), X, np.zeros((3, N), np.float32))
for name in ("ReLU", "Tanh", "Sigmoid", "Softplus", "LeakyReLU", "Identity"):
    dy_case(name, getattr(nn, name), X)
    dy_case(f"{name} (broadcasting dy)", getattr(nn, name), X, np.zeros((1, D), np.float32))
dy_case("ParametricTanh", lambda: nn.ParametricTanh(D), X)
dy_case("BatchNorm1d", lambda: nn.BatchNorm1d(D), X)
dy_case("BatchNorm2d", lambda: nn.BatchNorm2d(3), IMG)
dy_case("Conv2d", lambda: nn.Conv2d(3, 4, 3, padding=1, rng=0), IMG)
dy_case("ConvTranspose2d", lambda: nn.ConvTranspose2d(3, 2, 3, stride=2, rng=0), IMG,
        np.zeros((2, 2, 16, 16), np.float32))        # also a size stride 2 maps back to 8
dy_case("Flatten", nn.Flatten, IMG)
dy_case("Unflatten", lambda: nn.Unflatten((2, 3)), X)
dy_case("Upsample", lambda: nn.Upsample(2), IMG)
dy_case("Dropout", lambda: nn.Dropout(0.5, rng=0), X)
dy_case("Sequential", lambda: nn.Sequential(nn.Linear(D, 3, rng=0), nn.ReLU()), X)
case("dy", "Linear.backward int dy", lambda: (lambda l: (l(X), l.backward(
    np.zeros((N, 3), np.int64))))(nn.Linear(D, 3, rng=0)), "Linear", r"\bdy\b", "int64")
case("dy", "Linear.backward list dy", lambda: (lambda l: (l(X), l.backward(
    np.zeros((N, 3)).tolist())))(nn.Linear(D, 3, rng=0)), "Linear", r"\bdy\b")
case("dy", "linear_backward wrong dy", lambda: linear_backward(
    np.zeros((N, 4), np.float32), linear_forward(X, np.zeros((D, 3), np.float32))[1]),
    "linear_backward", r"\bdy\b")
case("dy", "Discriminator.backward wrong dfeat", lambda: (lambda d: (lambda o: d.backward(
    np.ones_like(o[0]), np.ones((1, o[1].shape[1]), np.float32)))(d.forward(X)))(
    Discriminator(D, (5,), seed=0)), "dfeat", "Discriminator")

for kind, bad in bad_dtypes().items():
    if kind != "float16":                                      # float16 x computes fine
        case("dtype", f"Linear forward x {kind}", lambda b=bad: nn.Linear(D, 3, rng=0)(b),
             "Linear", kind)
case("dtype", "ReLU forward x bool", lambda: nn.ReLU()(X > 0.5), "ReLU", "bool")
case("dtype", "Conv2d forward x uint8", lambda: nn.Conv2d(3, 4, 3, rng=0)(
    (IMG * 255).astype(np.uint8)), "Conv2d", "uint8")
case("dtype", "Linear forward x list", lambda: nn.Linear(D, 3, rng=0)(X.tolist()), "Linear",
     "array")
case("ndim", "Linear forward (N, 2, 3) input", lambda: nn.Linear(D, 3, rng=0)(X.reshape(N, 2, 3)),
     "Linear", "reshape")
case("ndim", "Linear forward one example (D,)", lambda: nn.Linear(D, 3, rng=0)(X[0]), "Linear",
     r"\[None\]")
case("shape", "linear_forward x @ W mismatch", lambda: linear_forward(
    X, np.zeros((D + 1, 3), np.float32)), "linear_forward", r"\bW\b")
case("shape", "batchnorm_forward gamma (C+1,)", lambda: F.batchnorm_forward(
    X, np.ones(D + 1, np.float32), np.zeros(D + 1, np.float32)), "batchnorm_forward", "gamma")
case("ndim", "batchnorm_forward 1-d x", lambda: F.batchnorm_forward(X[0], None, None),
     "batchnorm_forward x")
case("shape", "dropout_forward broadcasting mask", lambda: F.dropout_forward(
    X, np.ones((1, D), bool), 0.5), "mask")
case("range", "dropout_forward p=1", lambda: F.dropout_forward(X, np.ones(X.shape, bool), 1.0),
     r"\bp\b")
case("range", "upsample_nearest_forward scale 0", lambda: F.upsample_nearest_forward(IMG, 0),
     "scale")
case("dtype", "conv2d_forward x uint8", lambda: F.conv2d_forward(
    (IMG * 255).astype(np.uint8), np.ones((4, 3, 3, 3), np.float32)), "conv2d x", "uint8")
case("ndim", "conv2d via layer, 3-d input", lambda: nn.Conv2d(3, 4, 3, rng=0)(IMG[0]), "Conv2d",
     r"\(N, 3, H, W\)")

# ---------------------------------------------------------- layer constructors
for label, fn, *pats in [
        ("Linear(0, 3)", lambda: nn.Linear(0, 3), "in_features"),
        ("Linear(4, -3)", lambda: nn.Linear(4, -3), "out_features"),
        ("Linear(2.5, 3)", lambda: nn.Linear(2.5, 3), "in_features"),
        ("Linear('4', 3)", lambda: nn.Linear("4", 3), "in_features"),
        ("Linear(rng=-1)", lambda: nn.Linear(4, 3, rng=-1), "rng"),
        ("Linear(rng='a')", lambda: nn.Linear(4, 3, rng="a"), "rng"),
        ("BatchNorm1d(0)", lambda: nn.BatchNorm1d(0), "num_features"),
        ("BatchNorm1d(eps=nan)", lambda: nn.BatchNorm1d(3, eps=math.nan), "eps"),
        ("BatchNorm1d(eps=0)", lambda: nn.BatchNorm1d(3, eps=0.0), "eps"),
        ("BatchNorm2d(momentum=1.5)", lambda: nn.BatchNorm2d(3, momentum=1.5), "momentum"),
        ("BatchNorm2d(momentum=nan)", lambda: nn.BatchNorm2d(3, momentum=math.nan), "momentum"),
        ("Conv2d(0 channels)", lambda: nn.Conv2d(0, 4, 3), "in_channels"),
        ("Conv2d(kernel_size=0)", lambda: nn.Conv2d(1, 1, 0), "kernel_size"),
        ("Conv2d(kernel_size=2.5)", lambda: nn.Conv2d(1, 1, 2.5), "kernel_size"),
        ("Conv2d(stride=0)", lambda: nn.Conv2d(1, 1, 3, stride=0), "stride"),
        ("Conv2d(padding=-1)", lambda: nn.Conv2d(1, 1, 3, padding=-1), "padding"),
        ("ConvTranspose2d(output_padding=2, stride=2)",
         lambda: nn.ConvTranspose2d(1, 1, 3, stride=2, output_padding=2), "output_padding"),
        ("Dropout(1.0)", lambda: nn.Dropout(1.0), r"\bp\b"),
        ("Dropout(nan)", lambda: nn.Dropout(math.nan), r"\bp\b"),
        ("Dropout(rng=-2)", lambda: nn.Dropout(0.5, rng=-2), "rng"),
        ("Upsample(0)", lambda: nn.Upsample(0), "scale_factor"),
        ("Unflatten((2, 0))", lambda: nn.Unflatten((2, 0)), "shape"),
        ("LeakyReLU(nan)", lambda: nn.LeakyReLU(math.nan), "negative_slope"),
        ("ParametricTanh(0)", lambda: nn.ParametricTanh(0), "num_features"),
        ("ParametricTanh(a=inf)", lambda: nn.ParametricTanh(3, a=math.inf), r"\ba\b"),
        ("make_activation('swish')", lambda: nn.make_activation("swish"), "activation", "relu"),
        ("make_activation(3)", lambda: nn.make_activation(3), "activation"),
        ("Sequential([layers])", lambda: nn.Sequential([nn.ReLU()]), "Sequential", r"\*layers"),
]:
    case("range" if "(" in label and "'" not in label else "name", label, fn, *pats)
for dt in (np.int32, np.float16, "float128", "nonsense"):
    case("dtype", f"Linear(dtype={dt})", lambda dt=dt: nn.Linear(4, 3, dtype=dt), "dtype")
    case("dtype", f"Module.astype({dt})", lambda dt=dt: nn.Linear(4, 3).astype(dt), "astype|cast")


# ================================================================ the optimizers
def params():
    return nn.Linear(3, 2, rng=0).parameters()


for label, fn, *pats in [
        ("Adam(lr=0)", lambda: Adam(params(), lr=0.0), "learning rate"),
        ("Adam(lr=nan)", lambda: Adam(params(), lr=math.nan), "learning rate"),
        ("Adam(lr=-1)", lambda: Adam(params(), lr=-1), "learning rate"),
        ("Adam(lr='0.1')", lambda: Adam(params(), lr="0.1"), "learning rate"),
        ("Adam(betas=(1.0, 0.999))", lambda: Adam(params(), betas=(1.0, 0.999)), "betas"),
        ("Adam(betas=(0.9,))", lambda: Adam(params(), betas=(0.9,)), "betas"),
        ("Adam(eps=0)", lambda: Adam(params(), eps=0.0), "eps"),
        ("Adam(weight_decay=-1)", lambda: Adam(params(), weight_decay=-1.0), "weight_decay"),
        ("SGD(momentum=-0.1)", lambda: SGD(params(), momentum=-0.1), "momentum"),
        ("SGD(momentum=nan)", lambda: SGD(params(), momentum=math.nan), "momentum"),
        ("SGD(nesterov, no momentum)", lambda: SGD(params(), nesterov=True), "momentum"),
        ("SGD(weight_decay=nan)", lambda: SGD(params(), weight_decay=math.nan), "weight_decay"),
        ("Adam(lr_schedule=5)", lambda: Adam(params(), lr_schedule=5), "lr_schedule"),
        ("clip_grad_norm(max_norm=nan)", lambda: clip_grad_norm(params(), math.nan), "max_norm"),
        ("clip_grad_norm(max_norm=0)", lambda: clip_grad_norm(params(), 0.0), "max_norm"),
        ("cosine(total_steps=0)", lambda: schedules.cosine(0.1, 0), "total_steps"),
        ("cosine(min_lr > lr)", lambda: schedules.cosine(0.1, 10, 0.5), "min_lr"),
        ("exponential_decay(gamma=0)", lambda: schedules.exponential_decay(0.1, 0.0), "gamma"),
        ("linear_warmup(warmup_steps=0)",
         lambda: schedules.linear_warmup(schedules.constant(0.1), 0), "warmup_steps"),
        ("constant(nan)", lambda: schedules.constant(math.nan), r"\blr\b"),
]:
    case("range", label, fn, *pats)
case("name", "Adam([])", lambda: Adam([]), "parameters")
case("name", "Adam(model) instead of model.parameters()",
     lambda: Adam(nn.Linear(3, 2, rng=0)), "parameters")
case("name", "Adam([W, b]) arrays, not triples",
     lambda: Adam([np.zeros(3), np.zeros(2)]), "parameters", "triples")
case("name", "OptimizerGroups({})", lambda: OptimizerGroups({}), "optimizer")
case("name", "OptimizerGroups({'g': params})", lambda: OptimizerGroups({"g": params()}), "'g'")


def schedule_gives_nan():
    opt = Adam(params(), lr_schedule=lambda step: math.nan)
    opt.step()


case("range", "Adam step with a schedule that returns NaN", schedule_gives_nan, "learning rate",
     "lr_schedule")


# -------------------------------------- an optimizer built before astype()/to()
def stale(cast, action="step", group=False, plain=False):
    def fn():
        model = VAE(D, (5,), L, seed=0)
        ps = model.parameters()
        if plain:                                # triples rebuilt by hand: plain tuples
            ps = [(n, p, g) for n, p, g in ps]
        opt = OptimizerGroups({"model": Adam(ps)}) if group else Adam(ps)
        cast(model)
        if action == "step":
            model.zero_grad()
            model.loss_and_grads(X)
            opt.step()
        elif action == "zero_grad":
            opt.zero_grad()
        else:
            clip_grad_norm(ps, 1.0)
    return fn


for label, cast in [("astype(float64)", lambda m: m.astype(np.float64)),
                    ("astype(float32), a no-op cast", lambda m: m.astype(np.float32)),
                    ("a move as to() makes it", lambda m: m._map_arrays(np.array))]:
    case("stale", f"Adam before {label}, step", stale(cast), "astype", "build the optimizer")
    case("stale", f"Adam before {label}, zero_grad", stale(cast, "zero_grad"), "astype")
    case("stale", f"OptimizerGroups before {label}", stale(cast, group=True), "astype")
    case("stale", f"plain triples before {label}", stale(cast, plain=True), "astype")
    case("stale", f"clip_grad_norm on parameters taken before {label}",
         stale(cast, action="clip"), "astype")
case("stale", "Adam from parameters taken before astype", lambda: (lambda m: (
    lambda ps: (m.astype(np.float64), Adam(ps)))(m.parameters()))(VAE(D, (5,), L)), "astype")


# ==================================================================== the models
def vae(**kw):
    return VAE(D, (5,), L, seed=0, **kw)


MODEL_INPUTS = {
    "VAE": (vae, "loss_and_grads"), "VAE.encode": (vae, "encode"),
    "Autoencoder": (lambda: Autoencoder(D, (5,), L), "loss_and_grads"),
    "IWAE": (lambda: IWAE(D, (5,), L, k=2), "loss_and_grads"),
    "VAEGAN": (lambda: VAEGAN(D, (5,), L, dis_hidden=(4,)), "loss_and_grads"),
    "DenoisingAE": (lambda: DenoisingAE(D, (5,), L), "loss_and_grads"),
    "StackedAutoencoder": (lambda: StackedAutoencoder((D, 4, 3)), "loss_and_grads"),
    "SparseAutoencoder": (lambda: SparseAutoencoder(D, (), 4), "loss_and_grads"),
}
for model, (make, method) in MODEL_INPUTS.items():
    call = (lambda make, method: lambda x: getattr(make(), method)(x))(make, method)
    for kind, bad in bad_dtypes().items():
        if kind != "float16":                   # float16 data is cast exactly: fine
            case("dtype", f"{model} x {kind}", lambda c=call, b=bad: c(b), r"\bx\b", kind)
    case("dtype", f"{model} x list", lambda c=call: c(X.tolist()), r"\bx\b", "array")
    case("empty", f"{model} empty batch", lambda c=call: c(X[:0]), r"\bx\b", "empty")
    case("0-d", f"{model} 0-d x", lambda c=call: c(np.float32(0.5) * np.ones(())), r"\bx\b",
         "0-d")
    case("ndim", f"{model} one example (D,)", lambda c=call: c(X[0]), r"\bx\b", r"x\[None\]")
    case("ndim", f"{model} image-shaped (N, 1, 2, 3)", lambda c=call: c(X.reshape(N, 1, 2, 3)),
         r"\bx\b", "reshape")
    case("shape", f"{model} (N, D+1)", lambda c=call: c(np.ones((N, D + 1), np.float32) / 2),
         rf"\(N, {D}\)")
    case("nonfinite", f"{model} NaN", lambda c=call: c(with_value(X, np.nan)), r"\bx\b", "NaN")
    case("nonfinite", f"{model} Inf", lambda c=call: c(with_value(X, -np.inf)), r"\bx\b",
         "NaN/Inf")
    case("range", f"{model} 0-255 float pixels", lambda c=call: c(X * 255), r"\[0, 1\]", "255")

CONV = (1, 4, 4)
IMGS = R.uniform(0, 1, (3,) + CONV).astype(np.float32)


def conv_vae(**kw):
    return ConvVAE(CONV, (2, 3), L, seed=0, **kw)


case("ndim", "ConvVAE channels-last images",
     lambda: conv_vae().loss_and_grads(IMGS.transpose(0, 2, 3, 1).copy()), "transpose")
case("ndim", "ConvVAE images without the channel axis",
     lambda: conv_vae().loss_and_grads(IMGS[:, 0]), r"x\[:, None\]")
case("ndim", "ConvVAE one image (C, H, W)", lambda: conv_vae().loss_and_grads(IMGS[0]),
     r"x\[None\]")
case("shape", "ConvVAE images of another size",
     lambda: conv_vae().loss_and_grads(np.ones((3, 1, 8, 8), np.float32) / 2), "image_shape")
case("range", "ConvVAE 0-255 images", lambda: conv_vae().loss_and_grads(IMGS * 255),
     r"\[0, 1\]")
case("dtype", "ConvVAE uint8 images",
     lambda: conv_vae().loss_and_grads((IMGS * 255).astype(np.uint8)), r"\bx\b", "255")

# frozen noise, labels, codes
case("shape", "VAE eps (N, L+1)", lambda: vae().loss_and_grads(X, eps=np.zeros((N, L + 1))),
     "eps")
case("nonfinite", "VAE eps NaN", lambda: vae().loss_and_grads(
    X, eps=with_value(np.zeros((N, L)), np.nan, (0, 0))), "eps", "NaN")
case("dtype", "VAE eps complex", lambda: vae().loss_and_grads(X, eps=np.zeros((N, L), complex)),
     "eps", "complex")
case("shape", "IWAE eps (N, L) not (k, N, L)",
     lambda: IWAE(D, (5,), L, k=2).loss_and_grads(X, eps=np.zeros((N, L))), "eps", r"\(k, N, L\)")
case("nonfinite", "IWAE eps Inf", lambda: IWAE(D, (5,), L, k=2).loss_and_grads(
    X, eps=with_value(np.zeros((2, N, L)), np.inf, (0, 0, 0))), "eps", "NaN/Inf")
case("nonfinite", "VAEGAN z_prior NaN", lambda: VAEGAN(D, (5,), L, dis_hidden=(4,)).loss_and_grads(
    X, z_prior=with_value(np.zeros((N, L)), np.nan, (0, 0))), "z_prior")
case("name", "VAE given labels", lambda: vae().loss_and_grads(X, y=np.zeros(N, int)), "labels")
case("name", "CVAE without labels", lambda: CVAE(D, 3, (5,), L).loss_and_grads(X, None), "labels")
case("dtype", "CVAE float labels", lambda: CVAE(D, 3, (5,), L).loss_and_grads(X, np.zeros(N)),
     "labels")
case("range", "CVAE label out of range",
     lambda: CVAE(D, 3, (5,), L).loss_and_grads(X, np.full(N, 3)), "label", r"\[0, 3\)")
case("shape", "decode z (N, L+1)", lambda: vae().decode(np.zeros((2, L + 1))), r"\bz\b",
     rf"\(N, {L}\)")
case("ndim", "decode one code (L,)", lambda: vae().decode(np.zeros(L)), r"\bz\b", r"\[None\]")
case("nonfinite", "decode z NaN", lambda: vae().decode(np.full((2, L), np.nan)), r"\bz\b", "NaN")
case("dtype", "decode z strings", lambda: vae().decode(np.array([["a", "b"]])), r"\bz\b")
case("shape", "Autoencoder.decode code (N, L+1)",
     lambda: Autoencoder(D, (5,), L).decode(np.zeros((2, L + 1))), r"\bc\b")
case("shape", "reconstruction_nll z rows differ",
     lambda: vae().reconstruction_nll(X, np.zeros((N + 1, L))), r"\bz\b", r"\bx\b")
case("shape", "DenoisingAE x_tilde of another shape",
     lambda: DenoisingAE(D, (5,), L).loss_and_grads(X, x_tilde=X[:, :-1]), rf"\(N, {D}\)")
case("range", "evaluate(batch_size=0)", lambda: vae().evaluate(X, batch_size=0), "batch_size")
case("empty", "evaluate(empty x)", lambda: vae().evaluate(X[:0]), r"\bx\b", "empty")
case("nonfinite", "evaluate: NaN named at its index in the data",
     lambda: vae().evaluate(with_value(np.tile(X, (3, 1)), np.nan, (9, 2)), batch_size=4),
     r"\(9, 2\)")
case("shape", "CVAE evaluate with one label too few", lambda: CVAE(D, 3, (5,), L).evaluate(
    X, np.zeros(N - 1, int)), r"\by\b", r"\bx\b")
case("range", "sample(0)", lambda: vae().sample(0), r"\bn\b")
case("range", "sample(2.5)", lambda: vae().sample(2.5), r"\bn\b")
case("range", "kl_weight = nan", lambda: setattr(vae(), "kl_weight", math.nan), "beta")
case("range", "kl_per_dimension(batch_size=0)", lambda: vae().kl_per_dimension(X, batch_size=0),
     "batch_size")
case("range", "IWAE loss_and_grads(k=0)", lambda: IWAE(D, (5,), L, k=2).loss_and_grads(X, k=0),
     r"\bk\b")
case("range", "encode_batched(batch_size=-1)",
     lambda: StackedAutoencoder((D, 4)).encode_batched(X, batch_size=-1), "batch_size")

# ------------------------------------------------------------------ constructors
for label, fn, *pats in [
        ("VAE(beta=nan)", lambda: vae(beta=math.nan), "beta"),
        ("VAE(beta=-1)", lambda: vae(beta=-1), "beta"),
        ("VAE(beta='high')", lambda: vae(beta="high"), "beta"),
        ("VAE(latent_dim=0)", lambda: VAE(D, (5,), 0), "latent_dim"),
        ("VAE(latent_dim=-3)", lambda: VAE(D, (5,), -3), "latent_dim"),
        ("VAE(latent_dim=2.5)", lambda: VAE(D, (5,), 2.5), "latent_dim"),
        ("VAE(input_dim=0)", lambda: VAE(0, (5,), L), "input_dim"),
        ("VAE(hidden=(0,))", lambda: VAE(D, (0,), L), "hidden"),
        ("VAE(hidden=(-5,))", lambda: VAE(D, (-5,), L), "hidden"),
        ("VAE(hidden=400), not a sequence", lambda: VAE(D, 400, L), "hidden"),
        ("VAE(hidden=(2.5,))", lambda: VAE(D, (2.5,), L), "hidden"),
        ("VAE(logvar_x=nan)", lambda: vae(likelihood="gaussian", logvar_x=math.nan), "logvar_x"),
        ("VAE(learn_variance=True, bernoulli)", lambda: vae(learn_variance=True), "learn_variance"),
        ("VAE(seed=-1)", lambda: VAE(D, (5,), L, seed=-1), "seed"),
        ("VAE(seed='a')", lambda: VAE(D, (5,), L, seed="a"), "seed"),
        ("ConvVAE(image_shape=(1, 28))", lambda: ConvVAE((1, 28)), "image_shape"),
        ("ConvVAE(channels=(0, 64))", lambda: ConvVAE(CONV, (0, 64)), "channels"),
        ("ConvVAE(channels=(32,))", lambda: ConvVAE(CONV, (32,)), "channels"),
        ("ConvVAE(latent_dim=0)", lambda: ConvVAE(CONV, (2, 3), 0), "latent_dim"),
        ("ConvVAE(beta=inf)", lambda: ConvVAE(CONV, (2, 3), beta=math.inf), "beta"),
        ("CVAE(n_classes=0)", lambda: CVAE(D, 0), "n_classes"),
        ("CVAE(n_classes=2.5)", lambda: CVAE(D, 2.5), "n_classes"),
        ("Autoencoder(latent_dim=0)", lambda: Autoencoder(D, (5,), 0), "latent_dim"),
        ("Autoencoder(hidden=(0,))", lambda: Autoencoder(D, (0,), L), "hidden"),
        ("DenoisingAE(noise_level=-0.1)", lambda: DenoisingAE(D, (5,), L, noise_level=-0.1),
         "noise_level"),
        ("DenoisingAE(noise_level=nan)", lambda: DenoisingAE(D, (5,), L, noise_level=math.nan),
         "noise_level"),
        ("DenoisingAE(masking, p=1)",
         lambda: DenoisingAE(D, (5,), L, corruption="masking", noise_level=1.0), "noise_level"),
        ("SparseAutoencoder(rho=0)", lambda: SparseAutoencoder(D, (), 4, rho=0.0), "rho"),
        ("SparseAutoencoder(rho=nan)", lambda: SparseAutoencoder(D, (), 4, rho=math.nan), "rho"),
        ("SparseAutoencoder(beta=-1)", lambda: SparseAutoencoder(D, (), 4, beta=-1), "beta"),
        ("SparseAutoencoder(beta=nan)", lambda: SparseAutoencoder(D, (), 4, beta=math.nan), "beta"),
        ("StackedAutoencoder((784,))", lambda: StackedAutoencoder((784,)), "sizes"),
        ("StackedAutoencoder((784, 0))", lambda: StackedAutoencoder((784, 0)), "sizes"),
        ("LagrangianVAE(delta=nan)", lambda: LagrangianVAE(delta=math.nan), "delta"),
        ("LagrangianVAE(delta=inf)", lambda: LagrangianVAE(delta=math.inf), "delta"),
        ("LagrangianVAE(alpha_init=-1)", lambda: LagrangianVAE(alpha_init=-1), "alpha_init"),
        ("GECOVAE(kappa=0)", lambda: GECOVAE(kappa=0.0), "kappa"),
        ("GECOVAE(nu=nan)", lambda: GECOVAE(nu=math.nan), "nu"),
        ("GECOVAE(ma_decay=1)", lambda: GECOVAE(ma_decay=1.0), "ma_decay"),
        ("GECOVAE(latent_dim=0)", lambda: GECOVAE(latent_dim=0), "latent_dim"),
        ("VAEGAN(gamma=0)", lambda: VAEGAN(D, (5,), L, gamma=0), "gamma"),
        ("VAEGAN(gamma=nan)", lambda: VAEGAN(D, (5,), L, gamma=math.nan), "gamma"),
        ("VAEGAN(feature_logvar=inf)", lambda: VAEGAN(D, (5,), L, feature_logvar=math.inf),
         "feature_logvar"),
        ("VAEGAN(dis_hidden=())", lambda: VAEGAN(D, (5,), L, dis_hidden=()), "dis_hidden"),
        ("VAEGAN(feature_layer=5)", lambda: VAEGAN(D, (5,), L, dis_hidden=(4,), feature_layer=5),
         "feature_layer"),
        ("Discriminator(negative_slope=nan)",
         lambda: Discriminator(D, (4,), negative_slope=math.nan), "negative_slope"),
        ("Discriminator(feature_layer=0)", lambda: Discriminator(D, (4,), 0), "feature_layer"),
        ("IWAE(k=0)", lambda: IWAE(D, (5,), L, k=0), r"\bk\b"),
        ("IWAE(k=2.5)", lambda: IWAE(D, (5,), L, k=2.5), r"\bk\b"),
]:
    case("range", label, fn, *pats)
for label, fn, *pats in [
        ("VAE(likelihood='poisson')", lambda: vae(likelihood="poisson"), "likelihood"),
        ("VAE(activation='swish')", lambda: vae(activation="swish"), "activation"),
        ("VAE(hidden=(), activation='swish')", lambda: VAE(D, (), L, activation="swish"),
         "activation"),
        ("Autoencoder(code_activation='swish')",
         lambda: Autoencoder(D, (5,), L, code_activation="swish"), "activation"),
        ("DenoisingAE(corruption='salt')", lambda: DenoisingAE(D, (5,), L, corruption="salt"),
         "corruption"),
        ("SparseAutoencoder(penalty='l2')", lambda: SparseAutoencoder(D, (), 4, penalty="l2"),
         "penalty"),
        ("StackedAutoencoder(activation='swish')",
         lambda: StackedAutoencoder((D, 4), activation="swish"), "activation"),
        ("LagrangianVAE(alpha_rule='clip')", lambda: LagrangianVAE(alpha_rule="clip"),
         "alpha_rule"),
        ("VAEGAN(generator_loss='hinge')", lambda: VAEGAN(D, (5,), L, generator_loss="hinge"),
         "generator_loss"),
        ("VAEGAN(dis_activation='swish')", lambda: VAEGAN(D, (5,), L, dis_activation="swish"),
         "activation"),
        ("build_model(model='vxe')", lambda: build_model({"model": "vxe"}), "model"),
        ("build_model(unknown option)", lambda: build_model({"model": "vae", "latentdim": 3}),
         "latentdim"),
        ("build_model(a list)", lambda: build_model(["vae"]), "config"),
]:
    case("name", label, fn, *pats)
for dt in (np.int32, np.float16):
    case("dtype", f"VAE(dtype={dt.__name__})", lambda dt=dt: vae(dtype=dt), "dtype")
    case("dtype", f"Autoencoder(dtype={dt.__name__})",
         lambda dt=dt: Autoencoder(D, (5,), L, dtype=dt), "dtype")
    case("dtype", f"ConvVAE(dtype={dt.__name__})", lambda dt=dt: conv_vae(dtype=dt), "dtype")


# ======================================================================= the tests
@pytest.mark.parametrize("kind, label, fn, patterns", CASES, ids=[c[1] for c in CASES])
def test_bad_input_gets_a_clean_error(kind, label, fn, patterns):
    status, detail = outcome(fn, patterns)
    assert status == "clean", f"[{kind}] {label}: {status}: {detail}"


def tally() -> dict:
    """{kind: Counter(tried, clean, silent, crash)} over every case."""
    table = collections.defaultdict(collections.Counter)
    for kind, _, fn, patterns in CASES:
        status = outcome(fn, patterns)[0]
        table[kind]["tried"] += 1
        table[kind][status] += 1
    return table


def format_tally(table) -> str:
    cols = ("tried", "clean", "silent", "crash")
    lines = [f"{'kind':<10}" + "".join(f"{c:>8}" for c in cols)]
    total = collections.Counter()
    for kind in sorted(table):
        total.update(table[kind])
        lines.append(f"{kind:<10}" + "".join(f"{table[kind][c]:>8}" for c in cols))
    lines.append(f"{'all':<10}" + "".join(f"{total[c]:>8}" for c in cols))
    return "\n".join(lines)


def test_outcome_counts_every_case_is_clean(capsys):
    table = tally()
    with capsys.disabled():
        print("\n" + format_tally(table))
    assert sum(t["clean"] for t in table.values()) == len(CASES)


# --------------------------------------------- what a user naturally passes works
def test_conv_vae_takes_image_batches_as_a_free_view(cpu_path):
    m = conv_vae(dtype=np.float64)
    imgs = IMGS.astype(np.float64)
    flat = imgs.reshape(len(imgs), -1)
    eps = np.random.default_rng(2).standard_normal((len(imgs), L))
    assert np.shares_memory(m.check_input(imgs, m.input_dim), imgs)       # a view, no copy
    a = m.loss_and_grads(imgs, eps=eps, compute_grads=False)
    b = m.loss_and_grads(flat, eps=eps, compute_grads=False)
    assert a["loss"] == b["loss"]
    np.testing.assert_array_equal(m.encode(imgs)[0], m.encode(flat)[0])
    assert m.evaluate(imgs, batch_size=2, eps=None, rng=0) == m.evaluate(flat, batch_size=2,
                                                                          rng=0)


def test_optimizer_built_after_casting_trains_and_a_cpu_to_is_no_replacement():
    m = VAE(D, (5,), L, seed=0).astype(np.float64)
    opt = Adam(m.parameters(), lr=1e-2)
    before = {n: p.copy() for n, p, _ in m.parameters()}
    m.to("cpu")                                   # already there: the same arrays, no error
    m.zero_grad()
    m.loss_and_grads(X)
    opt.step()
    assert all(not np.array_equal(p, before[n]) for n, p, _ in m.parameters())


def test_replaced_arrays_are_read_only_so_stale_writes_fail_too():
    m = nn.Linear(3, 2, rng=0)
    W = m.params["W"]
    m.astype(np.float64)
    assert not W.flags.writeable and m.params["W"].flags.writeable
    with pytest.raises(ValueError):
        W[...] = 0                                # NumPy's own read-only error


def test_check_data_false_gives_the_same_numbers(cpu_path):
    x = R.uniform(0, 1, (5, 7))
    out = R.normal(size=(5, 7))
    for name, lik in Dist.LIKELIHOODS.items():
        a = lik.nll(out, x, -0.3 if lik.variance else 0.0)
        b = lik.nll(out, x, -0.3 if lik.variance else 0.0, check_data=False)
        assert a[0] == b[0]
        assert all(np.array_equal(a[1][k], b[1][k]) for k in a[1])


if __name__ == "__main__":
    table = tally()
    print(format_tally(table))
    for kind, label, fn, patterns in CASES:
        status, detail = outcome(fn, patterns)
        if status != "clean" and "-v" in sys.argv:
            print(f"  [{kind}] {label}: {status}: {detail[:160]}")
