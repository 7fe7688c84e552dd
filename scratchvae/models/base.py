"""The model contract: what every model offers, and the optional hooks the Trainer reads.

A model is a :class:`~scratchvae.nn.Module` (it owns ``params``, ``grads`` and
``buffers``) with one training entry point and a config:

    model.loss_and_grads(*batch, compute_grads=True, **frozen) -> dict
        one forward pass on a batch — and, unless ``compute_grads=False``, one backward
        pass that ADDS every parameter's gradient into ``grads`` (call ``zero_grad()``
        first). ``batch`` holds the arrays named by ``inputs``: ``(x,)`` for most
        models, ``(x, y)`` for a model told each example's label. ``frozen`` freezes
        the randomness of a call (``eps=`` for a VAE, ``x_tilde=`` for a denoising AE,
        ``rng=`` a Generator or seed), so gradient checks and golden runs are exact.
        The dict holds floats under every name in ``terms`` (batch means, nats),
        ``"loss"`` first — the number the optimizer descends — and may add arrays
        (``"mu"``, ``"code"``…) for the caller to inspect.
    model.config
        a JSON-able dict from which :func:`scratchvae.models.build_model` rebuilds the
        architecture (checkpoints store it).

Optional hooks, declared here with their defaults (a model overrides what it has):

    after_step()          called by the Trainer after every optimizer step
                          (projecting a multiplier onto α ≥ 0, GECO's λ update).
    parameter_groups()    {group name: [(name, param, grad), ...]}; the Trainer builds
                          one optimizer per group (a VAE-GAN's encoder, decoder and
                          discriminator). Default: one group, ``"model"``.
    kl_weight             the weight β of the KL term, settable; ``None`` for a model
                          without one. The Trainer's KL warm-up ramps it, and refuses
                          a model whose ``kl_weight`` is None.
    optimizer_defaults    settings a model trains best with unless told otherwise, e.g.
                          ``{"betas": (0.5, 0.999)}`` for a GAN; the CLI reads them.
    rng                   the model's own Generator for the noise it draws during
                          training (ε, corruption), saved in checkpoints; absent if the
                          model draws nothing. Evaluation passes ``rng=`` instead.

Nothing here imports the training loop, the optimizers, the data loaders or the CLI:
models are pure functions of their parameters and a batch.
"""
from __future__ import annotations

from ..backend import get_array_module
from ..errors import ShapeError, check_float_array
from ..nn import Module
from ..distributions.likelihoods import check_target_range


class Model(Module):
    """A trainable model: ``loss_and_grads(*batch)`` plus a ``config`` (module docstring)."""

    name = "model"
    #: the float terms ``loss_and_grads`` reports, in display order ("loss" first)
    terms: tuple[str, ...] = ("loss",)
    #: the arrays of one batch, in the order ``loss_and_grads`` takes them
    inputs: tuple[str, ...] = ("x",)
    #: training settings this model prefers unless told otherwise (module docstring)
    optimizer_defaults: dict = {}
    # A model that draws noise sets ``self.rng`` (module docstring); one that draws
    # nothing has no ``rng`` attribute at all.

    def __init__(self, config: dict):
        super().__init__()
        self.config = {"model": self.name, **config}

    # ------------------------------------------------------------- the contract
    def loss_and_grads(self, *batch, compute_grads: bool = True, **frozen) -> dict:
        raise NotImplementedError(f"{type(self).__name__}.loss_and_grads")

    def after_step(self) -> None:
        """Called by the Trainer after every optimizer step. Default: nothing."""

    def parameter_groups(self) -> dict[str, list]:
        """``{group: [(name, param, grad), ...]}``, one optimizer each. Default: one group."""
        return {"model": self.parameters()}

    @property
    def kl_weight(self) -> float | None:
        """The KL weight β the Trainer's warm-up ramps; None: the model has none."""
        return None

    # ------------------------------------------------------------- shared helpers
    def check_input(self, x, input_dim: int, likelihood: str | None = None):
        """Validate a batch (N, input_dim), its targets' range for ``likelihood``, and
        cast it to the model's dtype."""
        check_float_array(x, "x", ndim=2)
        if x.shape[1] != input_dim:
            raise ShapeError(f"{type(self).__name__} expects inputs of shape (N, {input_dim}), got "
                             f"{tuple(x.shape)}; flatten images with x.reshape(len(x), -1)")
        if likelihood is not None:
            check_target_range(x, likelihood)   # x was checked float and finite above
        return x.astype(self.dtype, copy=False)

    def xp(self):
        """The array module (NumPy or CuPy) that holds this model's parameters."""
        for _, p, _ in self.named_parameters():
            return get_array_module(p)
        return get_array_module()

    def evaluate(self, *data, batch_size: int = 1000, **frozen) -> dict[str, float]:
        """Average each of ``terms`` over the data (arrays sharing the N axis, as
        ``inputs``), in batches, without touching ``grads``."""
        check_float_array(data[0], "x", ndim=2)
        n = len(data[0])
        totals = dict.fromkeys(self.terms, 0.0)
        for start in range(0, n, batch_size):
            batch = tuple(a[start:start + batch_size] for a in data)
            out = self.loss_and_grads(*batch, compute_grads=False, **frozen)
            for k in self.terms:
                totals[k] += float(out[k]) * len(batch[0])
        return {k: v / n for k, v in totals.items()}


def split_halves(h, latent_dim: int):
    """(N, 2L) → μ (N, L), logvar (N, L), as views."""
    return h[:, :latent_dim], h[:, latent_dim:]


def join_halves(a, b):
    """μ-grad (N, L), logvar-grad (N, L) → (N, 2L)."""
    return get_array_module(a).concatenate([a, b], axis=1)
