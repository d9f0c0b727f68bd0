"""fastgen.mixture estimators: one EM / variational step against the NumPy oracle
(tests/reference/mixture_em.py), agreement with scikit-learn from identical starting points (the
drop-in promise), and scikit-learn's documented usage run unchanged with the import swapped.
Problems and tolerances: mixture_cases.py.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from conftest import random_spd
from fastgen import mixture as fm
from fastgen.mixture._gaussian import digamma, gammaln
from reference import mixture_em as ref
from mixture_cases import (assert_attrs_close, assert_bgmm_close, ATOL_REL, blobs, COVARIANCE_TYPES,
                           explicit_start, fit_both, GMM_ATTRS, precisions_of, PRIOR_TYPES, quiet, RTOL, sk)


# =================================================================================================
# (a) One step against the NumPy oracle
# =================================================================================================

# (K, D, N): one component; one feature; odd sizes.
SHAPES = [(1, 2, 40), (3, 1, 61), (3, 2, 300), (4, 3, 257)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_em_step_matches_oracle(rng, covariance_type, shape):
    """max_iter=1 from explicit parameters: lower_bound_ is the mean log-likelihood under them and
    the parameters are one M-step on; the oracle computes densities by slogdet/solve."""
    K, D, N = shape
    X = blobs(rng, K, D, N)
    start = explicit_start(rng, X, K, covariance_type)
    reg = float(rng.choice([0.0, 1e-6, 0.1]))
    m = quiet(fm.GaussianMixture(K, covariance_type=covariance_type, max_iter=1, tol=0, reg_covar=reg,
                                 device="cpu", **start).fit, X)
    cov0 = (np.linalg.inv(start["precisions_init"]) if covariance_type in ("full", "tied")
            else 1.0 / start["precisions_init"])
    lb, w, mu, cov = ref.gmm_em_step(X, start["weights_init"], start["means_init"], cov0, covariance_type, reg)
    assert_allclose(m.lower_bound_, lb, rtol=RTOL, atol=0)
    assert_allclose(m.lower_bounds_, [lb], rtol=RTOL, atol=0)
    assert_allclose(m.weights_, w, rtol=RTOL, atol=0)
    assert_allclose(m.means_, mu, rtol=RTOL, atol=ATOL_REL * np.abs(X).max())
    assert_allclose(m.covariances_, cov, rtol=RTOL, atol=ATOL_REL * np.abs(cov).max())
    assert_allclose(m.precisions_, precisions_of(cov, covariance_type), rtol=1e-9,
                    atol=ATOL_REL * np.abs(precisions_of(cov, covariance_type)).max())
    # The E-step under the new parameters, as predict_proba / score_samples report it.
    wlp = ref.gaussian_log_density(X, mu, cov, covariance_type) + np.log(w)
    log_norm, resp = ref.responsibilities(wlp)
    assert_allclose(m.score_samples(X), log_norm, rtol=RTOL, atol=0)
    assert_allclose(m.score(X), log_norm.mean(), rtol=RTOL, atol=0)
    assert_allclose(m.predict_proba(X), resp, rtol=1e-9, atol=1e-13)
    assert_array_equal(m.predict(X), np.argmax(wlp, axis=1))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_vb_steps_match_oracle(rng, covariance_type, prior_type, shape):
    """init_params='random' draws scikit-learn's responsibilities from random_state; then three
    variational E+M steps: every posterior parameter and each lower bound."""
    K, D, N = shape
    X = blobs(rng, K, D, N)
    seed = int(rng.integers(1 << 31))
    m = quiet(fm.BayesianGaussianMixture(n_components=K, covariance_type=covariance_type, init_params="random",
                                         weight_concentration_prior_type=prior_type, max_iter=3, tol=0,
                                         random_state=seed, device="cpu").fit, X)
    resp0 = np.random.RandomState(seed).uniform(size=(N, K))
    resp0 /= resp0.sum(axis=1, keepdims=True)
    priors = ref.bgmm_priors(X, covariance_type, K)
    bounds, p = ref.bgmm_vb_steps(X, resp0, covariance_type, prior_type, priors, 1e-6, 3)
    assert_allclose(m.lower_bounds_, bounds, rtol=RTOL, atol=0)
    for name in ["weights_", "means_", "covariances_", "mean_precision_", "degrees_of_freedom_"]:
        scale = np.abs(X).max() if name == "means_" else np.abs(p[name]).max()
        assert_allclose(getattr(m, name), p[name], rtol=RTOL, atol=ATOL_REL * scale, err_msg=name)
    wc = p["weight_concentration_"]
    pairs = zip(m.weight_concentration_, wc) if isinstance(wc, tuple) else [(m.weight_concentration_, wc)]
    for ours, theirs in pairs:
        assert_allclose(ours, theirs, rtol=RTOL, atol=0)
    # Posterior predictions use the expected log-weights and log-densities.
    wlp = ref.bgmm_weighted_log_prob(X, p, covariance_type, prior_type)
    log_norm, resp = ref.responsibilities(wlp)
    assert_allclose(m.score_samples(X), log_norm, rtol=RTOL, atol=0)
    assert_allclose(m.predict_proba(X), resp, rtol=1e-9, atol=1e-13)


def test_special_functions_match_scipy():
    """The NumPy digamma / log-gamma used by the variational bounds (no SciPy at run time)."""
    sp = pytest.importorskip("scipy.special")
    x = np.concatenate([np.logspace(-8, 8, 3001), np.linspace(0.05, 40, 1001), [1.4616321449683622]])
    assert_allclose(digamma(x), sp.digamma(x), rtol=1e-14, atol=1e-15)
    assert_allclose(gammaln(x), sp.gammaln(x), rtol=1e-14, atol=1e-15)


# =================================================================================================
# (b) Agreement with scikit-learn from identical starting points
# =================================================================================================

@pytest.mark.slow
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_gmm_matches_sklearn_from_explicit_start(rng, covariance_type):
    """weights_init/means_init/precisions_init, 10 iterations (tol=0): the same lower bound after
    every iteration and the same parameters, within rtol 1e-10."""
    K = 3
    X = blobs(rng, K, 2, 400)
    kw = dict(n_components=K, covariance_type=covariance_type, max_iter=10, tol=0,
              **explicit_start(rng, X, K, covariance_type))
    ours, theirs = fit_both("GaussianMixture", X, **kw)
    assert len(ours.lower_bounds_) == 10
    assert_allclose(ours.lower_bounds_, theirs.lower_bounds_, rtol=RTOL, atol=0)
    assert_allclose(ours.lower_bound_, theirs.lower_bound_, rtol=RTOL, atol=0)
    assert_attrs_close(ours, theirs, GMM_ATTRS)
    assert (ours.n_iter_, ours.converged_, ours.n_features_in_) == (theirs.n_iter_, theirs.converged_, 2)
    assert_allclose(ours.score_samples(X), theirs.score_samples(X), rtol=RTOL, atol=0)
    assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-9, atol=1e-13)
    assert_array_equal(ours.predict(X), theirs.predict(X))
    assert_allclose([ours.aic(X), ours.bic(X)], [theirs.aic(X), theirs.bic(X)], rtol=RTOL, atol=0)


@pytest.mark.slow
@pytest.mark.parametrize("init_params", ["random", "random_from_data"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_gmm_random_inits_match_sklearn(rng, covariance_type, init_params):
    """'random' and 'random_from_data' draw the same numbers from random_state as scikit-learn, so
    the same seed gives the same fit; n_init=3 restarts reach the same best lower bound. reg_covar=0.01
    keeps the singleton components of 'random_from_data' from starting at a near-zero covariance, which
    makes the first E-step a hard assignment that amplifies rounding (chaotic, not comparable)."""
    X = blobs(rng, 3, 2, 300)
    kw = dict(n_components=3, covariance_type=covariance_type, init_params=init_params, max_iter=10, tol=0,
              n_init=1, reg_covar=0.01, random_state=int(rng.integers(1 << 31)))
    ours, theirs = fit_both("GaussianMixture", X, **kw)
    assert_allclose(ours.lower_bounds_, theirs.lower_bounds_, rtol=RTOL, atol=0)
    # From a random start the first EM iterations can amplify last-bit differences (different
    # summation orders) ~1e5-fold before they contract, ~1e6-fold on a rare draw: 1e-8 on the
    # parameters (seen: 1.4e-10 typically, 1.7e-9 on one seed in about a hundred, which failed 1e-9).
    assert_attrs_close(ours, theirs, GMM_ATTRS, rtol=1e-8)
    # Restarts that converge to the same optimum tie up to rounding, and which one is kept (with its
    # own trajectory and label order) is then decided by the last bits: compare the best bound only.
    ours, theirs = fit_both("GaussianMixture", X, **dict(kw, n_init=3))
    assert_allclose(ours.lower_bound_, theirs.lower_bound_, rtol=1e-9, atol=0)


def _bgmm_priors(rng, covariance_type, D):
    cov = {"full": random_spd(rng, D), "tied": random_spd(rng, D), "diag": rng.uniform(0.5, 2, D),
           "spherical": float(rng.uniform(0.5, 2))}[covariance_type]
    return dict(weight_concentration_prior=0.3, mean_precision_prior=0.5, mean_prior=rng.normal(size=D),
                degrees_of_freedom_prior=D + 1.5, covariance_prior=cov)


@pytest.mark.slow
@pytest.mark.parametrize("priors", ["default", "given"])
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_bgmm_matches_sklearn(rng, covariance_type, prior_type, priors):
    """Identical starting responsibilities ('random' init, same seed), 10 iterations at tol=0:
    the same lower-bound trajectory and posteriors (rtol 1e-10), default and user priors."""
    K, D = 4, 2
    X = blobs(rng, 3, D, 300)
    kw = dict(n_components=K, covariance_type=covariance_type, weight_concentration_prior_type=prior_type,
              init_params="random", max_iter=10, tol=0, random_state=int(rng.integers(1 << 31)))
    if priors == "given":
        kw.update(_bgmm_priors(rng, covariance_type, D))
    ours, theirs = fit_both("BayesianGaussianMixture", X, **kw)
    assert_allclose(ours.lower_bounds_, np.ravel(theirs.lower_bounds_), rtol=RTOL, atol=0)
    assert_bgmm_close(ours, theirs)
    assert_allclose(ours.score_samples(X), theirs.score_samples(X), rtol=RTOL, atol=0)
    assert_array_equal(ours.predict(X), theirs.predict(X))


@pytest.mark.slow
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_bgmm_matches_sklearn_from_given_responsibilities(rng, covariance_type, monkeypatch):
    """Both libraries started from the same soft responsibilities (their initialisers patched):
    the variational updates agree for any start, not only scikit-learn's uniform draws."""
    K = 3
    X = blobs(rng, K, 3, 250)
    resp0 = rng.dirichlet(np.full(K, 0.7), size=len(X))
    monkeypatch.setattr(sk.BayesianGaussianMixture, "_initialize_parameters",
                        lambda self, X, random_state, xp=None: self._initialize(X, resp0))
    monkeypatch.setattr(fm.BayesianGaussianMixture, "_initial_resp",
                        lambda self, cp, X, Xk, shift, random_state: cp.put(resp0))
    kw = dict(n_components=K, covariance_type=covariance_type, max_iter=10, tol=0)
    ours, theirs = fit_both("BayesianGaussianMixture", X, **kw)
    assert_allclose(ours.lower_bounds_, np.ravel(theirs.lower_bounds_), rtol=RTOL, atol=0)
    assert_bgmm_close(ours, theirs)


@pytest.mark.slow
@pytest.mark.parametrize("cls_name", ["GaussianMixture", "BayesianGaussianMixture"])
def test_warm_start_and_convergence_match_sklearn(rng, cls_name):
    """warm_start continues from the last fit (n_init ignored), with tol-based stopping, as in
    scikit-learn: same n_iter_, converged_, lower bounds and parameters after each call."""
    X = blobs(rng, 3, 2, 300)
    kw = dict(n_components=3, covariance_type="full", init_params="random", warm_start=True, max_iter=4, tol=1e-4,
              n_init=2, random_state=int(rng.integers(1 << 31)))
    ours = getattr(fm, cls_name)(device="cpu", **kw)
    theirs = getattr(sk, cls_name)(**kw)
    for _ in range(4):
        quiet(ours.fit, X)
        quiet(theirs.fit, X)
        assert (ours.n_iter_, ours.converged_) == (theirs.n_iter_, theirs.converged_)
        assert_allclose(ours.lower_bounds_, np.ravel(theirs.lower_bounds_), rtol=RTOL, atol=0)
        assert_attrs_close(ours, theirs, GMM_ATTRS)


@pytest.mark.slow
def test_max_iter_zero_matches_sklearn(rng):
    """max_iter=0 gives the initial parameters, n_iter_ 0 and lower_bound_ -inf, and no warning."""
    X = blobs(rng, 2, 2, 100)
    kw = dict(n_components=2, init_params="random", max_iter=0, random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours, theirs = fit_both("GaussianMixture", X, **kw)
    assert (ours.n_iter_, ours.lower_bound_, ours.lower_bounds_) == (0, -np.inf, [])
    assert_attrs_close(ours, theirs, GMM_ATTRS)


# =================================================================================================
# (c) scikit-learn's documented usage runs unchanged with the import swapped
# =================================================================================================

USAGE = '''
import numpy as np
out = {}

# --- GaussianMixture docstring example
X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
gm = GaussianMixture(n_components=2, random_state=0).fit(X)
out["gm_means"] = sorted(np.round(gm.means_, 6).tolist())
# (which component is called 0 depends on the k-means start: compare the predicted components' means)
out["gm_predict"] = np.round(gm.means_[gm.predict([[0, 0], [12, 3]])], 6).tolist()

# --- BayesianGaussianMixture docstring example
X = np.array([[1, 2], [1, 4], [1, 0], [4, 2], [12, 4], [10, 7]])
bgm = BayesianGaussianMixture(n_components=2, random_state=42).fit(X)
out["bgm_means"] = sorted(np.round(bgm.means_, 6).tolist())
out["bgm_predict"] = np.round(bgm.means_[bgm.predict([[0, 0], [9, 3]])], 6).tolist()

# --- user guide: model selection by BIC over components and covariance types (plot_gmm_selection)
rs = np.random.RandomState(0)
X = np.concatenate([rs.randn(300, 2) @ np.array([[0.0, -0.1], [1.7, 0.4]]),
                    0.7 * rs.randn(300, 2) + np.array([-2, 1])])
bics = {}
for covariance_type in ["spherical", "tied", "diag", "full"]:
    for n in range(1, 5):
        g = GaussianMixture(n_components=n, covariance_type=covariance_type, random_state=42).fit(X)
        bics[(covariance_type, n)] = g.bic(X)
best = min(bics, key=bics.get)
out["best_bic"] = best

from sklearn.model_selection import GridSearchCV
def gmm_bic_score(estimator, X):
    return -estimator.bic(X)
grid = GridSearchCV(GaussianMixture(), param_grid={"n_components": range(1, 4),
                    "covariance_type": ["spherical", "full"]}, scoring=gmm_bic_score).fit(X)
out["grid"] = sorted(grid.best_params_.items())

# --- density estimation (plot_gmm_pdf): score_samples on a grid
clf = GaussianMixture(n_components=2, covariance_type="full").fit(X)
xx, yy = np.meshgrid(np.linspace(-20.0, 30.0, 20), np.linspace(-20.0, 40.0, 20))
Z = -clf.score_samples(np.array([xx.ravel(), yy.ravel()]).T).reshape(xx.shape)
out["pdf"] = (Z.shape, bool(np.isfinite(Z).all()))

# --- sampling (plot_gmm_sin style) and the fitted attributes
Xs, ys = clf.sample(200)
out["sample"] = (Xs.shape, ys.shape, bool((np.diff(ys) >= 0).all()))
out["attrs"] = (clf.weights_.shape, clf.means_.shape, clf.covariances_.shape, clf.precisions_.shape,
                clf.precisions_cholesky_.shape, type(clf.converged_), clf.n_features_in_,
                len(clf.lower_bounds_) == clf.n_iter_)
out["proba"] = clf.predict_proba(X[:5]).shape
labels = GaussianMixture(2, random_state=1).fit_predict(X)
out["fit_predict"] = bool((labels == GaussianMixture(2, random_state=1).fit(X).predict(X)).all())

# --- concentration prior (plot_concentration_prior): inactive components get tiny weights
rs = np.random.RandomState(2)
X3 = np.concatenate([rs.multivariate_normal(m, 0.3 * np.eye(2), 150) for m in ([0, 0], [4, 4], [-4, 4])])
for prior_type, prior in [("dirichlet_process", 1e-3), ("dirichlet_distribution", 1e-3)]:
    est = BayesianGaussianMixture(weight_concentration_prior_type=prior_type, n_components=6, reg_covar=0,
                                  init_params="random", max_iter=1500, mean_precision_prior=0.8, random_state=2,
                                  weight_concentration_prior=prior).fit(X3)
    out[prior_type] = int((est.weights_ > 0.05).sum())
'''


def _run_usage(module):
    ns = {"GaussianMixture": module.GaussianMixture, "BayesianGaussianMixture": module.BayesianGaussianMixture}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(compile(USAGE, "<scikit-learn mixture usage>", "exec"), ns)
    return ns["out"]


@pytest.mark.slow
def test_sklearn_documented_usage_runs_unchanged():
    ours, theirs = _run_usage(fm), _run_usage(sk)
    # The docstrings' printed outputs (scikit-learn 1.9 documentation), up to the components' order.
    assert ours["gm_means"] == [[1.0, 2.0], [10.0, 2.0]] and ours["gm_predict"] == [[1.0, 2.0], [10.0, 2.0]]
    assert_allclose(ours["bgm_means"], [[2.49, 2.29], [8.45, 4.52]], atol=0.01, rtol=0)
    assert_allclose(ours["bgm_predict"], ours["bgm_means"], rtol=0, atol=0)
    # Everything else: the same answers as scikit-learn (k-means starts differ, the optima do not).
    assert ours == theirs
