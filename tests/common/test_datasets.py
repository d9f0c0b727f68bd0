"""The shipped data sets: files unchanged since they were copied in, loaders return what the docs say.

CI runs these against the installed wheel, so they also check that the CSV files ship in it.
"""
from __future__ import annotations

import hashlib
from importlib import resources

import numpy as np
import pytest

from fastgen import datasets

# The sums recorded in src/fastgen/data/README.md (the files are copies of their sources, byte for byte).
SHA256 = {
    "nile.csv": "88e97bea7249e5832a85e41aec6ce4b8f7b1b14aae930c8363da7f193286b598",
    "sunspots.csv": "f67889b1d9002cd5227f0e0ef54e35b419cdd85a31279adef6f73fb41e5c0a9b",
    "old_faithful.csv": "6675d052dd7495645ac2146290c8ca69e6c1d0795723288d578d2cb2c6c9cda3",
    "breast_cancer.csv": "fed3eb72d0575ef6192293f5093c6e801b1476b577d0386bf4455504522172ed",
}


@pytest.mark.parametrize("name", sorted(SHA256))
def test_shipped_file_is_unchanged(name):
    data = (resources.files("fastgen") / "data" / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == SHA256[name]


@pytest.mark.parametrize("loader, first, last, n", [
    (datasets.load_nile, (1871, 1120.0), (1970, 740.0), 100),
    (datasets.load_sunspots, (1700, 5.0), (2008, 2.9), 309),
])
def test_yearly_series(loader, first, last, n):
    years, values = loader()
    assert years.dtype == np.int64 and values.dtype == np.float64
    assert years.shape == values.shape == (n,)
    np.testing.assert_array_equal(years, np.arange(first[0], last[0] + 1))
    assert values[0] == first[1] and values[-1] == last[1]
    assert np.isfinite(values).all()


def test_old_faithful_table():
    table = datasets.load_old_faithful()
    X, names = table                                   # unpacks like the other loaders
    assert X is table.data and names == table.feature_names == ("eruptions", "waiting")
    assert X.dtype == np.float64 and X.shape == (272, 2) and X.flags.c_contiguous
    # R's faithful: first, second and last rows, column ranges and means (summary(faithful)).
    np.testing.assert_array_equal(X[0], [3.6, 79.0])
    np.testing.assert_array_equal(X[1], [1.8, 54.0])
    np.testing.assert_array_equal(X[-1], [4.467, 74.0])
    np.testing.assert_array_equal(X.min(axis=0), [1.6, 43.0])
    np.testing.assert_array_equal(X.max(axis=0), [5.1, 96.0])
    np.testing.assert_allclose(X.mean(axis=0), [3.487783, 70.897059], rtol=0, atol=5e-7)
    assert (X[:, 1] == np.round(X[:, 1])).all()        # waiting times are whole minutes


def test_old_faithful_is_a_fresh_array_each_call():
    X = datasets.load_old_faithful().data
    X[0, 0] = -1.0
    assert datasets.load_old_faithful().data[0, 0] == 3.6


def test_breast_cancer_table():
    t = datasets.load_breast_cancer()
    assert t.data.dtype == np.float64 and t.data.shape == (569, 30) and t.data.flags.c_contiguous
    assert t.target.dtype == np.int64 and np.bincount(t.target).tolist() == [212, 357]
    assert t.target_names == ("malignant", "benign") and len(t.feature_names) == 30
    assert t.feature_names[:2] == ("mean radius", "mean texture") and t.feature_names[-1] == "worst fractal dimension"
    # First row of the UCI file (a malignant case) and the column ranges its description gives.
    np.testing.assert_array_equal(t.data[0, :4], [17.99, 10.38, 122.8, 1001.0])
    assert t.target[0] == 0
    np.testing.assert_array_equal(t.data[:, 0].min(), 6.981)
    np.testing.assert_array_equal(t.data[:, 23].max(), 4254.0)
