"""Statistics of the data for the initialisations and value checks, computed where the data live.

Each function takes validated data (``Backend.check_array``'s result: a NumPy array, or a device
array on a CUDA backend) and the estimator's ``Backend``. This is the one place that tells the
two apart:

- NumPy arrays get exactly the NumPy code the estimators always ran, so CPU results (and those of
  host data on a GPU backend) stay bit-identical.
- Device arrays never come back to the host: the sums run in the shared kernels
  (``emissions.weighted_moments``, with weights built on the device) and the rest in the device
  helpers of ``kernels.common`` (``_cuda/common/rows.py``: shift, one-hot, grouping, arg-extremes).
  Only K- or D-sized results (and single elements) are copied back. The kernels add in their own
  fixed order (float64 chunks) where NumPy adds pairwise, so device results equal the host's to
  rounding (~1e-15 relative for well-scaled data), not bit for bit.

Moments are taken about the column mean (a device shift first), as ``np.cov`` and ``np.var`` do,
so data far from the origin keep their digits on either side.
"""
from __future__ import annotations

import numpy as np

from ._backend import is_device_array


def on_device(X) -> bool:
    return is_device_array(X)


def _moments(X, weights, order, backend):
    """weighted_moments of device X (float64 on the host): (w_sum[K], wx[K, D], wxx or None)."""
    return tuple(None if a is None else backend.host(a).astype(np.float64)
                 for a in backend.kernels.emissions.weighted_moments(X, weights, order))


def _ones(n, backend, dtype):
    return backend.put(np.ones((n, 1), dtype=dtype), dtype)


def _centred(X, backend):
    """(X - its column mean as a float64 device array, (N, 1) float64 ones to weight it with)."""
    ones = _ones(X.shape[0], backend, np.float64)
    mean = column_mean(X, backend, ones if X.dtype == np.float64 else None)
    return backend.kernels.common.shift_rows(X, mean, np.float64), ones


# -- column statistics -------------------------------------------------------------------------------

# Host rows narrower than this many values are summed WIDE_ROWS at a time (below).
NARROW = 16
WIDE_ROWS = 16


def _wide(X):
    """(X's first rows as a view of WIDE_ROWS rows per row, the rest) for a C-contiguous narrow X:
    NumPy reduces a narrow array over axis 0 one short row at a time (5 ms for 400,000 x 4), a
    wide one a vector at a time."""
    n = X.shape[0] - X.shape[0] % WIDE_ROWS
    return X[:n].reshape(n // WIDE_ROWS, WIDE_ROWS * X.shape[1]), X[n:]


def column_mean(X, backend, ones=None):
    """X.mean(axis=0) (float64[D]; float32 X summed in float64, as its float64 copy was, without
    one); `ones`: device (N, 1) ones of X's dtype, if at hand. Narrow host X is summed in
    WIDE_ROWS interleaved partial sums, then those (a fixed order: the same on any machine)."""
    if not on_device(X):
        if X.shape[1] >= NARROW or not X.flags.c_contiguous:
            return X.mean(axis=0, dtype=np.float64)
        head, tail = _wide(X)
        sums = head.sum(axis=0, dtype=np.float64).reshape(WIDE_ROWS, X.shape[1]).sum(axis=0)
        return (sums + tail.sum(axis=0, dtype=np.float64)) / X.shape[0]
    ones = _ones(X.shape[0], backend, X.dtype) if ones is None else ones
    return _moments(X, ones, 0, backend)[1][0] / X.shape[0]


def column_std(X, backend):
    """X.std(axis=0) (float64[D], ddof 0)."""
    if not on_device(X):
        return X.std(0, dtype=np.float64)
    Xc, ones = _centred(X, backend)
    return np.sqrt(_moments(Xc, ones, 1, backend)[2][0] / X.shape[0])


def covariance(X, backend, ddof):
    """np.cov(X.T, ddof=ddof): (D, D) (a 0-d array on the host when D == 1, as NumPy gives it)."""
    if not on_device(X):
        return np.cov(X.T, ddof=ddof)
    Xc, ones = _centred(X, backend)
    return _moments(Xc, ones, 2, backend)[2][0] / (X.shape[0] - ddof)


def mean_var(X, backend):
    """(X.mean(), X.var()) over every element."""
    if not on_device(X):
        return X.mean(), X.var()
    N, D = X.shape
    ones = _ones(N, backend, np.float64)
    mean = float(column_mean(X, backend, ones if X.dtype == np.float64 else None).sum()) / D
    Xc = backend.kernels.common.shift_rows(X, np.full(D, mean), np.float64)
    return mean, float(_moments(Xc, ones, 1, backend)[2][0].sum()) / (N * D)


def minimum(X, backend):
    """X.min() (one element of X)."""
    return X.min() if not on_device(X) else _element(X, backend.kernels.common.argmax(X, -1.0))


def maximum(X, backend):
    """X.max() (one element of X)."""
    return X.max() if not on_device(X) else _element(X, backend.kernels.common.argmax(X, 1.0))


def abs_max(X, backend) -> float:
    """float(np.abs(X).max())."""
    if not on_device(X):
        return float(max(X.max(), -X.min()))  # (no |X| temporary; NaN in X gives NaN, as np.abs(X).max())
    return max(abs(float(minimum(X, backend))), abs(float(maximum(X, backend))))


def _element(X, flat):
    """X's element at a flat index (from a device array: that one element copied back)."""
    return X[tuple(int(i) for i in np.unravel_index(flat, tuple(X.shape)))]


# -- rows --------------------------------------------------------------------------------------------

# Host data are shifted a block of rows at a time (a few MB), so that a float32 result has no
# data-sized float64 temporary beside it.
BLOCK_BYTES = 1 << 22


def row_blocks(n_rows, row_bytes, align=1):
    """Slices of n_rows rows, about BLOCK_BYTES of `row_bytes`-byte rows each, a multiple of
    `align` rows (a kernel's own row block, so that every row is computed as in one call)."""
    step = align * max(1, BLOCK_BYTES // (align * max(row_bytes, 1)))
    return [slice(i, min(n_rows, i + step)) for i in range(0, n_rows, step)]


def shifted(X, shift, backend, dtype=np.float64):
    """X - shift, formed in float64 and stored in `dtype` (shift None: X converted)."""
    if on_device(X):
        return backend.kernels.common.shift_rows(X, np.zeros(X.shape[1]) if shift is None else shift, dtype)
    out = np.empty(X.shape, dtype)
    if shift is not None and X.shape[1] < NARROW and X.flags.c_contiguous:  # whole rows of WIDE_ROWS frames
        (head, tail), (out_head, out_tail) = _wide(X), _wide(out)
        wide_shift = np.tile(shift, WIDE_ROWS)
        for rows in row_blocks(head.shape[0], 8 * head.shape[1]):
            np.subtract(head[rows], wide_shift, out=out_head[rows], casting="unsafe")
        np.subtract(tail, shift, out=out_tail, casting="unsafe")
        return out
    for rows in row_blocks(X.shape[0], 8 * X.shape[1]):
        out[rows] = X[rows] if shift is None else X[rows] - shift
    return out


def take_rows(X, rows, backend, shift=None):
    """X[rows] on the host (a few rows: k-means seeds); less `shift` (float64) when given."""
    if not on_device(X):
        return X[rows] if shift is None else X[rows] - shift
    return np.concatenate([np.asarray(backend.host(X[int(i):int(i) + 1]), dtype=np.float64) for i in rows])


def first_column(X):
    """The one column of an (N, 1) integer array as int64[N] (C-contiguous)."""
    return np.ascontiguousarray(X[:, 0], dtype=np.int64) if not on_device(X) else X.reshape(X.shape[0])


def group_rows(X, labels, n_groups, backend):
    """[X[labels == g] for g in range(n_groups)], each where X lives."""
    if not on_device(X):
        return [X[labels == g] for g in range(n_groups)]
    grouped, offsets = backend.kernels.common.group_rows(X, labels, n_groups)
    return [grouped[int(offsets[g]):int(offsets[g + 1])] for g in range(n_groups)]


def one_hot(labels, n_classes, backend):
    """Responsibilities (N, n_classes) that put each row in its label's class, where labels live,
    in the backend's dtype (0 and 1 are exact in either: no float64 copy to convert)."""
    if not on_device(labels):
        return np.eye(n_classes, dtype=backend.dtype)[labels]  # (no N-sized index array beside it)
    return backend.kernels.common.one_hot(labels, n_classes, backend.dtype)


# -- k-means -----------------------------------------------------------------------------------------

def cluster_sums(X, labels, k, backend, shift=None):
    """(counts[k], sums[k, D]) of the rows of X (float64) by label; of X - shift when `shift` is
    given (host X only: shifted one column at a time, never a shifted copy of X)."""
    if not on_device(X):
        counts = np.bincount(labels, minlength=k)
        col = (lambda d: X[:, d]) if shift is None else (lambda d: np.subtract(X[:, d], shift[d], dtype=np.float64))
        sums = np.stack([np.bincount(labels, weights=col(d), minlength=k) for d in range(X.shape[1])], axis=1)
        return counts, sums
    counts, sums, _ = _moments(X, backend.kernels.common.one_hot(labels, k, X.dtype), 0, backend)
    return counts, sums


def largest(d2, n, backend):
    """Indices of the n largest entries of d2, largest first, ties to the later index."""
    if not on_device(d2):
        return np.argsort(d2, kind="stable")[::-1][:n]
    return backend.kernels.common.largest(d2, n)


def equal(a, b, backend) -> bool:
    """np.array_equal(a, b) for label arrays of one shape."""
    return np.array_equal(a, b) if not on_device(a) else backend.kernels.common.first_difference(a, b) < 0


def total(x, backend) -> float:
    """float(x.sum()) of a 1-D array (device: weighted_moments' weight sum of x as its own weights)."""
    if not on_device(x):
        return float(x.sum())
    col = x.reshape(x.shape[0], 1)
    return float(_moments(col, col, 0, backend)[0][0])
