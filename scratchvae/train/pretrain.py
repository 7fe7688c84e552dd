"""Greedy layer-wise pretraining of a stacked autoencoder (Bengio et al., 2007).

Stage k of a :class:`~scratchvae.models.StackedAutoencoder` is a shallow autoencoder on
the codes h_k = enc_{k−1}(… enc_0(x)) of the stages below it, which are frozen while
it trains. So each stage's input is computed once, and the stage is trained by the
ordinary :class:`~scratchvae.train.Trainer` like any model:

    for k in 0 … K−1:
        h_k = stack.encode(x, depth=k)            (h_0 = x)
        Trainer(stack.stage(k), h_k, ...).fit()   (stage k's arrays are the stack's own)

Fine-tuning afterwards trains the whole stack end to end, again with the Trainer.
"""
from __future__ import annotations

from .trainer import TrainConfig, Trainer


def greedy_pretrain(stack, x, config: TrainConfig | None = None, val_x=None) -> list[list[dict]]:
    """Train stage 0 on x, stage 1 on enc_0(x), …; returns one training history per stage.

    Args:
        stack: a StackedAutoencoder; trained in place.
        x: (N, D) training data; val_x: optional (M, D) validation data.
        config: the :class:`TrainConfig` every stage trains with.
    """
    histories = []
    for k in range(stack.n_stages):
        h = stack.encode_batched(x, depth=k)                            # h_k (N, s_k)
        h_val = stack.encode_batched(val_x, depth=k) if val_x is not None else None
        histories.append(Trainer(stack.stage(k), h, h_val, config).fit())
    return histories
