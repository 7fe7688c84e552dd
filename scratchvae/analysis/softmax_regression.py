"""Multinomial logistic (softmax) regression: the linear classifier used to ask how much
class information a set of features holds (pixels, autoencoder codes, …).

Notation: N examples, F features, K classes; X (N, F), y (N,) ints in [0, K).

    logits  a = X W + b                                    W (F, K), b (K,), a (N, K)
    p_nk    = softmax(a_n)_k = exp(a_nk − lse(a_n)),  lse(a_n) = log Σ_k exp(a_nk)
    CE      = (1/N) Σ_n [ lse(a_n) − a_{n, y_n} ]           nats, batch mean
    loss    = CE + (λ/2) ‖W‖²                               (the bias is not decayed)

lse is the max-shifted logsumexp of :mod:`scratchvae.functional.numerics`, so no
exp overflows however large the logits. Gradients, with Y the one-hot labels:

    ∂CE/∂a   = (P − Y) / N                                  (N, K)
    ∂loss/∂W = Xᵀ ∂CE/∂a + λ W                              (F, K)
    ∂loss/∂b = Σ_n ∂CE/∂a_n                                 (K,)
    ∂loss/∂X = ∂CE/∂a Wᵀ                                    (N, F)   (for gradient checks)

Features are standardised inside ``fit`` (each column to zero mean and unit
variance on the training set, columns with no variance left at 0), so raw pixels
and codes of any scale are compared under the same optimiser settings.
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError, ShapeError, check_float_array
from ..functional.linear import linear_backward, linear_forward
from ..functional.numerics import logsumexp
from ..models.base import Model
from ..train import TrainConfig, Trainer


# ---------------------------------------------------------------- the loss
def check_labels(y, n: int, n_classes: int | None = None):
    """y must be (n,) integers in [0, n_classes); returns it as int64."""
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n:
        raise ShapeError(f"labels y must have shape ({n},) to match the features, got "
                         f"{tuple(y.shape)}")
    if y.dtype.kind not in "iu":
        raise DataError(f"labels y must be integers (class indices), got dtype {y.dtype}")
    if y.size and y.min() < 0:
        raise DataError(f"labels y must be ≥ 0, got {int(y.min())}")
    if n_classes is not None and y.size and y.max() >= n_classes:
        raise DataError(f"label {int(y.max())} is out of range for {n_classes} classes "
                        f"(labels must lie in [0, {n_classes}))")
    return y.astype(np.int64, copy=False)


def softmax_cross_entropy(logits, y, reduction: str = "mean"):
    """Cross-entropy of integer labels under softmax(logits).

    Args:
        logits: (N, K) float.
        y: (N,) int labels in [0, K).
        reduction: "mean" (default), "sum" or "none" (per-example (N,)).
    Returns:
        ``(loss, {"logits": dlogits})``; dlogits (N, K) is the gradient of the returned
        scalar (of Σ_n loss_n for "none"): (softmax − onehot) · scale.
    """
    check_float_array(logits, "logits", ndim=2)
    n, k = logits.shape
    y = check_labels(y, n, k)
    lse = logsumexp(logits, axis=1)                         # (N,)  log Σ_k exp(a_nk)
    picked = logits[np.arange(n), y]                        # (N,)  a_{n, y_n}
    per_example = lse - picked                              # (N,)  −log p_{n, y_n}
    if reduction == "mean":
        loss, scale = per_example.mean(), 1.0 / n
    elif reduction == "sum":
        loss, scale = per_example.sum(), 1.0
    elif reduction == "none":
        loss, scale = per_example, 1.0
    else:
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    dlogits = np.exp(logits - lse[:, None])                 # P = softmax(a)        (N, K)
    dlogits[np.arange(n), y] -= 1.0                         # P − Y
    dlogits *= scale
    return loss, {"logits": dlogits}


# ---------------------------------------------------------------- the model
class SoftmaxRegression(Model):
    """Softmax regression with an L2 penalty, fit by Adam (mini-batches) or full-batch GD.

    Args:
        n_features: F.
        n_classes: K.
        l2: λ of the penalty (λ/2)‖W‖² (per batch, not scaled by N).
        seed: seeds the (small random) initial weights and the batch order.
        dtype: float64 (default) or float32.

    Parameters ``params["W"]`` (F, K) and ``params["b"]`` (K,); ``buffers["mean"]`` and
    ``buffers["scale"]`` (F,) hold the standardisation learned by ``fit`` (identity before).
    It is a model like the others (batches (X, y)), so ``fit`` trains it with the Trainer.
    """

    name = "softmax-regression"
    terms = ("loss", "ce")
    inputs = ("x", "y")

    def __init__(self, n_features: int, n_classes: int, l2: float = 1e-4, seed: int = 0,
                 dtype=np.float64):
        super().__init__(dict(n_features=int(n_features), n_classes=int(n_classes),
                              l2=float(l2), seed=int(seed)))
        if n_features < 1 or n_classes < 2:
            raise ValueError(f"softmax regression needs ≥ 1 feature and ≥ 2 classes, got "
                             f"{n_features} features and {n_classes} classes")
        if l2 < 0:
            raise ValueError(f"the L2 weight must be ≥ 0, got {l2}")
        self.n_features, self.n_classes, self.l2 = int(n_features), int(n_classes), float(l2)
        self.seed = int(seed)
        rng = np.random.default_rng(seed)
        self.add_param("W", (0.01 * rng.standard_normal((n_features, n_classes))).astype(dtype))
        self.add_param("b", np.zeros(n_classes, dtype=dtype))
        self.buffers["mean"] = np.zeros(n_features, dtype=dtype)      # standardisation,
        self.buffers["scale"] = np.ones(n_features, dtype=dtype)      # learned by fit()

    # ------------------------------------------------------------- forward
    def _check_features(self, X):
        check_float_array(X, "features X", ndim=2)
        if X.shape[1] != self.n_features:
            raise ShapeError(f"SoftmaxRegression expects features of shape (N, {self.n_features}),"
                             f" got {tuple(X.shape)}")
        return X

    def logits(self, X):
        """Standardised X (N, F) → a (N, K)."""
        Xs = (self._check_features(X) - self.buffers["mean"]) / self.buffers["scale"]
        return linear_forward(Xs.astype(self.dtype, copy=False), self.params["W"],
                              self.params["b"])[0]

    def predict_proba(self, X):
        """(N, K) class probabilities."""
        a = self.logits(X)
        return np.exp(a - logsumexp(a, axis=1)[:, None])

    def predict(self, X):
        """(N,) most probable class."""
        return self.logits(X).argmax(axis=1)

    def accuracy(self, X, y) -> float:
        """Fraction of correctly classified examples."""
        return float((self.predict(X) == check_labels(y, len(X), self.n_classes)).mean())

    def loss_and_grads(self, X, y, compute_grads: bool = True) -> dict:
        """loss = CE + (λ/2)‖W‖² on (already standardised) X (N, F).

        Returns ``{"loss", "ce", "dX"}`` (dX (N, F) = ∂loss/∂X, for gradient checks);
        parameter gradients are ADDED into ``grads``.
        """
        X = self._check_features(X)
        W = self.params["W"]
        a, cache = linear_forward(X, W, self.params["b"])            # (N, K)
        ce, grads = softmax_cross_entropy(a, y)
        da = grads["logits"]                                         # (P − Y)/N
        loss = float(ce) + 0.5 * self.l2 * float((W * W).sum())
        out = {"loss": loss, "ce": float(ce)}
        if compute_grads:
            dX, dW, db = linear_backward(da, cache)                  # Xᵀ da, Σ_n da, da Wᵀ
            self.grads["W"] += dW + self.l2 * W                      # + ∂(λ/2 ‖W‖²)/∂W = λW
            self.grads["b"] += db
            out["dX"] = dX
        return out

    # ----------------------------------------------------------------- fit
    def fit(self, X, y, method: str = "adam", epochs: int = 20, lr: float | None = None,
            batch_size: int = 256) -> list[float]:
        """Standardise X, then minimise the loss; returns the loss after each epoch/step.

        Args:
            X: (N, F) training features; y: (N,) labels.
            method: "adam" (mini-batches of ``batch_size``, ``epochs`` passes, lr 1e-2 by
                default) or "gd" (full-batch gradient descent, ``epochs`` steps, lr 0.5 by
                default; the loss is convex, so this converges for a small enough lr).
        """
        X = self._check_features(X)
        y = check_labels(y, len(X), self.n_classes)
        if method not in ("adam", "gd"):
            raise ValueError(f"method must be 'adam' or 'gd', got {method!r}")
        mean, std = X.mean(axis=0), X.std(axis=0)                        # (F,)
        self.buffers["mean"][...] = mean
        self.buffers["scale"][...] = np.where(std > 0, std, 1)           # constant columns stay 0
        Xs = ((X - self.buffers["mean"]) / self.buffers["scale"]).astype(self.dtype)
        history = []                      # the loss on all of X after each epoch / step
        if method == "gd":                # one full batch in data order: gradient descent
            config = TrainConfig(epochs=epochs, batch_size=len(Xs), lr=0.5 if lr is None else lr,
                                 optimizer="sgd", momentum=0.0, shuffle=False, progress=False)
            trainer = Trainer(self, (Xs, y), config=config,
                              on_epoch=lambda record: history.append(record["train_loss"]))
        else:
            config = TrainConfig(epochs=epochs, batch_size=batch_size,
                                 lr=1e-2 if lr is None else lr, seed=self.seed, progress=False)
            trainer = Trainer(self, (Xs, y), config=config, on_epoch=lambda record: history.append(
                self.loss_and_grads(Xs, y, compute_grads=False)["loss"]))
        trainer.fit()
        return history


def fit_and_score(train_X, train_y, test_X, test_y, n_classes: int, **fit_kwargs) -> dict:
    """Fit a fresh classifier on (train_X, train_y); return train and test accuracy."""
    fit_kwargs = dict(fit_kwargs)
    l2 = fit_kwargs.pop("l2", 1e-4)
    seed = fit_kwargs.pop("seed", 0)
    clf = SoftmaxRegression(train_X.shape[1], n_classes, l2=l2, seed=seed)
    clf.fit(train_X, train_y, **fit_kwargs)
    return {"train_accuracy": clf.accuracy(train_X, train_y),
            "test_accuracy": clf.accuracy(test_X, test_y)}


__all__ = ["softmax_cross_entropy", "SoftmaxRegression", "check_labels", "fit_and_score"]
