"""Categorical emissions read by symbol inside the lattice passes (hmm.forward_backward_categorical,
viterbi_categorical): against the NumPy oracle on both devices, and on the CPU the same bits as
forward_backward / viterbi on emissions.categorical_logprob's array (the fused kernels read the
same rows with the same code): one long sequence (score by symbol tables), many sequences (the
lanes kernels), length-1 sequences, K = 1, unused symbols, a zero-probability symbol that makes a
sequence impossible, and a sticky model that sends a sequence to the log domain.

Tolerances: float64 rtol 1e-10, float32 1e-5 against the oracle in float64 (RTOL); paths equal.
"""
from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from conftest import offsets_of
from devices import DEVICES, host, kernels, small
from reference import hmm as ref

DTYPES = (np.float64, np.float32)
RTOL = {np.float64: 1e-10, np.float32: 1e-5}
CASES = [  # seed, K, M, lengths
    (0, 4, 5, [1]),
    (1, 7, 9, [300]),
    (2, 64, 128, [3000]),
    (3, 5, 3, [40] * 20),
    (4, 8, 11, list(range(1, 40))),
    (5, 1, 3, [17] * 3),
]


def model(seed, K, M, lengths, dtype, zero_symbol=False):
    rng = np.random.default_rng(seed)
    sp = rng.dirichlet(np.ones(K))
    tm = rng.dirichlet(np.ones(K), size=K)
    B = rng.dirichlet(np.ones(M) * 0.3, size=K)
    X = rng.integers(0, max(M - 1, 1), int(sum(lengths))).astype(np.int64)  # symbol M - 1 unused
    if zero_symbol:  # symbol 0 impossible in every state: the sequences holding it are impossible
        B[:, 0] = 0
        B /= B.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        le = np.log(B)
    return sp.astype(dtype), tm.astype(dtype), X, le.astype(dtype), offsets_of(lengths)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed, K, M, lengths", CASES)
def test_categorical_fused_is_the_two_step_path_bit_for_bit(dtype, seed, K, M, lengths):
    from fastgen import _core
    sp, tm, X, le, off = model(seed, K, M, lengths, dtype, zero_symbol=seed == 4)
    lp = _core.emissions.categorical_logprob(X, le)
    for want_post, want_xi in [(False, False), (True, True), (True, False), (False, True)]:
        a = _core.hmm.forward_backward(sp, tm, lp, off, want_post, want_xi)
        b = _core.hmm.forward_backward_categorical(sp, tm, X, le, off, want_post, want_xi)
        for u, v in zip(a, b):
            assert (u is None) == (v is None)
            if u is not None:
                assert_array_equal(u, v)
    for u, v in zip(_core.hmm.viterbi(sp, tm, lp, off), _core.hmm.viterbi_categorical(sp, tm, X, le, off)):
        assert_array_equal(u, v)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed, K, M, lengths", [c for c in CASES if c[1] < 64])
def test_categorical_fused_matches_oracle(device, dtype, seed, K, M, lengths):
    lengths = small(device, lengths, [min(n, 6) for n in lengths[:5]])
    sp, tm, X, le, off = model(seed, K, M, lengths, dtype)
    lp = ref.categorical_logprob(X.reshape(-1, 1), le.astype(np.float64))
    hmm = kernels(device, "hmm")
    ll, post, xi = ref.forward_backward(sp, tm, lp, lengths)
    got = hmm.forward_backward_categorical(sp, tm, X, le, off, True, True)
    assert_allclose(host(got[0]), ll, rtol=RTOL[dtype])
    assert_allclose(host(got[1]), post, rtol=RTOL[dtype], atol=RTOL[dtype])
    assert_allclose(host(got[2]), xi, rtol=RTOL[dtype], atol=RTOL[dtype] * max(1.0, np.abs(xi).max()))
    vl, states = ref.viterbi(sp, tm, lp, lengths)
    got_vl, got_states = hmm.viterbi_categorical(sp, tm, X, le, off)
    assert_allclose(host(got_vl), vl, rtol=RTOL[dtype])
    assert_array_equal(host(got_states), states)


def test_categorical_fused_score_redone_in_log_domain():
    """A transient state beside an absorbing one, with a symbol only the transient state emits at
    the end: the scaled pass loses the transient state's mass and the sequence is redone in the log
    domain (the fused score path's rows come from the symbol table there too)."""
    from fastgen import _core
    T = 2000
    sp = np.array([1.0, 0.0])
    tm = np.array([[0.5, 0.5], [0.0, 1.0]])
    B = np.array([[1e-300, 1 - 1e-300], [1.0, 0.0]])  # state 0 emits symbol 1, state 1 symbol 0
    with np.errstate(divide="ignore"):
        le = np.log(B)
    X = np.zeros(T, dtype=np.int64)
    X[-1] = 1
    off = offsets_of([T])
    got = _core.hmm.forward_backward_categorical(sp, tm, X, le, off, False, False)[0]
    want = ref.forward_backward(sp, tm, ref.categorical_logprob(X.reshape(-1, 1), le), [T])[0]
    assert_allclose(got, want, rtol=1e-10)


@pytest.mark.parametrize("device", DEVICES)
def test_categorical_fused_rejects_bad_input(device):
    hmm = kernels(device, "hmm")
    sp, tm, X, le, off = model(6, 3, 4, [10], np.float64)
    bad = X.copy()
    bad[5] = 4
    with pytest.raises(ValueError, match="X"):
        hmm.forward_backward_categorical(sp, tm, bad, le, off, False, False)
    with pytest.raises(ValueError, match="X"):
        hmm.viterbi_categorical(sp, tm, bad, le, off)
    with pytest.raises(ValueError, match="transmat"):
        hmm.forward_backward_categorical(sp, tm[:2], X, le, off)
    with pytest.raises(TypeError, match="startprob"):
        hmm.viterbi_categorical(sp.astype(np.float32), tm, X, le, off)
