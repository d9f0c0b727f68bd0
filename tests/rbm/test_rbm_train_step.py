"""The fused training step (rbm.train_step): one call for the positive phase, k sweeps of the
negative chains and the update, on both devices the same bits as hidden_probs / sample_hiddens,
gibbs_hvh and cd_update called in turn on the same streams (the step those kernels' own tests
check against the NumPy oracle and scikit-learn; test_rbm_chains_cd.py, test_rbm_half_steps.py).
Exact equality: the fused call runs the same products and roundings in the same order.
"""
from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from devices import host, kernels
from fastgen import _core
from rbm_cases import _to_device, cases, cd_inputs, DTYPES

VARIANTS = ["bernoulli", "gaussian", "learned"]
SEED, STREAM, LR, MOMENTUM, DECAY = 11, 5, 0.05, 0.5, 1e-3


def _inputs(H, V, B, C, dtype, variant):
    """(params, velocities, batch, PCD chains) from cd_inputs' fixed model."""
    params, vel, (V_pos, _, _, H_neg) = cd_inputs(31 + H + V, H, V, B, C, dtype, variant)
    return params, vel, V_pos, H_neg


def _copies(params, vel, to_device):
    p = {k: to_device(v.copy()) for k, v in params.items()}
    m = {k: to_device(v.copy()) for k, v in vel.items()}
    return p, m


def _three_calls(rbm, params, vel, Vb, chains, k, to_device):
    """The step as the estimators took it before the fused kernel: (params, velocities, chains) on the host."""
    p, m = _copies(params, vel, to_device)
    Vd = to_device(Vb)
    if chains is not None:
        P_pos = rbm.hidden_probs(Vd, p["W"], p["b_h"], p["sigma"])
        V_neg, P_neg, H_new = rbm.gibbs_hvh(to_device(chains.copy()), p["W"], p["b_h"], p["b_v"], p["sigma"], k, SEED,
                                            STREAM)
    else:
        P_pos, S_pos = rbm.sample_hiddens(Vd, p["W"], p["b_h"], p["sigma"], SEED, STREAM)
        V_neg, P_neg, H_new = rbm.gibbs_hvh(S_pos, p["W"], p["b_h"], p["b_v"], p["sigma"], k, SEED, STREAM + 1)
    rbm.cd_update(p["W"], p["b_h"], p["b_v"], p["log_var"], p["sigma"], m["W"], m["b_h"], m["b_v"], m["log_var"], Vd,
                  P_pos, V_neg, P_neg, LR, MOMENTUM, DECAY)
    return ({k: host(v) for k, v in p.items()}, {k: host(v) for k, v in m.items()},
            None if chains is None else host(H_new))


def _fused(rbm, params, vel, Vb, chains, k, to_device):
    p, m = _copies(params, vel, to_device)
    ch = None if chains is None else to_device(chains.copy())
    rbm.train_step(to_device(Vb), p["W"], p["b_h"], p["b_v"], p["log_var"], p["sigma"], m["W"], m["b_h"], m["b_v"],
                   m["log_var"], ch, k, SEED, STREAM, LR, MOMENTUM, DECAY)
    return {k: host(v) for k, v in p.items()}, {k: host(v) for k, v in m.items()}, None if ch is None else host(ch)


# (H, V, B, C): size 1, odd sizes, more chains than rows and fewer
@pytest.mark.parametrize("device, dtype, variant, sizes, k", cases(
    [(dtype, variant, sizes, k) for dtype in DTYPES for variant in VARIANTS
     for sizes in [(1, 1, 1, 1), (13, 29, 7, 5), (67, 131, 40, 53)] for k in (1, 2)],
    [(dtype, variant, (5, 7, 3, 2), 2) for dtype in DTYPES for variant in VARIANTS]))
@pytest.mark.parametrize("algorithm", ["pcd", "cd"])
def test_train_step_is_the_three_calls_bit_for_bit(device, dtype, variant, sizes, k, algorithm):
    H, V, B, C = sizes
    params, vel, Vb, chains = _inputs(H, V, B, C, dtype, variant)
    chains = chains if algorithm == "pcd" else None
    rbm, to_device = kernels(device, "rbm"), _to_device(device)
    want = _three_calls(rbm, params, vel, Vb, chains, k, to_device)
    got = _fused(rbm, params, vel, Vb, chains, k, to_device)
    for name, g, w in zip(("parameters", "velocities"), got[:2], want[:2]):
        for key in w:
            assert_array_equal(g[key], w[key], err_msg=f"{name} {key}")
    if chains is not None:
        assert_array_equal(got[2], want[2])
        assert not np.array_equal(got[2], chains) or H * C == 1  # the chains moved
    assert not np.array_equal(got[0]["W"], params["W"])


def test_train_step_checks_its_arguments_before_writing():
    """Bad chains, batch or step count: a ValueError naming the argument, and nothing written."""
    params, vel, Vb, chains = _inputs(6, 9, 4, 3, np.float64, "bernoulli")

    def call(V=Vb, ch=chains, n_steps=1):
        p, m = _copies(params, vel, lambda a: a)
        _core.rbm.train_step(V, p["W"], p["b_h"], p["b_v"], p["log_var"], p["sigma"], m["W"], m["b_h"], m["b_v"],
                             m["log_var"], ch, n_steps, SEED, STREAM, LR, MOMENTUM, DECAY)
        return p

    with pytest.raises(ValueError, match=r"chains: expected shape \(\*, 6\), got \(3, 5\)"):
        call(ch=np.zeros((3, 5)))
    with pytest.raises(TypeError, match="chains: expected dtype float64, got float32"):
        call(ch=chains.astype(np.float32))
    frozen = chains.copy()
    frozen.setflags(write=False)
    with pytest.raises(ValueError, match="chains: must be a writeable array"):
        call(ch=frozen)
    with pytest.raises(ValueError, match=r"V: expected shape \(\*, 9\), got \(4, 8\)"):
        call(V=np.zeros((4, 8)))
    with pytest.raises(ValueError, match="n_steps: must be >= 1, got 0"):
        call(n_steps=0)
    with pytest.raises(ValueError, match="V: need at least one row"):
        call(V=np.zeros((0, 9)))
    ch = chains.copy()
    with pytest.raises(ValueError, match="learning_rate, momentum, weight_decay: must be finite"):
        p, m = _copies(params, vel, lambda a: a)
        _core.rbm.train_step(Vb, p["W"], p["b_h"], p["b_v"], p["log_var"], p["sigma"], m["W"], m["b_h"], m["b_v"],
                             m["log_var"], ch, 1, SEED, STREAM, np.nan, MOMENTUM, DECAY)
    assert_array_equal(ch, chains)
    assert_array_equal(p["W"], params["W"])
