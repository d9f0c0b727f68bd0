"""k-means (k-means++ seeding + Lloyd iterations) for initialising means; vectorised NumPy.

Runs once per fit on the training data, so it needs to be reasonable, not a kernel; the Gaussian
mixture family will give it a kernel of its own.
"""
from __future__ import annotations

import numpy as np


def _sq_dist(X, C):
    d = (X * X).sum(1)[:, None] - 2 * X @ C.T + (C * C).sum(1)[None, :]
    return np.maximum(d, 0)


def _plus_plus(X, k, rs):
    centers = [X[rs.randint(len(X))]]
    d = _sq_dist(X, centers[0][None])[:, 0]
    for _ in range(1, k):
        total = d.sum()
        i = rs.randint(len(X)) if total <= 0 else min(np.searchsorted(np.cumsum(d), rs.rand() * total), len(X) - 1)
        centers.append(X[i])
        d = np.minimum(d, _sq_dist(X, X[i][None])[:, 0])
    return np.array(centers)


def kmeans(X, k, rs, n_init=3, max_iter=100, return_labels=False):
    """Best of `n_init` runs by inertia. Clusters left empty are re-seeded at the farthest point."""
    X = np.asarray(X, dtype=np.float64)
    if len(X) < k:
        # Fewer points than clusters: the points themselves plus jittered copies.
        C = X[rs.randint(len(X), size=k)] + 1e-3 * rs.standard_normal((k, X.shape[1])) * (X.std(0) + 1e-3)
        labels = _sq_dist(X, C).argmin(1)
        return (C, labels) if return_labels else C
    best = None
    for _ in range(n_init):
        C = _plus_plus(X, k, rs)
        for _ in range(max_iter):
            d = _sq_dist(X, C)
            labels = d.argmin(1)
            counts = np.bincount(labels, minlength=k)
            newC = np.zeros_like(C)
            np.add.at(newC, labels, X)
            empty = counts == 0
            newC[~empty] /= counts[~empty, None]
            if empty.any():
                far = np.argsort(d[np.arange(len(X)), labels])[::-1][: empty.sum()]
                newC[empty] = X[far]
            if np.allclose(newC, C, rtol=0, atol=1e-10 * (1 + np.abs(C).max())):
                C = newC
                break
            C = newC
        labels = _sq_dist(X, C).argmin(1)
        inertia = _sq_dist(X, C)[np.arange(len(X)), labels].sum()
        if best is None or inertia < best[0]:
            best = (inertia, C, labels)
    return (best[1], best[2]) if return_labels else best[1]
