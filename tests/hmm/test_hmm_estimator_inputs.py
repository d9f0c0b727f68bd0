"""Bad input to the fastgen.hmm estimators: the exact exception type and message (X, lengths,
symbols, counts, parameters, hyper-parameters, devices, unfitted models). Model factory:
hmm_estimator_cases.py.
"""
from __future__ import annotations

import numpy as np
import pytest

from fastgen.exceptions import InvalidParameterError as FastgenInvalidParameter
from numpy.testing import assert_array_equal

from fastgen import _backend
from fastgen import hmm as fhmm
from hmm_estimator_cases import make, _problem


# =================================================================================================
# (d) Bad input: exact exception type and message
# =================================================================================================

def _gauss(**kw):
    kw.setdefault("device", "cpu")
    return fhmm.GaussianHMM(2, **kw)


def _fitted_gauss(rng, ct="diag", D=2):
    m = _gauss(covariance_type=ct, n_iter=2, random_state=0)
    return m.fit(rng.normal(size=(60, D)))


def test_bad_X_dimensions(rng):
    with pytest.raises(ValueError,
                       match=r"X: expected a 2-D array of shape \(n_samples, n_features\), got shape \(10,\)"):
        _gauss().fit(rng.normal(size=10))
    with pytest.raises(ValueError, match=r"X: expected a 2-D array, got shape \(2, 3, 4\)"):
        _gauss().fit(rng.normal(size=(2, 3, 4)))
    m = _fitted_gauss(rng)
    with pytest.raises(ValueError, match=r"X has 3 features, but \w+ is expecting 2 features"):
        m.score(rng.normal(size=(10, 3)))
    with pytest.raises(ValueError, match=r"X has 1 features, but \w+ is expecting 2 features"):
        m.predict(rng.normal(size=(10, 1)))
    with pytest.raises(ValueError, match=r"X: empty input \(0 samples\)"):
        _gauss().fit(np.zeros((0, 2)))
    with pytest.raises(ValueError, match=r"X: empty input \(0 samples\)"):
        m.score(np.zeros((0, 2)))
    with pytest.raises(ValueError, match="X: expected a numeric array, got dtype <U1"):
        _gauss().fit(np.array([["a", "b"]]))


@pytest.mark.parametrize("lengths, exc, msg", [
    ([5, 4], ValueError, "lengths: must sum to n_samples=10, got sum 9"),
    ([5, 6], ValueError, "lengths: must sum to n_samples=10, got sum 11"),
    ([5, 0, 5], ValueError, r"lengths: every sequence needs at least one sample, got lengths\[1\] = 0"),
    ([12, -2], ValueError, r"lengths: every sequence needs at least one sample, got lengths\[1\] = -2"),
    ([], ValueError, "lengths: expected a non-empty 1-D array"),
    ([[5, 5]], ValueError, "lengths: expected a non-empty 1-D array"),
    ([5.5, 4.5], TypeError, "lengths: expected integers, got dtype float64"),
])
def test_bad_lengths(rng, lengths, exc, msg):
    X = rng.normal(size=(10, 2))
    with pytest.raises(exc, match=msg):
        _gauss().fit(X, lengths)
    m = _fitted_gauss(rng)
    with pytest.raises(exc, match=msg):
        m.score(X, lengths)


@pytest.mark.parametrize("model", ["gaussian-full", "poisson", "categorical"])
def test_any_array_layout_or_dtype_is_accepted(rng, model):
    """The estimator converts once: lists, Fortran order, strided views, other int/float dtypes and
    float32 data all give exactly the result of the C-contiguous float64 (int64) array."""
    params, X, lengths = _problem(rng, model)
    m = make(fhmm, model, params)
    want = m.score(X, lengths), m.predict_proba(X, lengths)
    wide = np.repeat(X, 2, axis=1)
    variants = [X.tolist(), np.asfortranarray(X), wide[:, ::2]]
    if model == "categorical":
        variants += [X.astype(np.int32), X.astype(np.uint8)]
    else:
        variants += [X.astype(np.float32) if model == "gaussian-full" else X.astype(np.int32)]
    for V in variants:
        V32 = np.asarray(V)
        ref_score = want[0] if V32.dtype != np.float32 else m.score(X.astype(np.float32).astype(np.float64), lengths)
        assert m.score(V, lengths) == ref_score
        if V32.dtype != np.float32:
            assert_array_equal(m.predict_proba(V, list(lengths)), want[1])


def test_integral_float_lengths_accepted(rng):
    X = rng.normal(size=(10, 2))
    m = _fitted_gauss(rng)
    assert m.score(X, np.array([4.0, 6.0])) == m.score(X, [4, 6])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_X(rng, bad):
    X = rng.normal(size=(10, 2))
    X[3, 1] = bad
    with pytest.raises(ValueError, match=r"X: contains NaN or infinity \(first at index \(3, 1\)\)"):
        _gauss().fit(X)
    with pytest.raises(ValueError, match="X: contains NaN or infinity"):
        _fitted_gauss(rng).predict(X)
    with pytest.raises(ValueError, match="X: contains NaN or infinity"):
        fhmm.PoissonHMM(2, device="cpu").fit(np.abs(X))


def test_bad_categorical_symbols(rng):
    m = fhmm.CategoricalHMM(2, n_iter=2, random_state=0, device="cpu").fit(rng.integers(0, 3, (50, 1)))
    with pytest.raises(ValueError, match="X: largest symbol is 3 but the model only emits symbols up to 2"):
        m.score(np.array([[0], [3], [1]]))
    with pytest.raises(ValueError, match="X: symbols must be non-negative, got -1"):
        m.score(np.array([[0], [-1], [1]]))
    with pytest.raises(ValueError, match="X: symbols must be non-negative, got -1"):
        fhmm.CategoricalHMM(2, device="cpu").fit(np.array([[0], [-1], [1]]))
    with pytest.raises(ValueError, match="X: symbols must be integers, got dtype float64"):
        fhmm.CategoricalHMM(2, device="cpu").fit(np.array([[0.0], [1.5], [1.0]]))
    with pytest.raises(ValueError, match="X: symbols must be integers, got dtype float64"):
        m.predict(np.array([[0.0], [1.0]]))
    with pytest.raises(ValueError, match=r"X: CategoricalHMM expects shape \(n_samples, 1\)"):
        m.score(np.zeros((4, 2), dtype=np.int64))
    fixed = fhmm.CategoricalHMM(2, n_features=3, device="cpu")
    with pytest.raises(ValueError, match="X: largest symbol is 5 but the model only emits symbols up to 2"):
        fixed.fit(np.array([[0], [5], [1]]))


def test_bad_poisson_counts(rng):
    with pytest.raises(ValueError, match=r"X: Poisson counts must be non-negative, got min -1"):
        fhmm.PoissonHMM(2, device="cpu").fit(np.array([[0, 2], [-1, 3]]))
    with pytest.raises(ValueError, match="X: Poisson counts must be integers"):
        fhmm.PoissonHMM(2, device="cpu").fit(np.array([[0, 2.5], [1, 3]]))
    m = fhmm.PoissonHMM(2, n_iter=2, random_state=0, device="cpu").fit(rng.poisson(3, (40, 2)))
    with pytest.raises(ValueError, match="X: Poisson counts must be integers"):
        m.score(np.array([[0.5, 1.0]]))
    with pytest.raises(ValueError, match=r"X has 3 features, but \w+ is expecting 2 features"):
        m.score(np.zeros((3, 3)))
    m.lambdas_ = np.array([[1.0, -2.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="lambdas_: must be non-negative, got min -2"):
        m.score(np.zeros((3, 2)))


@pytest.mark.parametrize("name, value, msg", [
    ("startprob_", [0.5, 0.6], r"startprob_: must sum to 1, got sums \[1.1\]"),
    ("startprob_", [1.5, -0.5], "startprob_: probabilities must be non-negative, got min -0.5"),
    ("startprob_", [0.5, 0.3, 0.2], r"startprob_: expected shape \(2,\), got \(3,\)"),
    ("startprob_", [np.nan, 1.0], "startprob_: contains NaN or infinity"),
    ("transmat_", [[0.5, 0.5], [0.5, 0.4]], "transmat_: rows must sum to 1"),
    ("transmat_", [[1.2, -0.2], [0.5, 0.5]], "transmat_: probabilities must be non-negative"),
    ("transmat_", [[1.0, 0.0]], r"transmat_: expected shape \(2, 2\), got \(1, 2\)"),
])
def test_bad_start_and_transition(rng, name, value, msg):
    m = _fitted_gauss(rng)
    setattr(m, name, np.array(value))
    X = rng.normal(size=(10, 2))
    for call in (m.score, m.predict, m.predict_proba, lambda X: m.sample(5)):
        with pytest.raises(ValueError, match=msg):
            call(X)
    m2 = _gauss(init_params="mc", n_iter=1)
    setattr(m2, name, np.array(value))
    m2.startprob_ = getattr(m2, "startprob_", np.array([0.5, 0.5]))
    m2.transmat_ = getattr(m2, "transmat_", np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match=msg):
        m2.fit(X)


NOT_PD = "covars_: covariance matrices must be positive-definite"


@pytest.mark.parametrize("ct, covars, msg", [
    ("full", [[[1.0, 2.0], [2.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]], NOT_PD),
    ("full", [[[1.0, 0.5], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]], "covars_: covariance matrices must be symmetric"),
    ("full", [[[1.0, 0.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]]], NOT_PD),
    ("tied", [[1.0, 2.0], [2.0, 1.0]], NOT_PD),
    ("diag", [[1.0, -1.0], [1.0, 1.0]], "covars_: 'diag' variances must be positive, got min -1"),
    ("diag", [[1.0, 0.0], [1.0, 1.0]], "covars_: 'diag' variances must be positive, got min 0"),
    ("spherical", [1.0, -0.5], "covars_: 'spherical' variances must be positive, got min -0.5"),
    ("diag", [[1.0, 1.0]] * 3, r"covars_: 'diag' covariances need shape \(2, 2\), got \(3, 2\)"),
    ("full", np.ones((2, 1, 2, 2)), r"covars_: 'full' covariances need shape \(2, 2, 2\), got \(2, 1, 2, 2\)"),
    ("full", [[[1.0, 0.0], [0.0, np.nan]], [[1.0, 0.0], [0.0, 1.0]]], "covars_: contains NaN or infinity"),
])
def test_bad_gaussian_covariances(rng, ct, covars, msg):
    m = _gauss(covariance_type=ct, init_params="st", n_iter=1)
    m.means_ = np.zeros((2, 2))
    m.covars_ = np.array(covars)
    with pytest.raises(ValueError, match=msg):
        m.fit(rng.normal(size=(20, 2)))
    m.startprob_, m.transmat_ = np.array([0.5, 0.5]), np.full((2, 2), 0.5)
    with pytest.raises(ValueError, match=msg):
        m.score(rng.normal(size=(20, 2)))


def test_bad_gmm_parameters(rng):
    m = fhmm.GMMHMM(2, n_mix=2, covariance_type="diag", init_params="", device="cpu")
    m.startprob_, m.transmat_ = np.array([0.5, 0.5]), np.full((2, 2), 0.5)
    m.means_, m.weights_ = np.zeros((2, 2, 3)), np.full((2, 2), 0.5)
    m.covars_ = -np.ones((2, 2, 3))
    X = rng.normal(size=(10, 3))
    with pytest.raises(ValueError, match="covars_: 'diag' variances must be positive"):
        m.score(X)
    m.covars_ = np.ones((2, 3))
    with pytest.raises(ValueError, match=r"covars_: 'diag' mixture covariances need shape \(2, 2, 3\), got \(2, 3\)"):
        m.score(X)
    m.covars_ = np.ones((2, 2, 3))
    m.weights_ = np.array([[0.5, 0.6], [0.5, 0.5]])
    with pytest.raises(ValueError, match="weights_: rows must sum to 1"):
        m.score(X)
    m.weights_ = np.full((2, 2), 0.5)
    m.means_ = np.zeros((2, 3, 3))
    with pytest.raises(ValueError, match=r"means_: expected shape \(2, 2, n_features\), got \(2, 3, 3\)"):
        m.score(X)


def test_bad_hyper_parameters(rng):
    X = rng.normal(size=(20, 2))
    with pytest.raises(ValueError, match=r"device must be one of \('cpu', 'cuda', 'auto'\), got 'gpu'"):
        _gauss(device="gpu").fit(X)
    with pytest.raises(ValueError, match=r"implementation: expected one of \('scaling', 'log'\), got 'fast'"):
        _gauss(implementation="fast").fit(X)
    with pytest.raises(ValueError, match=r"algorithm: expected one of \('viterbi', 'map'\), got 'best'"):
        _gauss(algorithm="best").fit(X)
    with pytest.raises(TypeError, match="dtype must be float32 or float64, got float16"):
        _gauss(dtype=np.float16).fit(X)
    with pytest.raises(TypeError, match="dtype must be float32 or float64, got int64"):
        _gauss(dtype="int64").fit(X)
    with pytest.raises(ValueError, match="n_components: expected an integer >= 1, got 0"):
        fhmm.GaussianHMM(0, device="cpu").fit(X)
    with pytest.raises(ValueError, match="n_components: expected an integer >= 1, got 2.5"):
        fhmm.GaussianHMM(2.5, device="cpu").fit(X)
    with pytest.raises(ValueError, match="n_iter: expected an integer >= 0, got -1"):
        _gauss(n_iter=-1).fit(X)
    with pytest.raises(ValueError, match="tol: expected a number, got nan"):
        _gauss(tol=float("nan")).fit(X)
    with pytest.raises(ValueError, match=r"covariance_type: expected one of \('spherical', 'diag', 'full', 'tied'\)"):
        _gauss(covariance_type="block").fit(X)
    with pytest.raises(FastgenInvalidParameter):   # both a ValueError and a TypeError, as scikit-learn's
        _gauss(min_covar=-1.0).fit(X)
    with pytest.raises(ValueError, match="random_state: expected None, an int or a numpy RandomState"):
        _gauss(random_state="seed").fit(X)
    m = _fitted_gauss(rng)
    with pytest.raises(ValueError, match=r"algorithm: expected one of \('viterbi', 'map'\), got 'best'"):
        m.decode(X, algorithm="best")
    with pytest.raises(ValueError, match="n_samples: expected a positive integer, got 0"):
        m.sample(0)


BAD_COVARIANCE_TYPE = r"covariance_type: expected one of \('spherical', 'diag', 'full', 'tied'\), got 'banded'"


@pytest.mark.parametrize("cls", [fhmm.GaussianHMM, fhmm.GMMHMM])
def test_invalid_covariance_type(rng, cls):
    """An unknown covariance_type is a ValueError naming the choices (not a KeyError from a lookup
    table in the initialisation), on fit and on score."""
    X = rng.normal(size=(20, 2))
    with pytest.raises(ValueError, match=BAD_COVARIANCE_TYPE):
        cls(2, covariance_type="banded", device="cpu").fit(X)
    m = cls(2, covariance_type="banded", init_params="", device="cpu")
    m.startprob_, m.transmat_ = np.array([0.5, 0.5]), np.full((2, 2), 0.5)
    m.means_ = np.zeros((2, 2)) if cls is fhmm.GaussianHMM else np.zeros((2, 1, 2))
    m.covars_ = np.ones((2, 2))
    if cls is fhmm.GMMHMM:
        m.weights_ = np.ones((2, 1))
    with pytest.raises(ValueError, match=BAD_COVARIANCE_TYPE):
        m.score(X)


def test_device_cuda_without_gpu_raises(rng):
    if _backend.cuda_usable():
        pytest.skip("a CUDA device (or the simulator) is usable here")
    X = rng.normal(size=(20, 2))
    with pytest.raises(RuntimeError, match="device='cuda' was requested but no usable CUDA GPU was found"):
        fhmm.GaussianHMM(2, device="cuda").fit(X)
    m = _fitted_gauss(rng)
    m.device = "cuda"
    with pytest.raises(RuntimeError, match="device='cuda' was requested"):
        m.score(X)


def test_device_auto_runs_without_gpu(rng):
    if _backend.cuda_usable():
        pytest.skip("a CUDA device (or the simulator) is usable here")
    X = rng.normal(size=(50, 2))
    a = fhmm.GaussianHMM(2, n_iter=3, random_state=0, device="auto").fit(X)
    b = fhmm.GaussianHMM(2, n_iter=3, random_state=0, device="cpu").fit(X)
    assert a.score(X) == b.score(X)


@pytest.mark.parametrize("cls", [fhmm.GaussianHMM, fhmm.CategoricalHMM, fhmm.PoissonHMM, fhmm.GMMHMM])
def test_unfitted_model(cls):
    m = cls(2, device="cpu")
    X = np.zeros((3, 1), dtype=np.int64)
    for call in (m.score, m.predict, m.predict_proba, m.decode, lambda X: m.sample(3)):
        with pytest.raises(AttributeError, match=f"This {cls.__name__} instance is not fitted yet"):
            call(X)


def test_missing_parameters_without_init(rng):
    m = fhmm.GaussianHMM(2, init_params="", device="cpu")
    m.means_, m.covars_ = np.zeros((2, 2)), np.ones((2, 2))
    m.startprob_ = np.array([0.5, 0.5])  # transmat_ missing, and 't' not in init_params...
    # ... then the default initialisation supplies it (hmmlearn: an attribute that was never set
    # is initialised whatever init_params says).
    m.fit(rng.normal(size=(20, 2)))
    assert m.transmat_.shape == (2, 2)


def test_impossible_sequence_under_fitted_model():
    m = fhmm.CategoricalHMM(2, init_params="", device="cpu")
    m.startprob_ = np.array([1.0, 0.0])
    m.transmat_ = np.eye(2)
    m.emissionprob_ = np.array([[1.0, 0.0], [0.0, 1.0]])
    X = np.array([[0], [1], [0]])
    assert m.score(X) == -np.inf
    with pytest.raises(ValueError, match="X: sequence 0 has zero probability under the model"):
        m.predict_proba(X)
    with pytest.raises(ValueError, match="X: sequence 1 has zero probability under the model .*; EM cannot continue"):
        m.fit(np.array([[0], [0], [1], [0]]), [2, 2])
