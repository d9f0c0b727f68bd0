"""Linear AR suites: fastgen (CPU, CUDA) against statsmodels and scipy.signal.lfilter on identical data.

A1  AR(16) with a constant on one series of 1,000,000 points:
    fit (OLS)                 fastgen AR.fit  vs  statsmodels AutoReg(y, 16).fit()
    forecast 1000 steps + SEs fastgen AR.forecast  vs  AutoRegResults.get_prediction (mean, se_mean)
    simulate 1,000,000 steps  fastgen AR.simulate (Philox normals + recursion)  vs
                              statsmodels ArmaProcess.generate_sample (NumPy normals + lfilter)  vs
                              scipy-lfilter: lfilter on fastgen's own normals, with the history as
                              initial state (the recursion alone, normals drawn outside the timing)
A2  2000 series x 500 points, AR(8) each: fastgen AR.fit_many (one kernel call)  vs  a Python loop
    of statsmodels AutoReg fits (the issue's target: 100x)

Every suite's first parameter is the implementation (common.AR_IMPLEMENTATIONS); scipy-lfilter only
runs the simulation. Data come from common.ar_data; these classes only time.
"""
from __future__ import annotations

import numpy as np

from . import common

IMPLEMENTATIONS = common.AR_IMPLEMENTATIONS


def _fastgen_ar(impl, order, **kw):
    from fastgen.autoregressive import AR
    return AR(order=order, device=impl.split("-", 1)[1], **kw)


class _A1:
    N, ORDER, STEPS = 1_000_000, 16, 1000
    param_names = ["implementation"]
    params = [IMPLEMENTATIONS]
    timeout = 300.0
    warmup_time = 0.0
    lfilter = False

    def setup(self, impl):
        common.require_ar(impl, lfilter=self.lfilter)
        self.impl = impl
        X, _ = common.ar_data(1, self.N, self.ORDER)
        self.y = X
        if impl.startswith("fastgen"):
            self.model = _fastgen_ar(impl, self.ORDER).fit(self.y)
            self.model.forecast(10)
            self.model.simulate(10)
        else:
            from statsmodels.tsa.ar_model import AutoReg
            self.res = AutoReg(self.y, self.ORDER).fit()


class A1Fit(_A1):
    """AR(16) OLS fit of 1,000,000 points."""
    repeat = (2, 5, 60.0)

    def time_fit(self, impl):
        if impl.startswith("fastgen"):
            _fastgen_ar(impl, self.ORDER).fit(self.y)
        else:
            from statsmodels.tsa.ar_model import AutoReg
            AutoReg(self.y, self.ORDER).fit()


class A1Forecast(_A1):
    """1000-step forecast with standard errors."""

    def time_forecast(self, impl):
        if impl.startswith("fastgen"):
            self.model.forecast(self.STEPS)
        else:
            pred = self.res.get_prediction(start=self.N, end=self.N + self.STEPS - 1)
            pred.predicted_mean, pred.se_mean


class A1Simulate(_A1):
    """One simulated path of 1,000,000 steps continuing the fitted series."""
    lfilter = True
    repeat = (2, 5, 60.0)

    def setup(self, impl):
        common.require_ar(impl, lfilter=True)
        self.impl = impl
        self.y, _ = common.ar_data(1, self.N, self.ORDER)
        if impl.startswith("fastgen"):
            self.model = _fastgen_ar(impl, self.ORDER).fit(self.y)
            self.model.simulate(10)
            return
        from statsmodels.tsa.ar_model import AutoReg
        res = AutoReg(self.y, self.ORDER).fit()
        c, phi, sigma = res.params[0], res.params[1:], np.sqrt(res.sigma2)
        self.a = np.r_[1.0, -phi]
        if impl == "statsmodels":
            from statsmodels.tsa.arima_process import ArmaProcess
            self.process = ArmaProcess(self.a, [1.0])
            self.sigma, self.mean = sigma, c / self.a.sum()
        else:
            from scipy.signal import lfiltic
            from fastgen import _core
            # The same innovations as fastgen's path: its Philox normals, scaled, plus the constant.
            self.e = c + sigma * _core.rng.normal(12345, 0, self.N)
            self.zi = lfiltic([1.0], self.a, self.y[::-1][:self.ORDER])

    def time_simulate(self, impl):
        if impl.startswith("fastgen"):
            self.model.simulate(self.N, 1, random_state=0)
        elif impl == "statsmodels":
            self.mean + self.process.generate_sample(self.N, scale=self.sigma, burnin=0)
        else:
            from scipy.signal import lfilter
            lfilter([1.0], self.a, self.e, zi=self.zi)


class A2FitMany:
    """2000 series x 500 points, an AR(8) with a constant each."""
    S, N, ORDER = 2000, 500, 8
    param_names = ["implementation"]
    params = [IMPLEMENTATIONS]
    timeout = 600.0
    warmup_time = 0.0
    repeat = (1, 3, 60.0)

    def setup(self, impl):
        common.require_ar(impl)
        self.X, self.lengths = common.ar_data(self.S, self.N, self.ORDER)
        if impl.startswith("fastgen"):
            self.model = _fastgen_ar(impl, self.ORDER)
            self.model.fit_many(self.X[:5000], self.lengths[:10])

    def time_fit_many(self, impl):
        if impl.startswith("fastgen"):
            self.model.fit_many(self.X, self.lengths)
        else:
            from statsmodels.tsa.ar_model import AutoReg
            Y = self.X.reshape(self.S, self.N)
            for s in range(self.S):
                AutoReg(Y[s], self.ORDER).fit()
