"""Plain NumPy oracles of the Gaussian mixture kernels (csrc/mixture/mixture.hpp,
fastgen/_cuda/mixture.py).

Written for clarity, not speed; everything in float64 whatever the input dtype. The uniforms and
normals come from the pure-Python Philox oracle (reference/rng.py), so these functions draw the
same random numbers as both backends.
"""
from __future__ import annotations

import math

import numpy as np

from . import rng as philox

SEED_CHUNK = 1024  # k-means++ cumulative sums: fixed chunks of rows (KERNELS.md)


def mixture_responsibilities(comp_logprob, log_weights):
    """(log_norm[N], resp[N, K]): logsumexp over components of comp_logprob + log_weights, and the
    normalised exponentials. A row that is all -inf gives -inf and zeros."""
    v = np.asarray(comp_logprob, np.float64) + np.asarray(log_weights, np.float64)[None, :]
    N, K = v.shape
    log_norm = np.full(N, -np.inf)
    resp = np.zeros((N, K))
    for n in range(N):
        mx = v[n].max()
        if mx == -np.inf:
            continue
        e = np.exp(v[n] - mx)
        log_norm[n] = mx + np.log(e.sum())
        resp[n] = e / e.sum()
    return log_norm, resp


def sq_dist(X, c):
    """sum_d (x_d - c_d)^2 per row of X, in float64 (no expansion trick)."""
    diff = np.asarray(X, np.float64) - np.asarray(c, np.float64)[None, :]
    return (diff * diff).sum(axis=1)


def kmeans_assign(X, centers):
    """(labels int64[N], min_dist2 float64[N]): nearest centre, ties to the lowest index."""
    d = np.stack([sq_dist(X, c) for c in np.asarray(centers)], axis=1)
    labels = d.argmin(axis=1)  # argmin returns the first minimum
    return labels.astype(np.int64), d[np.arange(len(d)), labels]


def chunked_cumsum(d2):
    """cumsum(d2) as the kernels define it: each chunk of SEED_CHUNK rows summed in row order,
    offset by the chunk totals before it (added in chunk order). Equal to np.cumsum up to rounding."""
    out = np.empty(len(d2))
    offset = 0.0
    for c0 in range(0, len(d2), SEED_CHUNK):
        local = np.cumsum(d2[c0:c0 + SEED_CHUNK])
        out[c0:c0 + SEED_CHUNK] = offset + local
        offset = offset + local[-1]
    return out


def kmeans_plusplus(X, n_clusters, n_local_trials, seed, stream, *, follow=None, tie_rtol=1e-12):
    """(centers float64[K, D], indices int64[K]): scikit-learn's greedy k-means++ on Philox uniforms.

    u[0] chooses the first centre uniformly; trial t of centre c uses u[1 + (c-1) L + t]: the
    candidate is the first point whose cumulative d2 exceeds u * total (sampling proportional to d2),
    and the candidate with the smallest potential sum_n min(d2_n, |x_n - cand|^2) wins.

    Two candidates can tie exactly in real arithmetic (two points alone in a cluster: either one
    leaves the same potential), and then the rounding of the sums decides. With `follow` (the
    indices under test), a trial within tie_rtol of the best potential that `follow` chose at that
    centre is taken instead, so only a choice that rounding cannot explain makes the two differ.
    """
    X = np.asarray(X, np.float64)
    N = len(X)
    K, L = int(n_clusters), int(n_local_trials)
    u = philox.uniform(seed, stream, 1 + (K - 1) * L)
    index_of = lambda v: min(int(math.floor(v * N)), N - 1)  # noqa: E731
    indices = [index_of(u[0])]
    d2 = sq_dist(X, X[indices[0]])
    for c in range(1, K):
        cum = chunked_cumsum(d2)
        total = cum[-1]
        trials = []
        for t in range(L):
            ut = u[1 + (c - 1) * L + t]
            if total > 0:
                above = np.flatnonzero(ut * total < cum)
                cand = int(above[0]) if above.size else N - 1
            else:
                cand = index_of(ut)
            new_d2 = np.minimum(d2, sq_dist(X, X[cand]))
            trials.append((new_d2.sum(), cand, new_d2))
        best_pot, best_idx, best_d2 = min(trials, key=lambda tr: tr[0])  # ties keep the earlier trial
        if follow is not None:
            near = [tr for tr in trials if tr[0] <= best_pot * (1 + tie_rtol) and tr[1] == follow[c]]
            if near:
                best_pot, best_idx, best_d2 = near[0]
        indices.append(best_idx)
        d2 = best_d2
    indices = np.array(indices, dtype=np.int64)
    return X[indices].copy(), indices


def sample_gaussian_mixture(weights, means, cov_chol, n_samples, seed, stream):
    """(X float64[n, D], labels int64[n]): label i by inverse CDF of the weights on u[i] of
    `stream`; x_i = means[label] + L[label] @ z[i D : (i + 1) D], z the normals of stream + 1."""
    w = np.asarray(weights, np.float64)
    mu = np.asarray(means, np.float64)
    Ls = np.tril(np.asarray(cov_chol, np.float64))  # only the lower triangle is part of the factor
    K, D = mu.shape
    n = int(n_samples)
    u = philox.uniform(seed, stream, n)
    z = philox.normal(seed, (int(stream) + 1) % (1 << 64), n * D).reshape(n, D)
    labels = np.empty(n, dtype=np.int64)
    X = np.empty((n, D))
    for i in range(n):
        acc, k = 0.0, None
        for j in range(K):
            acc += w[j]
            if u[i] < acc:
                k = j
                break
        if k is None:  # rounding left u past the total: the last component with weight > 0
            k = int(np.flatnonzero(w > 0)[-1])
        labels[i] = k
        L = Ls[k] if len(Ls) == K else Ls[0]
        X[i] = mu[k] + L @ z[i]
    return X, labels


def gaussian_logprob_full(X, means, prec_chol):
    """log N(x | mu_k, (P_k P_k^T)^-1) per row and component, P upper triangular (scikit-learn's
    precisions_cholesky_); C == 1 factor is shared by all components (tied)."""
    X, means = np.asarray(X, np.float64), np.asarray(means, np.float64)
    P = np.triu(np.asarray(prec_chol, np.float64))
    K, D = means.shape
    out = np.empty((len(X), K))
    for k in range(K):
        Pk = P[0] if len(P) == 1 else P[k]
        y = (X - means[k]) @ Pk
        out[:, k] = np.log(np.diag(Pk)).sum() - 0.5 * (D * np.log(2 * np.pi) + (y * y).sum(axis=1))
    return out


def gaussian_logprob_diag(X, means, precisions):
    """log N(x | mu_k, diag(1 / precisions_k)) per row and component."""
    X, means, prec = (np.asarray(a, np.float64) for a in (X, means, precisions))
    D = X.shape[1]
    out = np.empty((len(X), len(means)))
    for k in range(len(means)):
        r = X - means[k]
        out[:, k] = 0.5 * (np.log(prec[k]).sum() - D * np.log(2 * np.pi)) - 0.5 * (prec[k] * r * r).sum(axis=1)
    return out


def weighted_moments(X, W, order):
    """(sum_n w_nk, sum_n w_nk x_n, order 1: sum_n w_nk x_n^2 elementwise, order 2: sum_n w_nk x_n x_n^T)."""
    X, W = np.asarray(X, np.float64), np.asarray(W, np.float64)
    ws, wx = W.sum(axis=0), W.T @ X
    if order == 0:
        return ws, wx, None
    if order == 1:
        return ws, wx, W.T @ (X * X)
    return ws, wx, np.einsum("nk,ni,nj->kij", W, X, X)
