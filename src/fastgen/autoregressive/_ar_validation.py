"""Input checks of the linear AR/VAR family (on top of ``_validation`` and the estimators'
``_parameter_constraints``): the hyper-parameters that depend on each other, series lengths
against the model order, kernel status codes, and the non-stationarity warning.

Every error names the argument, what was expected and what was received.
"""
from __future__ import annotations


import numpy as np

from .._backend import is_device_array
from .._warnings import warn
from ..exceptions import StationarityWarning

TRENDS = ("n", "c", "t", "ct")
TREND_CODE = {"n": 0, "c": 1, "t": 2, "ct": 3}
METHODS = ("ols", "yule_walker")
YW_METHODS = ("mle", "adjusted")
AR_CRITERIA = ("aic", "bic", "hqic")
VAR_CRITERIA = ("aic", "bic", "hqic", "fpe")

# Kernel status codes (csrc/autoregressive/ar_pass.hpp)
STATUS_OK, STATUS_SINGULAR, STATUS_TOO_SHORT = 0, 1, 2


def warn_stationarity(message: str) -> None:
    warn(message, StationarityWarning)


def n_trend(trend: str) -> int:
    return {"n": 0, "c": 1, "t": 1, "ct": 2}[trend]


def check_trend(trend: str, method: str) -> str:
    """The trend a method can fit (trend and method themselves: the estimators' constraints)."""
    if method == "yule_walker" and trend not in ("n", "c"):
        raise ValueError(f"trend: Yule-Walker fits a demeaned ('c') or raw ('n') series, got trend={trend!r}; "
                         f"use method='ols' for time trends")
    return trend


def check_order(order, max_order) -> tuple[int | None, str | None, int | None]:
    """(order, criterion, max_order) from arguments that passed the constraints (order an int >= 0
    or a criterion name, max_order None or an int >= 0): a criterion needs max_order."""
    if isinstance(order, str):
        if max_order is None:
            raise ValueError(f"max_order: order={order!r} selects the order by {order.upper()}, which needs "
                             f"max_order (a non-negative integer), got None")
        return None, order, int(max_order)
    return int(order), None, None


def min_length(order: int, trend: str, k: int, method: str) -> int:
    """Fewest observations a series needs: OLS must keep nobs = n - order above its kt + k order
    regressors (one residual degree of freedom at least); Yule-Walker needs n > order."""
    if method == "ols":
        return order + n_trend(trend) + k * order + 1
    return order + 1


def check_series_lengths(lengths: np.ndarray, order: int, trend: str, k: int, method: str, what: str) -> None:
    """Every series long enough for `order` (raises naming the first one that is not)."""
    need = min_length(order, trend, k, method)
    short = np.flatnonzero(lengths < need)
    if short.size == 0:
        return
    i = int(short[0])
    why = (f"nobs = n - {order} must exceed the {n_trend(trend) + k * order} regressors (trend {trend!r} + "
           f"{k} x {order} lags)" if method == "ols" else "Yule-Walker needs more observations than the order")
    where = f"series {i} (of {lengths.size}) has" if lengths.size > 1 else "the series has"
    raise ValueError(f"{what}: {where} {int(lengths[i])} observations; an order-{order} model fitted by "
                     f"{method} needs at least {need} ({why})")


def raise_on_status(status: np.ndarray, what: str, n_series: int) -> None:
    """Turns kernel status codes into errors naming the first failing series."""
    bad = np.flatnonzero(status != STATUS_OK)
    if bad.size == 0:
        return
    i = int(bad[0])
    where = f"series {i} (of {n_series})" if n_series > 1 else "the series"
    more = f" ({bad.size} series in all)" if bad.size > 1 else ""
    if status[i] == STATUS_SINGULAR:
        raise ValueError(f"{what}: the lag regression of {where} is singular{more}: its lagged values are "
                         f"collinear (a constant or exactly predictable series?)")
    raise ValueError(f"{what}: {where} is too short for the model{more}")


def as_univariate(X, backend, name="X", *, finite=True):
    """A 1-D series (n,) or (n, 1) -> float (n, 1) C-contiguous, finite (unless `finite` is False:
    the caller checks), non-empty, where it lives (``backend.check_array``: a device array stays on
    the device)."""
    if X is None:
        raise ValueError(f"{name}: expected a 1-D array (a series), got None")
    a = X if is_device_array(X) else np.asarray(X)
    shape = tuple(a.shape)
    if len(shape) == 1:
        Y = backend.check_array(a, name, ndim=1, finite=finite)
        return Y.reshape(shape[0], 1)
    if len(shape) == 2:
        Y = backend.check_array(a, name, ndim=2, finite=finite)
        if Y.shape[1] != 1:
            raise ValueError(f"{name}: expected 1 feature (an AR models one series; use VAR for several), "
                             f"got {Y.shape[1]} features")
        return Y
    raise ValueError(f"{name}: expected a 1-D array (a series), got shape {shape}")
