"""Covariances that EM leaves singular (a constant feature, a state collapsed on one point): the
Gaussian HMMs regularise them in the density as hmmlearn does (fastgen._gaussian), so EM runs to
the end instead of stopping on "covars_: covariance matrices must be positive-definite", and the
fit follows hmmlearn's.

The problem: a constant feature and one isolated point, which the state (or mixture component)
started on it takes alone. That state's posterior mass is exactly 1 at that point and exactly 0
elsewhere (the other states' densities underflow there), so its scatter is exactly 0 and its
covariance is exactly the prior term over 1: 0.01 * ones((D, D)) for a full covariance
(covars_prior=1e-2 added to every entry, hmmlearn's MAP update), rank one, whose Cholesky
factorisation fails in any LAPACK (the second pivot, 0.01 - fl(0.1)^2, is negative). hmmlearn then
factors it with 1e-7 on the diagonal (hmmlearn.stats); so does fastgen.

Tolerances: the two libraries run the same float64 algorithms in a different order; the fitted
parameters agree to ~1e-14 here (rtol 1e-8 leaves room for the 1e7 precision along the regularised
direction, which multiplies rounding differences in the frames near that state).
"""
from __future__ import annotations

import logging
import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastgen import hmm as fhmm
from fastgen._gaussian import (CHOLESKY_JITTER, precision_cholesky, regularised_cholesky,
                               regularised_precision_cholesky)
from hmm_estimator_cases import COVARIANCE_TYPES, fitted_params

RTOL = 1e-8


def _problem(rng, N=200, D=3):
    """Two clusters with a constant last feature, and row 50 moved far away (features but the last)."""
    X = rng.normal(size=(N, D))
    X[N // 2:] += 3.0
    X[:, -1] = 1.5
    X[50, :-1] = 40.0
    return X


def _quiet(fn, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)  # hmmlearn's "Model is not converging" chatter
        try:
            return fn(*args)
        finally:
            logging.disable(logging.NOTSET)


def test_regularised_cholesky_is_hmmlearns_fallback(rng):
    """Positive-definite stacks: exactly np.linalg.cholesky. A singular matrix in the stack: the
    factor of itself plus 1e-7 I, the others untouched. Indefinite beyond that: a named error."""
    A = rng.normal(size=(4, 3, 3))
    spd = A @ np.swapaxes(A, 1, 2) + 0.1 * np.eye(3)
    assert_array_equal(regularised_cholesky(spd), np.linalg.cholesky(spd))
    singular = spd.copy()
    singular[2] = 0.01 * np.ones((3, 3))
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.cholesky(singular[2])
    L = regularised_cholesky(singular)
    assert_array_equal(L[[0, 1, 3]], np.linalg.cholesky(spd[[0, 1, 3]]))
    assert_array_equal(L[2], np.linalg.cholesky(singular[2] + CHOLESKY_JITTER * np.eye(3)))
    P = regularised_precision_cholesky(singular)
    assert_allclose(P[2] @ P[2].T, np.linalg.inv(singular[2] + CHOLESKY_JITTER * np.eye(3)), rtol=1e-6)
    with pytest.raises(ValueError, match="covariance matrices must be symmetric"):
        regularised_precision_cholesky(np.array([[1.0, 0.5], [0.0, 1.0]]))
    bad = spd.copy()
    bad[1] = -np.eye(3)
    with pytest.raises(ValueError, match=r"covars_: covariance matrices must be positive-definite \(matrix 1 is not, "
                                         r"even with 1e-07 added to its diagonal\)"):
        regularised_cholesky(bad)
    with pytest.raises(ValueError, match="must be positive-definite"):
        precision_cholesky(singular)  # the strict check (user-set covariances) is unchanged


def _gaussian_start(X, covariance_type):
    K, D = 3, X.shape[1]
    means = np.array([X[:100].mean(axis=0), X[100:].mean(axis=0), X[50]])
    covars = {"spherical": np.ones(K), "diag": np.ones((K, D)), "full": np.tile(np.eye(D), (K, 1, 1)),
              "tied": np.eye(D)}[covariance_type]
    return {"startprob_": np.full(K, 1 / K), "transmat_": np.full((K, K), 1 / K), "means_": means,
            "covars_": covars}


def _make(module, cls, start, **kw):
    m = getattr(module, cls)(**kw)
    for name, value in start.items():
        setattr(m, name, np.array(value, copy=True))
    return m


@pytest.mark.slow
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_gaussian_hmm_constant_feature_fits_to_the_end_as_hmmlearn(rng, covariance_type):
    hmm = pytest.importorskip("hmmlearn.hmm")
    X = _problem(rng)
    start = _gaussian_start(X, covariance_type)
    kw = dict(n_components=3, covariance_type=covariance_type, n_iter=10, tol=-np.inf, init_params="")
    ours = _quiet(_make(fhmm, "GaussianHMM", start, device="cpu", **kw).fit, X)
    theirs = _quiet(_make(hmm, "GaussianHMM", start, **kw).fit, X)
    assert len(ours.monitor_.history) == 10
    model = f"gaussian-{covariance_type}"
    a, b = fitted_params(ours, model), fitted_params(theirs, model, "hmmlearn")
    for name in a:
        assert_allclose(a[name], b[name], rtol=RTOL, atol=1e-12 * max(np.abs(b[name]).max(), 1.0), err_msg=name)
    assert_allclose(list(ours.monitor_.history), list(theirs.monitor_.history), rtol=RTOL)
    if covariance_type == "full":
        # The state on the isolated point: exactly the prior term, singular; used through 1e-7 I.
        assert_array_equal(ours.covars_[2], 0.01 * np.ones((3, 3)))
        with pytest.raises(ValueError, match="must be positive-definite"):
            precision_cholesky(ours.covars_[2])
    _usable_after_fit(ours, X)


def _usable_after_fit(model, X):
    """A fit whose covariances needed regularising still scores, decodes, samples and pickles."""
    score = model.score(X)
    assert np.isfinite(score)
    assert model.predict(X).shape == (len(X),)
    Xs, states = model.sample(20, random_state=0)
    assert np.isfinite(Xs).all() and states.shape == (20,)
    again = pickle.loads(pickle.dumps(model))
    assert again.score(X) == score
    _quiet(model.set_params(init_params="", n_iter=2).fit, X)  # EM continues from its own results


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_gaussian_hmm_default_fit_with_a_collapsing_state(rng, covariance_type):
    """The report of the issue: GaussianHMM(3, "full", random_state=0).fit(X) on data with a
    constant feature (k-means puts a state on the isolated point) runs all its iterations."""
    X = _problem(rng)
    m = _quiet(fhmm.GaussianHMM(3, covariance_type, random_state=0, device="cpu").fit, X)
    assert m.n_iter_ == 10 or m.monitor_.converged
    _usable_after_fit(m, X)


def test_user_set_singular_covariances_are_still_refused(rng):
    """Only the M-step's own results are regularised; a singular covariance set by the user is
    refused, as hmmlearn's covars_ setter refuses it (also after a fit)."""
    X = _problem(rng)
    m = _quiet(fhmm.GaussianHMM(3, "full", n_iter=3, random_state=0, device="cpu").fit, X)
    m.covars_ = np.tile(0.01 * np.ones((3, 3)), (3, 1, 1))
    with pytest.raises(ValueError, match="covars_: covariance matrices must be positive-definite"):
        m.score(X)
    g = _quiet(fhmm.GMMHMM(2, 2, covariance_type="full", n_iter=3, random_state=0, device="cpu").fit, X)
    g.covars_ = np.tile(0.01 * np.ones((3, 3)), (2, 2, 1, 1))
    with pytest.raises(ValueError, match="covars_: covariance matrices must be positive-definite"):
        g.score(X)


def _gmm_start(X, covariance_type, K=1, M=2):
    D = X.shape[1]
    means = np.array([[X[100:].mean(axis=0), X[50]]])
    covars = {"spherical": np.ones((K, M)), "diag": np.ones((K, M, D)), "full": np.tile(np.eye(D), (K, M, 1, 1)),
              "tied": np.tile(np.eye(D), (K, 1, 1))}[covariance_type]
    return {"startprob_": np.ones(K), "transmat_": np.ones((K, K)), "means_": means, "covars_": covars,
            "weights_": np.full((K, M), 1 / M)}


@pytest.mark.slow
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_gmm_hmm_constant_feature_fits_to_the_end_as_hmmlearn(rng, covariance_type):
    """One state, a mixture component on the isolated point. The priors that keep its covariance
    away from exactly 0 (hmmlearn's GMMHMM defaults leave it 0 there, which hmmlearn floors at the
    smallest float: a density of rounding noise): covars_prior 1e-2 on full and tied matrices
    (singular, regularised as above), covars_weight 1e-2 on diagonal variances."""
    hmm = pytest.importorskip("hmmlearn.hmm")
    X = _problem(rng)
    prior = dict(covars_prior=1e-2) if covariance_type in ("full", "tied") else dict(covars_weight=1e-2)
    kw = dict(n_components=1, n_mix=2, covariance_type=covariance_type, n_iter=10, tol=-np.inf, init_params="",
              **prior)
    start = _gmm_start(X, covariance_type)
    ours = _quiet(_make(fhmm, "GMMHMM", start, device="cpu", **kw).fit, X)
    theirs = _quiet(_make(hmm, "GMMHMM", start, **kw).fit, X)
    assert len(ours.monitor_.history) == 10
    for name in ("weights_", "means_", "covars_"):
        want = getattr(theirs, name)
        assert_allclose(getattr(ours, name), want, rtol=RTOL, atol=1e-12 * np.abs(want).max(), err_msg=name)
    assert_allclose(list(ours.monitor_.history), list(theirs.monitor_.history), rtol=RTOL)
    if covariance_type == "full":
        with pytest.raises(ValueError, match="must be positive-definite"):
            precision_cholesky(ours.covars_[0, 1])
    _usable_after_fit(ours, X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_gmm_hmm_default_priors_fit_to_the_end(rng, covariance_type):
    """hmmlearn's default GMMHMM priors on the same data: covariances exactly singular (full,
    tied) or variances exactly 0 (diag, spherical: floored at the smallest normal number in the
    density, as hmmlearn does). EM runs to the end with finite parameters (hmmlearn's own fit
    turns NaN here with two states)."""
    X = _problem(rng)
    m = _quiet(fhmm.GMMHMM(2, 2, covariance_type=covariance_type, random_state=0, device="cpu").fit, X)
    assert m.n_iter_ == 10 or m.monitor_.converged
    for name in ("startprob_", "transmat_", "weights_", "means_", "covars_"):
        assert np.isfinite(getattr(m, name)).all(), name
    _usable_after_fit(m, X)
