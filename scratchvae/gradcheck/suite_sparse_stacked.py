"""Registry entries for the sparsity penalties (KL, L1), the softmax-regression
classifier and its loss, and the sparse and stacked autoencoders (the whole stack
fine-tuned, and each greedy stage on its own).

Checking standard: the one stated in :mod:`scratchvae.gradcheck.registry`; for the
scalar penalties the random upstream gradient is a random scalar. The penalties are
checked on their own here and again inside the whole models, where their gradient
joins the decoder's at the code.

Kinks kept away: the KL penalty's codes lie in [0.05, 0.95] (its ρ̂ far from the
clamp); the L1 penalty's codes have |h| ≥ 0.1 (off the kink of |·| at 0).
"""
from __future__ import annotations

import numpy as np

from ..functional.sparsity import (
    kl_sparsity_backward, kl_sparsity_forward, l1_sparsity_backward, l1_sparsity_forward,
)
from .core import check_function
from .registry import away_from_zero, register, register_model


# ------------------------------------------------------------------ penalties
@register("kl_sparsity")
def check_kl_sparsity(seed=0, **options):
    rng = np.random.default_rng(seed)
    h = rng.uniform(0.05, 0.95, (5, 4))                   # sigmoid-range codes (N, L)
    rho = 0.1

    def backward(dp):
        return {"h": kl_sparsity_backward(dp, kl_sparsity_forward(h, rho)[1])}

    return check_function(lambda: kl_sparsity_forward(h, rho)[0], backward, {"h": h},
                          op="kl_sparsity", seed=seed, **options)


@register("l1_sparsity")
def check_l1_sparsity(seed=0, **options):
    rng = np.random.default_rng(seed)
    h = away_from_zero(rng, (5, 4))                       # both signs, off the kink at 0

    def backward(dp):
        return {"h": l1_sparsity_backward(dp, l1_sparsity_forward(h)[1])}

    return check_function(lambda: l1_sparsity_forward(h)[0], backward, {"h": h},
                          op="l1_sparsity", seed=seed, **options)


# ----------------------------------------------------------- softmax regression
# scratchvae.analysis imports scratchvae.models and scratchvae.train, so it is imported
# inside the checks, as the models are below.
@register("softmax_cross_entropy")
def check_softmax_cross_entropy(seed=0, **options):
    from ..analysis.softmax_regression import softmax_cross_entropy  # noqa: PLC0415
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, (5, 4))
    y = rng.integers(0, 4, 5)

    def backward(dy):
        return {"logits": dy * softmax_cross_entropy(logits, y)[1]["logits"]}

    return check_function(lambda: softmax_cross_entropy(logits, y)[0], backward,
                          {"logits": logits}, op="softmax_cross_entropy", seed=seed, **options)


@register("SoftmaxRegression(l2)")
def check_softmax_regression(seed=0, **options):
    from ..analysis.softmax_regression import SoftmaxRegression  # noqa: PLC0415
    rng = np.random.default_rng(seed)
    clf = SoftmaxRegression(6, 4, l2=0.3, seed=seed)
    clf.params["W"][...] = rng.normal(0, 1, (6, 4))
    clf.params["b"][...] = rng.normal(0, 1, 4)
    X, y = rng.normal(size=(5, 6)), rng.integers(0, 4, 5)

    def backward(dy):
        clf.zero_grad()
        dX = clf.loss_and_grads(X, y)["dX"]
        return {"X": dy * dX, "W": dy * clf.grads["W"], "b": dy * clf.grads["b"]}

    return check_function(lambda: clf.loss_and_grads(X, y, compute_grads=False)["loss"],
                          backward, {"X": X, "W": clf.params["W"], "b": clf.params["b"]},
                          op="SoftmaxRegression(l2)", seed=seed, **options)


# ---------------------------------------------------------------------- models
# Imported inside the builders: the gradcheck package does not import scratchvae.models.
def sparse_kl(likelihood):
    from ..models import SparseAutoencoder  # noqa: PLC0415
    return SparseAutoencoder(7, (5,), 4, likelihood=likelihood, penalty="kl", rho=0.2, beta=1.5,
                             activation="tanh", seed=1)


def sparse_l1(likelihood):
    from ..models import SparseAutoencoder  # noqa: PLC0415
    return SparseAutoencoder(7, (), 4, likelihood=likelihood, penalty="l1", beta=0.7,
                             code_activation="tanh", seed=1)


def stack(likelihood):
    from ..models import StackedAutoencoder  # noqa: PLC0415
    return StackedAutoencoder((7, 5, 3), likelihood=likelihood, activation="sigmoid", seed=1)


def stack_tanh(likelihood):
    from ..models import StackedAutoencoder  # noqa: PLC0415
    return StackedAutoencoder((7, 5, 4, 3), likelihood=likelihood, activation="tanh", seed=1)


register_model("SparseAutoencoder(kl, bernoulli)", sparse_kl, "bernoulli")
register_model("SparseAutoencoder(l1, mse)", sparse_l1, "mse")
register_model("StackedAutoencoder(fine-tune)", stack, "bernoulli")
register_model("StackedAutoencoder(fine-tune, gaussian, tanh)", stack_tanh, "gaussian")
register_model("StackedAEStage(0)", lambda lik: stack(lik).stage(0), "bernoulli")
register_model("StackedAEStage(1)", lambda lik: stack(lik).stage(1), "bernoulli")
