"""The linear AR/VAR kernels on both backends -- fastgen._core.autoregressive (ar_*) and its Numba
CUDA twin fastgen._cuda.autoregressive -- against the NumPy oracles in tests/reference/ar.py
(explicit lag matrices and lstsq, explicit Toeplitz solves, the recursions) and statsmodels'
yule_walker, CUDA against the CPU on the same inputs, and the estimators with device="cuda".

A test taking `device` runs on the CPU and, when Numba can launch kernels (the simulator under
NUMBA_ENABLE_CUDASIM=1, or a lent GPU), on CUDA (marked `cuda`). CPU cases take fresh random inputs
(the `rng` fixture); CUDA cases keep tiny fixed inputs (series of a few dozen rows, a handful of
series): the simulator interprets every thread in Python. Tests that make sense on one backend only
are not parametrised; the CUDA ones are marked `cuda` (cuda_only).

CPU tolerances: float64 fits agree with the oracle to 1e-10 relative to the largest parameter (the
Gram route with refinement is as accurate as an SVD least-squares solve on these inputs; the
ill-conditioned cases assert 1e-9, the issue's bar being 1e-8). float32 *inputs* are compared with
the oracle run on the same float32 values widened to float64: the kernels accumulate in float64, so
the same 1e-10 holds. Simulated paths use the same Philox normals as the oracle; the CPU's
vectorised Box-Muller is within ~3e-15 of libm's, hence 1e-11.

CUDA (csrc/KERNELS.md): the CUDA pass adds each sum in row order with one accumulator per thread,
the CPU with four interleaved vector accumulators, so fits agree to rounding: 1e-10 relative to the
largest parameter (float64 sums either way, for float32 input too); forecasts run the same
arithmetic: 1e-12; simulated paths use the same Philox normals (libdevice's log/cos/sin against the
CPU's vectorised ones, ~1e-15 apart): 1e-11 (float32 paths 1e-5).
"""
from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.signal import lfilter

from conftest import assert_same_on_any_thread_count, offsets_of
from devices import CUDA_MARKS, host, kernels, small
from reference import ar as ref
from reference import rng as ref_rng

core = pytest.importorskip("fastgen._core")
TRENDS = {"n": 0, "c": 1, "t": 2, "ct": 3}
DTYPES = (np.float64, np.float32)


def cuda_only(test):
    """Marks a test that exercises CUDA alone (device arrays, or CUDA against the CPU)."""
    for mark in CUDA_MARKS:
        test = mark(test)
    return test


def cases(cpu, cuda):
    """Parameter sets: each tuple of `cpu` on the CPU, each of `cuda` on CUDA."""
    return ([pytest.param("cpu", *v) for v in cpu]
            + [pytest.param("cuda", *v, marks=CUDA_MARKS) for v in cuda])


def close(got, want, rtol):
    """|got - want| <= rtol * (|want| + max|want|): relative to the array's scale."""
    got, want = np.asarray(host(got), np.float64), np.asarray(want, np.float64)
    scale = np.max(np.abs(want)) if want.size else 0.0
    assert_allclose(got, want, rtol=rtol, atol=rtol * scale)


def series(seed, lengths, k, dtype=np.float64, level=2.0):
    """CUDA's fixed inputs: random walks plus noise plus a level, on a generator seeded with `seed`."""
    rng = np.random.default_rng(seed)
    Y = np.cumsum(rng.standard_normal((int(np.sum(lengths)), k)), axis=0) * 0.2 + rng.standard_normal(
        (int(np.sum(lengths)), k)) + level
    return np.ascontiguousarray(Y, dtype=dtype), offsets_of(lengths)


def var_series(rng, n, k, *, p=2, level=0.0, slope=0.0, rho=0.5):
    """A stationary VAR(p) path (coefficients shrunk until the companion spectral radius is at most
    `rho`) plus level + slope t."""
    A = rng.standard_normal((p, k, k))
    while True:
        C = np.zeros((p * k, p * k))
        C[:k] = np.hstack(list(A))
        if p > 1:
            C[k:, :-k] = np.eye((p - 1) * k)
        radius = np.abs(np.linalg.eigvals(C)).max()
        if radius <= rho:
            break
        A *= min(0.99, (rho / radius) ** (1.0 / p))
    e = rng.standard_normal((n + 50, k))
    if k == 1:  # the same recursion, in C (a test-data generator, not an oracle)
        y = lfilter([1.0], np.r_[1.0, -A[:, 0, 0]], e[:, 0])[:, None]
    else:
        y = np.zeros((n + 50, k))
        for t in range(p, n + 50):
            y[t] = e[t] + sum(A[i] @ y[t - 1 - i] for i in range(p))
    return y[50:] + level + slope * np.arange(n)[:, None]


def min_len(p, trend, k):
    return p + ref.n_trend(trend) + k * p + 1


# -- OLS ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("device, k, trend, dtype", cases(
    [(k, trend, np.float64) for k in (1, 2, 3) for trend in TRENDS],
    [(k, trend, dtype) for dtype in DTYPES for k, trend in [(1, "n"), (1, "ct"), (2, "c"), (2, "t")]]))
def test_ols_matches_lstsq(rng, device, k, trend, dtype):
    """CPU: fresh series of every order up to 3 (the shortest allowed among them) against lstsq.
    CUDA: three short fixed series (float32 too), with and without all orders, against the CPU."""
    ar = kernels(device, "autoregressive")
    if device == "cuda":
        Y, off = series(1, [13, 7, 20], k, dtype)
        orders = np.array([2, 1, 3]) if k == 1 else np.array([1, 1, 2])
        for all_orders in (False, True):
            want = core.autoregressive.ar_ols(Y, off, orders, TRENDS[trend], all_orders)
            got = ar.ar_ols(Y, off, orders, TRENDS[trend], all_orders)
            close(got[0], want[0], 1e-10)
            close(got[1], want[1], 1e-10)
            assert_array_equal(host(got[2]), want[2])
        return
    orders = np.array([0, 1, 3, 2, 1], dtype=np.int64)
    if trend == "n":
        orders[0] = 1  # order 0 without trend: nothing to fit (covered below)
    lengths = [min_len(int(p), trend, k) + int(rng.integers(0, 40)) for p in orders]
    lengths[2] = min_len(3, trend, k)  # the shortest series the model allows (one residual dof)
    Y = np.vstack([var_series(rng, n, k, level=3.0, slope=0.01) for n in lengths])
    off = offsets_of(lengths)
    params, sse, status = ar.ar_ols(Y, off, orders, TRENDS[trend])
    P, kt = orders.max(), ref.n_trend(trend)
    assert params.shape == (5, kt + P * k, k) and sse.shape == (5, k, k)
    assert_array_equal(status, 0)
    for s, p in enumerate(orders):
        B, E = ref.ols(Y[off[s]:off[s + 1]], int(p), trend)
        close(params[s, :kt + p * k], B, 1e-10)
        assert_array_equal(params[s, kt + p * k:], 0.0)
        # The residual sum of squares cancels from sums of the targets' squares: its rounding scales
        # with those (1.2e-9 of a small SSE's own scale for one draw, on the OpenMP kernels too).
        Ys = Y[off[s]:off[s + 1]]
        assert_allclose(sse[s], E, rtol=1e-10, atol=1e-10 * (Ys * Ys).sum(axis=0).max())


def test_ols_order_zero_no_trend_is_the_raw_sum_of_squares(rng):
    y = rng.standard_normal((30, 1))
    params, sse, status = core.autoregressive.ar_ols(y, offsets_of([30]), np.array([0]), 0)
    assert params.shape == (1, 0, 1) and status[0] == 0
    assert_allclose(sse[0, 0, 0], np.sum(y ** 2), rtol=1e-13)


def test_ols_float32_input_accumulates_in_float64(rng):
    y = var_series(rng, 301, 2, level=10.0).astype(np.float32)
    params, sse, _ = core.autoregressive.ar_ols(y, offsets_of([301]), np.array([3]), 1)
    B, E = ref.ols(y.astype(np.float64), 3, "c")
    assert params.dtype == np.float64
    close(params[0], B, 1e-10)
    close(sse[0], E, 1e-10)


@pytest.mark.parametrize("device, case", cases(
    [(case,) for case in ["random_walk", "near_unit_root", "large_level_no_constant", "strong_trend"]],
    [("large_level_no_constant",)]))
def test_ols_ill_conditioned_matches_lstsq(rng, device, case):
    """Cases where the plain normal equations lose 4-8 digits (condition 1e4-1e8): the refinement
    pass restores lstsq's accuracy. CUDA: a large level without a constant on 40 fixed rows (Gram
    condition 1e7): both backends take the refinement pass, match lstsq and each other."""
    ar = kernels(device, "autoregressive")
    if device == "cuda":
        y = (1e3 + np.random.default_rng(2).standard_normal(40)).reshape(-1, 1)
        off = offsets_of([40])
        got = ar.ar_ols(y, off, np.array([2]), 0)
        want = core.autoregressive.ar_ols(y, off, np.array([2]), 0)
        B, E = ref.ols(y, 2, "n")
        close(host(got[0])[0], B, 1e-9)
        close(host(got[1])[0], E, 1e-9)
        close(got[0], want[0], 1e-10)
        return
    n = 5000
    if case == "random_walk":
        y, trend = np.cumsum(rng.standard_normal(n)), "ct"
    elif case == "near_unit_root":
        y, trend = var_series(rng, n, 1, p=2, rho=0.999)[:, 0], "c"
    elif case == "large_level_no_constant":
        y, trend = 1e4 + var_series(rng, n, 1, p=2)[:, 0], "n"
    else:
        y, trend = 0.05 * np.arange(n) + var_series(rng, n, 1)[:, 0], "ct"
    for p in (1, 4, 16):
        params, sse, status = ar.ar_ols(y.reshape(-1, 1), offsets_of([n]), np.array([p]), TRENDS[trend])
        B, E = ref.ols(y.reshape(-1, 1), p, trend)
        assert status[0] == 0
        close(params[0], B, 1e-9)
        close(sse[0], E, 1e-9)


def test_ols_long_series_spans_chunks(rng):
    n = 10_007  # three 4096-row chunks
    y = var_series(rng, n, 2, level=-4.0)
    params, sse, _ = core.autoregressive.ar_ols(y, offsets_of([n]), np.array([5]), 3)
    B, E = ref.ols(y, 5, "ct")
    close(params[0], B, 1e-10)
    close(sse[0], E, 1e-10)


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("trend", ["n", "c", "ct"])
def test_ols_all_orders_gives_nested_sse_on_the_common_sample(rng, k, trend):
    P = 5
    lengths = [60, 3 * P + 9, 41]
    Y = np.vstack([var_series(rng, n, k, level=1.0) for n in lengths])
    off = offsets_of(lengths)
    params, sse, status = core.autoregressive.ar_ols(Y, off, np.full(3, P), TRENDS[trend], True)
    assert sse.shape == (3, P + 1, k, k)
    assert_array_equal(status, 0)
    for s in range(3):
        ys = Y[off[s]:off[s + 1]]
        for q in range(P + 1):
            if trend == "n" and q == 0:
                want = ys[P:].T @ ys[P:]
            else:
                want = ref.ols(ys, q, trend, first=P)[1]
            close(sse[s, q], want, 1e-10)
        close(params[s], ref.ols(ys, P, trend)[0], 1e-10)


@pytest.mark.parametrize("method", ["ols", "yule_walker", "sse"])
def test_batch_schedule_gives_the_same_bits_as_single_series(rng, method):
    """Many series run one task per series, a single series by work items: the same arithmetic, so a
    series fitted inside a batch equals it fitted alone, bit for bit (a long random walk included:
    three chunks and the refinement step)."""
    lengths = [int(n) for n in rng.integers(20, 80, size=40)]
    lengths[7] = 9000
    series = [var_series(rng, n, 1, level=2.0) for n in lengths]
    series[7] = np.cumsum(rng.standard_normal((9000, 1)), axis=0)
    Y = np.vstack(series)
    off = offsets_of(lengths)
    orders = np.full(40, 3)
    if method == "ols":
        call = lambda y, o, p: core.autoregressive.ar_ols(y, o, p, 3, True)  # noqa: E731
    elif method == "yule_walker":
        call = lambda y, o, p: core.autoregressive.ar_yule_walker(y, o, p, True, False, True)  # noqa: E731
    else:
        params = np.ascontiguousarray(rng.standard_normal((1, 4, 1)) * 0.3)
        call = lambda y, o, p: (core.autoregressive.ar_sse(y, o, params, 1, p),)  # noqa: E731
    batch = call(Y, off, orders)
    for s in (0, 7, 39):
        alone = call(np.ascontiguousarray(Y[off[s]:off[s + 1]]), offsets_of([lengths[s]]), orders[:1])
        for a, b in zip(batch, alone):
            assert_array_equal(a[s], b[0])


def test_ols_reports_singular_and_too_short_series(rng, device):
    """Statuses 0 (fitted), 1 (singular: a constant series), 2 (too short). CPU: fresh series, AR(3);
    CUDA: fixed ones, AR(2), and the CPU's statuses."""
    if device == "cpu":
        n, p = 20, 3
        y_ok, y_const = rng.standard_normal(n), np.full(n, 3.0)
        y_short = rng.standard_normal(6)  # AR(3) with a constant: nobs 3 <= 4 regressors
    else:
        n, p = 12, 2
        y_ok, y_const = np.random.default_rng(3).standard_normal(n), np.full(n, 4.0)
        y_short = np.random.default_rng(4).standard_normal(5)  # AR(2) with a constant: nobs 3 = 3 regressors
    Y = np.concatenate([y_ok, y_const, y_short]).reshape(-1, 1)
    off, orders = offsets_of([n, n, y_short.size]), np.full(3, p)
    params, sse, status = map(host, kernels(device, "autoregressive").ar_ols(Y, off, orders, 1))
    assert_array_equal(status, [0, 1, 2])
    if device == "cpu":
        assert_array_equal(params[1:], 0.0)
        assert np.isfinite(params).all() and np.isfinite(sse).all()
    else:
        assert_array_equal(status, core.autoregressive.ar_ols(Y, off, orders, 1)[2])


# -- Yule-Walker -------------------------------------------------------------------------------------
@pytest.mark.parametrize("device, k, demean, adjusted", cases(
    [(k, demean, adjusted) for k in (1, 2) for demean in (False, True) for adjusted in (False, True)],
    [(k, demean, adjusted) for k in (1, 2) for demean, adjusted in [(True, False), (False, True)]]))
def test_yule_walker_matches_toeplitz_solve(rng, device, k, demean, adjusted):
    """CPU: fresh series (some of length order + 1) against the Toeplitz solve. CUDA: two short fixed
    series, with and without all orders, against the CPU."""
    ar = kernels(device, "autoregressive")
    if device == "cuda":
        Y, off = series(5, [9, 16], k)
        orders = np.array([2, 3])
        for all_orders in (False, True):
            want = core.autoregressive.ar_yule_walker(Y, off, orders, demean, adjusted, all_orders)
            got = ar.ar_yule_walker(Y, off, orders, demean, adjusted, all_orders)
            close(got[0], want[0], 1e-10)
            close(got[1], want[1], 1e-10)
            assert_array_equal(host(got[2]), want[2])
        return
    orders = np.array([1, 4, 2, 3])
    lengths = [5, 57, 3 if k == 1 else 9, 200]  # series of length order + 1 (a k = 2 one that short is singular)
    Y = np.vstack([var_series(rng, n, k, level=2.0) for n in lengths])
    off = offsets_of(lengths)
    params, sigma, status = ar.ar_yule_walker(Y, off, orders, demean, adjusted)
    assert_array_equal(status, 0)
    kt = int(demean)
    for s, p in enumerate(orders):
        B, Sig = ref.yule_walker(Y[off[s]:off[s + 1]], int(p), demean, adjusted)
        close(params[s, :kt + p * k], B, 1e-10)
        close(sigma[s], Sig, 1e-10)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["mle", "adjusted"])
@pytest.mark.parametrize("demean", [True, False])
def test_yule_walker_matches_statsmodels(rng, method, demean):
    sm = pytest.importorskip("statsmodels.regression.linear_model")
    y = var_series(rng, 433, 1, p=3, level=5.0)[:, 0]
    for p in (1, 2, 7):
        params, sigma, _ = core.autoregressive.ar_yule_walker(y.reshape(-1, 1), offsets_of([433]), np.array([p]), demean,
                                               method == "adjusted")
        rho, sd = sm.yule_walker(y, order=p, method=method, demean=demean, result_object=False)
        close(params[0, int(demean):, 0], rho, 1e-10)
        assert_allclose(sigma[0, 0, 0], sd ** 2, rtol=1e-10)  # statsmodels returns sigma, not sigma^2


@pytest.mark.parametrize("k", [1, 2])
def test_yule_walker_all_orders(rng, k):
    P = 4
    y = var_series(rng, 120, k)
    params, sigma, status = core.autoregressive.ar_yule_walker(y, offsets_of([120]), np.array([P]), True, False, True)
    assert sigma.shape == (1, P + 1, k, k)
    for q in range(P + 1):
        close(sigma[0, q], ref.yule_walker(y, q, True, False)[1], 1e-10)


def test_yule_walker_constant_series_is_singular():
    params, sigma, status = core.autoregressive.ar_yule_walker(np.full((10, 1), 2.0), offsets_of([10]), np.array([2]), True)
    assert status[0] == 1 and np.isfinite(params).all()


# -- residuals, forecasts, simulation ----------------------------------------------------------------
@pytest.mark.parametrize("device, k, trend, dtype", cases(
    [(k, trend, np.float64) for k in (1, 3) for trend in TRENDS],
    [(2, "ct", dtype) for dtype in DTYPES]))
def test_sse_matches_residual_oracle(rng, device, k, trend, dtype):
    """CPU: fresh series (one over 4096 rows), per-series and shared parameters, against the oracle.
    CUDA: two short fixed series (float32 too) against the CPU and the oracle."""
    ar = kernels(device, "autoregressive")
    if device == "cuda":
        Y, off = series(6, [8, 15], k, dtype)
        params = np.random.default_rng(7).standard_normal((2, 2 + 2 * k, k)) * 0.3  # "ct", P = 2
        orders = np.array([2, 1])
        got = host(ar.ar_sse(Y, off, params, TRENDS[trend], orders))
        close(got, core.autoregressive.ar_sse(Y, off, params, TRENDS[trend], orders), 1e-12)
        for s in range(2):
            want = ref.sse(Y[off[s]:off[s + 1]].astype(np.float64), params[s][:2 + orders[s] * k], int(orders[s]),
                           trend)
            close(got[s], want, 1e-12)
        return
    lengths = [9, 25, 4100]
    Y = np.vstack([var_series(rng, n, k) for n in lengths])
    off = offsets_of(lengths)
    P, kt = 3, ref.n_trend(trend)
    params = rng.standard_normal((3, kt + P * k, k)) * 0.3
    orders = np.array([3, 1, 2])
    for shared in (False, True):
        B = params[:1] if shared else params
        sse = ar.ar_sse(Y, off, np.ascontiguousarray(B), TRENDS[trend], orders)
        for s in range(3):
            want = ref.sse(Y[off[s]:off[s + 1]], B[0 if shared else s][:kt + orders[s] * k], int(orders[s]), trend)
            close(sse[s], want, 1e-11)


@pytest.mark.parametrize("device, k, trend, p", cases(
    [(k, trend, p) for k in (1, 2) for trend in TRENDS for p in (0, 1, 4)],
    [(1, "c", 2), (2, "ct", 2)]))
def test_forecast_matches_recursion_and_ma_oracle(rng, device, k, trend, p):
    """CPU: fresh parameters and covariances against the recursion and MA oracle. CUDA: fixed ones
    against the CPU (the same arithmetic: 1e-12)."""
    ar = kernels(device, "autoregressive")
    kt = ref.n_trend(trend)
    if device == "cuda":
        fixed = np.random.default_rng(8)
        params = fixed.standard_normal((2, kt + p * k, k)) * 0.4
        y_last = fixed.standard_normal((2, p, k))
        sigma = np.stack([np.eye(k) * 1.5] * 2)
        t_next = np.array([9, 30])
        want = core.autoregressive.ar_forecast(params, TRENDS[trend], y_last, t_next, sigma, 6)
        got = ar.ar_forecast(params, TRENDS[trend], y_last, t_next, sigma, 6)
        close(got[0], want[0], 1e-12)
        close(got[1], want[1], 1e-12)
        return
    S, steps = 3, 13
    params = rng.standard_normal((S, kt + p * k, k)) * 0.4
    y_last = rng.standard_normal((S, p, k))
    t_next = np.array([11, 50, 7])
    L = rng.standard_normal((S, k, k))
    sigma = L @ np.swapaxes(L, 1, 2) + np.eye(k)
    mean, mse = ar.ar_forecast(params, TRENDS[trend], y_last, t_next, sigma, steps)
    for s in range(S):
        m, v = ref.forecast(params[s], p, trend, y_last[s], int(t_next[s]), sigma[s], steps)
        close(mean[s], m, 1e-12)
        close(mse[s], v, 1e-12)


@pytest.mark.parametrize("device, k, trend, dtype", cases(
    [(k, trend, np.float64) for k in (1, 2) for trend in ("c", "ct")],
    [(k, "c", dtype) for dtype in DTYPES for k in (1, 2)]))
def test_simulate_matches_recursion_with_philox_normals(rng, device, k, trend, dtype):
    """Short paths against the pure-Python Philox oracle; on the CPU one long path (across the
    512-step draw blocks) against fastgen's own normal stream; CUDA's fixed inputs (float32 paths
    too) against the CPU and the oracle."""
    ar = kernels(device, "autoregressive")
    kt, p = ref.n_trend(trend), 2
    if device == "cuda":
        fixed = np.random.default_rng(9)
        params = fixed.standard_normal((2, kt + p * k, k)) * 0.3
        chol = np.tril(fixed.standard_normal((2, k, k))) + 2 * np.eye(k)
        y_last = np.ascontiguousarray(fixed.standard_normal((2, p, k)), dtype=dtype)
        t_next = np.array([5, 12])
        seed = 12345678901
        got = host(ar.ar_simulate(params, TRENDS[trend], chol, y_last, t_next, 5, 2, seed, 3))
        want = core.autoregressive.ar_simulate(params, TRENDS[trend], chol, y_last, t_next, 5, 2, seed, 3)
        assert got.dtype == dtype and got.shape == (2, 2, 5, k)
        rtol = 1e-11 if dtype == np.float64 else 1e-5
        close(got, want, rtol)
        for s in range(2):
            oracle = ref.simulate(params[s], p, trend, chol[s], y_last[s].astype(np.float64), int(t_next[s]), 5, 2,
                                  seed, 3 + 2 * s, ref_rng.normal)
            close(got[s], oracle, rtol)
        return
    params = rng.standard_normal((2, kt + p * k, k)) * 0.3
    chol = np.tril(rng.standard_normal((2, k, k))) + 2 * np.eye(k)
    y_last = rng.standard_normal((2, p, k))
    t_next = np.array([20, 5])
    seed, stream = int(rng.integers(2 ** 63)), 7
    out = ar.ar_simulate(params, TRENDS[trend], chol, y_last, t_next, 9, 3, seed, stream)
    assert out.shape == (2, 3, 9, k) and out.dtype == np.float64
    for s in range(2):
        want = ref.simulate(params[s], p, trend, chol[s], y_last[s], int(t_next[s]), 9, 3, seed, stream + 3 * s,
                            ref_rng.normal)
        close(out[s], want, 1e-11)
    long = ar.ar_simulate(params[:1], TRENDS[trend], chol[:1], y_last[:1], t_next[:1], 1100, 1, seed, 0)
    want = ref.simulate(params[0], p, trend, chol[0], y_last[0], int(t_next[0]), 1100, 1, seed, 0, core.rng.normal)
    close(long[0], want, 1e-11)


def test_simulate_univariate_long_lag_recursion(rng):
    """The univariate path (four partial sums over lags 2..p) for p = 16 and p = 3."""
    for p in (3, 16):
        phi = rng.standard_normal(p) * 0.5 / p
        params = np.r_[0.3, phi].reshape(1, -1, 1)
        y_last = rng.standard_normal((1, p, 1))
        seed = int(rng.integers(2 ** 63))
        out = core.autoregressive.ar_simulate(params, 1, np.full((1, 1, 1), 1.5), y_last, np.array([100]), 700, 2, seed, 3)
        want = ref.simulate(params[0], p, "c", np.eye(1) * 1.5, y_last[0], 100, 700, 2, seed, 3, core.rng.normal)
        close(out[0], want, 1e-11)


def test_simulate_float32_output(rng):
    params = np.array([[[0.1], [0.5]]])
    y_last = np.array([[[1.0]]], dtype=np.float32)
    out = core.autoregressive.ar_simulate(params, 1, np.ones((1, 1, 1)), y_last, np.array([3]), 50, 2, 11, 0)
    out64 = core.autoregressive.ar_simulate(params, 1, np.ones((1, 1, 1)), y_last.astype(np.float64), np.array([3]), 50, 2, 11, 0)
    assert out.dtype == np.float32
    assert_allclose(out, out64, rtol=1e-6, atol=1e-6)  # float64 recursion, rounded on output


def test_results_do_not_depend_on_the_thread_count(tmp_path):
    script = """
import sys
import numpy as np
from fastgen import _core
rng = np.random.default_rng(5)
y = np.cumsum(rng.standard_normal(20000)).reshape(-1, 1)          # refinement path, 5 chunks
lens = rng.integers(20, 90, size=300)
Y = rng.standard_normal((int(lens.sum()), 2))
off1 = np.array([0, 20000]); off2 = np.concatenate([[0], np.cumsum(lens)])
a = _core.autoregressive.ar_ols(y, off1, np.array([16]), 3)
b = _core.autoregressive.ar_ols(Y, off2, np.full(300, 3), 1, True)
c = _core.autoregressive.ar_yule_walker(Y, off2, np.full(300, 2), True)
d = _core.autoregressive.ar_sse(y, off1, np.ascontiguousarray(a[0]), 3, np.array([16]))
e = _core.autoregressive.ar_simulate(np.ascontiguousarray(a[0]), 3, np.ones((1, 1, 1)), y[-16:].reshape(1, 16, 1),
                      np.array([20001]), 3000, 8, 99, 0)
# one path: on 2 threads its normals are drawn in parallel first (the split schedule), on 1 fused
f = _core.autoregressive.ar_simulate(np.ascontiguousarray(a[0]), 3, np.ones((1, 1, 1)), y[-16:].reshape(1, 16, 1),
                      np.array([20001]), 5000, 1, 99, 0)
np.savez(sys.argv[1], a0=a[0], a1=a[1], b0=b[0], b1=b[1], c0=c[0], c1=c[1], d=d, e=e, f=f)
"""
    assert_same_on_any_thread_count(script, tmp_path)


# -- argument checks of the bindings -----------------------------------------------------------------
def test_bindings_check_shapes_and_codes(device):
    """The same checks and messages on both backends (CUDA's series 6 rows, its bad trend 7); only
    the dtype message words differ."""
    ar = kernels(device, "autoregressive")
    n = small(device, 10, 6)
    y = np.zeros((n, 1))
    off = offsets_of([n])
    with pytest.raises(ValueError, match="trend: expected a code in 0..3"):
        ar.ar_ols(y, off, np.array([1]), small(device, 4, 7))
    with pytest.raises(ValueError, match=f"orders: series 0 has {n} rows"):
        ar.ar_ols(y, off, np.array([n]), 1)
    with pytest.raises(ValueError, match="orders: expected shape"):
        ar.ar_ols(y, off, np.array([1, 2]), 1)
    with pytest.raises(ValueError, match="offsets: must start at 0"):
        ar.ar_yule_walker(y, np.array([0, n - 1]), np.array([1]), True)
    with pytest.raises(TypeError, match=small(device, "Y: expected float32 or float64",
                                              "Y: expected dtype float32 or float64")):
        ar.ar_ols(np.zeros((n, 1), dtype=np.int64), off, np.array([1]), 1)
    with pytest.raises(ValueError, match="params: expected kt"):
        ar.ar_sse(np.zeros((n, 2)), off, np.zeros((1, 2, 2)), 1, np.array([1]))  # needs 1 + 2 p rows
    with pytest.raises(ValueError, match="params: expected 1 or 1 parameter sets"):
        ar.ar_sse(y, off, np.zeros((2, 2, 1)), 1, np.array([1]))
    with pytest.raises(ValueError, match="params: expected shape"):
        ar.ar_forecast(np.zeros((1, 2, 1)), 1, np.zeros((1, 2, 1)), np.array([3]), np.ones((1, 1, 1)), 4)
    with pytest.raises(ValueError, match="steps: must be >= 0"):
        ar.ar_forecast(np.zeros((1, 2, 1)), 1, np.zeros((1, 1, 1)), np.array([3]), np.ones((1, 1, 1)), -1)
    with pytest.raises(ValueError, match="n_paths: must be >= 0"):
        ar.ar_simulate(np.zeros((1, 2, 1)), 1, np.ones((1, 1, 1)), np.zeros((1, 1, 1)), np.array([3]), 4, -2, 0, 0)


# -- CUDA alone: device arrays, the estimators on CUDA, the two backends' signatures --------------------
@cuda_only
def test_device_resident_inputs():
    from numba import cuda
    Y, off = series(10, [11, 9], 1)
    orders = np.array([1, 2])
    got = kernels("cuda", "autoregressive").ar_ols(cuda.to_device(Y), cuda.to_device(off), cuda.to_device(orders), 1)
    close(got[0], core.autoregressive.ar_ols(Y, off, orders, 1)[0], 1e-10)


@cuda_only
def test_estimators_on_cuda_match_cpu():
    from fastgen.autoregressive import AR, VAR
    rng = np.random.default_rng(11)
    y = np.cumsum(rng.standard_normal(30)) * 0.3 + rng.standard_normal(30)
    a = AR(order="aic", max_order=2, device="cuda").fit(y)
    b = AR(order="aic", max_order=2, device="cpu").fit(y)
    assert a.order_ == b.order_
    assert_allclose(a.params_, b.params_, rtol=1e-10)
    assert_allclose(a.llf_, b.llf_, rtol=1e-12)
    assert_allclose(a.forecast(4)[1], b.forecast(4)[1], rtol=1e-12)
    assert_allclose(a.simulate(6, 2, random_state=5), b.simulate(6, 2, random_state=5), rtol=1e-11)
    batch_a = AR(order=1, device="cuda").fit_many(y, [18, 12])
    batch_b = AR(order=1).fit_many(y, [18, 12])
    assert_allclose(batch_a.params_, batch_b.params_, rtol=1e-10)
    Y = rng.standard_normal((20, 2))
    va = VAR(order=1, method="yule_walker", device="cuda").fit(Y)
    vb = VAR(order=1, method="yule_walker").fit(Y)
    assert_allclose(va.params_, vb.params_, rtol=1e-10, atol=1e-12)
    assert_allclose(va.score(Y), vb.score(Y), rtol=1e-12)


@cuda_only
def test_both_backends_have_the_same_functions_and_arguments():
    import inspect
    import re
    cu = kernels("cuda", "autoregressive")
    for name in ("ar_ols", "ar_yule_walker", "ar_sse", "ar_forecast", "ar_simulate"):
        cpu_args = re.findall(r"(\w+):", getattr(core.autoregressive, name).__doc__.splitlines()[0].split("(", 1)[1])
        cuda_args = list(inspect.signature(getattr(cu, name)).parameters)
        assert cpu_args == cuda_args, name
