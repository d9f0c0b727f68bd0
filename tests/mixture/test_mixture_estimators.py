"""fastgen.mixture estimators: one EM / variational step against the NumPy oracle
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

import copy
import pickle
import textwrap
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from conftest import assert_same_on_any_thread_count, precision_cholesky_upper, random_covars, random_spd, random_stochastic
from fastgen import _backend
from fastgen import mixture as fm
from fastgen.mixture._gaussian import digamma, gammaln
from reference import mixture_em as ref

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


def assert_attrs_close(ours, theirs, attrs, rtol=RTOL):
    for a in attrs:
        x, y = np.asarray(getattr(ours, a), dtype=np.float64), np.asarray(getattr(theirs, a), dtype=np.float64)
        assert x.shape == y.shape, a
        assert_allclose(x, y, rtol=rtol, atol=ATOL_REL * max(np.abs(y).max(), 1.0), err_msg=a)


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
    # summation orders) ~1e5-fold before they contract: 1e-9 on the parameters (seen: 1.4e-10).
    assert_attrs_close(ours, theirs, GMM_ATTRS, rtol=1e-9)
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


# -- degenerate components: a warning and finite parameters, never NaN or a hard failure -----------

def _collapse_problem(covariance_type, spread_x=False):
    """A grid of integer points around the origin (their mean is exactly 0) and 5 points at the
    origin (or spread along x by 1e-3), owned by a component started there with precision 1e6.
    That component's responsibilities are exactly one-hot, its data sit at exactly 0 along y, so
    its variance along y is exactly 0 in floating point, not merely small."""
    g = np.array([-2.0, -1.0, 1.0, 2.0])
    rest = np.tile(np.array(np.meshgrid(g, g)).reshape(2, -1).T, (4, 1))
    x = np.array([-2e-3, -1e-3, 0.0, 1e-3, 2e-3]) if spread_x else np.zeros(5)
    X = np.concatenate([rest, np.column_stack([x, np.zeros(5)])])
    prec = {"full": np.array([np.eye(2), 1e6 * np.eye(2)]), "diag": np.array([[1.0, 1.0], [1e6, 1e6]]),
            "spherical": np.array([1.0, 1e6])}[covariance_type]
    return X, dict(weights_init=[0.5, 0.5], means_init=np.zeros((2, 2)), precisions_init=prec)


def test_collapsed_component_gets_reg_covar_and_a_warning():
    """A component collapsed on a point with reg_covar=0: scikit-learn raises; fastgen resets that
    covariance to 1e-6 of the mean data variance (with reg_covar > 0: reg_covar * I) and warns."""
    X, start = _collapse_problem("full")
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        sk.GaussianMixture(2, reg_covar=0, **start).fit(X)
    with pytest.warns(RuntimeWarning, match=r"components \[1\] have an ill-defined covariance"):
        m = quiet(fm.GaussianMixture(2, reg_covar=0, max_iter=5, device="cpu", **start).fit, X)
    for name in GMM_ATTRS:
        assert np.isfinite(getattr(m, name)).all(), name
    assert_allclose(m.covariances_[1], 1e-6 * np.var(X, axis=0).mean() * np.eye(2), rtol=1e-9, atol=0)
    assert_array_equal(m.means_[1], [0.0, 0.0])
    assert np.isfinite(m.score_samples(X)).all()


@pytest.mark.parametrize("covariance_type", ["diag", "spherical"])
def test_collapsed_diag_variances(covariance_type):
    """Diag: only the variance that is exactly 0 is reset; spherical: the component's variance."""
    X, start = _collapse_problem(covariance_type, spread_x=covariance_type == "diag")
    with pytest.warns(RuntimeWarning, match=r"components \[1\] have an ill-defined covariance"):
        m = quiet(fm.GaussianMixture(2, covariance_type=covariance_type, reg_covar=0, max_iter=3, device="cpu",
                                     **start).fit, X)
    floor = 1e-6 * np.var(X, axis=0).mean()
    assert np.isfinite(m.covariances_).all() and (m.covariances_ > 0).all()
    if covariance_type == "diag":
        # x: the 5 points' variance (the component also holds ~1e-6 of the grid points' mass)
        assert_allclose(m.covariances_[1, 0], np.var(X[-5:, 0]), rtol=1e-4, atol=0)
        assert_allclose(m.covariances_[1, 1], floor, rtol=1e-9, atol=0)
    else:
        assert_allclose(m.covariances_[1], floor, rtol=1e-9, atol=0)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_guarded_precision_cholesky(rng, covariance_type):
    """The M-step's Cholesky: valid covariances give scikit-learn's factors; a covariance that is
    not positive-definite (here with an eigenvalue -1e-14, what rounding leaves of a collapsed
    component) is reset to floor * I (diag/spherical: the offending variances), and reported."""
    from fastgen.mixture._gaussian import precision_cholesky_guarded
    K, D = 3, 3
    cov = random_covars(rng, covariance_type, K, D)
    P, used, bad = precision_cholesky_guarded(cov, covariance_type, 0.01)
    assert bad.size == 0 and used is cov or np.array_equal(used, cov)
    assert_allclose(P, precision_cholesky_upper(cov) if covariance_type in ("full", "tied") else 1 / np.sqrt(cov),
                    rtol=1e-12, atol=1e-14)
    broken = np.array(cov, copy=True)
    if covariance_type in ("full", "tied"):
        v = rng.standard_normal(D)
        target = broken[1] if covariance_type == "full" else broken
        target[...] = np.outer(v, v) - 1e-14 * np.eye(D)
        expect_bad = [1] if covariance_type == "full" else [0]
    elif covariance_type == "diag":
        broken[1, 2] = -1e-16
        expect_bad = [1]
    else:
        broken[1] = 0.0
        expect_bad = [1]
    P, used, bad = precision_cholesky_guarded(broken, covariance_type, 0.01)
    assert bad.tolist() == expect_bad
    assert np.isfinite(P).all()
    if covariance_type == "full":
        assert_array_equal(used[1], 0.01 * np.eye(D))
        assert_array_equal(used[[0, 2]], cov[[0, 2]])
    elif covariance_type == "tied":
        assert_array_equal(used, 0.01 * np.eye(D))
    elif covariance_type == "diag":
        assert used[1, 2] == 0.01 and used[1, 0] == cov[1, 0]
    else:
        assert used[1] == 0.01


@pytest.mark.slow
@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_collapse_with_reg_covar_warns_and_matches_sklearn(rng, covariance_type):
    """A component that takes exactly the 6 duplicate points: with the default reg_covar its
    covariance is reg_covar * I (as in scikit-learn, which says nothing); fastgen also warns, once
    per fit, naming the component. Parameters equal scikit-learn's from the same start."""
    X = np.vstack([np.full((6, 2), 3.0), rng.normal(size=(40, 2)) - 3.0])
    prec = {"full": np.array([1e4 * np.eye(2), np.eye(2)]), "diag": np.array([[1e4, 1e4], [1.0, 1.0]]),
            "spherical": np.array([1e4, 1.0])}[covariance_type]
    kw = dict(n_components=2, covariance_type=covariance_type, weights_init=[0.2, 0.8],
              means_init=[[3.0, 3.0], [-3.0, -3.0]], precisions_init=prec, max_iter=5, tol=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours = quiet(fm.GaussianMixture(device="cpu", **kw).fit, X)
    collapse = [w for w in caught if "collapsed" in str(w.message)]
    assert len(collapse) == 1 and issubclass(collapse[0].category, RuntimeWarning)
    assert "components [0] collapsed" in str(collapse[0].message) and "reg_covar = 1e-06" in str(collapse[0].message)
    assert collapse[0].filename == __file__  # attributed to the caller
    theirs = quiet(sk.GaussianMixture(**kw).fit, X)
    assert_attrs_close(ours, theirs, ["weights_", "means_"])
    # The collapsed covariance: reg_covar plus rounding of the scatter (the duplicates are exact).
    c0 = ref.full_covariances(ours.covariances_, covariance_type, 2, 2)[0]
    assert_allclose(c0, 1e-6 * np.eye(2), rtol=0, atol=1e-12)
    assert np.isfinite(ours.score_samples(X)).all()


def test_collapse_warns_for_a_constant_feature_with_tied_covariance(rng):
    X = np.column_stack([rng.normal(size=50), np.full(50, 2.0)])
    with pytest.warns(RuntimeWarning, match="the tied covariance collapsed"):
        m = quiet(fm.GaussianMixture(2, covariance_type="tied", random_state=0, device="cpu").fit, X)
    assert_allclose(m.covariances_[1, 1], 1e-6, rtol=1e-6, atol=0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_no_collapse_warning_on_well_spread_data(rng, covariance_type, dtype):
    """Clusters far from the data mean (the moments subtract large numbers) still do not warn."""
    X = blobs(rng, 4, 3, 400) + 50.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        quiet(fm.GaussianMixture(4, covariance_type=covariance_type, random_state=0, device="cpu", dtype=dtype).fit, X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_identical_rows_in_float32_give_a_finite_fit(covariance_type):
    """All rows equal, reg_covar=0, float32: every covariance is 0; the floor stays inside float32
    (its precision factor finite there), so the fit is finite and warns, never inf or NaN."""
    X = np.full((12, 2), 1.5)
    with pytest.warns(RuntimeWarning, match="ill-defined covariance"):
        m = quiet(fm.GaussianMixture(2, covariance_type=covariance_type, reg_covar=0.0, random_state=0, device="cpu",
                                     dtype=np.float32).fit, X)
    for name in GMM_ATTRS:
        assert np.isfinite(getattr(m, name)).all(), name
    assert np.isfinite(m.score_samples(X)).all() and np.isfinite(m.lower_bound_)


@pytest.mark.parametrize("scale", [1e40, 1e-150])
def test_float32_refuses_data_outside_its_range(rng, scale):
    """Beyond float32's largest number the data would be inf; below its normal range they lose all
    their digits (a silent fit of zeros): a ValueError naming X and the way out (float64)."""
    X = blobs(rng, 2, 2, 60) * scale
    with pytest.raises(ValueError, match="X: the data about their column mean spans up to.*use dtype=np.float64"):
        fm.GaussianMixture(2, device="cpu", dtype=np.float32).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        m64 = fm.GaussianMixture(2, random_state=0, device="cpu", dtype=np.float64).fit(X)  # float64 holds them
    assert np.isfinite(m64.score_samples(X)).all()
    m = fm.GaussianMixture(2, random_state=0, device="cpu", dtype=np.float32).fit(blobs(rng, 2, 2, 60))
    with pytest.raises(ValueError, match="X: the data spans up to"):
        m.score_samples(np.array([[1e39, 0.0]]))


def test_float32_moments_overflow_is_a_named_error(rng):
    """Data inside float32's range whose sums of squares are not (|x - mean| ~ 3e18 over 200 rows: each
    square ~1e37, their sums ~1e39 > 3.4e38): a ValueError naming X and float64, where the fit used to
    run on inf moments to -inf scores. (Scaled by the data's own spread: a fixed factor left some draws'
    sums just under the float32 maximum.)"""
    X = blobs(rng, 2, 2, 200)
    X *= 3e18 / X.std()
    with pytest.raises(ValueError, match="X: the weighted moments of the data overflow float32.*dtype=np.float64"):
        fm.GaussianMixture(2, random_state=0, device="cpu", dtype=np.float32).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        m = fm.GaussianMixture(2, random_state=0, device="cpu", dtype=np.float64).fit(X)
    assert np.isfinite(m.score_samples(X)).all()


def test_overflowing_log_density_is_a_named_error():
    """A point whose distance to a mean overflows float32 (x - mu = inf, times a zero entry of the
    precision factor = NaN): score_samples, predict_proba and predict raise, never return NaN."""
    m = fm.GaussianMixture(1, covariance_type="full", device="cpu", dtype=np.float32)
    m.weights_, m.means_ = np.array([1.0]), np.array([[-3e38, 0.0]])
    m.precisions_cholesky_, m.covariances_ = np.eye(2)[None], np.eye(2)[None]
    X = np.array([[0.0, 0.0], [3e38, 0.0]])
    for call in (m.score_samples, m.predict_proba, m.predict):
        with pytest.raises(ValueError, match="X: the component log-densities of row 1 overflowed"):
            call(X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_guard_resets_precisions_beyond_the_kernel_dtype(covariance_type):
    """Variances that pass Cholesky but whose precision overflows float32 (1e-40) are reset and
    reported, as non-positive-definite ones are; in float64 the same variances are kept."""
    from fastgen.mixture._gaussian import precision_cholesky_guarded
    D = 2
    cov = {"full": np.array([np.eye(D), 1e-40 * np.eye(D)]), "tied": 1e-40 * np.eye(D),
           "diag": np.array([[1.0, 1.0], [1.0, 1e-40]]), "spherical": np.array([1.0, 1e-40])}[covariance_type]
    P, used, bad = precision_cholesky_guarded(cov, covariance_type, 0.5, np.float32)
    assert bad.tolist() == ([0] if covariance_type == "tied" else [1])
    assert np.isfinite(P.astype(np.float32) ** 2).all()
    P64, used64, bad64 = precision_cholesky_guarded(cov, covariance_type, 0.5, np.float64)
    assert bad64.size == 0 and np.array_equal(used64, cov)


def test_component_without_mass_keeps_its_parameters(rng):
    """A zero initial weight gives the component no responsibility: its mean and covariance are
    kept (warning), its weight goes to ~0, and nothing becomes NaN."""
    X = blobs(rng, 2, 2, 200)
    means0 = np.array([[-1.0, 0.0], [1.0, 0.0], [50.0 + rng.random(), 50.0 - rng.random()]])
    prec0 = np.tile(np.eye(2), (3, 1, 1))
    with pytest.warns(RuntimeWarning, match=r"components \[2\] received no responsibility mass"):
        m = quiet(fm.GaussianMixture(3, weights_init=[0.5, 0.5, 0.0], means_init=means0, precisions_init=prec0,
                                     max_iter=3, device="cpu").fit, X)
    assert_array_equal(m.means_[2], means0[2])
    assert_allclose(m.covariances_[2], np.eye(2), rtol=1e-15, atol=0)
    assert m.weights_[2] < 1e-12
    assert np.isfinite(m.score_samples(X)).all()


# =================================================================================================
# (e) Devices
# =================================================================================================

def test_device_cuda_without_gpu_raises(rng):
    if _backend.cuda_usable():
        pytest.skip("a CUDA device (or the simulator) is usable here")
    X = blobs(rng, 2, 2, 50)
    with pytest.raises(RuntimeError, match="device='cuda' was requested but no usable CUDA GPU was found"):
        fm.GaussianMixture(2, device="cuda").fit(X)
    m = fm.GaussianMixture(2, device="cpu").fit(X)
    m.device = "cuda"
    with pytest.raises(RuntimeError, match="device='cuda' was requested"):
        m.predict(X)


def test_device_auto_runs_without_gpu(rng):
    if _backend.cuda_usable():
        pytest.skip("a CUDA device (or the simulator) is usable here")
    X = blobs(rng, 2, 2, 50)
    a = fm.GaussianMixture(2, random_state=0, device="auto").fit(X)
    b = fm.GaussianMixture(2, random_state=0, device="cpu").fit(X)
    assert a.score(X) == b.score(X)


@pytest.mark.cuda
@pytest.mark.skipif(not _backend.cuda_usable(), reason="no usable CUDA device or simulator")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_cuda_matches_cpu(covariance_type, dtype):
    """The whole fit, inference and sampling on the CUDA kernels (the simulator in CI: tiny sizes)
    equal the CPU's: rtol 1e-10 in float64, 1e-4 in float32; samples from the same Philox numbers."""
    rng = np.random.default_rng(7)
    X = blobs(rng, 2, 2, 24)
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    for cls in (fm.GaussianMixture, fm.BayesianGaussianMixture):
        kw = dict(n_components=2, covariance_type=covariance_type, init_params="k-means++", max_iter=3, tol=0,
                  random_state=5, dtype=dtype)
        c = quiet(cls(device="cpu", **kw).fit, X)
        g = quiet(cls(device="cuda", **kw).fit, X)
        assert_allclose(g.lower_bounds_, c.lower_bounds_, rtol=rtol, atol=0)
        for name in GMM_ATTRS:
            assert_allclose(getattr(g, name), getattr(c, name), rtol=rtol,
                            atol=rtol * np.abs(getattr(c, name)).max(), err_msg=name)
        assert_allclose(g.score_samples(X), c.score_samples(X), rtol=rtol, atol=0)
        assert_allclose(g.predict_proba(X), c.predict_proba(X), rtol=0, atol=rtol)
        assert_array_equal(g.predict(X), c.predict(X))
        Xg, yg = g.sample(7)
        Xc, yc = c.sample(7)
        assert_array_equal(yg, yc)
        assert_allclose(Xg, Xc, rtol=rtol, atol=rtol)


@pytest.mark.cuda
@pytest.mark.skipif(not _backend.cuda_usable(), reason="no usable CUDA device or simulator")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cuda_kmeans_init_runs_on_the_device_and_matches_cpu(dtype, monkeypatch):
    """init_params='kmeans' (the default): Lloyd's distances run in the CUDA kernel on the device
    copy of the data (never fastgen._core), and give the CPU's labels, hence the same fit."""
    from fastgen import _core
    rng = np.random.default_rng(9)
    X = blobs(rng, 2, 2, 20)
    kw = dict(n_components=2, covariance_type="diag", init_params="kmeans", max_iter=2, tol=0, random_state=3,
              dtype=dtype)
    c = quiet(fm.GaussianMixture(device="cpu", **kw).fit, X)
    def cpu_kernel(*args):
        raise AssertionError("a CPU k-means kernel ran during a device='cuda' fit")
    for name in ("kmeans_assign", "kmeans_plusplus"):
        monkeypatch.setattr(_core.mixture, name, cpu_kernel)
    g = quiet(fm.GaussianMixture(device="cuda", **kw).fit, X)
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    assert_allclose(g.lower_bounds_, c.lower_bounds_, rtol=rtol, atol=0)
    assert_allclose(g.means_, c.means_, rtol=rtol, atol=rtol)


@pytest.mark.cuda
@pytest.mark.skipif(not _backend.cuda_usable(), reason="no usable CUDA device or simulator")
def test_cuda_accepts_device_arrays():
    from numba import cuda
    rng = np.random.default_rng(8)
    X = blobs(rng, 2, 2, 16)
    kw = dict(n_components=2, init_params="random", max_iter=2, tol=0, random_state=1)
    a = quiet(fm.GaussianMixture(device="cuda", **kw).fit, cuda.to_device(X))
    b = quiet(fm.GaussianMixture(device="cpu", **kw).fit, X)
    assert_allclose(a.means_, b.means_, rtol=1e-10, atol=1e-12)
    assert_allclose(a.score_samples(cuda.to_device(X)), b.score_samples(X), rtol=1e-10, atol=0)


# =================================================================================================
# (f) Bad input: each case asserts the exception type and a message fragment
# =================================================================================================

def _gm(**kw):
    kw.setdefault("device", "cpu")
    return fm.GaussianMixture(**kw)


def _bgm(**kw):
    kw.setdefault("device", "cpu")
    return fm.BayesianGaussianMixture(**kw)


BAD_DATA = [
    (np.array([[0.0, np.nan], [1.0, 2.0], [3.0, 1.0]]), ValueError,
     r"X: contains NaN or infinity \(first at index \(0, 1\)\)"),
    (np.array([[0.0, 1.0], [np.inf, 2.0], [3.0, 1.0]]), ValueError, "X: contains NaN or infinity"),
    (np.arange(6.0), ValueError, "X: expected a 2-D array of shape"),
    (np.zeros((0, 2)), ValueError, r"X: empty input \(0 samples\)"),
    (np.array([[1.0, 2.0]]), ValueError, "X: expected at least 2 samples to fit a mixture, got 1"),
    (np.array([["a", "b"], ["c", "d"]]), TypeError, "X: expected a numeric array"),
]


@pytest.mark.parametrize("make", [_gm, _bgm])
@pytest.mark.parametrize("X, exc, msg", BAD_DATA)
def test_bad_data(make, X, exc, msg):
    with pytest.raises(exc, match=msg):
        make(n_components=1).fit(X)


@pytest.mark.parametrize("make", [_gm, _bgm])
def test_fewer_samples_than_components(make):
    with pytest.raises(ValueError, match="X: expected n_samples >= n_components, got n_samples = 3, n_components = 4"):
        make(n_components=4).fit(np.arange(6.0).reshape(3, 2))


BAD_HYPER = [
    (dict(n_components=0), ValueError, "n_components: expected an integer >= 1, got 0"),
    (dict(n_components=2.5), ValueError, "n_components: expected an integer >= 1, got 2.5"),
    (dict(covariance_type="banded"), ValueError,
     r"covariance_type: expected one of \('spherical', 'diag', 'full', 'tied'\), got 'banded'"),
    (dict(tol=-1.0), ValueError, "tol: expected a number >= 0, got -1.0"),
    (dict(tol=float("nan")), ValueError, "tol: expected a number >= 0, got nan"),
    (dict(reg_covar=-1e-6), ValueError, "reg_covar: expected a number >= 0, got -1e-06"),
    (dict(max_iter=-1), ValueError, "max_iter: expected an integer >= 0, got -1"),
    (dict(max_iter=10.0), ValueError, "max_iter: expected an integer >= 0, got 10.0"),
    (dict(n_init=0), ValueError, "n_init: expected an integer >= 1, got 0"),
    (dict(init_params="kmeans++"), ValueError, "init_params: expected one of .*got 'kmeans\\+\\+'"),
    (dict(warm_start="yes"), ValueError, "warm_start: expected a bool, got 'yes'"),
    (dict(verbose=-1), ValueError, "verbose: expected a bool or an integer >= 0, got -1"),
    (dict(verbose_interval=0), ValueError, "verbose_interval: expected an integer >= 1, got 0"),
    (dict(random_state="seed"), ValueError, "random_state: expected None, an int or a numpy RandomState"),
    (dict(device="gpu"), ValueError, r"device must be one of \('cpu', 'cuda', 'auto'\), got 'gpu'"),
    (dict(dtype=np.float16), TypeError, "dtype must be float32 or float64, got float16"),
]


@pytest.mark.parametrize("make", [_gm, _bgm])
@pytest.mark.parametrize("kw, exc, msg", BAD_HYPER)
def test_bad_hyper_parameters(make, kw, exc, msg):
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(exc, match=msg):
        make(**kw).fit(X)


def _prec(ct, K=2, D=2):
    return {"full": np.tile(np.eye(D), (K, 1, 1)), "tied": np.eye(D), "diag": np.ones((K, D)),
            "spherical": np.ones(K)}[ct]


BAD_INIT = [
    (dict(weights_init=[0.5, 0.3, 0.2]), ValueError, r"weights_init: expected shape \(2,\), got \(3,\)"),
    (dict(weights_init=[1.2, -0.2]), ValueError, r"weights_init: weights must lie in \[0, 1\], got min -0.2"),
    (dict(weights_init=[0.5, 0.4]), ValueError, "weights_init: weights must sum to 1, got sum 0.9"),
    (dict(weights_init=[np.nan, 0.5]), ValueError, "weights_init: contains NaN or infinity"),
    (dict(weights_init=["a", "b"]), TypeError, "weights_init: expected a numeric array"),
    (dict(weights_init="uniform"), ValueError, "weights_init: expected None or an array, got 'uniform'"),
    (dict(means_init=np.zeros((2, 3))), ValueError, r"means_init: expected shape \(2, 2\), got \(2, 3\)"),
    (dict(means_init=np.zeros(2)), ValueError, r"means_init: expected shape \(2, 2\), got \(2,\)"),
    (dict(means_init=[[0, np.inf], [0, 0]]), ValueError, "means_init: contains NaN or infinity"),
    (dict(precisions_init=np.ones((2, 2))), ValueError, r"precisions_init: expected shape \(2, 2, 2\), got \(2, 2\)"),
    (dict(precisions_init=np.array([np.eye(2), [[1.0, 2.0], [2.0, 1.0]]])), ValueError,
     r"precisions_init: 'full' precision matrices must be positive-definite \(component 1\)"),
    (dict(precisions_init=np.array([np.eye(2), [[1.0, 0.5], [0.0, 1.0]]])), ValueError,
     r"precisions_init: 'full' precision matrices must be symmetric \(component 1\)"),
    (dict(covariance_type="tied", precisions_init=-np.eye(2)), ValueError,
     "precisions_init: 'tied' precision matrices must be positive-definite"),
    (dict(covariance_type="tied", precisions_init=np.ones((2, 2, 2))), ValueError,
     r"precisions_init: expected shape \(2, 2\), got \(2, 2, 2\)"),
    (dict(covariance_type="diag", precisions_init=[[1.0, 0.0], [1.0, 1.0]]), ValueError,
     "precisions_init: 'diag' precisions must be positive, got min 0.0"),
    (dict(covariance_type="diag", precisions_init=np.ones(2)), ValueError, r"precisions_init: expected shape \(2, 2\)"),
    (dict(covariance_type="spherical", precisions_init=[1.0, -2.0]), ValueError,
     "precisions_init: 'spherical' precisions must be positive, got min -2.0"),
    (dict(covariance_type="spherical", precisions_init=[1.0, np.nan]), ValueError, "precisions_init: contains NaN"),
]


@pytest.mark.parametrize("kw, exc, msg", BAD_INIT)
def test_bad_initial_parameters(kw, exc, msg):
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(exc, match=msg):
        _gm(n_components=2, **kw).fit(X)


BAD_PRIORS = [
    (dict(weight_concentration_prior_type="dirichlet"), ValueError,
     r"weight_concentration_prior_type: expected one of \('dirichlet_process', 'dirichlet_distribution'\), "
     r"got 'dirichlet'"),
    (dict(weight_concentration_prior=0.0), ValueError, "weight_concentration_prior: expected None or a number > 0, got 0.0"),
    (dict(weight_concentration_prior="a"), ValueError, "weight_concentration_prior: expected None or a number > 0, got 'a'"),
    (dict(mean_precision_prior=-1.0), ValueError, "mean_precision_prior: expected None or a number > 0, got -1.0"),
    (dict(mean_prior=[0.0, 0.0, 0.0]), ValueError, r"mean_prior: expected shape \(2,\), got \(3,\)"),
    (dict(mean_prior=[0.0, np.nan]), ValueError, "mean_prior: contains NaN or infinity"),
    (dict(degrees_of_freedom_prior=1.0), ValueError, "degrees_of_freedom_prior: expected a number > 1.0, got 1.0"),
    (dict(covariance_prior=np.eye(3)), ValueError, r"covariance_prior: expected shape \(2, 2\), got \(3, 3\)"),
    (dict(covariance_prior=[[1.0, 2.0], [2.0, 1.0]]), ValueError,
     "covariance_prior: 'full' covariance_prior must be positive-definite"),
    (dict(covariance_type="diag", covariance_prior=[1.0, -1.0]), ValueError,
     "covariance_prior: 'diag' covariance_prior must be positive, got min -1.0"),
    (dict(covariance_type="diag", covariance_prior=1.0), ValueError,
     r"covariance_prior: expected shape \(2,\), got \(\)"),
    (dict(covariance_type="spherical", covariance_prior=0.0), ValueError,
     "covariance_prior: expected None, a number > 0 or an array, got 0.0"),
    (dict(covariance_type="spherical", covariance_prior=np.float64(-1.0)), ValueError,
     "covariance_prior: 'spherical' covariance_prior must be positive, got -1.0"),
]


@pytest.mark.parametrize("kw, exc, msg", BAD_PRIORS)
def test_bad_bayesian_priors(kw, exc, msg):
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(exc, match=msg):
        _bgm(n_components=2, **kw).fit(X)


@pytest.mark.parametrize("make", [_gm, _bgm])
def test_unfitted_and_mismatched_inputs(make):
    X = np.random.default_rng(0).normal(size=(20, 2))
    m = make(n_components=2)
    for call in (lambda: m.predict(X), lambda: m.predict_proba(X), lambda: m.score(X), lambda: m.sample(3)):
        with pytest.raises(fm.NotFittedError, match="instance is not fitted yet"):
            call()
    assert issubclass(fm.NotFittedError, ValueError) and issubclass(fm.NotFittedError, AttributeError)
    m.fit(X)
    with pytest.raises(ValueError, match="X: expected 2 features, got 3"):
        m.predict(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="X: contains NaN or infinity"):
        m.score_samples(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match="n_samples: expected a positive integer, got 0"):
        m.sample(0)
    with pytest.raises(ValueError, match="n_samples: expected a positive integer, got 2.0"):
        m.sample(2.0)
