"""fastgen.mixture estimators on degenerate components and extreme data: a warning and finite
parameters, or a named error, never NaN or a hard failure. Problems and tolerances:
mixture_cases.py.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from conftest import precision_cholesky_upper, random_covars
from fastgen import mixture as fm
from reference import mixture_em as ref
from mixture_cases import assert_attrs_close, blobs, COVARIANCE_TYPES, explicit_start, fit_both, GMM_ATTRS, sk


# mixture_cases.quiet, repeated here: fastgen attributes its warnings to the caller of fit, and
# test_collapse_with_reg_covar_warns_and_matches_sklearn checks that the caller is this file.
def quiet(fn, *args, **kw):
    """Call without scikit-learn's (or fastgen's) ConvergenceWarning for runs cut at max_iter."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=fm.ConvergenceWarning)
        warnings.filterwarnings("ignore", message="Best performing initialization did not converge")
        return fn(*args, **kw)


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


@pytest.mark.slow
@pytest.mark.parametrize("cls_name", ["GaussianMixture", "BayesianGaussianMixture"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_constant_feature_fits_to_the_end_as_sklearn(rng, cls_name, covariance_type):
    """A constant feature: every covariance is singular before reg_covar, which keeps it
    positive-definite as in scikit-learn, so EM runs its max_iter iterations (never stopping on
    a Cholesky failure) and follows scikit-learn's from the same start.

    Tolerance: along the constant feature the variance is reg_covar = 1e-6 (less for a light
    Bayesian component); scikit-learn forms its diag/spherical/tied covariances from raw moments,
    whose rounding there (|x|^2 eps, ~1e-14 for these data) is ~1e-8 of that variance, and reaches
    the other parameters through the 1e6 precision; fastgen works about the data mean (exactly 0
    scatter along that feature). Seen over 100 seeds: up to 4.6e-7 relative on such a precision
    (3.9e8), and 8e-9 absolute on a mean near 0 of data at scale 6. So rtol 1e-6 with an absolute
    floor of 1e-7 of each attribute's scale (rtol 1e-7 alone failed 5 seeds in 30)."""
    X = np.column_stack([blobs(rng, 3, 2, 300), np.full(300, 1.5)])
    kw = dict(n_components=3, covariance_type=covariance_type, max_iter=20, tol=0)
    if cls_name == "GaussianMixture":
        kw.update(explicit_start(rng, X, 3, covariance_type))
    else:
        kw.update(init_params="random", random_state=int(rng.integers(1 << 31)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # fastgen's note on the collapsed feature
        ours, theirs = fit_both(cls_name, X, **kw)
    assert ours.n_iter_ == theirs.n_iter_ == 20
    # (scikit-learn's tied variational bounds are 1-element arrays)
    assert_allclose(ours.lower_bounds_, np.ravel(theirs.lower_bounds_), rtol=1e-7, atol=0)
    assert_attrs_close(ours, theirs, GMM_ATTRS, rtol=1e-6, atol_rel=1e-7)
    if cls_name == "GaussianMixture" and covariance_type != "spherical":
        cov = ref.full_covariances(ours.covariances_, covariance_type, 3, 3)
        assert_allclose(cov[:, 2, 2], 1e-6, rtol=1e-9)  # reg_covar alone along the constant feature
