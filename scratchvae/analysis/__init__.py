"""Analysis tools that sit beside the models: PCA (the linear baseline of every
autoencoder), and the measurements the tutorials report."""
from .pca import PCA, NotFittedError, mean_squared_error, principal_angle_cosines

__all__ = ["PCA", "NotFittedError", "mean_squared_error", "principal_angle_cosines"]
