"""The HMMs on data and requests at the extremes (issue 14): data far from the origin fit as they
do at the origin (the Gaussian emissions fit about the data's column mean, BaseHMM._origin);
counts near 1e300 start and fit; every inference method refuses an impossible sequence alike;
requests too large for memory are refused before allocating, naming the argument; data whose
covariances overflow, or that no regularisation makes positive-definite, are blamed on X; a
log-likelihood below float64's range is score's -inf and the other methods' error.

Tolerances: a fit of X + 1e8 equals the fit of X shifted by 1e8 up to the rounding of X + 1e8
itself (1e8 * 2**-52 ~ 1.5e-8 absolute per element, ~1e-8 relative to unit-scale spreads), which
a few EM iterations on well-separated data carry to the parameters unamplified: 1e-6 relative on
covariances, 1e-6 absolute on means (before centring, hmmlearn's second moments lost all 16 digits
and the fit failed).
"""
from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from devices import small
from fastgen import hmm as fhmm

OFFSET = 1e8


def _two_regimes(rng, n, D=2):
    states = np.repeat([0, 1, 0, 1], n // 4)
    return rng.normal(size=(len(states), D)) + 4.0 * states[:, None]


@pytest.mark.parametrize("covariance_type", ["diag", "full", "spherical", "tied"])
def test_gaussian_fit_far_from_the_origin_is_the_shifted_fit(device, covariance_type, rng):
    X = _two_regimes(rng, small(device, 400, 40))
    kw = dict(n_components=2, covariance_type=covariance_type, n_iter=small(device, 5, 2), random_state=0,
              device=device)
    near, far = fhmm.GaussianHMM(**kw).fit(X), fhmm.GaussianHMM(**kw).fit(X + OFFSET)
    assert_allclose(far.means_ - OFFSET, near.means_, rtol=0, atol=1e-6)
    assert_allclose(far.covars_, near.covars_, rtol=1e-6)
    assert_allclose(far.transmat_, near.transmat_, rtol=1e-6, atol=1e-12)
    # scoring and decoding far from the origin use the kernels' differences x - mu: no centring needed
    assert_allclose(far.score(X + OFFSET), near.score(X), rtol=1e-6)
    assert (far.predict(X + OFFSET) == near.predict(X)).all()


def test_gmmhmm_fit_far_from_the_origin_is_the_shifted_fit(device, rng):
    X = _two_regimes(rng, small(device, 400, 40))
    kw = dict(n_components=2, n_mix=2, n_iter=small(device, 5, 2), random_state=0, device=device)
    near, far = fhmm.GMMHMM(**kw).fit(X), fhmm.GMMHMM(**kw).fit(X - OFFSET)
    assert_allclose(far.means_ + OFFSET, near.means_, rtol=0, atol=1e-6)
    assert_allclose(far.covars_, near.covars_, rtol=1e-6)
    assert_allclose(far.weights_, near.weights_, rtol=1e-6)


def test_means_prior_is_in_the_users_units(rng):
    """The MAP update moves the means towards means_prior given in the user's units, centred or not."""
    X = _two_regimes(rng, 200) + OFFSET
    kw = dict(n_components=2, n_iter=3, random_state=0, device="cpu", means_weight=1e6)
    m = fhmm.GaussianHMM(means_prior=OFFSET + 1.0, **kw).fit(X)
    assert_allclose(m.means_, OFFSET + 1.0, rtol=0, atol=1e-2)


def test_user_set_means_far_from_the_origin(rng):
    X = _two_regimes(rng, 200) + OFFSET
    m = fhmm.GaussianHMM(2, init_params="stc", n_iter=5, random_state=0, device="cpu")
    m.means_ = np.array([[OFFSET, OFFSET], [OFFSET + 4, OFFSET + 4]])
    m.fit(X)
    assert_allclose(np.sort(m.means_[:, 0]) - OFFSET, [0.0, 4.0], atol=0.3)


def test_poisson_counts_near_1e300_start_and_fit(rng):
    c = rng.poisson([2.0, 9.0], size=(100, 2)).astype(np.float64)
    m = fhmm.PoissonHMM(2, n_iter=3, random_state=0, device="cpu").fit(c * 1e300)
    assert np.isfinite(m.lambdas_).all() and np.isfinite(m.monitor_.history[-1])
    assert 1e299 < m.lambdas_.min() and m.lambdas_.max() < 1e302
    # counts below the scaling threshold start exactly as hmmlearn's formula
    lam = fhmm.PoissonHMM(2, n_iter=0, random_state=0, device="cpu").fit(c).lambdas_
    mean, var = c.mean(), c.var()
    want = np.random.RandomState(0)
    want.dirichlet(np.full(2, 0.5))
    want.dirichlet(np.full(2, 0.5), size=2)
    assert_allclose(lam, want.gamma(shape=mean ** 2 / var, scale=var / mean, size=(2, 2)), rtol=0)


def _impossible():
    m = fhmm.CategoricalHMM(2, init_params="", device="cpu")
    m.startprob_, m.transmat_, m.emissionprob_ = np.array([1.0, 0.0]), np.eye(2), np.eye(2)
    return m


@pytest.mark.parametrize("call, why", [
    (lambda m, X, L: m.predict(X, L), "no state path can emit it"),
    (lambda m, X, L: m.decode(X, L), "no state path can emit it"),
    (lambda m, X, L: m.decode(X, L, algorithm="map"), "posteriors are undefined"),
    (lambda m, X, L: m.predict_proba(X, L), "posteriors are undefined"),
    (lambda m, X, L: m.score_samples(X, L), "posteriors are undefined")])
def test_every_inference_method_refuses_an_impossible_sequence(call, why):
    X, lengths = np.array([[0], [0], [0], [1]]), [2, 2]
    assert _impossible().score(X, lengths) == -np.inf  # a probability: log 0 is the answer
    with pytest.raises(ValueError, match=f"X: sequence 1 has zero probability under the model .*; {why}"):
        call(_impossible(), X, lengths)


@pytest.mark.parametrize("make, call, name", [
    (lambda: fhmm.GaussianHMM(100_000, device="cpu"), lambda m, X: m.fit(X), "n_components"),
    (lambda: fhmm.GaussianHMM(3000, device="cpu"), lambda m, X: m.fit(np.tile(X, (20_000, 1))), "n_components"),
    (lambda: fhmm.CategoricalHMM(2, device="cpu"), lambda m, X: m.fit(np.array([[0], [10**9]])), "X: symbols up to"),
])
def test_oversized_requests_are_refused_before_allocating(make, call, name, rng):
    with pytest.raises(ValueError, match=f"{name}.* need .* GiB, more than the .* of memory this machine has"):
        call(make(), rng.normal(size=(30, 2)))


def test_oversized_samples_are_refused(rng):
    m = fhmm.GaussianHMM(2, n_iter=1, random_state=0, device="cpu").fit(rng.normal(size=(30, 2)))
    with pytest.raises(ValueError, match=r"n_samples: 10000000000 samples need .* GiB"):
        m.sample(10**10)


def test_a_large_vocabulary_samples_one_symbol_per_frame():
    # the memory check counts one symbol a frame, not a word per vocabulary entry (which refused this)
    M = 50_000
    m = fhmm.CategoricalHMM(1, n_features=M, init_params="", device="cpu")
    m.startprob_, m.transmat_, m.emissionprob_ = np.ones(1), np.ones((1, 1)), np.full((1, M), 1.0 / M)
    X, states = m.sample(20_000, random_state=0)
    assert X.shape == (20_000, 1) and X.max() < M and not states.any()


def test_data_whose_covariances_overflow_are_refused(rng):
    with pytest.raises(ValueError, match=r"X: values up to .*e\+299 overflow float64 in the covariances the fit "
                                         r"forms .*; rescale X"):
        fhmm.GaussianHMM(2, device="cpu").fit(rng.random((20, 2)) * 1e300)


@pytest.mark.parametrize("K", [1, 3])
@pytest.mark.parametrize("scale", [1e8, 1e10, 1e12])
def test_covariances_singular_to_rounding_are_blamed_on_X(K, scale):
    """Two equal features at a scale where rounding (v * 2^-52) outgrows min_covar: the matrix either
    fails to factor or factors with a pivot of rounding, as the machine's LAPACK falls. Both refuse,
    naming X: at the start (the data covariance) or the end (EM's) of the fit."""
    for seed in range(3):
        x = np.random.default_rng(seed).normal(size=50) * scale
        with pytest.raises(ValueError, match=r"X: (its covariance plus min_covar=0\.001 on the diagonal, where a full "
                                             r"fit starts, is not positive-definite|EM estimated covariances that are "
                                             r"singular beyond hmmlearn's regularisation).*rescale X"):
            fhmm.GaussianHMM(K, covariance_type="full", n_iter=2, random_state=0, device="cpu").fit(np.c_[x, x])


def test_a_fit_that_leaves_a_pivot_of_rounding_is_refused():
    # Cholesky succeeds here (a positive rounding residue), but the factor is rounding noise
    from fastgen.hmm._gaussian import _check_factorable
    v = 1e20
    c = np.array([[[v, v], [v, v * (1 + 2 ** -52)]]])
    assert np.isfinite(np.linalg.cholesky(c)).all()  # LAPACK factors it
    with pytest.raises(ValueError, match=r"matrix 0's factor keeps .* of variance 1, below the 4\.4e-13 that "
                                         r"rounding leaves"):
        _check_factorable(c)


def test_far_data_score_minus_inf_and_the_paths_say_why(rng):
    m = fhmm.GaussianHMM(2, n_iter=2, random_state=0, device="cpu").fit(rng.normal(size=(40, 2)))
    far = np.full((3, 2), 1e300)
    assert m.score(far) == -np.inf   # the rounding of a log-likelihood of about -1e600
    for call in (m.predict, m.predict_proba, m.decode):
        with pytest.raises(ValueError, match=r"X: sequence 0's log-likelihood overflows float64 \(frames too far "
                                             r"from every state's mean for its covariance\)"):
            call(far)
