"""fastgen.mixture estimators given their data as a device array (a Numba device array on "cuda";
the NumPy array in Fortran order on "cpu"): the same fit and inference as from the NumPy array on
the CPU, for every initialisation, the same errors for bad data, and (CUDA) no host copy of the
data: validation, the column mean and shift, k-means (centre updates, labels, one-hot
responsibilities) and the float32 range check run on the device (device_inputs.no_host_copy).

Tolerances: float64 rtol 1e-10 (absolute floor 1e-12 times the largest entry): the device sums
(column mean, k-means centre sums) are weighted_moments' float64 chunks where NumPy sums
pairwise or by np.bincount, and the CUDA kernels round differently from the C++ ones; three EM
steps on well-separated blobs keep that at ~1e-14. float32: rtol 1e-4, the kernels' own float32
rounding (mixture_cases.py). Sizes are tiny: the simulator runs every CUDA thread in Python.
"""
from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from device_inputs import device_input, no_host_copy, same_error
from fastgen import mixture as fm
from mixture_cases import blobs, GMM_ATTRS, quiet

RTOL = {np.float64: 1e-10, np.float32: 1e-4}


def _data(seed=3):
    return blobs(np.random.default_rng(seed), 2, 2, 20) + np.array([4.0, -2.0])   # off the origin


# 'random_from_data' starts each component on one point: a full covariance there is reg_covar * I
# (collapsed, precisions ~1e6 that amplify rounding), so GaussianMixture takes it tied.
CASES = ([("GaussianMixture", init, "full", np.float64) for init in ("kmeans", "k-means++", "random")]
         + [("GaussianMixture", "random_from_data", "tied", np.float64)]
         + [("BayesianGaussianMixture", init, "full", np.float64) for init in ("kmeans", "random_from_data")]
         + [("GaussianMixture", "kmeans", ct, np.float64) for ct in ("tied", "diag", "spherical")]
         + [("GaussianMixture", "kmeans", "diag", np.float32)])


@pytest.mark.parametrize("cls_name, init, covariance_type, dtype", CASES)
def test_device_array_gives_the_host_fit_and_inference(device, cls_name, init, covariance_type, dtype):
    X = _data()
    kw = dict(n_components=2, covariance_type=covariance_type, init_params=init, max_iter=3, tol=0,
              random_state=5, dtype=dtype)
    cls = getattr(fm, cls_name)
    ref = quiet(cls(device="cpu", **kw).fit, X)
    Xd = device_input(device, X)
    with no_host_copy(Xd):
        m = cls(device=device, **kw)
        labels = quiet(m.fit_predict, Xd)
        logprob = m.score_samples(Xd)
        proba = m.predict_proba(Xd)
        predicted = m.predict(Xd)
        score = m.score(Xd)
    rtol = RTOL[dtype]
    assert_allclose(m.lower_bounds_, ref.lower_bounds_, rtol=rtol, atol=0)
    for name in GMM_ATTRS:
        want = getattr(ref, name)
        assert_allclose(getattr(m, name), want, rtol=rtol, atol=rtol * 1e-2 * np.abs(want).max(), err_msg=name)
    assert_allclose(logprob, ref.score_samples(X), rtol=rtol, atol=0)
    assert_allclose(score, ref.score(X), rtol=rtol, atol=0)
    assert_allclose(proba, ref.predict_proba(X), rtol=0, atol=rtol)
    assert_array_equal(predicted, ref.predict(X))
    assert_array_equal(labels, predicted)


def _nan_at(X, i, j):
    X = X.copy()
    X[i, j] = np.nan
    return X


# (bad data, estimator keywords, fit or predict with a model fitted on good data)
BAD = [
    (lambda X: _nan_at(X, 4, 1), {}, "fit"),
    (lambda X: _nan_at(X, 2, 0), {}, "predict"),
    (lambda X: X[:, :1], {}, "predict"),                          # wrong n_features
    (lambda X: X[:, 0], {}, "fit"),                               # 1-D
    (lambda X: X[:1], {}, "fit"),                                 # one sample
    (lambda X: X * 1e40, {"dtype": np.float32}, "fit"),           # beyond float32 about the mean
    (lambda X: X * 1e-30, {"dtype": np.float32}, "predict"),      # below float32's square-root range
]


@pytest.mark.parametrize("cls_name", ["GaussianMixture", "BayesianGaussianMixture"])
@pytest.mark.parametrize("corrupt, kw, where", BAD)
def test_device_bad_input_raises_the_host_error(device, cls_name, corrupt, kw, where):
    X = _data()
    bad = np.ascontiguousarray(corrupt(X))
    cls = getattr(fm, cls_name)
    kw = dict(n_components=2, max_iter=2, random_state=0, **kw)
    if where == "fit":
        same_error(lambda: quiet(cls(device="cpu", **kw).fit, bad),
                   lambda: quiet(cls(device=device, **kw).fit, device_input(device, bad)), (ValueError, TypeError))
    else:
        on_host, on_device = quiet(cls(device="cpu", **kw).fit, X), quiet(cls(device="cpu", **kw).fit, X)
        on_device.device = device
        same_error(lambda: on_host.predict(bad), lambda: on_device.predict(device_input(device, bad)),
                   (ValueError, TypeError))
