"""The row-assembly kernels and the importance-weighted bound (``take_rows``, ``repeat_join``,
``iwae_bound``; csrc/KERNELS.md, "Row assembly and the importance-weighted bound") on both
backends: the copies are NumPy's indexing, repeat and hstack bit for bit; the bound is the NumPy
formula to 1e-13 relative (both sum in float64; only the order and exp/log's rounding differ);
bad input is named; results do not depend on the thread count.
"""
from __future__ import annotations

import textwrap

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from conftest import assert_same_on_any_thread_count
from devices import host, kernels

DTYPES = [np.float64, np.float32]


@pytest.mark.parametrize("dtype", DTYPES)
def test_take_rows_is_numpy_indexing(device, dtype, rng):
    nn = kernels(device, "nn")
    A = rng.standard_normal((7, 5)).astype(dtype)
    rows = rng.integers(0, 7, 11)
    got = host(nn.take_rows(A, rows))
    assert got.dtype == dtype
    assert_array_equal(got, A[rows])
    assert host(nn.take_rows(A, np.zeros(0, np.int64))).shape == (0, 5)
    assert host(nn.take_rows(np.zeros((7, 0), dtype), rows)).shape == (11, 0)


def test_take_rows_names_bad_input(device):
    nn = kernels(device, "nn")
    A = np.zeros((7, 2))
    for bad in (-1, 7):
        with pytest.raises(ValueError, match=rf"rows: index {bad} at position 2 outside \[0, 7\)"):
            nn.take_rows(A, np.array([0, 3, bad, 2]))
    with pytest.raises(ValueError, match=r"rows: index 0 at position 0 outside \[0, 0\)"):
        nn.take_rows(np.zeros((0, 2)), np.zeros(1, np.int64))
    with pytest.raises(TypeError, match="rows: expected dtype int64"):
        nn.take_rows(A, np.array([0, 1], np.int32))
    with pytest.raises(TypeError, match="A: expected"):
        nn.take_rows(np.zeros((7, 2), np.int64), np.array([0, 1]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_repeat_join_is_repeat_and_hstack(device, dtype, rng):
    nn = kernels(device, "nn")
    A = rng.standard_normal((3, 2)).astype(dtype)
    B = rng.standard_normal((6, 4)).astype(dtype)
    C = np.eye(3, dtype=dtype)
    assert_array_equal(host(nn.repeat_join(A, B, 2, 1)), np.hstack([np.repeat(A, 2, axis=0), B]))
    assert_array_equal(host(nn.repeat_join(A, None, 3, 1)), np.repeat(A, 3, axis=0))
    assert_array_equal(host(nn.repeat_join(B, C, 1, 2)), np.hstack([B, np.repeat(C, 2, axis=0)]))
    assert_array_equal(host(nn.repeat_join(A, C, 1, 1)), np.hstack([A, C]))
    assert host(nn.repeat_join(A, np.zeros((3, 0), dtype), 1, 1)).shape == (3, 2)
    assert host(nn.repeat_join(A[:0], None, 4, 1)).shape == (0, 2)


def test_repeat_join_names_bad_input(device):
    nn = kernels(device, "nn")
    A = np.zeros((3, 2))
    with pytest.raises(ValueError, match="B: needs 6 / kb = 3 rows"):
        nn.repeat_join(A, np.zeros((4, 1)), 2, 2)
    for ka, kb in ((0, 1), (1, 0)):
        with pytest.raises(ValueError, match="k"):
            nn.repeat_join(A, None, ka, kb)
    with pytest.raises(TypeError, match="B: expected dtype float64"):
        nn.repeat_join(A, np.zeros((3, 1), np.float32), 1, 1)


def iwae_oracle(nll, H, Zs, eps, k):
    """The bound in NumPy, float64 (the formulation VAE.score_samples used before the kernel)."""
    K = Zs.shape[1]
    lv = np.repeat(H[:, K:], k, axis=0).astype(np.float64)
    z2, e2 = Zs.astype(np.float64) ** 2, eps.astype(np.float64) ** 2
    log_w = (-nll.astype(np.float64) + 0.5 * (lv + e2 - z2).sum(axis=1)).reshape(-1, k)
    top = log_w.max(axis=1, keepdims=True)
    return top[:, 0] + np.log(np.exp(log_w - top).mean(axis=1))


def _iwae_inputs(rng, N, K, k, dtype):
    H = rng.standard_normal((N, 2 * K)).astype(dtype)
    Zs = rng.standard_normal((N * k, K)).astype(dtype)
    eps = rng.standard_normal((N * k, K)).astype(dtype)
    nll = (10 * rng.random(N * k)).astype(dtype)
    return nll, H, Zs, eps


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N, K, k", [(1, 1, 1), (4, 3, 5), (3, 9, 17), (2, 2, 1)])
def test_iwae_bound_matches_numpy(device, dtype, N, K, k, rng):
    args = _iwae_inputs(rng, N, K, k, dtype)
    got = host(kernels(device, "nn").iwae_bound(*args, k))
    assert got.dtype == np.float64 and got.shape == (N,)
    assert_allclose(got, iwae_oracle(*args, k), rtol=1e-13, atol=0)


def test_iwae_bound_edge_values(device, rng):
    nn = kernels(device, "nn")
    nll, H, Zs, eps = _iwae_inputs(rng, 3, 2, 4, np.float64)
    nll[1] = np.nan              # row 0: a NaN weight
    nll[4:8] = np.inf            # row 1: every weight -inf
    got = host(nn.iwae_bound(nll, H, Zs, eps, 4))
    assert np.isnan(got[0]) and got[1] == -np.inf and np.isfinite(got[2])
    assert host(nn.iwae_bound(nll[:0], H[:0], Zs[:0], eps[:0], 4)).shape == (0,)
    with pytest.raises(ValueError, match="nll: expected shape"):
        nn.iwae_bound(nll[:-1], H, Zs, eps, 4)
    with pytest.raises(ValueError, match="eps: expected shape"):
        nn.iwae_bound(nll, H, Zs, np.ascontiguousarray(eps[:, :1]), 4)
    with pytest.raises(ValueError, match="H: expected"):
        nn.iwae_bound(nll, H[:, :3], Zs, eps, 4)
    with pytest.raises(ValueError, match="k: "):
        nn.iwae_bound(nll, H, Zs, eps, 0)


def test_results_independent_of_thread_count(tmp_path):
    script = textwrap.dedent("""
        import sys, numpy as np
        from fastgen import _core
        rng = np.random.default_rng(5)
        N, K, k = 3001, 5, 7
        H = rng.standard_normal((N, 2 * K))
        Zs, eps = rng.standard_normal((N * k, K)), rng.standard_normal((N * k, K))
        nll = 10 * rng.random(N * k)
        A = rng.standard_normal((20000, 9)).astype(np.float32)
        rows = rng.integers(0, 20000, 30000)
        np.savez(sys.argv[1], _core.nn.iwae_bound(nll, H, Zs, eps, k), _core.nn.take_rows(A, rows),
                 _core.nn.repeat_join(A, None, 3, 1))
    """)
    assert_same_on_any_thread_count(script, tmp_path)
