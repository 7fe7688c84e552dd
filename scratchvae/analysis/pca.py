"""Principal component analysis by the singular value decomposition.

Notation: N samples, D features, K kept components (K ≤ min(N, D)).

PCA is the best linear autoencoder. With the data centred, X̄ = X − m (N, D), m the
column mean (D,), and its thin SVD X̄ = U S Vᵀ:

    components  V_K = the first K right singular vectors, rows of ``components`` (K, D)
    encode      c = (x − m) V_Kᵀ                                     (N, K)
    decode      x̂ = c V_K + m                                        (N, D)
    variance    λ_k = s_k² / (N − 1)  along component k             (K,)

Eckart–Young: among all rank-K affine reconstructions x̂ = (x − m) P + m with P a
projection, this one has the least squared error, and that error is the variance
PCA leaves out:

    (1/N) Σ_n ||x_n − x̂_n||²  =  (N − 1)/N · Σ_{k > K} λ_k  =  (1/N) Σ_{k > K} s_k²

The reconstruction error here follows the project's convention for losses: summed
over the D features, averaged over the N samples (the "mse" likelihood's value).

Signs: a singular vector is defined up to ±1; each component is flipped so that its
entry of largest magnitude is positive, so a fit is reproducible across LAPACK builds.
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError, ScratchVAEError, ShapeError, check_float_array


class NotFittedError(ScratchVAEError, RuntimeError):
    """``transform`` or ``inverse_transform`` was called before ``fit``."""


class PCA:
    """PCA with K components, fitted by ``numpy.linalg.svd`` of the centred data.

    Attributes (after ``fit``):
        mean: m (D,), the column mean of the fitted data.
        components: V_K (K, D), orthonormal rows, in order of decreasing variance.
        singular_values: s_1 ≥ … ≥ s_K (K,) of the centred data.
        explained_variance: λ_k = s_k² / (N − 1) (K,), the sample variance along each component.
        explained_variance_ratio: λ_k / total_variance (K,).
        total_variance: Σ_d Var(x_d) over all D features (all components, kept or not).

    Args:
        n_components: K, a positive int.
    """

    def __init__(self, n_components: int):
        if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) \
                or n_components < 1:
            raise ValueError(f"n_components must be a positive int, got {n_components!r}")
        self.n_components = int(n_components)
        self.mean = None

    # --------------------------------------------------------------------- fit
    def fit(self, x) -> PCA:
        """Fit to x (N, D) float, N ≥ 2; computed in float64 whatever x's dtype."""
        check_float_array(x, "x", ndim=2)
        n, d = x.shape
        k = self.n_components
        if n < 2:
            raise DataError(f"PCA needs at least 2 samples to estimate a variance, got {n}")
        if k > min(n, d):
            raise ShapeError(f"n_components={k} exceeds min(N, D) = min({n}, {d}); the centred "
                             f"data has at most that many non-zero singular values")
        x = np.asarray(x, dtype=np.float64)
        mean = x.mean(axis=0)                                    # m (D,)
        xc = x - mean                                            # X̄ (N, D)
        _, s, vt = np.linalg.svd(xc, full_matrices=False)        # s (R,), vt (R, D), R = min(N, D)
        vt = _flip_signs(vt[:k])                                 # (K, D)
        var = s ** 2 / (n - 1)                                   # λ over all R components
        self.mean = mean
        self.components = vt
        self.singular_values = s[:k]
        self.explained_variance = var[:k]
        # Σ_d Var(x_d) = ||X̄||²_F / (N − 1): it also counts the components not kept
        self.total_variance = float(np.sum(xc * xc) / (n - 1))
        self.explained_variance_ratio = self.explained_variance / self.total_variance
        self.n_samples, self.n_features = n, d
        return self

    def truncate(self, k: int) -> PCA:
        """A fitted PCA with only the first k components (one SVD serves every K ≤ n_components)."""
        self._check_fitted()
        if not 1 <= k <= self.n_components:
            raise ValueError(f"can truncate to 1..{self.n_components} components, not {k}")
        out = PCA(k)
        out.__dict__.update({key: value for key, value in self.__dict__.items()
                             if key != "n_components"})
        for key in ("components", "singular_values", "explained_variance",
                    "explained_variance_ratio"):
            setattr(out, key, getattr(self, key)[:k])
        return out

    # ------------------------------------------------------------ encode/decode
    def transform(self, x):
        """Codes c = (x − m) V_Kᵀ: x (N, D) → (N, K), float64."""
        self._check_fitted()
        check_float_array(x, "x", ndim=2)
        if x.shape[1] != self.n_features:
            raise ShapeError(f"this PCA was fitted on {self.n_features} features; x has shape "
                             f"{tuple(x.shape)}")
        return (np.asarray(x, dtype=np.float64) - self.mean) @ self.components.T

    def inverse_transform(self, c):
        """Reconstructions x̂ = c V_K + m: codes (N, K) → (N, D), float64."""
        self._check_fitted()
        check_float_array(c, "codes", ndim=2)
        if c.shape[1] != self.n_components:
            raise ShapeError(f"this PCA has {self.n_components} components; the codes have shape "
                             f"{tuple(c.shape)}")
        return np.asarray(c, dtype=np.float64) @ self.components + self.mean

    def reconstruct(self, x):
        """x (N, D) → x̂ (N, D): the projection of x onto the fitted affine subspace."""
        return self.inverse_transform(self.transform(x))

    def reconstruction_error(self, x) -> float:
        """(1/N) Σ_n ||x_n − x̂_n||²: summed over features, averaged over samples."""
        return mean_squared_error(x, self.reconstruct(x))

    def _check_fitted(self):
        if self.mean is None:
            raise NotFittedError("this PCA is not fitted yet; call pca.fit(x) first")


# ---------------------------------------------------------------------- helpers
def mean_squared_error(x, x_hat) -> float:
    """(1/N) Σ_n Σ_d (x̂_nd − x_nd)²: the sum over the D features, averaged over N samples.

    The same number as the "mse" likelihood's loss, so PCA and autoencoders are compared
    on one scale. Computed in float64.
    """
    if tuple(np.shape(x)) != tuple(np.shape(x_hat)):
        raise ShapeError(f"x and x_hat must have the same shape, got {np.shape(x)} and "
                         f"{np.shape(x_hat)}")
    diff = np.asarray(x_hat, dtype=np.float64) - np.asarray(x, dtype=np.float64)
    return float(np.sum(diff * diff) / len(diff))


def principal_angle_cosines(a, b):
    """Cosines of the principal angles between the row spaces of a (K, D) and b (J, D).

    Orthonormalise both row sets (QR), then the singular values of Q_a Q_bᵀ are the
    cosines, largest first (min(K, J) of them). All ones ⇔ one row space contains the
    other; the smallest cosine measures the worst-aligned direction. Used to show that a
    linear autoencoder's decoder spans PCA's subspace, whatever basis it picked inside it.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ShapeError(f"need two (K, D) and (J, D) arrays of row vectors, got {a.shape} and "
                         f"{b.shape}")
    qa = np.linalg.qr(a.T)[0]                                    # (D, K) orthonormal columns
    qb = np.linalg.qr(b.T)[0]                                    # (D, J)
    return np.clip(np.linalg.svd(qa.T @ qb, compute_uv=False), 0.0, 1.0)


def _flip_signs(vt):
    """Flip each row so that its largest-magnitude entry is positive (a fixed convention)."""
    idx = np.argmax(np.abs(vt), axis=1)                          # (K,)
    signs = np.sign(vt[np.arange(len(vt)), idx])                 # (K,), never 0 for a unit row
    return vt * signs[:, None]
