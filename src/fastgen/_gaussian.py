"""Covariance conversions shared by the Gaussian emissions (HMMs) and the Gaussian mixtures.

Kernels take precisions (diag) or scikit-learn's upper-triangular precision Cholesky factor P
(precision = P P^T) for full and tied covariances; see csrc/KERNELS.md.
"""
from __future__ import annotations

import numpy as np

COVARIANCE_TYPES = ("spherical", "diag", "full", "tied")


def precision_cholesky(covars: np.ndarray, name: str = "covars_") -> np.ndarray:
    """(..., D, D) covariances -> (..., D, D) upper-triangular P with P P^T = inverse covariance."""
    covars = np.asarray(covars, dtype=np.float64)
    scale = np.abs(covars).max() if covars.size else 1.0
    if not np.allclose(covars, np.swapaxes(covars, -1, -2), rtol=1e-8, atol=1e-12 * scale):
        raise ValueError(f"{name}: covariance matrices must be symmetric")
    try:
        L = np.linalg.cholesky(covars)
    except np.linalg.LinAlgError:
        raise ValueError(f"{name}: covariance matrices must be positive-definite") from None
    D = covars.shape[-1]
    eye = np.broadcast_to(np.eye(D), L.shape)
    Linv = np.linalg.solve(L, eye)           # lower triangular L^-1
    return np.ascontiguousarray(np.swapaxes(Linv, -1, -2))


def full_covariances(covars, covariance_type: str, n_components: int, n_features: int) -> np.ndarray:
    """Any covariance_type's compact form -> (n_components, D, D) full matrices."""
    c = np.asarray(covars, dtype=np.float64)
    if covariance_type == "full":
        return c
    if covariance_type == "diag":
        return np.einsum("kd,de->kde", c, np.eye(n_features))
    if covariance_type == "tied":
        return np.tile(c, (n_components, 1, 1))
    if covariance_type == "spherical":
        return c.reshape(-1)[:, None, None] * np.eye(n_features)[None]
    raise ValueError(f"covariance_type: expected one of {COVARIANCE_TYPES}, got {covariance_type!r}")


def validate_covars(covars, covariance_type: str, n_components: int, n_features: int, name="covars_") -> np.ndarray:
    """Shape, finiteness and positive-definiteness of a compact covariance parameter."""
    c = np.asarray(covars, dtype=np.float64)
    shapes = {"spherical": (n_components,), "diag": (n_components, n_features),
              "full": (n_components, n_features, n_features), "tied": (n_features, n_features)}
    if covariance_type not in shapes:
        raise ValueError(f"covariance_type: expected one of {COVARIANCE_TYPES}, got {covariance_type!r}")
    if c.shape != shapes[covariance_type]:
        raise ValueError(f"{name}: {covariance_type!r} covariances need shape {shapes[covariance_type]}, got {c.shape}")
    if not np.isfinite(c).all():
        raise ValueError(f"{name}: contains NaN or infinity")
    if covariance_type in ("spherical", "diag"):
        if (c <= 0).any():
            raise ValueError(f"{name}: {covariance_type!r} variances must be positive, got min {c.min()}")
    else:
        precision_cholesky(c, name)
    return c
