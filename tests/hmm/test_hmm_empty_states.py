"""fastgen.hmm estimators: a state that receives no posterior mass keeps its parameters (no NaN
ever), and regression tests for specific defects (each names the code it pins down). Model
factory and tolerances: hmm_estimator_cases.py.
"""
from __future__ import annotations

import numpy as np
import pytest

from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp

from conftest import random_covars, random_mixture_covars
from fastgen import _backend
from fastgen import hmm as fhmm
from hmm_estimator_cases import (COVARIANCE_TYPES, fitted_params, IMPLEMENTATIONS, make, random_data,
                                 random_params)


# =================================================================================================
# (e) A state that receives no posterior mass keeps its parameters; no NaN ever
# =================================================================================================

def _empty_state_warning(state):
    return rf"states \[{state}\] (received no posterior mass|had no outgoing transitions)"


def _assert_no_nan(m, model):
    for k, v in fitted_params(m, model).items():
        assert not np.isnan(v).any(), k
        assert np.isfinite(v).all(), k


def _only_fastgen_warnings(record):
    """Both of fastgen's empty-state warnings were raised (emission parameters kept, transmat_ row
    kept), and no NumPy 0/0 or overflow warning slipped out alongside them."""
    msgs = [str(w.message) for w in record if issubclass(w.category, RuntimeWarning)]
    assert any("received no posterior mass" in s for s in msgs), msgs
    assert any("had no outgoing transitions" in s for s in msgs), msgs
    assert not any("encountered" in s for s in msgs), msgs
    return msgs


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_gaussian_state_without_mass_keeps_parameters(rng, ct, impl):
    K, D = 3, 2
    X = np.concatenate([rng.normal(-2, 1, (150, D)), rng.normal(2, 1, (150, D))])
    m = fhmm.GaussianHMM(K, covariance_type=ct, init_params="", n_iter=4, tol=-np.inf, implementation=impl,
                         device="cpu")
    m.startprob_, m.transmat_ = np.full(K, 1 / K), np.full((K, K), 1 / K)
    m.means_ = np.array([[-2.0, -2.0], [2.0, 2.0], [1e3, 1e3]])  # state 2: data impossible-ish
    m.covars_ = random_covars(rng, ct, K, D)
    before = fitted_params(m, f"gaussian-{ct}")
    with pytest.warns(RuntimeWarning, match=_empty_state_warning(2)) as record:
        m.fit(X)
    _only_fastgen_warnings(record)
    after = fitted_params(m, f"gaussian-{ct}")
    _assert_no_nan(m, f"gaussian-{ct}")
    assert_array_equal(after["means_"][2], before["means_"][2])
    if ct != "tied":
        assert_array_equal(after["covars_"][2], before["covars_"][2])
    assert_array_equal(m.transmat_[2], before["transmat_"][2])  # kept: no outgoing mass either
    assert_allclose(m.transmat_.sum(1), 1, rtol=0, atol=1e-12)
    assert (after["means_"][:2] != before["means_"][:2]).any()  # the others did learn
    assert np.isfinite(m.score(X))


def test_categorical_state_without_mass_keeps_parameters(rng):
    K = 3
    X = rng.integers(0, 2, size=(200, 1))
    m = fhmm.CategoricalHMM(K, init_params="", n_iter=4, tol=-np.inf, n_features=4, device="cpu")
    m.startprob_, m.transmat_ = np.full(K, 1 / K), np.full((K, K), 1 / K)
    m.emissionprob_ = np.array([[0.5, 0.3, 0.1, 0.1], [0.2, 0.6, 0.1, 0.1], [0.0, 0.0, 0.5, 0.5]])
    with pytest.warns(RuntimeWarning, match=_empty_state_warning(2)) as record:
        m.fit(X)
    _only_fastgen_warnings(record)
    _assert_no_nan(m, "categorical")
    assert_array_equal(m.emissionprob_[2], [0.0, 0.0, 0.5, 0.5])
    assert_allclose(m.emissionprob_.sum(1), 1, rtol=0, atol=1e-12)


def test_poisson_state_without_mass_keeps_parameters(rng):
    K = 3
    X = rng.poisson(3, size=(200, 2))
    m = fhmm.PoissonHMM(K, init_params="", n_iter=4, tol=-np.inf, device="cpu")
    m.startprob_, m.transmat_ = np.full(K, 1 / K), np.full((K, K), 1 / K)
    m.lambdas_ = np.array([[2.0, 2.0], [4.0, 4.0], [1e5, 1e5]])
    with pytest.warns(RuntimeWarning, match=_empty_state_warning(2)) as record:
        m.fit(X)
    _only_fastgen_warnings(record)
    _assert_no_nan(m, "poisson")
    assert_array_equal(m.lambdas_[2], [1e5, 1e5])


@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_gmm_state_without_mass_keeps_parameters(rng, ct):
    K, M, D = 2, 2, 2
    X = rng.normal(size=(300, D))
    m = fhmm.GMMHMM(K, n_mix=M, covariance_type=ct, init_params="", n_iter=3, tol=-np.inf, device="cpu")
    m.startprob_, m.transmat_ = np.full(K, 1 / K), np.full((K, K), 1 / K)
    m.weights_ = np.full((K, M), 0.5)
    m.means_ = np.array([[[0.0, 0.0], [1.0, 1.0]], [[1e3, 1e3], [-1e3, 1e3]]])  # state 1: far away
    m.covars_ = random_mixture_covars(rng, ct, K, M, D)
    before = fitted_params(m, f"gmm-{ct}")
    with pytest.warns(RuntimeWarning, match=_empty_state_warning(1)) as record:
        m.fit(X)
    _assert_no_nan(m, f"gmm-{ct}")
    _only_fastgen_warnings(record)
    after = fitted_params(m, f"gmm-{ct}")
    assert_array_equal(after["means_"][1], before["means_"][1])
    assert_array_equal(after["covars_"][1], before["covars_"][1])
    assert_array_equal(after["weights_"][1], before["weights_"][1])
    assert np.isfinite(m.score(X))


def test_empty_state_warnings_point_at_the_caller(rng):
    """Both empty-state warnings name the line of user code that called fit (stacklevel), like
    the transmat_ one does, so that users can filter them by module."""
    K, D = 3, 2
    X = rng.normal(size=(100, D))
    m = fhmm.GaussianHMM(K, init_params="", n_iter=1, device="cpu")
    m.startprob_, m.transmat_ = np.full(K, 1 / K), np.full((K, K), 1 / K)
    m.means_ = np.array([[-1.0, 0.0], [1.0, 0.0], [1e3, 1e3]])
    m.covars_ = np.ones((K, D))
    with pytest.warns(RuntimeWarning) as record:
        m.fit(X)
    msgs = {str(w.message).split(";")[1].strip(): w.filename for w in record}
    assert len(msgs) == 2, msgs
    for what, filename in msgs.items():
        assert filename == __file__, (what, filename)


# =================================================================================================
# Regression tests for specific defects (each names the code it pins down)
# =================================================================================================

@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_gmmhmm_accepts_every_covariance_type(rng, ct):
    """GMMHMM._check_emission must validate each covariance layout (it reshaped every layout at once,
    so only 'tied' passed), and the component log-densities must handle (K, M, D, D) 'full' factors."""
    params = random_params(rng, f"gmm-{ct}")
    m = make(fhmm, f"gmm-{ct}", params)
    X = random_data(rng, f"gmm-{ct}", params, [300])
    assert np.isfinite(m.score(X))
    m2 = fhmm.GMMHMM(2, n_mix=2, covariance_type=ct, n_iter=3, random_state=0, device="cpu").fit(X)
    assert np.isfinite(m2.score(X))


def test_categorical_bic_runs(rng):
    """BaseHMM.bic validated X and then scored the validated (1-D symbol) array, which CategoricalHMM
    rejects on the second validation."""
    X = rng.integers(0, 3, size=(100, 1))
    m = fhmm.CategoricalHMM(2, n_iter=3, random_state=0, device="cpu").fit(X)
    assert_allclose(m.bic(X), -2 * m.score(X) + m._n_free_params() * np.log(100), rtol=1e-12, atol=0)


@pytest.mark.parametrize("impl", [None, "scaling", "log"])
def test_left_to_right_model_posteriors(impl):
    """A left-to-right model whose absorbing last state is entered early (symbol 0 can only come from
    state 1), followed by 600 symbols that the no-longer-reachable state 0 would explain better.
    Every frame from the second on is certainly state 1. hmmlearn's default (log) gets this right;
    fastgen's default (scaling) must too: its backward pass normalises beta over all states, so
    beta of the real state underflows relative to the unreachable one and the posteriors of a
    sequence with positive probability came out all zero."""
    X = np.r_[1, 0, np.ones(600, dtype=np.int64)][:, None]
    kw = {} if impl is None else {"implementation": impl}
    m = fhmm.CategoricalHMM(2, init_params="", device="cpu", **kw)
    m.startprob_ = np.array([1.0, 0.0])
    m.transmat_ = np.array([[0.9, 0.1], [0.0, 1.0]])
    m.emissionprob_ = np.array([[0.0, 0.6, 0.4], [0.5, 0.05, 0.45]])
    want = np.zeros((len(X), 2))
    want[0, 0] = want[1:, 1] = 1.0
    assert_allclose(m.score(X), np.log(0.6) + np.log(0.1 * 0.5) + 600 * np.log(0.05), rtol=1e-12, atol=0)
    assert_allclose(m.predict_proba(X), want, rtol=0, atol=1e-12)
    assert_array_equal(m.predict(X), want.argmax(axis=1))
    # EM from here keeps the structure and the emission counts it must see (602 frames' worth).
    m.n_iter, m.params = 1, "e"
    m.fit(X)
    assert_allclose(m.emissionprob_[1], [1 / 601, 600 / 601, 0.0], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("impl", [None, "scaling", "log"])
def test_transient_state_outlives_a_long_unlikely_stretch(impl):
    """State 0 absorbing, state 1 transient (1% leak into 0 per step). 400 symbols that state 0
    explains better (9:1), then 800 that state 1 explains better: staying in state 1 throughout wins
    by ~900 nats, so every posterior is ~[0, 1] and Viterbi says 1 everywhere. On the way, the
    forward probability of state 1 falls to ~exp(-880) of state 0's: a forward pass normalised
    over all states rounds it to 0, after which state 1 can never come back and the model reports
    state 0 throughout with a log-likelihood ~900 nats too low. hmmlearn's default (log) is right."""
    X = np.r_[np.zeros(400, dtype=np.int64), np.ones(800, dtype=np.int64)][:, None]
    kw = {} if impl is None else {"implementation": impl}
    m = fhmm.CategoricalHMM(2, init_params="", device="cpu", **kw)
    m.startprob_ = np.array([0.5, 0.5])
    m.transmat_ = np.array([[1.0, 0.0], [0.01, 0.99]])
    m.emissionprob_ = np.array([[0.9, 0.1], [0.1, 0.9]])
    # Log-likelihood by enumeration: with state 0 absorbing, the paths are 1^t 0^(N-t), t = 0..N.
    N = len(X)
    with np.errstate(divide="ignore"):
        le, lt = np.log(m.emissionprob_), np.log(m.transmat_)
    c1 = np.r_[0, np.cumsum(le[1, X[:, 0]])]           # emissions of frames < t in state 1
    c0 = np.r_[np.cumsum(le[0, X[::-1, 0]])[::-1], 0]  # emissions of frames >= t in state 0
    t = np.arange(N + 1)
    trans = np.where(t == 0, 0.0, (np.maximum(t - 1, 0)) * lt[1, 1] + np.where(t < N, lt[1, 0], 0.0))
    paths = np.log(0.5) + c1 + c0 + trans
    assert_allclose(m.score(X), logsumexp(paths), rtol=1e-12, atol=0)
    post = m.predict_proba(X)
    assert (post[:, 1] > 0.99).all()
    assert_array_equal(m.predict(X), 1)


@pytest.mark.cuda
@pytest.mark.skipif(not _backend.cuda_usable(), reason="no usable CUDA device or simulator")
def test_estimator_transient_state_outlives_an_unlikely_stretch():
    """CUDA twin of test_transient_state_outlives_a_long_unlikely_stretch (above)
    (default implementation, "scaling"), shortened for the simulator: 40 symbols that state 0
    explains better (1e9:1), then 80 that state 1 does. Staying in state 1 throughout wins; the
    forward share of state 1 falls to ~exp(-830) on the way. score equals the enumeration over the
    N + 1 possible paths, posteriors sit on state 1 and Viterbi says 1 everywhere."""
    from scipy.special import logsumexp
    from fastgen import hmm as fhmm
    X = np.r_[np.zeros(40, dtype=np.int64), np.ones(80, dtype=np.int64)][:, None]
    m = fhmm.CategoricalHMM(2, init_params="", device="cuda")
    m.startprob_ = np.array([0.5, 0.5])
    m.transmat_ = np.array([[1.0, 0.0], [0.01, 0.99]])
    m.emissionprob_ = np.array([[1 - 1e-9, 1e-9], [1e-9, 1 - 1e-9]])
    N = len(X)
    with np.errstate(divide="ignore"):
        le, lt = np.log(m.emissionprob_), np.log(m.transmat_)
    c1 = np.r_[0, np.cumsum(le[1, X[:, 0]])]           # emissions of frames < t in state 1
    c0 = np.r_[np.cumsum(le[0, X[::-1, 0]])[::-1], 0]  # emissions of frames >= t in state 0
    t = np.arange(N + 1)
    trans = np.where(t == 0, 0.0, np.maximum(t - 1, 0) * lt[1, 1] + np.where(t < N, lt[1, 0], 0.0))
    paths = np.log(0.5) + c1 + c0 + trans
    assert_allclose(m.score(X), logsumexp(paths), rtol=1e-12, atol=0)
    assert (m.predict_proba(X)[:, 1] > 0.99).all()
    assert_array_equal(m.predict(X), 1)
