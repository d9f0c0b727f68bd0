"""MADE incremental sampler on both backends (csrc/autoregressive/made_sample.hpp, binding
made_sample; its Numba CUDA twin fastgen._cuda.autoregressive.made_sample) against the naive NumPy oracle
(tests/reference/made_sample.py: D full forward passes of the masked network, the same uniforms and
normals), CUDA against the CPU.

A test taking `device` runs on the CPU and, when Numba can launch kernels (the simulator under
NUMBA_ENABLE_CUDASIM=1, 8 threads per sample there, or a lent GPU), on CUDA (marked `cuda`). CUDA
cases keep tiny networks and a few samples: the simulator is slow.

Tolerances and rules:
- float64: the kernel's samples equal the oracle's (Bernoulli, categorical: exactly; Gaussian
  mixture: values to rtol 1e-9, libm vs NumPy log/cos in the normals and exp of the log-std). The
  kernel's sums run in another order than the oracle's matrix products, so a draw could flip where u
  (or top_p) lies within rounding of its boundary: a sample whose oracle margins reach below 1e-9
  is excused (and counted: at most one per test).
- float32: the network runs in float32 in the kernel and in float64 in the oracle, so the logits
  differ by ~1e-6 relative. Checked by teacher forcing: every decision of the kernel's samples is
  redrawn by the oracle from the kernel's own earlier variables; decisions whose oracle margin
  exceeds 1e-4 must agree (at least 95% of all have such a margin), mixture values to 1e-4 relative
  to their size.
- CUDA: float64 samples equal the CPU's (Bernoulli, categorical exactly; mixture values to rtol
  1e-9); the CUDA kernel sums its dot products in float64 and in another order, so a sample may
  differ only where the oracle's margin is below 1e-9. float32: decisions checked by teacher
  forcing against the oracle (the margin rule above).
"""
from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from conftest import assert_same_on_any_thread_count
from devices import CUDA_MARKS, host, kernels
from fastgen.autoregressive._made_masks import flat_mask, input_width, make_hidden_degrees, make_order, output_width
from reference import decoding as ref_dec
from reference import made_sample as ref
from reference import nn as ref_nn

_core = pytest.importorskip("fastgen._core")

NAMES = {0: "bernoulli", 1: "categorical", 2: "gaussian_mixture"}
SLOPE = 0.1


def random_made(rng, output, n_out, D, hidden, ordering="random", dtype=np.float64, masked=True, scale=None):
    """Kernel arguments of a random MADE: dict(theta, sizes, acts, slope, order, hidden_degrees,
    output, n_out). Hidden activations drawn from all six codes; the output layer is the identity."""
    name = NAMES[output]
    order = make_order(D, ordering, rng)
    degrees = make_hidden_degrees(D, hidden, rng)
    sizes = np.array([D * input_width(name, n_out)] + list(hidden) + [D * output_width(name, n_out)], dtype=np.int64)
    acts = np.append(rng.integers(0, 6, size=len(hidden)), 0).astype(np.int32)
    if scale is None:
        scale = 0.15 if output == 2 else 0.8  # mixture samples feed back into the net: keep it tame
    theta = rng.standard_normal(ref_nn.n_params(sizes)) * scale
    if masked:
        theta = theta * flat_mask(sizes, order, degrees, name, n_out)
    hd = np.concatenate(degrees).astype(np.int64) if degrees else np.zeros(0, dtype=np.int64)
    return dict(theta=theta.astype(dtype), sizes=sizes, acts=acts, slope=SLOPE, order=order, hidden_degrees=hd,
                output=output, n_out=n_out)


def cases(cpu, cuda):
    """Parameter sets: each tuple of `cpu` on the CPU, each of `cuda` on CUDA."""
    return ([pytest.param("cpu", *v) for v in cpu]
            + [pytest.param("cuda", *v, marks=CUDA_MARKS) for v in cuda])


def kernel(m, n_samples, temperature=1.0, top_k=0, top_p=1.0, seed=0, stream=0, device="cpu"):
    """The samples of `device`'s kernel, on the host."""
    return host(kernels(device, "autoregressive").made_sample(
        m["theta"], m["sizes"], m["acts"], m["slope"], m["order"], m["hidden_degrees"], m["output"], m["n_out"],
        n_samples, temperature, top_k, top_p, seed, stream))


def oracle_args(m):
    return (m["theta"], m["sizes"], m["acts"], m["slope"], m["order"], m["hidden_degrees"], m["output"], m["n_out"])


def assert_matches_naive(m, n_samples, temperature, top_k, top_p, seed, stream):
    """float64: the kernel's samples are the naive oracle's; returns the number of excused samples."""
    got = kernel(m, n_samples, temperature, top_k, top_p, seed, stream)
    assert got.shape == (n_samples, m["order"].size) and got.dtype == m["theta"].dtype
    want, margins = ref.naive_sample(*oracle_args(m), n_samples, temperature, top_k, top_p, seed, stream)
    if m["output"] == 2:
        same = np.isclose(got, want, rtol=1e-9, atol=1e-12).all(axis=1)
    else:
        same = (got == want).all(axis=1)
    excused = ~same & (margins.min(axis=1) < 1e-9)
    assert (same | excused).all(), f"samples {np.flatnonzero(~same & ~excused)} differ:\n{got[~same]}\n{want[~same]}"
    return int(excused.sum())


# (output, n_out): Bernoulli, categorical with V = 1, 2, 5, mixtures with K = 1, 3
OUTPUTS = [(0, 1), (1, 1), (1, 2), (1, 5), (2, 1), (2, 3)]
# hidden layer widths: none, one, two (odd widths, a width-1 layer)
HIDDEN = [(), (7,), (9, 5), (1, 4)]


@pytest.mark.parametrize("device, output, n_out, hidden, D, n, filt", cases(
    [(output, n_out, hidden, None, None, None) for hidden in HIDDEN for output, n_out in OUTPUTS],
    [(0, 1, (6,), 5, 3, (1.0, 0, 1.0)), (0, 1, (5, 3), 4, 2, (0.8, 0, 0.7)), (0, 1, (2,), 1, 2, (1.0, 0, 1.0)),
     (1, 3, (4, 3), 3, 2, (0.9, 2, 0.9)), (2, 2, (), 3, 2, (1.0, 0, 1.0))]))
def test_incremental_equals_naive_float64(rng, device, output, n_out, hidden, D, n, filt):
    """CPU: four (D, ordering) per network, two filters, a random number of samples, against the
    oracle. CUDA: one tiny network and filter (D, n samples, filt), against the CPU; a sample that
    differs must be within rounding of a boundary (oracle margin below 1e-9)."""
    if device == "cuda":
        m = random_made(rng, output, n_out, D, hidden, "random")
        seed = int(rng.integers(2**63))
        got = kernel(m, n, *filt, seed=seed, stream=9, device="cuda")
        cpu = kernel(m, n, *filt, seed=seed, stream=9)
        same = np.isclose(got, cpu, rtol=1e-9, atol=1e-12).all(axis=1) if output == 2 else (got == cpu).all(axis=1)
        if not same.all():
            _, margins = ref.naive_sample(*oracle_args(m), n, *filt, seed, 9)
            assert (margins[~same].min(axis=1) < 1e-9).all(), f"cuda\n{got}\ncpu\n{cpu}"
        return
    excused = 0
    for D, ordering in [(1, "natural"), (2, "random"), (6, "natural"), (7, "random")]:
        m = random_made(rng, output, n_out, D, hidden, ordering)
        for temperature, top_k, top_p in [(1.0, 0, 1.0), (0.7, 2, 0.85)]:
            excused += assert_matches_naive(m, int(rng.integers(1, 23)), temperature, top_k, top_p,
                                            seed=int(rng.integers(2**63)), stream=int(rng.integers(2**64, dtype=np.uint64)))
    assert excused <= 1


@pytest.mark.parametrize("device, output, n_out, D, hidden, n, filters, stream", cases(
    [(output, n_out, 9, (11, 6), 40, [(1.0, 0, 1.0), (1.3, 3, 0.9)], 5) for output, n_out in [(0, 1), (1, 4), (2, 2)]],
    [(1, 2, 4, (5,), 3, [(1.0, 0, 1.0)], 1)]))
def test_float32_decisions_match_the_oracle(rng, device, output, n_out, D, hidden, n, filters, stream):
    """Teacher forcing; on the CPU (40 samples) at least 95% of the decisions must have a clear margin."""
    m = random_made(rng, output, n_out, D, hidden, "random", dtype=np.float32)
    seed = int(rng.integers(2**63))
    for temperature, top_k, top_p in filters:
        X = kernel(m, n, temperature, top_k, top_p, seed, stream, device=device)
        assert X.dtype == np.float32
        values, margins = ref.teacher_forced(X, *oracle_args(m), temperature, top_k, top_p, seed, stream)
        clear = margins > 1e-4
        if device == "cpu":
            assert clear.mean() > 0.95
        if output == 2:
            assert_allclose(X[clear], values[clear], rtol=1e-4, atol=1e-4)
        else:
            assert_array_equal(X[clear], values[clear])


def test_unmasked_theta_gives_the_masked_samples(rng):
    """Only weights the degrees allow are read: theta with its masked entries filled in samples alike."""
    for output, n_out in [(0, 1), (1, 3), (2, 2)]:
        m = random_made(rng, output, n_out, 6, (8, 7), "random", masked=False)
        masked = dict(m, theta=ref.masked_theta(m["theta"], m["sizes"], m["order"], m["hidden_degrees"], output, n_out))
        assert_array_equal(kernel(m, 17, seed=3), kernel(masked, 17, seed=3))


def test_bernoulli_moments_match_exact_marginals():
    """Sample means and the joint histogram of a D = 5 Bernoulli MADE against its exact distribution
    (all 2^5 configurations enumerated through the network's conditionals)."""
    rng = np.random.default_rng(5301)  # statistical assertions: a fixed seed
    m = random_made(rng, 0, 1, 5, (9,), "random", scale=1.0)
    n = 20000
    X = kernel(m, n, seed=int(rng.integers(2**63)))
    configs, prob = ref.bernoulli_joint(*oracle_args(m)[:6])
    assert_allclose(prob.sum(), 1.0, rtol=1e-12)
    marg = prob @ configs
    assert (np.abs(X.mean(axis=0) - marg) < 5 * np.sqrt(marg * (1 - marg) / n) + 1e-9).all()
    codes = (X.astype(np.int64) << np.arange(5)).sum(axis=1)
    assert ref_dec.pooled_chisquare_pvalue(np.bincount(codes, minlength=32), n * prob) > 1e-5


def test_same_samples_on_1_and_2_threads(tmp_path):
    script = """
import sys
import numpy as np
sys.path[:0] = %r
from test_made_sample import random_made, kernel
rng = np.random.default_rng(11)
out = {}
for i, (output, n_out, D, hidden, dtype) in enumerate([(0, 1, 60, (70,), np.float32), (1, 4, 20, (40, 30), np.float64),
                                                     (2, 2, 25, (50,), np.float32)]):
    m = random_made(rng, output, n_out, D, hidden, "random", dtype=dtype, scale=0.1 if output == 2 else 0.8)
    out[str(i)] = kernel(m, 77, 0.9, 0, 0.95 if output else 1.0, seed=123, stream=4)
np.savez(sys.argv[1], **out)
""" % [str(__import__("pathlib").Path(__file__).parent), str(__import__("pathlib").Path(__file__).parents[1])]
    assert_same_on_any_thread_count(script, tmp_path)


def test_zero_samples_and_one_variable(rng):
    m = random_made(rng, 1, 3, 4, (5,))
    assert kernel(m, 0).shape == (0, 4)
    m1 = random_made(rng, 0, 1, 1, (3,), "natural")
    x = kernel(m1, 500, seed=2)
    assert set(np.unique(x).tolist()) <= {0.0, 1.0}


# -- bad input ------------------------------------------------------------------------------------

def bad_call(m, device="cpu", **over):
    a = dict(m, n_samples=3, temperature=1.0, top_k=0, top_p=1.0, seed=0, stream=0)
    a.update(over)
    return kernels(device, "autoregressive").made_sample(
        a["theta"], a["sizes"], a["acts"], a["slope"], a["order"], a["hidden_degrees"], a["output"], a["n_out"],
        a["n_samples"], a["temperature"], a["top_k"], a["top_p"], a["seed"], a["stream"])


@pytest.fixture
def made3():
    """A categorical MADE: D = 3, V = 2, hidden (4, 5): 89 parameters."""
    return random_made(np.random.default_rng(0), 1, 2, 3, (4, 5), "natural")


# Refused alike by both backends (with the same message); then those whose message only the CPU's
# binding words this way.
BAD_INPUT = [
    (dict(order=np.array([1, 1, 3])), ValueError, "order: expected a permutation of 1..3"),
    (dict(order=np.array([0, 1, 2])), ValueError, "order: expected a permutation of 1..3"),
    (dict(order=np.array([1, 2, 4])), ValueError, "order: expected a permutation of 1..3"),
    (dict(order=np.array([1, 2, 3], dtype=np.int32)), TypeError, "order: expected dtype int64"),
    (dict(order=np.array([1, 2])), ValueError, "sizes: the input width must be D \\* 2 = 4"),
    (dict(order=np.zeros(0, dtype=np.int64)), ValueError, "order: need at least one variable"),
    (dict(hidden_degrees=np.array([0, 1, 2, 3, 1, 1, 1, 1, 1])), ValueError, "hidden_degrees: every degree must lie in \\[0, 2\\]"),
    (dict(hidden_degrees=np.array([-1, 1, 2, 1, 1, 1, 1, 1, 1])), ValueError, "hidden_degrees: every degree"),
    (dict(hidden_degrees=np.ones(8, dtype=np.int64)), ValueError, "hidden_degrees: expected shape \\(9,\\)"),
    (dict(n_out=3), ValueError, "sizes: the input width must be D \\* 3 = 9"),
    (dict(n_out=0), ValueError, "n_out: must be >= 1"),
    (dict(output=3), ValueError, "output: expected 0 \\(Bernoulli\\)"),
    (dict(output=0), ValueError, "n_out: Bernoulli outputs take n_out = 1"),
    (dict(output=2), ValueError, "sizes: the input width must be D \\* 1"),
    (dict(acts=np.array([1, 0], dtype=np.int32)), ValueError, "acts: expected shape \\(3,\\)"),
    (dict(acts=np.array([2, 2, 0], dtype=np.int32), slope=1.5), ValueError, "slope: leaky_relu needs 0 < slope < 1"),
    (dict(theta=np.zeros(5)), ValueError, "theta: expected shape"),
    (dict(n_samples=-1), ValueError, "n_samples: must be >= 0"),
    (dict(temperature=0.0), ValueError, "temperature"),
    (dict(temperature=np.nan), ValueError, "temperature"),
    (dict(top_k=-1), ValueError, "top_k"),
    (dict(top_p=0.0), ValueError, "top_p"),
    (dict(top_p=1.01), ValueError, "top_p"),
    (dict(order=np.array([1, 1, 2])), ValueError, "order: expected a permutation of 1..3"),
    (dict(hidden_degrees=np.full(9, 3)), ValueError, "hidden_degrees: every degree must lie in \\[0, 2\\]"),
    (dict(temperature=-1.0), ValueError, "temperature"),
]
BAD_INPUT_CPU = [
    (dict(sizes=np.array([6, 4, 5, 5])), ValueError, "sizes: the output width must be D \\* 2 = 6"),
    (dict(sizes=np.array([6, 0, 5, 6])), ValueError, "sizes: every width must be >= 1"),
    (dict(sizes=np.array([6])), ValueError, "sizes: need at least two entries"),
    (dict(acts=np.array([1, 9, 0], dtype=np.int32)), ValueError, "acts: unknown activation code 9"),
    (dict(theta=np.zeros(89, dtype=np.int64)), TypeError, "theta: expected float32 or float64"),
]


@pytest.mark.parametrize("device, over, exc, match", cases(BAD_INPUT + BAD_INPUT_CPU, BAD_INPUT))
def test_bad_input_from_the_binding(made3, device, over, exc, match):
    with pytest.raises(exc, match=match):
        bad_call(made3, device, **over)


@pytest.mark.parametrize("index, value", [(7, np.nan), (0, np.inf)])
def test_non_finite_theta_is_refused(made3, device, index, value):
    th = made3["theta"].copy()
    th[index] = value
    with pytest.raises(ValueError, match=f"theta: contains NaN or infinity \\(first at index {index}\\)"):
        bad_call(made3, device, theta=th)


def test_overflowing_network_is_reported(rng, device):
    """Logits that overflow to +inf (float32, on the CPU: CUDA sums in float64) and a mixture whose
    log-std makes the draw overflow are errors naming the sample and variable, never NaN or inf
    samples."""
    if device == "cpu":
        m = random_made(rng, 1, 3, 3, (4,), "natural", dtype=np.float32, scale=1.0)
        big = (np.abs(m["theta"]) > 0).astype(np.float32) * np.float32(1e30)
        with pytest.raises(ValueError, match="made_sample: sample 0, variable [12] \\(generation step [12]\\): a logit"):
            kernel(dict(m, theta=big, acts=np.array([1, 0], dtype=np.int32)), 4)  # relu: positive sums stay
    g = random_made(rng, 2, 1, 2, (3,), "natural", scale=0.1)
    th = g["theta"].copy()
    th[-1] = 800.0  # the last output bias: variable 1's log standard deviation
    with pytest.raises(ValueError, match="made_sample: sample 0, variable 1 \\(generation step 1\\): the drawn value overflowed"):
        kernel(dict(g, theta=th), 2 if device == "cpu" else 1, device=device)
