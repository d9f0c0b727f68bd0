"""fastgen's thread pool and policy (csrc/common/threads.hpp): the user's controls, results that do
not depend on the path taken, concurrent callers, fork, and a sanity check against collapse under load.

Speed claims live in benchmarks/bench_threads.py; the load test here only guards against the
collapse the pool was built to prevent (a kernel taking hundreds of times its idle time).
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import fastgen
from fastgen import _core
from conftest import child_env, offsets_of, random_hmm, random_lengths, thread_policy


# ---- the user's controls --------------------------------------------------------------------------

def test_set_num_threads_lowers_and_none_restores():
    base = fastgen.get_num_threads()
    assert base >= 1
    try:
        fastgen.set_num_threads(1)
        assert fastgen.get_num_threads() == 1
        fastgen.set_num_threads(base + 8)  # a limit never raises the count
        assert fastgen.get_num_threads() == base
        fastgen.set_num_threads(10**20)  # nor does one beyond any machine (once pybind's TypeError)
        assert fastgen.get_num_threads() == base
    finally:
        fastgen.set_num_threads(None)
    assert fastgen.get_num_threads() == base


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_set_num_threads_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="n: expected a positive integer or None"):
        fastgen.set_num_threads(bad)


def test_policy_hook_rejects_unknown_names():
    with pytest.raises(ValueError, match="policy: expected 'auto', 'serial' or 'team'"):
        _core.threads.set_policy("fast")


def test_omp_num_threads_is_respected():
    out = subprocess.run([sys.executable, "-c", "import fastgen; print(fastgen.get_num_threads())"],
                         env=child_env(OMP_NUM_THREADS="3"), capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "3"


def test_threadpoolctl_limit_is_respected():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not any(i["user_api"] == "openmp" for i in threadpoolctl.threadpool_info()):
        pytest.skip("threadpoolctl does not see the OpenMP runtime that fastgen._core links")
    with threadpoolctl.threadpool_limits(limits=1):
        assert fastgen.get_num_threads() == 1
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert fastgen.get_num_threads() == 1


def test_team_overhead_is_measured():
    s = _core.threads.team_overhead()
    assert 0 < s <= 200e-6  # capped: see threads.cpp


# ---- the same bits on every path -----------------------------------------------------------------

def _hmm_workload(rng):
    K = 5
    lengths = random_lengths(rng, 30, high=2000, long=20_000)
    N = int(lengths.sum())
    sp, tm = random_hmm(rng, K)
    lp = -1.0 + 2 * rng.standard_normal((N, K))
    off = offsets_of(lengths)
    X = rng.normal(size=(N, 3))
    W = rng.dirichlet(np.ones(K), size=N)

    def run():
        out = list(_core.hmm.forward_backward(sp, tm, lp, off, True, True))
        out += list(_core.hmm.viterbi(sp, tm, lp, off))
        out += list(_core.emissions.weighted_moments(X, W, 2))
        return out
    return run


@pytest.mark.parametrize("policy", ["auto", "team"])
def test_small_work_path_and_team_give_the_same_bits(rng, policy):
    run = _hmm_workload(rng)
    with thread_policy("serial"):
        want = run()
    with thread_policy(policy):
        for _ in range(3):  # the clock probes and switches between calls: every call the same
            for a, b in zip(want, run()):
                assert_array_equal(a, b)


def test_concurrent_callers_get_their_own_answers(rng):
    """Python threads calling kernels at once (the GIL is released): one owns the pool, the others
    run on their own thread; every answer equals the one-thread answer."""
    runs = [_hmm_workload(np.random.default_rng(int(rng.integers(1 << 31)))) for _ in range(4)]
    with thread_policy("serial"):
        want = [r() for r in runs]
    got = [None] * len(runs)
    errors = []

    def call(i):
        try:
            with_results = []
            for _ in range(3):
                with_results.append(runs[i]())
            got[i] = with_results
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    with thread_policy("team"):
        threads = [threading.Thread(target=call, args=(i,)) for i in range(len(runs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    assert not errors
    for w, g in zip(want, got):
        assert g is not None, "a caller did not finish"
        for rep in g:
            for a, b in zip(w, rep):
                assert_array_equal(a, b)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_runs_kernels(rng):
    """After the parent used the pool, a fork()ed child (which has none of its threads) starts its
    own pool instead of hanging (libgomp's does)."""
    script = textwrap.dedent("""
        import os, sys, numpy as np
        import fastgen._core as c
        c.threads.set_policy("team")
        rng = np.random.default_rng(3)
        X = rng.normal(size=(20000, 4)); W = rng.dirichlet(np.ones(6), size=20000)
        want = c.emissions.weighted_moments(X, W, 2)
        pid = os.fork()
        if pid == 0:
            got = c.emissions.weighted_moments(X, W, 2)
            os._exit(0 if all((a == b).all() for a, b in zip(want, got)) else 3)
        _, status = os.waitpid(pid, 0)
        sys.exit(os.waitstatus_to_exitcode(status))
    """)
    subprocess.run([sys.executable, "-c", script], env=child_env(OMP_NUM_THREADS="2"), check=True, timeout=60)


# ---- no collapse under load ----------------------------------------------------------------------

def test_hmm_fit_under_busy_processes_does_not_collapse(tmp_path):
    """Two CPU-bound processes beside a small HMM fit (the demo's shape): it must finish within a
    generous bound of its idle time. Before the pool, spinning OpenMP workers made such fits
    hundreds of times slower (issue: fast on a shared machine)."""
    from fastgen.hmm import GaussianHMM
    X = np.random.default_rng(0).normal(size=(100, 1)) + np.repeat([0.0, 3.0], 50)[:, None]

    def fit_time():
        t0 = time.perf_counter()
        for seed in range(5):
            GaussianHMM(2, n_iter=50, tol=0, random_state=seed).fit(X)
        return time.perf_counter() - t0

    fit_time()  # warm-up: imports, first measurements
    idle = fit_time()
    busy = [subprocess.Popen([sys.executable, "-c", "import time\nt=time.time()\nwhile time.time()-t<60: pass"])
            for _ in range(2)]
    try:
        time.sleep(0.2)
        loaded = fit_time()
    finally:
        for p in busy:
            p.kill()
            p.wait()
    # Two busy processes on the cores: a fair share alone is ~1.5-3x; allow far more, catch collapse.
    assert loaded < 25 * idle + 1.0, f"idle {idle:.3f} s, loaded {loaded:.3f} s"
