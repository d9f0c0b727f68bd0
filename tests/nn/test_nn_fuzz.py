"""Hypothesis-generated bad inputs for the nn family (VAE, GAN, Autoencoder) (issue 14): odd shapes, dtypes, NaN/inf at
random places, extreme scales, degenerate data and absurd sizes. Every example must give a finite
result of the right shape, or a ValueError/TypeError whose message names the argument (a diverging
fit: the FloatingPointError that names learning_rate and X); never a crash, a MemoryError or NaN."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastgen import GAN, VAE, Autoencoder

from fuzzing import D, SIZES, SETTINGS, arrays, check  # tests/fuzzing.py


rng = np.random.default_rng(0)
XB = (rng.random((30, D)) < 0.5).astype(float)
XR = rng.normal(size=(30, D))


def make(name, **kw):
    kw = dict(max_epochs=1, batch_size=8, random_state=0, device="cpu", **kw)
    if name == "VAE":
        return VAE(encoder_layers=(4,), latent_dim=2, n_importance=3, **kw)
    if name == "GAN":
        return GAN(generator_layers=(4,), discriminator_layers=(4,), latent_dim=2, **kw)
    return Autoencoder(encoder_layers=(4,), latent_dim=2, **kw)


FITTED = {"VAE": make("VAE").fit(XB), "GAN": make("GAN").fit(XR), "Autoencoder": make("Autoencoder").fit(XR)}
METHODS = {"VAE": ["transform", "inverse_transform", "reconstruct", "score_samples", "score"],
           "GAN": ["discriminate"], "Autoencoder": ["transform", "inverse_transform", "reconstruct", "score_samples", "score"]}
NAMES = ["Z", "X"]


@pytest.mark.parametrize("name", ["VAE", "GAN", "Autoencoder"])
@SETTINGS
@given(X=arrays())
def test_fit(name, X):
    m = make(name)
    if check(lambda: m.fit(X), ["X", "output_activation"]) is not None:
        check(lambda: m.sample(2, random_state=0) if name != "Autoencoder" else m.transform(X), ["X"])


@pytest.mark.parametrize("name, method", [(n, m) for n, ms in METHODS.items() for m in ms])
@SETTINGS
@given(X=arrays(), Z=arrays(n_features=2))
def test_inference(name, method, X, Z):
    m = FITTED[name]
    arg = Z if method == "inverse_transform" else X
    out = check(lambda: getattr(m, method)(arg), NAMES)
    if out is not None and method in ("transform", "score_samples", "discriminate"):
        assert np.shape(out)[0] == arg.shape[0]


@pytest.mark.parametrize("name", ["VAE", "GAN"])
@SETTINGS
@given(n=SIZES)
def test_sample_sizes(name, n):
    out = check(lambda: FITTED[name].sample(n, random_state=0), ["n_samples"])
    if out is not None:
        assert out.shape == (n, D)


@pytest.mark.parametrize("name", ["VAE", "GAN", "Autoencoder"])
@SETTINGS
@given(value=st.one_of(SIZES, st.sampled_from([(), (3, 0), (3, 10**9), [2, -1], "abc", 2.5])))
def test_constructor_sizes(name, value):
    X = XB if name == "VAE" else XR
    check(lambda: make(name).set_params(latent_dim=value).fit(X), ["latent_dim"])
    layers = "generator_layers" if name == "GAN" else "encoder_layers"
    check(lambda: make(name).set_params(**{layers: value}).fit(X), [layers])
    check(lambda: make(name).set_params(batch_size=value).fit(X), ["batch_size"])


@SETTINGS
@given(k=SIZES)
def test_vae_n_importance(k):
    m = FITTED["VAE"]
    old = m.n_importance
    try:
        m.set_params(n_importance=k)
        check(lambda: m.score_samples(XB[:3]), ["n_importance"], (3,))
    finally:
        m.set_params(n_importance=old)
