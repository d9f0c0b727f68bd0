"""CUDA linear AR/VAR kernels (fastgen._cuda.autoregressive.ar) against the C++ kernels and the NumPy oracles, and
the estimators with device="cuda".

Runs under Numba's CUDA simulator in CI (NUMBA_ENABLE_CUDASIM=1) and on a GPU when one is lent. The
simulator interprets every thread in Python, so series are a few dozen rows and a handful of
series. What "same" means (csrc/KERNELS.md): the CUDA pass adds each sum in row order with one
accumulator per thread, the CPU with four interleaved vector accumulators, so fits agree to
rounding: 1e-10 relative to the largest parameter (float64 sums either way, for float32 input too);
forecasts run the same arithmetic: 1e-12; simulated paths use the same Philox normals (libdevice's
log/cos/sin against the CPU's vectorised ones, ~1e-15 apart): 1e-11.
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from conftest import offsets_of
from fastgen import _backend
from reference import ar as ref
from reference import rng as ref_rng

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not _backend.cuda_usable(), reason="no usable CUDA device or simulator"),
]

DTYPES = (np.float64, np.float32)


@pytest.fixture(scope="module")
def cu():
    return importlib.import_module("fastgen._cuda")


@pytest.fixture(scope="module")
def core():
    mod = pytest.importorskip("fastgen._core")
    if not hasattr(mod, "autoregressive"):
        pytest.skip("fastgen._core has no AR kernels")
    return mod


def host(a):
    return _backend.to_host(a)


def close(got, want, rtol):
    got, want = np.asarray(host(got), np.float64), np.asarray(want, np.float64)
    scale = np.max(np.abs(want)) if want.size else 0.0
    assert_allclose(got, want, rtol=rtol, atol=rtol * scale)


def series(seed, lengths, k, dtype=np.float64, level=2.0):
    rng = np.random.default_rng(seed)
    Y = np.cumsum(rng.standard_normal((int(np.sum(lengths)), k)), axis=0) * 0.2 + rng.standard_normal(
        (int(np.sum(lengths)), k)) + level
    return np.ascontiguousarray(Y, dtype=dtype), offsets_of(lengths)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k,trend", [(1, 0), (1, 3), (2, 1), (2, 2)])
def test_ols_matches_cpu(cu, core, dtype, k, trend):
    Y, off = series(1, [13, 7, 20], k, dtype)
    orders = np.array([2, 1, 3]) if k == 1 else np.array([1, 1, 2])
    for all_orders in (False, True):
        want = core.autoregressive.ar_ols(Y, off, orders, trend, all_orders)
        got = cu.autoregressive.ar_ols(Y, off, orders, trend, all_orders)
        close(got[0], want[0], 1e-10)
        close(got[1], want[1], 1e-10)
        assert_array_equal(host(got[2]), want[2])


def test_ols_refinement_path_matches_cpu(cu, core):
    """A large level without a constant: the Gram matrix is ill-conditioned (1e7) and both backends
    take the refinement pass; both then match lstsq."""
    rng = np.random.default_rng(2)
    y = (1e3 + rng.standard_normal(40)).reshape(-1, 1)
    off = offsets_of([40])
    got = cu.autoregressive.ar_ols(y, off, np.array([2]), 0)
    want = core.autoregressive.ar_ols(y, off, np.array([2]), 0)
    B, E = ref.ols(y, 2, "n")
    close(host(got[0])[0], B, 1e-9)
    close(host(got[1])[0], E, 1e-9)
    close(got[0], want[0], 1e-10)


def test_ols_statuses_match_cpu(cu, core):
    y = np.concatenate([np.random.default_rng(3).standard_normal(12), np.full(12, 4.0),
                        np.random.default_rng(4).standard_normal(5)]).reshape(-1, 1)
    off = offsets_of([12, 12, 5])
    got = cu.autoregressive.ar_ols(y, off, np.array([2, 2, 2]), 1)
    assert_array_equal(host(got[2]), [0, 1, 2])
    assert_array_equal(host(got[2]), core.autoregressive.ar_ols(y, off, np.array([2, 2, 2]), 1)[2])


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("demean,adjusted", [(True, False), (False, True)])
def test_yule_walker_matches_cpu(cu, core, k, demean, adjusted):
    Y, off = series(5, [9, 16], k)
    orders = np.array([2, 3])
    for all_orders in (False, True):
        want = core.autoregressive.ar_yule_walker(Y, off, orders, demean, adjusted, all_orders)
        got = cu.autoregressive.ar_yule_walker(Y, off, orders, demean, adjusted, all_orders)
        close(got[0], want[0], 1e-10)
        close(got[1], want[1], 1e-10)
        assert_array_equal(host(got[2]), want[2])


@pytest.mark.parametrize("dtype", DTYPES)
def test_sse_matches_cpu_and_oracle(cu, core, dtype):
    Y, off = series(6, [8, 15], 2, dtype)
    rng = np.random.default_rng(7)
    params = rng.standard_normal((2, 2 + 2 * 2, 2)) * 0.3  # "ct", P = 2
    orders = np.array([2, 1])
    got = host(cu.autoregressive.ar_sse(Y, off, params, 3, orders))
    close(got, core.autoregressive.ar_sse(Y, off, params, 3, orders), 1e-12)
    for s in range(2):
        want = ref.sse(Y[off[s]:off[s + 1]].astype(np.float64), params[s][:2 + orders[s] * 2], int(orders[s]), "ct")
        close(got[s], want, 1e-12)


@pytest.mark.parametrize("k,trend", [(1, 1), (2, 3)])
def test_forecast_matches_cpu(cu, core, k, trend):
    rng = np.random.default_rng(8)
    kt, P = ref.n_trend(ref.TREND_NAMES[trend]), 2
    params = rng.standard_normal((2, kt + P * k, k)) * 0.4
    y_last = rng.standard_normal((2, P, k))
    sigma = np.stack([np.eye(k) * 1.5] * 2)
    t_next = np.array([9, 30])
    want = core.autoregressive.ar_forecast(params, trend, y_last, t_next, sigma, 6)
    got = cu.autoregressive.ar_forecast(params, trend, y_last, t_next, sigma, 6)
    close(got[0], want[0], 1e-12)
    close(got[1], want[1], 1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [1, 2])
def test_simulate_matches_cpu_and_oracle(cu, core, dtype, k):
    rng = np.random.default_rng(9)
    P = 2
    params = rng.standard_normal((2, 1 + P * k, k)) * 0.3
    chol = np.tril(rng.standard_normal((2, k, k))) + 2 * np.eye(k)
    y_last = np.ascontiguousarray(rng.standard_normal((2, P, k)), dtype=dtype)
    t_next = np.array([5, 12])
    seed = 12345678901
    got = host(cu.autoregressive.ar_simulate(params, 1, chol, y_last, t_next, 5, 2, seed, 3))
    want = core.autoregressive.ar_simulate(params, 1, chol, y_last, t_next, 5, 2, seed, 3)
    assert got.dtype == dtype and got.shape == (2, 2, 5, k)
    rtol = 1e-11 if dtype == np.float64 else 1e-5
    close(got, want, rtol)
    for s in range(2):
        oracle = ref.simulate(params[s], P, "c", chol[s], y_last[s].astype(np.float64), int(t_next[s]), 5, 2, seed,
                              3 + 2 * s, ref_rng.normal)
        close(got[s], oracle, rtol)


def test_device_resident_inputs(cu, core):
    from numba import cuda
    Y, off = series(10, [11, 9], 1)
    orders = np.array([1, 2])
    got = cu.autoregressive.ar_ols(cuda.to_device(Y), cuda.to_device(off), cuda.to_device(orders), 1)
    close(got[0], core.autoregressive.ar_ols(Y, off, orders, 1)[0], 1e-10)


def test_argument_checks_match_cpu(cu):
    y = np.zeros((6, 1))
    off = offsets_of([6])
    with pytest.raises(ValueError, match="trend: expected a code in 0..3"):
        cu.autoregressive.ar_ols(y, off, np.array([1]), 7)
    with pytest.raises(ValueError, match="orders: series 0 has 6 rows"):
        cu.autoregressive.ar_ols(y, off, np.array([6]), 1)
    with pytest.raises(ValueError, match="offsets: must start at 0"):
        cu.autoregressive.ar_yule_walker(y, np.array([0, 5]), np.array([1]), True)
    with pytest.raises(ValueError, match="params: expected 1 or 1 parameter sets"):
        cu.autoregressive.ar_sse(y, off, np.zeros((2, 2, 1)), 1, np.array([1]))
    with pytest.raises(ValueError, match="steps: must be >= 0"):
        cu.autoregressive.ar_forecast(np.zeros((1, 2, 1)), 1, np.zeros((1, 1, 1)), np.array([3]), np.ones((1, 1, 1)), -1)


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


def test_both_backends_have_the_same_functions_and_arguments(cu, core):
    import inspect
    import re
    for name in ("ar_ols", "ar_yule_walker", "ar_sse", "ar_forecast", "ar_simulate"):
        cpu_args = re.findall(r"(\w+):", getattr(core.autoregressive, name).__doc__.splitlines()[0].split("(", 1)[1])
        cuda_args = list(inspect.signature(getattr(cu.autoregressive, name)).parameters)
        assert cpu_args == cuda_args, name
