"""Model evaluation: importance-weighted NLL, the ELBO's split, KL per unit, active units.

    from scratchvae.evaluation import evaluate_model, format_report
    report = evaluate_model(model, binarize_fixed(test_x, 0), k=5000)   # ~45 ms/image on 2 cores
    print(format_report(report))

Files: densities.py (full log p(x|z), log p(z) − log q(z|x)), iwae.py (the chunked
K-sample estimator and its reference), active_units.py (latent usage), report.py
(``evaluate_model``, ``format_report``), interface.py (what a model must provide).
"""
from .active_units import LatentUsage, active_units, kl_per_unit, latent_usage
from .densities import log_likelihood, log_prior_minus_posterior, log_weights_chunk
from .interface import NotAVAEError, check_vae
from .iwae import (IWAEResult, RunningLogSumExp, importance_sample, iwae_nll, iwae_nll_reference,
                   log_importance_weights)
from .report import EvaluationReport, evaluate_model, format_report

__all__ = [
    "evaluate_model", "format_report", "EvaluationReport",
    "iwae_nll", "importance_sample", "iwae_nll_reference", "log_importance_weights", "IWAEResult",
    "RunningLogSumExp", "active_units", "latent_usage", "LatentUsage", "kl_per_unit",
    "log_likelihood", "log_prior_minus_posterior", "log_weights_chunk",
    "NotAVAEError", "check_vae",
]
