"""AR and VAR estimators (fastgen.autoregressive) against statsmodels' AutoReg, ar_select_order,
yule_walker and VAR, against the NumPy oracles, and their scikit-learn behaviour and errors.

Tolerances: statsmodels solves the same least-squares problems by SVD; on these well-conditioned
series both are exact to ~1e-13, so parameters, sigma2, llf and the criteria are compared at
rtol 1e-9 (the issue asks 1e-8). fit_many equals a loop of single fits to 1e-12 (the same kernel
arithmetic: parameters bit for bit; statistics to 1e-12, NumPy's vectorised log may differ by an
ulp from its scalar one).
"""
from __future__ import annotations

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.signal import lfilter

from conftest import assert_same_on_any_thread_count
from fastgen import _backend
from fastgen.autoregressive import AR, VAR, ARBatch, StationarityWarning
from reference import ar as ref

sm_ar = pytest.importorskip("statsmodels.tsa.ar_model")
sm_var = pytest.importorskip("statsmodels.tsa.api")
sm_lm = pytest.importorskip("statsmodels.regression.linear_model")

RTOL = 1e-9

# Fits of short random series are occasionally (seed-dependent) non-stationary; the warning is
# tested on its own below (pytest.warns records it whatever these filters say).
pytestmark = [pytest.mark.filterwarnings("ignore:.*fit is not stationary"),
              pytest.mark.filterwarnings("ignore:fit_many.* not stationary")]


def ar_series(rng, n, phi=(0.6, -0.25, 0.1), c=1.0, slope=0.0):
    e = rng.standard_normal(n + 100)
    y = lfilter([1.0], np.r_[1.0, -np.asarray(phi)], e)[100:]
    return y + c + slope * np.arange(n)


def var_series(rng, n, k=2):
    A1 = np.array([[0.5, 0.1, 0.0], [-0.2, 0.3, 0.1], [0.05, 0.0, 0.4]])[:k, :k]
    A2 = np.array([[-0.2, 0.0, 0.1], [0.1, 0.1, 0.0], [0.0, 0.05, -0.1]])[:k, :k]
    y = np.zeros((n + 50, k))
    e = rng.standard_normal((n + 50, k)) @ np.linalg.cholesky(np.eye(k) * 0.7 + 0.3).T
    for t in range(2, n + 50):
        y[t] = 0.3 + A1 @ y[t - 1] + A2 @ y[t - 2] + e[t]
    return y[50:]


def close(got, want, rtol=RTOL):
    want = np.asarray(want, np.float64)
    assert_allclose(got, want, rtol=rtol, atol=rtol * max(np.max(np.abs(want)) if want.size else 0.0, 1e-300))


# -- AR against AutoReg ------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("trend", ["n", "c", "t", "ct"])
@pytest.mark.parametrize("order", [1, 3, 7])
def test_ar_ols_matches_autoreg(rng, trend, order):
    n = int(rng.integers(60, 400))
    y = ar_series(rng, n, slope=0.01 if "t" in trend else 0.0)
    model = AR(order=order, trend=trend).fit(y)
    res = sm_ar.AutoReg(y, order, trend=trend).fit()
    close(model.params_, res.params)
    close(model.coef_, res.params[len(trend) if trend != "n" else 0:])
    assert model.nobs_ == res.nobs
    for name, want in [("sigma2_", res.sigma2), ("llf_", res.llf), ("aic_", res.aic), ("bic_", res.bic),
                       ("hqic_", res.hqic)]:
        assert_allclose(getattr(model, name), want, rtol=RTOL, err_msg=name)
    assert_allclose(np.sort_complex(model.roots_), np.sort_complex(res.roots), rtol=1e-8)
    assert_allclose(model.score(y), res.llf, rtol=1e-12)
    mean, se = model.forecast(25)
    pred = res.get_prediction(start=n, end=n + 24)
    close(mean, pred.predicted_mean)
    close(se, pred.se_mean)
    m2, lo, hi = model.forecast_interval(25, alpha=0.2)
    ci = pred.conf_int(alpha=0.2)
    close(lo, ci[:, 0])
    close(hi, ci[:, 1])


@pytest.mark.slow
def test_ar_ols_minimal_length_series(rng):
    """The shortest series OLS accepts: nobs = n - p = (regressors) + 1."""
    for trend, p in [("c", 1), ("ct", 3), ("n", 2)]:
        n = p + len(trend.replace("n", "")) + p + 1
        y = rng.standard_normal(n)
        model = AR(order=p, trend=trend).fit(y)
        res = sm_ar.AutoReg(y, p, trend=trend).fit()
        close(model.params_, res.params, 1e-8)
        assert_allclose(model.llf_, res.llf, rtol=1e-8)


@pytest.mark.slow
@pytest.mark.parametrize("p", [1, 2, 5])
def test_series_of_length_order_plus_one(rng, p):
    """Yule-Walker fits a series of p + 1 values (as statsmodels' yule_walker); OLS has one
    observation for p + 1 regressors there, which both libraries refuse."""
    y = rng.standard_normal(p + 1) + 3.0
    model = AR(order=p, method="yule_walker").fit(y)
    rho, sigma = sm_lm.yule_walker(y, order=p, method="mle", result_object=False)
    close(model.coef_, rho)
    assert_allclose(model.sigma2_, sigma ** 2, rtol=RTOL)
    with pytest.raises(ValueError, match="cannot be estimated"):
        sm_ar.AutoReg(y, p).fit()
    with pytest.raises(ValueError, match=f"has {p + 1} observations; an order-{p} model fitted by ols"):
        AR(order=p).fit(y)


@pytest.mark.slow
@pytest.mark.parametrize("ic", ["aic", "bic", "hqic"])
@pytest.mark.parametrize("trend", ["n", "c", "ct"])
def test_ar_order_selection_matches_ar_select_order(rng, ic, trend):
    y = ar_series(rng, int(rng.integers(150, 500)), phi=(0.5, -0.3, 0.2, 0.1))
    model = AR(order=ic, max_order=8, trend=trend).fit(y)
    sel = sm_ar.ar_select_order(y, 8, ic=ic, trend=trend)
    assert model.order_ == (0 if sel.ar_lags is None else len(sel.ar_lags))
    want = getattr(sel, ic)
    for q in range(9):
        key = 0 if q == 0 else tuple(range(1, q + 1))
        assert_allclose(model.order_criteria_[ic][q], np.ravel(want[key])[0], rtol=RTOL)
    res = sel.model.fit()
    close(model.params_, res.params)


@pytest.mark.slow
def test_ar_sunspots_orders_match_statsmodels():
    from fastgen.datasets import load_sunspots
    _, spots = load_sunspots()
    for ic in ("aic", "bic"):
        model = AR(order=ic, max_order=15).fit(spots)
        sel = sm_ar.ar_select_order(spots, 15, ic=ic)
        assert model.order_ == len(sel.ar_lags)
        close(model.params_, sel.model.fit().params)


@pytest.mark.slow
@pytest.mark.parametrize("yw_method", ["mle", "adjusted"])
@pytest.mark.parametrize("trend", ["n", "c"])
def test_ar_yule_walker_matches_statsmodels(rng, yw_method, trend):
    y = ar_series(rng, 311, c=4.0)
    model = AR(order=4, trend=trend, method="yule_walker", yw_method=yw_method).fit(y)
    rho, sigma = sm_lm.yule_walker(y, order=4, method=yw_method, demean=trend == "c", result_object=False)
    close(model.coef_, rho)
    assert_allclose(model.sigma2_, sigma ** 2, rtol=RTOL)
    if trend == "c":
        assert_allclose(model.intercept_, y.mean() * (1 - rho.sum()), rtol=1e-10)
    # llf_ is the conditional log-likelihood at the Yule-Walker fit (what score gives on the data)
    assert_allclose(model.llf_, model.score(y), rtol=1e-12)
    params, _ = ref.yule_walker(y.reshape(-1, 1), 4, trend == "c", yw_method == "adjusted")
    close(model.params_, params[:, 0])


def test_ar_yule_walker_order_selection_uses_levinson_variances(rng):
    y = ar_series(rng, 400)
    model = AR(order="aic", max_order=6, method="yule_walker").fit(y)
    n = y.size
    want = []
    for q in range(7):
        s2 = ref.yule_walker(y.reshape(-1, 1), q, True, False)[1][0, 0]
        llf = -n / 2 * (np.log(2 * np.pi * s2) + 1)
        want.append(-2 * llf + 2 * (q + 1))  # df = q + kt - 1 (constant counted out) + 1
    assert_allclose(model.order_criteria_["aic"], want, rtol=1e-10)
    assert model.order_ == int(np.argmin(want))


# -- VAR against statsmodels -------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("trend", ["n", "c", "ct"])
@pytest.mark.parametrize("k", [2, 3])
def test_var_ols_matches_statsmodels(rng, trend, k):
    Y = var_series(rng, int(rng.integers(80, 300)), k)
    p = int(rng.integers(1, 4))
    model = VAR(order=p, trend=trend).fit(Y)
    res = sm_var.VAR(Y).fit(p, trend=trend)
    close(model.params_, res.params)
    close(model.coefs_, res.coefs)
    close(model.sigma_u_, res.sigma_u)
    close(model.sigma_u_mle_, res.sigma_u_mle)
    for name in ("llf", "aic", "bic", "hqic", "fpe"):
        assert_allclose(getattr(model, name + "_"), getattr(res, name), rtol=RTOL, err_msg=name)
    assert_allclose(model.roots_, res.roots, rtol=1e-8)
    assert_allclose(model.score(Y), res.llf, rtol=1e-12)
    mean, se = model.forecast(9)
    close(mean, res.forecast(Y[-p:], 9))
    close(model.forecast_cov(9), res.forecast_cov(9))
    _, lo, hi = model.forecast_interval(9, alpha=0.1)
    _, slo, shi = res.forecast_interval(Y[-p:], 9, alpha=0.1)
    close(lo, slo)
    close(hi, shi)


@pytest.mark.slow
@pytest.mark.parametrize("trend", ["n", "c", "ct"])
def test_var_order_selection_matches_select_order(rng, trend):
    Y = var_series(rng, 250, 2)
    sel = sm_var.VAR(Y).select_order(6, trend=trend)
    p_min = 1 if trend == "n" else 0
    for ic in ("aic", "bic", "hqic", "fpe"):
        model = VAR(order=ic, max_order=6, trend=trend).fit(Y)
        assert model.order_ == sel.selected_orders[ic]
        assert_allclose(model.order_criteria_[ic][p_min:], sel.ics[ic], rtol=RTOL)
        if p_min:
            assert np.isnan(model.order_criteria_[ic][0])


def test_var_yule_walker_matches_block_toeplitz_oracle(rng):
    Y = var_series(rng, 200, 3)
    model = VAR(order=2, method="yule_walker").fit(Y)
    params, sigma = ref.yule_walker(Y, 2, True, False)
    close(model.params_, params)
    close(model.sigma_u_, sigma)
    assert_allclose(model.llf_, model.score(Y), rtol=1e-10)


@pytest.mark.slow
def test_var_yule_walker_order_selection(rng):
    """Yule-Walker criteria: every order's innovation covariance from the full-sample
    autocovariances, statsmodels' VAR formulas with nobs = n."""
    Y = var_series(rng, 150, 2)
    model = VAR(order="bic", max_order=3, method="yule_walker").fit(Y)
    n, k = Y.shape
    want = [np.linalg.slogdet(ref.yule_walker(Y, q, True, False)[1])[1] + np.log(n) / n * (q * k * k + k)
            for q in range(4)]
    assert_allclose(model.order_criteria_["bic"], want, rtol=1e-10)
    assert model.order_ == int(np.argmin(want))


# -- fit_many ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["ols", "yule_walker"])
@pytest.mark.parametrize("order", [3, "bic"])
def test_fit_many_equals_a_loop_of_fits(rng, method, order):
    lengths = rng.integers(30, 120, size=23)
    series = [ar_series(rng, int(n), c=float(rng.normal())) for n in lengths]
    X = np.concatenate(series)
    est = AR(order=order, max_order=5, method=method)
    batch = est.fit_many(X, lengths)
    assert isinstance(batch, ARBatch) and len(batch) == 23
    for s, y in enumerate(series):
        single = AR(order=order, max_order=5, method=method).fit(y)
        p = single.order_
        assert batch.orders_[s] == p
        assert_array_equal(batch.params_[s, :1 + p], single.params_)  # the same kernel arithmetic
        assert_array_equal(batch.params_[s, 1 + p:], 0.0)
        for name in ("sigma2", "llf", "aic", "bic", "hqic", "spectral_radius"):
            assert_allclose(getattr(batch, name + "_")[s], getattr(single, name + "_"), rtol=1e-12, err_msg=name)
        got = batch[s]
        assert_allclose(got.forecast(6)[0], single.forecast(6)[0], rtol=1e-12)
    mean, se = batch.forecast(6)
    assert mean.shape == se.shape == (23, 6)
    for s in (0, 7, 22):
        m1, s1 = batch[s].forecast(6)
        assert_allclose(mean[s], m1, rtol=1e-12)
        assert_allclose(se[s], s1, rtol=1e-12)


@pytest.mark.slow
def test_fit_many_matches_statsmodels_loop(rng):
    lengths = np.array([500, 37, 211, 500])
    series = [ar_series(rng, int(n)) for n in lengths]
    batch = AR(order=8).fit_many(np.concatenate(series), lengths)
    for s, y in enumerate(series):
        res = sm_ar.AutoReg(y, 8).fit()
        close(batch.params_[s], res.params)
        assert_allclose(batch.llf_[s], res.llf, rtol=RTOL)
        assert_allclose(batch.sigma2_[s], res.sigma2, rtol=RTOL)


def test_fit_many_simulate_streams(rng):
    lengths = np.array([50, 80, 65])
    batch = AR(order=2).fit_many(np.concatenate([ar_series(rng, int(n)) for n in lengths]), lengths)
    paths = batch.simulate(12, n_paths=3, random_state=4)
    assert paths.shape == (3, 3, 12)
    assert_array_equal(paths[0], batch[0].simulate(12, n_paths=3, random_state=4))  # series 0: streams 0..2
    from fastgen import _core
    from fastgen._validation import philox_seed
    s = 2
    m = batch[s]
    want = ref.simulate(m.params_.reshape(-1, 1), 2, "c", np.sqrt([[m.sigma2_]]), m.y_tail_.reshape(2, 1),
                        m.series_length_ + 1, 12, 3, philox_seed(4), s * 3, _core.rng.normal)
    assert_allclose(paths[s], want[..., 0], rtol=1e-11)


# -- simulation --------------------------------------------------------------------------------------
def test_simulate_is_reproducible_and_matches_forecast_moments():
    rng = np.random.default_rng(4101)  # statistical assertions: a fixed seed
    y = ar_series(rng, 400)
    model = AR(order=3).fit(y)
    a = model.simulate(30, n_paths=4000, random_state=11)
    assert a.shape == (4000, 30) and a.dtype == np.float64
    assert_array_equal(a, model.simulate(30, n_paths=4000, random_state=11))
    assert not np.array_equal(a, model.simulate(30, n_paths=4000, random_state=12))
    mean, se = model.forecast(30)
    # Monte-Carlo: 4000 paths; 5 standard errors of the mean / of the standard deviation.
    assert np.all(np.abs(a.mean(axis=0) - mean) < 5 * se / np.sqrt(4000))
    assert np.all(np.abs(a.std(axis=0) / se - 1) < 5 / np.sqrt(2 * 4000))


def test_var_simulate_matches_forecast_covariance():
    rng = np.random.default_rng(4102)  # statistical assertions: a fixed seed
    Y = var_series(rng, 300, 2)
    model = VAR(order=2).fit(Y)
    paths = model.simulate(10, n_paths=4000, random_state=3)
    assert paths.shape == (4000, 10, 2)
    mean, se = model.forecast(10)
    assert np.all(np.abs(paths.mean(axis=0) - mean) < 5 * se / np.sqrt(4000))
    cov = np.cov(paths[:, -1].T)
    assert_allclose(cov, model.forecast_cov(10)[-1], rtol=0.15, atol=0.05)


def test_simulate_same_on_1_and_2_threads(tmp_path):
    script = """
import sys
import numpy as np
from fastgen.autoregressive import AR, VAR
rng = np.random.default_rng(0)
lens = rng.integers(40, 90, size=40)
X = rng.standard_normal(int(lens.sum())).cumsum() * 0.01 + rng.standard_normal(int(lens.sum()))
b = AR(order="aic", max_order=4).fit_many(X, lens)
m = AR(order=5).fit(X[:3000])
v = VAR(order=2).fit(rng.standard_normal((500, 3)))
np.savez(sys.argv[1], p=b.params_, s=b.simulate(300, 5, random_state=1), f=b.forecast(20)[1],
         a=m.simulate(2000, 7, random_state=2), v=v.simulate(100, 9, random_state=3))
"""
    assert_same_on_any_thread_count(script, tmp_path)


# -- scikit-learn conventions ------------------------------------------------------------------------
def test_params_clone_and_pickle(rng):
    from sklearn.base import clone
    model = AR(order=2, trend="ct", method="ols")
    assert model.get_params()["trend"] == "ct"
    assert clone(model).get_params() == model.get_params()
    model.set_params(order=3)
    assert model.order == 3 and "order=3" in repr(model)
    with pytest.raises(ValueError, match="Invalid parameter 'lags'"):
        model.set_params(lags=2)
    y = ar_series(rng, 100)
    assert model.fit(y) is model
    back = pickle.loads(pickle.dumps(model))
    assert_array_equal(back.forecast(5)[0], model.forecast(5)[0])
    v = VAR(order=1).fit(var_series(rng, 60))
    assert_array_equal(pickle.loads(pickle.dumps(v)).forecast(3)[0], v.forecast(3)[0])


def test_float32_storage_fits_the_rounded_data(rng):
    y = ar_series(rng, 300).astype(np.float32)
    m32 = AR(order=3, dtype=np.float32).fit(y)
    m64 = AR(order=3).fit(y.astype(np.float64))
    assert_allclose(m32.params_, m64.params_, rtol=1e-10)
    assert m32.params_.dtype == np.float64
    assert m32.simulate(5, 2, random_state=0).dtype == np.float32


# -- bad input ---------------------------------------------------------------------------------------
def test_bad_hyperparameters():
    y = np.arange(30.0) % 7
    cases = [
        (AR(order=2.5), TypeError, "order: expected an integer >= 0 or one of ('aic', 'bic', 'hqic'), got 2.5"),
        (AR(order=True), TypeError, "order: expected an integer >= 0 or one of"),
        (AR(order=-1), ValueError, "order: expected an integer >= 0 or one of ('aic', 'bic', 'hqic'), got -1"),
        (AR(order="aicc", max_order=3), ValueError, "order: expected an integer >= 0 or one of"),
        (AR(order="aic"), ValueError, "max_order: order='aic' selects"),
        (AR(order="bic", max_order=1.5), ValueError, "max_order: expected None or an integer >= 0, got 1.5"),
        (AR(trend="ctt"), ValueError, "trend: expected one of"),
        (AR(method="mle"), ValueError, "method: expected one of"),
        (AR(yw_method="unbiased"), ValueError, "yw_method: expected one of"),
        (AR(method="yule_walker", trend="ct"), ValueError, "trend: Yule-Walker fits"),
        (AR(dtype=np.int32), TypeError, "dtype must be float32 or float64"),
        (AR(device="tpu"), ValueError, "device must be one of"),
        (VAR(order=0, trend="n"), ValueError, "VAR(0) with trend 'n'"),
        (VAR(order="aic", max_order=2, trend="x"), ValueError, "trend: expected one of"),
        (VAR(order="aicc", max_order=2), ValueError, "order: expected an integer >= 0 or one of ('aic', 'bic', 'hqic', 'fpe')"),
        (AR(order=1, max_order=-1), ValueError, "max_order: expected None or an integer >= 0, got -1"),
    ]
    for model, exc, msg in cases:
        X = y if isinstance(model, AR) else np.c_[y, y[::-1]]
        with pytest.raises(exc, match=msg.replace("(", r"\(").replace(")", r"\)")):
            model.fit(X)


def test_bad_data():
    y = np.sin(np.arange(40.0)) + np.cos(np.arange(40.0) * 0.3)
    with pytest.raises(ValueError, match="contains NaN or infinity"):
        AR(order=1).fit(np.r_[y, np.nan])
    with pytest.raises(ValueError, match="contains NaN or infinity"):
        VAR(order=1).fit(np.c_[y, np.r_[np.inf, y[1:]]])
    with pytest.raises(ValueError, match="empty input"):
        AR(order=1).fit(np.array([]))
    with pytest.raises(ValueError, match="expected 1 feature.*got 3 features"):
        AR(order=1).fit(np.c_[y, y, y])
    with pytest.raises(ValueError, match="expected a 2-D array of shape"):
        VAR(order=1).fit(y)
    with pytest.raises(ValueError, match="the series has 40 observations; an order-40 model fitted by ols needs"):
        AR(order=40).fit(y)
    with pytest.raises(ValueError, match="needs at least 20"):
        AR(order=9, trend="c").fit(y[:19])
    with pytest.raises(ValueError, match="an order-5 model fitted by yule_walker needs at least 6"):
        AR(order=5, method="yule_walker").fit(y[:5])
    with pytest.raises(ValueError, match="singular.*constant"):
        AR(order=2).fit(np.full(20, 3.0))
    with pytest.raises(ValueError, match="numeric array"):
        AR(order=1).fit(np.array(["a", "b", "c"]))


def test_bad_fit_many_input(rng):
    y = rng.standard_normal(100)
    with pytest.raises(ValueError, match="lengths: must sum to n_samples=100, got sum 90"):
        AR(order=1).fit_many(y, [50, 40])
    with pytest.raises(ValueError, match="lengths: fit_many needs the series lengths"):
        AR(order=1).fit_many(y, None)
    with pytest.raises(ValueError, match="series 2 \\(of 3\\) has 4 observations; an order-2 model"):
        AR(order=2).fit_many(y, [60, 36, 4])
    bad = y.copy()
    bad[70] = np.nan
    with pytest.raises(ValueError, match="first at row 70: series 1, position 10"):
        AR(order=1).fit_many(bad, [60, 40])
    const = np.r_[y[:50], np.full(50, 2.0)]
    with pytest.raises(ValueError, match="series 1 \\(of 2\\) is singular"):
        AR(order=1).fit_many(const, [50, 50])
    with pytest.raises(TypeError, match="lengths: expected integers"):
        AR(order=1).fit_many(y, [50.5, 49.5])
    batch = AR(order=1).fit_many(y, [50, 50])
    with pytest.raises(IndexError, match="series 5 out of range for 2 series"):
        batch[5]


def test_bad_use_of_a_fitted_model(rng):
    y = ar_series(rng, 80)
    with pytest.raises(AttributeError, match="not fitted yet"):
        AR().forecast(3)
    model = AR(order=3).fit(y)
    with pytest.raises(ValueError, match="steps: expected a non-negative integer, got -2"):
        model.forecast(-2)
    with pytest.raises(TypeError, match="steps: expected a non-negative integer"):
        model.forecast(2.0)
    with pytest.raises(ValueError, match="n_paths: expected a non-negative integer"):
        model.simulate(3, n_paths=-1)
    with pytest.raises(ValueError, match="alpha: expected a number in \\(0, 1\\)"):
        model.forecast_interval(3, alpha=1.5)
    with pytest.raises(ValueError, match="sequence 1 has 3 observations; an AR\\(3\\) needs more than 3"):
        model.score(y[:23], lengths=[20, 3])
    with pytest.raises(ValueError, match="random_state: expected None, an int"):
        model.simulate(3, random_state="seed")
    v = VAR(order=1).fit(var_series(rng, 50))
    with pytest.raises(ValueError, match=r"has 3 features, but \w+ is expecting 2 features"):
        v.score(rng.standard_normal((20, 3)))


@pytest.mark.skipif(_backend.cuda_usable(), reason="a CUDA device (or the simulator) is usable here")
def test_cuda_without_gpu_is_an_error():
    with pytest.raises(RuntimeError, match="no usable CUDA GPU"):
        AR(device="cuda").fit(np.arange(10.0) % 3)


def test_non_stationary_fit_warns_with_the_largest_root(rng):
    # Explosive AR(1) started far from 0 (y_0 = 50 adds 50 * 1.03^t), so the explosion, not the noise,
    # drives the fit: without it the OLS estimate with a constant can fall below 1 on short paths.
    t = np.arange(1, 201)
    y = lfilter([1.0], [1.0, -1.03], rng.standard_normal(200)) + 50 * 1.03 ** t
    with pytest.warns(StationarityWarning, match=r"spectral radius\) is 1\.0[0-9]* >= 1") as rec:
        model = AR(order=1).fit(y)
    assert issubclass(rec[0].category, RuntimeWarning)
    assert model.spectral_radius_ >= 1
    assert f"{model.spectral_radius_:.6g}" in str(rec[0].message)
    ok = ar_series(rng, 200)
    with pytest.warns(StationarityWarning, match=r"fit_many: 1 of 2 fitted series are not stationary.*series 1 with"):
        AR(order=1).fit_many(np.r_[ok, y], [200, 200])
    Y = np.c_[np.cumsum(rng.standard_normal(300)) * 1.0, rng.standard_normal(300)]
    Y[:, 0] = lfilter([1.0], [1.0, -1.05], rng.standard_normal(300)) + 50 * 1.05 ** np.arange(1, 301)
    with pytest.warns(StationarityWarning, match="VAR\\(1\\) fit is not stationary"):
        VAR(order=1).fit(Y)


def test_schur_cohn_stationarity_agrees_with_companion_eigenvalues(rng):
    from fastgen.autoregressive._ar_stats import ar_stationary, lag_matrices, spectral_radius
    coef = rng.standard_normal((500, 6)) * rng.uniform(0.05, 0.6, size=(500, 1))
    coef[::7, 4:] = 0.0  # lower orders, zero-padded
    radius = spectral_radius(lag_matrices(coef[:, :, None], 0, 1, 6))
    keep = np.abs(radius - 1) > 1e-9  # away from the boundary, where rounding may decide either way
    assert_array_equal(ar_stationary(coef)[keep], (radius < 1)[keep])
    assert 50 < np.sum(radius < 1) < 450
