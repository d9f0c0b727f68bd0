"""The log-domain forward-backward and Viterbi of the HMM on CUDA (package docstring: the
log-domain variant, also the redo of flagged sequences; Viterbi)."""
from __future__ import annotations

import math

from numba import cuda, float64

from ..common.widen import f64 as _f64

_NEG_INF = -math.inf
_DBL_MIN = 2.2250738585072014e-308

from .frames import seq_bounds, seq_of


@cuda.jit(device=True)
def _forward_log(s, logpi, logA, lp, offsets, store, la, ll, logprob, sh):
    """Log-domain forward pass of sequence s: la_t(j) = lp_t(j) + logsumexp_i(la_{t-1}(i) + logA_ij);
    ll[s] = logprob[s] = logsumexp_j la_{T-1}(j). Shared memory: two K-vectors."""
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    N = lp.shape[0]
    K = lp.shape[1]
    b, e = seq_bounds(offsets, s, N)
    for t in range(b, e):
        q = t - b
        cur = (q & 1) * K
        prv = K - cur
        for j in range(tid, K, nt):
            if q == 0:
                v = logpi[j] + _f64(lp[t, j])
            else:
                mx = _NEG_INF
                for i in range(K):
                    x = sh[prv + i] + logA[i, j]
                    if x > mx:
                        mx = x
                if mx == _NEG_INF:
                    v = _NEG_INF
                else:
                    acc = 0.0
                    for i in range(K):
                        acc += math.exp(sh[prv + i] + logA[i, j] - mx)
                    v = mx + math.log(acc) + _f64(lp[t, j])
            sh[cur + j] = v
            if store:
                la[t, j] = v
        cuda.syncthreads()
    if tid == 0:
        res = 0.0
        if e > b:
            last = ((e - 1 - b) & 1) * K
            mx = _NEG_INF
            for k in range(K):
                if sh[last + k] > mx:
                    mx = sh[last + k]
            if mx > _NEG_INF:
                acc = 0.0
                for k in range(K):
                    acc += math.exp(sh[last + k] - mx)
                res = mx + math.log(acc)
            else:
                res = _NEG_INF
        ll[s] = res
        logprob[s] = res


@cuda.jit(device=True)
def _backward_log(s, logAT, lp, offsets, lb, sh):
    """Log-domain backward pass: lb_t(i) = logsumexp_j(logA_ij + lp_{t+1}(j) + lb_{t+1}(j))."""
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    N = lp.shape[0]
    K = lp.shape[1]
    b, e = seq_bounds(offsets, s, N)
    if e <= b:
        return
    # The shared buffer holds lp_t + lb_t for the step before.
    for j in range(tid, K, nt):
        lb[e - 1, j] = 0.0
        sh[j] = _f64(lp[e - 1, j])
    cuda.syncthreads()
    for t in range(e - 2, b - 1, -1):
        q = e - 1 - t
        cur = (q & 1) * K
        prv = K - cur
        for i in range(tid, K, nt):
            mx = _NEG_INF
            for j in range(K):
                x = logAT[j, i] + sh[prv + j]
                if x > mx:
                    mx = x
            if mx == _NEG_INF:
                v = _NEG_INF
            else:
                acc = 0.0
                for j in range(K):
                    acc += math.exp(logAT[j, i] + sh[prv + j] - mx)
                v = mx + math.log(acc)
            lb[t, i] = v
            sh[cur + i] = _f64(lp[t, i]) + v
        cuda.syncthreads()


@cuda.jit
def _fb_log_kernel(logpi, logA, logAT, lp, offsets, n_seq, store, la, lb, ll, logprob):
    """Blocks [0, n_seq): forward of sequence blockIdx; blocks [n_seq, 2 n_seq): backward."""
    sh = cuda.shared.array(0, dtype=float64)
    blk = cuda.blockIdx.x
    if blk < n_seq:
        _forward_log(blk, logpi, logA, lp, offsets, store, la, ll, logprob, sh)
    elif blk < 2 * n_seq:
        _backward_log(blk - n_seq, logAT, lp, offsets, lb, sh)


@cuda.jit
def _posterior_log_kernel(la, lb, lp, ll, offsets, want_post, want_xi, post, V):
    """posteriors exp(la + lb - ll); V[n] = lp[n] + lb[n] - ll (-inf at sequence starts and for
    zero-probability sequences), written over lb (V may be lb)."""
    n = cuda.grid(1)
    N = la.shape[0]
    if n >= N:
        return
    K = la.shape[1]
    n_seq = offsets.shape[0] - 1
    s = seq_of(offsets, n_seq, n)
    L = ll[s]
    alive = L > _NEG_INF
    first = n == offsets[s]
    # Posteriors normalised per frame by logsumexp_k(la + lb) rather than by log P: over 1e6
    # steps la + lb - log P drifts by ~1e-6 (as in the C++ kernel and hmmlearn).
    lz = _NEG_INF
    if want_post and alive:
        mx = _NEG_INF
        for k in range(K):
            x = la[n, k] + lb[n, k]
            if x > mx:
                mx = x
        if mx > _NEG_INF:
            z = 0.0
            for k in range(K):
                z += math.exp(la[n, k] + lb[n, k] - mx)
            lz = mx + math.log(z)
    for k in range(K):
        lbk = lb[n, k]
        if want_post:
            x = la[n, k] + lbk - lz if lz > _NEG_INF else _NEG_INF
            post[n, k] = math.exp(x) if x > _NEG_INF else 0.0
        if want_xi:
            V[n, k] = _f64(lp[n, k]) + lbk - L if (alive and not first) else _NEG_INF


@cuda.jit
def _viterbi_kernel(logpi, logA, lp, offsets, bp, logprob, states):
    """One block per sequence: max-plus recursion over the block's states, backtrack by thread 0."""
    sh = cuda.shared.array(0, dtype=float64)
    s = cuda.blockIdx.x
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    N = lp.shape[0]
    K = lp.shape[1]
    b, e = seq_bounds(offsets, s, N)
    for t in range(b, e):
        q = t - b
        cur = (q & 1) * K
        prv = K - cur
        for j in range(tid, K, nt):
            if q == 0:
                v = logpi[j] + _f64(lp[t, j])
            else:
                best = sh[prv] + logA[0, j]
                arg = 0
                for i in range(1, K):
                    cand = sh[prv + i] + logA[i, j]
                    if cand > best:  # strict: ties keep the lowest index
                        best = cand
                        arg = i
                v = best + _f64(lp[t, j])
                bp[t, j] = arg
            sh[cur + j] = v
        cuda.syncthreads()
    if tid == 0 and e > b:
        last = ((e - 1 - b) & 1) * K
        z = 0
        for k in range(1, K):
            if sh[last + k] > sh[last + z]:
                z = k
        logprob[s] = sh[last + z]
        states[e - 1] = z
        for t in range(e - 1, b, -1):
            z = bp[t, z]
            states[t - 1] = z
