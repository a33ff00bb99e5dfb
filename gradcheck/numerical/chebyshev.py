"""Chebyshev interpolation on [−1, 1] at the K Chebyshev points of the second kind.

The structured engine resolves each unit response ψ by its interpolant; an
analytic function's Chebyshev coefficients decay geometrically, so the last
ones show whether K points resolve it (Trefethen, *Approximation Theory and
Approximation Practice*, 2013, Ch. 3, 8), and the interpolant magnifies the
rounding of the K values by at most the Lebesgue constant
Λ_K ≤ (2/π)·ln K + 1 (ibid., Thm. 15.2).
"""

from __future__ import annotations

import numpy as np

__all__ = ["chebyshev_points", "chebyshev_transform", "chebyshev_basis"]


def chebyshev_points(K: int) -> np.ndarray:
    """The K Chebyshev points cos(π m/(K − 1)), m = 0 … K − 1, written so that the middle point is exactly 0.

    Examples
    --------
    >>> chebyshev_points(3).tolist()
    [1.0, 0.0, -1.0]
    """
    m = np.arange(K)
    return np.sin(np.pi * (K - 1 - 2 * m) / (2 * (K - 1)))


def chebyshev_transform(K: int) -> np.ndarray:
    """Matrix Φ of shape (K, K) with c = v Φ: Chebyshev coefficients from values at the K points (DCT-I)."""
    m = np.arange(K)
    Phi = np.cos(np.pi * np.outer(m, m) / (K - 1)) * (2.0 / (K - 1))
    Phi[[0, K - 1], :] *= 0.5
    Phi[:, [0, K - 1]] *= 0.5
    return Phi


def chebyshev_basis(tau: np.ndarray, K: int) -> np.ndarray:
    """T_0 … T_{K−1} at ``tau``, stacked: shape (K,) + tau.shape."""
    B = np.empty((K,) + tau.shape)
    B[0] = 1.0
    if K > 1:
        B[1] = tau
    for k in range(2, K):
        np.multiply(2.0 * tau, B[k - 1], out=B[k])
        B[k] -= B[k - 2]
    return B
