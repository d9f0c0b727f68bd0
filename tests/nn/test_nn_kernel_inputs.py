"""The nn kernels give the same results on 1 and 2 threads, and name their bad input. Backends,
inputs and tolerances: nn_cases.py.
"""
from __future__ import annotations

import re
import textwrap

import numpy as np
import pytest

from reference import nn as ref
from conftest import assert_same_on_any_thread_count
from nn_cases import kernel, _net


# =================================================================================================
# Same results on 1 and 2 threads
# =================================================================================================

def test_results_independent_of_thread_count(tmp_path):
    for name in ("mlp_forward", "mlp_backward", "mlp_step", "vae_step", "gan_step"):
        kernel(name)
    script = textwrap.dedent("""
        import sys, numpy as np
        from fastgen import _core
        rng = np.random.default_rng(3)
        out = []
        def net(sizes, acts):
            return np.array(sizes, np.int64), np.array(acts, np.int32)
        def theta(sizes, dt):
            P = sum(i * o + o for i, o in zip(sizes[:-1], sizes[1:]))
            return (0.2 * rng.standard_normal(P)).astype(dt)
        hp = np.array([1e-3, 0.9, 0.99, 1e-8, 1e-4, 0.9])
        for dt in (np.float32, np.float64):
            N = 301
            s = [67, 129, 33, 17]; sz, ac = net(s, [1, 3, 0])
            th = theta(s, dt); X = rng.standard_normal((N, 67)).astype(dt)
            A = _core.nn.mlp_forward(th, sz, ac, 0.1, X)
            dY = rng.standard_normal((N, 17)).astype(dt)
            out += [A, *_core.nn.mlp_backward(th, sz, ac, 0.1, X, A, dY, True)]
            for opt in (0, 2):
                t1, m, v = th.copy(), np.zeros_like(th), np.zeros_like(th)
                Y = rng.random((N, 17)).astype(dt)
                out += [_core.nn.mlp_step(t1, m, v, sz, ac, 0.1, X, Y, 1, 1, opt, hp), t1, m, v]
            D, K, c = 67, 9, 3
            C = np.eye(c)[rng.integers(0, c, N)].astype(dt)
            se, ae = net([D + c, 129, 2 * K], [2, 0]); sd, ad = net([K + c, 129, 2 * D], [5, 0])
            te, td = theta(list(se), dt), theta(list(sd), dt)
            st = [te, np.zeros_like(te), np.zeros_like(te), td, np.zeros_like(td), np.zeros_like(td)]
            out += [_core.nn.vae_step(st[0], st[1], st[2], se, ae, st[3], st[4], st[5], sd, ad, 0.1, X, C, 2,
                                   np.zeros(D, dt), 0.5, 5, 7, 1, 0, hp)] + st
            for loss in (0, 1):
                sg, ag = net([16 + c, 129, D], [1, 0]); sdd, add = net([D + c, 129, 1], [3, 0])
                tg, tdd = theta(list(sg), dt), theta(list(sdd), dt)
                st = [tg, np.zeros_like(tg), np.zeros_like(tg), tdd, np.zeros_like(tdd), np.zeros_like(tdd)]
                out += [_core.nn.gan_step(st[0], st[1], st[2], sg, ag, st[3], st[4], st[5], sdd, add, 0.2, X, C,
                                       loss, 10.0, 1, 5, 9, 1, 1, 0, hp, hp)] + st
        np.savez(sys.argv[1], *out)
    """)
    assert_same_on_any_thread_count(script, tmp_path, timeout=300)


def test_narrow_steps_independent_of_thread_count(tmp_path):
    """Narrow networks (every width <= 128) take the row-parallel steps (csrc/nn/steps_narrow.hpp):
    on 2 threads each thread carries a block of rows and the weight gradients are shared out. The
    first call of a step kind runs the team, later ones whichever is faster (the team size is chosen
    by timing), so each step runs three times; every result must equal the 1-thread one bit for bit.
    Odd batch sizes (row blocks not multiples of 8), labels, every optimiser and likelihood."""
    for name in ("mlp_step", "vae_step", "gan_step"):
        kernel(name)
    script = textwrap.dedent("""
        import sys, numpy as np
        from fastgen import _core
        rng = np.random.default_rng(5)
        out = []
        def net(sizes, acts):
            return np.array(sizes, np.int64), np.array(acts, np.int32)
        def theta(sizes, dt):
            P = sum(i * o + o for i, o in zip(sizes[:-1], sizes[1:]))
            return (0.3 * rng.standard_normal(P)).astype(dt)
        hp = np.array([1e-2, 0.9, 0.99, 1e-8, 1e-4, 0.9])
        for dt in (np.float32, np.float64):
            for N in (301, 130):
                X = rng.random((N, 19)).astype(dt)
                sz, ac = net([19, 64, 7, 128, 19], [3, 0, 5, 0])
                for opt, loss in ((0, 0), (1, 1), (2, 0)):
                    st = [theta(list(sz), dt)]
                    st += [np.zeros_like(st[0]), np.zeros_like(st[0])]
                    for t in (1, 2, 3):
                        out += [_core.nn.mlp_step(st[0], st[1], st[2], sz, ac, 0.1, X, X, loss, t, opt, hp)]
                    out += st
                c = 3
                C = np.eye(c)[rng.integers(0, c, N)].astype(dt)
                for lik in (0, 1, 2):
                    se, ae = net([19 + c, 64, 64, 10], [1, 4, 0])
                    sd, ad = net([5 + c, 33, 64, 38 if lik == 2 else 19], [2, 3, 0])
                    st = [theta(list(se), dt), None, None, theta(list(sd), dt), None, None]
                    st[1], st[2], st[4], st[5] = (np.zeros_like(st[i]) for i in (0, 0, 3, 3))
                    for t in (1, 2, 3):
                        out += [_core.nn.vae_step(st[0], st[1], st[2], se, ae, st[3], st[4], st[5], sd, ad, 0.1, X, C,
                                               lik, np.full(19, -0.5, dt), 0.7, 11, 100 + t, t, 0, hp)]
                    out += st
                for opt, upd in ((0, 1), (1, 1), (0, 0)):
                    sg, ag = net([16 + c, 64, 48, 19], [1, 5, 4]); sdd, add = net([19 + c, 64, 64, 1], [2, 3, 0])
                    st = [theta(list(sg), dt), None, None, theta(list(sdd), dt), None, None]
                    st[1], st[2], st[4], st[5] = (np.zeros_like(st[i]) for i in (0, 0, 3, 3))
                    for t in (1, 2, 3):
                        out += [_core.nn.gan_step(st[0], st[1], st[2], sg, ag, st[3], st[4], st[5], sdd, add, 0.2, X, C,
                                               0, 10.0, upd, 5, 3 * t, t, t, opt, hp, hp)]
                    out += st
        np.savez(sys.argv[1], *out)
    """)
    assert_same_on_any_thread_count(script, tmp_path, timeout=300)


# =================================================================================================
# Bad input
# =================================================================================================

def named(name):
    """A regex for an error message naming `name` as a word (sizes_d names sizes; max does not name m)."""
    return rf"(?<![A-Za-z_]){re.escape(name)}(?![A-Za-z])"


def _small(dtype=np.float64):
    sizes, acts = [3, 4, 2], [1, 0]
    sz, ac = _net(sizes, acts)
    theta = np.zeros(ref.n_params(sizes), dtype)
    X = np.zeros((5, 3), dtype)
    return sz, ac, theta, X


def test_forward_backward_bad_input_is_named():
    forward, backward = kernel("mlp_forward"), kernel("mlp_backward")
    sz, ac, theta, X = _small()
    with pytest.raises(ValueError, match=named("X")):
        forward(theta, sz, ac, 0.1, np.zeros((5, 4)))
    with pytest.raises(ValueError, match=named("theta")):
        forward(theta[:-1].copy(), sz, ac, 0.1, X)
    with pytest.raises(ValueError, match=named("acts")):
        forward(theta, sz, np.array([1, 0, 0], np.int32), 0.1, X)
    with pytest.raises(ValueError, match=named("acts")):
        forward(theta, sz, np.array([6, 0], np.int32), 0.1, X)
    with pytest.raises(ValueError, match=named("acts")):
        forward(theta, sz, np.array([-1, 0], np.int32), 0.1, X)
    with pytest.raises(ValueError, match=named("sizes")):
        forward(theta, np.array([3, 0, 2], np.int64), ac, 0.1, X)
    with pytest.raises(ValueError, match=named("sizes")):
        forward(np.zeros(0), np.array([3], np.int64), np.zeros(0, np.int32), 0.1, X)
    for slope in (0.0, 1.0, -0.1, 1.5, np.nan):
        with pytest.raises(ValueError, match=named("slope")):
            forward(theta, sz, np.array([2, 0], np.int32), slope, X)
    with pytest.raises(TypeError, match=named("X")):
        forward(theta, sz, ac, 0.1, X.astype(np.float32))
    with pytest.raises(TypeError):
        forward(theta, sz.astype(np.int32), ac, 0.1, X)
    with pytest.raises(ValueError, match="C-contiguous"):
        forward(theta, sz, ac, 0.1, np.zeros((3, 5)).T)
    A = forward(theta, sz, ac, 0.1, X)
    with pytest.raises(ValueError, match=named("A")):
        backward(theta, sz, ac, 0.1, X, A[:-1].copy(), np.zeros((5, 2)), True)
    with pytest.raises(ValueError, match=named("dY")):
        backward(theta, sz, ac, 0.1, X, A, np.zeros((5, 3)), True)
    with pytest.raises(ValueError, match=named("dY")):
        backward(theta, sz, ac, 0.1, X, A, np.zeros((4, 2)), True)


def test_losses_bad_input_is_named():
    bce, nll = kernel("bce_logits"), kernel("gaussian_nll")
    with pytest.raises(ValueError, match=named("X")):
        bce(np.zeros((3, 4)), np.zeros((3, 5)), 1.0)
    with pytest.raises(ValueError, match=named("S")):
        nll(np.zeros((3, 4)), np.zeros(5), np.zeros((3, 4)), 1.0)
    with pytest.raises(ValueError, match=named("S")):
        nll(np.zeros((3, 4)), np.zeros((2, 4)), np.zeros((3, 4)), 1.0)
    with pytest.raises(ValueError, match=named("X")):
        nll(np.zeros((3, 4)), np.zeros(4), np.zeros((3, 3)), 1.0)
    kl, klb = kernel("gaussian_kl_reparam"), kernel("gaussian_kl_reparam_backward")
    with pytest.raises(ValueError, match=named("H")):
        kl(np.zeros((3, 5)), 1, 2, 1.0)
    with pytest.raises(ValueError, match=named("eps")):
        klb(np.zeros((3, 4)), np.zeros((3, 3)), np.zeros((3, 2)), 1.0, 1.0)
    with pytest.raises(ValueError, match=named("dZs")):
        klb(np.zeros((3, 4)), np.zeros((3, 2)), np.zeros((2, 2)), 1.0, 1.0)


def test_optimisers_bad_input_is_named():
    adam, sgd = kernel("adam_update"), kernel("sgd_update")
    th, g, m, v = (np.zeros(5) for _ in range(4))
    with pytest.raises(ValueError, match=named("grad")):
        adam(th, np.zeros(4), m, v, 1, 1e-3, 0.9, 0.999, 1e-8, 0.0)
    with pytest.raises(ValueError, match=named("v")):
        adam(th, g, m, np.zeros(6), 1, 1e-3, 0.9, 0.999, 1e-8, 0.0)
    with pytest.raises(ValueError, match=named("t")):
        adam(th, g, m, v, 0, 1e-3, 0.9, 0.999, 1e-8, 0.0)
    ro = th.copy()
    ro.setflags(write=False)
    with pytest.raises(ValueError, match=named("theta")):
        adam(ro, g, m, v, 1, 1e-3, 0.9, 0.999, 1e-8, 0.0)
    with pytest.raises(TypeError, match=named("m")):
        adam(th, g, m.astype(np.float32), v, 1, 1e-3, 0.9, 0.999, 1e-8, 0.0)
    with pytest.raises(ValueError, match=named("velocity")):
        sgd(th, g, np.zeros(3), 0.1, 0.9, 0.0, False)
    ro = m.copy()
    ro.setflags(write=False)
    with pytest.raises(ValueError, match=named("velocity")):
        sgd(th, g, ro, 0.1, 0.9, 0.0, False)
    # hyper-parameters outside their domain (beta1 = 1 would divide by 1 - beta1^t = 0): refused, named
    good = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0)
    for name, bad in [("lr", -1e-3), ("lr", np.nan), ("beta1", 1.0), ("beta1", -0.1), ("beta2", 1.0),
                      ("beta2", np.inf), ("eps", -1e-8), ("weight_decay", -1e-4)]:
        with pytest.raises(ValueError, match=named(name)):
            adam(th, g, m, v, 1, **dict(good, **{name: bad}))
    good = dict(lr=0.1, momentum=0.9, weight_decay=0.0)
    for name, bad in [("lr", -0.1), ("momentum", -0.5), ("momentum", np.nan), ("weight_decay", -1e-4)]:
        with pytest.raises(ValueError, match=named(name)):
            sgd(th, g, np.zeros(5), nesterov=False, **dict(good, **{name: bad}))


def test_steps_bad_input_is_named():
    step = kernel("mlp_step")
    sz, ac, theta, X = _small()
    P = theta.size
    Y = np.zeros((5, 2))
    hp = np.array([1e-3, 0.9, 0.999, 1e-8, 0.0, 0.9])
    ok = lambda **kw: dict(dict(theta=theta.copy(), m=np.zeros(P), v=np.zeros(P), X=X, Y=Y, loss=0, t=1,  # noqa: E731
                                optimizer=0, hp=hp, acts=ac), **kw)

    def call(d):
        return step(d["theta"], d["m"], d["v"], sz, d["acts"], 0.1, d["X"], d["Y"], d["loss"], d["t"],
                    d["optimizer"], d["hp"])

    call(ok())
    call(ok(optimizer=1, v=np.zeros(0)))  # SGD: v unused
    for kw, name in [(dict(X=X[:0].copy(), Y=Y[:0].copy()), "X"), (dict(Y=np.zeros((5, 3))), "Y"),
                     (dict(Y=np.zeros((4, 2))), "Y"), (dict(m=np.zeros(P - 1)), "m"), (dict(v=np.zeros(P + 1)), "v"),
                     (dict(theta=np.zeros(P + 1)), "theta"), (dict(loss=2), "loss"), (dict(optimizer=3), "optimizer"),
                     (dict(t=0), "t"), (dict(hp=hp[:5].copy()), "hp"), (dict(acts=np.array([7, 0], np.int32)), "acts")]:
        with pytest.raises(ValueError, match=named(name)):
            call(ok(**kw))
    for i, field, bad in [(0, "lr", -1.0), (1, "beta1", 1.0), (2, "beta2", 1.5), (3, "eps", -1.0),
                          (4, "weight_decay", -1.0), (0, "lr", np.nan)]:
        h = hp.copy()
        h[i] = bad
        with pytest.raises(ValueError, match=named("hp") + "|" + named(field)):
            call(ok(hp=h))
    vae, gan = kernel("vae_step"), kernel("gan_step")
    se, ae, sd, ad = _net([3, 4, 4], [1, 0]) + _net([2, 4, 3], [1, 0])
    te, td = np.zeros(ref.n_params(se)), np.zeros(ref.n_params(sd))
    E = np.zeros((0, 3))
    with pytest.raises(ValueError, match=named("X")):
        vae(te, te.copy(), te.copy(), se, ae, td, td.copy(), td.copy(), sd, ad, 0.1, E, np.zeros((0, 0)), 0,
            np.zeros(3), 1.0, 1, 2, 1, 0, hp)
    with pytest.raises(ValueError, match=named("sizes")):  # encoder output 2K = 4 but decoder input 3 (K = 2)
        vae(te, te.copy(), te.copy(), se, ae, np.zeros(ref.n_params([3, 4, 3])), np.zeros(ref.n_params([3, 4, 3])),
            np.zeros(ref.n_params([3, 4, 3])), _net([3, 4, 3], [1, 0])[0], ad, 0.1, np.zeros((2, 3)),
            np.zeros((2, 0)), 0, np.zeros(3), 1.0, 1, 2, 1, 0, hp)
    sg, ag, sdd, add = _net([2, 4, 3], [1, 0]) + _net([3, 4, 1], [3, 0])
    tg, tdd = np.zeros(ref.n_params(sg)), np.zeros(ref.n_params(sdd))
    with pytest.raises(ValueError, match=named("X")):
        gan(tg, tg.copy(), tg.copy(), sg, ag, tdd, tdd.copy(), tdd.copy(), sdd, add, 0.1, E, np.zeros((0, 0)), 0,
            1.0, 1, 1, 2, 1, 1, 0, hp, hp)
    with pytest.raises(ValueError, match=named("sizes")):  # critic must have d_L = 1
        s2 = _net([3, 4, 2], [3, 0])[0]
        z2 = np.zeros(ref.n_params([3, 4, 2]))
        gan(tg, tg.copy(), tg.copy(), sg, ag, z2, z2.copy(), z2.copy(), s2, add, 0.1, np.zeros((2, 3)),
            np.zeros((2, 0)), 0, 1.0, 1, 1, 2, 1, 1, 0, hp, hp)
