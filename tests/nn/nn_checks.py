"""Tolerance helpers of the nn kernel tests, shared with the MADE kernel tests
(tests/autoregressive imports them as ``nn.nn_checks``): a training step's parameters and optimiser
state against the oracle's, with the gradient's error propagated through the optimiser (the
module docstring of tests/nn/nn_cases.py derives the tolerances).
"""
from __future__ import annotations

import numpy as np

from reference import nn as ref
from conftest import assert_sum_close


def _f64(*arrays):
    return [None if a is None else np.asarray(a, np.float64) for a in arrays]


def adam_sensitivity(m_hat, v_hat, t, hp):
    """d(theta') / d(grad) bound of one Adam step (see module docstring)."""
    lr, b1, b2, eps = hp[:4]
    d = np.sqrt(v_hat) + eps
    return lr * ((1 - b1) / (1 - b1 ** t) / d + np.abs(m_hat) * np.sqrt((1 - b2) / (1 - b2 ** t)) / d ** 2)


def assert_params_close(got, want, theta0, grad_tol, optimizer, hp, t, m_ref, v_ref, rtol, what):
    """A step's parameters: rtol of |theta| and |step| plus the optimiser's sensitivity to the
    gradient's error grad_tol."""
    got, want, theta0 = _f64(got, want, theta0)
    lr, b1, b2, eps, wd, mom = hp
    if optimizer == ref.ADAM:
        sens = adam_sensitivity(m_ref / (1 - b1 ** t), v_ref / (1 - b2 ** t), t, hp)
    else:
        sens = lr * (1 + mom) * np.ones_like(want)
    tol = rtol * (np.abs(want) + np.abs(want - theta0)) + sens * grad_tol
    bad = ~(np.abs(got - want) <= tol)
    assert not bad.any(), (f"{what}: {bad.sum()} of {bad.size} parameters off; first at {np.argwhere(bad)[0]}: "
                           f"{got[bad][0]!r} vs {want[bad][0]!r} (tol {tol[bad][0]:.3g})")


def _hp(rng, optimizer):
    return np.array([float(rng.uniform(1e-3, 3e-2)), 0.9, 0.99, 1e-8, float(rng.uniform(0, 1e-2)),
                     float(rng.uniform(0.5, 0.95))])


def _opt_state(rng, P, dtype, optimizer, t):
    """(m, v): zeros at t = 1, a plausible running state later; SGD's v is empty."""
    if t == 1:
        m, v = np.zeros(P, dtype), np.zeros(P, dtype)
    else:
        m = (0.1 * rng.standard_normal(P)).astype(dtype)
        v = (0.01 * rng.random(P)).astype(dtype)
    return (m, v) if optimizer == ref.ADAM else (m, np.zeros(0, dtype))


def _assert_state(got_m, got_v, want_m, want_v, grad_tol, optimizer, hp, rtol, what):
    """The optimiser state after a step: m (or the velocity) and v, the gradient's error included."""
    b2 = hp[2]
    try:
        assert_sum_close(got_m, want_m, np.abs(want_m) + grad_tol / rtol, rtol)
        if optimizer == ref.ADAM:
            v_mag = np.abs(want_v) + 2 * np.sqrt(np.abs(want_v) / (1 - b2)) * grad_tol / rtol
            assert_sum_close(got_v, want_v, v_mag, rtol)
        else:
            assert got_v.size == 0
    except AssertionError as e:
        raise AssertionError(f"{what} optimiser state: {e}") from None


def _grad_tol(grad_ref, rtol, depth):
    """A gradient element's tolerance: its terms are at most ~ the largest gradient in magnitude."""
    return 8 * depth * rtol * (np.abs(grad_ref) + np.abs(grad_ref).max())
