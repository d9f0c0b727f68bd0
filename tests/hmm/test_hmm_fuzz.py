"""Hypothesis-generated bad inputs for the HMMs (issue 14): odd shapes, dtypes, NaN/inf at random
places, extreme scales, degenerate data, bad lengths and absurd sizes. Every example must give a
finite result of the right shape, or a ValueError/TypeError whose message names the argument;
never a crash, a MemoryError or NaN. Generator and contract: tests/fuzzing.py."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastgen.hmm import CategoricalHMM, GaussianHMM, GMMHMM, PoissonHMM

from fuzzing import D, LENGTHS, OVERFLOW, SIZES, SETTINGS, arrays, check  # tests/fuzzing.py

def _model(name):
    return {"gaussian-diag": lambda: GaussianHMM(2, n_iter=2, random_state=0, device="cpu"),
            "gaussian-full": lambda: GaussianHMM(2, covariance_type="full", n_iter=2, random_state=0, device="cpu"),
            "gmm": lambda: GMMHMM(2, n_mix=2, n_iter=2, random_state=0, device="cpu"),
            "poisson": lambda: PoissonHMM(2, n_iter=2, random_state=0, device="cpu"),
            "categorical": lambda: CategoricalHMM(2, n_iter=2, random_state=0, device="cpu")}[name]()


def _training_data(name):
    rng = np.random.default_rng(0)
    if name == "categorical":
        return rng.integers(0, 3, size=(40, 1))
    if name == "poisson":
        return rng.poisson(3.0, size=(40, D)).astype(float)
    return rng.normal(size=(40, D))


NAMES = ["gaussian-diag", "gaussian-full", "gmm", "poisson", "categorical"]
FITTED = {name: _model(name).fit(_training_data(name)) for name in NAMES}
def _features(name):
    return 1 if name == "categorical" else D


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(data=st.data())
def test_hmm_fit(name, data):
    X = data.draw(arrays(n_features=_features(name)))
    lengths = data.draw(LENGTHS)
    m = _model(name)
    if check(lambda: m.fit(X, lengths), ["X", "lengths"]) is not None:
        check(lambda: m.score(X, lengths), ["X", "lengths"])
        check(lambda: m.predict(X, lengths), ["X", "lengths"], (len(X),))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("method", ["score", "score_samples", "predict", "predict_proba", "decode", "aic", "bic"])
@SETTINGS
@given(data=st.data())
def test_hmm_inference(name, method, data):
    X = data.draw(arrays(n_features=_features(name)))
    lengths = data.draw(LENGTHS)
    check(lambda: getattr(FITTED[name], method)(X, lengths), ["X", "lengths"], overflow=OVERFLOW.get(method))


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(n=SIZES, currstate=st.one_of(st.none(), st.integers(-2, 3)))
def test_hmm_sample_sizes(name, n, currstate):
    check(lambda: FITTED[name].sample(n, currstate=currstate), ["n_samples", "currstate"])
