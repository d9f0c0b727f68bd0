"""AR, VAR and MADE take data where they live: a device series or data set is checked on the device
(``Backend.check_array``; MADE's value checks are one ``first_outside`` pass there), the kernels read
it in place, and only the small results come back (an AR's or VAR's last p rows, where forecasts
start: ``fit_many`` gathers them with ``take_rows``). The fits and scores equal those from the
NumPy array exactly; bad device input raises the host's error. Devices and guards:
tests/devices.py, tests/device_inputs.py; tiny sizes (the simulator).
"""
from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from device_inputs import device_input, no_host_copy, same_error
from devices import CUDA_MARKS
from fastgen.autoregressive import AR, MADE, VAR

pytestmark = pytest.mark.filterwarnings("ignore::fastgen.exceptions.StationarityWarning")


def _series(rng, n=40, k=1):
    e = rng.standard_normal((n, k))
    y = np.zeros((n, k))
    for t in range(1, n):
        y[t] = 0.5 * y[t - 1] + e[t]
    return y[:, 0] if k == 1 else y


def _ar_fit(m):
    return [m.params_, m.y_tail_, [m.sigma2_, m.llf_, m.aic_]]


@pytest.mark.parametrize("kw", [dict(order=2), dict(order="aic", max_order=3, method="yule_walker")])
def test_ar_device_input_gives_the_host_results(device, kw, rng):
    y = _series(rng)
    yd = device_input(device, y)
    on_host, on_device = AR(device=device, **kw).fit(y), AR(device=device, **kw).fit(yd)
    for a, b in zip(_ar_fit(on_host), _ar_fit(on_device)):
        assert_array_equal(a, b)
    assert on_host.score(y, [15, 25]) == on_device.score(yd, [15, 25])
    assert on_device.fit(device_input(device, y.reshape(-1, 1))).params_.tolist() == on_host.params_.tolist()
    lengths = [12, 28]
    b_host, b_dev = AR(device=device, **kw).fit_many(y, lengths), AR(device=device, **kw).fit_many(yd, lengths)
    for a, b in ((b_host.params_, b_dev.params_), (b_host.y_tail_, b_dev.y_tail_), (b_host.llf_, b_dev.llf_)):
        assert_array_equal(a, b)


def test_var_device_input_gives_the_host_results(device, rng):
    Y = _series(rng, k=2)
    Yd = device_input(device, Y)
    on_host, on_device = VAR(order=1, device=device).fit(Y), VAR(order=1, device=device).fit(Yd)
    for name in ("coefs_", "intercept_", "sigma_u_", "y_tail_"):
        assert_array_equal(getattr(on_host, name), getattr(on_device, name))
    assert on_host.llf_ == on_device.llf_
    assert on_host.score(Y, [20, 20]) == on_device.score(Yd, [20, 20])


@pytest.mark.parametrize("output, kw", [("bernoulli", dict()), ("categorical", dict(n_categories=3))])
def test_made_device_input_gives_the_host_results(device, output, kw, rng):
    X = (rng.integers(0, 3 if output == "categorical" else 2, (10, 4))).astype(np.float32)
    Xd = device_input(device, X)
    args = dict(hidden_layer_sizes=(4,), output=output, max_epochs=1, batch_size=5, random_state=0, device=device, **kw)
    on_host, on_device = MADE(**args).fit(X), MADE(**args).fit(Xd)
    assert_array_equal(on_host.network_.theta, on_device.network_.theta)
    assert_array_equal(on_host.loss_curve_, on_device.loss_curve_)
    assert_array_equal(on_host.score_samples(X), on_device.score_samples(Xd))
    on_host.partial_fit(X)
    on_device.partial_fit(Xd)
    assert_array_equal(on_host.network_.theta, on_device.network_.theta)


def test_bad_device_input_raises_the_host_error(device, rng):
    y = _series(rng)
    nan = y.copy()
    nan[5] = np.nan
    assert "(first at index (5,))" in same_error(lambda: AR(device=device).fit(nan),
                                                 lambda: AR(device=device).fit(device_input(device, nan)))
    assert "series 1, position 3" in same_error(lambda: AR(device=device).fit_many(nan, [2, 38]),
                                                lambda: AR(device=device).fit_many(device_input(device, nan), [2, 38]))
    Y = np.c_[y, y[::-1], y]
    same_error(lambda: AR(device=device).fit(Y), lambda: AR(device=device).fit(device_input(device, Y)))
    var = VAR(order=1, device=device).fit(Y[:, :2])
    same_error(lambda: var.score(Y), lambda: var.score(device_input(device, Y)))
    X = (rng.random((10, 4)) < 0.5).astype(np.float32)
    made = MADE((4,), max_epochs=1, batch_size=5, random_state=0, device=device)
    same_error(lambda: made.fit(2 * X), lambda: made.fit(device_input(device, 2 * X)))
    made.fit(X)
    half = X.copy()
    half[2, 1] = 0.5
    assert "0.5 at (2, 1)" in same_error(lambda: made.score_samples(half),
                                         lambda: made.score_samples(device_input(device, half)))
    cat = MADE((4,), output="categorical", n_categories=3, max_epochs=1, device=device)
    for bad in (3.0, -1.0, 1.5):
        Xc = X.copy()
        Xc[2, 1] = bad
        assert f"{bad!r} at (2, 1)" in same_error(lambda: cat.fit(Xc), lambda: cat.fit(device_input(device, Xc)))


@pytest.mark.cuda
@CUDA_MARKS[1]
def test_no_host_copy_of_the_input(rng):
    y = _series(rng)
    yd = device_input("cuda", y)
    with no_host_copy(yd, limit=2):   # an AR(2)'s last two values come back
        AR(order=2, device="cuda").fit(yd).score(yd, [15, 25])
    with no_host_copy(yd):            # fit_many gathers each series' last values on the device
        AR(order=2, device="cuda").fit_many(yd, [15, 25])
    Yd = device_input("cuda", _series(rng, k=2))
    with no_host_copy(Yd, limit=2):   # a VAR(1)'s last row (2 values) comes back
        v = VAR(order=1, device="cuda").fit(Yd)
    with no_host_copy(Yd):
        v.score(Yd)
    Xd = device_input("cuda", (rng.random((10, 4)) < 0.5).astype(np.float32))
    with no_host_copy(Xd):
        MADE((4,), max_epochs=1, batch_size=5, random_state=0, device="cuda").fit(Xd).score_samples(Xd)
