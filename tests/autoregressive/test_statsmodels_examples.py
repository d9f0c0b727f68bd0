"""statsmodels' AutoReg example (the "Autoregressions" notebook's workflow: fit a fixed order,
select the order by an information criterion, forecast) on the yearly sunspot numbers, written
once against statsmodels and once against fastgen (issue 13). fastgen's AR has scikit-learn's
estimator API, not AutoReg's results-object API, so the two versions differ in spelling only; the
numbers agree to 1e-8 (statsmodels solves the least squares by SVD, fastgen by a Cholesky of the
Gram matrix: both backward stable on this well-conditioned problem).
"""
from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from fastgen import AR
from fastgen.datasets import load_sunspots

sm_ar = pytest.importorskip("statsmodels.tsa.ar_model")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spots():
    return load_sunspots()[1]


@pytest.mark.parametrize("trend", ["n", "c", "ct"])
def test_fixed_order_fit_and_forecast(spots, trend):
    res = sm_ar.AutoReg(spots, 3, trend=trend).fit()
    model = AR(order=3, trend=trend).fit(spots)
    assert_allclose(model.params_, res.params, rtol=1e-8)
    assert_allclose(model.sigma2_, res.sigma2, rtol=1e-8)
    assert_allclose([model.llf_, model.aic_, model.bic_, model.hqic_], [res.llf, res.aic, res.bic, res.hqic],
                    rtol=1e-8)
    # The notebook's out-of-sample forecast, the next 12 years, with its standard errors.
    mean, se = model.forecast(12)
    pred = res.get_prediction(start=len(spots), end=len(spots) + 11)
    assert_allclose(mean, res.forecast(12), rtol=1e-8)
    assert_allclose(se, pred.se_mean, rtol=1e-8)
    assert_allclose(model.score(spots), res.llf, rtol=1e-8)


@pytest.mark.parametrize("ic", ["aic", "bic", "hqic"])
def test_order_selection(spots, ic):
    sel = sm_ar.ar_select_order(spots, 13, ic=ic)
    model = AR(order=ic, max_order=13).fit(spots)
    assert model.order_ == max(sel.ar_lags)
    res = sel.model.fit()
    assert_allclose(model.params_, res.params, rtol=1e-8)
    assert_allclose(model.forecast(5)[0], res.forecast(5), rtol=1e-8)
