"""Oversized requests to AR, VAR and MADE (issue 14): a ValueError naming the argument and the bytes
it would need, raised before anything is allocated."""
import numpy as np
import pytest

from fastgen.autoregressive import AR, MADE, VAR

NEED = r"need [\d.]+ (GiB|TiB|PiB|EiB), more than the .* of memory"
rng = np.random.default_rng(0)
y = np.cumsum(rng.normal(size=120)) * 0.1
Y = rng.normal(size=(80, 2))
B = (rng.random((30, 4)) < 0.5).astype(float)


@pytest.mark.parametrize("model", [lambda: AR(2, device="cpu").fit(y), lambda: VAR(1, device="cpu").fit(Y)])
def test_huge_forecasts_and_paths(model):
    m = model()
    with pytest.raises(ValueError, match="steps: 10000000000 steps .*" + NEED):
        m.forecast(10**10)
    with pytest.raises(ValueError, match="steps: .*" + NEED):
        m.forecast_interval(10**10)
    with pytest.raises(ValueError, match="n_steps, n_paths: 1000 paths x 1000000000 steps .*" + NEED):
        m.simulate(10**9, 10**3)


def test_var_forecast_cov():
    with pytest.raises(ValueError, match="steps: .*" + NEED):
        VAR(1, device="cpu").fit(Y).forecast_cov(10**9)


def test_made_huge_sample_and_layers():
    m = MADE(hidden_layer_sizes=(8,), max_epochs=1, random_state=0, device="cpu").fit(B)
    with pytest.raises(ValueError, match="n_samples: 10000000000 samples x 4 features " + NEED):
        m.sample(10**10)
    with pytest.raises(ValueError, match="hidden_layer_sizes: layer widths .*" + NEED):
        MADE(hidden_layer_sizes=(10**6, 10**6), max_epochs=1, device="cpu").fit(B)
