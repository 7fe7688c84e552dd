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
                          Data-parallel training passes ``rng=`` a generator that hands
                          each MPI rank its rows of the one-process draw; every training
                          draw must therefore be per example along axis 0 (ε (N, L),
                          masks (N, D)), or along ``noise_batch_axis`` if declared.
    noise_batch_axis      the examples' axis of the noise draws, if not 0 (IWAE: ε (k, N, L)).
    step_statistics       names of attributes holding batch means that ``after_step``
                          reads (GECO's constraint); data-parallel training averages
                          them over the global batch before ``after_step``.
    per_rank_statistics   a description, if the loss depends on the batch as a whole
                          (not a mean of per-example terms), of what a data-parallel run
                          computes from each rank's rows instead.

Nothing here imports the training loop, the optimizers, the data loaders or the CLI:
models are pure functions of their parameters and a batch.
"""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from ..errors import DataError, DTypeError, ShapeError
from ..functional.checks import check_array, check_finite, check_int
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
        """Validate a batch (N, input_dim) — a floating array, not empty, finite, its targets
        in range for ``likelihood`` — and cast it to the model's dtype.

        This is the one pass over the data per step (the losses downstream are told
        ``check_data=False``): the dtype and shape checks are O(1); then one ``isfinite``
        pass — or, for the Bernoulli likelihood, one min and one max, whose range check
        also catches NaN and Inf (reported as such, with their count and first index).
        """
        check_array(x, "x", dtypes=None, allow_empty=True)         # an array, a float dtype
        x = self.flat_batch(x, input_dim)
        if x.size == 0:
            raise DataError(f"x is empty (shape {tuple(x.shape)}): there is nothing to compute "
                            f"on; pass at least one example")
        if likelihood == "bernoulli":
            check_target_range(x, likelihood)   # min and max: NaN/Inf are caught there too
        else:
            check_finite(x, "x")
        return x.astype(self.dtype, copy=False)

    def flat_batch(self, x, input_dim: int):
        """x as (N, input_dim), or a ShapeError that names the fix. An MLP model takes flat
        batches only (:class:`~scratchvae.models.ConvVAE` also takes (N, C, H, W) images)."""
        if x.ndim == 2 and x.shape[1] == input_dim:
            return x
        name, shape = type(self).__name__, tuple(x.shape)
        if x.ndim == 2:
            raise ShapeError(f"{name} expects inputs of shape (N, {input_dim}), got {shape}: each "
                             f"example must have {input_dim} features (input_dim={input_dim}); "
                             f"flatten images with x.reshape(len(x), -1)")
        if x.ndim == 0:
            fix = f"pass a batch (N, {input_dim}), not a 0-d scalar"
        elif x.ndim == 1:
            fix = ("for one example add the batch axis: x[None]" if shape[0] == input_dim
                   else f"pass a batch (N, {input_dim})")
        elif int(np.prod(shape[1:])) == input_dim:
            fix = "flatten each example: x.reshape(len(x), -1)"
        else:
            fix = f"each example must have {input_dim} features (input_dim={input_dim})"
        raise ShapeError(f"{name} expects x with 2 dimensions (N, {input_dim}), got shape "
                         f"{shape}; {fix}")

    def check_codes(self, z, size: int, name: str = "z"):
        """Codes to decode, z (N, size): real numbers (array-likes are converted), finite;
        returned in the model's dtype and array module."""
        z = self.xp().asarray(z)
        if z.dtype.kind not in "fiu":
            raise DTypeError(f"{name} must hold real numbers, got dtype {z.dtype}; pass a float "
                             f"array of shape (N, {size})")
        if z.ndim != 2 or z.shape[1] != size:
            fix = (f"; for one code add the batch axis: {name}[None]"
                   if z.ndim == 1 and len(z) == size else "")
            raise ShapeError(f"{name} must be (N, {size}), got shape {tuple(z.shape)}{fix}")
        return check_finite(z.astype(self.dtype, copy=False), name)

    def xp(self):
        """The array module (NumPy or CuPy) that holds this model's parameters."""
        for _, p, _ in self.named_parameters():
            return get_array_module(p)
        return get_array_module()

    def evaluate(self, *data, batch_size: int = 1000, **frozen) -> dict[str, float]:
        """Average each of ``terms`` over the data (arrays sharing the N axis, as
        ``inputs``), in batches, without touching ``grads``. Each batch is checked by
        ``loss_and_grads``; here the data as a whole (one N, finite: NaN/Inf reported at
        its index in the data set, not in a batch) and the batch size."""
        if not data:
            raise DataError(f"evaluate needs the data: model.evaluate(x) (batches of "
                            f"{self.inputs})")
        batch_size = check_int(batch_size, "batch_size", 1)
        x = check_array(data[0], "x", dtypes=None, allow_empty=True)
        n = len(x) if x.ndim else 0
        if n == 0:
            raise DataError(f"x is empty (shape {tuple(x.shape)}): there is nothing to "
                            f"evaluate; pass at least one example")
        check_finite(x, "x")
        for name, a in zip(self.inputs[1:], data[1:]):
            if a is not None and hasattr(a, "__len__") and len(a) != n:
                raise ShapeError(f"{name} has {len(a)} rows but x has {n}; they must match")
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
