"""Gaussian mixture kernels on CUDA (Numba); contract in ``csrc/KERNELS.md`` (same names,
arguments and results as ``fastgen._core``, ``csrc/mixture/mixture.hpp``):

- ``responsibilities(comp_logprob T[N, K], log_weights T[K], want_resp) -> (log_norm, resp or None)``
- ``e_step_full(X, means, prec_chol, log_weights)`` / ``e_step_diag(X, means, precisions, log_weights)``
  ``-> (log_norm_sum, nk T[K], s1 T[K, D], s2)``: the E-step's sums. Composed here of the three
  kernels the CPU fuses (log-densities, responsibilities in place, weighted moments): the same
  results as the device's two-step path. Not fused on the GPU yet: no GPU was lent to time whether
  keeping the N x K array in registers pays there (device bandwidth is ~20x a CPU's).
- ``kmeans_plusplus(X T[N, D], n_clusters, n_local_trials, seed, stream) -> (centers T[K, D], indices int64[K])``
- ``kmeans_assign(X T[N, D], centers T[K, D]) -> (labels int64[N], min_dist2 T[N])``
- ``sample_gaussian_mixture(weights T[K], means T[K, D], cov_chol T[C, D, D], n_samples, seed, stream)
  -> (X T[n, D], labels int64[n])``

Inputs are NumPy arrays (copied to the device once) or device arrays (used in place); results are
Numba device arrays. Sums are formed in float64 and rounded to T once, as on the CPU.

k-means++ runs a host loop over centres with five small launches each and no host round trip:
chunk sums of d2 (one thread per fixed 1024-row chunk, rows in order, exactly the CPU's chunks),
candidate search (one thread per trial), trial potentials (one thread per (chunk, trial)), the
choice (one thread: potentials added in chunk order, ties to the earlier trial) and the d2 update
(one thread per row). The candidate search uses the same chunked cumulative sums as the CPU, so
both pick the same points unless a uniform falls within rounding of a cumulative-sum boundary.

Sampling draws its uniforms and normals with ``common.philox.uniform`` / ``normal`` (the one Philox of
the package): labels are bit-identical to the CPU's, samples agree to an ulp or so (libdevice
log/cos/sin against glibc's).

Bad data found on the device (NaN/+inf rows of comp_logprob, non-finite distances in
kmeans_assign, NaN/inf in X for kmeans_plusplus when X is device-resident) is reported through one
8-byte copy of the first bad row, raising the same ValueError as the CPU.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from .common import philox as _philox
from .common.args import checked, DevArg, launch
from .emissions.emissions import gaussian_logprob_diag, gaussian_logprob_full
from .emissions.stats import shifted_sum as _shifted_sum, weighted_moments
from .common.widen import f64 as _f64

__all__ = ["responsibilities", "e_step_full", "e_step_diag", "kmeans_plusplus", "kmeans_assign", "sample_gaussian_mixture"]

_NEG_INF = -math.inf
_INF = math.inf
SEED_CHUNK = 1024  # rows per chunk of the k-means++ sums (csrc/mixture/mixture.hpp kSeedChunk)


def _host_copy(arg: DevArg) -> np.ndarray:
    """The values of a small parameter array on the host (one copy for device-resident input)."""
    return arg.host if arg.host is not None else arg.dev.copy_to_host()


def _report_first_bad(flag, n, message):
    """flag: device int64[1] holding the first bad row or n; raise ValueError(message(row))."""
    bad = int(flag.copy_to_host()[0])
    if bad < n:
        raise ValueError(message(bad))



# ---------------------------------------------------------------------------------------------
# Responsibilities


@cuda.jit
def _responsibilities_kernel(lp, lw, want_resp, log_norm, resp, bad):
    """One thread per row: the mixture kernels' shifted sum (stats.shifted_sum, one group: lw is
    (1, K)), log_norm = max + log(sum), resp = exp / sum."""
    n = cuda.grid(1)
    N = lp.shape[0]
    K = lp.shape[1]
    if n >= N:
        return
    mx, s = _shifted_sum(lp, n, 0, lw, 0, K)
    if mx == _NEG_INF:
        log_norm[n] = _NEG_INF
        if want_resp:
            for k in range(K):
                resp[n, k] = 0.0
        return
    if not (mx < _INF):  # NaN or +inf in the row
        cuda.atomic.min(bad, 0, n)
        log_norm[n] = mx
        return
    log_norm[n] = mx + math.log(s)
    if want_resp:
        inv = 1.0 / s
        for k in range(K):
            resp[n, k] = math.exp(_f64(lp[n, k]) + _f64(lw[0, k]) - mx) * inv


def responsibilities(comp_logprob, log_weights, want_resp=True, in_place=False):
    """(log_norm T[N], resp T[N, K] or None): logsumexp_k(comp_logprob + log_weights) and the
    normalised exponentials; an all -inf row gives -inf and zeros. in_place: resp is written over
    comp_logprob (a device array of the right dtype), which is returned as resp."""
    Lp = DevArg(comp_logprob, "comp_logprob", 2)
    dtype = Lp.float_dtype()
    N, K = Lp.shape
    if K < 1:
        raise ValueError("comp_logprob: need at least one component")
    Lw = checked(log_weights, "log_weights", dtype, K)
    lw = _host_copy(Lw)
    bad_w = np.flatnonzero(np.isnan(lw) | (lw == np.inf))
    if bad_w.size:  # -inf is a zero weight; NaN and +inf are not weights
        raise ValueError(f"log_weights: entry {int(bad_w[0])} is NaN or +inf")
    want_resp = bool(want_resp)
    log_norm = cuda.device_array(N, dtype=dtype)
    if in_place and Lp.host is not None:
        raise ValueError("comp_logprob: in_place needs a device array")
    # In place, each thread reads its row's log-densities before writing its responsibilities.
    resp = (Lp.device() if in_place else cuda.device_array((N, K), dtype=dtype)) if want_resp else None
    if N == 0:
        return log_norm, resp
    bad = cuda.to_device(np.array([N], dtype=np.int64))
    resp_arg = resp if want_resp else cuda.device_array((1, 1), dtype=dtype)
    _responsibilities_kernel[launch(N)](Lp.device(), Lw.device().reshape(1, K), want_resp, log_norm, resp_arg, bad)
    _report_first_bad(bad, N, lambda n: f"comp_logprob: row {n} contains NaN or +inf")
    return log_norm, resp


def _e_step(X, log_norm_lp, log_weights, order):
    """log_norm_lp: the (N, K) log-densities, overwritten by the responsibilities."""
    log_norm, resp = responsibilities(log_norm_lp, log_weights, True, True)
    col = log_norm.reshape(log_norm.shape[0], 1)
    log_norm_sum = float(weighted_moments(col, col, 0)[0].copy_to_host()[0])
    return (log_norm_sum,) + tuple(weighted_moments(X, resp, order))


def e_step_full(X, means, prec_chol, log_weights):
    """Fused E-step contract, full or tied Gaussians -> (log_norm_sum, nk, s1, s2 T[K, D, D])."""
    return _e_step(X, gaussian_logprob_full(X, means, prec_chol), log_weights, 2)


def e_step_diag(X, means, precisions, log_weights):
    """Fused E-step contract, diagonal Gaussians -> (log_norm_sum, nk, s1, s2 T[K, D])."""
    return _e_step(X, gaussian_logprob_diag(X, means, precisions), log_weights, 1)


# ---------------------------------------------------------------------------------------------
# Distances


@cuda.jit(device=True)
def _dist2(X, n, Y, m):
    """sum_d (X[n, d] - Y[m, d])^2 in float64, d in order (no expansion: duplicates give 0)."""
    s = 0.0
    for d in range(X.shape[1]):
        v = _f64(X[n, d]) - _f64(Y[m, d])
        s += v * v
    return s


@cuda.jit
def _assign_kernel(X, C, labels, mind2, bad):
    """One thread per row: the nearest centre (strict <: ties keep the lower index)."""
    n = cuda.grid(1)
    if n >= X.shape[0]:
        return
    best = _INF
    lbl = 0
    for k in range(C.shape[0]):
        d = _dist2(X, n, C, k)
        if d < best:
            best = d
            lbl = k
    if best == _INF:  # NaN/inf in the row, or overflow
        cuda.atomic.min(bad, 0, n)
    labels[n] = lbl
    mind2[n] = best


def kmeans_assign(X, centers):
    """(labels int64[N], min_dist2 T[N]): nearest centre by squared Euclidean distance."""
    Xa = DevArg(X, "X", 2)
    dtype = Xa.float_dtype()
    N, D = Xa.shape
    Ca = checked(centers, "centers", dtype, -1, D)
    if Ca.shape[0] < 1:
        raise ValueError("centers: need at least one centre")
    if not np.isfinite(_host_copy(Ca)).all():
        raise ValueError("centers: contains NaN or infinity")
    labels = cuda.device_array(N, dtype=np.int64)
    mind2 = cuda.device_array(N, dtype=dtype)
    if N == 0:
        return labels, mind2
    bad = cuda.to_device(np.array([N], dtype=np.int64))
    _assign_kernel[launch(N)](Xa.device(), Ca.device(), labels, mind2, bad)
    _report_first_bad(bad, N, lambda n: f"X: row {n} has no finite squared distance to any centre "
                                        "(NaN/inf in X, or overflow)")
    return labels, mind2


# ---------------------------------------------------------------------------------------------
# k-means++ seeding


@cuda.jit
def _nonfinite_rows_kernel(X, bad):
    """bad[0] = min row holding NaN or inf."""
    n = cuda.grid(1)
    if n >= X.shape[0]:
        return
    for d in range(X.shape[1]):
        v = _f64(X[n, d])
        if not (v - v == 0.0):  # false for NaN and +-inf
            cuda.atomic.min(bad, 0, n)
            return


@cuda.jit(device=True)
def _index_of(u, N):
    """min(floor(u N), N - 1): a uniform index (u may round to 1.0)."""
    i = int(u * float(N))
    return i if i < N else N - 1


@cuda.jit
def _seed_init_kernel(X, u, indices, d2):
    """Centre 0 from u[0]; d2[n] = |x_n - x_first|^2."""
    n = cuda.grid(1)
    N = X.shape[0]
    if n >= N:
        return
    first = _index_of(u[0], N)
    if n == 0:
        indices[0] = first
    d2[n] = _dist2(X, n, X, first)


@cuda.jit
def _chunk_sums_kernel(d2, chunk_sum):
    """chunk_sum[c] = sum of the chunk's d2 in row order (the CPU's sequential chunk sum)."""
    c = cuda.grid(1)
    if c >= chunk_sum.shape[0]:
        return
    n1 = min(d2.shape[0], (c + 1) * SEED_CHUNK)
    s = 0.0
    for n in range(c * SEED_CHUNK, n1):
        s += d2[n]
    chunk_sum[c] = s


@cuda.jit
def _pick_kernel(d2, chunk_sum, u, u0, cand):
    """Trial t: smallest n with u * total < cumsum(d2)[n] (chunked cumsum; clamp to N - 1);
    total == 0 gives a uniform index."""
    t = cuda.grid(1)
    L = cand.shape[0]
    if t >= L:
        return
    N = d2.shape[0]
    nc = chunk_sum.shape[0]
    total = 0.0
    for c in range(nc):
        total += chunk_sum[c]
    ut = u[u0 + t]
    if not (total > 0.0):
        cand[t] = _index_of(ut, N)
        return
    r = ut * total
    prefix = 0.0
    for c in range(nc):
        nxt = prefix + chunk_sum[c]
        if r < nxt:
            n1 = min(N, (c + 1) * SEED_CHUNK)
            local = 0.0
            for n in range(c * SEED_CHUNK, n1):
                local += d2[n]
                if r < prefix + local:
                    cand[t] = n
                    return
            cand[t] = n1 - 1
            return
        prefix = nxt
    cand[t] = N - 1


@cuda.jit
def _trial_pot_kernel(X, d2, cand, part):
    """part[c, t] = sum over chunk c (rows in order) of min(d2_n, |x_n - x_cand_t|^2)."""
    tid = cuda.grid(1)
    L = cand.shape[0]
    nc = part.shape[0]
    if tid >= nc * L:
        return
    c = tid // L
    t = tid - c * L
    m = cand[t]
    n1 = min(X.shape[0], (c + 1) * SEED_CHUNK)
    s = 0.0
    for n in range(c * SEED_CHUNK, n1):
        s += min(d2[n], _dist2(X, n, X, m))
    part[c, t] = s


@cuda.jit
def _choose_kernel(part, cand, ci, indices):
    """indices[ci] = the candidate with the smallest potential (chunk order; ties to the earlier)."""
    if cuda.grid(1) != 0:
        return
    best = 0
    best_pot = _INF
    for t in range(cand.shape[0]):
        p = 0.0
        for c in range(part.shape[0]):
            p += part[c, t]
        if t == 0 or p < best_pot:
            best_pot = p
            best = t
    indices[ci] = cand[best]


@cuda.jit
def _update_kernel(X, indices, ci, d2):
    n = cuda.grid(1)
    if n >= X.shape[0]:
        return
    d2[n] = min(d2[n], _dist2(X, n, X, indices[ci]))


@cuda.jit
def _gather_kernel(X, indices, out):
    tid = cuda.grid(1)
    D = X.shape[1]
    if tid >= out.shape[0] * D:
        return
    k = tid // D
    d = tid - k * D
    out[k, d] = X[indices[k], d]


def kmeans_plusplus(X, n_clusters, n_local_trials, seed, stream):
    """(centers T[K, D], indices int64[K]): scikit-learn's greedy k-means++ on Philox uniforms
    u[0] (first centre) and u[1 + (c-1) L + t] (trial t of centre c)."""
    Xa = DevArg(X, "X", 2)
    dtype = Xa.float_dtype()
    N, D = Xa.shape
    K, L = int(n_clusters), int(n_local_trials)
    if not 1 <= K <= N:
        raise ValueError(f"n_clusters: expected 1 <= n_clusters <= n_samples={N}, got {K}")
    if not 1 <= L <= 1 << 20:
        raise ValueError(f"n_local_trials: expected 1 <= n_local_trials <= 2^20, got {L}")
    u = _philox.uniform(seed, stream, 1 + (K - 1) * L)  # checks seed and stream
    if Xa.host is not None:
        if not np.isfinite(Xa.host).all():
            raise ValueError("X: contains NaN or infinity")
        Xd = Xa.device()
    else:
        Xd = Xa.device()
        bad = cuda.to_device(np.array([N], dtype=np.int64))
        _nonfinite_rows_kernel[launch(N)](Xd, bad)
        _report_first_bad(bad, N, lambda n: "X: contains NaN or infinity")
    nc = -(-N // SEED_CHUNK)
    indices = cuda.device_array(K, dtype=np.int64)
    d2 = cuda.device_array(N, dtype=np.float64)
    chunk_sum = cuda.device_array(nc, dtype=np.float64)
    cand = cuda.device_array(L, dtype=np.int64)
    part = cuda.device_array((nc, L), dtype=np.float64)
    _seed_init_kernel[launch(N)](Xd, u, indices, d2)
    for c in range(1, K):
        _chunk_sums_kernel[launch(nc)](d2, chunk_sum)
        _pick_kernel[launch(L)](d2, chunk_sum, u, 1 + (c - 1) * L, cand)
        _trial_pot_kernel[launch(nc * L)](Xd, d2, cand, part)
        _choose_kernel[1, 1](part, cand, c, indices)
        if c + 1 < K:
            _update_kernel[launch(N)](Xd, indices, c, d2)
    centers = cuda.device_array((K, D), dtype=dtype)
    if K * D:
        _gather_kernel[launch(K * D)](Xd, indices, centers)
    return centers, indices


# ---------------------------------------------------------------------------------------------
# Sampling


@cuda.jit
def _sample_kernel(w, means, L, u, z, X, labels):
    """Sample i: label by inverse CDF of w on u[i] (past the total: the last k with w > 0);
    x = means[label] + L[label or 0] @ z[i D : (i + 1) D], lower triangle, float64 sums."""
    i = cuda.grid(1)
    n = X.shape[0]
    if i >= n:
        return
    K = w.shape[0]
    D = X.shape[1]
    ui = u[i]
    acc = 0.0
    last = 0
    k = -1
    for j in range(K):
        p = _f64(w[j])
        if p > 0.0:
            last = j
        acc += p
        if ui < acc:
            k = j
            break
    if k < 0:
        k = last
    labels[i] = k
    c = k if L.shape[0] == K else 0
    base = i * D
    for r in range(D):
        s = 0.0
        for q in range(r + 1):
            s += _f64(L[c, r, q]) * z[base + q]
        X[i, r] = _f64(means[k, r]) + s


def sample_gaussian_mixture(weights, means, cov_chol, n_samples, seed, stream):
    """(X T[n, D], labels int64[n]): labels from u(seed, stream), normals z(seed, stream + 1)."""
    W = DevArg(weights, "weights", 1)
    dtype = W.float_dtype()
    K = W.shape[0]
    if K < 1:
        raise ValueError("weights: need at least one component")
    M = checked(means, "means", dtype, K, -1)
    D = M.shape[1]
    Lc = checked(cov_chol, "cov_chol", dtype, -1, D, D)
    C = Lc.shape[0]
    if C not in (K, 1):
        raise ValueError(f"cov_chol: expected {K} or 1 factors, got {C}")
    n = int(n_samples)
    if n < 0:
        raise ValueError(f"n_samples: must be >= 0, got {n}")
    w = _host_copy(W).astype(np.float64)
    bad = np.flatnonzero(~(w >= 0) | ~np.isfinite(w))
    if bad.size:
        raise ValueError(f"weights: entry {int(bad[0])} is negative, NaN or infinite")
    total = 0.0
    for v in w:  # in order, as the CPU checks it
        total += float(v)
    tol = 1e-6 + 4.0 * K * float(np.finfo(dtype).eps)
    if not abs(total - 1.0) <= tol:
        raise ValueError(f"weights: must sum to 1, got {total:f}")
    if not np.isfinite(_host_copy(M)).all():
        raise ValueError("means: contains NaN or infinity")
    if not np.isfinite(np.tril(_host_copy(Lc))).all():  # only the lower triangle is read
        raise ValueError("cov_chol: contains NaN or infinity")
    stream = _philox.u64(stream, "stream")
    u = _philox.uniform(seed, stream, n)
    z = _philox.normal(seed, (stream + 1) % (1 << 64), n * D)
    X = cuda.device_array((n, D), dtype=dtype)
    labels = cuda.device_array(n, dtype=np.int64)
    if n:
        _sample_kernel[launch(n)](W.device(), M.device(), Lc.device(), u, z if n * D else
                                  cuda.device_array(1, dtype=np.float64), X, labels)
    return X, labels
