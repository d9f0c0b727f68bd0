"""HMM inference and sampling kernels on CUDA (Numba); contract in ``csrc/KERNELS.md``.

Same names, arguments and results as ``fastgen._core`` (``csrc/hmm/hmm.hpp``):

- ``forward_backward(startprob, transmat, frame_logprob, offsets, want_posteriors=True, want_xi=True)``
  -> ``(logprob T[S], posteriors T[N, K] or None, xi_sum T[K, K] or None)``
- ``forward_backward_log(...)``: same arguments and results, log-domain recursion
- ``viterbi(startprob, transmat, frame_logprob, offsets) -> (logprob T[S], states int64[N])``
- ``sample_states(startprob, transmat, n_samples, seed, stream) -> int64[n_samples]``
- ``sample_poisson(lambdas, seed, stream) -> int64[N, D]``

Inputs: NumPy arrays (copied to the device once) or device arrays (``__cuda_array_interface__``,
used in place, C-contiguous); all float arguments of a call share one dtype T (float32 or
float64), ``offsets`` is int64. Results are Numba device arrays. Host offsets are checked (start 0,
end N, strictly increasing); device-resident offsets are not checked (they are read back only to
redo a flagged sequence, step 5), but every kernel and that redo clamp them, so bad offsets give
wrong numbers, never an out-of-bounds access.

Layout of the work (one call; one host read, of a per-sequence flag array, see step 5):

1. ``_shift_exp_kernel`` (one thread per frame): m[n] = max_k frame_logprob[n, k] and
   E[n, k] = exp(frame_logprob[n, k] - m[n]) -- the only N*K exps of the scaled recursion.
2. ``_fb_scaled_kernel``: one block per sequence runs the forward pass, then the backward pass
   (which needs the forward normalisers). States are spread over the block's threads (thread
   ``tid`` owns states tid, tid + nt, ...). The previous K-vector lives in shared memory,
   double-buffered (the forward's block-sum partials too), so a time step costs one
   ``syncthreads``. The forward vector is kept unnormalised in shared memory and the previous
   step's 1/normaliser is applied on the fly:
       alpha'_t = E_t * (alpha'_{t-1} A) / c_{t-1},  c_t = sum alpha'_t,  alpha_t = alpha'_t / c_t,
       log P = sum_t (m_t + log c_t);
   the backward pass uses Rabiner's scaling by the same normalisers,
       beta_t = min(A (E_{t+1} * beta_{t+1}) / c_{t+1}, beta_max),
   so sum_k alpha_t(k) beta_t(k) = 1 and the betas of reachable states stay O(1) (a backward
   scaled by its own sum lets an absorbing state's beta underflow); only unreachable states'
   betas grow, and the clamp (1e300, float32 1e38: above 1/DBL_MIN resp. 1/FLT_MIN, so no
   representable alpha loses posterior mass to it) keeps them finite.
   alpha_t, beta_t (T) and c_t (float64) go to global scratch.
   Underflow guard (the same rule as csrc/hmm/hmm.hpp, KERNELS.md). Normalising over all states
   cannot keep a state whose share falls below T's range, and such a state may be the one that
   explains the rest of the sequence (a transient state beside an absorbing one after a long
   stretch that favours the absorbing one: log P hundreds of nats too low, posteriors on the wrong
   state, silently). So each unnormalised value alpha'_t(j) below T's smallest normal number (the
   C++ kernels compute in T with denormals flushed) is set to 0, and if lp_t(j) > -inf and j is
   reachable (first frame: pi_j > 0; else some i with alpha_{t-1}(i) > 0 and A_ij > 0), its mass
   underflowed. That is forgiven when another surviving state re-enters j (some i != j with
   alpha'_t(i) > 0 and A_ij > 0: only mass below T's range relative to the total is lost);
   otherwise j is gone for good and the sequence is flagged: redo[s] = 1, ll = -inf (no backward,
   zero posteriors, no xi), and step 5 redoes it. The check costs one count per step (reachability
   is tested only for zeros, re-entry only when that count is positive, with one extra
   syncthreads); structural zeros (unreachable states, lp = -inf) never trigger it. The test runs
   before the impossibility test, so a frame where every reachable state underflows (all
   alpha'_t = 0 with a finite emission) is redone, not declared impossible.
3. ``_posterior_scaled_kernel`` (one thread per frame): g_n = sum_k alpha_n beta_n,
   posteriors = alpha beta / g, and w_n = E_n beta_n / (c_n g_n) (zero at sequence starts, for
   zero-probability or flagged sequences and where alpha_n = 0), written over E. Then
       xi_t(i, j) = alpha_t(i) A_ij w_{t+1}(j)
   (with alpha_t normalised, sum_ij alpha_t(i) A_ij E_{t+1}(j) beta_{t+1}(j) = c_{t+1} g_{t+1}).
   w is computed in float64 and capped (float64 1e300, as in C++; float32 1e38, since it is
   stored in T): next to a beta near its clamp and a tiny c_n it can overflow, and
   alpha(i) * inf, or inf * (A_ij = 0), would be NaN. As alpha_t(i) A_ij w(j) <= 1, the cap only
   drops terms with alpha_t(i) A_ij < 1 / cap. (With the forward flush, w_n(j) =
   post_n(j) / (alpha_{n-1} A)_j <= 1 / tiny_T, so in float32 the cap never binds.)
4. ``_xi_partial_kernel``: part[chunk, i, j] = sum over the chunk's frames n of
   alpha_n(i) w_{n+1}(j) (one thread per (chunk, i, j), j fastest: coalesced), and
   ``_xi_combine_kernel`` adds the chunks in chunk order and multiplies by A_ij (xi = 0 where
   A_ij = 0, never inf * 0). No atomics: the chunking depends only on the shapes, so xi_sum is
   bit-reproducible run to run.
5. The host reads the S redo flags (the call's only host read). Flagged sequences (rare) are
   gathered into a compact frame_logprob with rebased offsets, run through the log-domain
   kernels below, and their logprob and posterior rows scattered back; their xi is added to
   xi_sum after the scaled sum is formed (a fixed order, so still deterministic). Device-resident
   offsets are read back for this only. The scoring path (no posteriors, no xi) follows the same
   rule.

The log-domain variant has the same structure (logsumexp over predecessors, K^2 exps per step;
lattices in float64 scratch whatever T is; forward and backward blocks run side by side in one
launch; posteriors normalised per frame by logsumexp_k(log alpha + log beta)).

Viterbi: one block per sequence, log domain, the delta vector double-buffered in shared memory,
int32 backpointers in global scratch, ties to the lowest index; thread 0 backtracks.

Zero-probability sequences: a forward normaliser of zero (every value flushed, none of them an
underflow of a reachable state) ends the sequence: logprob -inf, alpha rows zeroed, posteriors 0,
no xi contribution; no NaN is written.

Precision: arrays the caller sees are T; scratch lattices of the scaled recursion (E, alpha,
beta) are T, everything else (per-step arithmetic, normalisers, log-likelihoods, log-domain
lattices, xi partials) is float64. Float32 inputs therefore compute in float64 and are rounded
to float32 when stored; the forward values are flushed below float32's range all the same
(step 2), so that what is stored never underflows unseen.

Limits: the per-sequence kernels support K <= 2048 states (the K-vectors live in shared memory,
2 K + 5 * 256 doubles for the scaled forward); larger K raises ValueError. A single very long
sequence runs on one block, serially in t: the GPU pays off with many sequences.

Sampling: ``sample_states`` draws the uniforms u[0:n] of the stream in parallel, then one thread
walks the chain (inverse CDF of KERNELS.md). ``sample_poisson``: one thread per element, exact
inverse CDF searched from the mode (the algorithm of KERNELS.md), uniform u[n*D + d].
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda, float64

from .rng import DevArg, _uniform_kernel, key_words, launch, scratch, stream_uniform
from .common.widen import f64 as _f64

__all__ = ["forward_backward", "forward_backward_log", "viterbi", "sample_states", "sample_poisson"]

_NEG_INF = -math.inf
_DBL_MIN = 2.2250738585072014e-308

# Per-sequence kernels: threads per block (states beyond it are strided over the threads), and the
# most states: the scaled forward keeps 2 K + 5 * 256 doubles in shared memory (48 KiB at most).
_SEQ_MAX_THREADS = 256
MAX_STATES = 2048

# Clamp of the scaled backward variables (see _backward_scaled), as in csrc/hmm/hmm.hpp.
_BETA_MAX = {np.dtype(np.float32): 1e38, np.dtype(np.float64): 1e300}

# Smallest normal number of T: forward values below it count as underflowed (and are flushed to 0),
# as they are in the C++ kernels, which compute in T with denormals flushed to zero.
_TINY = {np.dtype(np.float32): float(np.finfo(np.float32).tiny), np.dtype(np.float64): _DBL_MIN}

# Cap of the xi weight w (module docstring, step 3): kMaxXiWeight of csrc/hmm/hmm.hpp in float64; w is
# stored in T, and in float32 w <= 1 / FLT_MIN ~ 8.5e37 anyway (the forward flush), so the cap only
# keeps a stored weight finite.
_MAX_XI_WEIGHT = {np.dtype(np.float32): 1e38, np.dtype(np.float64): 1e300}

# Chunking of the xi reduction over frames (shape-only, so reproducible on any device).
_TARGET_THREADS = 1 << 18
_MAX_CHUNKS = 4096
_MIN_CHUNK = 64  # frames per chunk at least (tests lower it to get several chunks cheaply)


def _seq_threads(K: int) -> int:
    return min(_SEQ_MAX_THREADS, max(32, -(-K // 32) * 32))


def _chunk_frames(n_rows: int, n_cols: int) -> int:
    want = max(_MIN_CHUNK, -(-n_rows * n_cols // _TARGET_THREADS), -(-n_rows // _MAX_CHUNKS), 1)
    return 1 << (int(want) - 1).bit_length()


# ---------------------------------------------------------------------------------------------
# Device helpers



@cuda.jit(device=True)
def _seq_bounds(offsets, s, N):
    """Rows [b, e) of sequence s, clamped into [0, N] (device offsets are not validated)."""
    b = offsets[s]
    e = offsets[s + 1]
    if b < 0:
        b = 0
    if b > N:
        b = N
    if e > N:
        e = N
    if e < b:
        e = b
    return b, e


@cuda.jit(device=True)
def _seq_of(offsets, n_seq, n):
    """The largest s in [0, n_seq) with offsets[s] <= n (binary search)."""
    lo = 0
    hi = n_seq - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if offsets[mid] <= n:
            lo = mid
        else:
            hi = mid - 1
    return lo


@cuda.jit(device=True)
def _safe_log(x):
    if x > 0.0:
        return math.log(x)
    if x == 0.0:
        return _NEG_INF
    return math.nan


# ---------------------------------------------------------------------------------------------
# Parameter and frame preparation


@cuda.jit
def _shift_exp_kernel(lp, E, m):
    """m[n] = max_k lp[n, k]; E[n, k] = exp(lp[n, k] - m[n]) (an all -inf row: m = -inf, E = 0)."""
    n = cuda.grid(1)
    if n >= lp.shape[0]:
        return
    K = lp.shape[1]
    mx = _NEG_INF
    for k in range(K):
        v = _f64(lp[n, k])
        if v > mx:
            mx = v
    m[n] = mx
    if mx == _NEG_INF:
        for k in range(K):
            E[n, k] = 0.0
    else:
        for k in range(K):
            E[n, k] = math.exp(_f64(lp[n, k]) - mx)


@cuda.jit
def _transpose_kernel(A, AT):
    tid = cuda.grid(1)
    K = A.shape[0]
    if tid < K * K:
        i = tid // K
        j = tid - i * K
        AT[j, i] = A[i, j]


@cuda.jit
def _log_params_kernel(pi, A, logpi, logA, logAT):
    """float64 logs of the start and transition probabilities (log 0 = -inf), and logA^T."""
    tid = cuda.grid(1)
    K = pi.shape[0]
    if tid < K * K:
        i = tid // K
        j = tid - i * K
        v = _safe_log(_f64(A[i, j]))
        logA[i, j] = v
        logAT[j, i] = v
    if tid < K:
        logpi[tid] = _safe_log(_f64(pi[tid]))


# ---------------------------------------------------------------------------------------------
# Scaled forward/backward, one block per sequence


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
    b, e = _seq_bounds(offsets, s, N)
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
    b, e = _seq_bounds(offsets, s, N)
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
    s = _seq_of(offsets, n_seq, n)
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


# ---------------------------------------------------------------------------------------------
# Log-domain forward/backward


@cuda.jit(device=True)
def _forward_log(s, logpi, logA, lp, offsets, store, la, ll, logprob, sh):
    """Log-domain forward pass of sequence s: la_t(j) = lp_t(j) + logsumexp_i(la_{t-1}(i) + logA_ij);
    ll[s] = logprob[s] = logsumexp_j la_{T-1}(j). Shared memory: two K-vectors."""
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    N = lp.shape[0]
    K = lp.shape[1]
    b, e = _seq_bounds(offsets, s, N)
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
    b, e = _seq_bounds(offsets, s, N)
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
    s = _seq_of(offsets, n_seq, n)
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


# ---------------------------------------------------------------------------------------------
# Moving the sequences flagged by the scaled forward's underflow guard to and from the log domain


@cuda.jit
def _gather_rows_kernel(src, rows, dst):
    """dst[r, k] = src[rows[r], k]."""
    tid = cuda.grid(1)
    K = dst.shape[1]
    if tid < dst.shape[0] * K:
        r = tid // K
        k = tid - r * K
        dst[r, k] = src[rows[r], k]


@cuda.jit
def _scatter_rows_kernel(src, rows, dst):
    """dst[rows[r], k] = src[r, k]."""
    tid = cuda.grid(1)
    K = src.shape[1]
    if tid < src.shape[0] * K:
        r = tid // K
        k = tid - r * K
        dst[rows[r], k] = src[r, k]


@cuda.jit
def _scatter_kernel(src, idx, dst):
    """dst[idx[r]] = src[r]."""
    r = cuda.grid(1)
    if r < src.shape[0]:
        dst[idx[r]] = src[r]


@cuda.jit
def _add_kernel(src, dst):
    """dst[i, j] += src[i, j]."""
    tid = cuda.grid(1)
    K = dst.shape[1]
    if tid < dst.shape[0] * K:
        i = tid // K
        j = tid - i * K
        dst[i, j] += src[i, j]


# ---------------------------------------------------------------------------------------------
# Viterbi


@cuda.jit
def _viterbi_kernel(logpi, logA, lp, offsets, bp, logprob, states):
    """One block per sequence: max-plus recursion over the block's states, backtrack by thread 0."""
    sh = cuda.shared.array(0, dtype=float64)
    s = cuda.blockIdx.x
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    N = lp.shape[0]
    K = lp.shape[1]
    b, e = _seq_bounds(offsets, s, N)
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


# ---------------------------------------------------------------------------------------------
# Sampling


@cuda.jit
def _chain_kernel(pi, A, u, out):
    """One thread: z_0 from pi with u[0], z_t from A[z_{t-1}] with u[t] (inverse CDF; past the
    total, the last state with p > 0)."""
    if cuda.grid(1) != 0:
        return
    K = pi.shape[0]
    prev = 0
    for t in range(out.shape[0]):
        ut = u[t]
        acc = 0.0
        last = 0
        z = -1
        for k in range(K):
            p = _f64(pi[k]) if t == 0 else _f64(A[prev, k])
            if p > 0.0:
                last = k
            acc += p
            if ut < acc:
                z = k
                break
        if z < 0:
            z = last
        out[t] = z
        prev = z


@cuda.jit(device=True)
def _poisson_inverse_cdf(lam, u):
    """Exact inverse-CDF Poisson draw from one uniform, searched from the mode (KERNELS.md)."""
    if not (lam > 0.0 and lam < math.inf):
        return 0
    mode = math.floor(lam)
    pm = math.exp(mode * math.log(lam) - lam - math.lgamma(mode + 1.0))
    F = pm
    p = pm
    j = float(mode)
    while j > 0.0:  # F(mode) = sum_{j <= mode} p(j), summed downward
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


@cuda.jit
def _poisson_kernel(lam, k0, k1, s0, s1, out):
    i = cuda.grid(1)
    D = lam.shape[1]
    if i >= lam.shape[0] * D:
        return
    n = i // D
    d = i - n * D
    u = stream_uniform(k0, k1, s0, s1, np.uint64(i))
    out[n, d] = _poisson_inverse_cdf(_f64(lam[n, d]), u)


# ---------------------------------------------------------------------------------------------
# Host side


def _hmm_args(startprob, transmat, frame_logprob, offsets):
    """(pi, A, lp, off) DevArgs, dtype, N, K, S; shapes, dtypes and host offsets checked."""
    Lp = DevArg(frame_logprob, "frame_logprob", 2)
    dtype = Lp.float_dtype()
    N, K = Lp.shape
    if K < 1:
        raise ValueError("frame_logprob: need at least one state")
    if K > MAX_STATES:
        raise ValueError(f"frame_logprob: the CUDA HMM kernels support at most {MAX_STATES} states, got {K}")
    Pi = DevArg(startprob, "startprob", 1)
    Pi.expect_dtype(dtype)
    Pi.expect_shape(K)
    A = DevArg(transmat, "transmat", 2)
    A.expect_dtype(dtype)
    A.expect_shape(K, K)
    Of = DevArg(offsets, "offsets", 1)
    Of.expect_dtype(np.int64)
    S = Of.shape[0] - 1
    if S < 1:
        raise ValueError("offsets: need at least one sequence (length >= 2)")
    if Of.host is not None:
        o = Of.host
        if o[0] != 0 or o[-1] != N:
            raise ValueError(f"offsets: must start at 0 and end at n_samples={N}")
        if (np.diff(o) <= 0).any():
            raise ValueError("offsets: sequence lengths must be positive")
    return Pi, A, Lp, Of, dtype, N, K, S


def _xi_sum(log_domain, lattice, factor, A_or_logA, N, K, dtype):
    """xi_sum T[K, K] from the per-frame factors, reduced over fixed chunks in chunk order.

    Scaled: lattice = alpha, factor = w, A_or_logA = A (the sum is multiplied by A at the end).
    Log domain: lattice = log alpha, factor = V, A_or_logA = log A.
    """
    xi = cuda.device_array((K, K), dtype=dtype)
    n_tr = N - 1  # transitions are pairs of consecutive frames (w / V are zero / -inf across sequences)
    chunk = _chunk_frames(max(n_tr, 1), K * K)
    n_chunks = -(-n_tr // chunk)
    part = scratch((max(n_chunks, 1), K, K), np.float64)
    if n_chunks:
        if log_domain:
            _xi_log_partial_kernel[launch(n_chunks * K * K)](lattice, A_or_logA, factor, chunk, n_chunks, part)
        else:
            _xi_partial_kernel[launch(n_chunks * K * K)](lattice, factor, chunk, n_chunks, part)
    _xi_combine_kernel[launch(K * K)](part, n_chunks, A_or_logA, not log_domain, xi)
    return xi


def forward_backward(startprob, transmat, frame_logprob, offsets, want_posteriors=True, want_xi=True):
    """Scaled forward/backward -> (logprob T[S], posteriors T[N, K] or None, xi_sum T[K, K] or None)."""
    return _forward_backward_scaled(startprob, transmat, frame_logprob, offsets, want_posteriors, want_xi)[:3]


def _forward_backward_scaled(startprob, transmat, frame_logprob, offsets, want_posteriors, want_xi):
    """``forward_backward``'s results plus the indices (int64, host) of the sequences that the
    underflow guard sent to the log domain (for the tests)."""
    Pi, A, Lp, Of, dtype, N, K, S = _hmm_args(startprob, transmat, frame_logprob, offsets)
    want_posteriors, want_xi = bool(want_posteriors), bool(want_xi)
    pi_d, A_d, lp_d, off_d = Pi.device(), A.device(), Lp.device(), Of.device()
    logprob = cuda.device_array(S, dtype=dtype)
    ll = cuda.device_array(S, dtype=np.float64)
    redo = cuda.device_array(S, dtype=np.uint8)
    E = cuda.device_array((N, K), dtype=dtype)
    m = cuda.device_array(N, dtype=np.float64)
    _shift_exp_kernel[launch(N)](lp_d, E, m)
    nt = _seq_threads(K)
    shmem = 8 * (2 * K + 5 * nt)
    tiny = _TINY[np.dtype(dtype)]
    beta_max = _BETA_MAX[np.dtype(dtype)]
    post = xi = None
    if not (want_posteriors or want_xi):
        dummy = scratch((1, 1), dtype)
        _fb_scaled_kernel[S, nt, 0, shmem](pi_d, A_d, A_d, E, m, lp_d, off_d, False, tiny, beta_max, dummy, dummy,
                                            scratch((1,), np.float64), ll, logprob, redo)
    else:
        AT = cuda.device_array((K, K), dtype=dtype)
        _transpose_kernel[launch(K * K)](A_d, AT)
        alpha = cuda.device_array((N, K), dtype=dtype)
        beta = cuda.device_array((N, K), dtype=dtype)
        c = cuda.device_array(N, dtype=np.float64)
        _fb_scaled_kernel[S, nt, 0, shmem](pi_d, A_d, AT, E, m, lp_d, off_d, True, tiny, beta_max, alpha, beta, c,
                                            ll, logprob, redo)
        post = cuda.device_array((N, K), dtype=dtype) if want_posteriors else scratch((1, 1), dtype)
        _posterior_scaled_kernel[launch(N)](alpha, beta, E, c, ll, off_d, want_posteriors, want_xi,
                                            _MAX_XI_WEIGHT[np.dtype(dtype)], post, E)
        xi = _xi_sum(False, alpha, E, A_d, N, K, dtype) if want_xi else None
        post = post if want_posteriors else None
    redone = np.flatnonzero(redo.copy_to_host()).astype(np.int64)  # the one host read of the call
    if redone.size:
        _redo_in_log_domain(pi_d, A_d, lp_d, Of, N, K, dtype, redone, logprob, post, xi)
    return logprob, post, xi, redone


def _redo_in_log_domain(pi_d, A_d, lp_d, Of, N, K, dtype, seqs, logprob, post, xi):
    """Rerun sequences `seqs` through the log-domain recursion, gathered into one compact batch,
    and scatter their log-likelihoods and posterior rows back; their xi is added to xi_sum, which
    already holds the other sequences' (the scaled path gave them none), so the sum is formed in a
    fixed order. Rare: host offsets are read back only here."""
    o = Of.host if Of.host is not None else Of.device().copy_to_host()
    b = np.clip(o[seqs], 0, N)  # clamped as _seq_bounds does (device offsets are not validated)
    e = np.clip(o[seqs + 1], b, N)
    lengths = (e - b).astype(np.int64)  # >= 1: a sequence is flagged at one of its frames
    sub_off = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    n_sub = int(sub_off[-1])
    rows = np.repeat(b - sub_off[:-1], lengths) + np.arange(n_sub, dtype=np.int64)
    rows_d = cuda.to_device(rows)
    sub_lp = cuda.device_array((n_sub, K), dtype=dtype)
    _gather_rows_kernel[launch(n_sub * K)](lp_d, rows_d, sub_lp)
    sub_logprob, sub_post, sub_xi = forward_backward_log(pi_d, A_d, sub_lp, sub_off, post is not None, xi is not None)
    _scatter_kernel[launch(len(seqs))](sub_logprob, cuda.to_device(seqs), logprob)
    if post is not None:
        _scatter_rows_kernel[launch(n_sub * K)](sub_post, rows_d, post)
    if xi is not None:
        _add_kernel[launch(K * K)](sub_xi, xi)


def _log_params(pi_d, A_d, K):
    logpi = cuda.device_array(K, dtype=np.float64)
    logA = cuda.device_array((K, K), dtype=np.float64)
    logAT = cuda.device_array((K, K), dtype=np.float64)
    _log_params_kernel[launch(K * K)](pi_d, A_d, logpi, logA, logAT)
    return logpi, logA, logAT


def forward_backward_log(startprob, transmat, frame_logprob, offsets, want_posteriors=True, want_xi=True):
    """Log-domain forward/backward; same arguments and results as ``forward_backward``."""
    Pi, A, Lp, Of, dtype, N, K, S = _hmm_args(startprob, transmat, frame_logprob, offsets)
    want_posteriors, want_xi = bool(want_posteriors), bool(want_xi)
    lp_d, off_d = Lp.device(), Of.device()
    logpi, logA, logAT = _log_params(Pi.device(), A.device(), K)
    logprob = cuda.device_array(S, dtype=dtype)
    ll = cuda.device_array(S, dtype=np.float64)
    nt = _seq_threads(K)
    shmem = 8 * 2 * K
    if not (want_posteriors or want_xi):
        dummy = scratch((1, 1), np.float64)
        _fb_log_kernel[S, nt, 0, shmem](logpi, logA, logAT, lp_d, off_d, S, False, dummy, dummy, ll, logprob)
        return logprob, None, None
    la = cuda.device_array((N, K), dtype=np.float64)
    lb = cuda.device_array((N, K), dtype=np.float64)
    _fb_log_kernel[2 * S, nt, 0, shmem](logpi, logA, logAT, lp_d, off_d, S, True, la, lb, ll, logprob)
    post = cuda.device_array((N, K), dtype=dtype) if want_posteriors else scratch((1, 1), dtype)
    _posterior_log_kernel[launch(N)](la, lb, lp_d, ll, off_d, want_posteriors, want_xi, post, lb)
    xi = _xi_sum(True, la, lb, logA, N, K, dtype) if want_xi else None
    return logprob, (post if want_posteriors else None), xi


def viterbi(startprob, transmat, frame_logprob, offsets):
    """Most likely state paths -> (logprob T[S], states int64[N]); ties to the lowest state."""
    Pi, A, Lp, Of, dtype, N, K, S = _hmm_args(startprob, transmat, frame_logprob, offsets)
    logpi, logA, _ = _log_params(Pi.device(), A.device(), K)
    logprob = cuda.device_array(S, dtype=dtype)
    states = cuda.device_array(N, dtype=np.int64)
    bp = cuda.device_array((N, K), dtype=np.int32)
    nt = _seq_threads(K)
    _viterbi_kernel[S, nt, 0, 8 * 2 * K](logpi, logA, Lp.device(), Of.device(), bp, logprob, states)
    return logprob, states


def sample_states(startprob, transmat, n_samples, seed, stream):
    """int64[n_samples]: a Markov chain drawn with the stream's uniforms u[0:n_samples]."""
    Pi = DevArg(startprob, "startprob", 1)
    dtype = Pi.float_dtype()
    K = Pi.shape[0]
    if K < 1:
        raise ValueError("startprob: need at least one state")
    A = DevArg(transmat, "transmat", 2)
    A.expect_dtype(dtype)
    A.expect_shape(K, K)
    n = int(n_samples)
    if n < 0:
        raise ValueError(f"n_samples: must be >= 0, got {n}")
    k0, k1, s0, s1 = key_words(seed, stream)
    out = cuda.device_array(n, dtype=np.int64)
    if n == 0:
        return out
    u = cuda.device_array(n, dtype=np.float64)
    _uniform_kernel[launch((n + 1) // 2)](k0, k1, s0, s1, np.uint64(0), 0, u)
    _chain_kernel[1, 1](Pi.device(), A.device(), u, out)
    return out


def sample_poisson(lambdas, seed, stream):
    """int64[N, D]: element (n, d) drawn from u[n*D + d] by exact inverse CDF."""
    La = DevArg(lambdas, "lambdas", 2)
    La.float_dtype()
    N, D = La.shape
    k0, k1, s0, s1 = key_words(seed, stream)
    out = cuda.device_array((N, D), dtype=np.int64)
    if N * D:
        _poisson_kernel[launch(N * D)](La.device(), k0, k1, s0, s1, out)
    return out
