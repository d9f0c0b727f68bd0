"""k-means for initialising means (HMMs, Gaussian mixtures): k-means++ seeding and Lloyd iterations
on the kernels ``mixture.kmeans_plusplus`` and ``mixture.kmeans_assign`` of the caller's backend
(csrc/mixture/ on the CPU, _cuda/mixture.py on GPUs: the same contract, the same labels).

The per-point work (distances, nearest centre) is in the kernels; Python only does the O(K D)
centre update per iteration. Its per-cluster sums, the empty-cluster reseeding and the
convergence test run where the data live (``fastgen._reductions``): ``np.bincount`` sums over host
data, ``weighted_moments`` with one-hot weights on the device for device data, whose labels and
distances then stay there. Seeding follows scikit-learn (greedy k-means++ with 2 + int(log K)
local trials). The random numbers are Philox uniforms under one uint64 seed drawn from the
caller's RandomState, one stream per restart, so a given RandomState gives the same clusters on
any thread count and on either backend.
"""
from __future__ import annotations

import math

import numpy as np

from .. import _reductions as rd


class _Kernels:
    """kmeans_assign / kmeans_plusplus of one backend on the data `Xd` (host or device, the
    backend's dtype); centres are passed in Xd's dtype and come back to the host. Labels and
    squared distances come back too for host data X, and stay on the device for device data."""

    def __init__(self, backend, Xd, X):
        self.backend, self.kern, self.Xd = backend, backend.kernels, Xd
        self.dtype = np.dtype(Xd.dtype)
        self.keep = rd.on_device(X)

    def assign(self, C):
        labels, d2 = self.kern.mixture.kmeans_assign(self.Xd, np.ascontiguousarray(C, dtype=self.dtype))
        if self.keep:
            return labels, d2
        return self.backend.host(labels).astype(np.int64, copy=False), self.backend.host(d2).astype(np.float64)

    def plusplus(self, k, n_local_trials, seed, stream):
        return self.backend.host(self.kern.mixture.kmeans_plusplus(self.Xd, k, n_local_trials, seed, stream)[0]).astype(
            np.float64)


def _lloyd(X, C, max_iter, kk, shift=None):
    """Lloyd iterations from centres C (of X - shift) -> (centres, labels, inertia). A cluster left
    empty is re-seeded at the points farthest from their centres (scikit-learn's rule)."""
    k, be = len(C), kk.backend
    labels, d2 = kk.assign(C)
    for _ in range(max_iter):
        counts, sums = rd.cluster_sums(X, labels, k, be, shift)
        empty = counts == 0
        newC = C.copy()
        newC[~empty] = sums[~empty] / counts[~empty, None]
        if empty.any():
            newC[empty] = rd.take_rows(X, rd.largest(d2, int(empty.sum()), be), be, shift)
        d2 = None  # (used: not beside the new distances)
        new_labels, d2 = kk.assign(newC)
        C = newC
        if not empty.any() and rd.equal(new_labels, labels, be):
            break  # a fixed point: the next update would give the same centres
        labels = new_labels
    return C, labels, rd.total(d2, be)


def kmeans(X, k, rs, *, backend, n_init=3, max_iter=100, return_labels=False, Xd=None, shift=None):
    """Best of `n_init` k-means runs by inertia -> centres (k, D), and labels (N,) if asked.

    rs: a np.random.RandomState; one uint64 seed is drawn from it per call.
    X: the data, a NumPy array (float32 or float64, else converted to float64) or a device array
    (then the labels are one too); the clusters are those of X - shift (float64) when `shift` is given.
    backend, Xd: the estimator's ``Backend`` (its device and dtype) and its copy of X (- shift) on
    that device (default: put there by this call), where the distances are computed; X gives the
    centres, in float64 (host X is shifted a column at a time: no float64 copy of float32 data).
    """
    if rd.on_device(X):
        X, shift = (X if shift is None else rd.shifted(X, shift, backend)), None
    elif shift is None or X.dtype not in (np.float32, np.float64):
        X = np.ascontiguousarray(X, dtype=np.float64)
    kk = _Kernels(backend, backend.put(X if shift is None else rd.shifted(X, shift, backend)) if Xd is None else Xd, X)
    k = int(k)
    if X.shape[0] < k:
        # Fewer points than clusters: the points themselves plus jittered copies.
        C = rd.take_rows(X, rs.randint(X.shape[0], size=k), backend, shift) \
            + 1e-3 * rs.standard_normal((k, X.shape[1])) * (rd.column_std(X, backend) + 1e-3)
        C = np.ascontiguousarray(C)
        labels = kk.assign(C)[0]
        return (C, labels) if return_labels else C
    seed = int(rs.randint(0, 2**64, dtype=np.uint64))
    n_local_trials = 2 + int(math.log(k))
    best = None
    for run in range(n_init):
        C = kk.plusplus(k, n_local_trials, seed, run)
        C, labels, inertia = _lloyd(X, C, max_iter, kk, shift)
        if best is None or inertia < best[0]:
            best = (inertia, C, labels)
    return (best[1], best[2]) if return_labels else best[1]
