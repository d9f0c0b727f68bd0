"""The HMM kernels (``hmm``: forward/backward in both domains, Viterbi, state and Poisson sampling)
on both backends against the plain NumPy oracles in tests/reference, plus their contract
properties, thread-count independence and input checks. The emission and sufficient-statistics
kernels they consume are tested in tests/emissions/.

A test taking `device` runs on the CPU (fastgen._core.hmm) and, when Numba can launch kernels (the
simulator under NUMBA_ENABLE_CUDASIM=1, or a lent GPU), on CUDA (fastgen._cuda.hmm; marked `cuda`).
CPU cases take fresh random inputs (the `rng` fixture) over the full grid of sizes; CUDA cases keep
tiny fixed inputs: the simulator costs about 10 ms per synchronised step of a 32-thread block, so a
few sequences of a few frames, K <= 6 (CUDA_CASES). Tests that only make sense on one backend (the
CPU's long sequences and thread pool; the CUDA guard's internals) say so and are not parametrised.

Tolerances (stated once here, repeated where a test departs from them):
- float64: rtol 1e-10. Probabilities (posteriors) additionally get an absolute floor of 1e-13: they
  are compared entry by entry and an entry of 1e-30 is not meaningful to 10 digits after the
  normalisation that produced it.
- float32: the oracle runs in float64 on the float32 inputs, so the difference is the kernel's own
  float32 rounding: ~1e-7 per operation. The scaled recursion (each step renormalised, so errors
  do not accumulate) stays within rtol 1e-5, and so does the log-domain recursion, whose lattices
  are float64 whatever the dtype on the CPU (float32 log alphas of magnitude 1e5 resolve only
  ~0.01: test_forward_backward_float32_long_sequence pins that down). The probability floor is
  1e-5 on the CPU's long random sequences, 1e-6 on CUDA's short fixed ones.
- Sums over a sequence (log-likelihoods) get, on the CPU's long random sequences, an absolute floor
  proportional to the sum of the magnitudes of their terms (_logprob_atol): a log-likelihood can
  cancel to ~0. CUDA's fixed cases are compared with rtol alone.
"""
from __future__ import annotations

import importlib
import textwrap

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import gammaln, logsumexp

from conftest import (assert_same_on_any_thread_count, thread_policy, assert_sum_close, offsets_of, precision_cholesky_upper,
                      random_hmm, random_lengths, random_spd, random_stochastic)
from devices import CUDA_MARKS, host, kernels
from fastgen import _core
from reference import hmm as ref
from reference import rng as ref_rng

KS = [1, 2, 5, 17, 64]
DTYPES = [np.float64, np.float32]
IMPLS = ("scaling", "log")
FB = {"scaling": _core.hmm.forward_backward, "log": _core.hmm.forward_backward_log}
TRIALS = range(2)  # fresh random inputs per trial (and per run: see the rng fixture)
RTOL = {np.float64: 1e-10, np.float32: 1e-5}
PROB_ATOL = {np.float64: 1e-13, np.float32: 1e-6}

# CUDA's tiny fixed cases, (K, lengths): one state; odd sizes; length-1 sequences among longer ones;
# one longer sequence.
CUDA_CASES = [
    (1, [3, 1, 4]),
    (3, [5, 1, 7]),
    (5, [1, 9, 2]),
    (4, [14]),
]


def cuda_only(test):
    """Marks a test that exercises CUDA alone (its internals, or CUDA against the CPU)."""
    for mark in CUDA_MARKS:
        test = mark(test)
    return test


def cuda_case(*values, id=None):
    return pytest.param("cuda", *values, id=id, marks=CUDA_MARKS)


@pytest.fixture(scope="module")
def cu():
    return importlib.import_module("fastgen._cuda")


@pytest.fixture(scope="module")
def cuda_hmm():
    return importlib.import_module("fastgen._cuda.hmm")


@pytest.fixture(scope="module")
def core():
    return pytest.importorskip("fastgen._core")


def _rtol(dtype):
    return 1e-10 if dtype == np.float64 else 1e-5


def _prob_atol(dtype):
    return 1e-13 if dtype == np.float64 else 1e-5


def _lattice_inputs(rng, K, dtype, *, n_seq=12, high=30, long=400, loc=-2.0, scale=3.0, zero_frac=0.0):
    """startprob, transmat, frame_logprob (dtype, C-contiguous), lengths, offsets."""
    sp, tm = random_hmm(rng, K, zero_frac=zero_frac)
    lengths = random_lengths(rng, n_seq, high=high, long=long)
    N = int(lengths.sum())
    lp = loc + scale * rng.standard_normal((N, K))
    cast = lambda a: np.ascontiguousarray(a, dtype=dtype)  # noqa: E731
    # Renormalise after the cast so the float32 parameters are themselves stochastic.
    sp32, tm32 = cast(sp), cast(tm)
    sp32 = cast(sp32 / sp32.sum(dtype=np.float64))
    tm32 = cast(tm32 / tm32.sum(axis=1, dtype=np.float64, keepdims=True))
    return sp32, tm32, cast(lp), lengths, offsets_of(lengths)


def _logprob_atol(dtype, lp, offsets):
    """Absolute tolerance of a per-sequence log-likelihood: it is a sum over frames, so its rounding
    scales with the sum of the magnitudes of the terms, not with the (possibly cancelling, ~0)
    result: eps-level relative error per frame times sum_n max_k |lp[n, k]| of the longest."""
    mags = np.add.reduceat(np.abs(np.asarray(lp, np.float64)).max(axis=1), offsets[:-1])
    rel = 1e-14 if dtype == np.float64 else 1e-6
    return rel * float(mags.max())


def _f64(*arrays):
    return [np.asarray(a, dtype=np.float64) for a in arrays]


f64 = _f64


def cast(dtype, *arrays):
    return [np.ascontiguousarray(a, dtype=dtype) for a in arrays]


def lattice(seed, K, lengths, dtype, *, zero_frac=0.0, loc=-1.0, scale=2.0):
    """startprob, transmat, frame_logprob in `dtype` (parameters renormalised after the cast)."""
    rng = np.random.default_rng(seed)
    sp, tm = random_hmm(rng, K, zero_frac=zero_frac)
    lp = loc + scale * rng.standard_normal((int(np.sum(lengths)), K))
    sp, tm, lp = cast(dtype, sp, tm, lp)
    sp = np.ascontiguousarray(sp / sp.sum(dtype=np.float64), dtype=dtype)
    tm = np.ascontiguousarray(tm / tm.sum(axis=1, dtype=np.float64, keepdims=True), dtype=dtype)
    return sp, tm, lp


def fb(hmm, impl):
    """The forward/backward kernel of an ``hmm`` kernel module (fastgen._core.hmm or fastgen._cuda.hmm)."""
    return hmm.forward_backward if impl == "scaling" else hmm.forward_backward_log


def check_fb(got, want, dtype):
    logprob, post, xi = (host(a) for a in got)
    r_logprob, r_post, r_xi = want
    assert logprob.dtype == dtype and post.dtype == dtype and xi.dtype == dtype
    rtol = RTOL[dtype]
    assert_allclose(logprob, r_logprob, rtol=rtol, atol=0)
    assert_allclose(post, r_post, rtol=rtol, atol=PROB_ATOL[dtype])
    assert_allclose(xi, r_xi, rtol=rtol, atol=PROB_ATOL[dtype] * max(1, post.shape[0]))


def _path_logprob(startprob, transmat, frame_logprob, offsets, states):
    """log P(states, X) of a given path per sequence, in float64."""
    sp, tm, lp = _f64(startprob, transmat, frame_logprob)
    with np.errstate(divide="ignore"):
        lsp, ltm = np.log(sp), np.log(tm)
    out = []
    for b, e in zip(offsets[:-1], offsets[1:]):
        z = states[b:e]
        v = lsp[z[0]] + lp[np.arange(b, e), z].sum()
        if e - b > 1:
            v += ltm[z[:-1], z[1:]].sum()
        out.append(v)
    return np.array(out)


# =================================================================================================
# Forward / backward
# =================================================================================================

# The scaled kernel has three code paths: scoring only (no posteriors, no xi), few sequences
# (whole-array lattices) and many sequences (one cache-resident sequence at a time). N_SEQ and
# _fb_all_paths exercise every one of them; the log-domain kernel takes the same arguments.
N_SEQ = {"few": 3, "many": 40}


def _fb_all_paths(fb, sp, tm, lp, offsets):
    """(logprob, posteriors, xi) with everything requested, plus logprob from a scoring-only call,
    which must agree with it to rounding (host arrays)."""
    logprob, post, xi = fb(sp, tm, lp, offsets, True, True)
    score_only, none_p, none_x = fb(sp, tm, lp, offsets, False, False)
    assert none_p is None and none_x is None
    return host(logprob), host(post), host(xi), host(score_only)


# CPU: every K, few and many sequences, without and with zero transitions (fresh inputs); CUDA: the
# fixed CUDA_CASES (case 2 has zero transitions).
FB_ORACLE_CASES = ([pytest.param("cpu", K, n_seq, trial) for K in KS for n_seq in N_SEQ for trial in TRIALS]
                   + [cuda_case(K, tuple(lengths), case) for case, (K, lengths) in enumerate(CUDA_CASES)])


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("device, K, seqs, trial", FB_ORACLE_CASES)
def test_forward_backward_matches_oracle(rng, device, K, seqs, trial, dtype, impl):
    if device == "cpu":
        sp, tm, lp, lengths, offsets = _lattice_inputs(rng, K, dtype, n_seq=N_SEQ[seqs],
                                                       long=300 if dtype == np.float64 else 150,
                                                       zero_frac=0.3 if trial else 0.0)
        lp_atol, post_atol = _logprob_atol(dtype, lp, offsets), _prob_atol(dtype)
        # xi entries are sums of O(N / K^2) probabilities: the absolute floor scales with that.
        xi_atol = _rtol(dtype) * 1e-3 * len(lp) / K**2
    else:
        lengths = np.array(seqs)
        offsets = offsets_of(lengths)
        sp, tm, lp = lattice(trial, K, lengths, dtype, zero_frac=0.2 if trial == 2 else 0.0)
        lp_atol, post_atol, xi_atol = 0, PROB_ATOL[dtype], PROB_ATOL[dtype] * max(1, len(lp))
    logprob, post, xi, score_only = _fb_all_paths(fb(kernels(device, "hmm"), impl), sp, tm, lp, offsets)
    assert logprob.dtype == post.dtype == xi.dtype == score_only.dtype == dtype
    assert logprob.shape == (len(lengths),) and post.shape == lp.shape and xi.shape == (K, K)
    r_logprob, r_post, r_xi = ref.forward_backward(*_f64(sp, tm, lp), lengths)
    assert_allclose(logprob, r_logprob, rtol=_rtol(dtype), atol=lp_atol)
    assert_allclose(score_only, r_logprob, rtol=_rtol(dtype), atol=lp_atol)
    assert_allclose(post, r_post, rtol=_rtol(dtype), atol=post_atol)
    assert_allclose(xi, r_xi, rtol=_rtol(dtype), atol=xi_atol)


# CPU: every K, both dtypes and both domains, fresh inputs with zero transitions, tolerance 1e-12
# (float32 1e-5); CUDA: one fixed lattice (K = 4, 40% zero transitions), scaled, float64, 1e-13.
POSTERIOR_SUM_CASES = ([pytest.param("cpu", K, dtype, impl) for impl in IMPLS for dtype in DTYPES for K in KS]
                       + [cuda_case(4, np.float64, "scaling", id="cuda")])


@pytest.mark.parametrize("device, K, dtype, impl", POSTERIOR_SUM_CASES)
def test_forward_backward_posterior_and_xi_sums(rng, device, K, dtype, impl):
    """Posteriors sum to 1 per frame; xi sums to N - S, its rows to the posteriors of non-final
    frames; zero transitions get zero counts."""
    if device == "cpu":
        sp, tm, lp, lengths, offsets = _lattice_inputs(rng, K, dtype, n_seq=30, long=200, zero_frac=0.3)
        tol = 1e-12 if dtype == np.float64 else 1e-5
    else:
        lengths = [5, 1, 6]
        sp, tm, lp = lattice(41, K, lengths, dtype, zero_frac=0.4)
        offsets = offsets_of(lengths)
        tol = 1e-13
    logprob, post, xi = (host(a) for a in fb(kernels(device, "hmm"), impl)(sp, tm, lp, offsets, True, True))
    assert np.isfinite(logprob).all()
    # Each frame's posterior is a distribution over states.
    assert (post >= 0).all()
    assert_allclose(post.sum(axis=1, dtype=np.float64), 1.0, rtol=0, atol=tol)
    # One transition per consecutive pair of frames within a sequence: N - S in all.
    N, S = len(lp), len(lengths)
    assert_allclose(xi.sum(dtype=np.float64), N - S, rtol=tol, atol=0)
    # Marginals of xi are posteriors: rows sum to the posteriors of non-final frames.
    not_last = np.ones(N, bool)
    not_last[offsets[1:] - 1] = False
    assert_allclose(xi.sum(axis=1), post[not_last].sum(axis=0, dtype=np.float64), rtol=tol * 10, atol=tol * 10)
    # Transitions with zero probability get zero expected counts.
    assert (xi[tm == 0] == 0).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("K", KS)
def test_forward_backward_scaled_equals_log(rng, K, dtype):
    sp, tm, lp, lengths, offsets = _lattice_inputs(rng, K, dtype, n_seq=20, long=500, zero_frac=0.2)
    a = _core.hmm.forward_backward(sp, tm, lp, offsets, True, True)
    b = _core.hmm.forward_backward_log(sp, tm, lp, offsets, True, True)
    rtol = _rtol(dtype)
    assert_allclose(a[0], b[0], rtol=rtol, atol=_logprob_atol(dtype, lp, offsets))
    assert_allclose(a[1], b[1], rtol=rtol, atol=_prob_atol(dtype))
    assert_allclose(a[2], b[2], rtol=rtol, atol=rtol * 1e-3 * len(lp) / K**2)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("device, n_seq", [("cpu", "few"), ("cpu", "many"), cuda_case(None)])
def test_forward_backward_optional_outputs(rng, device, n_seq, impl):
    """Scoring only, posteriors only and xi only give the full call's outputs (CPU: both code paths,
    fresh inputs; CUDA: a fixed tiny lattice, one kernel, so the scores agree to 1e-15)."""
    if device == "cpu":
        sp, tm, lp, lengths, off = _lattice_inputs(rng, 5, np.float64, n_seq=N_SEQ[n_seq])
        score_rtol, score_atol = 1e-13, 1e-13
    else:
        lengths = [4, 1, 3]
        sp, tm, lp = lattice(11, 3, lengths, np.float64)
        off = offsets_of(lengths)
        score_rtol, score_atol = 1e-15, 0
    f = fb(kernels(device, "hmm"), impl)
    full = [host(a) for a in f(sp, tm, lp, off, True, True)]
    lp_only, none_p, none_x = f(sp, tm, lp, off, False, False)
    assert none_p is None and none_x is None
    assert_allclose(host(lp_only), full[0], rtol=score_rtol, atol=score_atol)
    l2, p2, x2 = f(sp, tm, lp, off, True, False)
    assert x2 is None
    assert_array_equal(host(p2), full[1])
    l3, p3, x3 = f(sp, tm, lp, off, False, True)
    assert p3 is None
    assert_array_equal(host(x3), full[2])


@pytest.mark.parametrize("impl", ["scaling", "log"])
@pytest.mark.parametrize("K", KS)
def test_forward_backward_length_one_sequences(rng, K, impl):
    """Only length-1 sequences: posteriors are the normalised start * emission, no transitions."""
    S = int(rng.integers(1, 50))
    sp, tm = random_hmm(rng, K)
    lp = rng.normal(scale=3, size=(S, K))
    offsets = np.arange(S + 1, dtype=np.int64)
    logprob, post, xi = FB[impl](sp, tm, lp, offsets, True, True)
    joint = np.log(sp) + lp
    assert_allclose(logprob, logsumexp(joint, axis=1), rtol=1e-12, atol=1e-13)
    assert_allclose(post, np.exp(joint - logsumexp(joint, axis=1, keepdims=True)), rtol=1e-12, atol=1e-15)
    assert_array_equal(xi, np.zeros((K, K)))


# CPU: short to long sequences, one and many of them, 3 nats per frame; CUDA: one sequence of 24
# frames, 40 nats per frame (underflow within ~3 frames in float32, ~18 in float64).
ABSORBING_CASES = ([pytest.param("cpu", T, copies, 3.0, id=f"cpu-T{T}-{'one' if copies == 1 else 'many'}-sequence")
                    for T in (25, 60, 300, 2000) for copies in (1, 20)]
                   + [cuda_case(24, 1, 40.0, id="cuda-T24-one-sequence")])


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("device, T, copies, gap", ABSORBING_CASES)
def test_forward_backward_absorbing_state(device, T, copies, gap, dtype, impl):
    """Start in state 0, which is absorbing, while state 1 (unreachable) has the larger emission
    log-probability (by `gap` nats) at every frame. The only path is 0, 0, ..., 0: posteriors [1, 0]
    everywhere and T - 1 expected 0 -> 0 transitions. A backward pass normalised by the sum of beta
    over *all* states lets beta of the reachable state shrink by exp(-gap) per step relative to the
    unreachable one until it underflows (gap 3: float32 after ~30 frames, float64 after ~250):
    posteriors then come out all zero for a sequence of positive probability."""
    sp = np.array([1.0, 0.0], dtype=dtype)
    tm = np.array([[1.0, 0.0], [0.3, 0.7]], dtype=dtype)
    lp = np.zeros((T * copies, 2), dtype=dtype)
    lp[:, 0] = -gap
    logprob, post, xi, score_only = _fb_all_paths(fb(kernels(device, "hmm"), impl), sp, tm, lp,
                                                  offsets_of([T] * copies))
    want = np.full(copies, -gap * T)
    f32 = dtype == np.float32
    if device == "cpu":
        lp_rtol, post_atol = (1e-6 if f32 else 1e-12), _prob_atol(dtype)
    else:
        lp_rtol, post_atol = RTOL[dtype], PROB_ATOL[dtype]
    assert_allclose(logprob, want, rtol=lp_rtol, atol=0)
    assert_allclose(score_only, want, rtol=lp_rtol, atol=0)
    assert_allclose(post, np.tile([1.0, 0.0], (T * copies, 1)), rtol=0, atol=post_atol)
    assert_allclose(xi, [[(T - 1) * copies, 0], [0, 0]], rtol=1e-5 if f32 else 1e-10, atol=0)


@pytest.mark.parametrize("copies", [1, 20], ids=["one-sequence", "many-sequences"])
@pytest.mark.parametrize("impl", ["scaling", "log"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_backward_transient_state_after_deep_dip(dtype, impl, copies):
    """The forward-pass twin of the absorbing-state test. State 0 is absorbing, state 1 transient.
    The first n frames favour state 0 by 4 nats each, the next 2n favour state 1 by 4 nats each: the
    best explanation by far is "state 1 throughout" (log-likelihood ~ -4n). On the way, alpha(1) /
    alpha(0) dips to exp(-4n), past the floating-point range (n = 30 in float32, 200 in float64);
    a forward pass normalised over all states then rounds alpha(1) to 0, state 1 can never be
    re-entered, and the sequence is explained by state 0 alone: log-likelihood ~ -8n, posteriors
    on the wrong state, silently."""
    n = 30 if dtype == np.float32 else 200
    sp = np.array([0.5, 0.5], dtype=dtype)
    tm = np.array([[1.0, 0.0], [0.01, 0.99]], dtype=dtype)
    one = np.zeros((3 * n, 2), dtype=dtype)
    one[:n, 1] = -4.0
    one[n:, 0] = -4.0
    lp = np.ascontiguousarray(np.tile(one, (copies, 1)))
    lengths = np.full(copies, 3 * n)
    logprob, post, xi, score_only = _fb_all_paths(FB[impl], sp, tm, lp, offsets_of(lengths))
    r_logprob, r_post, r_xi = ref.forward_backward(*_f64(sp, tm, lp), lengths)
    assert_allclose(logprob, r_logprob, rtol=_rtol(dtype), atol=0)
    assert_allclose(score_only, r_logprob, rtol=_rtol(dtype), atol=0)
    assert_allclose(post, r_post, rtol=_rtol(dtype), atol=_prob_atol(dtype))
    assert_allclose(xi, r_xi, rtol=_rtol(dtype), atol=_prob_atol(dtype))
    # Viterbi (log domain) agrees: state 1 throughout.
    v_logprob, states = _core.hmm.viterbi(sp, tm, lp, offsets_of(lengths))
    assert_array_equal(states, 1)


@pytest.mark.parametrize("n_seq", [3, 40], ids=["whole-array-path", "per-sequence-path"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_scaled_redoes_only_lost_sequences_in_log_domain(rng, dtype, n_seq):
    """A batch mixing ordinary sequences with deep-dip ones (see the test above): the dip sequences
    are redone in the log domain and scattered back; logprob, posteriors and the summed xi (scaled
    part plus log part) must all match the oracle, in sequence order."""
    n = 30 if dtype == np.float32 else 200
    sp = np.array([0.5, 0.5], dtype=dtype)
    tm = np.array([[1.0, 0.0], [0.01, 0.99]], dtype=dtype)
    dip = np.zeros((3 * n, 2))
    dip[:n, 1] = -4.0
    dip[n:, 0] = -4.0
    blocks, lengths = [], []
    for s in range(n_seq):
        if s % 3 == 1:
            blocks.append(dip)
        else:
            L = int(rng.integers(1, 50))
            blocks.append(rng.normal(scale=2.0, size=(L, 2)))
        lengths.append(len(blocks[-1]))
    lp = np.ascontiguousarray(np.concatenate(blocks), dtype=dtype)
    lengths = np.array(lengths)
    logprob, post, xi, score_only = _fb_all_paths(FB["scaling"], sp, tm, lp, offsets_of(lengths))
    r_logprob, r_post, r_xi = ref.forward_backward(*_f64(sp, tm, lp), lengths)
    # A log-likelihood is a sum of per-frame terms: its rounding scales with their magnitudes, not
    # with the total (which can cancel to ~0 for these random emissions).
    frame_scale = np.add.reduceat(np.abs(lp.astype(np.float64)).max(axis=1) + 1.0, offsets_of(lengths)[:-1])
    assert_sum_close(logprob, r_logprob, frame_scale, _rtol(dtype))
    assert_sum_close(score_only, r_logprob, frame_scale, _rtol(dtype))
    assert_allclose(post, r_post, rtol=_rtol(dtype), atol=_prob_atol(dtype))
    assert_allclose(xi, r_xi, rtol=_rtol(dtype), atol=_prob_atol(dtype))


@pytest.mark.parametrize("n_seq", [1, 20], ids=["whole-array-path", "per-sequence-path"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_frame_where_every_reachable_emission_underflows_is_not_impossible(dtype, n_seq):
    """Left-to-right model: every frame is explained 800 nats (float32: 120) better by the last
    state, unreachable for the first frames, so the reachable states' shifted emissions all round
    to 0 and the scaled step sums to 0. That is an underflow, not an impossible sequence: the
    guard must redo it in the log domain rather than report -inf."""
    K, T = 4, 10
    gap = 120.0 if dtype == np.float32 else 800.0
    sp = np.array([1.0, 0, 0, 0], dtype=dtype)
    tm = np.array([[0.5, 0.5, 0, 0], [0, 0.5, 0.5, 0], [0, 0, 0.5, 0.5], [0, 0, 0, 1.0]], dtype=dtype)
    one = np.zeros((T, K))
    one[:, :-1] = -gap
    lp = np.ascontiguousarray(np.tile(one, (n_seq, 1)), dtype=dtype)
    lengths = np.full(n_seq, T)
    logprob, post, xi, score_only = _fb_all_paths(FB["scaling"], sp, tm, lp, offsets_of(lengths))
    r_logprob, r_post, r_xi = ref.forward_backward(*_f64(sp, tm, lp), lengths)
    assert np.isfinite(r_logprob).all()
    assert_allclose(logprob, r_logprob, rtol=_rtol(dtype), atol=0)
    assert_allclose(score_only, r_logprob, rtol=_rtol(dtype), atol=0)
    assert_allclose(post, r_post, rtol=_rtol(dtype), atol=_prob_atol(dtype))
    assert_allclose(xi, r_xi, rtol=_rtol(dtype), atol=_prob_atol(dtype) * n_seq)


@pytest.mark.parametrize("n_seq", [1, 20], ids=["whole-array-path", "per-sequence-path"])
@pytest.mark.parametrize("impl", ["scaling", "log"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_xi_finite_when_data_favours_unreachable_states(dtype, impl, n_seq):
    """Left-to-right model starting in state 0 while every frame is explained 300 nats (float32: 40)
    better by the last state, which is reachable only after K-1 steps. The early forward normalisers
    are tiny and the betas of unreachable states sit at their clamp, so the xi weight
    E beta / (c g) overflows unless it is capped; times alpha = 0, or times A_ij = 0, that was NaN."""
    K, T = 4, 12
    gap = 40.0 if dtype == np.float32 else 300.0
    sp = np.array([1.0, 0, 0, 0], dtype=dtype)
    tm = np.array([[0.5, 0.5, 0, 0], [0, 0.5, 0.5, 0], [0, 0, 0.5, 0.5], [0, 0, 0, 1.0]], dtype=dtype)
    one = np.zeros((T, K))
    one[:, :-1] = -gap
    one[:, 1] -= np.linspace(0, 3, T)  # break ties between the paths
    lp = np.ascontiguousarray(np.tile(one, (n_seq, 1)), dtype=dtype)
    lengths = np.full(n_seq, T)
    logprob, post, xi, score_only = _fb_all_paths(FB[impl], sp, tm, lp, offsets_of(lengths))
    assert np.isfinite(logprob).all() and np.isfinite(post).all() and np.isfinite(xi).all()
    r_logprob, r_post, r_xi = ref.forward_backward(*_f64(sp, tm, lp), lengths)
    assert_allclose(logprob, r_logprob, rtol=_rtol(dtype), atol=0)
    assert_allclose(post, r_post, rtol=_rtol(dtype), atol=_prob_atol(dtype))
    assert_allclose(xi, r_xi, rtol=_rtol(dtype), atol=_prob_atol(dtype) * n_seq)
    assert_array_equal(xi[np.asarray(tm) == 0], 0)


# CPU: K = 2, 5, 17 in both dtypes, fresh inputs with many long sequences; CUDA: K = 4, float64, two
# fixed short sequences whose later states score 30 nats above the first.
LEFT_TO_RIGHT_CASES = ([pytest.param("cpu", K, dtype) for K in (2, 5, 17) for dtype in DTYPES]
                       + [cuda_case(4, np.float64)])


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("device, K, dtype", LEFT_TO_RIGHT_CASES)
def test_forward_backward_left_to_right(rng, device, K, dtype, impl):
    """Left-to-right (Bakis) models, the classic speech/gesture topology: start in state 0, move only
    forward; later states may well emit the data better long before they are reachable."""
    if device == "cpu":
        sp = np.zeros(K)
        sp[0] = 1.0
        tm = np.triu(rng.random((K, K)) + 0.1) * np.tri(K, K, 1).T  # stay, or step one state forward
        tm = np.triu(tm) - np.triu(tm, 2)
        tm /= tm.sum(axis=1, keepdims=True)
        lengths = random_lengths(rng, 6, low=K, high=60, long=400)
        lengths[lengths < K] = K
        lp = rng.normal(scale=2.0, size=(int(lengths.sum()), K)) + np.linspace(0, 3, K)  # later states score higher
    else:
        fixed = np.random.default_rng(71)
        sp = np.eye(K)[0]
        tm = np.diag(fixed.uniform(0.3, 0.9, K)) + np.diag(np.ones(K - 1), 1)
        tm[-1, -1] = 1.0
        tm /= tm.sum(axis=1, keepdims=True)
        lengths = np.array([9, 5])
        lp = fixed.normal(scale=2.0, size=(14, K)) + np.linspace(0, 30, K)
    T = int(lengths.sum())
    sp_, tm_, lp_ = (np.ascontiguousarray(a, dtype=dtype) for a in (sp, tm, lp))
    logprob, post, xi = (host(a) for a in fb(kernels(device, "hmm"), impl)(sp_, tm_, lp_, offsets_of(lengths), True, True))
    r_logprob, r_post, r_xi = ref.forward_backward(*_f64(sp_, tm_, lp_), lengths)
    if device == "cpu":
        assert_allclose(logprob, r_logprob, rtol=_rtol(dtype), atol=_logprob_atol(dtype, lp_, offsets_of(lengths)))
        assert_allclose(post, r_post, rtol=_rtol(dtype), atol=_prob_atol(dtype))
    else:
        check_fb((logprob, post, xi), (r_logprob, r_post, r_xi), dtype)
    assert_allclose(xi.sum(dtype=np.float64), T - len(lengths), rtol=1e-5 if dtype == np.float32 else 1e-10, atol=0)


@pytest.mark.parametrize("level", [-1e4, 1e3])
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("device, n_seq", [("cpu", "few"), ("cpu", "many"), cuda_case(None)])
def test_forward_backward_extreme_frame_logprobs(rng, device, n_seq, impl, level):
    """Frame log-probabilities around -1e4 (exp underflows to 0) or +1e3 (exp overflows): the scaled
    recursion survives through its per-frame max shift, the log recursion natively."""
    if device == "cuda":
        # Two fixed short sequences, K = 4: the oracle runs on the frames as they are.
        K, lengths = 4, [6, 5]
        sp, tm, lp = lattice(21, K, lengths, np.float64, zero_frac=0.3, loc=level, scale=20.0)
        logprob, post, xi = (host(a) for a in fb(kernels(device, "hmm"), impl)(sp, tm, lp, offsets_of(lengths),
                                                                               True, True))
        assert np.isfinite(logprob).all() and np.isfinite(post).all() and np.isfinite(xi).all()
        r_logprob, r_post, r_xi = ref.forward_backward(sp, tm, lp, lengths)
        assert_allclose(logprob, r_logprob, rtol=1e-12, atol=0)
        # log domain: lattices of magnitude ~1e5 carry ~1e-11 absolute error into the exponent
        rtol = 1e-10 if impl == "scaling" else 1e-8
        assert_allclose(post, r_post, rtol=rtol, atol=1e-12)
        assert_allclose(xi, r_xi, rtol=rtol, atol=1e-12)
        return
    K = 5
    sp, tm = random_hmm(rng, K, zero_frac=0.3)
    lengths = random_lengths(rng, N_SEQ[n_seq], high=40, long=200)
    lp = level + 20 * rng.standard_normal((int(lengths.sum()), K))
    offsets = offsets_of(lengths)
    logprob, post, xi, score_only = _fb_all_paths(FB[impl], sp, tm, lp, offsets)
    assert np.isfinite(logprob).all() and np.isfinite(post).all() and np.isfinite(xi).all()
    # The oracle (log domain) would itself lose digits at |log alpha| ~ 1e4 * 240. Posteriors and
    # xi do not change when a frame's log-probabilities all move by one constant, and lp - level
    # is computed exactly (Sterbenz), so the oracle answers the same question at level 0.
    r_logprob, r_post, r_xi = ref.forward_backward(sp, tm, lp - level, lengths)
    # A sum of ~|level| per frame: its rounding scales with the terms' magnitudes, not the result's.
    frame_scale = np.add.reduceat(np.abs(lp).max(axis=1), offsets[:-1])
    assert_sum_close(logprob, r_logprob + level * lengths, frame_scale, 1e-13)
    assert_sum_close(score_only, r_logprob + level * lengths, frame_scale, 1e-13)
    # Log domain: log alpha reaches |1e4 * 240| ~ 2.4e6, where one float64 ulp is ~5e-10; the
    # exponentiated differences carry that as relative error. The scaled path's max shift is exact,
    # but a sequence whose reachable mass it cannot keep (zeros in the transitions, emissions 1e4
    # apart) is redone in the log domain (hmm.hpp), so both get the log domain's tolerance (with
    # 1e-10, about 1% of random draws failed, on the old OpenMP kernels as well).
    assert_allclose(post, r_post, rtol=1e-8, atol=1e-9)
    assert_allclose(xi, r_xi, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_backward_zero_probability_sequence(rng, device, dtype, impl):
    """A sequence that no path can produce: logprob -inf, posteriors 0, no NaN anywhere, and the
    other sequences' results (and their xi contributions) are unaffected. CPU: fresh frames, the
    results of the possible sequences equal a run without the impossible one. CUDA: fixed frames, a
    second impossible sequence (a frame impossible in every state), everything against the oracle."""
    K = 3
    sp = np.array([1.0, 0.0, 0.0])
    tm = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [0.0, 0.0, 1.0]])  # left-to-right
    if device == "cpu":
        lengths = np.array([6, 4, 5])
        lp = rng.normal(size=(15, K))
        # Sequence 1 (rows 6..9): state 2 is required at its second frame, unreachable in one step.
        lp[7, :2] = -np.inf
        dead, alive, dead_rows = [1], [0, 2], [np.s_[6:10]]
    else:
        lengths = np.array([4, 3, 4, 3])
        lp = np.random.default_rng(5).normal(size=(14, K))
        lp[5, :2] = -np.inf      # sequence 1 needs state 2 at its second frame: unreachable in one step
        lp[12, :] = -np.inf      # sequence 3: an impossible frame
        dead, alive, dead_rows = [1, 3], [0, 2], [np.s_[4:7], np.s_[11:14]]
    sp, tm, lp = (np.ascontiguousarray(a, dtype=dtype) for a in (sp, tm, lp))
    f = fb(kernels(device, "hmm"), impl)
    logprob, post, xi = (host(a) for a in f(sp, tm, lp, offsets_of(lengths), True, True))
    assert (logprob[dead] == -np.inf).all()
    assert np.isfinite(logprob[alive]).all()
    for rows in dead_rows:
        assert_array_equal(post[rows], 0)
    assert not np.isnan(post).any() and not np.isnan(xi).any()
    if device == "cuda":
        check_fb((logprob, post, xi), ref.forward_backward(*f64(sp, tm, lp), lengths), dtype)
        return
    keep = np.r_[0:6, 10:15]
    l2, p2, x2 = f(sp, tm, np.ascontiguousarray(lp[keep]), offsets_of([6, 5]), True, True)
    f32 = dtype == np.float32
    assert_allclose(logprob[[0, 2]], l2, rtol=1e-6 if f32 else 1e-14, atol=1e-5 if f32 else 1e-13)
    assert_allclose(post[keep], p2, rtol=1e-6 if dtype == np.float32 else 1e-14, atol=1e-7)
    assert_allclose(xi, x2, rtol=1e-6 if dtype == np.float32 else 1e-13, atol=1e-7)


@pytest.mark.parametrize("impl", ["scaling", "log"])
def test_forward_backward_all_frames_impossible(impl):
    """A frame where every state has -inf: -inf logprob, zero posteriors, nothing NaN."""
    K = 4
    sp, tm = np.full(K, 1 / K), np.full((K, K), 1 / K)
    lp = np.zeros((5, K))
    lp[2] = -np.inf
    logprob, post, xi = FB[impl](sp, tm, lp, offsets_of([5]), True, True)
    assert logprob[0] == -np.inf
    assert_array_equal(post, 0)
    assert_array_equal(xi, 0)


def test_forward_backward_long_sequence_no_underflow(rng):
    """T = 1e6, K = 4, one sequence: the scaled recursion neither underflows nor drifts from the
    log-domain recursion (relative 1e-8 on a log-likelihood of magnitude ~1e6)."""
    K, T = 4, 1_000_000
    sp, tm = random_hmm(rng, K)
    lp = -3.0 + rng.standard_normal((T, K))
    offsets = np.array([0, T], dtype=np.int64)
    a = _core.hmm.forward_backward(sp, tm, lp, offsets, True, True)
    b = _core.hmm.forward_backward_log(sp, tm, lp, offsets, True, True)
    assert np.isfinite(a[0][0]) and a[0][0] < -1e6
    assert_allclose(a[0], b[0], rtol=1e-8, atol=0)
    assert np.isfinite(a[1]).all() and np.isfinite(a[2]).all()
    assert_allclose(a[1].sum(axis=1), 1.0, rtol=0, atol=1e-12)  # scaled: exact per-frame normalisation
    assert_allclose(a[2].sum(), T - 1, rtol=1e-9, atol=0)
    # Both recursions agree on the posteriors (the log one carries eps64 * |log alpha| ~ 1e-9).
    assert_allclose(a[1], b[1], rtol=0, atol=1e-8)


def test_forward_backward_log_long_sequence_posteriors():
    """Log-domain posteriors on T = 1e6 frames, float64, against the scaled recursion (which agrees
    with an 80-bit long-double recursion to 3e-16). exp(log alpha + log beta - log P) inherits the
    drift of log alpha and log beta, rounded to ulp(|log alpha|) ~ 5e-10 at each of 1e6 steps
    (~1e-5 by the end, common to all states of a frame); normalising each frame, as hmmlearn's log
    implementation does, cancels the common part and leaves ~1e-9."""
    rng = np.random.default_rng(1)  # fixed: a draw known to drift by ~5e-6 without normalisation
    K, T = 4, 1_000_000
    sp, tm = random_hmm(rng, K)
    lp = -3.0 + rng.standard_normal((T, K))
    offsets = np.array([0, T], dtype=np.int64)
    a = _core.hmm.forward_backward(sp, tm, lp, offsets, True, False)
    b = _core.hmm.forward_backward_log(sp, tm, lp, offsets, True, False)
    # Rows: a few ulp(|log alpha| ~ 4e6) ~ 1e-9 if the normaliser is applied in the log domain.
    assert_allclose(b[1].sum(axis=1), 1.0, rtol=0, atol=1e-9)
    assert_allclose(b[1], a[1], rtol=0, atol=1e-8)


@pytest.mark.parametrize("impl", ["scaling", "log"])
def test_forward_backward_float32_long_sequence(impl):
    """dtype float32 on one sequence of 1e5 frames: posteriors within 1e-5 of the float64 recursion
    run on the same (float32-rounded) inputs. Log lattices stored in float32 cannot do this: one ulp
    at |log alpha| ~ 2e5 is 1/64, which put errors of 1% to 70% into the posteriors (depending on
    the draw); the scaled lattices are O(1) by construction."""
    rng = np.random.default_rng(1)  # fixed: a draw known to give ~70% errors with float32 log lattices
    K, T = 4, 100_000
    sp, tm = random_hmm(rng, K)
    sp32, tm32 = sp.astype(np.float32), tm.astype(np.float32)
    sp32 /= sp32.sum()
    tm32 /= tm32.sum(axis=1, keepdims=True)
    lp32 = (-2.0 + 3.0 * rng.standard_normal((T, K))).astype(np.float32)
    offsets = np.array([0, T], dtype=np.int64)
    logprob, post, xi = FB[impl](sp32, tm32, lp32, offsets, True, True)
    r_logprob, r_post, r_xi = _core.hmm.forward_backward(*_f64(sp32, tm32, lp32), offsets, True, True)
    assert_allclose(logprob, r_logprob, rtol=1e-5, atol=0)
    assert_allclose(post.sum(axis=1, dtype=np.float64), 1.0, rtol=0, atol=1e-5)
    assert_allclose(post, r_post, rtol=0, atol=1e-5)
    assert_allclose(xi, r_xi, rtol=1e-5, atol=0)


# -- CUDA only: block shapes, chunked xi, device-resident inputs -----------------------------------

@cuda_only
@pytest.mark.parametrize("max_threads", [32, None])
def test_many_states_span_warps_and_threads(cu, cuda_hmm, max_threads, monkeypatch):
    """K = 37: with the default block (64 threads) the block sums span two warps; with the block
    capped at 32 threads every thread owns two states (the strided loops)."""
    if max_threads is not None:
        monkeypatch.setattr(cuda_hmm, "_SEQ_MAX_THREADS", max_threads)
    K, lengths = 37, [3, 2]
    assert cuda_hmm._seq_threads(K) == (max_threads or 64)
    sp, tm, lp = lattice(61, K, lengths, np.float64, zero_frac=0.3)
    off = offsets_of(lengths)
    want = ref.forward_backward(sp, tm, lp, lengths)
    for impl in IMPLS:
        check_fb(fb(cu.hmm, impl)(sp, tm, lp, off, True, True), want, np.float64)
    logprob, states = (host(a) for a in cu.hmm.viterbi(sp, tm, lp, off))
    r_logprob, r_states = ref.viterbi(sp, tm, lp, lengths)
    assert_allclose(logprob, r_logprob, rtol=1e-12)
    assert_array_equal(states, r_states)


@cuda_only
@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_backward_scaling_does_not_underflow(cu, dtype):
    """Normalisers of ~1e-22 every other frame (a near-impossible switch forced by the start state
    and a transition of 1e-100): unscaled alpha and beta would underflow within 30 frames."""
    sp = np.array([1.0, 0.0])
    tm = np.array([[1e-100, 1.0 - 1e-100], [1.0 - 1e-100, 1e-100]])
    lengths = [40, 3]
    lp = np.tile([0.0, -50.0], (43, 1))
    want = ref.forward_backward(sp, tm, lp, lengths)
    assert want[0][0] < -700  # the product of the normalisers is far below DBL_MIN
    sp, tm, lp = cast(dtype, sp, tm, lp)
    got = cu.hmm.forward_backward(sp, tm, lp, offsets_of(lengths), True, True)
    if dtype == np.float32:  # 1e-100 is 0 in float32: the model itself changes
        want = ref.forward_backward(*f64(sp, tm, lp), lengths)
    check_fb(got, want, dtype)


@cuda_only
@pytest.mark.parametrize("impl", IMPLS)
def test_xi_sum_is_deterministic_over_several_chunks(cu, cuda_hmm, impl, monkeypatch):
    """Short chunks so the xi reduction spans several of them: two runs give identical bits, and
    the chunked sum still matches the oracle."""
    monkeypatch.setattr(cuda_hmm, "_MIN_CHUNK", 4)
    K, lengths = 3, [7, 2, 6]
    sp, tm, lp = lattice(31, K, lengths, np.float64)
    off = offsets_of(lengths)
    assert cuda_hmm._chunk_frames(int(np.sum(lengths)) - 1, K * K) == 4
    a = [host(x) for x in fb(cu.hmm, impl)(sp, tm, lp, off, True, True)]
    b = [host(x) for x in fb(cu.hmm, impl)(sp, tm, lp, off, True, True)]
    for x, y in zip(a, b):
        assert x.tobytes() == y.tobytes()
    check_fb(a, ref.forward_backward(sp, tm, lp, lengths), np.float64)


@cuda_only
def test_forward_backward_accepts_device_arrays(cu):
    from numba import cuda
    K, lengths = 3, [3, 4]
    sp, tm, lp = lattice(51, K, lengths, np.float32)
    off = offsets_of(lengths)
    want = [host(a) for a in cu.hmm.forward_backward(sp, tm, lp, off)]
    got = [host(a) for a in cu.hmm.forward_backward(*(cuda.to_device(a) for a in (sp, tm, lp, off)))]
    for x, y in zip(got, want):
        assert_array_equal(x, y)


@cuda_only
def test_hmm_kernels_reject_bad_arguments(cu):
    sp, tm, lp = np.full(3, 1 / 3), np.full((3, 3), 1 / 3), np.zeros((5, 3))
    off = np.array([0, 2, 5])
    for f in (cu.hmm.forward_backward, cu.hmm.forward_backward_log, cu.hmm.viterbi):
        with pytest.raises(TypeError):
            f(sp.astype(np.float32), tm, lp, off)
        with pytest.raises(TypeError):
            f(sp, tm, lp, off.astype(np.int32))
        with pytest.raises(ValueError, match="transmat"):
            f(sp, tm[:2], lp, off)
        with pytest.raises(ValueError, match="startprob"):
            f(sp[:2], tm, lp, off)
        for bad in ([0, 3, 3, 5], [1, 5], [0, 4], [0]):
            with pytest.raises(ValueError, match="offsets"):
                f(sp, tm, lp, np.array(bad, dtype=np.int64))
        with pytest.raises(ValueError, match="state"):
            f(np.zeros(0), np.zeros((0, 0)), np.zeros((5, 0)), off)


# =================================================================================================
# CUDA: the scaled forward's underflow guard (redo in the log domain) and the xi weight cap
# =================================================================================================

def dip_model(dtype):
    """State 0 absorbing, state 1 transient (1% leak into 0 per step)."""
    return np.array([0.5, 0.5], dtype=dtype), np.array([[1.0, 0.0], [0.01, 0.99]], dtype=dtype)


def dip_frames(n, depth):
    """n frames that favour state 0 by `depth` nats each, then 2 n that favour state 1: "state 1
    throughout" wins by ~depth n nats, but on the way alpha(1) / alpha(0) falls to exp(-depth n)."""
    lp = np.zeros((3 * n, 2))
    lp[:n, 1] = -depth
    lp[n:, 0] = -depth
    return lp


def scaled_run(cuda_hmm, sp, tm, lp, offsets, want_post=True, want_xi=True):
    """Host (logprob, posteriors, xi) of the scaled kernel and the indices of the redone sequences."""
    *res, redone = cuda_hmm._forward_backward_scaled(sp, tm, lp, offsets, want_post, want_xi)
    return [host(a) for a in res], redone


ALL_OUTPUTS = ((True, True), (True, False), (False, True), (False, False))


def check_all_outputs(cuda_hmm, sp, tm, lp, lengths, dtype, want_redone, combos=ALL_OUTPUTS):
    """The scaled kernel with each (want_posteriors, want_xi) of `combos` (the first must be
    (True, True)) against the oracle, the same sequences redone each time; returns the full results."""
    r_logprob, r_post, r_xi = ref.forward_backward(*f64(sp, tm, lp), lengths)
    off = offsets_of(lengths)
    rtol = RTOL[dtype]
    results = []
    for want_post, want_xi in combos:
        (logprob, post, xi), redone = scaled_run(cuda_hmm, sp, tm, lp, off, want_post, want_xi)
        assert_array_equal(redone, want_redone)
        assert logprob.dtype == dtype
        assert_allclose(logprob, r_logprob, rtol=rtol, atol=0)
        assert (post is None) != want_post and (xi is None) != want_xi
        if want_post:
            assert_allclose(post, r_post, rtol=rtol, atol=PROB_ATOL[dtype])
        if want_xi:
            assert_allclose(xi, r_xi, rtol=rtol, atol=PROB_ATOL[dtype] * len(lp))
        results.append((logprob, post, xi))
    return results[0]


@cuda_only
def test_guard_reported_repro(cuda_hmm):
    """The reported case, float64, 600 frames: the scaled recursion used to return -1600.69 (state 1
    lost after ~180 frames, the sequence explained by state 0 alone) instead of -806.71."""
    sp, tm = dip_model(np.float64)
    lp, lengths = dip_frames(200, 4.0), [600]
    r_logprob, r_post, r_xi = ref.forward_backward(sp, tm, lp, lengths)
    assert_allclose(r_logprob, [-806.71310988], rtol=1e-10)
    (logprob, post, xi), redone = scaled_run(cuda_hmm, sp, tm, lp, offsets_of(lengths))
    assert_array_equal(redone, [0])
    check_fb((logprob, post, xi), (r_logprob, r_post, r_xi), np.float64)
    assert (post[:, 1] > 0.99).all()


@cuda_only
@pytest.mark.parametrize("dtype", DTYPES)
def test_guard_transient_state_after_deep_dip(cu, cuda_hmm, dtype):
    """CUDA twin of test_forward_backward_transient_state_after_deep_dip (above),
    60 frames: alpha(1) / alpha(0) reaches exp(-100) < FLT_MIN (float32), exp(-800) (float64).
    Every combination of outputs is redone and matches the oracle and the log-domain kernel;
    Viterbi agrees: state 1 throughout."""
    n, depth = (20, 5.0) if dtype == np.float32 else (20, 40.0)
    sp, tm = dip_model(dtype)
    lp = np.ascontiguousarray(dip_frames(n, depth), dtype=dtype)
    lengths = [3 * n]
    logprob, post, xi = check_all_outputs(cuda_hmm, sp, tm, lp, lengths, dtype, [0])
    assert (post[:, 1] > 0.99).all()
    log_result = [host(a) for a in cu.hmm.forward_backward_log(sp, tm, lp, offsets_of(lengths), True, True)]
    for a, b in zip((logprob, post, xi), log_result):
        assert_allclose(a, b, rtol=RTOL[dtype], atol=PROB_ATOL[dtype])
    assert_array_equal(host(cu.hmm.viterbi(sp, tm, lp, offsets_of(lengths))[1]), 1)


@cuda_only
@pytest.mark.parametrize("dtype", DTYPES)
def test_guard_redoes_only_flagged_sequences(cu, cuda_hmm, core, dtype, monkeypatch):
    """Deep-dip sequences among ordinary ones (and a length-1 one): exactly the dip sequences are
    redone; their logprob and posterior rows land in place and their xi is added to the others'
    (several xi chunks). Device-resident inputs (offsets read back only for the redo) give the same
    bits, and the C++ kernel (same guard) agrees."""
    monkeypatch.setattr(cuda_hmm, "_MIN_CHUNK", 8)
    n, depth = (13, 8.0) if dtype == np.float32 else (13, 60.0)  # exp(-104) < FLT_MIN, exp(-780)
    sp, tm = dip_model(dtype)
    rng = np.random.default_rng(17)
    blocks, dips = [], [1, 4, 6]
    for s in range(7):
        if s in dips:
            blocks.append(dip_frames(n + s, depth))
        else:
            blocks.append(rng.normal(scale=2.0, size=(1 if s == 5 else int(rng.integers(2, 9)), 2)))
    lengths = [len(x) for x in blocks]
    lp = np.ascontiguousarray(np.concatenate(blocks), dtype=dtype)
    full = check_all_outputs(cuda_hmm, sp, tm, lp, lengths, dtype, dips, combos=((True, True), (False, False)))
    from numba import cuda
    dev = [cuda.to_device(a) for a in (sp, tm, lp, offsets_of(lengths))]
    got_dev, redone = scaled_run(cuda_hmm, *dev)
    assert_array_equal(redone, dips)
    for a, b in zip(got_dev, full):
        assert a.tobytes() == b.tobytes()
    for a, b in zip(full, core.hmm.forward_backward(sp, tm, lp, offsets_of(lengths), True, True)):
        assert_allclose(a, b, rtol=RTOL[dtype], atol=PROB_ATOL[dtype] * len(lp))


@cuda_only
@pytest.mark.parametrize("dtype", DTYPES)
def test_guard_leaves_structural_and_forgiven_zeros_alone(cuda_hmm, dtype):
    """Zeros that are no underflow, or an underflow that a surviving state repairs, are not redone:
    a left-to-right model (unreachable states, impossible emissions lp = -inf, a state that dies at
    such a frame); an absorbing start state beside an unreachable, better-emitting one; an ergodic
    model where one state's emission underflows at a frame (exp(-800), float32 exp(-120)) and other
    states re-enter it. Results match the oracle."""
    rng = np.random.default_rng(23)
    K = 4
    sp = np.eye(K)[0]
    tm = np.diag([0.6, 0.5, 0.7, 1.0]) + np.diag([0.4, 0.5, 0.3], 1)
    lengths = [9, 5, 12]
    lp = rng.normal(scale=1.0, size=(26, K)) + np.linspace(0, 2, K)
    lp[3, 0] = -np.inf        # sequence 0: state 0 dies at its 4th frame, and never comes back
    lp[10, 2] = -np.inf       # sequence 1: state 2 impossible at its second frame (it is unreachable)
    lp[20:, 1] = -np.inf      # sequence 2: state 1 impossible from its 7th frame on
    cases = [(sp, tm, lp, lengths)]
    cases.append((np.array([1.0, 0.0]), np.array([[1.0, 0.0], [0.3, 0.7]]),
                  np.tile([-40.0, 0.0], (10, 1)), [10]))
    deep = 120.0 if dtype == np.float32 else 800.0
    sp3, tm3 = random_hmm(rng, 3)
    lp3 = rng.normal(size=(11, 3))
    lp3[[2, 7], 2] = -deep
    cases.append((sp3, tm3, lp3, [6, 5]))
    for sp_, tm_, lp_, lengths_ in cases:
        sp_, tm_, lp_ = cast(dtype, sp_, tm_, lp_)
        check_all_outputs(cuda_hmm, sp_, tm_, lp_, lengths_, dtype, np.zeros(0, dtype=np.int64))


@cuda_only
@pytest.mark.parametrize("dtype", DTYPES)
def test_guard_everything_underflows_at_the_first_frame(cu, cuda_hmm, dtype):
    """Left-to-right, start in state 0, frames far closer to the last state: exp(lp - max) of every
    reachable state underflows at the first frame, so the scaled vector is all zeros. The sequence
    is possible (state 0 has a finite emission), so it is redone rather than declared impossible."""
    K, T = 4, 6
    gap = 120.0 if dtype == np.float32 else 800.0
    sp = np.eye(K, dtype=dtype)[0]
    tm = (np.diag([0.5, 0.5, 0.5, 1.0]) + np.diag([0.5, 0.5, 0.5], 1)).astype(dtype)
    one = np.zeros((T, K))
    one[:, :-1] = -gap
    one[:, 1] -= np.linspace(0, 3, T)
    lp = np.ascontiguousarray(one, dtype=dtype)
    logprob, post, xi = check_all_outputs(cuda_hmm, sp, tm, lp, [T], dtype, [0])
    assert np.isfinite(logprob).all() and np.isfinite(xi).all()


@cuda_only
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("gap_kind", ["mild", "strong"])
def test_xi_finite_when_frames_favour_unreachable_states(cu, cuda_hmm, dtype, gap_kind):
    """Left-to-right 4-state model started in state 0 with Gaussian-like frames that sit ever closer
    to states not yet reachable (the last one above all). The early forward normalisers are tiny and
    the betas of unreachable states large (strong: at their clamp), so the xi weight E beta / (c g)
    is huge next to them. xi must be finite, 0 where A = 0, and match the oracle and the log-domain
    kernel. Mild: the scaled path keeps every state's share in range. Strong: state 0's share
    underflows and nothing re-enters it, so the guard redoes the sequence in the log domain."""
    K, T = 4, 10
    sp = np.eye(K, dtype=dtype)[0]
    tm = (np.diag([0.6, 0.5, 0.5, 1.0]) + np.diag([0.4, 0.5, 0.5], 1)).astype(dtype)
    # Mild: state 0 trails the best state by < 90 nats (float32) / 160 (float64) over the sequence.
    scale = {"mild": 1.0 if dtype == np.float32 else 2.0, "strong": 10.0 if dtype == np.float32 else 30.0}[gap_kind]
    x = np.linspace(2.0, 3.2, T)  # mostly nearest the last state's mean, 3
    lp = np.ascontiguousarray(-0.5 * (scale * (x[:, None] - np.arange(K))) ** 2, dtype=dtype)
    off = offsets_of([T])
    (logprob, post, xi), redone = scaled_run(cuda_hmm, sp, tm, lp, off)
    assert np.isfinite(logprob).all() and np.isfinite(post).all() and np.isfinite(xi).all()
    assert_array_equal(xi[tm == 0], 0)
    assert_array_equal(redone, [] if gap_kind == "mild" else [0])
    want = ref.forward_backward(*f64(sp, tm, lp), [T])
    check_fb((logprob, post, xi), want, dtype)
    log_result = [host(a) for a in cu.hmm.forward_backward_log(sp, tm, lp, off, True, True)]
    for a, b in zip((logprob, post, xi), log_result):
        assert_allclose(a, b, rtol=RTOL[dtype], atol=PROB_ATOL[dtype] * T)


@cuda_only
@pytest.mark.parametrize("dtype", DTYPES)
def test_xi_weight_is_capped_and_zero_transitions_give_zero(cuda_hmm, dtype):
    """The xi weight w = E beta / (c g) on lattices built to overflow it (not reachable from a real
    forward pass, whose underflow flush keeps w <= 1 / tiny): float64, beta at its clamp over
    c = 1e-250 and g ~ 1e50 gives 1e450, capped at 1e300; float32, 1e60, capped at 1e38 (w is
    stored in T). w is 0 where alpha = 0 and at sequence starts; the capped weight meets only a
    zero transition, which gives xi = 0, never inf * 0 = NaN. The combine step alone: an infinite
    partial sum over A = 0 gives 0."""
    from numba import cuda
    if dtype == np.float32:
        alpha = np.array([[1.0, 0.0], [1.0, 1e-30], [1.0, 0.0]])
        beta = np.array([[1.0, 1.0], [1e-20, 1e30], [1.0, 1e30]])
        c = np.array([1.0, 1e-30, 1.0])
    else:
        alpha = np.array([[1.0, 0.0], [1.0, 1e-200], [1.0, 0.0]])
        beta = np.array([[1.0, 1.0], [1e-100, 1e250], [1.0, 1e250]])
        c = np.array([1.0, 1e-250, 1.0])
    alpha, beta = cast(dtype, alpha, beta)
    E = np.ones((3, 2), dtype=dtype)
    cap = 1e38 if dtype == np.float32 else 1e300
    w = cuda.device_array((3, 2), dtype=dtype)
    post = cuda.device_array((3, 2), dtype=dtype)
    cuda_hmm._posterior_scaled_kernel[1, 32](alpha, beta, E, c, np.zeros(1), offsets_of([3]), True, True, cap,
                                             post, w)
    w = w.copy_to_host()
    a64, b64 = f64(alpha, beta)
    want_w = np.zeros((3, 2))
    with np.errstate(over="ignore"):
        for n in (1, 2):
            want_w[n] = np.where(a64[n] != 0, np.minimum(b64[n] / (c[n] * (a64[n] * b64[n]).sum()), cap), 0.0)
    assert_allclose(w, want_w.astype(dtype), rtol=RTOL[dtype], atol=0)
    assert w[1, 1] == dtype(cap)
    tm = np.array([[1.0, 0.0], [0.5, 0.5]], dtype=dtype)
    xi = host(cuda_hmm._xi_sum(False, cuda.to_device(alpha), cuda.to_device(w), cuda.to_device(tm), 3, 2, dtype))
    assert np.isfinite(xi).all()
    want = (a64[:-1].T @ w[1:].astype(np.float64)) * tm
    assert_allclose(xi, want, rtol=RTOL[dtype], atol=0)
    assert xi[0, 1] == 0
    part = np.array([[[1.0, np.inf], [np.inf, 2.0]]])
    xi = cuda.device_array((2, 2), dtype=dtype)
    cuda_hmm._xi_combine_kernel[1, 32](part, 1, np.array([[0.5, 0.0], [0.0, 0.25]], dtype=dtype), True, xi)
    assert_array_equal(host(xi), [[0.5, 0.0], [0.0, 0.5]])


# =================================================================================================
# Viterbi
# =================================================================================================

# CPU: every K, without and with zero transitions (fresh inputs); CUDA: the fixed CUDA_CASES.
VITERBI_CASES = ([pytest.param("cpu", K, None, trial) for K in KS for trial in TRIALS]
                 + [cuda_case(K, tuple(lengths), case) for case, (K, lengths) in enumerate(CUDA_CASES)])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("device, K, seqs, trial", VITERBI_CASES)
def test_viterbi_matches_oracle(rng, device, K, seqs, trial, dtype):
    if device == "cpu":
        sp, tm, lp, lengths, offsets = _lattice_inputs(rng, K, dtype, long=300, zero_frac=0.2 if trial else 0.0)
        atol = _logprob_atol(dtype, lp, offsets)
    else:
        lengths = np.array(seqs)
        offsets = offsets_of(lengths)
        sp, tm, lp = lattice(100 + trial, K, lengths, dtype, zero_frac=0.2 if trial == 2 else 0.0)
        atol = 0
    logprob, states = (host(a) for a in kernels(device, "hmm").viterbi(sp, tm, lp, offsets))
    assert logprob.dtype == dtype and states.dtype == np.int64 and states.shape == (len(lp),)
    assert ((states >= 0) & (states < K)).all()
    r_logprob, r_states = ref.viterbi(*_f64(sp, tm, lp), lengths)
    assert_allclose(logprob, r_logprob, rtol=_rtol(dtype), atol=atol)
    # The path's own log-probability, recomputed in float64, is the reported maximum.
    assert_allclose(_path_logprob(sp, tm, lp, offsets, states), logprob, rtol=_rtol(dtype), atol=atol)
    if dtype == np.float64 or device == "cuda":
        # Continuous random inputs: ties between distinct paths have probability 0 (CUDA's fixed
        # float32 cases have no two paths within float32 rounding of each other either).
        assert_array_equal(states, r_states)
    # float32 on fresh inputs: two paths within float32 rounding of each other may swap; the
    # recomputed-path check above is the exact statement (the returned path is optimal up to rounding).


# CPU: exact ties over a whole sequence (K = 6, 20 frames, a uniform model), then an impossible
# sequence beside a possible one (a two-state identity chain); CUDA: one fixed lattice (K = 3) with
# a tie in its first sequence and an impossible second sequence.
def test_viterbi_ties_and_impossible_sequences(device):
    """Exact ties go to the lowest state; an impossible sequence gets -inf and a path of valid
    states (on CUDA, the oracle's argmax path)."""
    hmm = kernels(device, "hmm")
    if device == "cpu":
        K, T = 6, 20
        sp, tm = np.full(K, 1 / K), np.full((K, K), 1 / K)
        lp = np.zeros((T, K))
        logprob, states = hmm.viterbi(sp, tm, lp, offsets_of([T]))
        assert_array_equal(states, 0)
        assert_allclose(logprob, [T * np.log(1 / K)], rtol=1e-12, atol=0)

        sp = np.array([1.0, 0.0])
        tm = np.eye(2)
        lp = np.zeros((4, 2))
        lp[2, 0] = -np.inf  # state 0 is the only reachable state
        logprob, states = hmm.viterbi(sp, tm, lp, offsets_of([2, 2]))
        assert logprob[0] == 0.0 and logprob[1] == -np.inf
        assert ((states >= 0) & (states < 2)).all()
        return
    K = 3
    sp, tm = np.full(K, 1 / K), np.full((K, K), 1 / K)
    lp = np.zeros((7, K))
    lp[1] = [0.0, 1.0, 1.0]         # tie between states 1 and 2
    lp[5] = -np.inf                 # sequence 1 (rows 4..6) is impossible
    lengths = [4, 3]
    logprob, states = (host(a) for a in hmm.viterbi(sp, tm, lp, offsets_of(lengths)))
    r_logprob, r_states = ref.viterbi(sp, tm, lp, lengths)
    assert_array_equal(states[:4], [0, 1, 0, 0])
    assert logprob[1] == -np.inf
    assert_allclose(logprob, r_logprob, rtol=1e-14)
    assert_array_equal(states, r_states)


@pytest.mark.parametrize("K", KS)
def test_viterbi_long_sequence(rng, K):
    T = 20_000 if K < 64 else 5000
    sp, tm = random_hmm(rng, K)
    lp = rng.standard_normal((T, K))
    offsets = np.array([0, T], dtype=np.int64)
    logprob, states = _core.hmm.viterbi(sp, tm, lp, offsets)
    assert_allclose(_path_logprob(sp, tm, lp, offsets, states), logprob, rtol=1e-10, atol=0)


# =================================================================================================
# Sampling
# =================================================================================================

# CPU: every K, fresh parameters, length, seed and stream, both dtypes in one test; CUDA: K = 1 and
# 4, fixed parameters, 57 draws from a fixed seed and stream with high words set, per dtype.
SAMPLE_STATES_CASES = ([pytest.param("cpu", K, tuple(DTYPES), id=f"cpu-{K}") for K in KS]
                       + [cuda_case(K, (dtype,), id=f"cuda-{K}-{np.dtype(dtype).name}")
                          for dtype in DTYPES for K in (1, 4)])


@pytest.mark.parametrize("device, K, dtypes", SAMPLE_STATES_CASES)
def test_sample_states_matches_oracle(rng, device, K, dtypes):
    if device == "cpu":
        sp, tm = random_hmm(rng, K, zero_frac=0.3)
        n = int(rng.integers(1, 3000))
        seed, stream = int(rng.integers(0, 2**63)), int(rng.integers(0, 2**40))
        u = _core.rng.uniform(seed, stream, n)
    else:
        sp, tm = random_hmm(np.random.default_rng(K), K, zero_frac=0.3)
        n, seed, stream = 57, 2**63 + 12345, 2**35 + 2
        u = ref_rng.uniform(seed, stream, n)
    for dtype in dtypes:
        spd, tmd = np.ascontiguousarray(sp, dtype=dtype), np.ascontiguousarray(tm, dtype=dtype)
        got = host(kernels(device, "hmm").sample_states(spd, tmd, n, seed, stream))
        assert got.dtype == np.int64 and got.shape == (n,)
        assert_array_equal(got, ref.sample_states(*_f64(spd, tmd), n, u))
        # Never a zero-probability start or transition.
        assert spd[got[0]] > 0 and (tmd[got[:-1], got[1:]] > 0).all()


def test_sample_states_rounding_falls_back_to_last_positive_state(device):
    """Rows summing to less than 1 (as rounding can leave them): u beyond the total picks the last
    state with p > 0, never a zero-probability state past it. No draws: an empty path."""
    sp = np.array([0.25, 0.25, 0.0, 0.0])
    tm = np.tile(sp, (4, 1))
    (n, seed), hmm = ((4000, 12345) if device == "cpu" else (40, 9)), kernels(device, "hmm")
    u = (_core.rng.uniform if device == "cpu" else ref_rng.uniform)(seed, 0, n)
    got = host(hmm.sample_states(sp, tm, n, seed, 0))
    assert_array_equal(got, np.where(u < 0.25, 0, 1))
    assert host(hmm.sample_states(sp, tm, 0, seed, 0)).shape == (0,)


def test_sample_states_is_deterministic_and_stream_separated():
    sp, tm = np.full(3, 1 / 3), np.full((3, 3), 1 / 3)
    a = _core.hmm.sample_states(sp, tm, 1000, 7, 0)
    assert_array_equal(a, _core.hmm.sample_states(sp, tm, 1000, 7, 0))
    assert (a != _core.hmm.sample_states(sp, tm, 1000, 7, 1)).any()
    assert (a != _core.hmm.sample_states(sp, tm, 1000, 8, 0)).any()
    assert_array_equal(_core.hmm.sample_states(sp, tm, 0, 7, 0), np.zeros(0, np.int64))


def _poisson_inverse_cdf(lam, u):
    """Exact inverse CDF in NumPy: the smallest k with u <= F(k), F from the pmf summed from k = 0."""
    out = np.zeros(lam.shape, dtype=np.int64)
    for idx in np.ndindex(lam.shape):
        la = float(lam[idx])
        if la == 0:
            continue
        kmax = int(la + 60 * np.sqrt(la) + 200)
        k = np.arange(kmax + 1)
        cdf = np.cumsum(np.exp(k * np.log(la) - la - gammaln(k + 1.0)))
        out[idx] = min(np.searchsorted(cdf, u[idx], side="left"), kmax)
    return out


@pytest.mark.parametrize("dtype", DTYPES)
def test_sample_poisson_matches_exact_inverse_cdf(rng, device, dtype):
    """Draws are the exact inverse CDF at the contract's uniforms (element (n, d) uses u[n D + d])
    and bit for bit the documented search from the mode (ref.sample_poisson mirrors its operations).
    CPU: 400 fresh rows of rates from 0 to 2e4, a fresh seed and stream; CUDA: 3 fixed rows of 9
    rates over the same range."""
    if device == "cpu":
        N, D = 400, 5
        lam = np.concatenate([np.zeros((N, 1)),                        # rate 0 -> always 0
                              rng.uniform(1e-6, 0.1, (N, 1)),          # tiny rates, mode 0
                              rng.uniform(0.1, 20, (N, 1)),
                              rng.uniform(20, 500, (N, 1)),
                              rng.uniform(1e3, 2e4, (N, 1))], axis=1)  # far tails walked from the mode
        lam = np.ascontiguousarray(lam, dtype=dtype)
        seed, stream = int(rng.integers(0, 2**63)), int(rng.integers(0, 1000))
        u = _core.rng.uniform(seed, stream, N * D)
    else:
        fixed = np.random.default_rng(8)
        lam = np.array([[0.0, 1e-6, 0.05, 0.7, 3.3, 12.0, 35.5, 480.0, 2.5e4]] * 3)
        lam[1:] *= fixed.uniform(0.5, 1.5, lam[1:].shape)
        lam = lam.astype(dtype)
        seed, stream = 4242, 17
        u = ref_rng.uniform(seed, stream, lam.size)
    u = u.reshape(lam.shape)
    got = host(kernels(device, "hmm").sample_poisson(lam, seed, stream))
    assert got.dtype == np.int64 and got.shape == lam.shape
    lam64 = lam.astype(np.float64)
    if device == "cpu":
        want = _poisson_inverse_cdf(lam64, u)
    else:
        want = np.reshape([ref.poisson_inverse_cdf_exact(l, x) for l, x in zip(lam64.ravel(), u.ravel())], lam.shape)
    # Equal except where u lies within rounding of a CDF jump (expected count on the CPU: ~1e-6).
    assert_array_equal(got, want)
    assert_array_equal(got[:, 0], 0)
    assert_array_equal(got, ref.sample_poisson(lam64, u))


def test_sample_poisson_moments():
    lam = np.full((200_000, 1), 3.7)
    x = _core.hmm.sample_poisson(lam, 20240611, 3)  # a fixed seed: the margins below are statistical
    # Mean and variance 3.7; standard errors ~0.004 and ~0.015.
    assert_allclose(x.mean(), 3.7, rtol=0, atol=0.03)
    assert_allclose(x.var(), 3.7, rtol=0, atol=0.1)


# =================================================================================================
# CUDA == CPU (fastgen._core), every function of the contract
# =================================================================================================

def _close(a, b, dtype, atol=None):
    a, b = host(a), host(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    assert_allclose(a, b, rtol=rtol, atol=rtol if atol is None else atol)


@cuda_only
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_equals_cpu(cu, core, dtype):
    rng = np.random.default_rng(99)
    K, lengths = 3, [5, 1, 4]
    sp, tm, lp = lattice(99, K, lengths, dtype, zero_frac=0.2)
    off = offsets_of(lengths)
    N, D, M = len(lp), 2, 4
    for name in ("forward_backward", "forward_backward_log"):
        got, want = getattr(cu.hmm, name)(sp, tm, lp, off, True, True), getattr(core.hmm, name)(sp, tm, lp, off, True, True)
        for a, b in zip(got, want):
            _close(a, b, dtype, atol=1e-13 if dtype == np.float64 else 1e-5)
    (l1, s1), (l2, s2) = cu.hmm.viterbi(sp, tm, lp, off), core.hmm.viterbi(sp, tm, lp, off)
    _close(l1, l2, dtype)
    assert_array_equal(host(s1), s2)

    X = rng.normal(size=(N, D)).astype(dtype)
    means = rng.normal(size=(K, D)).astype(dtype)
    prec = rng.uniform(0.5, 2, (K, D)).astype(dtype)
    _close(cu.emissions.gaussian_logprob_diag(X, means, prec), core.emissions.gaussian_logprob_diag(X, means, prec), dtype)
    P = precision_cholesky_upper(random_spd(rng, D, size=K)).astype(dtype)
    _close(cu.emissions.gaussian_logprob_full(X, means, P), core.emissions.gaussian_logprob_full(X, means, P), dtype)
    _close(cu.emissions.gaussian_logprob_full(X, means, P[:1]), core.emissions.gaussian_logprob_full(X, means, P[:1]), dtype)
    sym = rng.integers(0, M, N).astype(np.int64)
    le = np.log(rng.dirichlet(np.ones(M), size=K)).astype(dtype)
    assert_array_equal(host(cu.emissions.categorical_logprob(sym, le)), core.emissions.categorical_logprob(sym, le))
    counts = rng.poisson(3, (N, D)).astype(dtype)
    lam = rng.uniform(0.5, 6, (K, D)).astype(dtype)
    _close(cu.emissions.poisson_logprob(counts, lam), core.emissions.poisson_logprob(counts, lam), dtype)

    assert_array_equal(host(cu.hmm.sample_states(sp, tm, 30, 77, 5)), core.hmm.sample_states(sp, tm, 30, 77, 5))
    big = np.array([[0.3, 7.0, 150.0]], dtype=dtype)
    assert_array_equal(host(cu.hmm.sample_poisson(big, 77, 6)), core.hmm.sample_poisson(big, 77, 6))
    assert_array_equal(host(cu.rng.uniform(77, 5, 9, 3)), core.rng.uniform(77, 5, 9, 3))
    _close(cu.rng.normal(77, 5, 9), core.rng.normal(77, 5, 9), np.float64, atol=1e-14)
    assert [int(v) for v in host(cu.rng.philox4x32(np.arange(4, dtype=np.uint32), np.arange(2, dtype=np.uint32)))] \
        == [int(v) for v in core.rng.philox4x32(np.arange(4, dtype=np.uint32), np.arange(2, dtype=np.uint32))]


# =================================================================================================
# Thread-count independence (fixed-chunk reductions)
# =================================================================================================

def _with_threads(n, fn):
    """fn() under a threadpoolctl limit of n, with the team forced (else small work stays serial)."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=n, user_api="openmp"), thread_policy("team" if n > 1 else "serial"):
        return fn()


def _threaded_workload(rng):
    K, D, M = 6, 3, 9
    lengths = random_lengths(rng, 40, high=3000, long=20_000)
    N = int(lengths.sum())
    sp, tm = random_hmm(rng, K)
    lp = -1.0 + 2 * rng.standard_normal((N, K))
    X = rng.normal(size=(N, D))
    sym = rng.integers(0, M, size=N).astype(np.int64)
    W = random_stochastic(rng, N, K)
    offsets = offsets_of(lengths)

    def run():
        return (_core.hmm.forward_backward(sp, tm, lp, offsets, True, True)
                + _core.hmm.forward_backward_log(sp, tm, lp, offsets, True, True)
                + _core.emissions.weighted_moments(X, W, 1) + _core.emissions.weighted_moments(X, W, 2)[2:]
                + (_core.emissions.categorical_counts(sym, W, M), _core.hmm.viterbi(sp, tm, lp, offsets)[1]))
    return run


def test_results_independent_of_thread_count_threadpoolctl(rng):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not any(i["user_api"] == "openmp" for i in threadpoolctl.threadpool_info()):
        pytest.skip("threadpoolctl does not see the OpenMP runtime of fastgen._core")
    run = _threaded_workload(rng)
    one = _with_threads(1, run)
    for n in (2, 3):
        other = _with_threads(n, run)
        for a, b in zip(one, other):
            assert_array_equal(a, b)  # bit-identical, not merely close


def test_results_independent_of_thread_count_subprocess(tmp_path):
    """OMP_NUM_THREADS=1 vs 2 in fresh interpreters (what users set), bit-identical outputs."""
    script = textwrap.dedent("""
        import sys, numpy as np
        from fastgen import _core
        rng = np.random.default_rng(20240601)
        K, D, M, N = 5, 3, 7, 60_000
        lengths = np.r_[rng.integers(1, 2000, 30), 1]
        lengths = np.r_[lengths, N - lengths.sum()]
        off = np.r_[0, np.cumsum(lengths)].astype(np.int64)
        sp = rng.dirichlet(np.ones(K)); tm = rng.dirichlet(np.ones(K), size=K)
        lp = rng.standard_normal((N, K)) - 1
        X = rng.normal(size=(N, D)); W = rng.dirichlet(np.ones(K), size=N)
        sym = rng.integers(0, M, N).astype(np.int64)
        out = list(_core.hmm.forward_backward(sp, tm, lp, off, True, True))
        out += list(_core.hmm.forward_backward_log(sp, tm, lp, off, True, True))
        out += list(_core.emissions.weighted_moments(X, W, 2)) + [_core.emissions.categorical_counts(sym, W, M)]
        out += [_core.hmm.sample_poisson(np.full((1000, 3), 4.5), 99, 1), _core.rng.normal(99, 2, 1001)]
        np.savez(sys.argv[1], *out)
    """)
    assert_same_on_any_thread_count(script, tmp_path, timeout=120)


# =================================================================================================
# Bad input: the bindings check everything and never copy or convert silently
# =================================================================================================

def _fb_args(K=3, N=10, dtype=np.float64):
    sp = np.full(K, 1 / K, dtype=dtype)
    tm = np.full((K, K), 1 / K, dtype=dtype)
    lp = np.zeros((N, K), dtype=dtype)
    return sp, tm, lp, np.array([0, 4, N], dtype=np.int64)


@pytest.mark.parametrize("fn", ["forward_backward", "forward_backward_log", "viterbi"])
class TestLatticeKernelInputs:
    def call(self, fn, sp, tm, lp, off):
        f = getattr(_core.hmm, fn)
        return f(sp, tm, lp, off) if fn == "viterbi" else f(sp, tm, lp, off, True, True)

    def test_non_float_frame_logprob(self, fn):
        sp, tm, lp, off = _fb_args()
        with pytest.raises(TypeError, match="frame_logprob"):
            self.call(fn, sp, tm, lp.astype(np.int64), off)
        with pytest.raises(TypeError, match="frame_logprob"):
            self.call(fn, sp, tm, lp.astype(np.float16), off)

    def test_mixed_dtypes(self, fn):
        sp, tm, lp, off = _fb_args()
        with pytest.raises(TypeError, match="startprob: expected dtype float64, got float32"):
            self.call(fn, sp.astype(np.float32), tm, lp, off)
        with pytest.raises(TypeError, match="transmat: expected dtype float32"):
            self.call(fn, sp.astype(np.float32), tm, lp.astype(np.float32), off)

    def test_wrong_shapes(self, fn):
        sp, tm, lp, off = _fb_args()
        with pytest.raises(ValueError, match=r"startprob: expected shape \(3,\), got \(4,\)"):
            self.call(fn, np.full(4, 0.25), tm, lp, off)
        with pytest.raises(ValueError, match=r"transmat: expected shape \(3, 3\), got \(3, 2\)"):
            self.call(fn, sp, np.full((3, 2), 0.5), lp, off)
        with pytest.raises(ValueError, match="frame_logprob: expected shape"):
            self.call(fn, sp, tm, lp.ravel(), off)
        with pytest.raises(ValueError, match="offsets: expected shape"):
            self.call(fn, sp, tm, lp, off[None])

    def test_non_contiguous(self, fn):
        sp, tm, lp, off = _fb_args()
        with pytest.raises(ValueError, match="frame_logprob: expected a C-contiguous array"):
            self.call(fn, sp, tm, np.asfortranarray(np.zeros((10, 3))), off)
        with pytest.raises(ValueError, match="transmat: expected a C-contiguous array"):
            self.call(fn, sp, np.full((3, 6), 1 / 3)[:, ::2], lp, off)
        with pytest.raises(ValueError, match="offsets: expected a C-contiguous array"):
            self.call(fn, sp, tm, lp, np.array([0, 0, 4, 4, 10, 10], np.int64)[::2])

    @pytest.mark.parametrize("off, what", [([1, 4, 10], "start at 0"), ([0, 4, 9], "end at n_samples=10"),
                                           ([0, 4, 11], "end at n_samples=10"),
                                           ([0, 4, 4, 10], "positive"), ([0, 6, 4, 10], "positive"),
                                           ([0], "at least one sequence")])
    def test_bad_offsets(self, fn, off, what):
        sp, tm, lp, _ = _fb_args()
        with pytest.raises(ValueError, match=f"offsets: .*{what}"):
            self.call(fn, sp, tm, lp, np.array(off, dtype=np.int64))

    def test_offsets_dtype(self, fn):
        sp, tm, lp, off = _fb_args()
        with pytest.raises(TypeError, match="offsets: expected dtype int64"):
            self.call(fn, sp, tm, lp, off.astype(np.int32))

    def test_zero_states(self, fn):
        with pytest.raises(ValueError, match="frame_logprob: need at least one state"):
            self.call(fn, np.zeros(0), np.zeros((0, 0)), np.zeros((5, 0)), np.array([0, 5], np.int64))


def test_sampling_kernels_reject_bad_input():
    sp, tm = np.full(3, 1 / 3), np.full((3, 3), 1 / 3)
    with pytest.raises(ValueError, match="n_samples: must be >= 0, got -1"):
        _core.hmm.sample_states(sp, tm, -1, 0, 0)
    with pytest.raises(ValueError, match=r"transmat: expected shape \(3, 3\)"):
        _core.hmm.sample_states(sp, np.full((2, 2), 0.5), 5, 0, 0)
    with pytest.raises(TypeError, match="transmat: expected dtype float64"):
        _core.hmm.sample_states(sp, tm.astype(np.float32), 5, 0, 0)
    with pytest.raises(ValueError, match="startprob: need at least one state"):
        _core.hmm.sample_states(np.zeros(0), np.zeros((0, 0)), 5, 0, 0)
    with pytest.raises(TypeError, match="lambdas: expected float32 or float64"):
        _core.hmm.sample_poisson(np.ones((3, 2), dtype=np.int64), 0, 0)
    with pytest.raises(ValueError, match="lambdas: expected a C-contiguous array"):
        _core.hmm.sample_poisson(np.ones((2, 3)).T, 0, 0)


def test_bindings_never_copy_or_cast_python_lists():
    """Plain lists are not silently converted: the Python layer owns conversion."""
    sp, tm, lp, off = _fb_args()
    with pytest.raises(TypeError):
        _core.hmm.forward_backward(list(sp), tm, lp, off, True, True)
