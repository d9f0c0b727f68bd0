"""hmmlearn's tutorial (hmmlearn 0.3 documentation, "Tutorial") run twice, once with
``from hmmlearn import hmm`` and once with ``from fastgen import hmm``, unchanged in between
(issue 13: the import swap is the whole migration). Where the maths is the same the numbers agree:
scores, posteriors, Viterbi paths and EM fits from the same starting parameters. Sampling differs by
design (fastgen draws from Philox streams), so the data both libraries fit are sampled once, by
hmmlearn.
"""
from __future__ import annotations

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose

import fastgen.hmm

hmmlearn_hmm = pytest.importorskip("hmmlearn.hmm")
pytestmark = pytest.mark.slow


def _generative_model(hmm):
    """The tutorial's "Building HMM and generating samples": a 3-state model given by hand."""
    model = hmm.GaussianHMM(n_components=3, covariance_type="full")
    model.startprob_ = np.array([0.6, 0.3, 0.1])
    model.transmat_ = np.array([[0.7, 0.2, 0.1],
                                [0.3, 0.5, 0.2],
                                [0.3, 0.3, 0.4]])
    model.means_ = np.array([[0.0, 0.0], [3.0, -3.0], [5.0, 10.0]])
    model.covars_ = np.tile(np.identity(2), (3, 1, 1))
    return model


def _tutorial(hmm, X, X2):
    """The tutorial's steps after sampling, with `hmm` the module; returns what it prints."""
    out = {}
    gen = _generative_model(hmm)
    out["score"] = gen.score(X)
    out["score_samples"] = gen.score_samples(X)
    out["decode"] = gen.decode(X)
    out["predict"] = gen.predict(X)
    out["predict_proba"] = gen.predict_proba(X)
    # "Training HMM parameters and inferring the hidden states", started from the generating model's
    # parameters (init_params="") so that both libraries run the same EM iterations.
    remodel = hmm.GaussianHMM(n_components=3, covariance_type="full", n_iter=20, init_params="")
    for name in ("startprob_", "transmat_", "means_", "covars_"):
        setattr(remodel, name, getattr(gen, name))
    remodel.fit(X)
    out["fit"] = (remodel.startprob_, remodel.transmat_, remodel.means_, remodel.covars_)
    out["history"] = list(remodel.monitor_.history)
    out["converged"] = remodel.monitor_.converged
    out["refit_predict"] = remodel.predict(X)
    # "Working with multiple sequences": concatenated, with lengths.
    both = np.concatenate([X, X2])
    lengths = [len(X), len(X2)]
    multi = hmm.GaussianHMM(n_components=3, covariance_type="full", n_iter=10, init_params="")
    for name in ("startprob_", "transmat_", "means_", "covars_"):
        setattr(multi, name, getattr(gen, name))
    multi.fit(both, lengths)
    out["multi"] = (multi.transmat_, multi.means_, multi.score(both, lengths))
    # "Saving and loading HMM": pickle.
    loaded = pickle.loads(pickle.dumps(remodel))
    out["pickled_score"] = loaded.score(X)
    # "Fixing parameters": only some of them estimated.
    fixed = hmm.GaussianHMM(n_components=3, covariance_type="full", n_iter=10, params="mc", init_params="")
    for name in ("startprob_", "transmat_", "means_", "covars_"):
        setattr(fixed, name, getattr(gen, name))
    fixed.fit(X)
    out["fixed_transmat"] = fixed.transmat_
    out["fixed_means"] = fixed.means_
    out["information"] = (remodel.aic(X), remodel.bic(X))
    return out


def _categorical(hmm, X):
    """The tutorial's categorical example (a 2-state weather model over 3 observed activities)."""
    model = hmm.CategoricalHMM(n_components=2)
    model.startprob_ = np.array([0.6, 0.4])
    model.transmat_ = np.array([[0.7, 0.3], [0.4, 0.6]])
    model.emissionprob_ = np.array([[0.1, 0.4, 0.5], [0.6, 0.3, 0.1]])
    logprob, states = model.decode(X)
    return {"decode": (logprob, states), "score": model.score(X), "proba": model.predict_proba(X)}


@pytest.fixture(scope="module")
def data():
    gen = _generative_model(hmmlearn_hmm)
    X, _ = gen.sample(300, random_state=0)
    X2, _ = gen.sample(120, random_state=1)
    return X, X2


def test_gaussian_tutorial_gives_hmmlearns_numbers(data):
    ref = _tutorial(hmmlearn_hmm, *data)
    got = _tutorial(fastgen.hmm, *data)
    # Scores and posteriors: the same recursions in another summation order, ~1e-12 relative.
    assert_allclose(got["score"], ref["score"], rtol=1e-10)
    assert_allclose(got["score_samples"][0], ref["score_samples"][0], rtol=1e-10)
    assert_allclose(got["score_samples"][1], ref["score_samples"][1], rtol=1e-8, atol=1e-12)
    assert_allclose(got["decode"][0], ref["decode"][0], rtol=1e-10)
    np.testing.assert_array_equal(got["decode"][1], ref["decode"][1])
    np.testing.assert_array_equal(got["predict"], ref["predict"])
    assert_allclose(got["predict_proba"], ref["predict_proba"], rtol=1e-8, atol=1e-12)
    # EM from the same start: 20 iterations amplify rounding differences a little (1e-8).
    for g, r in zip(got["fit"], ref["fit"]):
        assert_allclose(g, r, rtol=1e-8, atol=1e-10)
    assert_allclose(got["history"], ref["history"], rtol=1e-10)
    assert got["converged"] == ref["converged"]
    np.testing.assert_array_equal(got["refit_predict"], ref["refit_predict"])
    for g, r in zip(got["multi"], ref["multi"]):
        assert_allclose(g, r, rtol=1e-8, atol=1e-10)
    assert_allclose(got["pickled_score"], ref["pickled_score"], rtol=1e-10)
    assert_allclose(got["fixed_transmat"], ref["fixed_transmat"], rtol=0, atol=0)   # not estimated
    assert_allclose(got["fixed_means"], ref["fixed_means"], rtol=1e-8)
    assert_allclose(got["information"], ref["information"], rtol=1e-10)


def test_categorical_tutorial_gives_hmmlearns_numbers():
    X = np.array([[0], [2], [1], [1], [2], [0], [0], [2], [1], [0]])
    ref, got = _categorical(hmmlearn_hmm, X), _categorical(fastgen.hmm, X)
    assert_allclose(got["decode"][0], ref["decode"][0], rtol=1e-12)
    np.testing.assert_array_equal(got["decode"][1], ref["decode"][1])
    assert_allclose(got["score"], ref["score"], rtol=1e-12)
    assert_allclose(got["proba"], ref["proba"], rtol=1e-10, atol=1e-14)


def test_sampling_is_fastgens_own_but_has_the_same_law():
    """The one step whose numbers differ: samples come from Philox, so the same seed gives other
    draws than hmmlearn's; their distribution is the model's (state frequencies of a long run match
    the stationary distribution)."""
    gen = _generative_model(fastgen.hmm)
    _, Z = gen.sample(20000, random_state=0)
    freq = np.bincount(Z, minlength=3) / len(Z)
    assert_allclose(freq, gen.get_stationary_distribution(), atol=0.02)
