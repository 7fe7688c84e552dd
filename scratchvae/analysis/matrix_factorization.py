"""Matrix factorization by alternating least squares: the classic recommender baseline that
AutoRec is compared with.

Notation: I items, U users, r the rank; R (I, U) ratings, M (I, U) the observed entries,
μ the mean observed rating; P (I, r) item factors, Q (U, r) user factors.

    R̂ = μ + P Qᵀ,    minimise  Σ_{(i,u) ∈ M} (R_iu − μ − p_i·q_u)²  +  λ (‖P‖² + ‖Q‖²)

With Q fixed the objective is a separate ridge regression for every item, and with P
fixed one for every user, each solved exactly (r × r normal equations):

    p_i = (Q_iᵀ Q_i + λ I)⁻¹ Q_iᵀ (r_i − μ)      Q_i: the rows of Q of the users who rated i
    q_u = (P_uᵀ P_u + λ I)⁻¹ P_uᵀ (r_u − μ)      P_u: the rows of P of the items u rated

Each half-step cannot increase the objective, so the alternation converges (to a local
minimum); it is deterministic given the seed of the initial Q.

Cold start: an item (or user) without a single observed rating has the ridge solution
p_i = (λ I)⁻¹ 0 = 0, so it is predicted μ, the mean rating — no special case in the code.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, ShapeError
from ..rng import as_rng


def _ridge_rows(F, R, M, mu, l2):
    """Solve one ridge regression per row of R: (rows of R, r) factors given F (cols, r)."""
    r = F.shape[1]
    out = np.zeros((R.shape[0], r))
    eye = l2 * np.eye(r)
    for i in range(R.shape[0]):
        seen = M[i]
        Fi = F[seen]                                          # (n_i, r)
        out[i] = np.linalg.solve(Fi.T @ Fi + eye, Fi.T @ (R[i, seen] - mu))
    return out


class MatrixFactorization:
    """R̂ = μ + P Qᵀ fitted by alternating least squares (module docstring).

    Args:
        rank: r; l2: λ ≥ 0 (λ > 0 keeps every solve well-posed); iterations: ALS sweeps.
    """

    def __init__(self, rank: int = 10, l2: float = 5.0, iterations: int = 15, seed: int = 0):
        if isinstance(rank, bool) or int(rank) != rank or rank < 1:
            raise ConfigError(f"rank must be an integer ≥ 1, got {rank!r}")
        if not (np.isfinite(l2) and l2 > 0):
            raise ConfigError(f"l2 must be a finite number > 0 (it keeps every least-squares "
                              f"solve well-posed), got {l2}")
        if isinstance(iterations, bool) or int(iterations) != iterations or iterations < 1:
            raise ConfigError(f"iterations must be an integer ≥ 1, got {iterations!r}")
        self.rank, self.l2, self.iterations, self.seed = int(rank), float(l2), \
            int(iterations), seed
        self.P = self.Q = None
        self.mu = 0.0

    def fit(self, R, mask) -> list[float]:
        """Fit on the observed entries; returns the training RMSE after each sweep."""
        R, M = np.asarray(R, dtype=np.float64), np.asarray(mask, dtype=bool)
        if R.ndim != 2 or R.shape != M.shape:
            raise ShapeError(f"R and mask must be (items, users) of one shape, got "
                             f"{R.shape} and {M.shape}")
        if not M.any():
            raise ShapeError("the mask has no observed rating; nothing to fit")
        self.mu = float(R[M].mean())
        self.Q = as_rng(self.seed).normal(0, 0.1, (R.shape[1], self.rank))
        history = []
        for _ in range(self.iterations):
            self.P = _ridge_rows(self.Q, R, M, self.mu, self.l2)          # items, Q fixed
            self.Q = _ridge_rows(self.P, R.T, M.T, self.mu, self.l2)      # users, P fixed
            history.append(self.rmse(R, M))
        return history

    def predict(self) -> np.ndarray:
        """R̂ (I, U) for every item and user."""
        if self.P is None:
            raise ConfigError("this factorization is not fitted yet; call fit(R, mask) first")
        return self.mu + self.P @ self.Q.T

    def rmse(self, R, mask) -> float:
        """Root mean squared error of R̂ on the entries of ``mask``."""
        M = np.asarray(mask, dtype=bool)
        return float(np.sqrt(((self.predict() - np.asarray(R))[M] ** 2).mean()))
