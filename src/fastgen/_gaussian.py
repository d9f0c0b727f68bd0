"""Covariance conversions shared by the Gaussian emissions (HMMs) and the Gaussian mixtures.

Kernels take precisions (diag) or scikit-learn's upper-triangular precision Cholesky factor P
(precision = P P^T) for full and tied covariances; see csrc/KERNELS.md.

Regularisation, hmmlearn's (``hmmlearn.stats``): the density of a covariance that EM left not
positive-definite (a constant feature, a state collapsed on a subspace) is taken with
``CHOLESKY_JITTER`` added to the diagonal of that matrix only, and a variance at or below zero is
floored at the dtype's smallest normal number; the parameter itself is not changed. User-set
covariances are checked strictly (``validate_covars``), as hmmlearn's setters do.
"""
from __future__ import annotations

import numpy as np

COVARIANCE_TYPES = ("spherical", "diag", "full", "tied")

# What hmmlearn adds to the diagonal of a covariance whose Cholesky factorisation fails
# (hmmlearn.stats._log_multivariate_normal_density_full's own min_covar default, not the
# estimator's min_covar, which only enters the initial covariances). Kept at hmmlearn's value so
# that fits which need it follow hmmlearn's EM path.
CHOLESKY_JITTER = 1e-7


def _check_symmetric(covars, name):
    scale = np.abs(covars).max() if covars.size else 1.0
    if not np.allclose(covars, np.swapaxes(covars, -1, -2), rtol=1e-8, atol=1e-12 * scale):
        raise ValueError(f"{name}: covariance matrices must be symmetric")


def _lower_to_precision_cholesky(L):
    D = L.shape[-1]
    eye = np.broadcast_to(np.eye(D), L.shape)
    Linv = np.linalg.solve(L, eye)           # lower triangular L^-1
    return np.ascontiguousarray(np.swapaxes(Linv, -1, -2))


def precision_cholesky(covars: np.ndarray, name: str = "covars_") -> np.ndarray:
    """(..., D, D) covariances -> (..., D, D) upper-triangular P with P P^T = inverse covariance.
    Strict: every matrix must be symmetric positive-definite (ValueError otherwise)."""
    covars = np.asarray(covars, dtype=np.float64)
    _check_symmetric(covars, name)
    try:
        L = np.linalg.cholesky(covars)
    except np.linalg.LinAlgError:
        raise ValueError(f"{name}: covariance matrices must be positive-definite") from None
    return _lower_to_precision_cholesky(L)


def regularised_cholesky(covars: np.ndarray, name: str = "covars_") -> np.ndarray:
    """Lower Cholesky factors of (..., D, D) symmetric covariances, hmmlearn's way: a matrix whose
    factorisation fails is factored again with CHOLESKY_JITTER on its diagonal; ValueError when
    that fails too. Positive-definite stacks take one stacked factorisation (the same bits as
    ``np.linalg.cholesky``)."""
    covars = np.asarray(covars, dtype=np.float64)
    try:
        return np.linalg.cholesky(covars)
    except np.linalg.LinAlgError:
        pass
    D = covars.shape[-1]
    flat = covars.reshape(-1, D, D)
    L = np.empty_like(flat)
    for k, c in enumerate(flat):
        try:
            L[k] = np.linalg.cholesky(c)
        except np.linalg.LinAlgError:
            try:
                L[k] = np.linalg.cholesky(c + CHOLESKY_JITTER * np.eye(D))
            except np.linalg.LinAlgError:
                raise ValueError(f"{name}: covariance matrices must be positive-definite (matrix {k} is not, "
                                 f"even with {CHOLESKY_JITTER:g} added to its diagonal)") from None
    return L.reshape(covars.shape)


def regularised_precision_cholesky(covars: np.ndarray, name: str = "covars_") -> np.ndarray:
    """precision_cholesky of symmetric covariances, regularised as regularised_cholesky."""
    covars = np.asarray(covars, dtype=np.float64)
    _check_symmetric(covars, name)
    return _lower_to_precision_cholesky(regularised_cholesky(covars, name))


def floored_variances(var: np.ndarray, dtype) -> np.ndarray:
    """Variances floored at `dtype`'s smallest normal number, as hmmlearn's diagonal density does
    (a zero or rounding-negative variance gives a finite, if extreme, log-density, never NaN);
    the floor follows the kernels' dtype so that its precision stays finite there."""
    return np.maximum(var, float(np.finfo(dtype).tiny))


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


def sampling_cholesky(covars, covariance_type: str, n_components: int, n_features: int) -> np.ndarray:
    """(n_components, D, D) lower factors L (covariance = L L^T) to draw with: the density's
    regularisation for full and tied matrices; for diagonal ones the standard deviations, a
    variance at or below zero drawing no spread (as numpy's multivariate_normal in hmmlearn)."""
    if covariance_type in ("diag", "spherical"):
        var = np.maximum(np.asarray(covars, dtype=np.float64), 0.0)
        return full_covariances(np.sqrt(var), covariance_type, n_components, n_features)
    return regularised_cholesky(full_covariances(covars, covariance_type, n_components, n_features))


def validate_covars(covars, covariance_type: str, n_components: int, n_features: int, name="covars_", *,
                    strict=True) -> np.ndarray:
    """Shape, finiteness and positive-definiteness of a compact covariance parameter.

    strict=False for covariances the last M-step produced: those are used through the density's
    regularisation (module docstring), as hmmlearn uses its own EM results, so only their shape,
    finiteness and symmetry are checked here."""
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
        if strict and (c <= 0).any():
            raise ValueError(f"{name}: {covariance_type!r} variances must be positive, got min {c.min()}")
    elif strict:
        precision_cholesky(c, name)
    else:
        _check_symmetric(c, name)
    return c
