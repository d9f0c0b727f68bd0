"""fastgen._reductions, the data statistics of the HMM and mixture initialisations and value checks,
and the k-means that runs on them: on a device array (a Numba device array on "cuda"; the NumPy
array in Fortran order on "cpu") each gives the NumPy result, including the branches the
estimator tests seldom reach (empty-cluster reseeding with tied distances, fewer points than
clusters).

Tolerances: sums (means, variances, covariances, cluster sums, inertia) rtol 1e-13: the device
adds in weighted_moments' float64 chunks where NumPy adds pairwise, so they differ by a few ulps of
the terms' magnitude (the data are O(10) about a mean of O(10)). Everything that selects or moves
elements (extremes, shifts, grouping, one-hot, indices, labels) is exact.
"""
from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from devices import host
from device_inputs import device_input
from fastgen import _reductions as rd
from fastgen._backend import Backend
from fastgen.mixture._kmeans import _Kernels, _lloyd, kmeans

SUM_RTOL = 1e-13


def _h(a):
    return np.asarray(host(a))


def test_statistics_match_numpy(device):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(70, 3)) * [1.0, 3.0, 0.5] + [10.0, -7.0, 2.0]   # 70 > one 64-element argmax chunk
    be, Xd = Backend(device), device_input(device, X)
    assert_allclose(rd.column_mean(Xd, be), X.mean(axis=0), rtol=SUM_RTOL)
    assert_allclose(rd.column_std(Xd, be), X.std(0), rtol=SUM_RTOL)
    for ddof in (0, 1):
        assert_allclose(rd.covariance(Xd, be, ddof), np.cov(X.T, ddof=ddof), rtol=SUM_RTOL, atol=1e-13)
    assert_allclose(rd.mean_var(Xd, be), (X.mean(), X.var()), rtol=SUM_RTOL)
    assert rd.minimum(Xd, be) == X.min() and rd.maximum(Xd, be) == X.max()
    assert rd.abs_max(Xd, be) == float(np.abs(X).max())
    shift = X.mean(axis=0)
    assert_array_equal(_h(rd.shifted(Xd, shift, be)), X - shift)
    assert_array_equal(rd.take_rows(Xd, [5, 0, 69], be), X[[5, 0, 69]])
    one = device_input(device, X[:1, :1])   # one sample, one feature: the covariance NumPy gives
    assert_allclose(np.atleast_2d(rd.covariance(one, be, 0)), np.atleast_2d(np.cov(X[:1, :1].T, ddof=0)))


def test_symbols_extremes_and_first_column(device):
    S = np.array([3, 0, 7, 7, 1, 0, 7, 2] * 9, dtype=np.int64)[:, None]   # ties at both extremes
    be, Sd = Backend(device), device_input(device, S)
    assert rd.minimum(Sd, be) == 0 and rd.maximum(Sd, be) == 7
    assert_array_equal(_h(rd.first_column(Sd)), S[:, 0])


def test_label_operations_match_numpy(device):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 2))
    labels = rng.integers(0, 4, size=30)
    labels[labels == 2] = 3   # an empty group
    be, Xd, Ld = Backend(device), device_input(device, X), device_input(device, labels)
    for got, want in zip(rd.group_rows(Xd, Ld, 4, be), [X[labels == g] for g in range(4)]):
        assert_array_equal(_h(got).reshape(want.shape), want)
    assert_array_equal(_h(rd.one_hot(Ld, 4, be)), np.eye(4)[labels])
    counts, sums = rd.cluster_sums(Xd, Ld, 4, be)
    assert_array_equal(counts, np.bincount(labels, minlength=4))
    assert_allclose(sums, [X[labels == g].sum(axis=0) for g in range(4)], rtol=SUM_RTOL, atol=1e-15)
    other = labels.copy()
    assert rd.equal(Ld, device_input(device, other), be)
    other[17] = (other[17] + 1) % 4
    assert not rd.equal(Ld, device_input(device, other), be)
    d2 = np.array([1.0, 5.0, 2.0, 5.0, 0.5, 5.0, 3.0] * 11)   # the largest value 33 times
    for n in (1, 3, 12):
        assert_array_equal(rd.largest(device_input(device, d2), n, be), np.argsort(d2, kind="stable")[::-1][:n])
    assert_allclose(rd.total(device_input(device, d2), be), float(d2.sum()), rtol=SUM_RTOL)


def test_lloyd_reseeds_an_empty_cluster_like_numpy(device):
    """A centre no point is nearest to is moved to the point farthest from its centre; the two
    farthest points are duplicates (a tie in distance), and both sides take the later one."""
    rng = np.random.default_rng(4)
    X = np.vstack([rng.normal(size=(20, 2)), [[9.0, 9.0]], rng.normal(size=(5, 2)), [[9.0, 9.0]]])
    C = np.array([[0.0, 0.0], [0.5, 0.5], [100.0, -100.0]])   # cluster 2 starts empty
    be = Backend(device)
    Xd = device_input(device, X)
    got = _lloyd(Xd, C, 20, _Kernels(be, be.put(Xd), Xd))
    want = _lloyd(X, C, 20, _Kernels(Backend("cpu"), X, X))
    assert_allclose(got[0], want[0], rtol=SUM_RTOL, atol=1e-15)
    assert_array_equal(_h(got[1]), want[1])
    assert_allclose(got[2], want[2], rtol=SUM_RTOL)
    assert (want[1] == want[1][-1]).sum() >= 2   # the duplicates ended in one cluster


@pytest.mark.parametrize("n_points", [3, 40])
def test_kmeans_where_the_data_live(device, n_points):
    """Fewer points than clusters (jittered copies of the points) and the usual k-means++ + Lloyd
    runs: the same centres and labels from a device array as from the NumPy array on the CPU."""
    X = np.random.default_rng(5).normal(size=(n_points, 2)) + 3.0
    Xd = device_input(device, X)
    got = kmeans(Xd, 5, np.random.RandomState(0), backend=Backend(device), return_labels=True)
    want = kmeans(X, 5, np.random.RandomState(0), backend=Backend("cpu"), return_labels=True)
    assert_allclose(got[0], want[0], rtol=SUM_RTOL, atol=1e-14)
    assert_array_equal(_h(got[1]), want[1])
