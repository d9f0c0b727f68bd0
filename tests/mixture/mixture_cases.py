"""Shared problems, tolerances and checks of the mixture estimator tests: test_mixture_vs_sklearn.py,
test_mixture_properties.py, test_mixture_degenerate.py, test_mixture_devices_inputs.py.

fastgen.mixture estimators: one EM / variational step against the NumPy oracle
(tests/reference/mixture_em.py), agreement with scikit-learn from identical starting points (the
drop-in promise), scikit-learn's documented usage run unchanged with the import swapped, model
properties (monotone bounds, reproducibility, thread-count independence, float32, pickling,
sampling), the CUDA path under the simulator, and every bad input. The kernels underneath are in
tests/mixture/test_mixture_kernels.py. The comparisons with scikit-learn are marked `slow`; tests
whose assertions are statistical (recovered clusters, sample moments) use fixed seeds.

Tolerances: fastgen and scikit-learn run the same float64 algorithms in a different order, so
parameters and lower bounds agree to rounding: rtol 1e-10 (RTOL), with an absolute floor of 1e-12
times the data scale (or the array's largest entry) for entries that are ~0 (off-diagonal precision
factors, the mean of centred data). The data
are centred and well separated: scikit-learn forms its diag/spherical/tied covariances and diag
log-densities from raw moments, which loses digits of order |x|^2 / variance; fastgen works about
the data mean, so both are exact to ~1e-14 here and the comparison measures the algorithm.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

from conftest import random_covars, random_spd, random_stochastic
from fastgen import mixture as fm


sk = pytest.importorskip("sklearn.mixture")

RTOL, ATOL_REL = 1e-10, 1e-12
COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
PRIOR_TYPES = ["dirichlet_process", "dirichlet_distribution"]
GMM_ATTRS = ["weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"]
BGMM_ATTRS = GMM_ATTRS + ["mean_precision_", "degrees_of_freedom_", "weight_concentration_prior_",
                          "mean_precision_prior_", "mean_prior_", "degrees_of_freedom_prior_", "covariance_prior_"]


# -- problems ---------------------------------------------------------------------------------------

def blobs(rng, K=3, D=2, N=300, sep=4.0):
    """N points from K Gaussian clusters with random covariances, centred at the origin."""
    centres = rng.normal(scale=sep, size=(K, D))
    labels = np.concatenate([np.arange(K), rng.integers(K, size=N - K)])
    chol = np.linalg.cholesky(random_spd(rng, D, low=0.3, high=1.5, size=K))
    X = centres[labels] + np.einsum("nij,nj->ni", chol[labels], rng.standard_normal((N, D)))
    return X - X.mean(axis=0)


def precisions_of(cov, covariance_type):
    return np.linalg.inv(cov) if covariance_type in ("full", "tied") else 1.0 / cov


def explicit_start(rng, X, K, covariance_type):
    """weights_init, means_init, precisions_init (scikit-learn's layout) near the data."""
    D = X.shape[1]
    means = X[rng.choice(len(X), K, replace=False)] + 0.1 * rng.standard_normal((K, D))
    cov = random_covars(rng, covariance_type, K, D, low=0.5, high=2.0)
    return dict(weights_init=random_stochastic(rng, K, concentration=5.0), means_init=means,
                precisions_init=precisions_of(cov, covariance_type))


def assert_attrs_close(ours, theirs, attrs, rtol=RTOL, atol_rel=ATOL_REL):
    """Each attribute to `rtol`, with an absolute floor of `atol_rel` of its largest entry (or 1)."""
    for a in attrs:
        x, y = np.asarray(getattr(ours, a), dtype=np.float64), np.asarray(getattr(theirs, a), dtype=np.float64)
        assert x.shape == y.shape, a
        assert_allclose(x, y, rtol=rtol, atol=atol_rel * max(np.abs(y).max(), 1.0), err_msg=a)


def assert_bgmm_close(ours, theirs, rtol=RTOL):
    assert_attrs_close(ours, theirs, BGMM_ATTRS, rtol)
    wo, wt = ours.weight_concentration_, theirs.weight_concentration_
    for x, y in (zip(wo, wt) if isinstance(wt, tuple) else [(wo, wt)]):
        assert_allclose(x, y, rtol=rtol, atol=0)


def quiet(fn, *args, **kw):
    """Call without scikit-learn's (or fastgen's) ConvergenceWarning for runs cut at max_iter."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=fm.ConvergenceWarning)
        warnings.filterwarnings("ignore", message="Best performing initialization did not converge")
        return fn(*args, **kw)


def fit_both(cls_name, X, **kw):
    ours = quiet(getattr(fm, cls_name)(device="cpu", **kw).fit, X)
    theirs = quiet(getattr(sk, cls_name)(**kw).fit, X)
    return ours, theirs
