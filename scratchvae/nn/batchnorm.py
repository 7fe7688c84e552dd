"""Batch normalisation layers (PyTorch's ``nn.BatchNorm1d`` / ``nn.BatchNorm2d``).

Notation: N batch size, C = num_features, L length, H, W spatial sizes; m the
number of values per channel in a batch (N, N·L or N·H·W).

Training mode normalises with the statistics of the batch and updates the running
statistics in place, with PyTorch's convention (momentum weighs the NEW value):

    running_mean ← (1 − momentum) · running_mean + momentum · μ_batch
    running_var  ← (1 − momentum) · running_var  + momentum · σ²_batch · m / (m − 1)

Note the unbiased variance in the running estimate, while the normalisation itself
uses the biased one. ``momentum=None`` gives the cumulative average over all batches
seen (factor 1 / num_batches_tracked), as in PyTorch. Evaluation mode normalises
with the running statistics and leaves them unchanged.

Parameters: ``params["gamma"]`` (C,) ones and ``params["beta"]`` (C,) zeros when
``affine``. Buffers (saved in ``state_dict``): ``running_mean`` (C,) zeros,
``running_var`` (C,) ones, ``num_batches_tracked`` () the number of training
forwards (an integer count; ``astype`` casts it with the other arrays).
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..functional import batchnorm as F
from ..functional.checks import check_dtype, check_int, check_real
from .module import Module


class _BatchNorm(Module):
    """Shared body of BatchNorm1d and BatchNorm2d; subclasses set the accepted ranks."""

    _ndims: tuple[int, ...] = ()
    _layout: str = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, dtype=np.float32):
        super().__init__()
        cls = type(self).__name__
        num_features = check_int(num_features, f"{cls} num_features", 1,
                                 hint="the number of channels C of its input")
        eps = check_real(eps, f"{cls} eps", 0, low_open=True,
                         hint="eps must be positive; the default is 1e-5")
        if momentum is not None:
            momentum = check_real(momentum, f"{cls} momentum", 0, 1,
                                  hint="momentum must be in [0, 1] or None (cumulative average)")
        dtype = check_dtype(dtype)
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = bool(affine)
        if self.affine:
            self.add_param("gamma", np.ones(self.num_features, dtype=dtype))
            self.add_param("beta", np.zeros(self.num_features, dtype=dtype))
        self.buffers["running_mean"] = np.zeros(self.num_features, dtype=dtype)
        self.buffers["running_var"] = np.ones(self.num_features, dtype=dtype)
        self.buffers["num_batches_tracked"] = np.zeros((), dtype=np.int64)

    def _check_input(self, x):
        self._check_float_input(x)
        if x.ndim not in self._ndims or x.shape[1] != self.num_features:
            raise ShapeError(f"{type(self).__name__}({self.num_features}) expects input of shape "
                             f"{self._layout.replace('C', str(self.num_features))}, "
                             f"got {tuple(x.shape)}")

    def forward(self, x):
        self._check_input(x)
        gamma, beta = self.params.get("gamma"), self.params.get("beta")
        if not self.training:
            b = self.buffers
            y, cache = F.batchnorm_eval(x, gamma, beta, b["running_mean"], b["running_var"],
                                        self.eps)
            return self._keep(y, (F.batchnorm_eval_backward, cache))
        m = x.size // self.num_features                     # values per channel
        if m < 2:
            raise ShapeError(f"{type(self).__name__} needs more than one value per channel in "
                             f"training mode, got input of shape {tuple(x.shape)}; use a larger "
                             "batch or call .eval()")
        y, cache = F.batchnorm_forward(x, gamma, beta, self.eps)
        self._update_running_stats(cache.mean, cache.var, m)
        return self._keep(y, (F.batchnorm_backward, cache))

    def _update_running_stats(self, mean, var, m):
        """PyTorch's update, in place (arrays are never replaced behind a state dict)."""
        b = self.buffers
        b["num_batches_tracked"] += 1
        factor = 1.0 / float(b["num_batches_tracked"]) if self.momentum is None else self.momentum
        unbiased = var * (m / (m - 1))                      # σ² · m/(m − 1), (C,)
        b["running_mean"] *= 1.0 - factor
        b["running_mean"] += factor * mean
        b["running_var"] *= 1.0 - factor
        b["running_var"] += factor * unbiased

    def backward(self, dy):
        bwd, cache = self._pop_cache(dy)
        dx, dgamma, dbeta = bwd(dy, cache)
        if self.affine:
            self.grads["gamma"] += dgamma
            self.grads["beta"] += dbeta
        return dx

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps:g}, momentum={self.momentum}, "
                f"affine={self.affine}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L) inputs, statistics per channel C.

    Args:
        num_features: C.
        eps: added to the variance before the square root.
        momentum: weight of the new batch in the running statistics (None: cumulative mean).
        affine: learn a per-channel scale γ and shift β.
        dtype: float32 (default) or float64.

    See the module docstring for the update rule and the buffers.
    """
    _ndims = (2, 3)
    _layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W) inputs, statistics over N, H, W per channel.

    Arguments as :class:`BatchNorm1d`.
    """
    _ndims = (4,)
    _layout = "(N, C, H, W)"
