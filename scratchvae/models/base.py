"""What every model shares: config for rebuilding, input checks, batched evaluation."""
from __future__ import annotations

from ..backend import get_array_module
from ..errors import ShapeError, check_float_array
from ..nn import Module
from ..distributions.likelihoods import check_target_range


class Model(Module):
    """A trainable model: ``loss_and_grads(x) -> {"loss": …, …}`` plus a ``config``.

    ``config`` is a JSON-able dict from which :func:`scratchvae.models.build_model`
    rebuilds the same architecture (checkpoints store it).
    """

    name = "model"
    #: the float terms ``loss_and_grads`` reports, in display order
    terms: tuple[str, ...] = ("loss",)

    def __init__(self, config: dict):
        super().__init__()
        self.config = {"model": self.name, **config}

    def _xp(self):
        """The array module (NumPy or CuPy) that holds this model's parameters."""
        for _, p, _ in self.named_parameters():
            return get_array_module(p)
        return get_array_module()

    def _check_input(self, x, input_dim: int, likelihood: str | None = None):
        """Validate a batch (N, input_dim) and cast it to the model's dtype."""
        check_float_array(x, "x", ndim=2)
        if x.shape[1] != input_dim:
            raise ShapeError(f"{type(self).__name__} expects inputs of shape (N, {input_dim}), got "
                             f"{tuple(x.shape)}; flatten images with x.reshape(len(x), -1)")
        if likelihood is not None:
            check_target_range(x, likelihood)   # x was checked float and finite above
        return x.astype(self.dtype, copy=False)

    def evaluate(self, x, batch_size: int = 1000, **loss_kwargs) -> dict[str, float]:
        """Average each of ``terms`` over ``x`` (N, D), in batches, without touching grads."""
        check_float_array(x, "x", ndim=2)
        totals = dict.fromkeys(self.terms, 0.0)
        for start in range(0, len(x), batch_size):
            xb = x[start:start + batch_size]
            out = self.loss_and_grads(xb, compute_grads=False, **loss_kwargs)
            for k in self.terms:
                totals[k] += float(out[k]) * len(xb)
        return {k: v / len(x) for k, v in totals.items()}

    def loss_and_grads(self, x, compute_grads: bool = True, **kwargs) -> dict:
        raise NotImplementedError


def split_halves(h, latent_dim: int):
    """(N, 2L) → μ (N, L), logvar (N, L), as views."""
    return h[:, :latent_dim], h[:, latent_dim:]


def join_halves(a, b):
    """μ-grad (N, L), logvar-grad (N, L) → (N, 2L)."""
    return get_array_module(a).concatenate([a, b], axis=1)
