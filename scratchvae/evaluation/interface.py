"""What the evaluation needs from a model, and the clear error when a model lacks it.

The estimators of this package use only the probabilistic interface of
:class:`scratchvae.models.VAE` (which :class:`ConvVAE`, the β-, Lagrangian, GECO and
VAE-GAN models inherit):

    model.encode(x)          x (N, D) → (μ, logvar), each (N, L): q(z|x) = N(μ, diag e^logvar)
    model.decoder_output(z)  z (R, L) → out (R, D): logits (Bernoulli) or the mean (Gaussian)
    model.likelihood         "bernoulli", "gaussian" or "mse" (distributions.LIKELIHOODS)
    model.logvar_x           log σ² of the Gaussian p(x|z): a float or a learned (D,) array
    model.latent_dim, model.input_dim, model.dtype
    model.log_prior(z)       optional: log p(z) of codes (..., L) → (...), nats; absent: N(0, I)

A model whose latents are not one Gaussian layer decoded by one network — the
two-level :class:`~scratchvae.models.HVAE` — supplies the log importance weights
itself, in place of ``decoder_output``:

    model.log_weights_chunk(x, mu, logvar, eps)   (G, D), (G, L), (G, L), (G, S, L)
                              → (log w, log p(x|z)), each (G, S) float64

with (μ, logvar) = ``model.encode(x)``, the per-image summaries the noise is scaled by
(:mod:`.densities` has the single-layer version and its formulas). Its KL term has no
closed form (:func:`kl_in_closed_form`); the report then takes −ELBO from the same
importance samples, and the per-unit KL from ``model.kl_per_unit(x)`` (B, L) if the
model has one. ``model.latent_levels`` ({name: size}, in the columns' order) makes the
report count active units per level.

A plain autoencoder has a deterministic code and no density; a conditional VAE's
encoder needs the label too. Both are refused with :class:`NotAVAEError`.
"""
from __future__ import annotations

from ..errors import ScratchVAEError

_REQUIRED = ("encode", "decoder_output", "likelihood", "logvar_x", "latent_dim", "input_dim")


class NotAVAEError(ScratchVAEError, TypeError):
    """The model has no q(z|x) and p(x|z) to evaluate (e.g. a plain autoencoder)."""


def model_name(model) -> str:
    return getattr(model, "config", {}).get("model", type(model).__name__)


def check_vae(model):
    """Raise :class:`NotAVAEError` unless ``model`` has the VAE's probabilistic interface."""
    missing = [a for a in _REQUIRED if not hasattr(model, a)
               and not (a == "decoder_output" and hasattr(model, "log_weights_chunk"))]
    if missing:
        raise NotAVAEError(
            f"evaluation needs a VAE (encoder q(z|x) = N(μ, σ²), decoder p(x|z)); a "
            f"{model_name(model)!r} model is not one (it lacks {', '.join(missing)}). A plain "
            f"autoencoder has no likelihood to estimate: train a VAE (--model vae or conv-vae)")
    if tuple(getattr(model, "inputs", ("x",))) != ("x",):
        raise NotAVAEError(
            f"evaluation needs an unconditional VAE whose encode(x) takes the data alone; "
            f"{model_name(model)!r} trains on {tuple(model.inputs)} "
            f"(a conditional model is not supported)")
    return model


def encode_checked(model, x):
    """``model.encode(x)`` → (μ, logvar), checking that it is a pair of (N, L) arrays."""
    out = model.encode(x)
    if not (isinstance(out, tuple) and len(out) == 2
            and all(getattr(a, "shape", None) == (len(x), model.latent_dim) for a in out)):
        raise NotAVAEError(f"{model_name(model)!r}.encode(x) must return (μ, logvar), each "
                           f"(N, {model.latent_dim}); it returned {type(out).__name__}")
    return out


def kl_in_closed_form(model) -> bool:
    """True when the model's KL term is KL(q(z|x) ‖ N(0, I)) of one Gaussian layer, which
    the evaluation computes in closed form from ``encode``; False for a model that
    computes its own importance weights (a hierarchy) or has a prior of its own
    (``model.learned_prior`` True: the VampPrior VAE, whose ``log_prior`` the importance
    weights use)."""
    return not (hasattr(model, "log_weights_chunk") or getattr(model, "learned_prior", False))
