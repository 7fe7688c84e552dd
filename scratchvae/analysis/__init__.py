"""Analysis tools that sit beside the models: PCA (the linear baseline of every
autoencoder), ROC curves, a softmax-regression probe, anomaly scores, and the
latent-space tools (interpolation, manifold grids, traversals, factor scores) that
the tutorials report."""
from .anomaly_scores import ae_scores, vae_scores
from .latent import (correlation_gap, factor_correlations, interpolate, latent_grid,
                     manifold_grid, normal_cdf, normal_ppf, traverse)
from .pca import PCA, NotFittedError, mean_squared_error, principal_angle_cosines
from .roc import rankdata, roc_auc, roc_curve, tpr_at_fpr, trapezoid_area
from .softmax_regression import SoftmaxRegression, fit_and_score, softmax_cross_entropy

__all__ = ["PCA", "NotFittedError", "mean_squared_error", "principal_angle_cosines",
           "roc_auc", "roc_curve", "trapezoid_area", "tpr_at_fpr", "rankdata",
           "SoftmaxRegression", "softmax_cross_entropy", "fit_and_score",
           "ae_scores", "vae_scores",
           "interpolate", "latent_grid", "manifold_grid", "traverse", "normal_cdf", "normal_ppf",
           "factor_correlations", "correlation_gap"]
