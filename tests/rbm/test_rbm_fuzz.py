"""Hypothesis-generated bad inputs for the RBM family (issue 14): odd shapes, dtypes, NaN/inf at
random places, extreme scales, degenerate data and absurd sizes. Every example must give a finite
result of the right shape, or a ValueError/TypeError whose message names the argument (a diverging
fit: the FloatingPointError that names learning_rate and X); never a crash, a MemoryError or NaN."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastgen import DBN, BernoulliRBM, GaussianBernoulliRBM

from fuzzing import D, SIZES, SETTINGS, arrays, check  # tests/fuzzing.py


def fitted_rbm(cls):
    rng = np.random.default_rng(0)
    X = (rng.random((30, D)) < 0.5).astype(float) if cls is BernoulliRBM else rng.normal(size=(30, D))
    return cls(3, n_iter=1, random_state=0, device="cpu").fit(X)


FITTED = {cls: fitted_rbm(cls) for cls in (BernoulliRBM, GaussianBernoulliRBM)}
DBN_FITTED = DBN((3, 2), n_iter=1, random_state=0, device="cpu").fit((np.random.default_rng(0).random((30, D)) < .5) * 1.0)


@pytest.mark.parametrize("cls", [BernoulliRBM, GaussianBernoulliRBM])
@SETTINGS
@given(X=arrays())
def test_rbm_fit(cls, X):
    m = cls(3, n_iter=1, batch_size=4, random_state=0, device="cpu")
    if check(lambda: m.fit(X), ["X"]) is not None:
        assert np.isfinite(m.components_).all()
        check(lambda: m.transform(X), ["X"], (X.shape[0], 3))
        check(lambda: m.score(X), ["X"])


@pytest.mark.parametrize("cls", [BernoulliRBM, GaussianBernoulliRBM])
@SETTINGS
@given(X=arrays())
def test_rbm_partial_fit(cls, X):
    m = cls(3, random_state=0, device="cpu")
    check(lambda: m.partial_fit(X), ["X"])


@pytest.mark.parametrize("cls", [BernoulliRBM, GaussianBernoulliRBM])
@pytest.mark.parametrize("method", ["transform", "score_samples", "free_energy", "reconstruction_error", "gibbs",
                                    "score", "log_likelihood"])
@SETTINGS
@given(X=arrays())
def test_rbm_inference(cls, method, X):
    m = FITTED[cls]
    check(lambda: getattr(m, method)(X), ["X", "v"])


@pytest.mark.parametrize("cls", [BernoulliRBM, GaussianBernoulliRBM])
@SETTINGS
@given(H=arrays(n_features=3))
def test_rbm_mean_visibles(cls, H):
    check(lambda: FITTED[cls].mean_visibles(H), ["H"])


@pytest.mark.parametrize("cls", [BernoulliRBM, GaussianBernoulliRBM])
@SETTINGS
@given(n=SIZES, chains=st.one_of(st.none(), SIZES), steps=st.one_of(st.just(1), SIZES))
def test_rbm_sample_sizes(cls, n, chains, steps):
    m = FITTED[cls]
    if steps is None:
        steps = 1
    out = check(lambda: m.sample(n, n_gibbs_steps=steps, burn_in=2, n_chains=chains, random_state=0),
                ["n_samples", "n_chains", "n_gibbs_steps"])
    if out is not None:
        assert out.shape == (n, D)


@pytest.mark.parametrize("cls", [BernoulliRBM, GaussianBernoulliRBM])
@SETTINGS
@given(n=SIZES)
def test_rbm_ais_sizes(cls, n):
    check(lambda: FITTED[cls].ais_log_partition(n_chains=n, betas=np.linspace(0, 1, 5), random_state=0), ["n_chains"])


@SETTINGS
@given(value=st.one_of(SIZES, st.sampled_from([(), (3, 0), (3, 10**9), [2, -1], "abc", 2.5])))
def test_rbm_constructor_sizes(value):
    X = (np.random.default_rng(0).random((10, D)) < 0.5) * 1.0
    check(lambda: BernoulliRBM(value, n_iter=1, device="cpu").fit(X), ["n_components"])
    check(lambda: BernoulliRBM(2, batch_size=value, n_iter=1, device="cpu").fit(X), ["batch_size"])
    check(lambda: DBN(value, n_iter=1, device="cpu").fit(X), ["hidden_layer_sizes"])


@SETTINGS
@given(X=arrays(), visible=st.sampled_from(["bernoulli", "gaussian"]))
def test_dbn_fit_transform(X, visible):
    m = DBN((3, 2), visible=visible, n_iter=1, batch_size=4, random_state=0, device="cpu")
    if check(lambda: m.fit(X), ["X"]) is not None:
        check(lambda: m.transform(X), ["X"], (X.shape[0], 2))


@SETTINGS
@given(X=arrays(), n=SIZES)
def test_dbn_inference(X, n):
    check(lambda: DBN_FITTED.transform(X), ["X"])
    out = check(lambda: DBN_FITTED.sample(n, burn_in=2, random_state=0), ["n_samples"])
    if out is not None:
        assert out.shape == (n, D)
