"""Decoding kernel (csrc/autoregressive/decoding.hpp and fastgen._cuda.autoregressive.decoding, behind
fastgen.autoregressive.sample_logits) against the NumPy oracle tests/reference/decoding.py, CUDA
against the CPU on the same inputs, and the input checks of both backends.

Tests taking `device` run on the CPU and, when Numba can launch kernels (the simulator under
NUMBA_ENABLE_CUDASIM=1, or a lent GPU), on CUDA (marked `cuda`; 8 threads per row in the simulator,
so rows are few and short there).

Exactness: the kernel and the oracle follow the same rules on the same Philox uniforms but sum the
weights in different orders (the oracle: a full sort and cumsums; the kernel: quickselect and
blocked sums). Their float64 sums differ by a few ulps of the row's total, so a token may differ
only where the oracle's margin (relative distance of u * S, or of a top-p prefix weight, from the
boundary it is compared with) is below 1e-12; such rows are excused and counted (they must be rare).
Ties, masks and integer logits make every weight exact (exp(0) = 1 or well-separated values), so
those cases are compared without any excuse. CUDA tokens must equal the CPU's under the same margin
rule (same uniforms and rules, another summation order).
"""
from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from conftest import assert_same_on_any_thread_count
from devices import CUDA_MARKS, host, kernels
from fastgen.autoregressive import sample_logits
from reference import decoding as ref
from reference.rbm import uniforms

_core = pytest.importorskip("fastgen._core")

DTYPES = (np.float64, np.float32)
MARGIN = 1e-12  # oracle margins below this are within rounding of the kernel's sums
# (temperature, top_k, top_p): off, each filter alone, combined, a no-op top_k, top_k = 1
FILTERS = [(1.0, 0, 1.0), (0.7, 3, 1.0), (1.3, 0, 0.8), (0.5, 5, 0.6), (1.0, 10**6, 1.0), (2.0, 1, 0.9),
           (1.0, 0, 1e-9), (0.9, 2, 0.999)]
SHAPES = [(1, 1), (5, 1), (6, 2), (13, 17), (9, 101), (2, 4099)]  # 4099: the long-row (bucket) path


def check(x, temperature, top_k, top_p, greedy=False, seed=1234, stream=0, exact=False):
    got = _core.autoregressive.sample_logits(x, temperature, top_k, top_p, greedy, seed, stream)
    assert got.dtype == np.int64 and got.shape == (x.shape[0],)
    u = uniforms(seed, stream, np.arange(x.shape[0]))
    want, margin = ref.sample_logits(x, u, temperature, top_k, top_p, greedy)
    bad = (got != want) if exact else (got != want) & (margin >= MARGIN)
    assert not bad.any(), f"rows {np.flatnonzero(bad)}: kernel {got[bad]} oracle {want[bad]} margins {margin[bad]}"
    return got, margin


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_matches_oracle_on_random_logits(rng, dtype, shape):
    excused = 0
    for temperature, top_k, top_p in FILTERS:
        x = (rng.standard_normal(shape) * rng.uniform(0.3, 4.0)).astype(dtype)
        got, margin = check(x, temperature, top_k, top_p, seed=int(rng.integers(2**63)),
                            stream=int(rng.integers(2**64, dtype=np.uint64)))
        excused += int((margin < MARGIN).sum())
    assert excused <= 1


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("V", [3, 8, 31, 4100])
def test_ties_and_masked_tokens_exactly(rng, dtype, V):
    """Integer logits in a narrow range (many exact ties, weights e^-k) and -inf masks: top-k keeps
    the lower index among equal logits, top-p the lower index at the cut."""
    N = 12 if V < 1000 else 3
    x = rng.integers(-2, 3, size=(N, V)).astype(dtype)
    x[rng.random((N, V)) < 0.3] = -np.inf
    x[np.arange(N), rng.integers(0, V, size=N)] = 1.0  # no row entirely masked
    for temperature, top_k, top_p in [(1.0, 0, 1.0), (1.0, 2, 1.0), (1.0, 0, 0.5), (0.5, 3, 0.75), (1.0, 1, 1.0)]:
        check(x, temperature, top_k, top_p, seed=int(rng.integers(2**63)))
    # equal logits: weights exactly 1, so top_p = 0.5 of 4 ties keeps exactly the first two
    eq = np.zeros((400, 4), dtype=dtype)
    got, _ = check(eq, 1.0, 0, 0.5, seed=int(rng.integers(2**63)), exact=True)
    assert set(got.tolist()) == {0, 1}
    got, _ = check(eq, 1.0, 3, 1.0, seed=int(rng.integers(2**63)), exact=True)
    assert set(got.tolist()) == {0, 1, 2}


@pytest.mark.parametrize("dtype", DTYPES)
def test_extreme_logits(rng, dtype):
    """Logits 1e4 apart: every token but the top has weight 0 (e^-1e4), whatever the filter."""
    x = rng.uniform(-3, 3, size=(20, 7)).astype(dtype)
    top = rng.integers(0, 7, size=20)
    x[np.arange(20), top] += dtype(1e4)
    for temperature, top_k, top_p in [(1.0, 0, 1.0), (3.0, 4, 0.99), (100.0, 0, 1.0)]:
        got, _ = check(x, temperature, top_k, top_p, seed=int(rng.integers(2**63)), exact=True)
        assert_array_equal(got, top)
    y = np.array([[-1e4, 1e4, 0.0, -np.inf]], dtype=dtype)
    assert _core.autoregressive.sample_logits(y, 1.0, 0, 1.0, False, 5, 0)[0] == 1
    # a huge temperature flattens: every finite token can be drawn (a frequency: a fixed seed)
    z = np.tile(np.array([[0.0, -50.0, -100.0]], dtype=dtype), (3000, 1))
    counts = np.bincount(check(z, 1e6, 0, 1.0, seed=6103)[0], minlength=3)
    assert (counts > 800).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_greedy_is_the_first_argmax(device, rng, dtype):
    x = rng.integers(-3, 3, size=(50 if device == "cpu" else 4, 9)).astype(dtype)
    x[rng.random(x.shape) < 0.2] = -np.inf
    x[:, 4] = np.where(np.isinf(x).all(axis=1), 0.0, x[:, 4])
    got = host(kernels(device, "autoregressive").sample_logits(x, 0.3, 2, 0.5, True, 0, 0))
    assert_array_equal(got, np.argmax(x, axis=1))
    assert sample_logits(x[0], greedy=True, device=device) == np.argmax(x[0])


@pytest.mark.parametrize("temperature, top_k, top_p", [(0.8, 3, 1.0), (1.0, 0, 0.7), (1.5, 4, 0.8)])
def test_filtered_distribution_chi_square(temperature, top_k, top_p):
    """Many draws from one row follow softmax(x / T) restricted to the kept tokens (chi-square)."""
    rng = np.random.default_rng(6101)  # statistical assertions: a fixed seed
    V, n = 8, 20000
    x = rng.normal(0.0, 1.0, size=V)
    draws = sample_logits(np.tile(x, (n, 1)), temperature=temperature, top_k=top_k or None, top_p=top_p,
                          random_state=int(rng.integers(2**31)))
    p = ref.filtered_probs(x, temperature, top_k, top_p)
    counts = np.bincount(draws, minlength=V)
    assert (counts[p == 0] == 0).all()
    kept = p > 0
    assert ref.pooled_chisquare_pvalue(counts[kept], n * p[kept]) > 1e-5


def test_filtered_distribution_long_rows():
    """The long-row path (V >= 4096: histogram cut) draws from the same distribution."""
    rng = np.random.default_rng(6102)  # statistical assertions: a fixed seed
    V, n = 4096, 2000
    x = rng.normal(0.0, 1.0, size=V).astype(np.float32)
    top = np.argsort(-x, kind="stable")[:4]
    x[top] += np.float32(6.0)  # four dominant tokens, the rest a thin tail
    draws = sample_logits(np.tile(x, (n, 1)), top_p=0.99, random_state=int(rng.integers(2**31)))
    p = ref.filtered_probs(x, 1.0, 0, 0.99)
    counts = np.bincount(draws, minlength=V)
    assert (counts[p == 0] == 0).all()
    kept = p > 0
    assert ref.pooled_chisquare_pvalue(counts[kept], n * p[kept]) > 1e-5


def test_same_tokens_on_1_and_2_threads(tmp_path):
    script = """
import sys
import numpy as np
from fastgen import _core
rng = np.random.default_rng(7)
out = {}
for i, (N, V, k, p) in enumerate([(64, 3000, 0, 0.9), (16, 5000, 40, 0.95), (300, 60, 5, 1.0)]):
    x = rng.normal(0, 2, size=(N, V)).astype(np.float32)
    out[str(i)] = _core.autoregressive.sample_logits(x, 0.8, k, p, False, 99, 3)
np.savez(sys.argv[1], **out)
"""
    assert_same_on_any_thread_count(script, tmp_path)


def test_public_function(rng):
    x = rng.normal(size=(6, 11))
    a = sample_logits(x, top_k=3, random_state=5)
    assert a.dtype == np.int64 and a.shape == (6,)
    assert_array_equal(a, sample_logits(x, top_k=3, random_state=5))  # same seed, same tokens
    one = sample_logits(x[0], top_p=0.9, random_state=np.random.RandomState(3))
    assert isinstance(one, np.int64) and 0 <= one < 11
    assert sample_logits(x[:0]).shape == (0,)
    assert sample_logits([0.0, 5.0, -np.inf], greedy=True) == 1
    # the public function is the kernel with stream 0 and the seed drawn from random_state
    from fastgen._validation import philox_seed
    assert_array_equal(a, _core.autoregressive.sample_logits(x, 1.0, 3, 1.0, False, philox_seed(5), 0))


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(temperature=0.0), ValueError, "temperature"),
    (dict(temperature=-1.0), ValueError, "temperature"),
    (dict(temperature=np.inf), ValueError, "temperature"),
    (dict(temperature=np.nan), ValueError, "temperature"),
    (dict(temperature="1"), TypeError, "temperature"),
    (dict(top_k=0), ValueError, "top_k"),
    (dict(top_k=-2), ValueError, "top_k"),
    (dict(top_k=2.5), TypeError, "top_k"),
    (dict(top_k=True), TypeError, "top_k"),
    (dict(top_p=0.0), ValueError, "top_p"),
    (dict(top_p=1.5), ValueError, "top_p"),
    (dict(top_p=np.nan), ValueError, "top_p"),
    (dict(greedy="yes"), TypeError, "greedy"),
    (dict(device="gpu"), ValueError, "device"),
])
def test_bad_arguments(device, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        sample_logits(np.zeros((2, 3)), **{"device": device, **kwargs})


@pytest.mark.parametrize("logits, exc, match", [
    (np.array([[0.0, np.nan, 1.0]]), ValueError, "row 0 holds NaN or \\+inf"),
    (np.array([[0.0, 1.0], [np.inf, 1.0]]), ValueError, "row 1 holds NaN or \\+inf"),
    (np.array([[0.0, 1.0], [np.nan, 0.0]]), ValueError, "logits: row 1 holds NaN or \\+inf"),
    (np.array([[0.0, 1.0], [-np.inf, -np.inf]]), ValueError, "row 1 is all -inf"),
    (np.array([[-np.inf, -np.inf]]), ValueError, "logits: row 0 is all -inf"),
    (np.zeros((2, 3), dtype=np.int64), TypeError, "logits: expected dtype float32 or float64"),
    (np.zeros((1, 2), dtype=np.int32), TypeError, "logits: expected dtype float32 or float64"),
    (np.zeros((2, 3), dtype=np.float16), TypeError, "logits: expected dtype float32 or float64"),
    (np.zeros((2, 3, 4)), ValueError, "logits: expected shape"),
    (np.zeros((2, 0)), ValueError, "at least one token"),
])
def test_bad_logits(device, logits, exc, match):
    with pytest.raises(exc, match=match):
        sample_logits(logits, device=device)


@pytest.mark.parametrize("args, exc, match", [
    ((np.zeros((2, 3)), 0.0, 0, 1.0), ValueError, "temperature"),
    ((np.zeros((2, 3)), 1.0, -1, 1.0), ValueError, "top_k: must be >= 0"),
    ((np.zeros((2, 3)), 1.0, 0, 0.0), ValueError, "top_p"),
    ((np.zeros((2, 3)), 1.0, 0, 1.5), ValueError, "top_p"),
    ((np.zeros((3, 2)).T, 1.0, 0, 1.0), ValueError, "C-contiguous"),
    ((np.zeros((2, 3), dtype=np.int32), 1.0, 0, 1.0), TypeError, "logits"),
    ((np.zeros(3), 1.0, 0, 1.0), ValueError, "logits: expected shape"),
    ((np.zeros((2, 0)), 1.0, 0, 1.0), ValueError, "logits: need at least one token"),
])
def test_binding_checks(device, args, exc, match):
    if device == "cuda" and match == "C-contiguous":
        pytest.skip("the CUDA kernel copies a non-contiguous array")
    with pytest.raises(exc, match=match):
        kernels(device, "autoregressive").sample_logits(*args, False, 0, 0)


# -- CUDA against the CPU on the same inputs --------------------------------------------------------

def cuda_only(f):
    for mark in reversed(CUDA_MARKS):
        f = mark(f)
    return f


def compare(x, temperature, top_k, top_p, greedy=False, seed=7, stream=3):
    got = host(kernels("cuda", "autoregressive").sample_logits(x, temperature, top_k, top_p, greedy, seed, stream))
    cpu = _core.autoregressive.sample_logits(x, temperature, top_k, top_p, greedy, seed, stream)
    _, margin = ref.sample_logits(x, uniforms(seed, stream, np.arange(x.shape[0])), temperature, top_k, top_p, greedy)
    bad = (got != cpu) & (margin >= MARGIN)
    assert not bad.any(), f"rows {np.flatnonzero(bad)}: cuda {got[bad]} cpu {cpu[bad]}"
    return got


@cuda_only
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cuda_same_tokens_as_the_cpu(rng, dtype):
    """V = 1, a short row, a row longer than the block; each filter alone and combined."""
    for shape, (temperature, top_k, top_p) in [((2, 1), (1.0, 0, 1.0)), ((2, 19), (1.0, 0, 1.0)),
                                               ((2, 19), (0.7, 4, 1.0)), ((2, 19), (1.3, 0, 0.8)),
                                               ((1, 5), (0.5, 2, 0.7))]:
        x = (rng.standard_normal(shape) * 2).astype(dtype)
        compare(x, temperature, top_k, top_p, seed=int(rng.integers(2**63)))


@cuda_only
def test_cuda_ties_masks_and_greedy(rng):
    x = rng.integers(-1, 2, size=(2, 11)).astype(np.float64)
    x[:, [2, 7]] = -np.inf
    compare(x, 1.0, 3, 1.0, seed=int(rng.integers(2**63)))
    compare(x, 1.0, 0, 0.6, seed=int(rng.integers(2**63)))
    got = compare(x, 1.0, 0, 1.0, greedy=True)
    assert_array_equal(got, np.argmax(x, axis=1))


@cuda_only
def test_public_function_on_cuda(rng):
    from numba import cuda
    x = rng.standard_normal((2, 9))
    want = sample_logits(x, top_k=3, random_state=11, device="cpu")
    assert_array_equal(sample_logits(x, top_k=3, random_state=11, device="cuda"), want)
    assert_array_equal(sample_logits(cuda.to_device(x), top_k=3, random_state=11, device="cuda"), want)
