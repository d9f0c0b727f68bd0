"""The sufficient-statistics kernels (``emissions``: weighted_moments, categorical_counts, sum_rows)
and, on CUDA, the mixture emissions built on the same chunked reductions
(fastgen._cuda.emissions.stats), against NumPy and, for CUDA, against the CPU on the same inputs.

CPU tests (fastgen._core.emissions) take fresh random inputs (the `rng` fixture) up to 1e4 rows.
CUDA tests (marked `cuda`) run under the simulator in CI (NUMBA_ENABLE_CUDASIM=1) and on the GPU
when one is lent; their sizes are tiny and their inputs come from fixed seeds; `small_chunks`
lowers the minimum chunk length so that a few dozen rows span several chunks.
"""
import importlib

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from devices import CUDA_MARKS
from fastgen import _core

RTOL = {np.float64: 1e-12, np.float32: 1e-5}
SEEDS = (0, 1, 2)
# (N, K, D): one row; rows not a multiple of the chunk; single state / feature.
SHAPES = [(1, 1, 1), (1, 3, 2), (23, 1, 1), (37, 3, 4), (30, 2, 1)]
DTYPES = (np.float64, np.float32)
KS = [1, 2, 5, 17, 64]


def cuda_only(test):
    """Marks a test that exercises CUDA alone."""
    for mark in CUDA_MARKS:
        test = mark(test)
    return test


def cases(cpu, cuda):
    """Parameter sets: each tuple of `cpu` on the CPU, each of `cuda` on CUDA."""
    return ([pytest.param("cpu", *v) for v in cpu]
            + [pytest.param("cuda", *v, marks=CUDA_MARKS) for v in cuda])


@pytest.fixture(scope="module")
def st():
    # Imported directly: fastgen._cuda.__init__ belongs to another module's author.
    return importlib.import_module("fastgen._cuda.emissions.stats")


@pytest.fixture
def small_chunks(st, monkeypatch):
    monkeypatch.setattr(st, "_MIN_CHUNK", 4)
    return st


def host(a):
    return None if a is None else a.copy_to_host()


def close(got, want, dtype, scale=None):
    """rtol on each element; atol relative to the scale of the summed terms (cancellation)."""
    rtol = RTOL[np.dtype(dtype).type]
    atol = rtol * (np.max(np.abs(want)) if scale is None else scale) if np.size(want) else 0.0
    assert got.dtype == np.dtype(dtype)
    assert got.shape == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


def same_bits(a, b):
    a, b = host(a), host(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


def _f64(*arrays):
    return [np.asarray(a, dtype=np.float64) for a in arrays]


# ---- NumPy references (float64 accumulation of the given inputs) ------------------------------

def ref_moments(X, W, order):
    X, W = X.astype(np.float64), W.astype(np.float64)
    ws = W.sum(axis=0)
    wx = W.T @ X
    if order == 0:
        return ws, wx, None
    if order == 1:
        return ws, wx, W.T @ (X * X)
    return ws, wx, np.einsum("nk,ni,nj->kij", W, X, X)


def ref_counts(X, W, M):
    out = np.zeros((W.shape[1], M))
    for n in range(X.shape[0]):
        out[:, X[n]] += W[n].astype(np.float64)
    return out


def ref_mixture(C, L, P=None):
    N = C.shape[0]
    K, M = L.shape
    v = C.astype(np.float64).reshape(N, K, M) + L.astype(np.float64)[None]
    mx = v.max(axis=2, keepdims=True)
    dead = ~np.isfinite(mx)
    with np.errstate(invalid="ignore", divide="ignore"):
        e = np.exp(v - np.where(dead, 0.0, mx))
        s = e.sum(axis=2, keepdims=True)
        lp = np.where(dead, -np.inf, mx + np.log(np.where(dead, 1.0, s)))[..., 0]
        if P is None:
            return lp
        post = np.where(dead, 0.0, e / np.where(dead, 1.0, s)) * P.astype(np.float64)[..., None]
    return post.reshape(N, K * M)


def data(seed, N, K, D, dtype):
    rng = np.random.default_rng(seed)
    X = rng.normal(1.0, 2.0, size=(N, D)).astype(dtype)
    W = rng.random((N, K)).astype(dtype)
    if N > 2:
        W[1, :] = 0.0  # a row that contributes nothing
    return X, W


# ---- weighted_moments -------------------------------------------------------------------------

@pytest.mark.parametrize("device, K, dtype, order, N, D", cases(
    [(K, dtype, order, None, None) for order in (0, 1, 2) for dtype in DTYPES for K in KS],
    [(K, dtype, order, N, D) for order in (0, 1, 2) for N, K, D in SHAPES for dtype in DTYPES]))
def test_weighted_moments_match_numpy(request, rng, device, K, dtype, order, N, D):
    """CPU: fresh sizes up to 10^4 rows, 30% zero weights. CUDA: tiny shapes from fixed seeds, 4-row
    chunks (small_chunks), a zero row of weights."""
    if device == "cuda":
        small_chunks = request.getfixturevalue("small_chunks")
        st = small_chunks
        for seed in SEEDS:
            X, W = data(seed, N, K, D, dtype)
            ws, wx, wxx = st.weighted_moments(X, W, order)
            rws, rwx, rwxx = ref_moments(X, W, order)
            absW, absX = np.abs(W.astype(np.float64)), np.abs(X.astype(np.float64))
            close(host(ws), rws, dtype)
            close(host(wx), rwx, dtype, scale=np.max(absW.T @ absX))
            if order == 0:
                assert wxx is None
            else:
                close(host(wxx), rwxx, dtype, scale=np.max(absW.T @ (absX * absX)))
            if order == 2:
                g = host(wxx)
                assert np.array_equal(g, np.swapaxes(g, 1, 2))  # exactly symmetric
        return
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


@cuda_only
def test_weighted_moments_deterministic_and_device_input(small_chunks):
    st = small_chunks
    from numba import cuda
    X, W = data(5, 41, 3, 3, np.float64)
    for order in (1, 2):
        a = st.weighted_moments(X, W, order)
        b = st.weighted_moments(X, W, order)
        c = st.weighted_moments(cuda.to_device(X), cuda.to_device(W), order)
        for x, y, z in zip(a, b, c):
            same_bits(x, y)
            same_bits(x, z)


@cuda_only
def test_weighted_moments_float32_accumulates_in_float64(small_chunks):
    # float32 running sums would stop at 2**24; float64 partials keep every +1 (2**24 + 64 is exact).
    W = np.ones((65, 1), dtype=np.float32)
    W[0, 0] = 2.0 ** 24
    X = np.ones((65, 1), dtype=np.float32)
    ws, wx, wxx = small_chunks.weighted_moments(X, W, 1)
    assert host(ws)[0] == np.float32(2.0 ** 24 + 64)
    assert host(wx)[0, 0] == np.float32(2.0 ** 24 + 64)
    assert host(wxx)[0, 0] == np.float32(2.0 ** 24 + 64)


@cuda_only
def test_weighted_moments_default_chunks_and_empty(st):
    X, W = data(3, 150, 2, 2, np.float64)  # 150 rows: several default chunks (minimum 64 rows)
    got = st.weighted_moments(X, W, 2)
    for g, r in zip(got, ref_moments(X, W, 2)):
        close(host(g), r, np.float64, scale=np.max(np.abs(r)) + 1.0)
    ws, wx, wxx = st.weighted_moments(np.zeros((0, 2)), np.zeros((0, 3)), 1)
    assert not host(ws).any() and host(wx).shape == (3, 2) and not host(wxx).any()


@cuda_only
def test_device_input_must_be_c_contiguous(st):
    from numba import cuda
    X, W = data(0, 6, 2, 4, np.float64)
    with pytest.raises(ValueError, match="X: expected a C-contiguous array"):
        st.weighted_moments(cuda.to_device(X)[:, ::2], W, 1)


# ---- categorical_counts -----------------------------------------------------------------------

@pytest.mark.parametrize("device, K, dtype, N, M, path", cases(
    [(K, dtype, None, None, None) for dtype in DTYPES for K in KS],
    [(K, dtype, N, M, path) for path in ("compare", "scatter") for N, K, M in [(1, 1, 1), (1, 2, 3), (29, 3, 5), (23, 1, 2)]
     for dtype in DTYPES]))
def test_categorical_counts_match_numpy(request, monkeypatch, rng, device, K, dtype, N, M, path):
    """CPU: fresh sizes up to 10^4 rows. CUDA: tiny shapes from fixed seeds, 4-row chunks, both the
    compare and the scatter path."""
    if device == "cuda":
        small_chunks = request.getfixturevalue("small_chunks")
        st = small_chunks
        monkeypatch.setattr(st, "_COUNTS_COMPARE_MAX_SYMBOLS", 1000 if path == "compare" else 0)
        for seed in SEEDS:
            rng = np.random.default_rng(seed)
            X = rng.integers(0, M, size=N).astype(np.int64)
            W = rng.random((N, K)).astype(dtype)
            close(host(st.categorical_counts(X, W, M)), ref_counts(X, W, M), dtype)
        return
    M = int(rng.integers(1, 20))
    N = int(rng.integers(1, 10_000))
    X = rng.integers(0, M, size=N).astype(np.int64)
    W = np.ascontiguousarray(rng.random((N, K)), dtype=dtype)
    got = _core.emissions.categorical_counts(X, W, M)
    want = np.zeros((K, M))
    np.add.at(want.T, X, W.astype(np.float64))
    assert got.dtype == dtype and got.shape == (K, M)
    assert_allclose(got, want, rtol=1e-12 if dtype == np.float64 else 1e-6, atol=0)


@cuda_only
def test_categorical_counts_paths_bit_identical(small_chunks, monkeypatch):
    st = small_chunks
    from numba import cuda
    rng = np.random.default_rng(7)
    X = rng.integers(0, 6, size=45).astype(np.int64)
    W = rng.random((45, 3))
    outs = []
    for limit in (1000, 0):
        monkeypatch.setattr(st, "_COUNTS_COMPARE_MAX_SYMBOLS", limit)
        outs += [st.categorical_counts(X, W, 6), st.categorical_counts(cuda.to_device(X), cuda.to_device(W), 6)]
    for o in outs[1:]:
        same_bits(outs[0], o)


@cuda_only
def test_categorical_counts_default_chunks_and_empty(st):
    rng = np.random.default_rng(11)
    X = rng.integers(0, 40, size=140).astype(np.int64)  # 40 symbols: the scatter path
    W = rng.random((140, 2))
    close(host(st.categorical_counts(X, W, 40)), ref_counts(X, W, 40), np.float64)
    X = rng.integers(0, 3, size=140).astype(np.int64)  # 3 symbols: the compare path
    close(host(st.categorical_counts(X, W, 3)), ref_counts(X, W, 3), np.float64)
    out = host(st.categorical_counts(np.zeros(0, dtype=np.int64), np.zeros((0, 2)), 3))
    assert out.shape == (2, 3) and not out.any()


# ---- sum_rows ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_sum_rows_matches_numpy(rng, device, dtype):
    """CPU: 50 fresh rows of 300 (duplicates), and none. CUDA: tiny fixed shapes (no rows too), in
    list order, the same bits from device-resident inputs."""
    if device == "cuda":
        st = importlib.import_module("fastgen._cuda.emissions.stats")
        from numba import cuda
        for seed in SEEDS:
            rng = np.random.default_rng(seed)
            for N, K, R in [(1, 1, 1), (9, 3, 4), (7, 1, 12), (5, 2, 0)]:
                V = rng.random((N, K)).astype(dtype)
                rows = rng.integers(0, N, size=R).astype(np.int64)
                want = np.zeros(K)
                for r in rows:  # list order, float64
                    want += V[r].astype(np.float64)
                got = st.sum_rows(V, rows)
                close(host(got), want, dtype)
                same_bits(got, st.sum_rows(cuda.to_device(V), cuda.to_device(rows)))
        return
    N, K = 300, 7
    V = np.ascontiguousarray(rng.random((N, K)), dtype=dtype)
    rows = rng.integers(0, N, size=50).astype(np.int64)  # duplicates allowed
    got = _core.emissions.sum_rows(V, rows)
    assert got.dtype == dtype
    assert_allclose(got, V.astype(np.float64)[rows].sum(0), rtol=1e-12 if dtype == np.float64 else 1e-6, atol=0)
    assert_array_equal(_core.emissions.sum_rows(V, np.zeros(0, np.int64)), np.zeros(K))


# ---- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=CUDA_MARKS)])
def test_statistics_kernels_reject_bad_input(device):
    """Both backends: each bad argument is named, with the same exception type. CPU: the binding's
    exact messages and its C-contiguity check. CUDA: the same checks on device-resident inputs."""
    k = _core.emissions if device == "cpu" else importlib.import_module("fastgen._cuda.emissions.stats")
    X, W = data(0, 5, 2, 3, np.float64)
    with pytest.raises(ValueError, match="order"):
        k.weighted_moments(X, W, 3)
    with pytest.raises(ValueError, match="weights"):
        k.weighted_moments(X, W[:4].copy(), 1)
    with pytest.raises(ValueError, match="X"):
        k.weighted_moments(X[0].copy(), W, 1)
    with pytest.raises(TypeError, match="weights"):
        k.weighted_moments(X, W.astype(np.float32), 1)
    with pytest.raises(TypeError, match="X"):
        k.weighted_moments(X.astype(np.int64), W, 1)
    W2 = np.ones((4, 2))
    for bad in ([0, 1, 3, 0], [0, -1, 2, 0]):
        with pytest.raises(ValueError, match="X: symbol"):
            k.categorical_counts(np.array(bad, dtype=np.int64), W2, 3)
    with pytest.raises(TypeError, match="X"):
        k.categorical_counts(np.zeros(4, dtype=np.int32), W2, 3)
    with pytest.raises(ValueError, match="weights"):
        k.categorical_counts(np.zeros(5, dtype=np.int64), W2, 3)
    with pytest.raises(ValueError, match="n_symbols"):
        k.categorical_counts(np.zeros(4, dtype=np.int64), W2, 0)
    for bad in ([0, 4], [-1, 0]):
        with pytest.raises(ValueError, match="rows"):
            k.sum_rows(W2, np.array(bad, dtype=np.int64))
    with pytest.raises(ValueError, match="values"):
        k.sum_rows(W2[0].copy(), np.zeros(1, dtype=np.int64))
    with pytest.raises(TypeError, match="rows"):
        k.sum_rows(W2, np.zeros(1, dtype=np.float64))
    if device == "cuda":
        from numba import cuda
        for bad in ([0, 1, 3, 0], [0, -1, 2, 0]):
            with pytest.raises(ValueError, match="X: symbol .* at row 1|X: symbol .* at row 2"):
                k.categorical_counts(cuda.to_device(np.array(bad, dtype=np.int64)), cuda.to_device(W2), 3)
        for bad in ([0, 4], [-1, 0]):
            with pytest.raises(ValueError, match="rows"):
                k.sum_rows(cuda.to_device(W2), cuda.to_device(np.array(bad, dtype=np.int64)))
        return
    Xz, Wz = np.zeros((5, 2)), np.zeros((5, 3))
    with pytest.raises(ValueError, match="order: expected 0, 1 or 2, got 3"):
        k.weighted_moments(Xz, Wz, 3)
    with pytest.raises(ValueError, match=r"weights: expected shape \(5, \*\), got \(4, 3\)"):
        k.weighted_moments(Xz, Wz[:4].copy(), 1)
    with pytest.raises(TypeError, match="weights: expected dtype float64, got float32"):
        k.weighted_moments(Xz, Wz.astype(np.float32), 1)
    with pytest.raises(ValueError, match="weights: expected a C-contiguous array"):
        k.weighted_moments(Xz, np.asfortranarray(Wz), 1)
    for rows in ([0, 5], [-1], [2, 7, 1]):
        with pytest.raises(ValueError, match=r"rows: index -?\d+ outside \[0, 5\)"):
            k.sum_rows(Wz, np.array(rows, dtype=np.int64))
    with pytest.raises(TypeError, match="rows: expected dtype int64"):
        k.sum_rows(Wz, np.array([0, 1], dtype=np.int32))


# ---- CUDA mixture kernels ---------------------------------------------------------------------

def mixture_data(seed, N, K, M, dtype):
    rng = np.random.default_rng(seed)
    C = rng.normal(-3.0, 4.0, size=(N, K * M))
    L = np.log(rng.dirichlet(np.ones(M), size=K))
    P = rng.dirichlet(np.ones(K), size=N)
    if N >= 3:
        C[1, :] = -np.inf                # every state of a row impossible
        C[2, :M] = -np.inf               # state 0 of a row impossible
    if M >= 2:
        L[0, M - 1] = -np.inf            # a component with zero weight
    return C.astype(dtype), L.astype(dtype), P.astype(dtype)


@cuda_only
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N,K,M", [(1, 1, 1), (1, 2, 3), (7, 3, 4), (5, 1, 2), (4, 2, 1)])
def test_mixture_vs_numpy(st, dtype, N, K, M):
    for seed in SEEDS:
        C, L, P = mixture_data(seed, N, K, M, dtype)
        lp = host(st.mixture_logprob(C, L))
        want = ref_mixture(C, L)
        assert not np.isnan(lp).any()
        assert np.array_equal(np.isneginf(lp), np.isneginf(want))
        fin = np.isfinite(want)
        close(lp[fin], want[fin], dtype)
        post = host(st.mixture_posteriors(C, L, P))
        assert not np.isnan(post).any()
        close(post, ref_mixture(C, L, P), dtype, scale=1.0)
        if N >= 3:
            assert np.all(np.isneginf(lp[1])) and not post[1].any()
            assert np.isneginf(lp[2, 0]) and not post[2, :M].any()


@cuda_only
def test_mixture_deterministic_and_checks(st):
    from numba import cuda
    C, L, P = mixture_data(4, 6, 2, 3, np.float64)
    same_bits(st.mixture_logprob(C, L), st.mixture_logprob(C, L))
    same_bits(st.mixture_logprob(C, L), st.mixture_logprob(cuda.to_device(C), cuda.to_device(L)))
    same_bits(st.mixture_posteriors(C, L, P), st.mixture_posteriors(C, L, P))
    same_bits(st.mixture_posteriors(C, L, P),
              st.mixture_posteriors(cuda.to_device(C), cuda.to_device(L), cuda.to_device(P)))
    with pytest.raises(ValueError, match="comp_logprob"):
        st.mixture_logprob(C[:, :5], L)
    with pytest.raises(ValueError, match="state_post"):
        st.mixture_posteriors(C, L, P[:5])
    with pytest.raises(TypeError, match="log_weights"):
        st.mixture_logprob(C, L.astype(np.float32))
    with pytest.raises(TypeError, match="state_post"):
        st.mixture_posteriors(C, L, P.astype(np.float32))


# ---- CUDA == CPU (fastgen._core) --------------------------------------------------------------

@cuda_only
@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_cpu(small_chunks, dtype):
    core = pytest.importorskip("fastgen._core")
    st = small_chunks
    for seed in SEEDS[:2]:
        X, W = data(seed, 37, 3, 4, dtype)
        scale = float(np.max(np.abs(X.astype(np.float64)) ** 2)) * 37
        for order in (0, 1, 2):
            for g, c in zip(st.weighted_moments(X, W, order), core.emissions.weighted_moments(X, W, order)):
                if c is None:
                    assert g is None
                else:
                    close(host(g), c.astype(np.float64), dtype, scale=scale)
        rng = np.random.default_rng(seed)
        S = rng.integers(0, 5, size=37).astype(np.int64)
        close(host(st.categorical_counts(S, W, 5)), core.emissions.categorical_counts(S, W, 5).astype(np.float64), dtype)
        rows = np.array([0, 36, 5, 5, 17], dtype=np.int64)
        close(host(st.sum_rows(W, rows)), core.emissions.sum_rows(W, rows).astype(np.float64), dtype)
        C, L, P = mixture_data(seed, 7, 3, 4, dtype)
        lp, clp = host(st.mixture_logprob(C, L)), core.emissions.mixture_logprob(C, L)
        assert np.array_equal(np.isneginf(lp), np.isneginf(clp))
        fin = np.isfinite(clp)
        close(lp[fin], clp[fin].astype(np.float64), dtype)
        close(host(st.mixture_posteriors(C, L, P)), core.emissions.mixture_posteriors(C, L, P).astype(np.float64), dtype,
              scale=1.0)
