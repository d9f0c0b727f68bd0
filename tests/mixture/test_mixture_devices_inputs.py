"""fastgen.mixture estimators' devices (the CUDA path under the simulator) and every bad input.
Problems and tolerances: mixture_cases.py.
"""
from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastgen import _backend
from fastgen import mixture as fm
from mixture_cases import blobs, COVARIANCE_TYPES, GMM_ATTRS, quiet


# =================================================================================================
# (e) Devices
# =================================================================================================

def test_device_cuda_without_gpu_raises(rng):
    if _backend.cuda_usable():
        pytest.skip("a CUDA device (or the simulator) is usable here")
    X = blobs(rng, 2, 2, 50)
    with pytest.raises(RuntimeError, match="device='cuda' was requested but no usable CUDA GPU was found"):
        fm.GaussianMixture(2, device="cuda").fit(X)
    m = fm.GaussianMixture(2, device="cpu").fit(X)
    m.device = "cuda"
    with pytest.raises(RuntimeError, match="device='cuda' was requested"):
        m.predict(X)


def test_device_auto_runs_without_gpu(rng):
    if _backend.cuda_usable():
        pytest.skip("a CUDA device (or the simulator) is usable here")
    X = blobs(rng, 2, 2, 50)
    a = fm.GaussianMixture(2, random_state=0, device="auto").fit(X)
    b = fm.GaussianMixture(2, random_state=0, device="cpu").fit(X)
    assert a.score(X) == b.score(X)


@pytest.mark.cuda
@pytest.mark.skipif(not _backend.cuda_usable(), reason="no usable CUDA device or simulator")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_cuda_matches_cpu(covariance_type, dtype):
    """The whole fit, inference and sampling on the CUDA kernels (the simulator in CI: tiny sizes)
    equal the CPU's: rtol 1e-10 in float64, 1e-4 in float32; samples from the same Philox numbers."""
    rng = np.random.default_rng(7)
    X = blobs(rng, 2, 2, 24)
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    for cls in (fm.GaussianMixture, fm.BayesianGaussianMixture):
        kw = dict(n_components=2, covariance_type=covariance_type, init_params="k-means++", max_iter=3, tol=0,
                  random_state=5, dtype=dtype)
        c = quiet(cls(device="cpu", **kw).fit, X)
        g = quiet(cls(device="cuda", **kw).fit, X)
        assert_allclose(g.lower_bounds_, c.lower_bounds_, rtol=rtol, atol=0)
        for name in GMM_ATTRS:
            assert_allclose(getattr(g, name), getattr(c, name), rtol=rtol,
                            atol=rtol * np.abs(getattr(c, name)).max(), err_msg=name)
        assert_allclose(g.score_samples(X), c.score_samples(X), rtol=rtol, atol=0)
        assert_allclose(g.predict_proba(X), c.predict_proba(X), rtol=0, atol=rtol)
        assert_array_equal(g.predict(X), c.predict(X))
        Xg, yg = g.sample(7)
        Xc, yc = c.sample(7)
        assert_array_equal(yg, yc)
        assert_allclose(Xg, Xc, rtol=rtol, atol=rtol)


@pytest.mark.cuda
@pytest.mark.skipif(not _backend.cuda_usable(), reason="no usable CUDA device or simulator")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cuda_kmeans_init_runs_on_the_device_and_matches_cpu(dtype, monkeypatch):
    """init_params='kmeans' (the default): Lloyd's distances run in the CUDA kernel on the device
    copy of the data (never fastgen._core), and give the CPU's labels, hence the same fit."""
    from fastgen import _core
    rng = np.random.default_rng(9)
    X = blobs(rng, 2, 2, 20)
    kw = dict(n_components=2, covariance_type="diag", init_params="kmeans", max_iter=2, tol=0, random_state=3,
              dtype=dtype)
    c = quiet(fm.GaussianMixture(device="cpu", **kw).fit, X)
    def cpu_kernel(*args):
        raise AssertionError("a CPU k-means kernel ran during a device='cuda' fit")
    for name in ("kmeans_assign", "kmeans_plusplus"):
        monkeypatch.setattr(_core.mixture, name, cpu_kernel)
    g = quiet(fm.GaussianMixture(device="cuda", **kw).fit, X)
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    assert_allclose(g.lower_bounds_, c.lower_bounds_, rtol=rtol, atol=0)
    assert_allclose(g.means_, c.means_, rtol=rtol, atol=rtol)


@pytest.mark.cuda
@pytest.mark.skipif(not _backend.cuda_usable(), reason="no usable CUDA device or simulator")
def test_cuda_accepts_device_arrays():
    from numba import cuda
    rng = np.random.default_rng(8)
    X = blobs(rng, 2, 2, 16)
    kw = dict(n_components=2, init_params="random", max_iter=2, tol=0, random_state=1)
    a = quiet(fm.GaussianMixture(device="cuda", **kw).fit, cuda.to_device(X))
    b = quiet(fm.GaussianMixture(device="cpu", **kw).fit, X)
    assert_allclose(a.means_, b.means_, rtol=1e-10, atol=1e-12)
    assert_allclose(a.score_samples(cuda.to_device(X)), b.score_samples(X), rtol=1e-10, atol=0)


# =================================================================================================
# (f) Bad input: each case asserts the exception type and a message fragment
# =================================================================================================

def _gm(**kw):
    kw.setdefault("device", "cpu")
    return fm.GaussianMixture(**kw)


def _bgm(**kw):
    kw.setdefault("device", "cpu")
    return fm.BayesianGaussianMixture(**kw)


BAD_DATA = [
    (np.array([[0.0, np.nan], [1.0, 2.0], [3.0, 1.0]]), ValueError,
     r"X: contains NaN or infinity \(first at index \(0, 1\)\)"),
    (np.array([[0.0, 1.0], [np.inf, 2.0], [3.0, 1.0]]), ValueError, "X: contains NaN or infinity"),
    (np.arange(6.0), ValueError, "X: expected a 2-D array of shape"),
    (np.zeros((0, 2)), ValueError, r"X: empty input \(0 samples\)"),
    (np.array([[1.0, 2.0]]), ValueError, "X: expected at least 2 samples to fit a mixture, got n_samples=1"),
    (np.array([["a", "b"], ["c", "d"]]), ValueError, "X: expected a numeric array"),
]


@pytest.mark.parametrize("make", [_gm, _bgm])
@pytest.mark.parametrize("X, exc, msg", BAD_DATA)
def test_bad_data(make, X, exc, msg):
    with pytest.raises(exc, match=msg):
        make(n_components=1).fit(X)


@pytest.mark.parametrize("make", [_gm, _bgm])
def test_fewer_samples_than_components(make):
    with pytest.raises(ValueError, match="X: expected n_samples >= n_components, got n_samples = 3, n_components = 4"):
        make(n_components=4).fit(np.arange(6.0).reshape(3, 2))


BAD_HYPER = [
    (dict(n_components=0), ValueError, "n_components: expected an integer >= 1, got 0"),
    (dict(n_components=2.5), ValueError, "n_components: expected an integer >= 1, got 2.5"),
    (dict(covariance_type="banded"), ValueError,
     r"covariance_type: expected one of \('spherical', 'diag', 'full', 'tied'\), got 'banded'"),
    (dict(tol=-1.0), ValueError, "tol: expected a number >= 0, got -1.0"),
    (dict(tol=float("nan")), ValueError, "tol: expected a number >= 0, got nan"),
    (dict(reg_covar=-1e-6), ValueError, "reg_covar: expected a number >= 0, got -1e-06"),
    (dict(max_iter=-1), ValueError, "max_iter: expected an integer >= 0, got -1"),
    (dict(max_iter=10.0), ValueError, "max_iter: expected an integer >= 0, got 10.0"),
    (dict(n_init=0), ValueError, "n_init: expected an integer >= 1, got 0"),
    (dict(init_params="kmeans++"), ValueError, "init_params: expected one of .*got 'kmeans\\+\\+'"),
    (dict(warm_start="yes"), ValueError, "warm_start: expected a bool, got 'yes'"),
    (dict(verbose=-1), ValueError, "verbose: expected a bool or an integer >= 0, got -1"),
    (dict(verbose_interval=0), ValueError, "verbose_interval: expected an integer >= 1, got 0"),
    (dict(random_state="seed"), ValueError, "random_state: expected None, an int or a numpy RandomState"),
    (dict(device="gpu"), ValueError, r"device must be one of \('cpu', 'cuda', 'auto'\), got 'gpu'"),
    (dict(dtype=np.float16), TypeError, "dtype must be float32 or float64, got float16"),
]


@pytest.mark.parametrize("make", [_gm, _bgm])
@pytest.mark.parametrize("kw, exc, msg", BAD_HYPER)
def test_bad_hyper_parameters(make, kw, exc, msg):
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(exc, match=msg):
        make(**kw).fit(X)


def _prec(ct, K=2, D=2):
    return {"full": np.tile(np.eye(D), (K, 1, 1)), "tied": np.eye(D), "diag": np.ones((K, D)),
            "spherical": np.ones(K)}[ct]


BAD_INIT = [
    (dict(weights_init=[0.5, 0.3, 0.2]), ValueError, r"weights_init: expected shape \(2,\), got \(3,\)"),
    (dict(weights_init=[1.2, -0.2]), ValueError, r"weights_init: weights must lie in \[0, 1\], got min -0.2"),
    (dict(weights_init=[0.5, 0.4]), ValueError, "weights_init: weights must sum to 1, got sum 0.9"),
    (dict(weights_init=[np.nan, 0.5]), ValueError, "weights_init: contains NaN or infinity"),
    (dict(weights_init=["a", "b"]), ValueError, "weights_init: expected a numeric array, got dtype <U1"),
    (dict(means_init=[[1j, 0], [0, 0]]), ValueError, "means_init: Complex data not supported"),
    (dict(weights_init="uniform"), ValueError, "weights_init: expected None or an array, got 'uniform'"),
    (dict(means_init=np.zeros((2, 3))), ValueError, r"means_init: expected shape \(2, 2\), got \(2, 3\)"),
    (dict(means_init=np.zeros(2)), ValueError, r"means_init: expected shape \(2, 2\), got \(2,\)"),
    (dict(means_init=[[0, np.inf], [0, 0]]), ValueError, "means_init: contains NaN or infinity"),
    (dict(precisions_init=np.ones((2, 2))), ValueError, r"precisions_init: expected shape \(2, 2, 2\), got \(2, 2\)"),
    (dict(precisions_init=np.array([np.eye(2), [[1.0, 2.0], [2.0, 1.0]]])), ValueError,
     r"precisions_init: 'full' precision matrices must be positive-definite \(component 1\)"),
    (dict(precisions_init=np.array([np.eye(2), [[1.0, 0.5], [0.0, 1.0]]])), ValueError,
     r"precisions_init: 'full' precision matrices must be symmetric \(component 1\)"),
    (dict(covariance_type="tied", precisions_init=-np.eye(2)), ValueError,
     "precisions_init: 'tied' precision matrices must be positive-definite"),
    (dict(covariance_type="tied", precisions_init=np.ones((2, 2, 2))), ValueError,
     r"precisions_init: expected shape \(2, 2\), got \(2, 2, 2\)"),
    (dict(covariance_type="diag", precisions_init=[[1.0, 0.0], [1.0, 1.0]]), ValueError,
     "precisions_init: 'diag' precisions must be positive, got min 0.0"),
    (dict(covariance_type="diag", precisions_init=np.ones(2)), ValueError, r"precisions_init: expected shape \(2, 2\)"),
    (dict(covariance_type="spherical", precisions_init=[1.0, -2.0]), ValueError,
     "precisions_init: 'spherical' precisions must be positive, got min -2.0"),
    (dict(covariance_type="spherical", precisions_init=[1.0, np.nan]), ValueError, "precisions_init: contains NaN"),
]


@pytest.mark.parametrize("kw, exc, msg", BAD_INIT)
def test_bad_initial_parameters(kw, exc, msg):
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(exc, match=msg):
        _gm(n_components=2, **kw).fit(X)


BAD_PRIORS = [
    (dict(weight_concentration_prior_type="dirichlet"), ValueError,
     r"weight_concentration_prior_type: expected one of \('dirichlet_process', 'dirichlet_distribution'\), "
     r"got 'dirichlet'"),
    (dict(weight_concentration_prior=0.0), ValueError, "weight_concentration_prior: expected None or a number > 0, got 0.0"),
    (dict(weight_concentration_prior="a"), ValueError, "weight_concentration_prior: expected None or a number > 0, got 'a'"),
    (dict(mean_precision_prior=-1.0), ValueError, "mean_precision_prior: expected None or a number > 0, got -1.0"),
    (dict(mean_prior=[0.0, 0.0, 0.0]), ValueError, r"mean_prior: expected shape \(2,\), got \(3,\)"),
    (dict(mean_prior=[0.0, np.nan]), ValueError, "mean_prior: contains NaN or infinity"),
    (dict(degrees_of_freedom_prior=1.0), ValueError, "degrees_of_freedom_prior: expected a number > 1.0, got 1.0"),
    (dict(covariance_prior=np.eye(3)), ValueError, r"covariance_prior: expected shape \(2, 2\), got \(3, 3\)"),
    (dict(covariance_prior=[[1.0, 2.0], [2.0, 1.0]]), ValueError,
     "covariance_prior: 'full' covariance_prior must be positive-definite"),
    (dict(covariance_type="diag", covariance_prior=[1.0, -1.0]), ValueError,
     "covariance_prior: 'diag' covariance_prior must be positive, got min -1.0"),
    (dict(covariance_type="diag", covariance_prior=1.0), ValueError,
     r"covariance_prior: expected shape \(2,\), got \(\)"),
    (dict(covariance_type="spherical", covariance_prior=0.0), ValueError,
     "covariance_prior: expected None, a number > 0 or an array, got 0.0"),
    (dict(covariance_type="spherical", covariance_prior=np.float64(-1.0)), ValueError,
     "covariance_prior: 'spherical' covariance_prior must be positive, got -1.0"),
]


@pytest.mark.parametrize("kw, exc, msg", BAD_PRIORS)
def test_bad_bayesian_priors(kw, exc, msg):
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(exc, match=msg):
        _bgm(n_components=2, **kw).fit(X)


@pytest.mark.parametrize("make", [_gm, _bgm])
def test_unfitted_and_mismatched_inputs(make):
    X = np.random.default_rng(0).normal(size=(20, 2))
    m = make(n_components=2)
    for call in (lambda: m.predict(X), lambda: m.predict_proba(X), lambda: m.score(X), lambda: m.sample(3)):
        with pytest.raises(fm.NotFittedError, match="instance is not fitted yet"):
            call()
    assert issubclass(fm.NotFittedError, ValueError) and issubclass(fm.NotFittedError, AttributeError)
    m.fit(X)
    with pytest.raises(ValueError, match=r"X has 3 features, but \w+ is expecting 2 features"):
        m.predict(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="X: contains NaN or infinity"):
        m.score_samples(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match="n_samples: expected a positive integer, got 0"):
        m.sample(0)
    with pytest.raises(ValueError, match="n_samples: expected a positive integer, got 2.0"):
        m.sample(2.0)
