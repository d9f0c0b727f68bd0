"""mlp_penalty_backward (the WGAN-GP gradient penalty and its gradient in the critic's parameters,
csrc/KERNELS.md "Neural networks") on both backends.

- the NumPy oracle (tests/reference/nn.py) against central finite differences of the loss in
  theta (float64), for every activation in every position (relu/leaky inputs kept away from the
  kinks), and against torch.autograd's double backward (create_graph=True);
- both kernels against the oracle (one test, fixed nets and one-activation nets of random slope):
  float64 to 1e-10, float32 to 1e-5 (its gradient to 1e-4, see GP_RTOL), odd sizes, N = 1,
  g = 0 (no NaN), bad input named; the C++ kernel also on deep and wide networks, 1 and 2 threads
  bit-identical;
- the CUDA kernel (Numba; the simulator in CI) also against the C++ kernel; tiny sizes.

A test taking `device` runs on the CPU (fastgen._core.nn) and, when Numba can launch kernels, on
CUDA (fastgen._cuda.nn; marked `cuda`): tests/devices.py.

Tolerances: the gradient is a sum of many products of both signs, so float32 errors are measured
against the largest entry of the whole gradient (tol = rtol (|want| + max |want|)); gp_n =
(||g_n|| - 1)^2 against rtol (gp + 2 |n - 1| n) (the error of the norm n, times the slope).
"""
from __future__ import annotations

import textwrap

import numpy as np
import pytest

from conftest import assert_same_on_any_thread_count, assert_sum_close
from devices import CUDA_MARKS, host, kernels
from reference import nn as ref

_core = pytest.importorskip("fastgen._core")
if not hasattr(_core.nn, "mlp_penalty_backward"):
    pytest.skip("fastgen._core has no mlp_penalty_backward", allow_module_level=True)

from nn_cases import random_theta  # noqa: E402 (imports fastgen._core: after the skip)

IDENTITY, RELU, LEAKY, TANH, SIGMOID, SOFTPLUS = range(6)
ACTS = [IDENTITY, RELU, LEAKY, TANH, SIGMOID, SOFTPLUS]
ACT_NAMES = ["identity", "relu", "leaky", "tanh", "sigmoid", "softplus"]
SLOPE = 0.2
RTOL = {np.float64: 1e-10, np.float32: 1e-5}



def cuda_only(test):
    """Marks a test that exercises CUDA alone (CUDA against the CPU)."""
    for mark in CUDA_MARKS:
        test = mark(test)
    return test


def run(device, theta, sizes, acts, slope, X, A, weight):
    """(gp, grad) as host arrays from the device's kernel."""
    gp, grad = kernels(device, "nn").mlp_penalty_backward(theta, sizes, acts, slope, X, A, weight)
    return host(gp), host(grad)


def network(rng, sizes, acts, N, *, away_from_kinks=False):
    """(theta, sizes int64, acts int32, X) float64; with away_from_kinks, redrawn until every relu /
    leaky pre-activation is at least 0.05 from 0 (finite differences must not cross a kink) and
    some row has a nonzero input gradient."""
    sizes = np.asarray(sizes, np.int64)
    acts = np.asarray(acts, np.int32)
    for _ in range(1000):
        theta = rng.normal(scale=0.8, size=ref.n_params(sizes))
        X = rng.normal(size=(N, int(sizes[0])))
        if not away_from_kinks or (_min_kink_distance(theta, sizes, acts, X) > 0.05
                                   and _some_input_gradient(theta, sizes, acts, X)):
            return theta, sizes, acts, X
    raise AssertionError("could not draw a network away from the kinks")


def _some_input_gradient(theta, sizes, acts, X):
    """Not every row's output is a dead relu (the derivative would be 0 throughout)."""
    A = ref.mlp_forward(theta, sizes, acts, SLOPE, X)
    return np.abs(ref.input_gradients(theta, sizes, acts, SLOPE, X, A)).max() > 0.1


def _min_kink_distance(theta, sizes, acts, X):
    a, dist = X, np.inf
    for (W, b), code in zip(ref.unpack(theta, sizes), acts):
        z = a @ W + b
        if code in (RELU, LEAKY):
            dist = min(dist, np.abs(z).min())
        a = ref.activate(int(code), z, SLOPE)
    return dist


def loss_of(theta, sizes, acts, X, weight):
    A = ref.mlp_forward(theta, sizes, acts, SLOPE, X)
    return ref.gradient_penalty(theta, sizes, acts, SLOPE, X, A, weight)[1]


def oracle(theta, sizes, acts, X, weight):
    A = ref.mlp_forward(theta, sizes, acts, SLOPE, X)
    return ref.mlp_penalty_backward(theta, sizes, acts, SLOPE, X, A, weight)


def assert_penalty_close(gp, grad, theta, sizes, acts, X, A, weight, rtol, *, grad_rtol=None, slope=SLOPE):
    """(gp, grad) against the oracle on exactly the inputs the kernel saw (theta, X and A as given,
    widened): derivatives are taken from A, and in float32 1 - a^2 of a saturated tanh (and the
    like) is only as good as the rounded a, which is the contract's, not the kernel's, error.
    grad_rtol: the gradient's rtol where it differs from gp's."""
    theta, X, A = (np.asarray(v, np.float64) for v in (theta, X, A))
    want_gp, want_grad = ref.mlp_penalty_backward(theta, sizes, acts, slope, X, A, weight)
    n = np.sqrt((ref.input_gradients(theta, sizes, acts, slope, X, A) ** 2).sum(axis=1))
    assert np.isfinite(gp).all() and np.isfinite(grad).all()
    assert_sum_close(gp, want_gp, n, rtol, slope=2 * np.abs(n - 1))
    assert_sum_close(grad, want_grad, np.full(want_grad.shape, grad_scale(theta, sizes, acts, X, A, weight, slope)),
                     rtol if grad_rtol is None else grad_rtol)


def grad_scale(theta, sizes, acts, X, A, weight, slope=SLOPE):
    """The magnitude the gradient's rounding errors scale with. Row r contributes
    (2 weight / N)(n_r - 1) dn_r/dtheta, and n_r - 1 is itself a sum of terms of size n_r + 1 that
    cancels where n_r ~ 1; so the scale is max over entries of (1 / N) sum_r (n_r + 1) |2 weight
    dn_r/dtheta|, from the oracle's single-row gradients 2 weight (n_r - 1) dn_r/dtheta."""
    N = X.shape[0]
    blocks = ref.split_activations(A, N, sizes)
    total = np.zeros_like(theta)
    for r in range(N):
        A_r = np.concatenate([b[r] for b in blocks])
        _, grad_r = ref.mlp_penalty_backward(theta, sizes, acts, slope, X[r:r + 1], A_r, weight)
        g = ref.input_gradients(theta, sizes, acts, slope, X[r:r + 1], A_r)
        n = float(np.sqrt((g * g).sum()))
        total += (n + 1) / max(abs(n - 1), 1e-300) * np.abs(grad_r)
    return (total / N).max()


def cast(dtype, theta, X, sizes, acts):
    A = ref.mlp_forward(theta, sizes, acts, SLOPE, X).astype(dtype)
    return theta.astype(dtype), X.astype(dtype), A


# =================================================================================================
# The oracle: finite differences and torch
# =================================================================================================

# Every activation as a hidden layer (under a tanh layer, so act'' of both is exercised) and as
# the output layer.
FD_NETS = ([([3, 4, 5, 1], [code, TANH, IDENTITY]) for code in ACTS]
           + [([4, 5, 1], [SOFTPLUS, code]) for code in ACTS] + [([2, 1], [TANH])])


@pytest.mark.parametrize("sizes,acts", FD_NETS)
def test_oracle_matches_finite_differences(rng, sizes, acts):
    theta, sizes, acts, X = network(rng, sizes, acts, 6, away_from_kinks=True)  # kinks, dead outputs
    weight = 7.5
    _, grad = oracle(theta, sizes, acts, X, weight)
    h = 1e-5
    fd = np.empty_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = h
        fd[i] = (loss_of(theta + e, sizes, acts, X, weight) - loss_of(theta - e, sizes, acts, X, weight)) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-7 * np.abs(fd).max())
    assert np.abs(grad).max() > 1e-3  # not a vacuous comparison


@pytest.mark.slow
def test_oracle_and_kernel_match_torch_double_backward(rng):
    torch = pytest.importorskip("torch")
    sizes, acts = [5, 7, 6, 4, 1], [LEAKY, TANH, SOFTPLUS, SIGMOID]
    theta, sizes, acts, X = network(rng, sizes, acts, 9)
    weight = 10.0
    t = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    x = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    h, p = x, 0
    fns = {LEAKY: lambda z: torch.nn.functional.leaky_relu(z, SLOPE), TANH: torch.tanh,
           SIGMOID: torch.sigmoid, SOFTPLUS: torch.nn.functional.softplus}
    for i, o, code in zip(sizes[:-1], sizes[1:], acts):
        i, o = int(i), int(o)
        W = t[p:p + i * o].reshape(i, o)
        b = t[p + i * o:p + i * o + o]
        p += i * o + o
        h = fns[int(code)](h @ W + b)
    (g,) = torch.autograd.grad(h.sum(), x, create_graph=True)
    gp_t = (g.norm(dim=1) - 1) ** 2
    (weight * gp_t.mean()).backward()
    want_gp, want_grad = gp_t.detach().numpy(), t.grad.numpy()

    gp_o, grad_o = oracle(theta, sizes, acts, X, weight)
    np.testing.assert_allclose(gp_o, want_gp, rtol=1e-12)
    np.testing.assert_allclose(grad_o, want_grad, rtol=1e-10, atol=1e-12 * np.abs(want_grad).max())
    A = ref.mlp_forward(theta, sizes, acts, SLOPE, X)
    gp_k, grad_k = _core.nn.mlp_penalty_backward(theta, sizes, acts, SLOPE, X, A, weight)
    np.testing.assert_allclose(gp_k, want_gp, rtol=1e-10)
    np.testing.assert_allclose(grad_k, want_grad, rtol=1e-10, atol=1e-12 * np.abs(want_grad).max())


# =================================================================================================
# Kernels against the oracle
# =================================================================================================

# (sizes, acts): size-1 layers, odd widths, every activation in hidden and output positions, a
# net with act'' only in its lowest layer (the second sweep from below a linear top), and one
# with no act'' at all (no second sweep, zero bias gradients).
NETS = [
    ([1, 1], [IDENTITY]),
    ([3, 1], [TANH]),
    ([5, 1, 1], [SIGMOID, SOFTPLUS]),
    ([4, 7, 3, 1], [TANH, RELU, IDENTITY]),
    ([6, 5, 1], [SOFTPLUS, SIGMOID]),
    ([3, 9, 1], [LEAKY, IDENTITY]),
    ([2, 3, 4, 5, 1], [SIGMOID, LEAKY, RELU, IDENTITY]),
    ([7, 4, 4, 1], [RELU, LEAKY, TANH]),
]
# (N, sizes) of the one-activation nets: size-1 layers, odd widths, several GEMM tiles and rows.
ONE_ACT_SHAPES = [(1, [1, 1]), (5, [3, 7, 1]), (17, [33, 17, 5, 1]), (40, [7, 129, 1])]
ONE_ACT_CUDA_SHAPES = ONE_ACT_SHAPES[:2]  # tiny: the simulator runs every CUDA thread in Python


def _case(device, net, sizes, acts, N):
    marks = CUDA_MARKS if device == "cuda" else ()
    return pytest.param(device, net, sizes, acts, N, marks=marks,
                        id=f"{device}-{net}-{'x'.join(map(str, sizes))}-{'.'.join(ACT_NAMES[a] for a in acts)}-N{N}")


# Two kinds of input, on both backends:
# - "nets": the fixed NETS, N = 1 and 6; theta ~ N(0, 0.8^2), the fixed SLOPE, A = the oracle's
#   forward pass rounded to the dtype;
# - "one-act": one activation (acts[0]) in every hidden layer and the identity or that activation
#   (drawn) at the output; weights of scale 2 (random_theta), a random slope in [0.01, 0.5], A from
#   the device's own mlp_forward. Every ONE_ACT_SHAPES on the CPU, the tiny ones on CUDA.
PENALTY_CASES = ([_case(device, "nets", sizes, acts, N) for device in ("cpu", "cuda") for sizes, acts in NETS
                  for N in (1, 6)]
                 + [_case("cpu", "one-act", sizes, [act], N) for act in ACTS for N, sizes in ONE_ACT_SHAPES]
                 + [_case("cuda", "one-act", sizes, [act], N) for act in ACTS for N, sizes in ONE_ACT_CUDA_SHAPES])

# Tolerances (assert_penalty_close's model: gp against rtol (gp + 2 |n - 1| n), the gradient
# against rtol (|want| + grad_scale)), the strictest that pass on both backends. Largest errors
# measured in units of these bounds (CPU: 300 seeds of the "nets" cases, 150 of the "one-act"
# ones; CUDA under the simulator: 15 of each): float64 gp 2e-15, gradient 4e-14; float32 gp
# 7e-7, gradient 7e-5. So:
# - float64: 1e-10 for both, the suite's float64 rtol;
# - float32: gp 1e-5; the gradient 1e-4. At 1e-5, 9 of 4,800 random draws of the "nets" cases
#   (300 seeds x these nets x N) failed, by up to 6e-5, on the OpenMP kernels as on the pool's
#   (CUDA: up to 7e-5 in its 15 seeds), and "one-act" draws by up to 3.5e-5 (the rounding of
#   these small double backward passes is not bounded by grad_scale's first-order model); none
#   failed at 1e-4.
# Entry by entry these bounds are at least as strict as the looser model the "one-act" inputs were
# checked with before (gp: rtol (|gp| + 2 L (|n - 1| + 1) |g|); gradient: 10 rtol (|want| + L
# weight (1 + max |grad| / weight) (1 + max |g|)^2); rtol 1e-10 / 1e-5): at most 0.95 of its gp
# and 0.997 of its gradient bounds on the CPU's draws.
GP_RTOL = {np.float64: 1e-10, np.float32: 1e-5}
GRAD_RTOL = {np.float64: 1e-10, np.float32: 1e-4}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("device, net, sizes, acts, N", PENALTY_CASES)
def test_kernel_matches_oracle(rng, device, net, sizes, acts, N, dtype):
    weight = float(rng.uniform(0.5, 10))
    if net == "nets":
        theta, sizes, acts, X = network(rng, sizes, acts, N)
        slope = SLOPE
        theta, X, A = cast(dtype, theta, X, sizes, acts)
    else:
        L = len(sizes) - 1
        sizes = np.asarray(sizes, np.int64)
        acts = np.array([acts[0]] * (L - 1) + [int(rng.choice([IDENTITY, acts[0]]))], np.int32)
        slope = float(rng.uniform(0.01, 0.5))
        theta = random_theta(rng, sizes, dtype, scale=2.0)
        X = rng.standard_normal((N, int(sizes[0]))).astype(dtype)
        A = host(kernels(device, "nn").mlp_forward(theta, sizes, acts, slope, X))
    gp, grad = run(device, theta, sizes, acts, slope, X, A, weight)
    assert gp.dtype == dtype and grad.dtype == dtype
    assert gp.shape == (N,) and grad.shape == theta.shape
    assert_penalty_close(gp, grad, theta, sizes, acts, X, A, weight, GP_RTOL[dtype], grad_rtol=GRAD_RTOL[dtype],
                         slope=slope)
    if not any(int(c) in (TANH, SIGMOID, SOFTPLUS) for c in acts):  # piecewise linear: b cannot matter
        for _, b in ref.unpack(np.arange(theta.size, dtype=np.float64), sizes):
            assert np.all(grad[b.astype(np.int64)] == 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernel_matches_oracle_wide_and_deep(rng, dtype):
    """Shapes spanning several GEMM register tiles and row tiles, narrow column tails."""
    sizes, acts = [37, 67, 1, 29, 1], [TANH, SOFTPLUS, LEAKY, SIGMOID]
    theta, sizes, acts, X = network(rng, sizes, acts, 131)
    th, Xt, A = cast(dtype, theta, X, sizes, acts)
    gp, grad = _core.nn.mlp_penalty_backward(th, sizes, acts, SLOPE, Xt, A, 3.0)
    assert_penalty_close(gp, grad, th, sizes, acts, Xt, A, 3.0, RTOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_zero_input_gradient_gives_no_nan(rng, device, dtype):
    """||g|| = 0 (first layer's weights 0, or a dead relu output): gp = 1, derivative 0 there."""
    sizes, acts = np.array([3, 4, 1], np.int64), np.array([TANH, IDENTITY], np.int32)
    theta = rng.normal(size=ref.n_params(sizes))
    theta[:12] = 0.0  # W_1 = 0: g = delta_1 W_1^T = 0 for every row
    X = rng.normal(size=(5, 3))
    th, Xt, A = cast(dtype, theta, X, sizes, acts)
    gp, grad = run(device, th, sizes, acts, SLOPE, Xt, A, 10.0)
    np.testing.assert_array_equal(gp, np.ones(5, dtype))
    np.testing.assert_array_equal(grad, np.zeros_like(grad))

    # dead relu output on some rows only: those rows contribute nothing, the others as usual
    acts2 = np.array([TANH, RELU], np.int32)
    theta2 = rng.normal(size=ref.n_params(sizes))
    X2 = rng.normal(size=(8, 3))
    th2, X2t, A2 = cast(dtype, theta2, X2, sizes, acts2)
    gp2, grad2 = run(device, th2, sizes, acts2, SLOPE, X2t, A2, 10.0)
    dead = A2[-8:] == 0
    assert np.all(gp2[dead] == 1)
    assert_penalty_close(gp2, grad2, th2, sizes, acts2, X2t, A2, 10.0, RTOL[dtype])

    # a fixed net with W_1 = 0 (no path from the input) and the device's own forward activations
    sizes3, acts3 = np.array([3, 4, 1], np.int64), np.array([TANH, IDENTITY], np.int32)
    theta3 = np.r_[np.zeros(12), np.ones(4), np.ones(4), 0.5].astype(dtype)
    X3 = np.ones((2, 3), dtype)
    nn = kernels(device, "nn")
    A3 = host(nn.mlp_forward(theta3, sizes3, acts3, 0.1, X3))
    gp3, grad3 = run(device, theta3, sizes3, acts3, 0.1, X3, A3, 2.0)
    np.testing.assert_array_equal(gp3, [1.0, 1.0])
    np.testing.assert_array_equal(grad3, np.zeros_like(theta3))


@cuda_only
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cuda_matches_cpu(rng, dtype):
    sizes, acts = [5, 6, 3, 1], [SOFTPLUS, LEAKY, TANH]
    theta, sizes, acts, X = network(rng, sizes, acts, 7)
    th, Xt, A = cast(dtype, theta, X, sizes, acts)
    gp_c, grad_c = _core.nn.mlp_penalty_backward(th, sizes, acts, SLOPE, Xt, A, 4.0)
    gp_g, grad_g = run("cuda", th, sizes, acts, SLOPE, Xt, A, 4.0)
    # the two backends round differently (products: the same k-ordered fma chains; elementwise
    # code: fused or not as each compiler chooses), so: float64 1e-12, float32 as against the oracle
    rtol = 1e-12 if dtype == np.float64 else RTOL[dtype]
    args = [np.asarray(v, np.float64) for v in (th, Xt, A)]
    n = np.sqrt((ref.input_gradients(args[0], sizes, acts, SLOPE, args[1], args[2]) ** 2).sum(axis=1))
    assert_sum_close(gp_g, gp_c, n, rtol, slope=2 * np.abs(n - 1))
    scale = grad_scale(args[0], sizes, acts, args[1], args[2], 4.0)
    assert_sum_close(grad_g, grad_c, np.full(grad_c.shape, scale), rtol)


def test_same_on_1_and_2_threads(rng, tmp_path):
    """Shapes large enough for the threaded products and row passes. The inputs are made here:
    numpy's own matrix products (the oracle's forward pass) may differ between thread counts."""
    inputs = {}
    for dtype in ("float32", "float64"):
        sizes = np.array([64, 256, 96, 1], np.int64)
        acts = np.array([TANH, SOFTPLUS, IDENTITY], np.int32)
        theta, sizes, acts, X = network(rng, sizes, acts, 700)
        theta *= 0.25
        A = ref.mlp_forward(theta, sizes, acts, SLOPE, X)
        inputs.update({f"{dtype}_{k}": v.astype(dtype) for k, v in (("theta", theta), ("X", X), ("A", A))})
        inputs.update(sizes=sizes, acts=acts)
    np.savez(tmp_path / "inputs.npz", **inputs)
    script = textwrap.dedent("""
        import sys
        import numpy as np
        from fastgen import _core
        a = np.load(%r)
        out = []
        for dt in ("float32", "float64"):
            out += list(_core.nn.mlp_penalty_backward(a[dt + "_theta"], a["sizes"], a["acts"], 0.2, a[dt + "_X"],
                                                   a[dt + "_A"], 10.0))
        np.savez(sys.argv[1], *out)
    """) % str(tmp_path / "inputs.npz")
    assert_same_on_any_thread_count(script, tmp_path, timeout=300)


# =================================================================================================
# Bad input
# =================================================================================================

def _args(dtype=np.float64, N=3):
    sizes = np.array([2, 3, 1], np.int64)
    acts = np.array([TANH, IDENTITY], np.int32)
    theta = np.zeros(ref.n_params(sizes), dtype)
    X = np.zeros((N, 2), dtype)
    A = np.zeros(N * 4, dtype)
    return theta, sizes, acts, X, A


def test_bad_input_is_named(device):
    f = kernels(device, "nn").mlp_penalty_backward
    theta, sizes, acts, X, A = _args()
    with pytest.raises(ValueError, match=r"sizes: the gradient penalty needs a scalar output"):
        f(np.zeros(ref.n_params([2, 3, 2])), np.array([2, 3, 2], np.int64), acts, SLOPE, X, np.zeros(15), 1.0)
    with pytest.raises(ValueError, match="sizes"):
        f(theta, np.array([2, 0, 1], np.int64), acts, SLOPE, X, A, 1.0)
    with pytest.raises(ValueError, match="sizes"):
        f(theta, np.array([1], np.int64), acts[:0], SLOPE, X, A, 1.0)
    with pytest.raises(ValueError, match="acts"):
        f(theta, sizes, np.array([TANH, 6], np.int32), SLOPE, X, A, 1.0)
    with pytest.raises(ValueError, match="acts"):
        f(theta, sizes, np.array([TANH], np.int32), SLOPE, X, A, 1.0)
    with pytest.raises(TypeError, match="acts"):
        f(theta, sizes, acts.astype(np.int64), SLOPE, X, A, 1.0)
    with pytest.raises(TypeError, match="sizes"):
        f(theta, sizes.astype(np.int32), acts, SLOPE, X, A, 1.0)
    with pytest.raises(ValueError, match="slope"):
        f(theta, sizes, np.array([LEAKY, IDENTITY], np.int32), 1.5, X, A, 1.0)
    with pytest.raises(ValueError, match="theta"):
        f(theta[:-1], sizes, acts, SLOPE, X, A, 1.0)
    with pytest.raises(ValueError, match="X"):
        f(theta, sizes, acts, SLOPE, np.zeros((3, 3)), A, 1.0)
    with pytest.raises(ValueError, match="X: need at least one row"):
        f(theta, sizes, acts, SLOPE, np.zeros((0, 2)), np.zeros(0), 1.0)
    with pytest.raises(ValueError, match="A"):
        f(theta, sizes, acts, SLOPE, X, A[:-1], 1.0)
    with pytest.raises(TypeError, match="X"):
        f(theta, sizes, acts, SLOPE, X.astype(np.float32), A, 1.0)
    with pytest.raises(TypeError, match="A"):
        f(theta, sizes, acts, SLOPE, X, A.astype(np.float32), 1.0)
    with pytest.raises(TypeError, match="theta"):
        f(theta.astype(np.int64), sizes, acts, SLOPE, X, A, 1.0)
    with pytest.raises(ValueError, match="weight"):
        f(theta, sizes, acts, SLOPE, X, A, float("nan"))
    # d_L must be 1, here with the activations of a [3, 4, 2] net
    sizes2 = np.array([3, 4, 2], np.int64)
    with pytest.raises(ValueError, match=r"(?<![A-Za-z_])sizes(?![A-Za-z])"):
        f(np.zeros(ref.n_params(sizes2)), sizes2, np.array([RELU, IDENTITY], np.int32), 0.1, np.zeros((5, 3)),
          np.zeros(5 * 6), 1.0)
