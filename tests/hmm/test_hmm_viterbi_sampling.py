"""The HMM Viterbi, state-sampling and Poisson-sampling kernels on both backends against the NumPy
oracles. Backends, inputs and tolerances: hmm_cases.py.
"""
from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import gammaln

from conftest import offsets_of, random_hmm
from devices import host, kernels
from fastgen import _core
from reference import hmm as ref
from reference import rng as ref_rng
from hmm_cases import (cuda_case, CUDA_CASES, DTYPES, _f64, KS, lattice, _lattice_inputs, _logprob_atol,
                       _path_logprob, _rtol, TRIALS)


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
