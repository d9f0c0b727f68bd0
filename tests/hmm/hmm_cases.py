"""Shared inputs, tolerances and checks of the HMM kernel tests (test_hmm_forward_backward.py,
test_hmm_fb_guard.py, test_hmm_viterbi_sampling.py, test_hmm_kernel_checks.py).

The HMM kernels (``hmm``: forward/backward in both domains, Viterbi, state and Poisson sampling)
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

import numpy as np
import pytest
from numpy.testing import assert_allclose

from conftest import offsets_of, random_hmm, random_lengths
from devices import CUDA_MARKS, host
from fastgen import _core


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
