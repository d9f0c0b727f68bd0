"""The scaled forward-backward of the HMM on CUDA (package docstring, steps 2 to 4): per-sequence
forward (with the underflow guard) and backward blocks, the posteriors and xi weights, and the
chunked xi reduction (also used by the log-domain variant)."""
from __future__ import annotations

import math

from numba import cuda, float64

from ..common.widen import f64 as _f64

_NEG_INF = -math.inf
_DBL_MIN = 2.2250738585072014e-308

from .frames import seq_bounds, seq_of


@cuda.jit(device=True)
def _reachable(first, j, pi, A, sh, prv):
    """Can state j hold forward mass at this step: pi_j > 0 at the first frame, else a live
    predecessor (sh[prv:prv + K] is the previous, unnormalised forward vector)."""
    if first:
        return pi[j] > 0
    for i in range(A.shape[0]):
        if sh[prv + i] > 0.0 and A[i, j] > 0:
            return True
    return False


@cuda.jit(device=True)
def _reentered(j, A, sh, cur):
    """Does a surviving state other than j lead into j (sh[cur:cur + K]: this step's vector)?"""
    for i in range(A.shape[0]):
        if i != j and sh[cur + i] > 0.0 and A[i, j] > 0:
            return True
    return False


@cuda.jit(device=True)
def _forward_scaled(s, pi, A, E, m, lp, offsets, store, tiny, alpha, c, ll, logprob, redo, sh):
    """Scaled forward pass of sequence s (module docstring, step 2): ll[s] and logprob[s], and
    redo[s] = 1 when the sequence must be redone in the log domain (underflow guard; ll = -inf
    then); with `store`, the normalised alpha rows and the normalisers c (zeros from an impossible
    or lost frame on). Shared memory: two K-vectors, then two blocks of nt partial sums, two of nt
    counts of underflowed reachable states, and nt lost flags."""
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    N = E.shape[0]
    K = E.shape[1]
    b, e = seq_bounds(offsets, s, N)
    red0 = 2 * K
    lost0 = red0 + 4 * nt
    logp = 0.0
    inv_prev = 1.0
    dead_at = e
    lost = 0.0
    for t in range(b, e):
        q = t - b
        cur = (q & 1) * K
        prv = K - cur
        part = 0.0
        n_under = 0.0
        for j in range(tid, K, nt):
            if q == 0:
                v = _f64(pi[j])
            else:
                acc = 0.0
                for i in range(K):
                    acc += sh[prv + i] * _f64(A[i, j])
                v = acc * inv_prev
            v *= _f64(E[t, j])
            if v < tiny:
                # Below T's range: 0, as in the C++ kernels. Unless the state is unreachable or
                # impossible here (a structural zero), its mass underflowed: counted, checked below.
                v = 0.0
                if _f64(lp[t, j]) > _NEG_INF and _reachable(q == 0, j, pi, A, sh, prv):
                    n_under += 1.0
            sh[cur + j] = v
            part += v
        rb = red0 + (q & 1) * nt
        sh[rb + tid] = part
        sh[rb + 2 * nt + tid] = n_under
        cuda.syncthreads()
        tot = 0.0
        under = 0.0
        for r in range(nt):
            tot += sh[rb + r]
            under += sh[rb + 2 * nt + r]
        if under > 0.0:
            # Forgiven when a surviving state re-enters the state (only mass below T's range,
            # relative to the total, is lost); otherwise the state is gone for good although it
            # may explain the rest of the sequence far better: redo the sequence in the log domain.
            mine = 0.0
            for j in range(tid, K, nt):
                if (sh[cur + j] == 0.0 and _f64(lp[t, j]) > _NEG_INF and _reachable(q == 0, j, pi, A, sh, prv)
                        and not _reentered(j, A, sh, cur)):
                    mine = 1.0
            sh[lost0 + tid] = mine
            cuda.syncthreads()  # the next write of these flags follows a later step's syncthreads
            for r in range(nt):
                lost += sh[lost0 + r]
            if lost > 0.0:
                dead_at = t
                break
        if not tot >= tiny:  # zero (or NaN): the sequence is impossible from here on
            dead_at = t
            break
        inv = 1.0 / tot
        logp += m[t] + math.log(tot)
        if store:
            if tid == 0:
                c[t] = tot
            for j in range(tid, K, nt):
                alpha[t, j] = sh[cur + j] * inv
        inv_prev = inv
    if dead_at < e:
        logp = _NEG_INF
        if store:
            for t in range(dead_at, e):
                if tid == 0:
                    c[t] = 0.0
                for j in range(tid, K, nt):
                    alpha[t, j] = 0.0
    if tid == 0:
        ll[s] = logp
        logprob[s] = logp
        redo[s] = 1 if lost > 0.0 else 0


@cuda.jit(device=True)
def _backward_scaled(s, AT, E, offsets, c, beta_max, beta, sh):
    """Rabiner's scaling: beta_t = A (E_{t+1} * beta_{t+1}) / c_{t+1}, with the forward normalisers
    c (so sum_k alpha_t(k) beta_t(k) = 1), clamped at beta_max.

    Scaling beta by its own sum instead lets the beta of the only reachable state underflow next to
    an unreachable state with larger emissions (an absorbing state); with the forward scale the
    reachable states' betas stay O(1), and an unreachable state's beta, which may grow without
    bound, is clamped (its alpha is 0, so the clamp changes nothing and no inf * 0 = NaN arises).
    Called only for sequences of positive probability (every c_t >= DBL_MIN).
    """
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    N = E.shape[0]
    K = E.shape[1]
    b, e = seq_bounds(offsets, s, N)
    if e <= b:
        return
    # t = e - 1: beta = 1; the shared buffer holds E_t * beta_t for the step before.
    for j in range(tid, K, nt):
        beta[e - 1, j] = 1.0
        sh[j] = _f64(E[e - 1, j])
    cuda.syncthreads()
    for t in range(e - 2, b - 1, -1):
        q = e - 1 - t
        cur = (q & 1) * K
        prv = K - cur
        inv = 1.0 / c[t + 1]
        lim = beta_max * c[t + 1]  # clamp before dividing: acc / c may overflow float64
        for i in range(tid, K, nt):
            acc = 0.0
            for j in range(K):
                acc += _f64(AT[j, i]) * sh[prv + j]
            v = beta_max if acc >= lim else acc * inv
            beta[t, i] = v
            sh[cur + i] = _f64(E[t, i]) * v
        cuda.syncthreads()


@cuda.jit
def _fb_scaled_kernel(pi, A, AT, E, m, lp, offsets, store, tiny, beta_max, alpha, beta, c, ll, logprob, redo):
    """One block per sequence: the forward pass, then (when the lattices are wanted and the
    sequence is possible and not to be redone) the backward pass, which needs the forward
    normalisers."""
    sh = cuda.shared.array(0, dtype=float64)
    s = cuda.blockIdx.x
    _forward_scaled(s, pi, A, E, m, lp, offsets, store, tiny, alpha, c, ll, logprob, redo, sh)
    if store:
        cuda.syncthreads()  # c and ll written by thread 0 are read below
        if ll[s] > _NEG_INF:
            _backward_scaled(s, AT, E, offsets, c, beta_max, beta, sh)


@cuda.jit
def _posterior_scaled_kernel(alpha, beta, E, c, ll, offsets, want_post, want_xi, w_max, post, w):
    """One thread per frame: posteriors, and w_n = E_n beta_n / (c_n g_n), computed in float64,
    capped at w_max and written over E (w may be E)."""
    n = cuda.grid(1)
    N = alpha.shape[0]
    if n >= N:
        return
    K = alpha.shape[1]
    n_seq = offsets.shape[0] - 1
    s = seq_of(offsets, n_seq, n)
    alive = ll[s] > _NEG_INF
    g = 0.0
    if alive:
        for k in range(K):
            g += _f64(alpha[n, k]) * _f64(beta[n, k])
    ok = alive and g >= _DBL_MIN
    inv = 1.0 / g if ok else 0.0
    if want_post:
        for k in range(K):
            post[n, k] = _f64(alpha[n, k]) * _f64(beta[n, k]) * inv if ok else 0.0
    if want_xi:
        z = c[n] * g
        if ok and n != offsets[s] and z >= _DBL_MIN:
            invz = 1.0 / z
            inv_max = 1.0 / w_max
            for k in range(K):
                # alpha_n(k) == 0 makes every xi_{n-1}(., k) exactly 0: write 0 rather than a
                # clamped, possibly huge beta over a tiny c_n (inf * 0 would give NaN). Elsewhere
                # the weight can still overflow next to a beta near its clamp; since
                # alpha_{n-1}(i) A_ik w_n(k) <= 1, the cap only drops terms with alpha A < 1 / w_max.
                wk = 0.0
                if _f64(alpha[n, k]) != 0.0:
                    x = _f64(E[n, k]) * _f64(beta[n, k])
                    wk = w_max if x * inv_max >= z else x * invz  # min(x / z, w_max), no overflow
                w[n, k] = wk
        else:
            for k in range(K):
                w[n, k] = 0.0


@cuda.jit
def _xi_partial_kernel(alpha, w, chunk, n_chunks, part):
    """part[ch, i, j] = sum over frames n of chunk ch (n + 1 < N) of alpha[n, i] w[n + 1, j]."""
    tid = cuda.grid(1)
    K = alpha.shape[1]
    KK = K * K
    if tid >= n_chunks * KK:
        return
    ch = tid // KK
    r = tid - ch * KK
    i = r // K
    j = r - i * K
    n0 = ch * chunk
    n1 = min(alpha.shape[0] - 1, n0 + chunk)
    acc = 0.0
    for n in range(n0, n1):
        a = _f64(alpha[n, i])
        if a != 0.0:
            acc += a * _f64(w[n + 1, j])
    part[ch, i, j] = acc


@cuda.jit
def _xi_log_partial_kernel(la, logA, V, chunk, n_chunks, part):
    """part[ch, i, j] = sum over frames n of chunk ch of exp(la[n, i] + logA[i, j] + V[n + 1, j])."""
    tid = cuda.grid(1)
    K = la.shape[1]
    KK = K * K
    if tid >= n_chunks * KK:
        return
    ch = tid // KK
    r = tid - ch * KK
    i = r // K
    j = r - i * K
    lij = logA[i, j]
    acc = 0.0
    if lij > _NEG_INF:
        n0 = ch * chunk
        n1 = min(la.shape[0] - 1, n0 + chunk)
        for n in range(n0, n1):
            x = la[n, i] + lij + V[n + 1, j]
            if x > _NEG_INF:
                acc += math.exp(x)
    part[ch, i, j] = acc


@cuda.jit
def _xi_combine_kernel(part, n_chunks, A, scale, xi):
    """xi[i, j] = (sum of part[:, i, j] in chunk order) * (A[i, j] if scale; 0 where A[i, j] = 0)."""
    tid = cuda.grid(1)
    K = xi.shape[0]
    if tid >= K * K:
        return
    i = tid // K
    j = tid - i * K
    acc = 0.0
    for ch in range(n_chunks):
        acc += part[ch, i, j]
    if scale:
        a = _f64(A[i, j])
        acc = acc * a if a != 0.0 else 0.0  # never inf * 0
    xi[i, j] = acc
