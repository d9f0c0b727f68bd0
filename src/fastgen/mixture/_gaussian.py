"""K-sized Gaussian parameter algebra of the mixture family (scikit-learn's formulas).

The data-sized work (log-densities, responsibilities, moments) runs in kernels; what arrives here
is the kernel's moments `Moments` of the data shifted by its column mean, and what leaves is
parameters. Everything is O(K D^3) NumPy in float64.

Moments about the shift c: nk = sum_n r_nk, s1_k = sum_n r_nk (x_n - c), s2_k = sum_n r_nk
(x_n - c)(x_n - c)^T (full/tied) or its diagonal (diag/spherical). The scatter about any point mu
(in shifted coordinates) is s2 - s1 mu^T - mu s1^T + nk mu mu^T; with the shift at the data mean
the subtraction loses only digits of order |mu|^2 / variance, not |x|^2 / variance.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


LOG_2PI = math.log(2 * math.pi)


@dataclass
class Moments:
    """Kernel moments (float64 on the host) of data shifted by `shift`; see the module docstring."""
    nk: np.ndarray        # (K,)
    s1: np.ndarray        # (K, D)
    s2: np.ndarray        # (K, D, D) full/tied, (K, D) diag/spherical
    shift: np.ndarray     # (D,)
    eps: float            # machine epsilon of the compute dtype (scikit-learn's 10 eps guard on nk)
    data_s2: np.ndarray | None = None  # tied only: sum over all rows of (x - c)(x - c)^T


def moments_order(covariance_type) -> int:
    """weighted_moments order: full second moments for full/tied, their diagonal otherwise."""
    return 2 if covariance_type in ("full", "tied") else 1


def scatter(m: Moments, mu_s: np.ndarray) -> np.ndarray:
    """sum_n r_nk (x_n - c - mu_k)(...)^T per component (or its diagonal); mu_s in shifted coordinates."""
    if m.s2.ndim == 3:
        cross = m.s1[:, :, None] * mu_s[:, None, :]
        out = m.s2 - cross - np.swapaxes(cross, 1, 2) + m.nk[:, None, None] * mu_s[:, :, None] * mu_s[:, None, :]
        return 0.5 * (out + np.swapaxes(out, 1, 2))  # exactly symmetric
    return m.s2 - 2.0 * mu_s * m.s1 + m.nk[:, None] * mu_s * mu_s


def estimate_gaussian_parameters(m: Moments, reg_covar: float, covariance_type: str):
    """scikit-learn's _estimate_gaussian_parameters from moments: (nk + 10 eps, means in shifted
    coordinates, covariances with reg_covar on the diagonal, in covariance_type's compact shape)."""
    nk = m.nk + 10 * m.eps
    means_s = m.s1 / nk[:, None]
    sc = scatter(m, means_s)
    D = means_s.shape[1]
    if covariance_type == "full":
        cov = sc / nk[:, None, None] + reg_covar * np.eye(D)
    elif covariance_type == "tied":
        # scikit-learn subtracts the between-component scatter from the data's total second moment
        # (equal to the summed within-component scatter when every row's responsibilities sum to 1;
        # not so for 'random_from_data' starts, where only K rows have any). Taken about the data
        # mean here, where scikit-learn takes it about the origin.
        cov = (m.data_s2 - np.einsum("ki,kj->ij", m.s1, m.s1 / nk[:, None])) / nk.sum() + reg_covar * np.eye(D)
        cov = 0.5 * (cov + cov.T)
    elif covariance_type == "diag":
        cov = sc / nk[:, None] + reg_covar
    else:
        cov = (sc / nk[:, None] + reg_covar).mean(axis=1)
    return nk, means_s, cov


def _chol_to_precision_chol(L: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor(s) L of covariances -> upper P = L^-T (precision = P P^T)."""
    eye = np.broadcast_to(np.eye(L.shape[-1]), L.shape)
    return np.ascontiguousarray(np.swapaxes(np.linalg.solve(L, eye), -1, -2))


def _cholesky_or_none(c):
    try:
        return np.linalg.cholesky(c)
    except np.linalg.LinAlgError:
        return None


def precision_cholesky_guarded(cov: np.ndarray, covariance_type: str, floor: float, dtype=np.float64):
    """scikit-learn's precisions_cholesky_ from covariances, without its hard failure: a component
    whose covariance is not positive-definite (collapsed on a point or a subspace with little
    regularisation) is reset to `floor` * I (diag/spherical: its offending variances to `floor`).
    So is one whose precisions would overflow the kernels' `dtype` (variances below its smallest
    normal number, or a factor past its largest: a variance of 1e-310 passes Cholesky but its
    precision is inf), since the kernels would turn them into +inf log-densities.

    Returns (precisions_cholesky, covariances as used, indices of the reset components)."""
    tiny = float(np.finfo(dtype).tiny)
    if covariance_type in ("diag", "spherical"):
        bad_entries = ~((cov >= tiny) & (cov < np.inf))  # also NaN
        bad = np.flatnonzero(bad_entries.reshape(len(cov), -1).any(axis=1)) if covariance_type == "diag" \
            else np.flatnonzero(bad_entries)
        if bad.size:
            cov = np.where(bad_entries, floor, cov)
        return 1.0 / np.sqrt(cov), cov, bad
    stack = cov[None] if covariance_type == "tied" else cov
    D = stack.shape[-1]
    L = _cholesky_or_none(stack)
    bad_list = []
    if L is None:
        stack = stack.copy()
        L = np.empty_like(stack)
        for k in range(len(stack)):
            Lk = _cholesky_or_none(stack[k])
            if Lk is None:
                bad_list.append(k)
                stack[k] = floor * np.eye(D)
                Lk = math.sqrt(floor) * np.eye(D)
            L[k] = Lk
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        P = _chol_to_precision_chol(L)
        # The kernels take P in `dtype`; P P^T (the precision) must stay finite there too.
        limit = math.sqrt(float(np.finfo(dtype).max) / max(D, 1))
        unusable = ~(np.abs(P) <= limit).reshape(len(P), -1).all(axis=1)
    if unusable.any():
        stack = stack.copy()
        for k in np.flatnonzero(unusable):
            bad_list.append(int(k))
            stack[k] = floor * np.eye(D)
            P[k] = np.eye(D) / math.sqrt(floor)
    bad = np.array(sorted(set(bad_list)), dtype=np.int64)
    if covariance_type == "tied":
        return P[0], stack[0], bad
    return P, stack, bad


def _not_above(cov: np.ndarray, thresh: np.ndarray) -> np.ndarray:
    """Indices k whose smallest eigenvalue of cov[k] is <= thresh[k]: where cov[k] - thresh[k] I is
    not positive-definite. One stacked Cholesky in the usual case that none is (an eigenvalue
    decomposition per iteration cost 6x the M-step at K=16, D=8); one per matrix otherwise."""
    shifted = cov - thresh[:, None, None] * np.eye(cov.shape[-1])
    if _cholesky_or_none(shifted) is not None:
        return np.array([], dtype=np.int64)
    return np.array([k for k in range(len(cov)) if _cholesky_or_none(shifted[k]) is None], dtype=np.int64)


def collapsed_components(m: Moments, means_s: np.ndarray, covariance_type: str) -> np.ndarray:
    """Components whose covariance before reg_covar is singular to rounding: collapsed on a point
    or a subspace (fewer distinct points than dimensions, or a feature constant within the
    component), so that reg_covar alone sets their variance along those directions. Components
    with no responsibility mass (nk < 10 eps) are not reported here.

    The scatter is formed by subtraction from the moments about the shift (module docstring), each
    rounded to the compute dtype's eps: its error is at most ~4 eps (s2 / nk). An eigenvalue
    (diag: a variance; spherical: their mean) at or below 8 eps times the matching raw second
    moment is indistinguishable from zero. Tied: index 0 when the pooled covariance is singular.
    """
    eps = m.eps
    if covariance_type == "tied":
        nk = m.nk + 10 * eps
        between = np.einsum("ki,kj->ij", m.s1, m.s1 / nk[:, None])
        n = float(nk.sum())
        cov0 = 0.5 * ((m.data_s2 - between) + (m.data_s2 - between).T) / n
        thresh = 8 * eps * np.trace(m.data_s2) / n
        return _not_above(cov0[None], np.array([thresh]))
    has_mass = m.nk >= 10 * eps
    nk = m.nk + 10 * eps
    sc = scatter(m, means_s)
    if covariance_type == "full":
        flat = np.zeros(len(nk), dtype=bool)
        flat[_not_above(sc / nk[:, None, None], 8 * eps * np.trace(m.s2, axis1=1, axis2=2) / nk)] = True
    elif covariance_type == "diag":
        flat = (sc <= 8 * eps * m.s2).any(axis=1)
    else:
        flat = sc.sum(axis=1) <= 8 * eps * m.s2.sum(axis=1)
    return np.flatnonzero(flat & has_mass)


def _flip(a):
    return a[..., ::-1, ::-1]


def precision_cholesky_from_precisions(prec: np.ndarray, covariance_type: str) -> np.ndarray:
    """Upper P with P P^T = precision, by Cholesky of the row/column-reversed precision (J L J with
    J L L^T J = precision; scikit-learn's _compute_precision_cholesky_from_precisions)."""
    if covariance_type in ("full", "tied"):
        return np.ascontiguousarray(_flip(np.linalg.cholesky(_flip(prec))))
    return np.sqrt(prec)


def precisions_from_cholesky(P: np.ndarray, covariance_type: str) -> np.ndarray:
    if covariance_type in ("full", "tied"):
        return P @ np.swapaxes(P, -1, -2)
    return P ** 2


def covariances_from_precisions(prec: np.ndarray, covariance_type: str) -> np.ndarray:
    if covariance_type in ("full", "tied"):
        c = np.linalg.inv(prec)
        return 0.5 * (c + np.swapaxes(c, -1, -2))
    return 1.0 / prec


def log_det_cholesky(P: np.ndarray, covariance_type: str, n_features: int):
    """sum log diag(P): half the log-determinant of the precision (per component; tied: a scalar)."""
    if covariance_type == "full":
        return np.log(np.diagonal(P, axis1=1, axis2=2)).sum(axis=1)
    if covariance_type == "tied":
        return float(np.log(np.diag(P)).sum())
    if covariance_type == "diag":
        return np.log(P).sum(axis=1)
    return n_features * np.log(P)


def kernel_precisions(P: np.ndarray, covariance_type: str, n_components: int, n_features: int):
    """What the shared Gaussian kernels take: the upper factors (C, D, D) for gaussian_logprob_full
    (tied: C = 1) or the precisions (K, D) for gaussian_logprob_diag (spherical: repeated over D)."""
    if covariance_type == "full":
        return P
    if covariance_type == "tied":
        return P[None]
    if covariance_type == "diag":
        return P ** 2
    return np.repeat((P ** 2)[:, None], n_features, axis=1)


def quadratic_terms(sc: np.ndarray, kprec: np.ndarray, covariance_type: str) -> np.ndarray:
    """sum_n r_nk |(x_n - mu_k) P_k|^2 from the scatter about mu_k: tr(P^T S P) (diag: sum prec * S)."""
    if covariance_type in ("full", "tied"):
        P = np.broadcast_to(kprec, sc.shape)
        return np.einsum("kij,kjl,kil->k", sc, P, P)
    return (sc * kprec).sum(axis=1)


def covariance_cholesky_lower(cov: np.ndarray, covariance_type: str, n_components: int, n_features: int):
    """Lower L with L L^T = covariance, (C, D, D) as sample_gaussian_mixture takes it (tied: C = 1)."""
    if covariance_type == "full":
        return np.linalg.cholesky(cov)
    if covariance_type == "tied":
        return np.linalg.cholesky(cov)[None]
    sd = np.sqrt(cov if covariance_type == "diag" else np.repeat(cov[:, None], n_features, axis=1))
    return sd[:, :, None] * np.eye(n_features)[None]


def n_covariance_parameters(covariance_type, K, D):
    return {"full": K * D * (D + 1) / 2.0, "diag": K * D, "tied": D * (D + 1) / 2.0,
            "spherical": K}[covariance_type]


# -- special functions for the variational bounds (K-sized arguments, all positive) -------------------

def gammaln(x) -> np.ndarray:
    """log Gamma(x) elementwise (math.lgamma: correctly rounded to about 1 ulp)."""
    x = np.asarray(x, dtype=np.float64)
    return np.vectorize(math.lgamma, otypes=[np.float64])(x) if x.size else x.copy()


def betaln(a, b) -> np.ndarray:
    return gammaln(a) + gammaln(b) - gammaln(np.asarray(a) + np.asarray(b))


# Bernoulli terms of the asymptotic digamma series: B_2k / (2k), k = 1..7.
_DIGAMMA_SERIES = (1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132, -691 / 32760, 1 / 12)


def digamma(x) -> np.ndarray:
    """psi(x) for x > 0: the recurrence psi(x) = psi(x + 1) - 1/x up to x >= 10, then the asymptotic
    series ln x - 1/(2x) - sum_k B_2k / (2k x^2k) (truncation error below 1e-17 there)."""
    x = np.array(x, dtype=np.float64, copy=True)
    acc = np.zeros_like(x)
    small = x < 10
    while small.any():
        acc[small] -= 1.0 / x[small]
        x[small] += 1.0
        small = x < 10
    inv2 = 1.0 / (x * x)
    series = 0.0
    for c in reversed(_DIGAMMA_SERIES):
        series = (series + c) * inv2
    return acc + np.log(x) - 0.5 / x - series
