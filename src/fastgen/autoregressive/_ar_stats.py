"""Likelihoods, information criteria and roots of linear AR/VAR fits, on arrays of per-series (and
per-order) statistics: O(S P k^3) NumPy work on the kernels' small outputs, vectorised (no loop over
series or time steps).

Conventions are statsmodels' (0.15), so that values can be compared one for one:
- AR (AutoReg): llf = -nobs / 2 (log(2 pi sigma2) + 1) with sigma2 = SSE / nobs, and
  aic = -2 llf + 2 (df + 1), bic = -2 llf + log(nobs) (df + 1), hqic = -2 llf + 2 log(log(nobs)) (df + 1),
  df = the number of regressors (AutoRegResults.df_model). ``ar_select_order`` counts the constant
  out of df (OLS's df_model), which shifts every order's criterion by the same amount;
  ``ar_criteria(..., select=True)`` reproduces its values.
- VAR (VARResults.info_criteria): ld = log det(Sigma_mle), free = p k^2 + k kt,
  aic = ld + 2 free / nobs, bic = ld + log(nobs) free / nobs, hqic = ld + 2 log(log(nobs)) free / nobs,
  fpe = ((nobs + df_model) / df_resid)^k exp(ld), df_model = k p + kt, df_resid = nobs - df_model;
  llf = -(nobs k / 2) log(2 pi) - (nobs / 2) (ld + k).
"""
from __future__ import annotations

import numpy as np

LOG_2PI = float(np.log(2 * np.pi))


def concentrated_llf(sigma2, nobs):
    """-nobs / 2 (log(2 pi sigma2) + 1): the Gaussian log-likelihood at sigma2 = SSE / nobs."""
    with np.errstate(divide="ignore"):
        return -0.5 * nobs * (LOG_2PI + np.log(sigma2) + 1.0)


def gaussian_llf(sse, sigma, nobs):
    """Conditional Gaussian log-likelihood of nobs residuals with sum of outer products `sse`
    (..., k, k) under innovation covariance `sigma` (k, k): -nobs k / 2 log(2 pi) - nobs / 2 log det
    sigma - tr(sigma^-1 sse) / 2."""
    sse = np.asarray(sse, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    k = sigma.shape[-1]
    sign, ld = np.linalg.slogdet(sigma)
    ld = np.where(sign > 0, ld, np.inf)
    quad = np.trace(np.linalg.solve(sigma, sse), axis1=-2, axis2=-1)
    return -0.5 * nobs * k * LOG_2PI - 0.5 * nobs * ld - 0.5 * quad


def ar_criteria(llf, nobs, df):
    """AutoReg's information criteria for log-likelihood llf, nobs observations, df regressors."""
    llf, nobs, df = np.asarray(llf, np.float64), np.asarray(nobs, np.float64), np.asarray(df, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"aic": -2 * llf + 2 * (df + 1),
                "bic": -2 * llf + np.log(nobs) * (df + 1),
                "hqic": -2 * llf + 2 * np.log(np.log(nobs)) * (df + 1)}


def logdet_spd(sigma):
    """log det of symmetric positive-definite matrices (..., k, k); -inf where not positive definite
    (statsmodels: a VAR without residual degrees of freedom)."""
    sign, ld = np.linalg.slogdet(np.asarray(sigma, np.float64))
    return np.where(sign > 0, ld, -np.inf)


def var_criteria(sigma_mle, nobs, k, order, kt):
    """statsmodels' VAR info_criteria for Sigma_mle (..., k, k), arrays broadcast over orders."""
    nobs = np.asarray(nobs, np.float64)
    order = np.asarray(order, np.float64)
    ld = logdet_spd(sigma_mle)
    free = order * k * k + k * kt
    df_model = k * order + kt
    df_resid = nobs - df_model
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        fpe = np.where(df_resid > 0, ((nobs + df_model) / df_resid) ** k * np.exp(ld), np.inf)
        return {"aic": ld + 2.0 / nobs * free,
                "bic": ld + np.log(nobs) / nobs * free,
                "hqic": ld + 2.0 * np.log(np.log(nobs)) / nobs * free,
                "fpe": fpe}


def var_llf(sigma_mle, nobs, k):
    return -0.5 * nobs * k * LOG_2PI - 0.5 * nobs * (logdet_spd(sigma_mle) + k)


def lag_matrices(params, kt, k, order):
    """A_1..A_p (..., p, k, k) from params (..., kt + p k, k): A_i[e, j] = params[kt + (i-1) k + j, e]."""
    lead = params.shape[:-2]
    B = params[..., kt:kt + order * k, :].reshape(lead + (order, k, k))
    return np.swapaxes(B, -1, -2)


def companion(coefs):
    """Companion matrices (..., p k, p k) of lag matrices (..., p, k, k)."""
    lead, p, k = coefs.shape[:-3], coefs.shape[-3], coefs.shape[-1]
    C = np.zeros(lead + (p * k, p * k))
    C[..., :k, :] = np.concatenate([coefs[..., i, :, :] for i in range(p)], axis=-1) if p else C[..., :k, :]
    if p > 1:
        C[..., k:, :-k] = np.eye((p - 1) * k)
    return C


def spectral_radius(coefs):
    """Largest eigenvalue modulus of the companion matrices (< 1 iff the process is stationary);
    0 for order 0."""
    if coefs.shape[-3] == 0:
        return np.zeros(coefs.shape[:-3])
    return np.abs(np.linalg.eigvals(companion(coefs))).max(axis=-1)


def ar_stationary(coef):
    """Whether each AR lag polynomial 1 - phi_1 z - ... - phi_p z^p (rows of coef, zero-padded)
    has all its roots outside the unit circle, by the Schur-Cohn step-down recursion (Levinson run
    backwards): the process is stationary iff every reflection coefficient kappa_m has |kappa_m| < 1,
    phi_{m-1, j} = (phi_{m, j} + kappa_m phi_{m, m-j}) / (1 - kappa_m^2), kappa_m = phi_{m, m}.
    O(S p^2) array operations: no eigenvalue problem per series."""
    a = np.array(coef, dtype=np.float64, ndmin=2)
    ok = np.ones(a.shape[0], dtype=bool)
    for m in range(a.shape[1], 0, -1):
        kappa = a[:, m - 1].copy()
        ok &= np.abs(kappa) < 1.0
        if m == 1:
            break
        den = np.where(ok, 1.0 - kappa * kappa, 1.0)
        a[:, :m - 1] = (a[:, :m - 1] + kappa[:, None] * a[:, m - 2::-1]) / den[:, None]
    return ok


def ar_roots(coef):
    """statsmodels' AutoRegResults.roots: roots of 1 - phi_1 z - ... - phi_p z^p (as np.roots(...)^-1)."""
    coef = np.asarray(coef, np.float64)
    if coef.size == 0:
        return np.empty(0, dtype=complex)
    with np.errstate(divide="ignore"):
        return np.roots(np.r_[1.0, -coef]) ** -1


def var_roots(coefs):
    """statsmodels' VARResults.roots: inverse companion eigenvalues, by decreasing modulus."""
    if coefs.shape[0] == 0:
        return np.empty(0, dtype=complex)
    with np.errstate(divide="ignore"):
        roots = np.linalg.eig(companion(coefs))[0] ** -1
    return roots[np.argsort(np.abs(roots))[::-1]]
