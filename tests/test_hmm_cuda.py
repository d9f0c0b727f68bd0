"""CUDA emission, HMM inference and sampling kernels (fastgen._cuda) against the NumPy oracles in
tests/reference and, when it is built, against the C++ extension fastgen._core.

Runs under Numba's CUDA simulator in CI (NUMBA_ENABLE_CUDASIM=1; .ci/run selects `-m cuda`) and on
the GPU when one is lent. The simulator costs about 10 ms per synchronised step of a 32-thread
block, so sizes are tiny: a few sequences of a few frames, K <= 6. Inputs come from fixed seeds
(the suite must stay reproducible and fast); every case runs in float64 (rtol 1e-10) and
float32 (rtol 1e-5).
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from conftest import offsets_of, precision_cholesky_upper, random_hmm, random_spd
from fastgen import _backend
from reference import hmm as ref
from reference import rng as ref_rng

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not _backend.cuda_usable(), reason="no usable CUDA device or simulator"),
]

DTYPES = (np.float64, np.float32)
IMPLS = ("scaling", "log")
RTOL = {np.float64: 1e-10, np.float32: 1e-5}
PROB_ATOL = {np.float64: 1e-13, np.float32: 1e-6}

# (K, lengths): one state; odd sizes; length-1 sequences among longer ones; one longer sequence.
CASES = [
    (1, [3, 1, 4]),
    (3, [5, 1, 7]),
    (5, [1, 9, 2]),
    (4, [14]),
]


@pytest.fixture(scope="module")
def cu():
    return importlib.import_module("fastgen._cuda")


@pytest.fixture(scope="module")
def cuda_hmm():
    return importlib.import_module("fastgen._cuda.hmm")


@pytest.fixture(scope="module")
def core():
    return pytest.importorskip("fastgen._core")


def host(a):
    return None if a is None else _backend.to_host(a)


def cast(dtype, *arrays):
    return [np.ascontiguousarray(a, dtype=dtype) for a in arrays]


def f64(*arrays):
    return [np.asarray(a, dtype=np.float64) for a in arrays]


def lattice(seed, K, lengths, dtype, *, zero_frac=0.0, loc=-1.0, scale=2.0):
    """startprob, transmat, frame_logprob in `dtype` (parameters renormalised after the cast)."""
    rng = np.random.default_rng(seed)
    sp, tm = random_hmm(rng, K, zero_frac=zero_frac)
    lp = loc + scale * rng.standard_normal((int(np.sum(lengths)), K))
    sp, tm, lp = cast(dtype, sp, tm, lp)
    sp = np.ascontiguousarray(sp / sp.sum(dtype=np.float64), dtype=dtype)
    tm = np.ascontiguousarray(tm / tm.sum(axis=1, dtype=np.float64, keepdims=True), dtype=dtype)
    return sp, tm, lp


def fb(cu, impl):
    return cu.hmm.forward_backward if impl == "scaling" else cu.hmm.forward_backward_log


def check_fb(got, want, dtype):
    logprob, post, xi = (host(a) for a in got)
    r_logprob, r_post, r_xi = want
    assert logprob.dtype == dtype and post.dtype == dtype and xi.dtype == dtype
    rtol = RTOL[dtype]
    assert_allclose(logprob, r_logprob, rtol=rtol, atol=0)
    assert_allclose(post, r_post, rtol=rtol, atol=PROB_ATOL[dtype])
    assert_allclose(xi, r_xi, rtol=rtol, atol=PROB_ATOL[dtype] * max(1, post.shape[0]))


# =================================================================================================
# Emissions
# =================================================================================================

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", [0, 1])
def test_categorical_logprob(cu, seed, dtype):
    rng = np.random.default_rng(seed)
    N, K, M = 13, 3 + seed, 5
    X = rng.integers(0, M, N).astype(np.int64)
    le = np.log(rng.dirichlet(np.ones(M), size=K)).astype(dtype)
    got = host(cu.emissions.categorical_logprob(X, le))
    assert got.dtype == dtype and got.shape == (N, K)
    assert_array_equal(got, ref.categorical_logprob(X, le).astype(dtype))


def test_categorical_logprob_rejects_bad_symbols(cu):
    from numba import cuda
    le = np.zeros((2, 3))
    for X in (np.array([0, 3, 1]), np.array([0, -1, 1])):
        with pytest.raises(ValueError, match="row 1"):
            cu.emissions.categorical_logprob(X.astype(np.int64), le)
        with pytest.raises(ValueError, match="row 1"):  # device-resident symbols: checked on the device
            cu.emissions.categorical_logprob(cuda.to_device(X.astype(np.int64)), le)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", [0, 1])
def test_gaussian_logprob_diag(cu, seed, dtype):
    rng = np.random.default_rng(seed)
    N, K, D = 11, 2 + seed, 3
    X = rng.normal(size=(N, D)) * 3
    means = rng.normal(size=(K, D))
    var = rng.uniform(0.3, 3.0, (K, D))
    X, means, prec = cast(dtype, X, means, 1.0 / var)
    got = host(cu.emissions.gaussian_logprob_diag(X, means, prec))
    assert got.dtype == dtype and got.shape == (N, K)
    want = ref.gaussian_logprob(*f64(X, means, 1.0 / prec.astype(np.float64)), "diag")
    assert_allclose(got, want, rtol=RTOL[dtype], atol=RTOL[dtype])


def test_gaussian_logprob_diag_far_from_mean(cu):
    """The direct form (no expanded x^2 - 2 x mu + mu^2) keeps full relative accuracy at |x| ~ 1e6."""
    X = np.array([[1e6 + 0.5], [1e6 - 2.0]])
    means = np.array([[1e6], [1e6 + 1.0]])
    prec = np.array([[4.0], [0.25]])
    got = host(cu.emissions.gaussian_logprob_diag(X, means, prec))
    assert_allclose(got, ref.gaussian_logprob(X, means, 1.0 / prec, "diag"), rtol=1e-13, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_gaussian_logprob_full(cu, covariance_type, dtype):
    rng = np.random.default_rng(7)
    N, K, D = 9, 3, 3
    X = rng.normal(size=(N, D)) * 2
    means = rng.normal(size=(K, D))
    cov = random_spd(rng, D, size=K) if covariance_type == "full" else random_spd(rng, D)
    P = precision_cholesky_upper(cov if covariance_type == "full" else cov[None])
    P = P + np.tril(rng.normal(size=(D, D)), -1)  # garbage below the diagonal: must not be read
    X, means, P = cast(dtype, X, means, P)
    got = host(cu.emissions.gaussian_logprob_full(X, means, P))
    assert got.dtype == dtype and got.shape == (N, K)
    Pu = np.triu(P.astype(np.float64))
    cov_used = np.linalg.inv(Pu @ np.swapaxes(Pu, -1, -2))
    want = ref.gaussian_logprob(*f64(X, means), cov_used if covariance_type == "full" else cov_used[0],
                                covariance_type)
    assert_allclose(got, want, rtol=RTOL[dtype], atol=RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_poisson_logprob(cu, dtype):
    rng = np.random.default_rng(3)
    N, K, D = 10, 3, 2
    X = rng.poisson(4.0, (N, D)).astype(dtype)
    X[0] = 0
    lam = rng.uniform(0.2, 9.0, (K, D)).astype(dtype)
    got = host(cu.emissions.poisson_logprob(X, lam))
    assert got.dtype == dtype and got.shape == (N, K)
    assert_allclose(got, ref.poisson_logprob(*f64(X, lam)), rtol=RTOL[dtype], atol=RTOL[dtype])


def test_poisson_logprob_zero_rate(cu):
    """0 log 0 = 0: a zero count is certain under a zero rate, a positive count impossible."""
    X = np.array([[0.0, 2.0], [1.0, 0.0]])
    lam = np.array([[1.5, 0.0], [0.0, 2.0]])
    got = host(cu.emissions.poisson_logprob(X, lam))
    assert_array_equal(got, ref.poisson_logprob(X, lam))
    assert got[0, 0] == -np.inf and got[1, 1] == -np.inf and np.isfinite(got[[0, 1], [1, 0]]).all()


def test_emissions_reject_bad_arguments(cu):
    X = np.zeros((4, 2))
    with pytest.raises(TypeError):
        cu.emissions.gaussian_logprob_diag(X, np.zeros((3, 2), np.float32), np.ones((3, 2)))
    with pytest.raises(ValueError, match="means"):
        cu.emissions.gaussian_logprob_diag(X, np.zeros((3, 5)), np.ones((3, 5)))
    with pytest.raises(ValueError, match="precisions"):
        cu.emissions.gaussian_logprob_diag(X, np.zeros((3, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="prec_chol"):
        cu.emissions.gaussian_logprob_full(X, np.zeros((3, 2)), np.ones((2, 2, 2)))
    with pytest.raises(TypeError):
        cu.emissions.categorical_logprob(np.zeros(4, dtype=np.int32), np.zeros((2, 3)))
    with pytest.raises(ValueError):
        cu.emissions.poisson_logprob(X, np.ones((3, 3)))


# =================================================================================================
# Forward/backward
# =================================================================================================

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("case", [0, 1, 2, 3])
def test_forward_backward_matches_oracle(cu, case, impl, dtype):
    K, lengths = CASES[case]
    sp, tm, lp = lattice(case, K, lengths, dtype, zero_frac=0.2 if case == 2 else 0.0)
    got = fb(cu, impl)(sp, tm, lp, offsets_of(lengths), True, True)
    check_fb(got, ref.forward_backward(*f64(sp, tm, lp), lengths), dtype)


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
        check_fb(fb(cu, impl)(sp, tm, lp, off, True, True), want, np.float64)
    logprob, states = (host(a) for a in cu.hmm.viterbi(sp, tm, lp, off))
    r_logprob, r_states = ref.viterbi(sp, tm, lp, lengths)
    assert_allclose(logprob, r_logprob, rtol=1e-12)
    assert_array_equal(states, r_states)


@pytest.mark.parametrize("impl", IMPLS)
def test_forward_backward_optional_outputs(cu, impl):
    K, lengths = 3, [4, 1, 3]
    sp, tm, lp = lattice(11, K, lengths, np.float64)
    off = offsets_of(lengths)
    full = [host(a) for a in fb(cu, impl)(sp, tm, lp, off, True, True)]
    l0, p0, x0 = fb(cu, impl)(sp, tm, lp, off, False, False)
    assert p0 is None and x0 is None
    assert_allclose(host(l0), full[0], rtol=1e-15, atol=0)
    l1, p1, x1 = fb(cu, impl)(sp, tm, lp, off, True, False)
    assert x1 is None
    assert_array_equal(host(p1), full[1])
    l2, p2, x2 = fb(cu, impl)(sp, tm, lp, off, False, True)
    assert p2 is None
    assert_array_equal(host(x2), full[2])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("impl", IMPLS)
def test_forward_backward_zero_probability_sequence(cu, impl, dtype):
    """A sequence no path can produce: logprob -inf, posteriors 0, no NaN anywhere; the other
    sequences (and their xi) are unaffected. The last sequence has a frame that is impossible in
    every state (an all -inf row)."""
    K = 3
    sp = np.array([1.0, 0.0, 0.0])
    tm = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [0.0, 0.0, 1.0]])  # left to right
    lengths = [4, 3, 4, 3]
    lp = np.random.default_rng(5).normal(size=(14, K))
    lp[5, :2] = -np.inf      # sequence 1 needs state 2 at its second frame: unreachable in one step
    lp[12, :] = -np.inf      # sequence 3: an impossible frame
    sp, tm, lp = cast(dtype, sp, tm, lp)
    logprob, post, xi = (host(a) for a in fb(cu, impl)(sp, tm, lp, offsets_of(lengths), True, True))
    assert logprob[1] == -np.inf and logprob[3] == -np.inf
    assert np.isfinite(logprob[[0, 2]]).all()
    assert_array_equal(post[4:7], 0)
    assert_array_equal(post[11:14], 0)
    assert not np.isnan(post).any() and not np.isnan(xi).any()
    check_fb((logprob, post, xi), ref.forward_backward(*f64(sp, tm, lp), lengths), dtype)


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


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("impl", IMPLS)
def test_forward_backward_absorbing_state(cu, impl, dtype):
    """Start in absorbing state 0 while the unreachable state 1 has the larger emission at every
    frame: the only path is 0, 0, ..., 0. A backward pass scaled by its own sum lets beta of the
    reachable state shrink by e^-40 per step relative to the other until it underflows (after ~3
    frames in float32, ~18 in float64): posteriors would come out 0 for a possible sequence."""
    T = 24
    sp = np.array([1.0, 0.0], dtype=dtype)
    tm = np.array([[1.0, 0.0], [0.3, 0.7]], dtype=dtype)
    lp = np.zeros((T, 2), dtype=dtype)
    lp[:, 0] = -40.0
    logprob, post, xi = (host(a) for a in fb(cu, impl)(sp, tm, lp, offsets_of([T]), True, True))
    assert_allclose(logprob, [-40.0 * T], rtol=RTOL[dtype], atol=0)
    assert_allclose(post, np.tile([1.0, 0.0], (T, 1)), rtol=0, atol=PROB_ATOL[dtype])
    assert_allclose(xi, [[T - 1, 0], [0, 0]], rtol=RTOL[dtype], atol=0)


@pytest.mark.parametrize("impl", IMPLS)
def test_forward_backward_left_to_right(cu, impl):
    """A left-to-right model whose later states score higher long before they are reachable."""
    K = 4
    rng = np.random.default_rng(71)
    sp = np.eye(K)[0]
    tm = np.diag(rng.uniform(0.3, 0.9, K)) + np.diag(np.ones(K - 1), 1)
    tm[-1, -1] = 1.0
    tm /= tm.sum(axis=1, keepdims=True)
    lengths = [9, 5]
    lp = rng.normal(scale=2.0, size=(14, K)) + np.linspace(0, 30, K)
    check_fb(fb(cu, impl)(sp, tm, lp, offsets_of(lengths), True, True),
             ref.forward_backward(sp, tm, lp, lengths), np.float64)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("level", [-1e4, 1e3])
def test_forward_backward_extreme_frame_logprobs(cu, impl, level):
    """Frame log-probabilities near -1e4 (exp underflows) or +1e3 (exp overflows): the scaled
    recursion survives by its per-frame max shift, the log recursion natively."""
    K, lengths = 4, [6, 5]
    sp, tm, lp = lattice(21, K, lengths, np.float64, zero_frac=0.3, loc=level, scale=20.0)
    logprob, post, xi = (host(a) for a in fb(cu, impl)(sp, tm, lp, offsets_of(lengths), True, True))
    assert np.isfinite(logprob).all() and np.isfinite(post).all() and np.isfinite(xi).all()
    r_logprob, r_post, r_xi = ref.forward_backward(sp, tm, lp, lengths)
    assert_allclose(logprob, r_logprob, rtol=1e-12, atol=0)
    # log domain: lattices of magnitude ~1e5 carry ~1e-11 absolute error into the exponent
    rtol = 1e-10 if impl == "scaling" else 1e-8
    assert_allclose(post, r_post, rtol=rtol, atol=1e-12)
    assert_allclose(xi, r_xi, rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("impl", IMPLS)
def test_xi_sum_is_deterministic_over_several_chunks(cu, cuda_hmm, impl, monkeypatch):
    """Short chunks so the xi reduction spans several of them: two runs give identical bits, and
    the chunked sum still matches the oracle."""
    monkeypatch.setattr(cuda_hmm, "_MIN_CHUNK", 4)
    K, lengths = 3, [7, 2, 6]
    sp, tm, lp = lattice(31, K, lengths, np.float64)
    off = offsets_of(lengths)
    assert cuda_hmm._chunk_frames(int(np.sum(lengths)) - 1, K * K) == 4
    a = [host(x) for x in fb(cu, impl)(sp, tm, lp, off, True, True)]
    b = [host(x) for x in fb(cu, impl)(sp, tm, lp, off, True, True)]
    for x, y in zip(a, b):
        assert x.tobytes() == y.tobytes()
    check_fb(a, ref.forward_backward(sp, tm, lp, lengths), np.float64)


def test_forward_backward_posterior_and_xi_identities(cu):
    """Posteriors sum to 1 per frame; xi sums to N - S; zero transitions get zero counts."""
    K, lengths = 4, [5, 1, 6]
    sp, tm, lp = lattice(41, K, lengths, np.float64, zero_frac=0.4)
    logprob, post, xi = (host(a) for a in cu.hmm.forward_backward(sp, tm, lp, offsets_of(lengths), True, True))
    assert_allclose(post.sum(axis=1), 1.0, rtol=0, atol=1e-13)
    assert_allclose(xi.sum(), len(lp) - len(lengths), rtol=1e-13)
    assert (xi[tm == 0] == 0).all()


def test_forward_backward_accepts_device_arrays(cu):
    from numba import cuda
    K, lengths = 3, [3, 4]
    sp, tm, lp = lattice(51, K, lengths, np.float32)
    off = offsets_of(lengths)
    want = [host(a) for a in cu.hmm.forward_backward(sp, tm, lp, off)]
    got = [host(a) for a in cu.hmm.forward_backward(*(cuda.to_device(a) for a in (sp, tm, lp, off)))]
    for x, y in zip(got, want):
        assert_array_equal(x, y)


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
# The scaled forward's underflow guard (redo in the log domain) and the xi weight cap
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


@pytest.mark.parametrize("dtype", DTYPES)
def test_guard_transient_state_after_deep_dip(cu, cuda_hmm, dtype):
    """CUDA twin of test_hmm_kernels.py::test_forward_backward_transient_state_after_deep_dip,
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


def test_estimator_transient_state_outlives_an_unlikely_stretch():
    """CUDA twin of test_hmm_estimators.py::test_transient_state_outlives_a_long_unlikely_stretch
    (default implementation, "scaling"), shortened for the simulator: 40 symbols that state 0
    explains better (1e9:1), then 80 that state 1 does. Staying in state 1 throughout wins; the
    forward share of state 1 falls to ~exp(-830) on the way. score equals the enumeration over the
    N + 1 possible paths, posteriors sit on state 1 and Viterbi says 1 everywhere."""
    from scipy.special import logsumexp
    from fastgen import hmm as fhmm
    X = np.r_[np.zeros(40, dtype=np.int64), np.ones(80, dtype=np.int64)][:, None]
    m = fhmm.CategoricalHMM(2, init_params="", device="cuda")
    m.startprob_ = np.array([0.5, 0.5])
    m.transmat_ = np.array([[1.0, 0.0], [0.01, 0.99]])
    m.emissionprob_ = np.array([[1 - 1e-9, 1e-9], [1e-9, 1 - 1e-9]])
    N = len(X)
    with np.errstate(divide="ignore"):
        le, lt = np.log(m.emissionprob_), np.log(m.transmat_)
    c1 = np.r_[0, np.cumsum(le[1, X[:, 0]])]           # emissions of frames < t in state 1
    c0 = np.r_[np.cumsum(le[0, X[::-1, 0]])[::-1], 0]  # emissions of frames >= t in state 0
    t = np.arange(N + 1)
    trans = np.where(t == 0, 0.0, np.maximum(t - 1, 0) * lt[1, 1] + np.where(t < N, lt[1, 0], 0.0))
    paths = np.log(0.5) + c1 + c0 + trans
    assert_allclose(m.score(X), logsumexp(paths), rtol=1e-12, atol=0)
    assert (m.predict_proba(X)[:, 1] > 0.99).all()
    assert_array_equal(m.predict(X), 1)


# =================================================================================================
# Viterbi
# =================================================================================================

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", [0, 1, 2, 3])
def test_viterbi_matches_oracle(cu, case, dtype):
    K, lengths = CASES[case]
    sp, tm, lp = lattice(100 + case, K, lengths, dtype, zero_frac=0.2 if case == 2 else 0.0)
    logprob, states = (host(a) for a in cu.hmm.viterbi(sp, tm, lp, offsets_of(lengths)))
    r_logprob, r_states = ref.viterbi(*f64(sp, tm, lp), lengths)
    assert logprob.dtype == dtype and states.dtype == np.int64
    assert_allclose(logprob, r_logprob, rtol=RTOL[dtype], atol=0)
    assert_array_equal(states, r_states)


def test_viterbi_ties_and_impossible_sequences(cu):
    """Exact ties go to the lowest state; an impossible sequence gets -inf and the argmax path."""
    K = 3
    sp, tm = np.full(K, 1 / K), np.full((K, K), 1 / K)
    lp = np.zeros((7, K))
    lp[1] = [0.0, 1.0, 1.0]         # tie between states 1 and 2
    lp[5] = -np.inf                 # sequence 1 (rows 4..6) is impossible
    lengths = [4, 3]
    logprob, states = (host(a) for a in cu.hmm.viterbi(sp, tm, lp, offsets_of(lengths)))
    r_logprob, r_states = ref.viterbi(sp, tm, lp, lengths)
    assert_array_equal(states[:4], [0, 1, 0, 0])
    assert logprob[1] == -np.inf
    assert_allclose(logprob, r_logprob, rtol=1e-14)
    assert_array_equal(states, r_states)


# =================================================================================================
# Sampling
# =================================================================================================

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("K", [1, 4])
def test_sample_states_matches_oracle(cu, K, dtype):
    rng = np.random.default_rng(K)
    sp, tm = random_hmm(rng, K, zero_frac=0.3)
    sp, tm = cast(dtype, sp, tm)
    n, seed, stream = 57, 2**63 + 12345, 2**35 + 2
    got = host(cu.hmm.sample_states(sp, tm, n, seed, stream))
    assert got.dtype == np.int64 and got.shape == (n,)
    assert_array_equal(got, ref.sample_states(*f64(sp, tm), n, ref_rng.uniform(seed, stream, n)))
    assert sp[got[0]] > 0 and (tm[got[:-1], got[1:]] > 0).all()


def test_sample_states_rounding_falls_back_to_last_positive_state(cu):
    sp = np.array([0.25, 0.25, 0.0, 0.0])  # sums to 0.5: u >= 0.5 is past the total
    tm = np.tile(sp, (4, 1))
    got = host(cu.hmm.sample_states(sp, tm, 40, 9, 0))
    assert_array_equal(got, np.where(ref_rng.uniform(9, 0, 40) < 0.25, 0, 1))
    assert host(cu.hmm.sample_states(sp, tm, 0, 9, 0)).shape == (0,)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sample_poisson_matches_oracle(cu, dtype):
    rng = np.random.default_rng(8)
    lam = np.array([[0.0, 1e-6, 0.05, 0.7, 3.3, 12.0, 35.5, 480.0, 2.5e4]] * 3)
    lam[1:] *= rng.uniform(0.5, 1.5, lam[1:].shape)
    lam = lam.astype(dtype)
    seed, stream = 4242, 17
    got = host(cu.hmm.sample_poisson(lam, seed, stream))
    assert got.dtype == np.int64 and got.shape == lam.shape
    u = ref_rng.uniform(seed, stream, lam.size)
    assert_array_equal(got, ref.sample_poisson(lam.astype(np.float64), u))
    # the search from the mode is the textbook inverse CDF
    exact = [ref.poisson_inverse_cdf_exact(l, x) for l, x in zip(lam.astype(np.float64).ravel(), u)]
    assert_array_equal(got.ravel(), exact)
    assert (got[:, 0] == 0).all()


# =================================================================================================
# CUDA == CPU (fastgen._core), every function of the contract
# =================================================================================================

def _close(a, b, dtype, atol=None):
    a, b = host(a), host(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    assert_allclose(a, b, rtol=rtol, atol=rtol if atol is None else atol)


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
