"""scikit-learn's conventions that a drop-in mixture must keep beyond the numbers: the dtype-
following tolerance of weights_init and scikit-learn's estimator checks.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from fastgen import mixture as fm

sk = pytest.importorskip("sklearn.mixture")


def _weights(dtype, error=0.0):
    """7 weights normalised in `dtype` (float32: their exact sum is 1 + 4.5e-8), plus `error`."""
    w = np.full(7, 1.0 / 7, dtype=dtype)
    w[0] += dtype(error)
    return w


@pytest.mark.parametrize("weights, accepted", [
    (_weights(np.float32), True),          # scikit-learn: 1e-6 for float32 weights
    (_weights(np.float32, 5e-7), True),
    (_weights(np.float32, 5e-6), False),
    (_weights(np.float64), True),
    (_weights(np.float64, 5e-8), False),   # scikit-learn: 1e-8 for float64 weights
    (list(_weights(np.float64, 5e-9)), True),
])
@pytest.mark.parametrize("library", ["fastgen", "sklearn"])
def test_weights_init_tolerance_follows_the_dtype(weights, accepted, library):
    X = np.random.default_rng(0).normal(size=(50, 2))
    cls = fm.GaussianMixture if library == "fastgen" else sk.GaussianMixture
    kw = {"device": "cpu"} if library == "fastgen" else {}
    model = cls(7, weights_init=weights, max_iter=2, **kw)
    if accepted:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # not converged in 2 iterations
            model.fit(X)
        assert np.isclose(model.weights_.sum(), 1.0)
    else:
        msg = "weights_init: weights must sum to 1" if library == "fastgen" else "should be normalized"
        with pytest.raises(ValueError, match=msg):
            model.fit(X)


@pytest.mark.slow
@pytest.mark.parametrize("cls", ["GaussianMixture", "BayesianGaussianMixture"])
def test_sklearn_estimator_checks_all_pass(cls):
    """scikit-learn's mixtures pass all of them; so do fastgen's (check_fit2d_1sample looks for
    "n_samples=1" or the like in the error)."""
    from sklearn.utils.estimator_checks import check_estimator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(getattr(fm, cls)(device="cpu"), on_fail=None)
    failed = {r["check_name"]: str(r["exception"])[:200] for r in results if r["status"] == "failed"}
    assert failed == {}
    assert sum(r["status"] == "passed" for r in results) >= 40


@pytest.mark.parametrize("cls", ["GaussianMixture", "BayesianGaussianMixture"])
def test_tags_say_density_estimator(cls):
    """BaseEstimator's generic __sklearn_tags__, driven by the mixtures' _estimator_type."""
    from sklearn.utils import get_tags
    tags = get_tags(getattr(fm, cls)())
    assert tags.estimator_type == getattr(sk, cls)().__sklearn_tags__().estimator_type == "density_estimator"
    assert tags.target_tags.required is False and tags.transformer_tags is None
    assert tags.classifier_tags is None and tags.regressor_tags is None
