"""Shared fixtures and helpers for the test suite: random generators and random HMM parameters.

Only fixtures and helpers live here. This module must not import numba or set NUMBA_* variables:
the CUDA test modules configure Numba themselves (simulator or real GPU).

Every test that takes the `rng` fixture gets a fresh generator. Its seed is drawn anew on each run
(so repeated runs keep exploring new inputs) and printed with the failure report; set
FASTGEN_TEST_SEED=<int> to replay a failing run.
"""
from __future__ import annotations

import contextlib
import os

import numpy as np
import pytest

_SEED_KEY = "rng_seed"


@pytest.fixture
def rng(request):
    """A fresh np.random.Generator per test (seed shown on failure; FASTGEN_TEST_SEED replays)."""
    env = os.environ.get("FASTGEN_TEST_SEED")
    seed = int(env) if env else int(np.random.SeedSequence().entropy % (2**63))
    request.node.user_properties.append((_SEED_KEY, seed))
    return np.random.default_rng(seed)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for key, value in item.user_properties:
            if key == _SEED_KEY:
                report.sections.append(("random seed", f"FASTGEN_TEST_SEED={value}"))


# -- random parameters -----------------------------------------------------------------------------

def random_stochastic(rng, *shape, zero_frac=0.0, concentration=1.0):
    """Rows (last axis) drawn from a Dirichlet, optionally with a fraction of entries set to exactly 0.

    Every row keeps at least one positive entry, so rows always sum to 1.
    """
    a = rng.gamma(concentration, size=shape) + 1e-3
    if zero_frac > 0:
        zero = rng.random(shape) < zero_frac
        keep = np.argmax(rng.random(shape), axis=-1)          # one guaranteed survivor per row
        np.put_along_axis(zero, keep[..., None], False, axis=-1)
        a = np.where(zero, 0.0, a)
    return a / a.sum(axis=-1, keepdims=True)


def random_spd(rng, D, *, low=0.5, high=2.0, size=None):
    """Well-conditioned symmetric positive-definite matrices: random rotation, eigenvalues in [low, high].

    size=None gives one (D, D) matrix, an int n gives (n, D, D), a tuple (a, b) gives (a, b, D, D).
    """
    lead = () if size is None else ((size,) if np.isscalar(size) else tuple(size))
    Q, R = np.linalg.qr(rng.standard_normal(lead + (D, D)))
    Q = Q * np.sign(np.diagonal(R, axis1=-2, axis2=-1))[..., None, :]
    ev = rng.uniform(low, high, size=lead + (D,))
    C = np.einsum("...ij,...j,...kj->...ik", Q, ev, Q)
    return 0.5 * (C + np.swapaxes(C, -1, -2))


def precision_cholesky_upper(covars):
    """scikit-learn's precisions_cholesky_: upper-triangular P with P @ P.T = inverse(covars)."""
    covars = np.asarray(covars, dtype=np.float64)
    L = np.linalg.cholesky(covars)
    eye = np.broadcast_to(np.eye(covars.shape[-1]), L.shape)
    return np.ascontiguousarray(np.swapaxes(np.linalg.solve(L, eye), -1, -2))


def random_covars(rng, covariance_type, K, D, *, low=0.5, high=2.0):
    """Covariances in hmmlearn's compact GaussianHMM layout for `covariance_type`."""
    if covariance_type == "spherical":
        return rng.uniform(low, high, size=K)
    if covariance_type == "diag":
        return rng.uniform(low, high, size=(K, D))
    if covariance_type == "full":
        return random_spd(rng, D, low=low, high=high, size=K)
    if covariance_type == "tied":
        return random_spd(rng, D, low=low, high=high)
    raise ValueError(covariance_type)


def random_mixture_covars(rng, covariance_type, K, M, D, *, low=0.5, high=2.0):
    """Covariances in hmmlearn's GMMHMM layout for `covariance_type`."""
    if covariance_type == "spherical":
        return rng.uniform(low, high, size=(K, M))
    if covariance_type == "diag":
        return rng.uniform(low, high, size=(K, M, D))
    if covariance_type == "full":
        return random_spd(rng, D, low=low, high=high, size=(K, M))
    if covariance_type == "tied":
        return random_spd(rng, D, low=low, high=high, size=K)
    raise ValueError(covariance_type)


def random_hmm(rng, K, *, zero_frac=0.0):
    """(startprob (K,), transmat (K, K)): random stochastic vector and matrix."""
    return random_stochastic(rng, K, zero_frac=zero_frac), random_stochastic(rng, K, K, zero_frac=zero_frac)


def random_lengths(rng, n_seq, *, low=1, high=40, long=None):
    """`n_seq` random sequence lengths in [low, high], with a length-1 sequence among them, plus one
    sequence of length `long` (if given) at a random position."""
    lengths = list(rng.integers(low, high + 1, size=n_seq))
    if n_seq:
        lengths[rng.integers(n_seq)] = 1
    if long is not None:
        lengths.insert(int(rng.integers(len(lengths) + 1)), long)
    return np.array(lengths, dtype=np.int64)


def offsets_of(lengths):
    """int64 offsets (length n_seq + 1) of concatenated sequences."""
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


def sample_markov_states(rng, startprob, transmat, lengths):
    """A state path per sequence drawn with NumPy (for generating test data, not an oracle)."""
    K = len(startprob)
    cdf0, cdf = np.cumsum(startprob), np.cumsum(transmat, axis=1)
    out = []
    for T in lengths:
        z = np.empty(T, dtype=np.int64)
        z[0] = min(np.searchsorted(cdf0, rng.random(), side="right"), K - 1)
        for t in range(1, T):
            z[t] = min(np.searchsorted(cdf[z[t - 1]], rng.random(), side="right"), K - 1)
        out.append(z)
    return np.concatenate(out)


# Thread configurations every thread-count test runs: one thread, and the team forced on every
# call with more than one task (no small-work path, no clock), on 2 and on 4 threads (4 also
# oversubscribes a 2-core machine). Without forcing, the tests' small inputs would all run on the
# calling thread and compare nothing parallel.
THREAD_CONFIGS = ((1, "serial"), (2, "team"), (4, "team"))


@contextlib.contextmanager
def thread_policy(policy):
    """Forces fastgen's pool to one path ("serial", "team" or "auto") inside the block."""
    from fastgen import _core
    before = _core.threads.policy()
    _core.threads.set_policy(policy)
    try:
        yield
    finally:
        _core.threads.set_policy(before)


def child_env(**extra):
    """os.environ plus `extra`, for a child Python that must import the same fastgen as this
    process (the installed wheel in CI)."""
    import fastgen
    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(fastgen.__file__)),
                                         env.get("PYTHONPATH", "")])
    return env


def assert_same_on_any_thread_count(script, tmp_path, timeout=120):
    """Runs `script` (which saves its results with np.savez to sys.argv[1]) on one thread and on
    teams of 2 and 4 (THREAD_CONFIGS) and asserts bit-identical results: reductions must not
    depend on the thread count or on which thread ran which piece."""
    import subprocess
    import sys

    from numpy.testing import assert_array_equal

    files = []
    for n, policy in THREAD_CONFIGS:
        f = tmp_path / f"out{n}{policy}.npz"
        env = child_env(OMP_NUM_THREADS=str(n))
        prelude = f"import fastgen._core as _fg_core; _fg_core.threads.set_policy({policy!r})\n"
        subprocess.run([sys.executable, "-c", prelude + script, str(f)], check=True, env=env, timeout=timeout)
        files.append(np.load(f))
    for other in files[1:]:
        assert files[0].files == other.files
        for k in files[0].files:
            assert_array_equal(files[0][k], other[k])


def assert_sum_close(got, want, scale, rtol, *, slope=1.0):
    """got ~ want, where want is f(s) for a sum s whose terms' absolute values add up to `scale`.

    A floating-point sum's error is bounded by a multiple of the unit roundoff times the sum of its
    terms' magnitudes, not times |s|: measured against |want| alone, a sum that cancels to nearly
    zero fails at random. `slope` is |f'(s)| (1 for the sum itself, p (1 - p) for a sigmoid)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    tol = rtol * (np.abs(want) + slope * np.asarray(scale, np.float64))
    bad = ~(np.abs(got - want) <= tol)
    assert not bad.any(), (f"{bad.sum()} of {bad.size} entries off by more than rtol={rtol} of the terms' "
                           f"magnitude; first at {np.argwhere(bad)[0]}: {got[bad][0]!r} vs {want[bad][0]!r}")


def pytest_generate_tests(metafunc):
    """A test taking a `device` argument (and not parametrising it itself) runs on each backend:
    "cpu", and "cuda" (marked `cuda`, skipped where Numba cannot launch kernels): tests/devices.py."""
    if "device" in metafunc.fixturenames and not any(m.name == "parametrize" and "device" in m.args[0]
                                                     for m in metafunc.definition.iter_markers()):
        from devices import DEVICES
        metafunc.parametrize("device", DEVICES)
