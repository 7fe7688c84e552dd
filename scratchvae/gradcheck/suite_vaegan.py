"""Registry entries for the VAE-GAN family: the discriminator alone, the GAN losses,
the feature-matching loss w.r.t. the decoder output, and each of the VAE-GAN's three
objectives w.r.t. its own parameter group.

Checking standard: the one stated in :mod:`scratchvae.gradcheck.registry`, with all
noise (ε, z_p) frozen.

Why per-group objective checks catch what matters here: the analytic gradient of a
group must be the derivative of *its own* objective and nothing else. A decoder that
also received the L_dis gradient, a discriminator that learned from L_llike, or an
encoder that saw L_gen, each changes the group's ``grads`` and fails its check.
"""
from __future__ import annotations

import numpy as np

from ..distributions import gaussian_nll
from ..functional.activations import sigmoid_backward, sigmoid_forward
from ..distributions.gan_losses import discriminator_loss, generator_loss
from .core import check_function
from .registry import F64, away_from_zero, loss_check, register, unit_weights


# ----------------------------------------------------------------- discriminator
def discriminator(rng, activation, feature_layer):
    """A float64 Discriminator 5-6-4 with every parameter, biases included, drawn from
    N(0, 1) (unit scale, for the reason given in registry.unit_weights)."""
    from ..models import Discriminator  # noqa: PLC0415 - the package does not import models
    dis = Discriminator(5, (6, 4), feature_layer, activation, seed=rng, dtype=F64)
    for _, p, _ in dis.parameters():
        p[...] = rng.normal(0, 1.0, p.shape)
    return dis


def check_discriminator(dis, x, op, **options):
    """Check both outputs (logit, features) w.r.t. x and every parameter."""
    inputs = {"x": x, **{name: p for name, p, _ in dis.parameters()}}

    def backward(dy):
        dlogit, dfeat = dy
        dis.zero_grad()
        dis.forward(x)
        dx = dis.backward(dlogit, dfeat)
        return {"x": dx, **{name: g.copy() for name, _, g in dis.parameters()}}

    return check_function(lambda: dis.forward(x), backward, inputs, op=op, **options)


def register_discriminator(name, activation, feature_layer):
    @register(name)
    def run(seed=0, **options):
        rng = np.random.default_rng(seed)
        dis = discriminator(rng, activation, feature_layer)
        return check_discriminator(dis, away_from_zero(rng, (4, 5)), name, seed=seed, **options)
    return run


register_discriminator("Discriminator(leaky_relu)", "leaky_relu", -1)
register_discriminator("Discriminator(tanh, l=1)", "tanh", 1)


# -------------------------------------------------------------------- GAN losses
@register("discriminator_loss")
def check_discriminator_loss(seed=0, **options):
    rng = np.random.default_rng(seed)
    arrays = {"real": rng.normal(0, 2, (4, 1)), "rec": rng.normal(0, 2, (3, 1)),
              "pri": rng.normal(0, 2, (5, 1))}

    def fn(real, rec, pri):
        loss, grads = discriminator_loss(real, rec, pri)
        drec, dpri = grads["logits_fake"]
        return loss, {"real": grads["logits_real"], "rec": drec, "pri": dpri}
    return loss_check("discriminator_loss", fn, arrays, list(arrays), seed, **options)


def register_generator_loss(kind, short):
    name = f"generator_loss({short})"                 # ≤ 28 characters: the CLI's op column

    @register(name)
    def run(seed=0, **options):
        rng = np.random.default_rng(seed)
        arrays = {"rec": rng.normal(0, 2, (3, 1)), "pri": rng.normal(0, 2, (5, 1))}

        def fn(rec, pri):
            loss, grads = generator_loss(rec, pri, kind=kind)
            drec, dpri = grads["logits_fake"]
            return loss, {"rec": drec, "pri": dpri}
        return loss_check(name, fn, arrays, list(arrays), seed, **options)
    return run


register_generator_loss("non_saturating", "non-sat")
register_generator_loss("minimax", "minimax")


# ------------------------------------------- feature matching w.r.t. decoder output
@register("VAEGAN L_llike(dec out)")
def check_feature_loss(seed=0, **options):
    """L_llike = −log N(Dis_l(x) | Dis_l(σ(out)), I) w.r.t. the decoder logits ``out``,
    with the discriminator a fixed function (the path the encoder's gradient takes):
    only ``out`` is checked, and the gradients that ``dis.backward`` accumulates in the
    discriminator's own ``grads`` are never read."""
    rng = np.random.default_rng(seed)
    dis = discriminator(rng, "leaky_relu", 1)
    x = rng.uniform(0.05, 0.95, (3, 5))
    out = rng.normal(0, 1.5, (3, 5))                   # decoder logits
    f_real = dis.forward(x)[1]                        # (3, F): the target, data only

    def forward():
        return gaussian_nll(dis.forward(sigmoid_forward(out)[0])[1], f_real, 0.0)[0]

    def backward(dy):
        img, cache = sigmoid_forward(out)                    # x̃ = σ(out)
        _, feat = dis.forward(img)
        dfeat = gaussian_nll(feat, f_real, 0.0)[1]["mean"]   # (Dis_l(x̃) − Dis_l(x)) / N
        dimg = dis.backward(None, dfeat)
        return {"out": dy * sigmoid_backward(dimg, cache)}

    return check_function(forward, backward, {"out": out}, op="VAEGAN L_llike(dec out)",
                          seed=seed, **options)


# ------------------------------------------------ each objective, its own group
def vaegan(rng, generator_loss_kind):
    """A float64 VAE-GAN 7-5-2 with a 6-4 discriminator and unit-scale weights."""
    from ..models import VAEGAN  # noqa: PLC0415
    model = VAEGAN(7, (5,), 2, dis_hidden=(6, 4), feature_layer=1, gamma=0.7,
                   generator_loss=generator_loss_kind, activation="tanh", seed=1, dtype=F64)
    return unit_weights(model, rng)


def check_objective(model, x, group, objective, loss_kwargs, op, **options):
    """Check ``loss_and_grads(...)[objective]`` w.r.t. the parameters of ``group`` only."""
    params = model.parameter_groups()[group]
    inputs = {name: p for name, p, _ in params}

    def forward():
        return float(model.loss_and_grads(x, compute_grads=False, **loss_kwargs)[objective])

    def backward(dy):
        model.zero_grad()
        model.loss_and_grads(x, **loss_kwargs)
        return {name: dy * g for name, _, g in params}

    return check_function(forward, backward, inputs, op=op, **options)


def register_objective(name, group, objective, kind="non_saturating"):
    @register(name)
    def run(seed=0, **options):
        rng = np.random.default_rng(seed)
        model = vaegan(rng, kind)
        x = rng.uniform(0.05, 0.95, (3, model.input_dim))
        noise = {"eps": rng.standard_normal((3, model.latent_dim)),
                 "z_prior": rng.standard_normal((4, model.latent_dim))}    # frozen, M ≠ N
        return check_objective(model, x, group, objective, noise, name, seed=seed, **options)
    return run


register_objective("VAEGAN enc: KL+L_llike", "encoder", "enc_objective")
register_objective("VAEGAN dec: γL_llike+L_gen", "decoder", "dec_objective")
register_objective("VAEGAN dec(minimax)", "decoder", "dec_objective", "minimax")
register_objective("VAEGAN dis: L_dis", "discriminator", "dis_objective")
