"""CUDA: the scaled forward's underflow guard (a redo in the log domain) and the xi weight cap.
Backends, inputs and tolerances: hmm_cases.py.
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from conftest import offsets_of, random_hmm
from devices import host
from reference import hmm as ref
from hmm_cases import cast, check_fb, cuda_only, DTYPES, f64, PROB_ATOL, RTOL


@pytest.fixture(scope="module")
def cu():
    return importlib.import_module("fastgen._cuda")


@pytest.fixture(scope="module")
def cuda_hmm():
    return importlib.import_module("fastgen._cuda.hmm")


@pytest.fixture(scope="module")
def core():
    return pytest.importorskip("fastgen._core")


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
