"""fastgen.hmm estimators given their data as a device array (a Numba device array on "cuda"; the
NumPy array in Fortran order on "cpu"): the same fit, scores and decodings as from the NumPy array
on the CPU, the same errors for bad data, and (CUDA) no host copy of the data anywhere in fit,
score, predict or decode: validation, k-means, the initial covariance and the value checks run on
the device (device_inputs.no_host_copy fails the test otherwise).

Tolerance: float64 rtol 1e-10 (absolute floor 1e-12 for entries near 0). The device
initialisation sums in weighted_moments' float64 chunks where NumPy sums pairwise, and the CUDA
kernels round differently from the C++ ones, so the two fits differ by rounding (~1e-15 relative
per step) that two EM iterations on well-separated data do not amplify past ~1e-13. Sizes are
tiny: the simulator runs every CUDA thread in Python.
"""
from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from device_inputs import device_input, no_host_copy, same_error
from fastgen import hmm as fhmm

RTOL, ATOL = 1e-10, 1e-12
LENGTHS = [9, 13]


def _data(kind, seed=0):
    rng = np.random.default_rng(seed)
    states = np.repeat([0, 1, 0], [7, 8, 7])
    if kind == "categorical":
        return rng.choice(4, p=[0.6, 0.3, 0.05, 0.05], size=22)[:, None] + 2 * states[:, None] * (
            rng.random((22, 1)) < 0.7)
    if kind == "poisson":
        return rng.poisson(np.array([1.0, 8.0])[states][:, None], size=(22, 2)).astype(np.float64)
    return rng.normal(size=(22, 2)) + 5.0 * states[:, None] + 3.0   # off the origin: moments about the mean


def _make(kind, device, **kw):
    kw = dict(n_components=2, n_iter=2, random_state=0, device=device, **kw)
    if kind.startswith("gaussian"):
        return fhmm.GaussianHMM(covariance_type=kind.split("-")[1], **kw)
    if kind == "gmm":
        return fhmm.GMMHMM(n_mix=2, covariance_type="diag", **kw)
    return {"categorical": fhmm.CategoricalHMM, "poisson": fhmm.PoissonHMM}[kind](**kw)


PARAMS = {"gaussian": ("startprob_", "transmat_", "means_", "covars_"),
          "gmm": ("startprob_", "transmat_", "weights_", "means_", "covars_"),
          "categorical": ("startprob_", "transmat_", "emissionprob_"),
          "poisson": ("startprob_", "transmat_", "lambdas_")}
KINDS = ["gaussian-diag", "gaussian-full", "gaussian-spherical", "gaussian-tied", "gmm", "categorical", "poisson"]


@pytest.mark.parametrize("kind", KINDS)
def test_device_array_gives_the_host_fit_and_inference(device, kind):
    X = _data(kind)
    ref = _make(kind, "cpu").fit(X, LENGTHS)
    Xd = device_input(device, X)
    with no_host_copy(Xd):
        m = _make(kind, device).fit(Xd, LENGTHS)
        score = m.score(Xd, LENGTHS)
        logprob, post = m.score_samples(Xd, LENGTHS)
        vit_logprob, states = m.decode(Xd, LENGTHS)
        labels = m.predict(Xd, LENGTHS)
    assert m.n_features == ref.n_features
    for name in PARAMS[kind.split("-")[0]]:
        assert_allclose(getattr(m, name), getattr(ref, name), rtol=RTOL, atol=ATOL, err_msg=name)
    assert_allclose(score, ref.score(X, LENGTHS), rtol=RTOL, atol=0)
    assert_allclose(logprob, score, rtol=RTOL, atol=0)
    assert_allclose(post, ref.predict_proba(X, LENGTHS), rtol=RTOL, atol=ATOL)
    ref_vit, ref_states = ref.decode(X, LENGTHS)
    assert_allclose(vit_logprob, ref_vit, rtol=RTOL, atol=0)
    assert_array_equal(states, ref_states)
    assert_array_equal(labels, ref_states)


def _fitted(kind, X):
    return _make(kind, "cpu").fit(X)


# (estimator kind, bad data, fit or score with a model fitted on good data)
BAD = [
    ("gaussian-diag", lambda X: np.where(np.arange(X.size).reshape(X.shape) == 5, np.nan, X), "fit"),
    ("gaussian-full", lambda X: X[:, :1], "score"),                         # wrong n_features
    ("gmm", lambda X: np.where(np.arange(X.size).reshape(X.shape) == 3, np.inf, X), "score"),
    ("gmm", lambda X: np.hstack([X, X]), "score"),
    ("gaussian-diag", lambda X: X[:, 0], "fit"),                            # 1-D
    ("categorical", lambda X: np.where(np.arange(len(X))[:, None] == 4, -2, X), "fit"),   # negative symbol
    ("categorical", lambda X: np.where(np.arange(len(X))[:, None] == 4, 9, X), "score"),  # beyond n_features
    ("categorical", lambda X: X.astype(np.float64), "fit"),                 # symbols as floats
    ("categorical", lambda X: np.hstack([X, X]), "fit"),
    ("poisson", lambda X: np.where(np.arange(X.size).reshape(X.shape) == 7, -1.0, X), "fit"),   # negative count
    ("poisson", lambda X: np.where(np.arange(X.size).reshape(X.shape) == 7, 2.5, X), "score"),  # fraction
    ("poisson", lambda X: np.where(np.arange(X.size).reshape(X.shape) == 7, np.nan, X), "fit"),
    ("poisson", lambda X: X[:, :1], "score"),
]


@pytest.mark.parametrize("kind, corrupt, where", BAD)
def test_device_bad_input_raises_the_host_error(device, kind, corrupt, where):
    X = _data(kind)
    bad = np.ascontiguousarray(corrupt(X))
    if where == "fit":
        same_error(lambda: _make(kind, "cpu").fit(bad), lambda: _make(kind, device).fit(device_input(device, bad)),
                   (ValueError, TypeError))
    else:
        on_host, on_device = _fitted(kind, X), _fitted(kind, X)
        on_device.device = device
        same_error(lambda: on_host.score(bad), lambda: on_device.score(device_input(device, bad)),
                   (ValueError, TypeError))


def test_gmmhmm_state_with_fewer_points_than_components(device):
    """A state whose k-means cluster holds fewer points than n_mix draws its mixture means around
    the data mean: the column mean, like the clusters, comes from the device (compared after the
    initialisation alone, n_iter=0: EM on two points and three components would empty some)."""
    rng = np.random.default_rng(6)
    X = np.vstack([rng.normal(size=(18, 2)), [[30.0, 30.0], [31.0, 30.0]]])
    kw = dict(n_components=2, n_mix=3, covariance_type="diag", n_iter=0, random_state=0)
    ref = fhmm.GMMHMM(device="cpu", **kw).fit(X)
    Xd = device_input(device, X)
    with no_host_copy(Xd):
        m = fhmm.GMMHMM(device=device, **kw).fit(Xd)
        score = m.score(Xd)
    for name in PARAMS["gmm"]:
        assert_allclose(getattr(m, name), getattr(ref, name), rtol=RTOL, atol=ATOL, err_msg=name)
    assert_allclose(score, ref.score(X), rtol=RTOL, atol=0)
