"""Small real data sets shipped with fastgen, for examples, the demo and tests.

Each loader returns a ``YearlySeries(years, values)`` named tuple of NumPy arrays, so both
``years, values = load_nile()`` and ``load_nile().values`` work. The CSV files live in
``fastgen/data/``; their source and licence are recorded there in ``README.md``.
"""
from __future__ import annotations

from importlib import resources
from typing import NamedTuple

import numpy as np

__all__ = ["YearlySeries", "load_nile", "load_sunspots"]


class YearlySeries(NamedTuple):
    """A yearly time series: ``years`` (int64, increasing) and ``values`` (float64), same length."""

    years: np.ndarray
    values: np.ndarray


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
