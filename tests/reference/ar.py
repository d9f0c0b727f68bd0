"""Plain NumPy oracles of the linear AR/VAR kernels (csrc/KERNELS.md, "Linear autoregressive models").

Written for clarity, not speed: explicit lag matrices and least squares (``np.linalg.lstsq``, an
SVD: no normal equations), explicit autocovariance sums and Toeplitz matrices solved by
``np.linalg.solve``, and the forecast / simulation recursions step by step.

Conventions shared with the kernels: a series Y is (n, k); params are (kt + p k, k) with rows
[1 | t | lag 1 | ... | lag p] (as the trend has them: "n" none, "c" constant, "t" time, "ct" both),
columns the equations; the time regressor of row t (0-based) is t + 1.
"""
from __future__ import annotations

import numpy as np

TREND_NAMES = {0: "n", 1: "c", 2: "t", 3: "ct"}


def n_trend(trend: str) -> int:
    return {"n": 0, "c": 1, "t": 1, "ct": 2}[trend]


def design(Y, p, trend, first=None):
    """(X, targets) of the lag-p regression of Y (n, k) on targets rows first..n-1 (first = p)."""
    Y = np.asarray(Y, np.float64)
    n, k = Y.shape
    first = p if first is None else first
    rows = np.arange(first, n)
    cols = []
    if "c" in trend:
        cols.append(np.ones((rows.size, 1)))
    if "t" in trend:
        cols.append((rows + 1.0)[:, None])
    for i in range(1, p + 1):
        cols.append(Y[rows - i])
    X = np.hstack(cols) if cols else np.zeros((rows.size, 0))
    return X, Y[rows]


def ols(Y, p, trend, first=None):
    """(params (kt + p k, k), SSE (k, k)) by least squares on the explicit lag matrix."""
    X, T = design(Y, p, trend, first)
    if X.shape[1]:
        B = np.linalg.lstsq(X, T, rcond=None)[0]
    else:
        B = np.zeros((0, T.shape[1]))
    R = T - X @ B
    return B, R.T @ R


def autocovariances(Y, p, demean, adjusted):
    """Gamma(h) = sum_{t=h}^{n-1} (y_t - mu)(y_{t-h} - mu)^T / den_h, h = 0..p, and mu."""
    Y = np.asarray(Y, np.float64)
    n, k = Y.shape
    mu = Y.mean(axis=0) if demean else np.zeros(k)
    Z = Y - mu
    G = np.empty((p + 1, k, k))
    for h in range(p + 1):
        den = (n - h) if adjusted else n
        G[h] = Z[h:].T @ Z[:n - h] / den
    return G, mu


def yule_walker(Y, p, demean, adjusted):
    """(params (demean + p k, k), Sigma (k, k)): the block Toeplitz system R B = r solved densely,
    R[i, j] = Gamma(j - i) (Gamma(-h) = Gamma(h)^T), r[i] = Gamma(i + 1)^T, Sigma = Gamma(0) - B^T r."""
    G, mu = autocovariances(Y, p, demean, adjusted)
    k = G.shape[1]

    def gam(h):
        return G[h] if h >= 0 else G[-h].T

    R = np.block([[gam(j - i) for j in range(p)] for i in range(p)]) if p else np.zeros((0, 0))
    r = np.vstack([gam(i + 1).T for i in range(p)]) if p else np.zeros((0, k))
    B = np.linalg.solve(R, r) if p else np.zeros((0, k))
    Sigma = G[0] - B.T @ r
    Sigma = 0.5 * (Sigma + Sigma.T)
    rows = []
    if demean:
        A_sum = sum((B[i * k:(i + 1) * k].T for i in range(p)), np.zeros((k, k)))
        rows.append(((np.eye(k) - A_sum) @ mu)[None, :])
    rows.append(B)
    return np.vstack(rows), Sigma


def sse(Y, params, p, trend):
    """Residual sum of outer products of the one-step residuals, targets p..n-1."""
    X, T = design(Y, p, trend)
    R = T - X @ params[:X.shape[1]]
    return R.T @ R


def lag_matrices(params, p, trend):
    kt = n_trend(trend)
    k = params.shape[1]
    return [params[kt + i * k:kt + (i + 1) * k].T for i in range(p)]


def deterministic(params, trend, t_index):
    v = np.zeros(params.shape[1])
    r = 0
    if "c" in trend:
        v = v + params[r]
        r += 1
    if "t" in trend:
        v = v + params[r] * t_index
    return v


def forecast(params, p, trend, y_last, t_next, sigma, steps):
    """(mean (steps, k), mse (steps, k, k)): the recursion on its own forecasts, and
    MSE(h) = sum_{j <= h} Phi_j Sigma Phi_j^T, Phi_0 = I, Phi_j = sum_i A_i Phi_{j-i}."""
    A = lag_matrices(params, p, trend)
    k = params.shape[1]
    hist = [np.asarray(v, np.float64) for v in np.asarray(y_last, np.float64).reshape(p, k)]
    mean = []
    for h in range(steps):
        v = deterministic(params, trend, t_next + h)
        for i in range(1, p + 1):
            v = v + A[i - 1] @ hist[-i]
        hist.append(v)
        mean.append(v)
    Phi = [np.eye(k)]
    for j in range(1, steps):
        Phi.append(sum((A[i - 1] @ Phi[j - i] for i in range(1, min(j, p) + 1)), np.zeros((k, k))))
    mse, acc = [], np.zeros((k, k))
    for j in range(steps):
        acc = acc + Phi[j] @ sigma @ Phi[j].T
        mse.append(acc.copy())
    return np.array(mean).reshape(steps, k), np.array(mse).reshape(steps, k, k)


def simulate(params, p, trend, chol, y_last, t_next, n_steps, n_paths, seed, stream, normal):
    """(n_paths, n_steps, k) paths: y_h = det(t_next + h) + sum_i A_i y_{h-i} + L z_h, z_h the
    normals z[h k .. h k + k) of stream `stream + j` for path j, from normal(seed, stream, n)."""
    A = lag_matrices(params, p, trend)
    k = params.shape[1]
    out = np.empty((n_paths, n_steps, k))
    for j in range(n_paths):
        z = np.asarray(normal(seed, stream + j, n_steps * k), np.float64).reshape(n_steps, k)
        hist = [np.asarray(v, np.float64) for v in np.asarray(y_last, np.float64).reshape(p, k)]
        for h in range(n_steps):
            v = deterministic(params, trend, t_next + h) + chol @ z[h]
            for i in range(1, p + 1):
                v = v + A[i - 1] @ hist[-i]
            hist.append(v)
            out[j, h] = v
    return out
