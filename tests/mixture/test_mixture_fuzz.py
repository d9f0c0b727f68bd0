"""Hypothesis-generated bad inputs for the mixtures (issue 14): odd shapes, dtypes, NaN/inf at
random places, extreme scales, degenerate data and absurd sizes. Every example must give a finite
result of the right shape, or a ValueError/TypeError whose message names the argument; never a
crash, a MemoryError or NaN. Generator and contract: tests/fuzzing.py."""

import numpy as np
import pytest
from hypothesis import given

from fastgen.mixture import BayesianGaussianMixture, GaussianMixture

from fuzzing import D, OVERFLOW, SIZES, SETTINGS, arrays, check  # tests/fuzzing.py

CASES = {f"{cls.__name__}-{ct}-{dt.__name__}": (cls, ct, dt)
         for cls in (GaussianMixture, BayesianGaussianMixture) for ct in ("full", "diag")
         for dt in (np.float64, np.float32)}


def _model(name):
    cls, ct, dtype = CASES[name]
    return cls(n_components=2, covariance_type=ct, max_iter=3, random_state=0, dtype=dtype, device="cpu")


FITTED = {name: _model(name).fit(np.random.default_rng(0).normal(size=(40, D))) for name in CASES}


@pytest.mark.parametrize("name", CASES)
@SETTINGS
@given(X=arrays())
def test_mixture_fit(name, X):
    m = _model(name)
    if check(lambda: m.fit(X), ["X", "n_samples"]) is not None:
        assert np.isfinite(m.means_).all() and np.isfinite(m.covariances_).all()
        check(lambda: m.score_samples(X), ["X"], (X.shape[0],))
        check(lambda: m.predict(X), ["X"], (X.shape[0],))


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("method", ["score", "score_samples", "predict", "predict_proba", "aic", "bic"])
@SETTINGS
@given(X=arrays())
def test_mixture_inference(name, method, X):
    if method in ("aic", "bic") and CASES[name][0] is BayesianGaussianMixture:
        return
    check(lambda: getattr(FITTED[name], method)(X), ["X"], overflow=OVERFLOW.get(method))


@pytest.mark.parametrize("name", CASES)
@SETTINGS
@given(n=SIZES)
def test_mixture_sample_sizes(name, n):
    check(lambda: FITTED[name].sample(n), ["n_samples"])
