"""hmmlearn's and scikit-learn's conventions that a drop-in must keep beyond the numbers: the
covariance shapes hmmlearn's setters accept, the dtype-following tolerance of the stochastic
checks, hmmlearn's "will be overwritten" log record, and scikit-learn's estimator checks.
"""
from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastgen import hmm as fhmm

K, D = 2, 3


def _gaussian(covariance_type, covars, **kw):
    m = fhmm.GaussianHMM(K, covariance_type, device="cpu", random_state=0, **kw)
    m.startprob_ = np.array([0.6, 0.4])
    m.transmat_ = np.array([[0.7, 0.3], [0.2, 0.8]])
    m.means_ = np.array([[0.0, 1.0, -1.0], [3.0, 2.0, 4.0]])
    m.covars_ = covars
    return m


# -- covars_ takes every shape hmmlearn's setter accepts (and its model can use) --------------------

SPHERICAL = np.array([0.5, 2.0])
DIAG = np.array([[0.5, 0.5, 0.5], [2.0, 2.0, 2.0]])
SHAPES = [
    # spherical: any n_components rows (hmmlearn checks only len == n_components)
    ("spherical", SPHERICAL, SPHERICAL),
    ("spherical", SPHERICAL[:, None], SPHERICAL),
    ("spherical", SPHERICAL.reshape(K, 1, 1, 1), SPHERICAL),
    ("spherical", np.repeat(SPHERICAL[:, None], D, axis=1), SPHERICAL),  # hmmlearn's own storage
    # diag, full: shapes hmmlearn's densities broadcast
    ("diag", SPHERICAL[:, None], DIAG),
    ("diag", np.array([[0.5, 1.0, 2.0]]), np.tile([0.5, 1.0, 2.0], (K, 1))),
    ("diag", np.array([[2.0]]), np.full((K, D), 2.0)),
    ("full", 2.0 * np.eye(D)[None], np.tile(2.0 * np.eye(D), (K, 1, 1))),
]


@pytest.mark.parametrize("covariance_type, given, compact", SHAPES)
def test_covars_shapes_hmmlearn_accepts(rng, covariance_type, given, compact):
    """The model with covars_ given in another accepted shape scores, decodes and samples exactly
    as the model given the compact shape (hmmlearn refused none of these in its setter; its own
    sample() refused spherical (K, 1, 1, 1))."""
    ours, ref = _gaussian(covariance_type, given), _gaussian(covariance_type, compact)
    X = rng.normal(size=(30, D))
    assert ours.score(X) == ref.score(X)
    assert_array_equal(ours.predict(X), ref.predict(X))
    for a, b in zip(ours.sample(10, random_state=1), ref.sample(10, random_state=1)):
        assert_array_equal(a, b)
    assert_array_equal(ours.covars_, ref.covars_)
    assert ours.covars_.shape == (K, D, D)


@pytest.mark.slow
@pytest.mark.parametrize("covariance_type, given, compact",
                         [s for s in SHAPES if s[1].ndim <= 2 and (s[0] == "spherical" or s[1].shape[-1] == D)])
def test_covars_shapes_score_as_hmmlearn(rng, covariance_type, given, compact):
    """Where hmmlearn scores a model set up with these shapes, both scores agree. (Its sample()
    refuses some; its diag density with (n, 1) variances adds one log-variance instead of D, an
    unnormalised density, so those shapes are compared with the compact form only, above.)"""
    hmm = pytest.importorskip("hmmlearn.hmm")
    ours = _gaussian(covariance_type, given)
    theirs = hmm.GaussianHMM(K, covariance_type)
    for name in ("startprob_", "transmat_", "means_"):
        setattr(theirs, name, getattr(ours, name))
    theirs.covars_ = given
    theirs.n_features = D
    X = rng.normal(size=(30, D))
    assert_allclose(ours.score(X), theirs.score(X), rtol=1e-10)


@pytest.mark.parametrize("covariance_type, given, msg", [
    ("spherical", np.ones(3), r"'spherical' covariances need shape \(2,\), got \(3,\)"),
    ("diag", np.ones((3, D)), r"'diag' covariances need shape \(2, 3\), got \(3, 3\)"),
    ("diag", np.ones(K), r"'diag' covariances need shape \(2, 3\), got \(2,\)"),
    ("full", np.ones((K, 1, D, D)), r"'full' covariances need shape \(2, 3, 3\), got \(2, 1, 3, 3\)"),
    ("tied", np.ones((1, D, D)), r"'tied' covariances need shape \(3, 3\), got \(1, 3, 3\)"),
])
def test_covars_shapes_nobody_can_use_are_refused(rng, covariance_type, given, msg):
    m = _gaussian(covariance_type, given)
    with pytest.raises(ValueError, match="covars_: " + msg):
        m.sample(3)


# -- stochastic checks: tolerances follow the dtype ------------------------------------------------

def _float32_normalised(n):
    """n float32 probabilities normalised in float32: their exact sum misses 1 by float32 rounding."""
    p = np.full(n, 1.0 / n, dtype=np.float32)
    assert p.astype(np.float64).sum() != 1.0
    return p


def test_float32_normalised_parameters_are_accepted(rng):
    """startprob_, transmat_ (any HMM), weights_ (GMMHMM), emissionprob_ (CategoricalHMM) given in
    float32 as float32 normalises them."""
    X = rng.normal(size=(30, D))
    start, trans = _float32_normalised(3), np.tile(_float32_normalised(3), (3, 1))
    m = fhmm.GaussianHMM(3, device="cpu")
    m.startprob_, m.transmat_, m.means_, m.covars_ = start, trans, rng.normal(size=(3, D)), np.ones((3, D))
    assert np.isfinite(m.score(X))
    g = fhmm.GMMHMM(3, n_mix=7, device="cpu")
    g.startprob_, g.transmat_ = start, trans
    g.means_, g.covars_ = rng.normal(size=(3, 7, D)), np.ones((3, 7, D))
    g.weights_ = np.tile(_float32_normalised(7), (3, 1))
    assert np.isfinite(g.score(X))
    c = fhmm.CategoricalHMM(3, device="cpu")
    c.startprob_, c.transmat_ = start, trans
    c.emissionprob_ = np.tile(_float32_normalised(7), (3, 1))
    assert np.isfinite(c.score(rng.integers(0, 7, size=(30, 1))))


@pytest.mark.parametrize("error, dtype, accepted", [
    (5e-6, np.float64, True),      # within hmmlearn's np.allclose(sums, 1) (1e-8 + 1e-5)
    (2e-5, np.float64, False),     # beyond it: refused, as hmmlearn refuses
    (2e-5, np.float32, True),      # 1000 float32 entries: up to 1000 eps32 ~ 1.2e-4 of rounding
    (5e-4, np.float32, False),
])
def test_stochastic_tolerance_follows_the_dtype(error, dtype, accepted):
    n = 1000
    p = np.full(n, (1.0 + error) / n).astype(dtype)
    m = fhmm.CategoricalHMM(1, device="cpu")
    m.startprob_, m.transmat_ = np.ones(1), np.ones((1, 1))
    m.emissionprob_ = p[None]
    X = np.arange(10)[:, None]
    if accepted:
        assert np.isfinite(m.score(X))
        assert np.isfinite(m.score(X))  # and again, from the float64 parameter the first call stored
    else:
        with pytest.raises(ValueError, match=r"emissionprob_: rows must sum to 1, got sums \[1\.000"):
            m.score(X)


# -- hmmlearn's "will be overwritten" record ----------------------------------------------------------

def _overwrite_messages(caplog, module, cls, attrs, X, **kw):
    m = getattr(module, cls)(2, n_iter=1, random_state=0, **kw)
    for name, value in attrs.items():
        setattr(m, name, value)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        m.fit(X)
    return sorted(r.getMessage() for r in caplog.records if "overwritten" in r.getMessage())


@pytest.mark.parametrize("cls, attrs", [
    ("GaussianHMM", {"startprob_": np.array([0.5, 0.5]), "transmat_": np.full((2, 2), 0.5),
                     "means_": np.zeros((2, 3)), "covars_": np.ones((2, 3))}),
    ("GMMHMM", {"weights_": np.ones((2, 1)), "means_": np.zeros((2, 1, 3))}),
])
def test_overwritten_parameters_are_logged_as_hmmlearn_logs_them(rng, caplog, cls, attrs):
    """A parameter set before fit while its letter is in init_params: hmmlearn logs (logging, not
    warnings) one record per parameter; fastgen logs the same text, from fastgen.hmm."""
    X = rng.normal(size=(40, 3))
    ours = _overwrite_messages(caplog, fhmm, cls, attrs, X, device="cpu")
    assert ours == sorted(f"Even though the {name!r} attribute is set, it will be overwritten during "
                          f"initialization because 'init_params' contains {name[0]!r}"
                          for name in attrs)
    assert all(r.name.startswith("fastgen.hmm") for r in caplog.records if "overwritten" in r.getMessage())
    hmm = pytest.importorskip("hmmlearn.hmm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert _overwrite_messages(caplog, hmm, cls, attrs, X) == ours
    # Not when the letter is left out of init_params (the value is used), nor on a fresh model.
    letters = "".join(sorted({"s", "t", "m", "c", "w"} - {n[0] for n in attrs}))
    assert _overwrite_messages(caplog, fhmm, cls, attrs, X, device="cpu", init_params=letters) == []
    assert _overwrite_messages(caplog, fhmm, cls, {}, X, device="cpu") == []


# -- scikit-learn's estimator checks ------------------------------------------------------------------

def _failed_checks(estimator):
    from sklearn.utils.estimator_checks import check_estimator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            results = check_estimator(estimator, on_fail=None)
        finally:
            logging.disable(logging.NOTSET)
    return {r["check_name"]: r["exception"] for r in results if r["status"] == "failed"}


@pytest.mark.slow
@pytest.mark.parametrize("cls", ["GaussianHMM", "GMMHMM"])
def test_sklearn_estimator_checks_pass_where_hmmlearns_do(cls):
    """Every check hmmlearn passes, and check_no_attributes_set_in_init (monitor_ is made by fit).
    The others fail for hmmlearn and fastgen alike because the checks pass y positionally where
    both take lengths (fit(X, lengths) stays as hmmlearn has it): each such failure is a lengths
    error, or (check_positive_only_tag_during_fit, check_fit2d_1feature) a check that finds a
    lengths error where it expected another message."""
    hmm = pytest.importorskip("hmmlearn.hmm")
    ours = _failed_checks(getattr(fhmm, cls)(device="cpu"))
    theirs = _failed_checks(getattr(hmm, cls)())
    assert "check_no_attributes_set_in_init" in theirs
    assert set(ours) <= set(theirs) - {"check_no_attributes_set_in_init"}
    for name, exc in ours.items():
        chain = [exc, exc.__cause__, exc.__context__]
        assert any("lengths" in str(e) for e in chain if e is not None), (name, exc)


@pytest.mark.parametrize("cls", ["GaussianHMM", "GMMHMM"])
def test_fitted_only_after_fit(rng, cls):
    """scikit-learn's check_fit_check_is_fitted, with lengths in place of its y: no fitted
    attribute (monitor_ included) before fit; monitor_ after it, as before."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted
    m = getattr(fhmm, cls)(device="cpu", n_iter=3, random_state=0)
    assert not hasattr(m, "monitor_")
    with pytest.raises(NotFittedError):
        check_is_fitted(m)
    m.fit(rng.normal(size=(40, 2)))
    check_is_fitted(m)
    assert isinstance(m.monitor_, fhmm.ConvergenceMonitor) and m.monitor_.iter == m.n_iter_ > 0
