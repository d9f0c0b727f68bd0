"""fastgen.mixture estimators' model properties: monotone bounds, recovered clusters,
reproducibility, thread-count independence, float32, pickling, parameters, sampling, verbose output
and convergence warnings. Problems and tolerances: mixture_cases.py.
"""
from __future__ import annotations

import copy
import pickle
import textwrap

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from conftest import assert_same_on_any_thread_count, random_covars
from fastgen import mixture as fm
from reference import mixture_em as ref
from mixture_cases import (assert_bgmm_close, blobs, COVARIANCE_TYPES, fit_both, GMM_ATTRS, PRIOR_TYPES,
                           quiet, sk)


# =================================================================================================
# (d) Properties
# =================================================================================================

@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_em_lower_bound_never_decreases(seed, covariance_type):
    """EM's log-likelihood is monotone (reg_covar=0: the exact M-step); 1e-12 relative for rounding.
    Fixed seeds: from some random starts a component collapses, and its reset (with a warning) is
    not an EM step, so monotonicity is only promised for fits without one (about 1 draw in 50)."""
    rng = np.random.default_rng(seed)
    X = blobs(rng, 4, 3, 500, sep=2.5)
    m = quiet(fm.GaussianMixture(4, covariance_type=covariance_type, reg_covar=0.0, max_iter=60, tol=0,
                                 init_params="random", random_state=int(rng.integers(1 << 31)), device="cpu").fit, X)
    lb = np.array(m.lower_bounds_)
    assert np.all(np.diff(lb) >= -1e-12 * np.abs(lb[1:]))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_variational_lower_bound_never_decreases(seed, covariance_type, prior_type):
    rng = np.random.default_rng(seed)   # fixed: a collapsed component's reset is not a VB step
    X = blobs(rng, 3, 2, 400, sep=2.5)
    m = quiet(fm.BayesianGaussianMixture(n_components=5, covariance_type=covariance_type, reg_covar=0.0,
                                         weight_concentration_prior_type=prior_type, max_iter=60, tol=0,
                                         init_params="random", random_state=int(rng.integers(1 << 31)),
                                         device="cpu").fit, X)
    lb = np.array(m.lower_bounds_)
    assert np.all(np.diff(lb) >= -1e-12 * np.abs(lb[1:]))


@pytest.mark.parametrize("cls_name, init_params", [
    ("GaussianMixture", "kmeans"), ("GaussianMixture", "k-means++"), ("BayesianGaussianMixture", "kmeans"),
    ("BayesianGaussianMixture", "k-means++")])
def test_inits_recover_separated_clusters(cls_name, init_params):
    """Well-separated clusters: the fit from k-means starts converges to the true partition.
    ('random' starts stall in a merged optimum for about 1 seed in 3 at tol=1e-3, in scikit-learn
    as here: the same draws give the same fits, see test_gmm_random_inits_match_sklearn.)"""
    rng = np.random.default_rng(20240617)  # fixed: the assertions below are statistical
    K = 3
    centres = np.array([[0.0, 0.0], [12.0, 0.0], [0.0, 12.0]])
    truth = np.repeat(np.arange(K), 100)
    X = centres[truth] + rng.standard_normal((300, 2))
    m = getattr(fm, cls_name)(n_components=K, init_params=init_params, n_init=3, max_iter=300,
                              random_state=int(rng.integers(1 << 31)), device="cpu")
    labels = m.fit_predict(X)
    assert m.converged_
    # Same partition up to relabelling.
    assert len({(a, b) for a, b in zip(truth, labels)}) == K
    assert_array_equal(labels, m.predict(X))
    assert_allclose(np.sort(m.weights_), [1 / 3] * 3, atol=0.01, rtol=0)


@pytest.mark.parametrize("cls_name", ["GaussianMixture", "BayesianGaussianMixture"])
@pytest.mark.parametrize("init_params", ["kmeans", "k-means++"])
def test_same_seed_same_fit_and_samples(rng, cls_name, init_params):
    X = blobs(rng, 3, 2, 300)
    seed = int(rng.integers(1 << 31))
    a = quiet(getattr(fm, cls_name)(n_components=3, init_params=init_params, random_state=seed, device="cpu").fit, X)
    b = quiet(getattr(fm, cls_name)(n_components=3, init_params=init_params, random_state=seed, device="cpu").fit, X)
    for name in GMM_ATTRS:
        assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.lower_bounds_ == b.lower_bounds_
    Xa, ya = a.sample(500)
    Xb, yb = b.sample(500)
    assert_array_equal(Xa, Xb)
    assert_array_equal(ya, yb)
    Xc, _ = a.sample(500, random_state=seed + 1)
    assert not np.array_equal(Xa, Xc)


def test_results_independent_of_thread_count_subprocess(tmp_path):
    """OMP_NUM_THREADS=1 vs 2 in fresh interpreters: bit-identical fits (k-means and k-means++
    starts, every covariance type), samples and posteriors on data spanning many kernel chunks."""
    script = textwrap.dedent("""
        import sys, warnings, numpy as np
        from fastgen.mixture import GaussianMixture, BayesianGaussianMixture
        warnings.simplefilter("ignore")
        rng = np.random.default_rng(20240607)
        N, D = 30_000, 3
        centres = rng.normal(scale=3, size=(4, D))
        X = centres[rng.integers(4, size=N)] + rng.standard_normal((N, D))
        out = []
        for i, ct in enumerate(["full", "tied", "diag", "spherical"]):
            init = "kmeans" if i % 2 == 0 else "k-means++"
            for cls in (GaussianMixture, BayesianGaussianMixture):
                m = cls(n_components=4, covariance_type=ct, init_params=init, max_iter=15, random_state=i,
                        device="cpu").fit(X)
                out += [m.weights_, m.means_, m.covariances_, np.array(m.lower_bounds_), m.predict_proba(X),
                        m.score_samples(X), *m.sample(5000)]
        np.savez(sys.argv[1], *out)
    """)
    assert_same_on_any_thread_count(script, tmp_path, timeout=300)


@pytest.mark.parametrize("cls_name", ["GaussianMixture", "BayesianGaussianMixture"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_matches_float64(rng, cls_name, covariance_type):
    """dtype=float32 runs the kernels in single precision; from the same start the fit agrees with
    float64 to single-precision accuracy (rtol 1e-4 after 5 iterations), parameters stay float64."""
    X = blobs(rng, 3, 2, 400)
    kw = dict(n_components=3, covariance_type=covariance_type, init_params="random", max_iter=5, tol=0,
              random_state=int(rng.integers(1 << 31)), device="cpu")
    cls = getattr(fm, cls_name)
    a = quiet(cls(dtype=np.float32, **kw).fit, X)
    b = quiet(cls(dtype=np.float64, **kw).fit, X)
    assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=1e-4, atol=0)
    for name in GMM_ATTRS:
        va, vb = getattr(a, name), getattr(b, name)
        assert va.dtype == np.float64
        scale = np.abs(vb).max()
        if name == "means_":  # a mean's rounding scales with the data, and the means can all sit near 0
            scale = max(scale, np.abs(X).max())
        assert_allclose(va, vb, rtol=1e-4, atol=1e-5 * scale, err_msg=name)
    assert_allclose(a.score_samples(X), b.score_samples(X), rtol=1e-4, atol=0)
    assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=0, atol=1e-4)


@pytest.mark.parametrize("cls_name", ["GaussianMixture", "BayesianGaussianMixture"])
def test_pickle_and_deepcopy_round_trip(rng, cls_name):
    X = blobs(rng, 3, 2, 200)
    m = getattr(fm, cls_name)(n_components=3, random_state=int(rng.integers(1 << 31)), device="cpu").fit(X)
    for m2 in (pickle.loads(pickle.dumps(m)), copy.deepcopy(m)):
        assert m2.get_params() == m.get_params()
        assert_array_equal(m2.score_samples(X), m.score_samples(X))
        assert_array_equal(m2.predict(X), m.predict(X))
        assert_array_equal(m2.sample(50)[0], m.sample(50)[0])
        assert m2.lower_bounds_ == m.lower_bounds_


def test_get_params_set_params_clone():
    from sklearn.base import clone
    m = fm.GaussianMixture(4, covariance_type="diag", reg_covar=1e-3, device="cpu", dtype=np.float32)
    c = clone(m)
    assert c.get_params() == m.get_params() and c is not m
    m.set_params(n_components=2, tol=1e-5)
    assert (m.n_components, m.tol) == (2, 1e-5)
    with pytest.raises(ValueError, match="Invalid parameter 'n_component' for estimator GaussianMixture"):
        m.set_params(n_component=3)
    assert repr(fm.BayesianGaussianMixture(n_components=2)).startswith("BayesianGaussianMixture(")


@pytest.mark.slow
def test_accepts_sklearn_value_types(rng, capsys):
    """Values scikit-learn's constraints accept: verbose=True, NumPy integers and bools, lists,
    a 0-d array for the spherical covariance_prior; the fit equals scikit-learn's."""
    X = blobs(rng, 2, 2, 120)
    kw = dict(n_components=2, covariance_type="spherical", init_params="random", random_state=4, tol=0,
              max_iter=np.int64(5), warm_start=np.bool_(False), verbose=True, verbose_interval=np.int32(100),
              mean_prior=[0.1, -0.2], covariance_prior=np.array(0.7), degrees_of_freedom_prior=np.float32(2.5))
    ours, theirs = fit_both("BayesianGaussianMixture", X, **kw)
    out = capsys.readouterr().out
    assert out.count("Initialization 0") == 2 and out.count("Initialization did not converge.") == 2
    assert_bgmm_close(ours, theirs)


def test_predictions_are_consistent(rng):
    X = blobs(rng, 3, 3, 300)
    m = fm.GaussianMixture(3, random_state=0, device="cpu").fit(X)
    proba = m.predict_proba(X)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-13, atol=0)
    assert_array_equal(m.predict(X), proba.argmax(axis=1))
    # score_samples is the log of the mixture density (SciPy, component by component).
    from scipy.stats import multivariate_normal
    dens = sum(w * multivariate_normal(mu, c).pdf(X) for w, mu, c in zip(m.weights_, m.means_, m.covariances_))
    assert_allclose(m.score_samples(X), np.log(dens), rtol=1e-12, atol=0)
    assert_allclose(m.score(X), np.log(dens).mean(), rtol=1e-12, atol=0)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_samples_follow_the_model(covariance_type):
    """Labels grouped by component as in scikit-learn; counts and per-component moments within
    sampling error (5 standard errors) of the weights, means and covariances."""
    rng = np.random.default_rng(20240618)  # fixed: the assertions below are statistical
    K, D, n = 3, 2, 40_000
    m = fm.GaussianMixture(K, covariance_type=covariance_type, device="cpu")
    m.weights_ = np.array([0.2, 0.5, 0.3])
    m.means_ = rng.normal(scale=3, size=(K, D))
    m.covariances_ = random_covars(rng, covariance_type, K, D)
    X, y = m.sample(n, random_state=int(rng.integers(1 << 31)))
    assert X.shape == (n, D) and y.dtype == np.int64 and np.all(np.diff(y) >= 0)
    counts = np.bincount(y, minlength=K)
    assert np.all(np.abs(counts - n * m.weights_) < 5 * np.sqrt(n * m.weights_ * (1 - m.weights_)))
    covs = ref.full_covariances(m.covariances_, covariance_type, K, D)
    for k in range(K):
        Xk = X[y == k]
        se = np.sqrt(np.diag(covs[k]) / len(Xk))
        assert np.all(np.abs(Xk.mean(axis=0) - m.means_[k]) < 5 * se)
        assert_allclose(np.cov(Xk.T), covs[k], atol=5 * 2 * np.abs(covs[k]).max() / np.sqrt(len(Xk)), rtol=0)


@pytest.mark.slow
def test_verbose_output(rng, capsys):
    X = blobs(rng, 2, 2, 100)
    kw = dict(n_components=2, init_params="random", random_state=0, max_iter=4, tol=0, verbose_interval=2)
    quiet(fm.GaussianMixture(verbose=1, device="cpu", **kw).fit, X)
    ours = capsys.readouterr().out
    quiet(sk.GaussianMixture(verbose=1, **kw).fit, X)
    assert ours == capsys.readouterr().out
    quiet(fm.GaussianMixture(verbose=2, device="cpu", **kw).fit, X)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Initialization 0" and lines[1].startswith("  Iteration 2\t time lapse ")
    assert "ll change" in lines[1] and lines[-1].startswith("Initialization did not converge. time lapse")


def test_convergence_warning(rng):
    X = blobs(rng, 3, 2, 200)
    with pytest.warns(fm.ConvergenceWarning, match="Best performing initialization did not converge"):
        fm.GaussianMixture(3, max_iter=1, tol=0, random_state=0, device="cpu").fit(X)
    assert issubclass(fm.ConvergenceWarning, UserWarning)
