"""Shared input checks. Every error names the argument, what was expected and what was received."""
from __future__ import annotations

import numbers

import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)


def check_dtype(dtype) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt


def check_array(X, name="X", *, ndim=2, dtype=np.float64, n_features=None, allow_int=False, finite=True,
                owner="estimator"):
    """A C-contiguous array of `dtype` (or int64 when `allow_int`), finite, non-empty. finite=False
    leaves the finiteness check to a caller that scans the values anyway (see nonfinite_error).
    `owner`, the estimator's class name, words the feature-count error as scikit-learn's."""
    if X is None:
        raise ValueError(f"{name}: expected an array, got None")
    if is_sparse(X):
        raise TypeError(f"{name}: sparse input is not supported by {owner}; convert it with X.toarray()")
    from ._backend import is_device_array, to_host   # (_backend imports this module)
    if is_device_array(X):
        X = to_host(X)
    X = np.asarray(X)
    if X.dtype == object:  # numbers in an object array (pandas, lists of mixed types): convert, as scikit-learn does
        X = _from_objects(X, name)
    check_dtype_kind(X.dtype, name)
    check_shape(X.shape, name, ndim=ndim, n_features=n_features, owner=owner)
    if allow_int:
        return X
    X = np.ascontiguousarray(X, dtype=dtype)
    if finite and not np.isfinite(X).all():
        raise nonfinite_error(X, name)
    return X


def first_outside(X, low=-np.inf, high=np.inf, integral=False) -> int:
    """The flat (C-order) index of the first element of the NumPy array X that is NaN or infinite,
    outside [low, high], or (`integral`) not a whole number; -1 when there is none. The host twin
    of ``_cuda.common.first_outside`` (``Backend.first_outside`` picks by where X lives)."""
    flat = np.asarray(X).reshape(-1)  # (a view of the C-contiguous arrays the estimators pass)
    # In blocks of _SCAN_ELEMENTS: the masks and np.floor's copy stay small beside the data.
    for i in range(0, flat.size, _SCAN_ELEMENTS):
        b = flat[i:i + _SCAN_ELEMENTS]
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(b) | (b < low) | (b > high)
            if integral:
                bad |= b != np.floor(b)
        hit = np.flatnonzero(bad)
        if hit.size:
            return i + int(hit[0])
    return -1


_SCAN_ELEMENTS = 1 << 18


def is_sparse(X) -> bool:
    """A scipy.sparse matrix or array (without importing scipy)."""
    return type(X).__module__.startswith("scipy.sparse") and hasattr(X, "toarray")


def nonfinite_error(X, name="X") -> ValueError:
    """The error for an array holding NaN or infinity, naming the first such index."""
    bad = np.argwhere(~np.isfinite(X))[0]
    return ValueError(f"{name}: contains NaN or infinity (first at index {tuple(int(i) for i in bad)})")


def check_dtype_kind(dtype, name="X") -> None:
    """A real numeric (or bool) element type, named in the error otherwise. ValueErrors, as
    scikit-learn and hmmlearn raise for strings and complex data."""
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        raise ValueError(f"{name}: Complex data not supported, got dtype {dtype}")
    if dtype == object or not (np.issubdtype(dtype, np.number) or dtype == bool):
        raise ValueError(f"{name}: expected a numeric array, got dtype {dtype}")


def _from_objects(X, name):
    """An object array of numbers as float64. Other contents raise the conversion's own error (a
    TypeError for a dict, a ValueError for a string), prefixed with the argument's name."""
    try:
        return X.astype(np.float64)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{name}: expected numbers, got an object array that does not convert to float: {e}") from None


def check_shape(shape, name="X", *, ndim=2, n_features=None, owner="estimator") -> None:
    """The shape checks of check_array, from the shape alone (also for device arrays' metadata).
    Worded as scikit-learn's, whose estimator checks and users match on them; `owner` is the
    estimator's class name."""
    shape = tuple(shape)
    if ndim == 2 and len(shape) == 1:
        raise ValueError(f"{name}: expected a 2-D array of shape (n_samples, n_features), got shape {shape}. "
                         f"Reshape your data with X.reshape(-1, 1) if it has a single feature, or "
                         f"X.reshape(1, -1) if it is a single sample")
    if len(shape) != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D array, got shape {shape}")
    if shape[0] == 0:
        raise ValueError(f"{name}: empty input (0 samples): 0 sample(s) (shape={shape}) while a minimum of 1 "
                         f"is required.")
    if ndim == 2 and shape[1] == 0:
        raise ValueError(f"{name}: 0 feature(s) (shape={shape}) while a minimum of 1 is required.")
    if n_features is not None and shape[1] != n_features:
        raise ValueError(f"{name} has {shape[1]} features, but {owner} is expecting {n_features} features as input")


def check_lengths(lengths, n_samples: int) -> np.ndarray:
    """Sequence lengths (hmmlearn convention) -> int64 offsets of length n_seq + 1."""
    if lengths is None:
        return np.array([0, n_samples], dtype=np.int64)
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or lengths.size == 0:
        raise ValueError(f"lengths: expected a non-empty 1-D array of sequence lengths, got shape {lengths.shape}")
    if not np.issubdtype(lengths.dtype, np.integer):
        if np.issubdtype(lengths.dtype, np.floating) and np.all(np.isfinite(lengths)) \
                and np.all(lengths == np.round(lengths)):
            lengths = lengths.astype(np.int64)
        else:
            raise TypeError(f"lengths: expected integers, got dtype {lengths.dtype}")
    if (lengths <= 0).any():
        i = int(np.argmax(lengths <= 0))
        raise ValueError(f"lengths: every sequence needs at least one sample, got lengths[{i}] = {lengths[i]}")
    total = int(lengths.sum())
    if total != n_samples:
        raise ValueError(f"lengths: must sum to n_samples={n_samples}, got sum {total}")
    return np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int64)


# hmmlearn's check of startprob_, transmat_, emissionprob_, weights_: np.allclose(sums, 1), i.e.
# |sum - 1| <= 1e-8 + 1e-5, whatever the dtype.
HMMLEARN_SUM_ATOL = 1e-8 + 1e-5


def sum_tolerance(dtype, n: int, float64_atol: float) -> float:
    """Tolerance on |sum - 1| of n probabilities given in `dtype`, following the dtype as
    scikit-learn's checks do (GaussianMixture's weights: 1e-8 in float64, 1e-6 in float32):
    `float64_atol` (the peer's) for float64 and for integer or bool input; for a narrower float
    also what normalising in that float leaves: 1e-6, or n units of its eps for long vectors."""
    dt = np.dtype(dtype)
    if dt.kind != "f" or dt.itemsize >= 8:
        return float64_atol
    return max(float64_atol, 1e-6, n * float(np.finfo(dt).eps))


def check_stochastic(p, name: str, shape: tuple, atol: float = HMMLEARN_SUM_ATOL) -> np.ndarray:
    """Non-negative, finite, rows summing to 1: within `atol` (default hmmlearn's tolerance) for
    float64 input, within sum_tolerance for narrower floats (a float32 row normalised in float32
    sums to 1 only to its rounding). Returned as float64, unchanged; except narrower input accepted
    beyond `atol` (long float32 rows), renormalised in float64 so that the parameter stored from
    it passes the float64 check of the next call."""
    dtype = np.asarray(p).dtype
    p = np.asarray(p, dtype=np.float64)
    if p.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {p.shape}")
    if not np.isfinite(p).all():
        raise ValueError(f"{name}: contains NaN or infinity")
    if (p < 0).any():
        raise ValueError(f"{name}: probabilities must be non-negative, got min {p.min()}")
    s = p.sum(axis=-1)
    tol = sum_tolerance(dtype, shape[-1], atol)
    if not np.all(np.abs(s - 1.0) <= tol):
        what = "must sum to 1" if p.ndim == 1 else "rows must sum to 1"
        raise ValueError(f"{name}: {what}, got sums {np.round(np.atleast_1d(s), 6)}")
    if tol > atol:
        p = p / s[..., None]
    return p


def check_positive(a, name: str, shape: tuple | None = None, *, strict=True) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if shape is not None and a.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: contains NaN or infinity")
    if (a <= 0).any() if strict else (a < 0).any():
        raise ValueError(f"{name}: must be {'positive' if strict else 'non-negative'}, got min {a.min()}")
    return a


def check_random_state(seed) -> np.random.RandomState:
    """scikit-learn's convention: None, an int or a RandomState."""
    if seed is None:
        return np.random.mtrand._rand
    if isinstance(seed, numbers.Integral):
        if not 0 <= seed < 2**32:
            raise ValueError(f"random_state: an int seed must be in [0, 2**32 - 1] (numpy's RandomState), got {seed}")
        return np.random.RandomState(int(seed))
    if isinstance(seed, np.random.RandomState):
        return seed
    raise ValueError(f"random_state: expected None, an int or a numpy RandomState, got {seed!r}")


def philox_seed(random_state) -> int:
    """A 64-bit Philox key drawn from `random_state` (same int -> same key)."""
    return int(check_random_state(random_state).randint(0, 2**63 - 1, dtype=np.int64))


def check_n_components(n, name="n_components") -> int:
    if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 1:
        raise ValueError(f"{name}: expected a positive integer, got {n!r}")
    return int(n)


# Scalar hyper-parameter checks (every family): each error names the parameter and the value received.
def check_int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def check_float(value, name, *, minimum=None, strict=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        raise ValueError(f"{name}: must be {'>' if strict else '>='} {minimum}, got {value!r}")
    return float(value)


def check_choice(value, name, choices):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name}: expected one of {tuple(choices)}, got {value!r}")
    return value


# -- sizes of requested allocations ------------------------------------------------------------------
FALLBACK_MEMORY_LIMIT = 1 << 40   # 1 TiB, where the machine's memory cannot be read


def memory_limit() -> int:
    """Bytes one request may ask for: the machine's physical memory when the OS tells it, else 1 TiB."""
    import os
    try:
        n = int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return FALLBACK_MEMORY_LIMIT
    return n if n > 0 else FALLBACK_MEMORY_LIMIT


def format_bytes(n) -> str:
    """1536 -> '1.50 KiB', 5 * 2**40 -> '5.00 TiB'."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{int(n)} B" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} EiB"  # (not reached)


def check_allocation(name, n_bytes, what=None, *, limit=None) -> None:
    """Refuse, before allocating, a request whose arrays would need more than `limit` bytes (default:
    ``memory_limit()``), with a ValueError naming the argument and the size, e.g.
    "n_samples: 10000000000 samples x 64 features need 4.66 TiB, more than this machine's 16.0 GiB of
    memory". `n_bytes` is computed in Python ints (no overflow); `what` says what was asked for."""
    n_bytes = int(n_bytes)
    limit = memory_limit() if limit is None else int(limit)
    if n_bytes > limit:
        ask = f"{what} need" if what else "this request needs"
        raise ValueError(f"{name}: {ask} {format_bytes(n_bytes)}, more than the {format_bytes(limit)} of memory "
                         f"this machine has; ask for less")
