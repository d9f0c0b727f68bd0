"""The RBMs and the DBN take data where they live: a device array is checked on the device
(``Backend.check_array``: shape from the metadata, one finiteness pass there), trained
on there (each epoch's shuffle gathered by ``take_rows``; the AIS base model's column means by
``weighted_moments``) and scored there, never copied to the host. The results equal those from the
NumPy array exactly, except the base model, whose column sums are rounded to the model dtype once
on the device (1e-6 of the data's scale in float32), and the reconstruction error, a float64 ``gaussian_nll``
on the device (1e-12 relative of the host's float64 formula); bad device input raises the host's
error. Devices and guards: tests/devices.py, tests/device_inputs.py; tiny sizes (the simulator).
"""
from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from device_inputs import device_input, no_host_copy, same_error
from devices import CUDA_MARKS
from fastgen.rbm import DBN, BernoulliRBM, GaussianBernoulliRBM


def _data(rng, n=10, V=4):
    B = (rng.random((n, V)) < 0.4).astype(np.float32)
    return B, rng.standard_normal((n, V)).astype(np.float32)


def _rbm(cls, device, **kw):
    return cls(**{"n_components": 3, "n_iter": 2, "batch_size": 4, "random_state": 0, "device": device, **kw})


def _state(m):
    extra = [m.sigma_] if hasattr(m, "sigma_") else []
    return [m.components_, m.intercept_hidden_, m.intercept_visible_, m.h_samples_] + extra


@pytest.mark.parametrize("cls, kw", [(BernoulliRBM, dict()), (BernoulliRBM, dict(algorithm="cd", shuffle=False)),
                                     (GaussianBernoulliRBM, dict(learn_sigma=True))])
def test_device_input_gives_the_host_results(device, cls, kw, rng):
    B, X = _data(rng)
    D = B if cls is BernoulliRBM else X
    Dd = device_input(device, D)
    on_host, on_device = _rbm(cls, device, **kw).fit(D), _rbm(cls, device, **kw).fit(Dd)
    for a, b in zip(_state(on_host), _state(on_device)):
        assert_array_equal(a, b)
    # column means rounded to float32 once: the error is absolute, a few eps of the data's scale
    # (rtol alone failed in CI on a mean of 9e-4 from unit-scale data)
    assert_allclose(on_device._base_b_v, on_host._base_b_v, rtol=1e-6, atol=1e-6 * np.abs(D).max())
    # the two models hold the same Philox streams: score_samples' flips, gibbs's draws agree
    for name in ("transform", "free_energy", "score_samples", "gibbs"):
        assert_array_equal(getattr(on_host, name)(D), getattr(on_device, name)(Dd))
    assert_allclose(on_device.reconstruction_error(Dd), on_host.reconstruction_error(D), rtol=1e-12)
    assert on_device.score(Dd) == on_host.score(D)
    on_host.partial_fit(D)
    on_device.partial_fit(Dd)
    assert_array_equal(on_host.components_, on_device.components_)


def test_dbn_device_input_gives_the_host_results(device, rng):
    B, _ = _data(rng)
    Bd = device_input(device, B)
    dbn = DBN((3, 2), n_iter=1, batch_size=4, random_state=0, device=device)
    on_host, on_device = dbn.fit(B).transform(B), DBN(**dbn.get_params()).fit(Bd).transform(Bd)
    assert_array_equal(on_host, on_device)


def test_bad_device_input_raises_the_host_error(device, rng):
    B, X = _data(rng)
    m = _rbm(BernoulliRBM, device, n_iter=1)
    for value, why in ((np.nan, "NaN or infinity (first at index (2, 1))"), (np.inf, "NaN or infinity")):
        bad = B.copy()
        bad[2, 1] = value
        assert why in same_error(lambda: m.fit(bad), lambda: m.fit(device_input(device, bad)))
    m.fit(B)
    same_error(lambda: m.transform(B[:, :3]), lambda: m.transform(device_input(device, B[:, :3])))
    # values outside [0, 1] are used as given (scikit-learn's BernoulliRBM does), on the device too
    wide = 2 * B - 0.5
    assert_array_equal(m.transform(wide), m.transform(device_input(device, wide)))
    g = _rbm(GaussianBernoulliRBM, device, n_iter=1)
    bad = X.copy()
    bad[1, 3] = np.nan
    same_error(lambda: g.fit(bad), lambda: g.fit(device_input(device, bad)))


@pytest.mark.cuda
@CUDA_MARKS[1]
def test_no_host_copy_of_the_input(rng, capsys):
    B, X = _data(rng)
    Bd, Xd = device_input("cuda", B), device_input("cuda", X)
    with no_host_copy(Bd, Xd):
        m = _rbm(BernoulliRBM, "cuda").fit(Bd)
        for name in ("transform", "free_energy", "score_samples", "gibbs", "reconstruction_error", "score"):
            getattr(m, name)(Bd)
        m.partial_fit(Bd)
        g = _rbm(GaussianBernoulliRBM, "cuda", verbose=1).fit(Xd)   # verbose: the reconstruction error each epoch
        g.score_samples(Xd)
        DBN((3, 2), n_iter=1, batch_size=4, random_state=0, device="cuda").fit(Bd).transform(Bd)
    assert len(g.score_curve_) == 2
