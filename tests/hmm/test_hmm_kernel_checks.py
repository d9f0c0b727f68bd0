"""The HMM kernels across backends and threads: CUDA equals the CPU on every function of the
contract, results do not depend on the thread count, and both backends reject bad input alike
(the CPU binding never copying or converting silently). Backends, inputs and tolerances:
hmm_cases.py.
"""
from __future__ import annotations

import importlib
import textwrap

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from conftest import (assert_same_on_any_thread_count, thread_policy, offsets_of, precision_cholesky_upper,
                      random_hmm, random_lengths, random_spd, random_stochastic)
from devices import host, kernels
from fastgen import _core
from hmm_cases import cuda_only, DTYPES, lattice


@pytest.fixture(scope="module")
def cu():
    return importlib.import_module("fastgen._cuda")


@pytest.fixture(scope="module")
def core():
    return pytest.importorskip("fastgen._core")


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
# Bad input: both backends check every argument; the CPU binding never copies or converts silently
# =================================================================================================

def _fb_args(K=3, N=10, dtype=np.float64):
    sp = np.full(K, 1 / K, dtype=dtype)
    tm = np.full((K, K), 1 / K, dtype=dtype)
    lp = np.zeros((N, K), dtype=dtype)
    return sp, tm, lp, np.array([0, 4, N], dtype=np.int64)


# The C++ binding (csrc/common/arrays.hpp) and the CUDA twin's checks (_cuda/common/args.py) word
# two messages differently; the exception type, the argument named and the values quoted are the
# same on both: a wrong shape is "got (4,)" on the CPU and "got shape (4,)" on CUDA, a
# frame_logprob of the wrong kind "expected float32 or float64" and "expected dtype float32 or
# float64".
GOT = {"cpu": "got", "cuda": "got shape"}
FLOAT_KIND = {"cpu": "expected float32 or float64", "cuda": "expected dtype float32 or float64"}


def _not_c_contiguous(device, base, view):
    """view(base), a view that is not C-contiguous, as the device's kernels receive it: a NumPy view
    on the CPU; on CUDA a view of a device array. The CUDA kernels copy host input to the device
    anyway (made contiguous on the way), so only device-resident input is used in place, and that
    must be C-contiguous; the CPU binding never copies, so it refuses any non-contiguous array."""
    if device == "cpu":
        return view(base)
    from numba import cuda
    return view(cuda.to_device(base))


@pytest.mark.parametrize("fn", ["forward_backward", "forward_backward_log", "viterbi"])
class TestLatticeKernelInputs:
    """Both backends (`device`: conftest), the same bad arguments and the same expectations; every
    case fails in the argument checks, before any launch, so CUDA's simulator runs them quickly."""

    def call(self, device, fn, sp, tm, lp, off):
        f = getattr(kernels(device, "hmm"), fn)
        return f(sp, tm, lp, off) if fn == "viterbi" else f(sp, tm, lp, off, True, True)

    def test_non_float_frame_logprob(self, device, fn):
        sp, tm, lp, off = _fb_args()
        for dtype in (np.int64, np.float16):
            with pytest.raises(TypeError, match=f"frame_logprob: {FLOAT_KIND[device]}, got {np.dtype(dtype)}"):
                self.call(device, fn, sp, tm, lp.astype(dtype), off)

    def test_mixed_dtypes(self, device, fn):
        sp, tm, lp, off = _fb_args()
        with pytest.raises(TypeError, match="startprob: expected dtype float64, got float32"):
            self.call(device, fn, sp.astype(np.float32), tm, lp, off)
        with pytest.raises(TypeError, match="transmat: expected dtype float32"):
            self.call(device, fn, sp.astype(np.float32), tm, lp.astype(np.float32), off)

    def test_wrong_shapes(self, device, fn):
        sp, tm, lp, off = _fb_args()
        got = GOT[device]
        for bad, shape in ((np.full(4, 0.25), r"\(4,\)"), (sp[:2], r"\(2,\)")):
            with pytest.raises(ValueError, match=rf"startprob: expected shape \(3,\), {got} {shape}"):
                self.call(device, fn, bad, tm, lp, off)
        for bad, shape in ((np.full((3, 2), 0.5), r"\(3, 2\)"), (tm[:2], r"\(2, 3\)")):
            with pytest.raises(ValueError, match=rf"transmat: expected shape \(3, 3\), {got} {shape}"):
                self.call(device, fn, sp, bad, lp, off)
        with pytest.raises(ValueError, match=rf"frame_logprob: expected shape \(\*, \*\), {got} \(30,\)"):
            self.call(device, fn, sp, tm, lp.ravel(), off)
        with pytest.raises(ValueError, match=rf"offsets: expected shape \(\*,\), {got} \(1, 3\)"):
            self.call(device, fn, sp, tm, lp, off[None])

    def test_non_contiguous(self, device, fn):
        sp, tm, lp, off = _fb_args()
        with pytest.raises(ValueError, match="frame_logprob: expected a C-contiguous array"):
            self.call(device, fn, sp, tm, _not_c_contiguous(device, np.zeros((3, 10)), lambda a: a.T), off)  # F order
        with pytest.raises(ValueError, match="transmat: expected a C-contiguous array"):
            self.call(device, fn, sp, _not_c_contiguous(device, np.full((3, 6), 1 / 3), lambda a: a[:, ::2]), lp, off)
        with pytest.raises(ValueError, match="offsets: expected a C-contiguous array"):
            self.call(device, fn, sp, tm, lp,
                      _not_c_contiguous(device, np.array([0, 0, 4, 4, 10, 10], np.int64), lambda a: a[::2]))

    @pytest.mark.parametrize("off, what", [([1, 4, 10], "start at 0"), ([1, 10], "start at 0"),
                                           ([0, 4, 9], "end at n_samples=10"), ([0, 9], "end at n_samples=10"),
                                           ([0, 4, 11], "end at n_samples=10"),
                                           ([0, 4, 4, 10], "positive"), ([0, 6, 4, 10], "positive"),
                                           ([0], "at least one sequence")])
    def test_bad_offsets(self, device, fn, off, what):
        sp, tm, lp, _ = _fb_args()
        with pytest.raises(ValueError, match=f"offsets: .*{what}"):
            self.call(device, fn, sp, tm, lp, np.array(off, dtype=np.int64))

    def test_offsets_dtype(self, device, fn):
        sp, tm, lp, off = _fb_args()
        with pytest.raises(TypeError, match="offsets: expected dtype int64, got int32"):
            self.call(device, fn, sp, tm, lp, off.astype(np.int32))

    def test_zero_states(self, device, fn):
        with pytest.raises(ValueError, match="frame_logprob: need at least one state"):
            self.call(device, fn, np.zeros(0), np.zeros((0, 0)), np.zeros((5, 0)), np.array([0, 5], np.int64))


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
