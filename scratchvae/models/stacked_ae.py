"""The stacked autoencoder: shallow autoencoders trained one on top of the other, then
fine-tuned as one deep autoencoder (Bengio et al., 2007; Hinton & Salakhutdinov, 2006).

Notation: N batch; sizes = [s_0, s_1, …, s_K] with s_0 = D the data dimension and
s_K the top code; h_0 = x, h_k (N, s_k) the code of layer k.

Stage k (k = 0 … K−1) is a shallow autoencoder on h_k:

    enc_k:  h_k (N, s_k)      → Linear → act → h_{k+1} (N, s_{k+1})
    dec_k:  h_{k+1}           → Linear → ĥ_k (N, s_k)
            stage 0: ĥ_0 = logits (Bernoulli) or mean (Gaussian/MSE) of x
            stage k>0: ĥ_k = act(Linear(h_{k+1})), in the same range as the code h_k
    loss_k: stage 0: −log p(x | ĥ_0)                 (nats)
            stage k>0: Σ_j (ĥ_kj − h_kj)²             (squared error on the codes)
            both summed over dimensions, averaged over the batch.

Greedy layer-wise pretraining trains stage 0 on x, then stage 1 on the codes
h_1 = enc_0(x) with enc_0 frozen, and so on (``model.stage(k)`` is stage k as a
model of its own, sharing the stacked model's arrays; the loop over stages is
:func:`scratchvae.train.greedy_pretrain`). Fine-tuning then trains
the whole stack end to end:

    x → enc_0 → … → enc_{K−1} → c = h_K → dec_{K−1} → … → dec_0 → out
    loss = −log p(x | out)                                  (the stage-0 likelihood)

Backward of the fine-tuning loss is the chain in reverse:
``encoder.backward(decoder.backward(∂loss/∂out))``. The top code c is the feature
vector handed to a classifier.
"""
from __future__ import annotations

import numpy as np

from ..distributions.likelihoods import get_likelihood
from ..functional.checks import check_array, check_dtype, check_int, check_sizes
from ..nn import Linear, Sequential, make_activation
from ..nn.activations import activation_key
from ..rng import as_rng
from .autoencoder import AutoencoderBase


class StackedAutoencoder(AutoencoderBase):
    """A deep MLP autoencoder built from K shallow stages.

    Args:
        sizes: [D, s_1, …, s_K], at least two entries (K ≥ 1 stages).
        likelihood: of the data under the stage-0 decoder ("bernoulli", "gaussian", "mse").
        activation: of every code layer (and of the stage-k>0 reconstructions);
            "sigmoid" by default, the classic choice.
        seed: seeds the initial weights.

    Attributes:
        encoder: Sequential of the K stage encoders, applied in order.
        decoder: Sequential of the K stage decoders in the order they are applied,
            dec_{K−1} first, so ``decoder[K−1−k]`` is stage k's decoder.
    """

    name = "stacked-ae"
    terms = ("loss", "recon")

    def __init__(self, sizes=(784, 256, 64), likelihood="bernoulli", activation="sigmoid",
                 seed=0, dtype=np.float32):
        sizes = check_sizes(sizes, "sizes", min_len=2, example="[784, 256, 64]",
                            what=" (the data dimension and at least one code size, all positive)")
        get_likelihood(likelihood)                            # clear errors before building
        activation_key(activation)
        check_int(seed, "seed", 0, hint="e.g. seed=0")
        check_dtype(dtype)
        n_stages = len(sizes) - 1
        rng = as_rng(seed)
        encoders, decoders = [], []
        for k in range(n_stages):
            s_in, s_out = sizes[k], sizes[k + 1]
            encoders.append(Sequential(Linear(s_in, s_out, rng=rng, dtype=dtype),
                                       make_activation(activation, s_out, dtype=dtype)))
            dec = [Linear(s_out, s_in, rng=rng, dtype=dtype)]
            if k > 0:                             # reconstruct a code in the code's own range
                dec.append(make_activation(activation, s_in, dtype=dtype))
            decoders.append(Sequential(*dec))
        super().__init__(dict(sizes=sizes, likelihood=likelihood, activation=activation,
                              seed=int(seed)),
                         Sequential(*encoders), Sequential(*reversed(decoders)),
                         input_dim=sizes[0], latent_dim=sizes[-1], likelihood=likelihood)
        self.sizes, self.n_stages, self.activation = sizes, n_stages, activation

    # ------------------------------------------------------------------ pieces
    def stage_encoder(self, k: int) -> Sequential:
        return self.encoder[self._check_stage(k)]

    def stage_decoder(self, k: int) -> Sequential:
        return self.decoder[self.n_stages - 1 - self._check_stage(k)]

    def stage(self, k: int) -> StackedAEStage:
        """Stage k as a model of its own (for greedy pretraining with any trainer)."""
        return StackedAEStage(self, k)

    def _check_stage(self, k: int) -> int:
        if not 0 <= int(k) < self.n_stages:
            raise IndexError(f"stage {k} does not exist; this stack has stages 0 … "
                             f"{self.n_stages - 1} (sizes {self.sizes})")
        return int(k)

    # --------------------------------------------------------------- inference
    def encode(self, x, depth: int | None = None):
        """x (N, D) → h_depth (N, s_depth); depth = K (default) gives the top code."""
        depth = self.n_stages if depth is None else int(depth)
        if not 0 <= depth <= self.n_stages:
            raise IndexError(f"depth must lie in 0 … {self.n_stages}, got {depth}")
        h = self.check_input(x, self.input_dim)
        for k in range(depth):
            h = self.encoder[k].forward(h)
        return h

    def encode_batched(self, x, depth: int | None = None, batch_size: int = 1000):
        """``encode`` over a large array in batches, (N, s_depth)."""
        batch_size = check_int(batch_size, "batch_size", 1)
        check_array(x, "x", dtypes=None, min_ndim=1)
        return np.concatenate([self.encode(x[i:i + batch_size], depth)
                               for i in range(0, len(x), batch_size)])

    # decode, reconstruct and the fine-tuning loss_and_grads (x → … → c → … → out) are
    # AutoencoderBase's: the stack is one deep autoencoder.


class StackedAEStage(AutoencoderBase):
    """Stage k of a :class:`StackedAutoencoder` as a shallow autoencoder on h_k.

    Its parameters ARE the stacked model's arrays for stage k (same objects), so
    an optimizer built on ``stage.parameters()`` trains the stack in place and
    leaves every other stage untouched. Its input is h_k — for k > 0, compute it
    once with ``stack.encode(x, depth=k)`` (the stages below are frozen).
    ``config`` describes the stack and the stage index; the stage is rebuilt with
    ``StackedAutoencoder(**config).stage(k)``.
    """

    name = "stacked-ae-stage"
    terms = ("loss", "recon")

    def __init__(self, stack: StackedAutoencoder, k: int):
        k = stack._check_stage(k)
        super().__init__(dict(stack.config, stage=k), stack.stage_encoder(k),
                         stack.stage_decoder(k), input_dim=stack.sizes[k],
                         latent_dim=stack.sizes[k + 1],
                         likelihood=stack.likelihood if k == 0 else "mse")
        self.k = k

    def encode(self, h):
        """h_k (N, s_k) → h_{k+1} (N, s_{k+1})."""
        return self.encoder.forward(self.check_input(h, self.input_dim))

    def loss_and_grads(self, h, compute_grads: bool = True) -> dict:
        """Forward (and backward) of the stage-k autoencoder on h_k (N, s_k).

        Returns ``{"loss", "recon", "code"}``: the stage's reconstruction loss
        (module docstring; batch mean) and h_{k+1}. Codes (k > 0) are not range-checked.
        """
        h = self.check_input(h, self.input_dim, self.likelihood if self.k == 0 else None)
        code, _, recon, drecon = self.forward_pass(h, h)                 # h_{k+1}, ĥ_k
        if compute_grads:
            self.backward_pass(drecon["out"])
        return {"loss": float(recon), "recon": float(recon), "code": code}


__all__ = ["StackedAutoencoder", "StackedAEStage"]
