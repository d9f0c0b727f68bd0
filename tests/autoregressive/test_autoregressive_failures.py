"""Issue 14: the autoregressive family never answers silently wrong. Each case was a wrong or
unexplained answer before: a VAR with a singular residual covariance (llf_ = inf), explosive
forecasts and paths turning inf without a word, sums of squares overflowing reported as
collinearity, and decoding arguments failing with another argument's or another library's message."""
from __future__ import annotations

import numpy as np
import pytest

from fastgen import AR, VAR
from fastgen.autoregressive import sample_logits
from fastgen.exceptions import StationarityWarning


def test_var_with_a_singular_residual_covariance_is_refused():
    Y = np.random.default_rng(3).standard_normal((60, 50))
    with pytest.raises(ValueError, match=r"residual covariance is singular \(rank 8 of 50\): 59 observations "
                                         r"leave 8 residual degrees of freedom after 51 regressors"):
        VAR(order=1, device="cpu").fit(Y)
    Z = np.random.default_rng(3).standard_normal((200, 3))
    with pytest.raises(ValueError, match="singular"):   # an exact linear combination of two series
        VAR(order=2, device="cpu").fit(np.c_[Z, Z[:, 0] + Z[:, 1]])
    model = VAR(order=1, device="cpu").fit(Y[:, :5])   # enough observations: fits, finite
    assert np.isfinite(model.llf_) and np.isclose(model.score(Y[:, :5]), model.llf_)


@pytest.fixture(scope="module")
def explosive():
    y = np.cumprod(np.full(60, 1.05)) + np.random.default_rng(0).normal(size=60) * 0.01
    with pytest.warns(StationarityWarning, match="not stationary"):
        return AR(2, device="cpu").fit(y)


def test_explosive_forecast_says_where_it_overflows(explosive):
    with pytest.warns(StationarityWarning, match=r"forecast: the fitted model is explosive .* overflow float64 at "
                                                 r"step (\d+)") as rec:
        mean, se = explosive.forecast(20000)
    step = int(str(rec[0].message).split("at step ")[1].split()[0])
    assert np.isfinite(mean[:step - 1]).all() and np.isfinite(se[:step - 1]).all()
    assert not (np.isfinite(mean[step - 1]) and np.isfinite(se[step - 1]))


def test_explosive_simulation_says_where_it_overflows(explosive):
    with pytest.warns(StationarityWarning, match=r"simulate: .* at step \d+"):
        explosive.simulate(20000, 2, random_state=0)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        explosive.forecast(50)   # short horizons stay finite: no warning


def test_overflowing_sums_of_squares_are_named():
    y = np.random.default_rng(0).normal(size=100) * 1e155
    with pytest.raises(ValueError, match=r"values up to 2.33e\+155 overflow float64 in the sums of squares"):
        AR(2, device="cpu").fit(y)
    with pytest.raises(ValueError, match="collinear"):   # a real collinearity keeps its message
        AR(2, device="cpu").fit(np.ones(50))


def test_decoding_arguments_name_the_cause():
    logits = np.random.default_rng(0).normal(size=(2, 5))
    with pytest.raises(ValueError, match="temperature: 1e-310 underflows"):
        sample_logits(logits, temperature=1e-310, device="cpu")
    with pytest.raises(ValueError, match=r"random_state: an int seed must be in \[0, 2\*\*32 - 1\]"):
        sample_logits(logits, random_state=-1, device="cpu")
    huge = sample_logits(logits, top_k=2**64, random_state=0, device="cpu")   # beyond the vocabulary: no filter
    assert np.array_equal(huge, sample_logits(logits, random_state=0, device="cpu"))


def test_scores_that_overflow_are_named():
    """Found by the fuzz tests: scoring data near 1e300 gave a NaN log-likelihood."""
    rng = np.random.default_rng(0)
    var = VAR(order=1, device="cpu").fit(rng.normal(size=(50, 2)))
    ar = AR(order=1, device="cpu").fit(rng.normal(size=50))
    with pytest.raises(ValueError, match="sums of squared residuals overflow float64"):
        var.score(rng.random((5, 2)) * 1e300)
    with pytest.raises(ValueError, match="sums of squared residuals overflow float64"):
        ar.score(rng.random(5) * 1e300)
