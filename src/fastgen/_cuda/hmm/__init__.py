"""``fastgen._cuda.hmm``: HMM inference and sampling kernels on CUDA (Numba); contract in
``csrc/KERNELS.md``. This module holds the host side of inference; the kernels are in
``frames.py`` (sequence bounds, shifted exps, parameter logs, redo gathers), ``scaled.py`` (scaled
forward-backward, posteriors, xi), ``logdomain.py`` (log-domain forward-backward, Viterbi) and
``sampling.py`` (``sample_states``, ``sample_poisson``).

Same names, arguments and results as ``fastgen._core`` (``csrc/hmm/hmm.hpp``):

- ``forward_backward(startprob, transmat, frame_logprob, offsets, want_posteriors=True, want_xi=True)``
  -> ``(logprob T[S], posteriors T[N, K] or None, xi_sum T[K, K] or None)``
- ``forward_backward_log(...)``: same arguments and results, log-domain recursion
- ``viterbi(startprob, transmat, frame_logprob, offsets) -> (logprob T[S], states int64[N])``
- ``forward_backward_<kind>(startprob, transmat, X, *emission, offsets, ...)``,
  ``viterbi_<kind>(startprob, transmat, X, *emission, offsets)`` and ``e_step_<kind>(...,
  want_xi=True) -> (logprob, start, xi_sum or None, w_sum, wx, wxx or None)``: the same with the
  emission computed from X: ``diag`` (means, precisions), ``full`` (means, prec_chol: K factors, or 1
  for tied), ``poisson`` (lambdas), and ``gmm_diag`` / ``gmm_full`` (a mixture per state: the
  components' means T[K M, D] and precisions as diag / full, log_weights T[K, M]) (e_step: the
  posteriors summed instead of returned, as weighted_moments of order 1, 2 and 0; gmm: of the
  components' posteriors). The C++ kernels compute the densities and sums inside the
  lattice pass; here the existing emission, lattice and statistics kernels run one after another
  (the same results; fusing them on the GPU is not done).
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
from numba import cuda

from ..common.args import checked, DevArg, launch, scratch
from ..common.kernels import transpose_kernel
from ..emissions import (categorical_logprob, gaussian_logprob_diag, gaussian_logprob_full, mixture_logprob,
                         mixture_posteriors, poisson_logprob, sum_rows, weighted_moments)
from .frames import (_add_kernel, _gather_rows_kernel, _log_params_kernel, _scatter_kernel, _scatter_rows_kernel,
                     _shift_exp_kernel)
from .logdomain import _fb_log_kernel, _posterior_log_kernel, _viterbi_kernel
from .sampling import sample_poisson, sample_states
from .scaled import (_fb_scaled_kernel, _posterior_scaled_kernel, _xi_combine_kernel, _xi_log_partial_kernel,
                     _xi_partial_kernel)

__all__ = ["e_step_diag", "e_step_full", "e_step_gmm_diag", "e_step_gmm_full", "e_step_poisson", "forward_backward",
           "forward_backward_categorical", "forward_backward_diag", "forward_backward_full", "forward_backward_gmm_diag",
           "forward_backward_gmm_full", "forward_backward_log", "forward_backward_poisson", "viterbi",
           "viterbi_categorical", "viterbi_diag", "viterbi_full", "viterbi_gmm_diag", "viterbi_gmm_full",
           "viterbi_poisson", "sample_states", "sample_poisson"]

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
    Pi = checked(startprob, "startprob", dtype, K)
    A = checked(transmat, "transmat", dtype, K, K)
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
        transpose_kernel[launch(K * K)](A_d, AT)
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


def forward_backward_diag(startprob, transmat, X, means, precisions, offsets, want_posteriors=True, want_xi=True):
    """forward_backward with log N(x_n | means[k], diag(1 / precisions[k])) as frame_logprob."""
    return forward_backward(startprob, transmat, gaussian_logprob_diag(X, means, precisions), offsets, want_posteriors,
                            want_xi)


def viterbi_diag(startprob, transmat, X, means, precisions, offsets):
    """viterbi with log N(x_n | means[k], diag(1 / precisions[k])) as frame_logprob."""
    return viterbi(startprob, transmat, gaussian_logprob_diag(X, means, precisions), offsets)


def forward_backward_categorical(startprob, transmat, X, log_emission, offsets, want_posteriors=True, want_xi=True):
    """forward_backward with log_emission[:, X[n]] as frame_logprob (composed: one thread per
    (frame, state) writes the N x K array, which device bandwidth absorbs; not fused on a GPU yet)."""
    return forward_backward(startprob, transmat, categorical_logprob(X, log_emission), offsets, want_posteriors,
                            want_xi)


def viterbi_categorical(startprob, transmat, X, log_emission, offsets):
    """viterbi with log_emission[:, X[n]] as frame_logprob."""
    return viterbi(startprob, transmat, categorical_logprob(X, log_emission), offsets)


def _e_step(startprob, transmat, X, lp, order, offsets, want_xi):
    logprob, post, xi = forward_backward(startprob, transmat, lp, offsets, True, want_xi)
    ws, wx, wxx = weighted_moments(X, post, order)
    return logprob, sum_rows(post, offsets[:-1]), xi, ws, wx, wxx


def e_step_diag(startprob, transmat, X, means, precisions, offsets, want_xi=True):
    """One E-step with diagonal Gaussian emissions -> (logprob, start[K], xi_sum or None, w_sum, wx, wxx)."""
    return _e_step(startprob, transmat, X, gaussian_logprob_diag(X, means, precisions), 1, offsets, want_xi)


def forward_backward_full(startprob, transmat, X, means, prec_chol, offsets, want_posteriors=True, want_xi=True):
    """forward_backward with full (or tied: one factor) Gaussian densities as frame_logprob."""
    return forward_backward(startprob, transmat, gaussian_logprob_full(X, means, prec_chol), offsets, want_posteriors,
                            want_xi)


def viterbi_full(startprob, transmat, X, means, prec_chol, offsets):
    """viterbi with full (or tied) Gaussian densities as frame_logprob."""
    return viterbi(startprob, transmat, gaussian_logprob_full(X, means, prec_chol), offsets)


def e_step_full(startprob, transmat, X, means, prec_chol, offsets, want_xi=True):
    """One E-step with full (or tied) Gaussian emissions -> (logprob, start, xi_sum or None, w_sum, wx, wxx[K, D, D])."""
    return _e_step(startprob, transmat, X, gaussian_logprob_full(X, means, prec_chol), 2, offsets, want_xi)


def forward_backward_poisson(startprob, transmat, X, lambdas, offsets, want_posteriors=True, want_xi=True):
    """forward_backward with Poisson log-likelihoods as frame_logprob."""
    return forward_backward(startprob, transmat, poisson_logprob(X, lambdas), offsets, want_posteriors, want_xi)


def viterbi_poisson(startprob, transmat, X, lambdas, offsets):
    """viterbi with Poisson log-likelihoods as frame_logprob."""
    return viterbi(startprob, transmat, poisson_logprob(X, lambdas), offsets)


def e_step_poisson(startprob, transmat, X, lambdas, offsets, want_xi=True):
    """One E-step with Poisson emissions -> (logprob, start, xi_sum or None, w_sum, wx, None)."""
    return _e_step(startprob, transmat, X, poisson_logprob(X, lambdas), 0, offsets, want_xi)


def _gmm_logprob(X, means, prec, log_weights, components):
    comp = components(X, means, prec)
    return comp, mixture_logprob(comp, log_weights)


def _gmm_e_step(startprob, transmat, X, means, prec, log_weights, offsets, want_xi, components, order):
    comp, lp = _gmm_logprob(X, means, prec, log_weights, components)
    logprob, post, xi = forward_backward(startprob, transmat, lp, offsets, True, want_xi)
    ws, wx, wxx = weighted_moments(X, mixture_posteriors(comp, log_weights, post), order)
    return logprob, sum_rows(post, offsets[:-1]), xi, ws, wx, wxx


def forward_backward_gmm_diag(startprob, transmat, X, means, precisions, log_weights, offsets, want_posteriors=True,
                              want_xi=True):
    """forward_backward with mixtures of diagonal Gaussians per state (mixture_logprob) as frame_logprob."""
    lp = _gmm_logprob(X, means, precisions, log_weights, gaussian_logprob_diag)[1]
    return forward_backward(startprob, transmat, lp, offsets, want_posteriors, want_xi)


def viterbi_gmm_diag(startprob, transmat, X, means, precisions, log_weights, offsets):
    return viterbi(startprob, transmat, _gmm_logprob(X, means, precisions, log_weights, gaussian_logprob_diag)[1],
                   offsets)


def e_step_gmm_diag(startprob, transmat, X, means, precisions, log_weights, offsets, want_xi=True):
    """One E-step with mixtures of diagonal Gaussians -> (logprob, start, xi_sum or None, w_sum[K M], wx, wxx)."""
    return _gmm_e_step(startprob, transmat, X, means, precisions, log_weights, offsets, want_xi, gaussian_logprob_diag,
                       1)


def forward_backward_gmm_full(startprob, transmat, X, means, prec_chol, log_weights, offsets, want_posteriors=True,
                              want_xi=True):
    """forward_backward with mixtures of full Gaussians per state (mixture_logprob) as frame_logprob."""
    lp = _gmm_logprob(X, means, prec_chol, log_weights, gaussian_logprob_full)[1]
    return forward_backward(startprob, transmat, lp, offsets, want_posteriors, want_xi)


def viterbi_gmm_full(startprob, transmat, X, means, prec_chol, log_weights, offsets):
    return viterbi(startprob, transmat, _gmm_logprob(X, means, prec_chol, log_weights, gaussian_logprob_full)[1],
                   offsets)


def e_step_gmm_full(startprob, transmat, X, means, prec_chol, log_weights, offsets, want_xi=True):
    """One E-step with mixtures of full Gaussians -> (logprob, start, xi_sum or None, w_sum[K M], wx, wxx[K M, D, D])."""
    return _gmm_e_step(startprob, transmat, X, means, prec_chol, log_weights, offsets, want_xi, gaussian_logprob_full,
                       2)
