"""The model options of ``train``: one table, read against each model's constructor.

Every model in :data:`scratchvae.models.MODELS` is trained by ``train --model NAME``.
Which options a model takes is read from its constructor's signature, so the table
below only says how each constructor argument is spelled on the command line. An
option the chosen model does not take is refused with the list of those it does take
(``--k`` for a VAE, ``--hidden`` for a conv VAE), never silently ignored. Arguments
that come from the data are filled in by the CLI: ``input_dim`` (D), ``image_shape``
(C, H, W), ``n_classes`` (K, from the labels) and the first entry of a stacked
autoencoder's ``sizes``. Arguments not given keep the constructor's defaults.
"""
from __future__ import annotations

import argparse
import inspect

from ..errors import ScratchVAEError
from .common import (
    finite_float, fraction, nonnegative_float, positive_float, positive_int, unit_beta,
)

#: (flag, constructor argument, argparse keywords): how each model argument is spelled
ACTIVATION_NAMES = ["relu", "leaky_relu", "tanh", "sigmoid", "softplus", "ptanh", "identity"]

MODEL_OPTIONS = [
    ("--hidden", "hidden", dict(type=positive_int, nargs="+", help="hidden widths, e.g. 512 256")),
    ("--latent-dim", "latent_dim", dict(type=positive_int, help="latent (code) size L")),
    ("--latent-dims", "latent_dims", dict(type=positive_int, nargs=2, metavar=("L1", "L2"),
                                          help="hvae, conv-hvae: the sizes of z1 (near the data) and z2")),
    ("--gated", "gated", dict(action=argparse.BooleanOptionalAction,
                              help="gated hidden units (xW + b) ⊙ σ(xV + c) (hvae: on by "
                                   "default)")),
    ("--likelihood", "likelihood", dict(choices=["bernoulli", "gaussian", "mse"],
                                        help="p(x|z); default: bernoulli for data in [0, 1], "
                                             "gaussian otherwise (or the model's own default)")),
    ("--learn-variance", "learn_variance", dict(action="store_const", const=True,
                                                help="gaussian: learn one variance per pixel")),
    ("--activation", "activation", dict(choices=ACTIVATION_NAMES, help="hidden activation")),
    ("--beta", "beta", dict(type=nonnegative_float,
                            help="vae, conv-vae, cvae: the KL weight (β-VAE; 1 = the ELBO); "
                                 "sparse-ae: the penalty weight")),
    ("--channels", "channels", dict(type=positive_int, nargs=2,
                                    help="conv models: the two conv widths")),
    ("--k", "k", dict(type=positive_int, help="iwae, conv-iwae: importance samples per example")),
    ("--n-pseudo", "n_pseudo", dict(type=positive_int,
                                    help="vampprior-vae, hvae and conv-hvae with --prior "
                                         "vampprior: the number K of pseudo-inputs")),
    ("--prior", "prior", dict(choices=["gaussian", "vampprior"],
                              help="hvae, conv-hvae: p(z2), N(0, I) (default) or the VampPrior")),
    ("--corruption", "corruption", dict(choices=["gaussian", "masking", "watermark"],
                                        help="dae")),
    ("--noise-level", "noise_level", dict(type=nonnegative_float,
                                          help="dae: σ (gaussian), p in [0, 1) (masking) or "
                                               "the largest opacity in [0, 1] (watermark)")),
    ("--penalty", "penalty", dict(choices=["kl", "l1"], help="sparse-ae: the sparsity penalty")),
    ("--rho", "rho", dict(type=fraction, help="sparse-ae: target mean activation ρ")),
    ("--code-activation", "code_activation", dict(choices=ACTIVATION_NAMES,
                                                  help="ae, dae, sparse-ae: the code's activation")),
    ("--sizes", "sizes", dict(type=positive_int, nargs="+",
                              help="stacked-ae: code sizes s1 … sK (D is the data's)")),
    ("--delta", "delta", dict(type=nonnegative_float, help="lagrangian-vae: the KL budget δ")),
    ("--alpha-init", "alpha_init", dict(type=nonnegative_float,
                                        help="lagrangian-vae: initial α")),
    ("--alpha-rule", "alpha_rule", dict(choices=["project", "flip"],
                                        help="lagrangian-vae: how α stays ≥ 0")),
    ("--kappa", "kappa", dict(type=positive_float, help="geco-vae: the reconstruction tolerance κ")),
    ("--nu", "nu", dict(type=positive_float, help="geco-vae: the step size of log λ")),
    ("--ma-decay", "ma_decay", dict(type=unit_beta,
                                    help="geco-vae: the constraint's moving average decay")),
    ("--lambda-init", "lambda_init", dict(type=positive_float, help="geco-vae: initial λ")),
    ("--dis-hidden", "dis_hidden", dict(type=positive_int, nargs="+",
                                        help="vae-gan: discriminator hidden widths")),
    ("--feature-layer", "feature_layer", dict(type=int,
                                              help="vae-gan: the layer Dis_l (1-based, −1 last)")),
    ("--gamma", "gamma", dict(type=positive_float,
                              help="vae-gan: weight γ of L_llike for the decoder")),
    ("--feature-logvar", "feature_logvar", dict(type=finite_float,
                                                help="vae-gan: log σ² of the feature match")),
    ("--generator-loss", "generator_loss", dict(choices=["non_saturating", "minimax"],
                                                help="vae-gan")),
]
FROM_DATA = ("input_dim", "image_shape", "n_classes")


def add_model_options(parser) -> None:
    """Add every model option, each defaulting to None (= not given)."""
    group = parser.add_argument_group("model options (each model takes those of its "
                                      "constructor; others are refused)")
    for flag, dest, kwargs in MODEL_OPTIONS:
        group.add_argument(flag, dest=dest, default=None, **kwargs)


def constructor_args(cls) -> dict:
    """{argument: default} of a model class's constructor (dtype excluded)."""
    params = inspect.signature(cls.__init__).parameters
    return {n: p.default for n, p in params.items() if n not in ("self", "dtype")}


def model_config(name: str, args, x, y, shape) -> dict:
    """The config that builds model ``name`` from the parsed options and the data."""
    from ..models import MODELS  # noqa: PLC0415

    cls = MODELS[name]
    accepted = constructor_args(cls)
    given = {dest: getattr(args, dest) for _, dest, _ in MODEL_OPTIONS
             if getattr(args, dest) is not None}
    refused = [flag for flag, dest, _ in MODEL_OPTIONS if dest in given and dest not in accepted]
    if refused:
        takes = [flag for flag, dest, _ in MODEL_OPTIONS if dest in accepted]
        raise ScratchVAEError(f"--model {name} does not take {', '.join(refused)}; its options "
                              f"are {', '.join(takes) or 'none'}")
    config = {"model": name, **given}
    if "seed" in accepted:
        config["seed"] = args.seed if args.seed is not None else 0
    if "input_dim" in accepted:
        config["input_dim"] = x.shape[1]
    if "image_shape" in accepted:
        if len(shape) != 3:
            raise ScratchVAEError(f"--model {name} needs image data (C, H, W); this data set "
                                  f"has examples of shape {shape}. Use an MLP model for it.")
        config["image_shape"] = list(shape)
    if "n_classes" in accepted:
        if y is None:
            raise ScratchVAEError(f"--model {name} is conditioned on labels, and this data set "
                                  f"has none; use sprites, mnist, fashion-mnist or kmnist")
        config["n_classes"] = int(y.max()) + 1
    if "sizes" in accepted:
        config["sizes"] = [x.shape[1], *(given.get("sizes") or accepted["sizes"][1:])]
    if "likelihood" in accepted and "likelihood" not in given:
        in_unit = bool(x.min() >= 0 and x.max() <= 1)
        default = accepted["likelihood"]
        config["likelihood"] = "gaussian" if default == "bernoulli" and not in_unit else default
    return config
