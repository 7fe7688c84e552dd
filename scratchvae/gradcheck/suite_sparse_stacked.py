"""Registry entries for the sparse and stacked autoencoders and the softmax-regression
classifier; importing this module adds them to ``CHECKS``.

Same standard as :mod:`scratchvae.gradcheck.suite`: float64, eps 1e-6, rtol 1e-6,
no atol, a random upstream gradient (a random scalar for the scalar penalties),
parameters checked like inputs. The penalties are checked on their own here and
again inside the whole models, where their gradient joins the decoder's at the code.

Kinks kept away: the KL penalty's codes lie in [0.05, 0.95] (its ρ̂ far from the
clamp); the L1 penalty's codes have |h| ≥ 0.1 (off the kink of |·| at 0).
"""
from __future__ import annotations

import numpy as np

from ..analysis.softmax_regression import SoftmaxRegression, softmax_cross_entropy
from ..functional.sparsity import (
    kl_sparsity_backward, kl_sparsity_forward, l1_sparsity_backward, l1_sparsity_forward,
)
from ..models.sparse_ae import SparseAutoencoder
from ..models.stacked_ae import StackedAutoencoder
from .core import check_function
from .suite import _away_from_zero, _register_model, register


# ------------------------------------------------------------------ penalties
@register("kl_sparsity")
def _kl_sparsity(seed=0, **options):
    rng = np.random.default_rng(seed)
    h = rng.uniform(0.05, 0.95, (5, 4))                   # sigmoid-range codes (N, L)
    rho = 0.1

    def backward(dp):
        return {"h": kl_sparsity_backward(dp, kl_sparsity_forward(h, rho)[1])}

    return check_function(lambda: kl_sparsity_forward(h, rho)[0], backward, {"h": h},
                          op="kl_sparsity", seed=seed, **options)


@register("l1_sparsity")
def _l1_sparsity(seed=0, **options):
    rng = np.random.default_rng(seed)
    h = _away_from_zero(rng, (5, 4))                      # both signs, off the kink at 0

    def backward(dp):
        return {"h": l1_sparsity_backward(dp, l1_sparsity_forward(h)[1])}

    return check_function(lambda: l1_sparsity_forward(h)[0], backward, {"h": h},
                          op="l1_sparsity", seed=seed, **options)


# ----------------------------------------------------------- softmax regression
@register("softmax_cross_entropy")
def _softmax_ce(seed=0, **options):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, (5, 4))
    y = rng.integers(0, 4, 5)

    def backward(dy):
        return {"logits": dy * softmax_cross_entropy(logits, y)[1]}

    return check_function(lambda: softmax_cross_entropy(logits, y)[0], backward,
                          {"logits": logits}, op="softmax_cross_entropy", seed=seed, **options)


@register("SoftmaxRegression(l2)")
def _softmax_regression(seed=0, **options):
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
def _sparse_kl(likelihood):
    return SparseAutoencoder(7, (5,), 4, likelihood=likelihood, penalty="kl", rho=0.2, beta=1.5,
                             activation="tanh", seed=1)


def _sparse_l1(likelihood):
    return SparseAutoencoder(7, (), 4, likelihood=likelihood, penalty="l1", beta=0.7,
                             code_activation="tanh", seed=1)


def _stack(likelihood):
    return StackedAutoencoder((7, 5, 3), likelihood=likelihood, activation="sigmoid", seed=1)


_register_model("SparseAutoencoder(kl, bernoulli)", _sparse_kl, "bernoulli")
_register_model("SparseAutoencoder(l1, mse)", _sparse_l1, "mse")
_register_model("StackedAutoencoder(fine-tune)", _stack, "bernoulli")
_register_model("StackedAutoencoder(fine-tune, gaussian, tanh)",
                lambda lik: StackedAutoencoder((7, 5, 4, 3), likelihood=lik, activation="tanh",
                                               seed=1), "gaussian")
_register_model("StackedAEStage(0)", lambda lik: _stack(lik).stage(0), "bernoulli")
_register_model("StackedAEStage(1)", lambda lik: _stack(lik).stage(1), "bernoulli")
