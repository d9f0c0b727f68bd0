"""Plain NumPy oracles for the HMM and emission kernels of ``csrc/KERNELS.md``.

Written for clarity, not speed, in float64 (inputs are converted). Forward/backward and Viterbi
work in the log domain with a local logsumexp, one sequence at a time; nothing here shares code
or tricks (scaling, max shifts) with the kernels under test.

Conventions (hmmlearn's): sequences are concatenated along axis 0 and delimited by ``lengths``;
``startprob`` (K,) and ``transmat`` (K, K) are probabilities, zeros allowed.
"""
from __future__ import annotations

import math

import numpy as np

LOG_2PI = math.log(2.0 * math.pi)


# -- helpers -----------------------------------------------------------------------------------

def lengths_to_offsets(lengths) -> np.ndarray:
    """int64 offsets (length S + 1, offsets[0] = 0) of sequences with the given lengths."""
    lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


def _log(p) -> np.ndarray:
    """Elementwise log with log(0) = -inf and no warning."""
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(p, dtype=np.float64))


def logsumexp(a, axis=None) -> np.ndarray:
    """log(sum(exp(a))) along ``axis``; all -inf (or empty) gives -inf, never NaN."""
    a = np.asarray(a, dtype=np.float64)
    m = np.max(a, axis=axis, keepdims=True, initial=-np.inf)
    shift = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(a - shift), axis=axis, keepdims=True)) + shift
    return np.squeeze(out, axis=axis) if axis is not None else out.reshape(())[()]


# -- emissions ---------------------------------------------------------------------------------

def categorical_logprob(X, log_emission) -> np.ndarray:
    """(N, K): log_emission[k, X[n]] for symbols X (N,) and a (K, M) table."""
    X = np.asarray(X, dtype=np.int64).reshape(-1)
    le = np.asarray(log_emission, dtype=np.float64)
    return np.ascontiguousarray(le[:, X].T)


def full_covariances(covars, covariance_type: str, K: int, D: int) -> np.ndarray:
    """hmmlearn's compact covariances -> (K, D, D): diag (K, D) variances, spherical (K,),
    full (K, D, D), tied (D, D)."""
    c = np.asarray(covars, dtype=np.float64)
    if covariance_type == "diag":
        return np.stack([np.diag(c[k]) for k in range(K)])
    if covariance_type == "spherical":
        return np.stack([c[k] * np.eye(D) for k in range(K)])
    if covariance_type == "full":
        return c.reshape(K, D, D)
    if covariance_type == "tied":
        return np.stack([c for _ in range(K)])
    raise ValueError(f"unknown covariance_type {covariance_type!r}")


def gaussian_logprob(X, means, covars, covariance_type: str) -> np.ndarray:
    """(N, K): log N(x_n | means[k], Sigma_k), Sigma_k from ``covars`` in hmmlearn's layout,
    computed directly from the covariance: -1/2 (D log 2 pi + log det Sigma + r^T Sigma^-1 r)."""
    X = np.asarray(X, dtype=np.float64)
    means = np.asarray(means, dtype=np.float64)
    N, D = X.shape
    K = means.shape[0]
    cov = full_covariances(covars, covariance_type, K, D)
    out = np.empty((N, K))
    for k in range(K):
        sign, logdet = np.linalg.slogdet(cov[k])
        if sign <= 0:
            raise ValueError(f"covariance {k} is not positive-definite")
        r = X - means[k]
        maha = np.einsum("nd,nd->n", r, np.linalg.solve(cov[k], r.T).T)
        out[:, k] = -0.5 * (D * LOG_2PI + logdet + maha)
    return out


_lgamma = np.frompyfunc(math.lgamma, 1, 1)


def poisson_logprob(X, lambdas) -> np.ndarray:
    """(N, K): sum_d x_d log(lam_kd) - lam_kd - lgamma(x_d + 1), with 0 log 0 = 0."""
    X = np.asarray(X, dtype=np.float64)
    lam = np.asarray(lambdas, dtype=np.float64)
    lg = _lgamma(X + 1.0).astype(np.float64).sum(axis=1)           # (N,)
    loglam = _log(lam)                                              # (K, D)
    with np.errstate(invalid="ignore"):                             # 0 * -inf, masked out below
        xlog = np.where(X[:, None, :] == 0, 0.0, X[:, None, :] * loglam[None, :, :])  # (N, K, D)
    return xlog.sum(axis=2) - lam.sum(axis=1)[None, :] - lg[:, None]


# -- inference ---------------------------------------------------------------------------------

def _sequences(lengths, N):
    offsets = lengths_to_offsets(lengths)
    if offsets[-1] != N or (np.diff(offsets) <= 0).any():
        raise ValueError("lengths must be positive and sum to the number of frames")
    return list(zip(offsets[:-1], offsets[1:]))


def forward_backward(startprob, transmat, frame_logprob, lengths):
    """Log-domain forward/backward over every sequence.

    Returns (logprob (S,), posteriors (N, K), xi_sum (K, K)):
    logprob[s] = log P(sequence s); posteriors[n, k] = P(z_n = k | its sequence);
    xi_sum[i, j] = sum over sequences and t of P(z_t = i, z_{t+1} = j | sequence).
    A sequence with zero probability gets -inf, zero posteriors and adds nothing to xi_sum.
    """
    log_pi = _log(startprob)
    log_A = _log(transmat)
    lp = np.asarray(frame_logprob, dtype=np.float64)
    N, K = lp.shape
    logprob = []
    post = np.zeros((N, K))
    xi = np.zeros((K, K))
    for b, e in _sequences(lengths, N):
        T = e - b
        la = np.empty((T, K))
        lb = np.zeros((T, K))
        la[0] = log_pi + lp[b]
        for t in range(1, T):
            la[t] = lp[b + t] + logsumexp(la[t - 1][:, None] + log_A, axis=0)
        for t in range(T - 2, -1, -1):
            lb[t] = logsumexp(log_A + (lp[b + t + 1] + lb[t + 1])[None, :], axis=1)
        ll = float(logsumexp(la[T - 1]))
        logprob.append(ll)
        if ll == -np.inf:
            continue
        post[b:e] = np.exp(la + lb - ll)
        for t in range(T - 1):
            xi += np.exp(la[t][:, None] + log_A + (lp[b + t + 1] + lb[t + 1])[None, :] - ll)
    return np.array(logprob), post, xi


def viterbi(startprob, transmat, frame_logprob, lengths):
    """Most likely state path of every sequence, in the log domain.

    Returns (logprob (S,), states int64 (N,)): logprob[s] = max over paths of log P(path, sequence s).
    Ties go to the lowest state index (in each max over predecessors and in the final argmax); an
    impossible sequence gets -inf and the path the same argmax rule gives.
    """
    log_pi = _log(startprob)
    log_A = _log(transmat)
    lp = np.asarray(frame_logprob, dtype=np.float64)
    N, K = lp.shape
    logprob = []
    states = np.empty(N, dtype=np.int64)
    for b, e in _sequences(lengths, N):
        T = e - b
        delta = log_pi + lp[b]
        back = np.zeros((T, K), dtype=np.int64)
        for t in range(1, T):
            cand = delta[:, None] + log_A        # cand[i, j]: come from i, go to j
            back[t] = np.argmax(cand, axis=0)    # first maximum = lowest index
            delta = cand[back[t], np.arange(K)] + lp[b + t]
        z = int(np.argmax(delta))
        logprob.append(float(delta[z]))
        states[e - 1] = z
        for t in range(T - 1, 0, -1):
            z = int(back[t, z])
            states[b + t - 1] = z
    return np.array(logprob), states


# -- sampling ----------------------------------------------------------------------------------

def draw_categorical(p, u: float) -> int:
    """Inverse CDF: the smallest k with u < cumsum(p)[k] (float64 running sum, in order); if
    rounding leaves u >= the total, the last k with p[k] > 0."""
    acc = 0.0
    last = 0
    for k, pk in enumerate(np.asarray(p, dtype=np.float64)):
        if pk > 0:
            last = k
        acc += float(pk)
        if u < acc:
            return k
    return last


def sample_states(startprob, transmat, n, u) -> np.ndarray:
    """A state chain of length n from uniforms u: z_0 from startprob with u[0], z_t from
    transmat[z_{t-1}] with u[t]."""
    startprob = np.asarray(startprob, dtype=np.float64)
    transmat = np.asarray(transmat, dtype=np.float64)
    out = np.empty(int(n), dtype=np.int64)
    for t in range(int(n)):
        p = startprob if t == 0 else transmat[out[t - 1]]
        out[t] = draw_categorical(p, float(u[t]))
    return out


def poisson_inverse_cdf(lam: float, u: float) -> int:
    """The Poisson draw of KERNELS.md for rate ``lam`` from one uniform ``u`` (exact inverse CDF
    searched from the mode, float64, same operations in the same order as the kernels)."""
    lam = float(lam)
    if not lam > 0:
        return 0
    mode = math.floor(lam)
    pm = math.exp(mode * math.log(lam) - lam - math.lgamma(mode + 1.0))
    F = p = pm
    j = float(mode)
    while j > 0:                      # F(mode) = sum_{j <= mode} p(j), summed downward
        p *= j / lam
        F += p
        if p < 1e-17 * F:
            break
        j -= 1.0
    k = int(mode)
    p = pm
    if u <= F:
        while k > 0 and u <= F - p:
            F -= p
            p *= float(k) / lam
            k -= 1
    else:
        limit = k + int(40.0 * math.sqrt(lam)) + 100
        while u > F and k < limit:
            p *= lam / float(k + 1)
            k += 1
            F += p
    return k


def sample_poisson(lambdas, u) -> np.ndarray:
    """int64 array of lambdas' shape: element i (row-major) drawn from u[i] by poisson_inverse_cdf."""
    lam = np.asarray(lambdas, dtype=np.float64)
    u = np.asarray(u, dtype=np.float64).reshape(-1)
    out = np.array([poisson_inverse_cdf(l, ui) for l, ui in zip(lam.reshape(-1), u)], dtype=np.int64)
    return out.reshape(lam.shape)


def poisson_inverse_cdf_exact(lam: float, u: float, kmax: int | None = None) -> int:
    """Textbook inverse CDF from k = 0 (slow; for cross-checking): smallest k with u <= F(k)."""
    lam = float(lam)
    if not lam > 0:
        return 0
    if kmax is None:
        kmax = int(lam + 60 * math.sqrt(lam) + 200)
    F = 0.0
    for k in range(kmax + 1):
        F += math.exp(k * math.log(lam) - lam - math.lgamma(k + 1.0))
        if u <= F:
            return k
    return kmax
