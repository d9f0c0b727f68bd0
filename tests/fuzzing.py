"""The bad-input generator and contract of the fuzz tests (tests/<family>/test_<family>_fuzz.py,
issue 14), written once: ``arrays()`` draws a possibly bad (n_samples, n_features) argument (odd
shapes, dtypes, NaN/inf at a random place, extreme scales, degenerate data), ``check`` asserts the
contract: a finite result (of `shape`, when given), or a ValueError/TypeError naming the argument,
or, for a fit that diverged on extreme data, the FloatingPointError that names learning_rate and X.
"""
import warnings

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# derandomize: the same examples on every run (CI must not turn red on a new draw); the generators
# still explore shapes, dtypes and scales widely.
SETTINGS = settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
D = 4
DTYPES = ["int64", "bool", "float16", "float32", "float64", "complex128", "object", "str"]
# sizes and counts an argument may be given: negative, zero, absurd, NaN, a bool, a string, None
SIZES = st.one_of(st.integers(-3, 3), st.just(10**10), st.just(10**18), st.floats(allow_nan=True),
                  st.just(True), st.just("3"), st.none())
# HMM-style sequence lengths: None, lists that may not sum to n_samples, negative, huge, fractional
LENGTHS = st.one_of(st.none(), st.lists(st.integers(-2, 8), max_size=4), st.just([10**12]), st.just([2.5, 3]))
# the one infinity each method's result may be (see check): a log-likelihood below float64's range
# rounds to -inf (scikit-learn's too), the information criteria to +inf
OVERFLOW = {"score": -np.inf, "score_samples": -np.inf, "aic": np.inf, "bic": np.inf}


@st.composite
def arrays(draw, n_features=D):
    """A possibly bad array for an argument that expects (n_samples, n_features) numbers."""
    shape = draw(st.sampled_from([(0, n_features), (3, 0), (5,), (4, n_features, 2), (1, n_features),
                                  (6, n_features), (6, n_features + 1)]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    X = rng.random(shape)
    kind = draw(st.sampled_from(["plain", "binary", "nan", "inf", "tiny", "huge", "constant", "negative"]))
    if kind == "binary":
        X = (X < 0.5).astype(float)
    elif kind in ("nan", "inf") and X.size:
        X.flat[draw(st.integers(0, X.size - 1))] = np.nan if kind == "nan" else -np.inf
    elif kind == "tiny":
        X = X * 1e-300
    elif kind == "huge":
        X = X * 1e300
    elif kind == "constant" and X.ndim == 2 and X.shape[1]:
        X[:, 0] = 0.7
    elif kind == "negative":
        X = X - 2
    dtype = draw(st.sampled_from(DTYPES))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dtype == "str":
            return X.astype(str)
        if dtype == "object":
            return X.astype(object)
        return X.astype(dtype)


def check(call, names, shape=None, overflow=None):
    """The contract: a finite result (of `shape`, when given) or an error naming one of `names`.
    `overflow`: the one infinity a result may also be, where it is the rounding of a true value
    beyond float64's range (a log-likelihood of data far from every component: -inf; its AIC: +inf)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = call()
    except (ValueError, TypeError) as e:
        assert any(n in str(e) for n in names), f"{type(e).__name__} names none of {names}: {e}"
        return None
    except FloatingPointError as e:   # a fit that diverged on extreme data says so, in the user's terms
        assert "standardise X or lower learning_rate" in str(e), str(e)
        return None
    if hasattr(out, "get_params"):   # fit and partial_fit return the estimator
        return out
    for a in out if isinstance(out, tuple) else (out,):
        a = np.asarray(a)
        a = a.astype(np.float64)
        assert (np.isfinite(a) | (a == overflow)).all(), f"non-finite result {a}"
    if shape is not None:
        assert np.shape(out) == shape
    return out
