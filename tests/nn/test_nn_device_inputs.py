"""The nn estimators (VAE, GAN, Autoencoder) take data where they live: a device array is checked on
the device (``Backend.check_array``: shape from its metadata, one finiteness pass there), trained on
there (minibatches gathered by ``take_rows``, labels joined by ``repeat_join``) and scored there
(``VAE.score_samples`` through ``iwae_bound``), never copied to the host; the results equal those
from the NumPy array exactly, and bad device input raises the host's error. ``score_samples`` is the
importance-weighted bound of the kernels' own draws (a NumPy evaluation of the same draws, several
chunks). Devices and guards: tests/devices.py, tests/device_inputs.py; tiny sizes (the simulator).
"""
from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from device_inputs import device_input, no_host_copy, same_error
from devices import CUDA_MARKS
from fastgen.nn import GAN, VAE, Autoencoder
from fastgen.nn import _vae
from fastgen.nn._base import EVAL_STREAM


def _data(rng, n=10, D=4):
    B = (rng.random((n, D)) < 0.4).astype(np.float32)
    X = rng.standard_normal((n, D)).astype(np.float32)
    return B, X, rng.integers(0, 2, n)


def _model(cls, device, **kw):
    base = {VAE: dict(encoder_layers=(4,), latent_dim=2, n_importance=3),
            GAN: dict(generator_layers=(4,), discriminator_layers=(4,), latent_dim=2),
            Autoencoder: dict(encoder_layers=(4,), latent_dim=2)}[cls]
    return cls(**{**base, "batch_size": 5, "max_epochs": 1, "random_state": 0, "device": device, **kw})


def _thetas(m):
    nets = {VAE: ("encoder_", "decoder_"), GAN: ("generator_", "discriminator_"), Autoencoder: ("network_",)}
    return [getattr(m, a).theta for a in nets[type(m)]]


def _outputs(m, X, y):
    """Every inference method of m on X (labels y for the conditional VAE)."""
    if isinstance(m, VAE):
        return [m.transform(X, y), m.reconstruct(X, y), m.score_samples(X, y)]
    if isinstance(m, GAN):
        return [m.discriminate(X)]
    return [m.transform(X), m.reconstruct(X), m.score_samples(X)]


# (estimator, settings, data: "binary" or "real", conditional)
CASES = [(VAE, dict(), "binary", True), (VAE, dict(likelihood="gaussian_learned"), "real", False),
         (GAN, dict(output_activation="sigmoid"), "binary", False), (Autoencoder, dict(loss="bce"), "binary", False)]


@pytest.mark.parametrize("cls, kw, kind, conditional", CASES)
def test_device_input_gives_the_host_results(device, cls, kw, kind, conditional, rng):
    B, X, labels = _data(rng)
    D = B if kind == "binary" else X
    y = labels if conditional else None
    on_host = _model(cls, device, **kw).fit(D, y)
    on_device = _model(cls, device, **kw).fit(device_input(device, D), y)
    for a, b in zip(_thetas(on_host), _thetas(on_device)):
        assert_array_equal(a, b)
    assert_array_equal(on_host.loss_curve_, on_device.loss_curve_)
    for a, b in zip(_outputs(on_host, D, y), _outputs(on_host, device_input(device, D), y)):
        assert_array_equal(a, b)


def test_bad_device_input_raises_the_host_error(device, rng):
    B, _, _ = _data(rng)
    nan = B.copy()
    nan[2, 1] = np.nan
    wide = np.hstack([B, B[:, :1]])
    out_of_range = B.copy()
    out_of_range[3, 0] = 1.5
    for m in (_model(VAE, device), _model(GAN, device, output_activation="sigmoid"),
              _model(Autoencoder, device, loss="bce")):
        msg = same_error(lambda: m.fit(nan), lambda: m.fit(device_input(device, nan)))
        assert "contains NaN or infinity (first at index (2, 1))" in msg
        msg = same_error(lambda: m.fit(out_of_range), lambda: m.fit(device_input(device, out_of_range)))
        assert "[0, 1.5]" in msg
        m.fit(B)
        score = m.discriminate if isinstance(m, GAN) else m.score_samples
        same_error(lambda: score(wide), lambda: score(device_input(device, wide)))
        same_error(lambda: score(nan), lambda: score(device_input(device, nan)))
        if not isinstance(m, GAN):   # VAE's Bernoulli likelihood and the BCE loss score [0, 1] data only
            same_error(lambda: score(out_of_range), lambda: score(device_input(device, out_of_range)))


@pytest.mark.cuda
@CUDA_MARKS[1]
def test_no_host_copy_of_the_input(rng):
    B, _, labels = _data(rng)
    Bd = device_input("cuda", B)
    with no_host_copy(Bd):
        vae = _model(VAE, "cuda").fit(Bd, labels)
        _outputs(vae, Bd, labels)
        Zd = device_input("cuda", vae.transform(B, labels))
        with no_host_copy(Zd):
            vae.inverse_transform(Zd, labels)
        gan = _model(GAN, "cuda", output_activation="sigmoid").fit(Bd)
        _outputs(gan, Bd, None)
        ae = _model(Autoencoder, "cuda", loss="bce").fit(Bd)
        _outputs(ae, Bd, None)
        Zd = device_input("cuda", ae.transform(B))
        with no_host_copy(Zd):
            ae.inverse_transform(Zd)


def _bound_from_the_draws(m, X, y):
    """VAE.score_samples as the NumPy formula on the kernels' own draws (host copies of each chunk:
    the formulation score_samples had before its reduction became a kernel)."""
    eng = m._engine_ready()
    C = m._labels(y, X.shape[0])
    k, K = int(m.n_importance), m.latent_dim
    H = eng.host(m._encode(eng, X, C))
    rows = max(1, _vae._IWAE_ROWS // k)
    out = []
    for chunk, r0 in enumerate(range(0, X.shape[0], rows)):
        r1 = min(r0 + rows, X.shape[0])
        Hr = np.repeat(H[r0:r1], k, axis=0)
        Zs, eps, _ = eng.kernels.nn.gaussian_kl_reparam(Hr, m._streams.seed, EVAL_STREAM + chunk, 1.0)
        Zs, eps = eng.host(Zs), eng.host(eps)
        Zin = np.hstack([Zs, np.repeat(C[r0:r1], k, axis=0)]).astype(Zs.dtype)
        dec = eng.host(eng.predict(m.decoder_, eng.put(m.decoder_.theta), Zin))
        nll = eng.host(m._recon_nll(eng, dec, np.repeat(X[r0:r1], k, axis=0))).astype(np.float64)
        log_w = (-nll + 0.5 * (Hr[:, K:].astype(np.float64) + eps.astype(np.float64) ** 2
                                - Zs.astype(np.float64) ** 2).sum(axis=1)).reshape(r1 - r0, k)
        top = log_w.max(axis=1, keepdims=True)
        out.append(top[:, 0] + np.log(np.exp(log_w - top).mean(axis=1)))
    return np.concatenate(out)


@pytest.mark.parametrize("likelihood, conditional", [("bernoulli", True), ("gaussian", False),
                                                     ("gaussian_learned", True)])
def test_vae_score_samples_is_the_importance_weighted_bound(device, likelihood, conditional, rng, monkeypatch):
    B, X, labels = _data(rng)
    D = B if likelihood == "bernoulli" else X
    y = labels if conditional else None
    m = _model(VAE, device, likelihood=likelihood, n_importance=4).fit(D, y)
    monkeypatch.setattr(_vae, "_IWAE_ROWS", 16)   # 4 rows a chunk: three chunks, each its own stream
    assert_allclose(m.score_samples(D, y), _bound_from_the_draws(m, D, y), rtol=1e-12, atol=0)
