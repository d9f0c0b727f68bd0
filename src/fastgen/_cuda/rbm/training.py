"""The RBM's CD/PCD parameter update on CUDA (``cd_update``): one tiled product of inner size B + C
whose epilogue updates W in place, then one launch for the biases and log-variances (see the
package docstring)."""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from ..common.args import DevArg, inplace, launch, matrix, vector
from .model import check_sigma, dummy, grid, kernels, placeholder


def _finite_scalar(x, name):
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a real number, got {type(x).__name__}")
    v = float(x)
    if not math.isfinite(v):
        raise ValueError("learning_rate, momentum, weight_decay: must be finite")
    return v


def cd_update(W, b_h, b_v, log_var, sigma, vel_W, vel_b_h, vel_b_v, vel_log_var, V_pos, H_pos, V_neg, H_neg,
                  learning_rate, momentum, weight_decay):
    """One CD/PCD step with momentum and weight decay; every parameter and velocity in place."""
    Wa = DevArg(W, "W", 2)
    dtype = Wa.float_dtype()
    H, V = Wa.shape
    if H < 1 or V < 1:
        raise ValueError(f"W: need at least one hidden and one visible unit, got shape {Wa.shape}")
    Wa = inplace(W, "W", dtype, (H, V))
    bh = inplace(b_h, "b_h", dtype, (H,))
    bv = inplace(b_v, "b_v", dtype, (V,))
    sg = vector(sigma, "sigma", dtype)
    lv = vector(log_var, "log_var", dtype)
    ns, nl = sg.shape[0], lv.shape[0]
    if ns not in (0, V):
        raise ValueError(f"sigma: expected shape (0,) or ({V},), got shape {sg.shape}")
    if nl not in (0, V):
        raise ValueError(f"log_var: expected shape (0,) or ({V},), got shape {lv.shape}")
    if nl == V and ns != V:
        raise ValueError(f"log_var: learned variances need sigma of shape ({V},)")
    gaussian, learn_var = ns == V, nl == V
    if gaussian:
        sg = inplace(sigma, "sigma", dtype, (V,))
        check_sigma(sg.dev.copy_to_host())
    if learn_var:
        lv = inplace(log_var, "log_var", dtype, (V,))
    vW = inplace(vel_W, "vel_W", dtype, (H, V))
    vbh = inplace(vel_b_h, "vel_b_h", dtype, (H,))
    vbv = inplace(vel_b_v, "vel_b_v", dtype, (V,))
    vlv = vector(vel_log_var, "vel_log_var", dtype, nl)
    if learn_var:
        vlv = inplace(vel_log_var, "vel_log_var", dtype, (V,))
    Vp = matrix(V_pos, "V_pos", dtype, -1, V)
    Hp = matrix(H_pos, "H_pos", dtype, Vp.shape[0], H)
    Vn = matrix(V_neg, "V_neg", dtype, -1, V)
    Hn = matrix(H_neg, "H_neg", dtype, Vn.shape[0], H)
    B, C = Vp.shape[0], Vn.shape[0]
    if B < 1 or C < 1:
        raise ValueError("V_pos, V_neg: need at least one row each")
    T = dtype.type
    lr = T(_finite_scalar(learning_rate, "learning_rate"))
    mom = T(_finite_scalar(momentum, "momentum"))
    decay = T(_finite_scalar(weight_decay, "weight_decay"))

    kern = kernels(dtype)
    sp = T(1) / T(B)
    sn = -(T(1) / T(C))
    sig_d = sg.dev if gaussian else dummy(1, dtype)
    G = cuda.device_array((H, V), dtype=dtype) if learn_var else placeholder((1, 1), dtype)
    Hp_d, Hn_d, Vp_d, Vn_d = Hp.device(), Hn.device(), Vp.device(), Vn.device()
    kern["cd"][grid(H, V), kern["threads"]](H, V, B + C, (Hp_d, Hn_d, sp, sn, True), (Vp_d, Vn_d, sp, sn, False),
                                            (not learn_var, gaussian, sig_d, Wa.dev, vW.dev, lr, mom, decay, G))
    lv_d = lv.dev if learn_var else dummy(1, dtype)
    vlv_d = vlv.dev if learn_var else dummy(1, dtype)
    kern["cd_columns"][launch(V + H)](Vp_d, Vn_d, Hp_d, Hn_d, gaussian, learn_var, G, Wa.dev, bv.dev, bh.dev, lv_d,
                                      sig_d, vW.dev, vbv.dev, vbh.dev, vlv_d, lr, mom, decay)


def train_step(V, W, b_h, b_v, log_var, sigma, vel_W, vel_b_h, vel_b_v, vel_log_var, chains, n_steps, seed, stream,
               learning_rate, momentum, weight_decay):
    """One CD-k (chains None: from the batch's hidden draws on `stream`) or PCD-k (chains, a device
    array, replaced by the last sweep's draws) step, in place: the C++ train_step's phases and
    update, composed of this module's launches (the same results; on the GPU each is already one
    launch per half-step, so fusing the calls saves no pass)."""
    from .sampling import gibbs_hvh, hidden_probs, sample_hiddens
    if chains is None:
        P_pos, start = sample_hiddens(V, W, b_h, sigma, seed, stream)
        stream += 1
    else:
        Wa = DevArg(W, "W", 2)
        ch = inplace(chains, "chains", Wa.float_dtype(), (-1, Wa.shape[0]))
        P_pos, start = hidden_probs(V, W, b_h, sigma), ch.dev
    V_neg, P_neg, S = gibbs_hvh(start, W, b_h, b_v, sigma, n_steps, seed, stream)
    cd_update(W, b_h, b_v, log_var, sigma, vel_W, vel_b_h, vel_b_v, vel_log_var, V, P_pos, V_neg, P_neg,
              learning_rate, momentum, weight_decay)
    if chains is not None:  # (after the update's checks: a refused step leaves the chains as they were)
        ch.dev.copy_to_device(S)
