"""The MADE kernels give the same results on 1 and 2 threads and name their bad input; CUDA alone:
device-resident data and the estimator on CUDA. Backends, inputs and tolerances: made_cases.py.
"""
from __future__ import annotations

import textwrap

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from conftest import assert_same_on_any_thread_count, assert_sum_close
from devices import host, kernels
from fastgen import _core
from made_cases import cuda_only, dev, Made, named, SLOPE


# =================================================================================================
# Same results on 1 and 2 threads
# =================================================================================================

def test_results_independent_of_thread_count(tmp_path):
    script = textwrap.dedent("""
        import sys, numpy as np
        from fastgen import _core
        from fastgen.autoregressive import _made_masks as mm
        rng = np.random.default_rng(5)
        out = []
        hp = np.array([1e-3, 0.9, 0.99, 1e-8, 1e-4, 0.9])
        for dt in (np.float32, np.float64):
            for output, code, n_out, D, hidden in (("bernoulli", 0, 1, 67, (129, 65)),
                                                   ("categorical", 1, 12, 40, (129,)),
                                                   ("categorical", 1, 3, 30, (65,)),
                                                   ("gaussian_mixture", 2, 5, 20, (97,))):
                order = mm.make_order(D, "random", rng)
                deg = mm.make_hidden_degrees(D, hidden, rng)
                sizes = np.array([D * mm.input_width(output, n_out), *hidden, D * mm.output_width(output, n_out)])
                acts = np.array([1] * len(hidden) + [0], np.int32)
                P = int(sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:])))
                th = (0.1 * rng.standard_normal(P)).astype(dt)
                mask = mm.flat_mask(sizes, order, deg, output, n_out, dt)
                N = 301
                if output == "bernoulli":
                    X = (rng.random((N, D)) < 0.4).astype(dt)
                elif output == "categorical":
                    X = rng.integers(0, n_out, (N, D)).astype(dt)
                else:
                    X = rng.standard_normal((N, D)).astype(dt)
                out.append(_core.autoregressive.made_logprob(th * mask, sizes, acts, 0.1, X, code, n_out))
                m, v = np.zeros_like(th), np.zeros_like(th)
                for t in (1, 2):
                    out.append(_core.autoregressive.made_step(th, m, v, sizes, acts, 0.1, mask, X, code, n_out, t, 0, hp))
                out += [th, m, v]
                Z = rng.standard_normal((N, sizes[-1])).astype(dt)
                if code == 1:
                    out += list(_core.autoregressive.categorical_nll(Z, X, 0.5))
                if code == 2:
                    out += list(_core.autoregressive.gaussian_mixture_nll(Z, X, 0.5))
        np.savez(sys.argv[1], *out)
    """)
    assert_same_on_any_thread_count(script, tmp_path, timeout=300)


# =================================================================================================
# Bad input
# =================================================================================================

def _step_args(rng, output="categorical", n_out=3, D=4):
    md = Made(rng, D, (6,), output, n_out)
    return dict(theta=md.theta.copy(), m=np.zeros_like(md.theta), v=np.zeros_like(md.theta), sizes=md.sz,
                acts=md.ac, slope=SLOPE, mask=md.mask, X=md.data(rng, 5), output=md.code, n_out=n_out, t=1,
                optimizer=0, hp=np.array([1e-3, 0.9, 0.999, 1e-8, 0.0, 0.0]))


def test_step_and_logprob_bad_input_is_named(rng, device):
    """CPU: every argument of made_step and made_logprob. CUDA: a bad category index checked on the
    host and on the device (flag read back), sizes, X's shape, output, mask and a non-finite X of
    gaussian_mixture_nll."""
    if device == "cuda":
        _cuda_bad_input_is_named(rng)
        return
    ok = _step_args(rng)
    _core.autoregressive.made_step(**ok)
    bad_X = ok["X"].copy()
    for value, fragment in [(3.0, "category index"), (-1.0, "category index"), (1.5, "category index"),
                            (np.nan, "category index")]:
        bad_X[2, 1] = value
        with pytest.raises(ValueError, match=named("X") + ".*" + fragment):
            _core.autoregressive.made_step(**dict(ok, X=bad_X.copy()))
        with pytest.raises(ValueError, match=named("X") + r".*\(2, 1\)"):
            _core.autoregressive.made_logprob(ok["theta"], ok["sizes"], ok["acts"], SLOPE, bad_X.copy(), 1, 3)
    cases = [(dict(output=3), "output"), (dict(output=-1), "output"), (dict(n_out=4), "sizes"),
             (dict(n_out=0), "n_out"), (dict(X=ok["X"][:, :3].copy()), "X"), (dict(X=ok["X"][:0].copy()), "X"),
             (dict(mask=ok["mask"][:-1].copy()), "mask"), (dict(t=0), "t"), (dict(optimizer=5), "optimizer"),
             (dict(acts=np.array([1, 3], np.int32)), "acts"), (dict(m=np.zeros(3)), "m")]
    for kw, name in cases:
        with pytest.raises(ValueError, match=named(name)):
            _core.autoregressive.made_step(**dict(ok, **kw))
    with pytest.raises(TypeError, match=named("mask")):
        _core.autoregressive.made_step(**dict(ok, mask=ok["mask"].astype(np.float32)))
    b = _step_args(rng, "bernoulli", 1)
    with pytest.raises(ValueError, match=named("n_out")):
        _core.autoregressive.made_step(**dict(b, n_out=2))
    bx = b["X"].copy()
    bx[0, 0] = np.inf
    with pytest.raises(ValueError, match=named("X") + ".*finite"):
        _core.autoregressive.made_step(**dict(b, X=bx))
    g = _step_args(rng, "gaussian_mixture", 2)
    with pytest.raises(ValueError, match=named("sizes")):  # 3K outputs per variable expected for K = 3
        _core.autoregressive.made_step(**dict(g, n_out=3))


def _cuda_bad_input_is_named(rng):
    cu = kernels("cuda", "autoregressive")
    md = Made(rng, 3, (4,), "categorical", 3, np.float64)
    X = md.data(rng, 4)
    X[2, 1] = 3.0
    hp = np.array([1e-3, 0.9, 0.999, 1e-8, 0.0, 0.0])
    for data in (X, dev(X)):  # checked on the host, and on the device (flag read back)
        with pytest.raises(ValueError, match=named("X") + r".*category index.*\(2, 1\)"):
            cu.made_logprob(md.masked, md.sz, md.ac, SLOPE, data, 1, 3)
        with pytest.raises(ValueError, match=named("X") + r".*\(2, 1\)"):
            cu.made_step(dev(md.theta), dev(np.zeros_like(md.theta)), dev(np.zeros_like(md.theta)), md.sz, md.ac,
                         SLOPE, md.mask, data, 1, 3, 1, 0, hp)
    good = md.data(rng, 4)
    with pytest.raises(ValueError, match=named("sizes")):
        cu.made_logprob(md.masked, md.sz, md.ac, SLOPE, good, 1, 4)
    with pytest.raises(ValueError, match=named("X")):
        cu.made_logprob(md.masked, md.sz, md.ac, SLOPE, good[:, :2].copy(), 1, 3)
    with pytest.raises(ValueError, match=named("output")):
        cu.made_logprob(md.masked, md.sz, md.ac, SLOPE, good, 5, 3)
    with pytest.raises(ValueError, match=named("mask")):
        cu.made_step(dev(md.theta), dev(np.zeros_like(md.theta)), dev(np.zeros_like(md.theta)), md.sz, md.ac, SLOPE,
                     md.mask[:-1].copy(), good, 1, 3, 1, 0, hp)
    with pytest.raises(ValueError, match=named("X") + ".*finite"):
        cu.gaussian_mixture_nll(np.zeros((1, 6)), np.array([[np.inf, 0.0]]), 1.0)


def test_unpickled_arrays_are_accepted_byte_swapped_refused(rng):
    """dtype checks go by numpy's type equivalence: an unpickled float32 array (its own, equivalent
    descriptor) is float32; a big-endian one is not."""
    import pickle
    md = Made(rng, 3, (4,), "bernoulli", 1, np.float32)
    X = md.data(rng, 4)
    want = _core.autoregressive.made_logprob(md.masked, md.sz, md.ac, SLOPE, X, 0, 1)
    th2, X2 = pickle.loads(pickle.dumps((md.masked, X)))
    assert_array_equal(_core.autoregressive.made_logprob(th2, md.sz, md.ac, SLOPE, X2, 0, 1), want)
    with pytest.raises(TypeError, match=named("X")):
        _core.autoregressive.made_logprob(md.masked, md.sz, md.ac, SLOPE, X.astype(">f4"), 0, 1)


def test_losses_bad_input_is_named():
    with pytest.raises(ValueError, match=named("Z")):
        _core.autoregressive.categorical_nll(np.zeros((2, 7)), np.zeros((2, 2)), 1.0)
    with pytest.raises(ValueError, match=named("X")):
        _core.autoregressive.categorical_nll(np.zeros((2, 6)), np.zeros((3, 2)), 1.0)
    with pytest.raises(ValueError, match=named("X") + ".*category index"):
        _core.autoregressive.categorical_nll(np.zeros((2, 6)), np.full((2, 2), 3.0), 1.0)
    with pytest.raises(ValueError, match=named("Z")):
        _core.autoregressive.gaussian_mixture_nll(np.zeros((2, 8)), np.zeros((2, 2)), 1.0)
    with pytest.raises(ValueError, match=named("X") + ".*finite"):
        _core.autoregressive.gaussian_mixture_nll(np.zeros((1, 6)), np.array([[np.nan, 0.0]]), 1.0)
    with pytest.raises(ValueError, match=named("scale")):
        _core.autoregressive.gaussian_mixture_nll(np.zeros((1, 6)), np.zeros((1, 2)), np.inf)
    with pytest.raises(TypeError, match=named("X")):
        _core.autoregressive.categorical_nll(np.zeros((2, 6)), np.zeros((2, 2), np.float32), 1.0)


# =================================================================================================
# CUDA alone: device-resident data, the estimator on CUDA
# =================================================================================================

@cuda_only
def test_step_with_sgd_and_device_data(rng):
    """SGD-momentum, data already on the device, masked weights untouched."""
    md = Made(rng, 3, (4,), "categorical", 11, np.float64)
    X = md.data(rng, 4)
    hp = np.array([0.1, 0.9, 0.99, 1e-8, 0.0, 0.5])
    th, m = dev(md.theta), dev(np.zeros_like(md.theta))
    kernels("cuda", "autoregressive").made_step(th, m, dev(np.zeros(0)), md.sz, md.ac, SLOPE, dev(md.mask), dev(X), 1,
                                                11, 1, 1, hp)
    thc, mc = md.theta.copy(), np.zeros_like(md.theta)
    _core.autoregressive.made_step(thc, mc, np.zeros(0), md.sz, md.ac, SLOPE, md.mask, X, 1, 11, 1, 1, hp)
    assert_sum_close(host(th), thc, np.abs(md.theta) + 1, 1e-10)
    off = md.mask == 0
    assert (host(th)[off] == md.theta[off]).all()


@cuda_only
def test_estimator_on_cuda_matches_cpu(rng):
    """MADE(device="cuda"): the same fit (weights, loss curve) and scores as on the CPU, float64."""
    from fastgen.autoregressive import MADE
    X = rng.integers(0, 3, (12, 3))
    kw = dict(hidden_layer_sizes=(4,), output="categorical", n_categories=3, n_masks=2, ordering="random",
              max_epochs=1, batch_size=6, random_state=0, dtype=np.float64)
    gpu = MADE(device="cuda", **kw).fit(X)
    cpu = MADE(device="cpu", **kw).fit(X)
    assert_sum_close(gpu.network_.theta, cpu.network_.theta, np.abs(cpu.network_.theta) + 1, 1e-10)
    assert_allclose(gpu.loss_curve_, cpu.loss_curve_, rtol=1e-10)
    assert_allclose(gpu.score_samples(X[:4]), cpu.score_samples(X[:4]), rtol=1e-10)
