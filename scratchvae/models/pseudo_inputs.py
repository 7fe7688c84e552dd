"""The VampPrior's pseudo-inputs, for any model whose top latent layer has an encoder
q(z|x) = N(μ(x), diag e^{logvar(x)}): the VampPrior VAE (its one latent layer) and the
HVAE (its z₂). The mixture's densities are :mod:`scratchvae.distributions.vampprior`.

Notation: K pseudo-inputs, D data dimensions, L the size of the latent layer they
define the prior of.

    a      params["pseudo_inputs"] (K, D), learned like the weights
    u      = hardtanh(a) = min(max(a, 0), 1) with ``pseudo_clip`` (Bernoulli data lives in
             [0, 1], as in the paper), else a itself
    p(z)   = (1/K) Σ_k N(z; μ_k, diag e^{logvar_k}),  (μ_k, logvar_k) = encoder(u_k)

The pseudo-inputs start at ``pseudo_init`` + 0.01 · N(0, 1) per entry (0.5: mid-grey
images, each a little different, so that the K components do not start identical and
receive different gradients); :meth:`PseudoInputPrior.set_pseudo_inputs` puts in others,
e.g. K training images.

A model mixes :class:`PseudoInputPrior` in and says which network and latent size the
prior belongs to (``prior_encoder``, ``prior_latent_dim``); its training pass runs that
encoder once on the stacked rows [x; u] and sends the pseudo rows' input gradient to
:meth:`PseudoInputPrior.pseudo_input_grad` (the VampPrior VAE's docstring derives it).
"""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from ..distributions.vampprior import mixture_log_density, mixture_sample
from ..errors import ConfigError, DataError, ShapeError
from ..functional.activations import hardtanh_backward, hardtanh_forward
from ..functional.checks import check_array, check_finite, check_int, check_real
from .base import split_halves

PSEUDO_STD = 0.01             # spread of the initial pseudo-inputs around pseudo_init
PRIOR_CHUNK = 2 ** 21         # codes × components × latents of one log_prior chunk


class PseudoInputPrior:
    """Mixin: a VampPrior over the latent layer of ``self.prior_encoder`` (module docstring).

    The model provides ``prior_encoder`` (a network x (·, D) → (·, 2L)), ``prior_latent_dim``
    (L), ``input_dim`` and ``dtype``; its constructor checks the options with
    :func:`pseudo_options` (before anything is built) and then calls
    :meth:`add_pseudo_inputs`.
    """

    learned_prior = True      # evaluation: log p(z) is not N(0, I)'s (evaluation/interface.py)

    def add_pseudo_inputs(self, options: dict, rng, dtype) -> None:
        """Add ``params["pseudo_inputs"]`` (K, D), drawn from ``rng`` around
        ``pseudo_init``, for the checked ``options`` of :func:`pseudo_options`."""
        self.n_pseudo, self.pseudo_clip = options["n_pseudo"], options["pseudo_clip"]
        start = options["pseudo_init"] + PSEUDO_STD * rng.standard_normal(
            (self.n_pseudo, self.input_dim))
        self.add_param("pseudo_inputs", start.astype(dtype))              # a, (K, D)

    def pseudo_inputs(self):
        """u (K, D) = hardtanh(a) (or a itself without ``pseudo_clip``), and the clamp's
        cache (None without it)."""
        a = self.params["pseudo_inputs"]
        return hardtanh_forward(a, 0.0, 1.0) if self.pseudo_clip else (a, None)

    def pseudo_input_grad(self, du, clip_cache) -> None:
        """Add ∂loss/∂a = ∂loss/∂u ⊙ 1[0 < a < 1] (the hardtanh's, if clipped) into grads."""
        self.grads["pseudo_inputs"] += du if clip_cache is None else \
            hardtanh_backward(du, clip_cache)

    def set_pseudo_inputs(self, u) -> None:
        """Overwrite the raw pseudo-inputs a (K, D) with ``u``, e.g. K training images or
        the data mean plus small noise; with ``pseudo_clip`` the values must lie in [0, 1]."""
        K, D = self.n_pseudo, self.input_dim
        check_array(u, "pseudo-inputs", dtypes=None, min_ndim=1)
        if tuple(u.shape) != (K, D):
            raise ShapeError(f"pseudo-inputs must be (K, D) = ({K}, {D}), one row per prior "
                             f"component, got {tuple(u.shape)}; this model was built with "
                             f"n_pseudo={K}")
        check_finite(u, "pseudo-inputs")
        if self.pseudo_clip and (u.min() < 0 or u.max() > 1):
            raise DataError(f"pseudo-inputs must lie in [0, 1] (pseudo_clip: they pass through "
                            f"hardtanh), got values in [{float(u.min()):g}, {float(u.max()):g}]")
        self.params["pseudo_inputs"][...] = get_array_module(self.params["pseudo_inputs"]) \
            .asarray(u, dtype=self.dtype)

    def prior_components(self):
        """(μ_k, logvar_k), each (K, L): the prior's encoder at the pseudo-inputs (forward
        only)."""
        return split_halves(self.prior_encoder.forward(self.pseudo_inputs()[0]),
                            self.prior_latent_dim)

    def prior_sample(self, n: int, rng):
        """n codes from the mixture: a component k uniformly, then N(μ_k, σ_k²)."""
        return mixture_sample(*self.prior_components(), n, rng)

    def log_prior(self, z):
        """log p(z) of codes z (..., L) under the mixture, (...), nats; computed in z's
        dtype (float64 from ``evaluation/``), in chunks of codes so that the (codes, K, L)
        differences stay within ``PRIOR_CHUNK`` values."""
        xp = get_array_module(z)
        L = self.prior_latent_dim
        mu, logvar = (a.astype(z.dtype) for a in self.prior_components())    # (K, L)
        flat = z.reshape(-1, L)                                               # (R, L)
        rows = max(1, PRIOR_CHUNK // (self.n_pseudo * L))
        parts = [mixture_log_density(flat[i:i + rows], mu, logvar)
                 for i in range(0, len(flat), rows)]
        return xp.concatenate(parts).reshape(z.shape[:-1])


def pseudo_options(n_pseudo, pseudo_init, pseudo_clip, likelihood) -> dict:
    """The pseudo-input options, checked (one-line errors) and as the config stores them:
    ``pseudo_clip`` None means True for the Bernoulli likelihood, else False."""
    n_pseudo = check_int(n_pseudo, "n_pseudo", 1,
                         hint="the number K of pseudo-inputs (prior components), e.g. 500")
    clip = likelihood == "bernoulli" if pseudo_clip is None else \
        check_flag(pseudo_clip, "pseudo_clip")
    pseudo_init = check_real(pseudo_init, "pseudo_init", *((0.0, 1.0) if clip else ()),
                             hint="the value the pseudo-inputs start around; with "
                                  "pseudo_clip it must lie in [0, 1], e.g. 0.5")
    return dict(n_pseudo=n_pseudo, pseudo_init=pseudo_init, pseudo_clip=clip)


def check_flag(value, name: str) -> bool:
    """True or False (0/1 accepted); ConfigError for anything else."""
    if not isinstance(value, (bool, np.bool_)) and value not in (0, 1):
        raise ConfigError(f"{name} must be True or False, got {value!r}")
    return bool(value)
