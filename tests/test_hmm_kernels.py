"""The CPU kernels of fastgen._core (HMM inference, emissions, statistics, sampling) against the plain
NumPy oracles in tests/reference on fresh random inputs, plus their contract properties and their
input checks.

Tolerances (stated once here, repeated where a test departs from them):
- float64: rtol 1e-10. Probabilities (posteriors, mixture responsibilities) additionally get an
  absolute floor of 1e-13: they are compared entry by entry and an entry of 1e-30 is not meaningful
  to 10 digits after the normalisation that produced it.
- float32: the oracle runs in float64 on the float32 inputs, so the difference is the kernel's own
  float32 rounding: ~1e-7 per operation. Emission sums of D terms and the scaled recursion (each
  step renormalised, so errors do not accumulate) stay within rtol 1e-5, and so does the log-domain
  recursion, whose lattices are float64 whatever the dtype (float32 log alphas of magnitude 1e5
  resolve only ~0.01: test_forward_backward_float32_long_sequence pins that down).
- Sums over a sequence (log-likelihoods) get an absolute floor proportional to the sum of the
  magnitudes of their terms (_logprob_atol): a log-likelihood can cancel to ~0.
"""
from __future__ import annotations

import textwrap

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import gammaln, logsumexp

from conftest import (assert_same_on_any_thread_count, thread_policy, assert_sum_close, offsets_of, precision_cholesky_upper,
                      random_hmm, random_lengths, random_spd, random_stochastic)
from fastgen import _core
from reference import hmm as ref

KS = [1, 2, 5, 17, 64]
DTYPES = [np.float64, np.float32]
FB = {"scaling": _core.hmm.forward_backward, "log": _core.hmm.forward_backward_log}
TRIALS = range(2)  # fresh random inputs per trial (and per run: see the rng fixture)


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
# Emissions
# =================================================================================================

@pytest.mark.parametrize("K", KS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_categorical_logprob_matches_oracle(rng, K, dtype):
    M = int(rng.integers(1, 12))
    N = int(rng.integers(1, 500))
    emis = random_stochastic(rng, K, M, zero_frac=0.3)
    with np.errstate(divide="ignore"):
        le = np.log(emis).astype(dtype)
    X = rng.integers(0, M, size=N).astype(np.int64)
    got = _core.emissions.categorical_logprob(X, le)
    assert got.dtype == dtype and got.shape == (N, K)
    # A gather: bit-identical, -inf (zero emission probability) included.
    assert_array_equal(got, ref.categorical_logprob(X, le.astype(np.float64)).astype(dtype))


@pytest.mark.parametrize("K", KS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("D", [1, 3, 8])
def test_gaussian_logprob_diag_matches_oracle(rng, K, dtype, D):
    N = int(rng.integers(1, 700))
    means = rng.normal(scale=3, size=(K, D))
    var = rng.uniform(0.2, 4.0, size=(K, D))
    X = rng.normal(scale=4, size=(N, D))
    X, means, prec = (np.ascontiguousarray(a, dtype=dtype) for a in (X, means, 1.0 / var))
    got = _core.emissions.gaussian_logprob_diag(X, means, prec)
    assert got.dtype == dtype and got.shape == (N, K)
    want = ref.gaussian_logprob(*_f64(X, means, 1.0 / prec.astype(np.float64)), "diag")
    # float32: a sum of D rounded terms; the absolute part covers cancellation between the
    # normaliser and the quadratic form near the mean (scale: the largest term, ~|want|max).
    atol = 0 if dtype == np.float64 else 1e-6 * D * np.abs(want).max()
    assert_allclose(got, want, rtol=_rtol(dtype), atol=atol)


def test_gaussian_logprob_diag_far_from_origin_no_cancellation(rng):
    """Data and means near 1e6: the direct (x - mu)^2 form keeps all digits; the expanded GEMM form
    x^2 - 2 x mu + mu^2 would lose ~12 of them."""
    K, D, N = 5, 4, 300
    means = 1e6 + rng.normal(size=(K, D))
    X = 1e6 + rng.normal(size=(N, D))
    var = rng.uniform(0.5, 2, size=(K, D))
    got = _core.emissions.gaussian_logprob_diag(X, means, 1.0 / var)
    want = -0.5 * (D * np.log(2 * np.pi) + np.log(var).sum(1)
                   + (((X[:, None, :] - means[None]) ** 2) / var).sum(-1))
    assert_allclose(got, want, rtol=1e-10, atol=0)


@pytest.mark.parametrize("K", KS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("tied", [False, True], ids=["C==K", "C==1"])
def test_gaussian_logprob_full_matches_oracle(rng, K, dtype, tied):
    D = int(rng.integers(1, 6))
    N = int(rng.integers(1, 400))
    means = rng.normal(scale=3, size=(K, D))
    cov = random_spd(rng, D) if tied else random_spd(rng, D, size=K)
    P = precision_cholesky_upper(cov[None] if tied else cov)
    X = rng.normal(scale=3, size=(N, D))
    X, means, P = (np.ascontiguousarray(a, dtype=dtype) for a in (X, means, P))
    got = _core.emissions.gaussian_logprob_full(X, means, P)
    assert got.dtype == dtype and got.shape == (N, K)
    # The oracle gets the covariance that the (possibly float32-rounded) factor P represents.
    P64 = P.astype(np.float64)
    cov_used = np.linalg.inv(P64 @ np.swapaxes(P64, -1, -2))
    want = ref.gaussian_logprob(*_f64(X, means), cov_used[0] if tied else cov_used, "tied" if tied else "full")
    atol = 0 if dtype == np.float64 else 2e-6 * D * np.abs(want).max()
    assert_allclose(got, want, rtol=_rtol(dtype) * (10 if dtype == np.float64 else 1), atol=atol)
    # Contract: only the upper triangle is read -> NaN below the diagonal changes nothing.
    Pn = P.copy()
    il = np.tril_indices(D, -1)
    Pn[:, il[0], il[1]] = np.nan
    assert_array_equal(_core.emissions.gaussian_logprob_full(X, means, Pn), got)


@pytest.mark.parametrize("K", KS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_poisson_logprob_matches_oracle(rng, K, dtype):
    D = int(rng.integers(1, 5))
    N = int(rng.integers(1, 500))
    lam = rng.gamma(2.0, 3.0, size=(K, D)) + 1e-3
    X = rng.poisson(rng.uniform(0, 10, size=D), size=(N, D))
    X[rng.random((N, D)) < 0.2] = 0  # zero counts: 0 * log(lam) must be 0
    X, lam = np.ascontiguousarray(X, dtype=dtype), np.ascontiguousarray(lam, dtype=dtype)
    got = _core.emissions.poisson_logprob(X, lam)
    assert got.dtype == dtype and got.shape == (N, K)
    want = ref.poisson_logprob(*_f64(X, lam))
    atol = 0 if dtype == np.float64 else 1e-6 * D * np.abs(want).max()
    assert_allclose(got, want, rtol=_rtol(dtype), atol=atol)


def test_poisson_logprob_zero_rate():
    """lam = 0: a zero count has probability 1 (log 0), any positive count probability 0 (-inf)."""
    lam = np.array([[0.0], [2.0]])
    X = np.array([[0.0], [3.0]])
    got = _core.emissions.poisson_logprob(X, lam)
    assert got[0, 0] == 0.0
    assert got[1, 0] == -np.inf
    assert_allclose(got[:, 1], [-2.0, 3 * np.log(2) - 2 - np.log(6)], rtol=1e-12, atol=0)
    assert not np.isnan(got).any()


# =================================================================================================
# Forward / backward
# =================================================================================================

# The scaled kernel has three code paths: scoring only (no posteriors, no xi), few sequences
# (whole-array lattices) and many sequences (one cache-resident sequence at a time). N_SEQ and
# _fb_all_paths exercise every one of them; the log-domain kernel takes the same arguments.
N_SEQ = {"few": 3, "many": 40}


def _fb_all_paths(fb, sp, tm, lp, offsets):
    """(logprob, posteriors, xi) with everything requested, plus logprob from a scoring-only call,
    which must agree with it to rounding."""
    logprob, post, xi = fb(sp, tm, lp, offsets, True, True)
    score_only, none_p, none_x = fb(sp, tm, lp, offsets, False, False)
    assert none_p is None and none_x is None
    return logprob, post, xi, score_only


@pytest.mark.parametrize("n_seq", N_SEQ)
@pytest.mark.parametrize("trial", TRIALS)
@pytest.mark.parametrize("impl", ["scaling", "log"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("K", KS)
def test_forward_backward_matches_oracle(rng, K, dtype, impl, trial, n_seq):
    sp, tm, lp, lengths, offsets = _lattice_inputs(rng, K, dtype, n_seq=N_SEQ[n_seq],
                                                   long=300 if dtype == np.float64 else 150,
                                                   zero_frac=0.3 if trial else 0.0)
    logprob, post, xi, score_only = _fb_all_paths(FB[impl], sp, tm, lp, offsets)
    assert logprob.dtype == post.dtype == xi.dtype == score_only.dtype == dtype
    assert logprob.shape == (len(lengths),) and post.shape == lp.shape and xi.shape == (K, K)
    r_logprob, r_post, r_xi = ref.forward_backward(*_f64(sp, tm, lp), lengths)
    atol = _logprob_atol(dtype, lp, offsets)
    assert_allclose(logprob, r_logprob, rtol=_rtol(dtype), atol=atol)
    assert_allclose(score_only, r_logprob, rtol=_rtol(dtype), atol=atol)
    assert_allclose(post, r_post, rtol=_rtol(dtype), atol=_prob_atol(dtype))
    # xi entries are sums of O(N / K^2) probabilities: the absolute floor scales with that.
    assert_allclose(xi, r_xi, rtol=_rtol(dtype), atol=_rtol(dtype) * 1e-3 * len(lp) / K**2)


@pytest.mark.parametrize("impl", ["scaling", "log"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("K", KS)
def test_forward_backward_posterior_and_xi_sums(rng, K, dtype, impl):
    sp, tm, lp, lengths, offsets = _lattice_inputs(rng, K, dtype, n_seq=30, long=200, zero_frac=0.3)
    logprob, post, xi = FB[impl](sp, tm, lp, offsets, True, True)
    assert np.isfinite(logprob).all()
    tol = 1e-12 if dtype == np.float64 else 1e-5
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


@pytest.mark.parametrize("n_seq", N_SEQ)
@pytest.mark.parametrize("impl", ["scaling", "log"])
def test_forward_backward_optional_outputs(rng, impl, n_seq):
    sp, tm, lp, lengths, offsets = _lattice_inputs(rng, 5, np.float64, n_seq=N_SEQ[n_seq])
    full = FB[impl](sp, tm, lp, offsets, True, True)
    lp_only, none_p, none_x = FB[impl](sp, tm, lp, offsets, False, False)
    assert none_p is None and none_x is None
    assert_allclose(lp_only, full[0], rtol=1e-13, atol=1e-13)
    l2, p2, x2 = FB[impl](sp, tm, lp, offsets, True, False)
    assert x2 is None
    assert_array_equal(p2, full[1])
    l3, p3, x3 = FB[impl](sp, tm, lp, offsets, False, True)
    assert p3 is None
    assert_array_equal(x3, full[2])


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


@pytest.mark.parametrize("copies", [1, 20], ids=["one-sequence", "many-sequences"])
@pytest.mark.parametrize("impl", ["scaling", "log"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("T", [25, 60, 300, 2000])
def test_forward_backward_absorbing_state(T, dtype, impl, copies):
    """Start in state 0, which is absorbing, while state 1 (unreachable) has the larger emission
    log-probability at every frame. The only path is 0, 0, ..., 0: posteriors [1, 0] everywhere and
    T - 1 expected 0 -> 0 transitions. A backward pass normalised by the sum of beta over *all*
    states lets beta of the reachable state shrink by exp(-3) per step relative to the unreachable
    one until it underflows (float32 after ~30 frames, float64 after ~250): posteriors then come out
    all zero for a sequence of positive probability."""
    sp = np.array([1.0, 0.0], dtype=dtype)
    tm = np.array([[1.0, 0.0], [0.3, 0.7]], dtype=dtype)
    lp = np.zeros((T * copies, 2), dtype=dtype)
    lp[:, 0] = -3.0
    logprob, post, xi, score_only = _fb_all_paths(FB[impl], sp, tm, lp, offsets_of([T] * copies))
    want = np.full(copies, -3.0 * T)
    assert_allclose(logprob, want, rtol=1e-6 if dtype == np.float32 else 1e-12, atol=0)
    assert_allclose(score_only, want, rtol=1e-6 if dtype == np.float32 else 1e-12, atol=0)
    assert_allclose(post, np.tile([1.0, 0.0], (T * copies, 1)), rtol=0, atol=_prob_atol(dtype))
    assert_allclose(xi, [[(T - 1) * copies, 0], [0, 0]], rtol=1e-5 if dtype == np.float32 else 1e-10, atol=0)


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


@pytest.mark.parametrize("impl", ["scaling", "log"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("K", [2, 5, 17])
def test_forward_backward_left_to_right(rng, K, dtype, impl):
    """Left-to-right (Bakis) models, the classic speech/gesture topology: start in state 0, move only
    forward; later states may well emit the data better long before they are reachable."""
    sp = np.zeros(K)
    sp[0] = 1.0
    tm = np.triu(rng.random((K, K)) + 0.1) * np.tri(K, K, 1).T  # stay, or step one state forward
    tm = np.triu(tm) - np.triu(tm, 2)
    tm /= tm.sum(axis=1, keepdims=True)
    lengths = random_lengths(rng, 6, low=K, high=60, long=400)
    lengths[lengths < K] = K
    T = int(lengths.sum())
    lp = rng.normal(scale=2.0, size=(T, K)) + np.linspace(0, 3, K)  # later states score higher
    sp_, tm_, lp_ = (np.ascontiguousarray(a, dtype=dtype) for a in (sp, tm, lp))
    logprob, post, xi = FB[impl](sp_, tm_, lp_, offsets_of(lengths), True, True)
    r_logprob, r_post, r_xi = ref.forward_backward(*_f64(sp_, tm_, lp_), lengths)
    assert_allclose(logprob, r_logprob, rtol=_rtol(dtype), atol=_logprob_atol(dtype, lp_, offsets_of(lengths)))
    assert_allclose(post, r_post, rtol=_rtol(dtype), atol=_prob_atol(dtype))
    assert_allclose(xi.sum(dtype=np.float64), T - len(lengths), rtol=1e-5 if dtype == np.float32 else 1e-10, atol=0)


@pytest.mark.parametrize("n_seq", N_SEQ)
@pytest.mark.parametrize("impl", ["scaling", "log"])
@pytest.mark.parametrize("level", [-1e4, 1e3])
def test_forward_backward_extreme_frame_logprobs(rng, impl, level, n_seq):
    """Frame log-probabilities around -1e4 (exp underflows to 0) or +1e3 (exp overflows): the scaled
    recursion survives through its per-frame max shift, the log recursion natively."""
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


@pytest.mark.parametrize("impl", ["scaling", "log"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_backward_zero_probability_sequence(rng, impl, dtype):
    """A sequence that no path can produce: logprob -inf, posteriors 0, no NaN anywhere, and the
    other sequences' results (and their xi contributions) are unaffected."""
    K = 3
    sp = np.array([1.0, 0.0, 0.0])
    tm = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [0.0, 0.0, 1.0]])  # left-to-right
    lengths = np.array([6, 4, 5])
    lp = rng.normal(size=(15, K))
    # Sequence 1 (rows 6..9): state 2 is required at its second frame, unreachable in one step.
    lp[7, :2] = -np.inf
    sp, tm, lp = (np.ascontiguousarray(a, dtype=dtype) for a in (sp, tm, lp))
    logprob, post, xi = FB[impl](sp, tm, lp, offsets_of(lengths), True, True)
    assert logprob[1] == -np.inf
    assert np.isfinite(logprob[[0, 2]]).all()
    assert_array_equal(post[6:10], 0)
    assert not np.isnan(post).any() and not np.isnan(xi).any()
    keep = np.r_[0:6, 10:15]
    l2, p2, x2 = FB[impl](sp, tm, np.ascontiguousarray(lp[keep]), offsets_of([6, 5]), True, True)
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


# =================================================================================================
# Viterbi
# =================================================================================================

@pytest.mark.parametrize("trial", TRIALS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("K", KS)
def test_viterbi_matches_oracle(rng, K, dtype, trial):
    sp, tm, lp, lengths, offsets = _lattice_inputs(rng, K, dtype, long=300, zero_frac=0.2 if trial else 0.0)
    logprob, states = _core.hmm.viterbi(sp, tm, lp, offsets)
    assert logprob.dtype == dtype and states.dtype == np.int64 and states.shape == (len(lp),)
    assert ((states >= 0) & (states < K)).all()
    r_logprob, r_states = ref.viterbi(*_f64(sp, tm, lp), lengths)
    atol = _logprob_atol(dtype, lp, offsets)
    assert_allclose(logprob, r_logprob, rtol=_rtol(dtype), atol=atol)
    # The path's own log-probability, recomputed in float64, is the reported maximum.
    assert_allclose(_path_logprob(sp, tm, lp, offsets, states), logprob, rtol=_rtol(dtype), atol=atol)
    if dtype == np.float64:
        # Continuous random inputs: ties between distinct paths have probability 0.
        assert_array_equal(states, r_states)
    # float32: two paths within float32 rounding of each other may swap; the recomputed-path check
    # above is the exact statement (the returned path is optimal up to rounding).


def test_viterbi_ties_go_to_lowest_state(rng):
    K, T = 6, 20
    sp, tm = np.full(K, 1 / K), np.full((K, K), 1 / K)
    lp = np.zeros((T, K))
    logprob, states = _core.hmm.viterbi(sp, tm, lp, offsets_of([T]))
    assert_array_equal(states, 0)
    assert_allclose(logprob, [T * np.log(1 / K)], rtol=1e-12, atol=0)


def test_viterbi_impossible_sequence():
    sp = np.array([1.0, 0.0])
    tm = np.eye(2)
    lp = np.zeros((4, 2))
    lp[2, 0] = -np.inf  # state 0 is the only reachable state
    logprob, states = _core.hmm.viterbi(sp, tm, lp, offsets_of([2, 2]))
    assert logprob[0] == 0.0 and logprob[1] == -np.inf
    assert ((states >= 0) & (states < 2)).all()


@pytest.mark.parametrize("K", KS)
def test_viterbi_long_sequence(rng, K):
    T = 20_000 if K < 64 else 5000
    sp, tm = random_hmm(rng, K)
    lp = rng.standard_normal((T, K))
    offsets = np.array([0, T], dtype=np.int64)
    logprob, states = _core.hmm.viterbi(sp, tm, lp, offsets)
    assert_allclose(_path_logprob(sp, tm, lp, offsets, states), logprob, rtol=1e-10, atol=0)


# =================================================================================================
# Sufficient statistics
# =================================================================================================

@pytest.mark.parametrize("order", [0, 1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("K", KS)
def test_weighted_moments_match_numpy(rng, K, dtype, order):
    D = int(rng.integers(1, 6))
    N = int(rng.integers(1, 10_000))
    X = np.ascontiguousarray(rng.normal(loc=2, scale=3, size=(N, D)), dtype=dtype)
    W = rng.random((N, K))
    W[rng.random((N, K)) < 0.3] = 0
    W = np.ascontiguousarray(W, dtype=dtype)
    ws, wx, wxx = _core.emissions.weighted_moments(X, W, order)
    X64, W64 = _f64(X, W)
    # The kernel accumulates in float64 whatever the dtype: float32 results are the float64 sums
    # rounded once (plus float32 products w * x), hence rtol 1e-6 rather than N * eps32.
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    assert ws.dtype == wx.dtype == dtype
    assert_allclose(ws, W64.sum(0), rtol=rtol, atol=0)
    assert_allclose(wx, W64.T @ X64, rtol=rtol, atol=rtol * np.abs(W64.T @ np.abs(X64)).max())
    if order == 0:
        assert wxx is None
    elif order == 1:
        assert wxx.shape == (K, D)
        assert_allclose(wxx, W64.T @ X64**2, rtol=rtol, atol=0)
    else:
        assert wxx.shape == (K, D, D)
        want = np.einsum("nk,ni,nj->kij", W64, X64, X64)
        assert_allclose(wxx, want, rtol=rtol, atol=rtol * np.abs(want).max())
        assert_array_equal(wxx, np.swapaxes(wxx, 1, 2))


@pytest.mark.parametrize("order", [0, 1, 2])
def test_weighted_moments_chunks_add_up(rng, order):
    """Statistics of two halves (split mid-chunk) add up to the statistics of the whole."""
    N, D, K = 20_000, 3, 4
    X, W = rng.normal(size=(N, D)), rng.random((N, K))
    cut = int(rng.integers(1, N - 1))
    whole = _core.emissions.weighted_moments(X, W, order)
    a = _core.emissions.weighted_moments(X[:cut].copy(), W[:cut].copy(), order)
    b = _core.emissions.weighted_moments(X[cut:].copy(), W[cut:].copy(), order)
    for i in range(3 if order else 2):
        assert_allclose(a[i] + b[i], whole[i], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("K", KS)
def test_categorical_counts_match_numpy(rng, K, dtype):
    M = int(rng.integers(1, 20))
    N = int(rng.integers(1, 10_000))
    X = rng.integers(0, M, size=N).astype(np.int64)
    W = np.ascontiguousarray(rng.random((N, K)), dtype=dtype)
    got = _core.emissions.categorical_counts(X, W, M)
    want = np.zeros((K, M))
    np.add.at(want.T, X, W.astype(np.float64))
    assert got.dtype == dtype and got.shape == (K, M)
    assert_allclose(got, want, rtol=1e-12 if dtype == np.float64 else 1e-6, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sum_rows_matches_numpy(rng, dtype):
    N, K = 300, 7
    V = np.ascontiguousarray(rng.random((N, K)), dtype=dtype)
    rows = rng.integers(0, N, size=50).astype(np.int64)  # duplicates allowed
    got = _core.emissions.sum_rows(V, rows)
    assert got.dtype == dtype
    assert_allclose(got, V.astype(np.float64)[rows].sum(0), rtol=1e-12 if dtype == np.float64 else 1e-6, atol=0)
    assert_array_equal(_core.emissions.sum_rows(V, np.zeros(0, np.int64)), np.zeros(K))


# =================================================================================================
# Mixtures
# =================================================================================================

def _mixture_inputs(rng, K, M, N, dtype):
    comp = rng.normal(scale=5, size=(N, K * M)) - 3
    w = random_stochastic(rng, K, M, zero_frac=0.3)
    with np.errstate(divide="ignore"):
        lw = np.log(w)
    return np.ascontiguousarray(comp, dtype=dtype), np.ascontiguousarray(lw, dtype=dtype)


@pytest.mark.parametrize("M", [1, 2, 5])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("K", KS)
def test_mixture_logprob_matches_numpy(rng, K, dtype, M):
    N = int(rng.integers(1, 300))
    comp, lw = _mixture_inputs(rng, K, M, N, dtype)
    comp[0, :M] = -np.inf  # a group where every component is impossible -> -inf, not NaN
    got = _core.emissions.mixture_logprob(comp, lw)
    c64, lw64 = _f64(comp, lw)
    want = logsumexp(c64.reshape(N, K, M) + lw64[None], axis=2)
    assert got.dtype == dtype and got.shape == (N, K)
    assert got[0, 0] == -np.inf
    # atol: a logsumexp that lands near 0 (max + log(sum) cancelling) has absolute, not relative,
    # accuracy ~eps * |max| (|max| <~ 30 here).
    assert_allclose(got, want, rtol=_rtol(dtype), atol=1e-12 if dtype == np.float64 else 1e-5)


@pytest.mark.parametrize("M", [1, 2, 5])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("K", KS)
def test_mixture_posteriors_match_numpy(rng, K, dtype, M):
    N = int(rng.integers(1, 300))
    comp, lw = _mixture_inputs(rng, K, M, N, dtype)
    comp[0, :M] = -np.inf
    sp = np.ascontiguousarray(random_stochastic(rng, N, K), dtype=dtype)
    got = _core.emissions.mixture_posteriors(comp, lw, sp)
    c64, lw64, sp64 = _f64(comp, lw, sp)
    j = c64.reshape(N, K, M) + lw64[None]
    with np.errstate(invalid="ignore"):
        soft = np.exp(j - logsumexp(j, axis=2, keepdims=True))
    soft = np.nan_to_num(soft, nan=0.0)
    want = (sp64[:, :, None] * soft).reshape(N, K * M)
    assert got.dtype == dtype and got.shape == (N, K * M)
    assert_array_equal(got[0, :M], 0)
    assert not np.isnan(got).any()
    assert_allclose(got, want, rtol=_rtol(dtype), atol=_prob_atol(dtype))
    # Responsibilities of a state's components add up to the state's posterior (where possible).
    sums = got.reshape(N, K, M).sum(axis=2, dtype=np.float64)
    assert_allclose(sums[1:], sp64[1:], rtol=1e-12 if dtype == np.float64 else 1e-6, atol=1e-7)


# =================================================================================================
# Sampling
# =================================================================================================

@pytest.mark.parametrize("K", KS)
def test_sample_states_matches_oracle(rng, K):
    sp, tm = random_hmm(rng, K, zero_frac=0.3)
    n = int(rng.integers(1, 3000))
    seed, stream = int(rng.integers(0, 2**63)), int(rng.integers(0, 2**40))
    u = _core.rng.uniform(seed, stream, n)
    for dtype in DTYPES:
        spd, tmd = np.ascontiguousarray(sp, dtype=dtype), np.ascontiguousarray(tm, dtype=dtype)
        got = _core.hmm.sample_states(spd, tmd, n, seed, stream)
        assert got.dtype == np.int64 and got.shape == (n,)
        assert_array_equal(got, ref.sample_states(*_f64(spd, tmd), n, u))
        # Never a zero-probability start or transition.
        assert spd[got[0]] > 0 and (tmd[got[:-1], got[1:]] > 0).all()


def test_sample_states_rounding_falls_back_to_last_positive_state():
    """Rows summing to less than 1 (as rounding can leave them): u beyond the total picks the last
    state with p > 0, never a zero-probability state past it."""
    sp = np.array([0.25, 0.25, 0.0, 0.0])
    tm = np.tile(sp, (4, 1))
    n, seed = 4000, 12345
    u = _core.rng.uniform(seed, 0, n)
    got = _core.hmm.sample_states(sp, tm, n, seed, 0)
    assert_array_equal(got, np.where(u < 0.25, 0, 1))


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
def test_sample_poisson_matches_exact_inverse_cdf(rng, dtype):
    N, D = 400, 5
    lam = np.concatenate([np.zeros((N, 1)),                        # rate 0 -> always 0
                          rng.uniform(1e-6, 0.1, (N, 1)),          # tiny rates, mode 0
                          rng.uniform(0.1, 20, (N, 1)),
                          rng.uniform(20, 500, (N, 1)),
                          rng.uniform(1e3, 2e4, (N, 1))], axis=1)  # far tails walked from the mode
    lam = np.ascontiguousarray(lam, dtype=dtype)
    seed, stream = int(rng.integers(0, 2**63)), int(rng.integers(0, 1000))
    got = _core.hmm.sample_poisson(lam, seed, stream)
    assert got.dtype == np.int64 and got.shape == (N, D)
    u = _core.rng.uniform(seed, stream, N * D).reshape(N, D)  # element (n, d) uses u[n * D + d]
    want = _poisson_inverse_cdf(lam.astype(np.float64), u)
    # Equal except where u lies within rounding of a CDF jump (expected count here: ~1e-6).
    assert_array_equal(got, want)
    assert_array_equal(got[:, 0], 0)
    # And bit for bit the documented search from the mode (the oracle mirrors its operations).
    assert_array_equal(got, ref.sample_poisson(lam.astype(np.float64), u))


def test_sample_poisson_moments(rng):
    lam = np.full((200_000, 1), 3.7)
    x = _core.hmm.sample_poisson(lam, int(rng.integers(0, 2**63)), 3)
    # Mean and variance 3.7; standard errors ~0.004 and ~0.015.
    assert_allclose(x.mean(), 3.7, rtol=0, atol=0.03)
    assert_allclose(x.var(), 3.7, rtol=0, atol=0.1)


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


def test_emission_kernels_reject_bad_input():
    X = np.zeros((6, 2))
    mu, prec = np.zeros((3, 2)), np.ones((3, 2))
    with pytest.raises(TypeError, match="X: expected float32 or float64"):
        _core.emissions.gaussian_logprob_diag(X.astype(np.int64), mu, prec)
    with pytest.raises(TypeError, match="means: expected dtype float64, got float32"):
        _core.emissions.gaussian_logprob_diag(X, mu.astype(np.float32), prec)
    with pytest.raises(ValueError, match=r"means: expected shape \(\*, 2\), got \(3, 3\)"):
        _core.emissions.gaussian_logprob_diag(X, np.zeros((3, 3)), prec)
    with pytest.raises(ValueError, match=r"precisions: expected shape \(3, 2\), got \(2, 2\)"):
        _core.emissions.gaussian_logprob_diag(X, mu, np.ones((2, 2)))
    with pytest.raises(ValueError, match="X: expected a C-contiguous array"):
        _core.emissions.gaussian_logprob_diag(np.zeros((2, 6)).T, mu, prec)
    P = np.tile(np.eye(2), (3, 1, 1))
    with pytest.raises(ValueError, match="prec_chol: expected 3 or 1 factors, got 2"):
        _core.emissions.gaussian_logprob_full(X, mu, P[:2].copy())
    with pytest.raises(ValueError, match=r"prec_chol: expected shape \(\*, 2, 2\)"):
        _core.emissions.gaussian_logprob_full(X, mu, np.ones((3, 2)))
    with pytest.raises(ValueError, match="prec_chol: expected a C-contiguous array"):
        _core.emissions.gaussian_logprob_full(X, mu, np.tile(np.eye(2), (3, 1, 2))[:, :, ::2])
    with pytest.raises(ValueError, match=r"lambdas: expected shape \(\*, 2\)"):
        _core.emissions.poisson_logprob(X, np.ones((3, 3)))
    with pytest.raises(TypeError, match="lambdas: expected dtype float64"):
        _core.emissions.poisson_logprob(X, np.ones((3, 2), dtype=np.float32))


def test_categorical_kernels_reject_bad_symbols():
    le = np.log(np.full((2, 3), 1 / 3))
    W = np.full((4, 2), 0.5)
    for bad in ([0, 1, 3, 0], [0, -1, 2, 0]):
        X = np.array(bad, dtype=np.int64)
        with pytest.raises(ValueError, match=r"X: symbol -?\d+ at row \d outside \[0, 3\)"):
            _core.emissions.categorical_logprob(X, le)
        with pytest.raises(ValueError, match=r"X: symbol -?\d+ at row \d outside \[0, 3\)"):
            _core.emissions.categorical_counts(X, W, 3)
    X = np.array([0, 1, 2, 0], dtype=np.int64)
    with pytest.raises(TypeError, match="X: expected dtype int64"):
        _core.emissions.categorical_logprob(X.astype(np.int32), le)
    with pytest.raises(TypeError, match="X: expected dtype int64"):
        _core.emissions.categorical_logprob(X.astype(np.float64), le)
    with pytest.raises(ValueError, match="X: expected shape"):
        _core.emissions.categorical_logprob(X[:, None].copy(), le)
    with pytest.raises(ValueError, match="X: expected a C-contiguous array"):
        _core.emissions.categorical_logprob(np.repeat(X, 2)[::2], le)
    with pytest.raises(ValueError, match=r"weights: expected shape \(4, \*\), got \(3, 2\)"):
        _core.emissions.categorical_counts(X, W[:3].copy(), 3)
    with pytest.raises(ValueError, match="n_symbols: must be >= 1"):
        _core.emissions.categorical_counts(X, W, 0)


def test_statistics_kernels_reject_bad_input():
    X, W = np.zeros((5, 2)), np.zeros((5, 3))
    with pytest.raises(ValueError, match="order: expected 0, 1 or 2, got 3"):
        _core.emissions.weighted_moments(X, W, 3)
    with pytest.raises(ValueError, match=r"weights: expected shape \(5, \*\), got \(4, 3\)"):
        _core.emissions.weighted_moments(X, W[:4].copy(), 1)
    with pytest.raises(TypeError, match="weights: expected dtype float64, got float32"):
        _core.emissions.weighted_moments(X, W.astype(np.float32), 1)
    with pytest.raises(ValueError, match="weights: expected a C-contiguous array"):
        _core.emissions.weighted_moments(X, np.asfortranarray(W), 1)
    for rows in ([0, 5], [-1], [2, 7, 1]):
        with pytest.raises(ValueError, match=r"rows: index -?\d+ outside \[0, 5\)"):
            _core.emissions.sum_rows(W, np.array(rows, dtype=np.int64))
    with pytest.raises(TypeError, match="rows: expected dtype int64"):
        _core.emissions.sum_rows(W, np.array([0, 1], dtype=np.int32))


def test_mixture_kernels_reject_bad_input():
    comp, lw, sp = np.zeros((4, 6)), np.log(np.full((3, 2), 0.5)), np.full((4, 3), 1 / 3)
    with pytest.raises(ValueError, match=r"comp_logprob: expected 6 columns \(K\*M\), got 5"):
        _core.emissions.mixture_logprob(np.zeros((4, 5)), lw)
    with pytest.raises(ValueError, match=r"state_post: expected shape \(4, 3\), got \(4, 2\)"):
        _core.emissions.mixture_posteriors(comp, lw, sp[:, :2].copy())
    with pytest.raises(TypeError, match="log_weights: expected dtype float64, got float32"):
        _core.emissions.mixture_logprob(comp, lw.astype(np.float32))
    with pytest.raises(ValueError, match="comp_logprob: expected a C-contiguous array"):
        _core.emissions.mixture_logprob(np.asfortranarray(comp), lw)


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
