"""The one estimator base shared by every family: the public surface (top-level names, one device
default), NotFittedError before fit, scikit-learn's parameter protocol, the fit-history convention
(n_iter_ and the peer-named curve), and the exceptions module."""
from __future__ import annotations

import inspect
import numbers

import numpy as np
import pytest

import fastgen
from fastgen import exceptions

ESTIMATORS = [fastgen.GaussianHMM, fastgen.CategoricalHMM, fastgen.PoissonHMM, fastgen.GMMHMM,
              fastgen.GaussianMixture, fastgen.BayesianGaussianMixture, fastgen.BernoulliRBM,
              fastgen.GaussianBernoulliRBM, fastgen.DBN, fastgen.VAE, fastgen.GAN, fastgen.Autoencoder,
              fastgen.AR, fastgen.VAR, fastgen.MADE]


def test_top_level_exports_every_estimator_and_nothing_private():
    for name in fastgen.__all__:
        assert not name.startswith("_") or name == "__version__"
        assert hasattr(fastgen, name)
    assert fastgen.vae.VAE is fastgen.nn.VAE is fastgen.VAE
    assert fastgen.gan.GAN is fastgen.GAN and fastgen.autoencoder.Autoencoder is fastgen.Autoencoder
    assert not hasattr(fastgen.nn, "Engine") and not hasattr(fastgen.nn, "run_epochs")


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_one_device_default_and_the_params_protocol(cls):
    sig = inspect.signature(cls.__init__)
    assert sig.parameters["device"].default == "auto"
    est = cls()
    params = est.get_params()
    assert params["device"] == "auto"
    assert est.set_params(device="cpu") is est and est.device == "cpu"
    with pytest.raises(ValueError, match="Invalid parameter"):
        est.set_params(no_such_parameter=1)
    assert repr(est).startswith(cls.__name__ + "(")


def _use_unfitted(cls):
    """Call the first inference method an unfitted `cls` has (which must raise NotFittedError)."""
    est = cls(device="cpu")
    method = next(getattr(est, m) for m in ("predict", "transform", "score_samples", "forecast", "sample")
                  if hasattr(est, m))
    method(np.zeros((3, 2))) if method.__name__ != "sample" else method(1)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_not_fitted_error_everywhere(cls):
    with pytest.raises(exceptions.NotFittedError, match="is not fitted yet"):
        _use_unfitted(cls)
    assert issubclass(exceptions.NotFittedError, AttributeError) and issubclass(exceptions.NotFittedError,
                                                                                ValueError)


def test_exceptions_are_the_peers_kinds():
    assert issubclass(exceptions.InvalidParameterError, ValueError)
    assert issubclass(exceptions.InvalidParameterError, TypeError)
    assert issubclass(exceptions.ConvergenceWarning, UserWarning)
    assert issubclass(exceptions.StationarityWarning, RuntimeWarning)
    assert fastgen.mixture.ConvergenceWarning is exceptions.ConvergenceWarning
    assert fastgen.autoregressive.StationarityWarning is exceptions.StationarityWarning


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_scikit_learn_catches_the_not_fitted_error(cls):
    """Issue 13 (2): ``except sklearn.exceptions.NotFittedError`` catches every estimator's error,
    and the error still pickles (joblib sends a worker's exception back to its parent)."""
    import pickle

    sklearn_exceptions = pytest.importorskip("sklearn.exceptions")
    with pytest.raises(sklearn_exceptions.NotFittedError) as caught:
        _use_unfitted(cls)
    err = caught.value
    assert isinstance(err, exceptions.NotFittedError) and isinstance(err, AttributeError)
    back = pickle.loads(pickle.dumps(err))
    assert isinstance(back, sklearn_exceptions.NotFittedError) and back.args == err.args


def test_scikit_learn_filters_and_catches_the_other_peers():
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.utils._param_validation import InvalidParameterError
    X = np.random.default_rng(0).normal(size=(40, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", category=ConvergenceWarning)   # scikit-learn's class
        fastgen.GaussianMixture(2, max_iter=1, device="cpu", random_state=0).fit(X)
    with pytest.warns(ConvergenceWarning):
        fastgen.GaussianMixture(2, max_iter=1, device="cpu", random_state=0).fit(X)
    with pytest.raises(InvalidParameterError, match="n_components"):
        fastgen.GaussianMixture(n_components=0, device="cpu").fit(X)


def test_fit_history_convention():
    X = np.random.default_rng(0).normal(size=(60, 2))
    hmm = fastgen.GaussianHMM(2, n_iter=5, tol=-np.inf, random_state=0, device="cpu").fit(X)
    assert hmm.n_iter_ == 5 == len(hmm.monitor_.history)
    gmm = fastgen.GaussianMixture(2, random_state=0, device="cpu").fit(X)
    assert gmm.n_iter_ == len(gmm.lower_bounds_) >= 1
    B = (X > 0).astype(np.float32)
    rbm = fastgen.BernoulliRBM(3, n_iter=2, random_state=0, device="cpu").fit(B)
    assert rbm.n_iter_ == 2 and rbm.score_curve_ == []
    vae = fastgen.VAE((4,), 2, max_epochs=2, batch_size=20, random_state=0, device="cpu").fit(B)
    assert vae.n_iter_ == 2 == len(vae.loss_curve_)


def test_version_in_one_place():
    import importlib.metadata
    try:
        assert importlib.metadata.version("fastgen") == fastgen.__version__
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("fastgen is not installed as a distribution here")


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_float_hyper_parameters_reject_nan_and_infinity(cls):
    """Issue 14 (3): an infinite or NaN rate, tolerance or regularisation is refused by name before
    it can fit NaN (GaussianMixture(reg_covar=inf) filled covariances_ with NaN); the HMMs' tol
    alone takes -inf (hmmlearn's "never stop on the gain")."""
    from fastgen._params import Interval
    checked = 0
    for name, allowed in cls._parameter_constraints.items():
        reals = [c for c in allowed if isinstance(c, Interval) and c.kind is not numbers.Integral]
        if not reals:
            continue
        for bad in (np.nan, np.inf, -np.inf):
            est = cls(device="cpu").set_params(**{name: bad})
            if np.isinf(bad) and any(c.allow_inf for c in reals):
                continue
            with pytest.raises(exceptions.InvalidParameterError, match=f"^{name}: expected"):
                est._validate_params()
            checked += 1
    assert checked or cls in (fastgen.AR, fastgen.VAR, fastgen.DBN)
