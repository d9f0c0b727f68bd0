"""The HMM forward/backward kernels (scaled and log domain) on both backends against the NumPy
oracle, their identities and edge cases, and CUDA's block shapes, chunked xi and device arrays.
Backends, inputs and tolerances: hmm_cases.py.
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp

from conftest import assert_sum_close, offsets_of, random_hmm, random_lengths
from devices import host, kernels
from fastgen import _core
from reference import hmm as ref
from hmm_cases import (cast, check_fb, cuda_case, CUDA_CASES, cuda_only, DTYPES, _f64, f64, FB, fb, IMPLS, KS,
                       lattice, _lattice_inputs, _logprob_atol, PROB_ATOL, _prob_atol, RTOL, _rtol, TRIALS)


@pytest.fixture(scope="module")
def cu():
    return importlib.import_module("fastgen._cuda")


@pytest.fixture(scope="module")
def cuda_hmm():
    return importlib.import_module("fastgen._cuda.hmm")


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
