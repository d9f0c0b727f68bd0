"""k-means for initialising means (HMMs, Gaussian mixtures): k-means++ seeding and Lloyd iterations
on the kernels ``mixture.kmeans_plusplus`` and ``mixture.kmeans_assign`` of the caller's backend
(csrc/mixture/ on the CPU, _cuda/mixture.py on GPUs: the same contract, the same labels).

The per-point work (distances, nearest centre) is in the kernels; Python only does the O(K D)
centre update per iteration, with ``np.bincount`` sums over the host copy of the data. Seeding
follows scikit-learn (greedy k-means++ with 2 + int(log K) local trials). The random numbers are
Philox uniforms under one uint64 seed drawn from the caller's RandomState, one stream per restart,
so a given RandomState gives the same clusters on any thread count and on either backend.
"""
from __future__ import annotations

import math

import numpy as np


class _Kernels:
    """kmeans_assign / kmeans_plusplus of one backend on the data `Xd` (host or device, the
    backend's dtype), returning host arrays; centres are passed in Xd's dtype."""

    def __init__(self, backend, Xd):
        self.kern, self.host, self.Xd = backend.kernels, backend.host, Xd
        self.dtype = np.dtype(Xd.dtype)

    def assign(self, C):
        labels, d2 = self.kern.mixture.kmeans_assign(self.Xd, np.ascontiguousarray(C, dtype=self.dtype))
        return self.host(labels).astype(np.int64, copy=False), self.host(d2).astype(np.float64)

    def plusplus(self, k, n_local_trials, seed, stream):
        return self.host(self.kern.mixture.kmeans_plusplus(self.Xd, k, n_local_trials, seed, stream)[0]).astype(
            np.float64)


def _lloyd(X, C, max_iter, kk):
    """Lloyd iterations from centres C -> (centres, labels, inertia). A cluster left empty is
    re-seeded at the points farthest from their centres (scikit-learn's rule)."""
    k = len(C)
    labels, d2 = kk.assign(C)
    for _ in range(max_iter):
        counts = np.bincount(labels, minlength=k)
        sums = np.stack([np.bincount(labels, weights=X[:, d], minlength=k) for d in range(X.shape[1])], axis=1)
        empty = counts == 0
        newC = C.copy()
        newC[~empty] = sums[~empty] / counts[~empty, None]
        if empty.any():
            far = np.argsort(d2, kind="stable")[::-1][: empty.sum()]
            newC[empty] = X[far]
        new_labels, d2 = kk.assign(newC)
        C = newC
        if np.array_equal(new_labels, labels) and not empty.any():
            break  # a fixed point: the next update would give the same centres
        labels = new_labels
    return C, labels, float(d2.sum())


def kmeans(X, k, rs, *, backend, n_init=3, max_iter=100, return_labels=False, Xd=None):
    """Best of `n_init` k-means runs by inertia -> centres (k, D), and labels (N,) if asked.

    rs: a np.random.RandomState; one uint64 seed is drawn from it per call.
    backend, Xd: the estimator's ``Backend`` (its device and dtype) and its copy of X on that device
    (default: put there by this call), where the distances are computed; X (host) gives the centres.
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    kk = _Kernels(backend, backend.put(X) if Xd is None else Xd)
    k = int(k)
    if len(X) < k:
        # Fewer points than clusters: the points themselves plus jittered copies.
        C = X[rs.randint(len(X), size=k)] + 1e-3 * rs.standard_normal((k, X.shape[1])) * (X.std(0) + 1e-3)
        C = np.ascontiguousarray(C)
        labels = kk.assign(C)[0]
        return (C, labels) if return_labels else C
    seed = int(rs.randint(0, 2**64, dtype=np.uint64))
    n_local_trials = 2 + int(math.log(k))
    best = None
    for run in range(n_init):
        C = kk.plusplus(k, n_local_trials, seed, run)
        C, labels, inertia = _lloyd(X, C, max_iter, kk)
        if best is None or inertia < best[0]:
            best = (inertia, C, labels)
    return (best[1], best[2]) if return_labels else best[1]
