"""Hypothesis-generated bad inputs for the autoregressive family (AR, VAR, MADE, sample_logits) (issue 14): odd shapes, dtypes, NaN/inf at
random places, extreme scales, degenerate data and absurd sizes. Every example must give a finite
result of the right shape, or a ValueError/TypeError whose message names the argument (a diverging
fit: the FloatingPointError that names learning_rate and X); never a crash, a MemoryError or NaN."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastgen.autoregressive import AR, MADE, VAR, sample_logits

from fuzzing import D, LENGTHS, SIZES, SETTINGS, arrays, check  # tests/fuzzing.py


rng = np.random.default_rng(0)
XB = (rng.random((30, D)) < 0.5).astype(float)
Y = rng.normal(size=(60, 2))
y = np.cumsum(rng.normal(size=80)) * 0.1
AR_FIT = AR(2, device="cpu").fit(y)
VAR_FIT = VAR(1, device="cpu").fit(Y)
MADE_FIT = MADE(hidden_layer_sizes=(8,), max_epochs=1, random_state=0, device="cpu").fit(XB)


@SETTINGS
@given(X=arrays(n_features=1))
def test_ar_fit(X):
    m = AR(1, device="cpu")
    if check(lambda: m.fit(X), ["X", "y", "order", "lags"]) is not None:
        check(lambda: m.forecast(3), ["steps"])


@SETTINGS
@given(X=arrays(n_features=2))
def test_var_fit(X):
    m = VAR(1, device="cpu")
    if check(lambda: m.fit(X), ["X", "order", "maxlags"]) is not None:
        check(lambda: m.forecast(3), ["steps"])


@SETTINGS
@given(X=arrays(n_features=2))
def test_var_score(X):
    check(lambda: VAR_FIT.score(X), ["X"])


@SETTINGS
@given(X=arrays(n_features=1))
def test_ar_score(X):
    check(lambda: AR_FIT.score(X), ["X", "y"])


@pytest.mark.parametrize("model", ["AR", "VAR"])
@SETTINGS
@given(steps=SIZES, paths=SIZES)
def test_forecast_simulate_sizes(model, steps, paths):
    m = AR_FIT if model == "AR" else VAR_FIT
    out = check(lambda: m.forecast(steps), ["steps"])
    if out is not None:
        assert len(out[0]) == steps
    out = check(lambda: m.simulate(steps, paths, random_state=0), ["n_steps", "n_paths"])
    if out is not None:
        assert out.shape[:2] == (paths, steps)


@SETTINGS
@given(X=arrays())
def test_made_fit(X):
    m = MADE(hidden_layer_sizes=(4,), max_epochs=1, batch_size=8, random_state=0, device="cpu")
    if check(lambda: m.fit(X), ["X"]) is not None:
        check(lambda: m.score_samples(X), ["X"], (X.shape[0],))


@pytest.mark.parametrize("method", ["score_samples", "score", "partial_fit"])
@SETTINGS
@given(X=arrays())
def test_made_inference(method, X):
    import copy
    m = copy.deepcopy(MADE_FIT) if method == "partial_fit" else MADE_FIT
    check(lambda: getattr(m, method)(X), ["X"])


@SETTINGS
@given(n=SIZES, value=st.one_of(SIZES, st.sampled_from([(), (3, 0), (3, 10**9), [2, -1], "abc", 2.5])))
def test_made_sizes(n, value):
    out = check(lambda: MADE_FIT.sample(n, random_state=0), ["n_samples"])
    if out is not None:
        assert out.shape == (n, D)
    check(lambda: MADE(hidden_layer_sizes=value, max_epochs=1, device="cpu").fit(XB), ["hidden_layer_sizes"])


@SETTINGS
@given(logits=arrays(), temperature=st.one_of(st.just(1.0), st.floats(allow_nan=True), st.just(1e-300)),
       top_k=st.one_of(st.none(), SIZES), top_p=st.one_of(st.none(), st.floats(allow_nan=True)))
def test_sample_logits(logits, temperature, top_k, top_p):
    out = check(lambda: sample_logits(logits, temperature=temperature, top_k=top_k, top_p=top_p, random_state=0,
                                      device="cpu"), ["logits", "temperature", "top_k", "top_p"])
    if out is not None:
        assert out.shape == logits.shape[:-1]
        assert ((0 <= out) & (out < logits.shape[-1])).all()


@SETTINGS
@given(X=arrays(n_features=1), lengths=LENGTHS, steps=SIZES)
def test_fit_many(X, lengths, steps):
    """AR.fit_many and the ARBatch it returns (forecast, simulate, indexing)."""
    batch = check(lambda: AR(1, device="cpu").fit_many(X, lengths), ["X", "lengths", "series"])
    if batch is not None:
        check(lambda: batch.forecast(steps), ["steps"])
        check(lambda: batch.simulate(steps, 2, random_state=0), ["n_steps"])
        check(lambda: batch[0].forecast(2), ["steps"])
