"""Ctrl-C inside a kernel (issue 14): each long kernel kind stops on SIGINT within half a second,
raises KeyboardInterrupt, and a model interrupted in fit is left as it was before fit (or after its
last complete iteration).

Each test runs a script in a fresh interpreter, which prints "ready" just before the long call;
the test waits ~0.3 s more (so the signal lands inside the kernel), sends SIGINT and times the exit.
The bound asserted is 2 s (a loaded CI machine); the measured latencies are printed (pytest -s).
"""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

# The latency the issue asks for, and the bound asserted (CI machines are shared and slow). It runs
# from the signal to the process's exit, or for fit scenarios to the handler that checks the model.
TARGET_S, BOUND_S = 0.5, 2.0
IN_KERNEL_S = 0.3  # after "ready": the call has entered its kernel

PRELUDE = """
import os, sys, time
import numpy as np
import fastgen
import fastgen._core
fastgen._core.threads.set_policy(os.environ.get("FASTGEN_TEST_POLICY", "auto"))
rng = np.random.default_rng(0)
def ready():
    print("ready", flush=True)
def caught():  # in a fit scenario's handler: the latency ends here, before the model checks
    print("caught", time.time(), flush=True)
"""

# name -> script. A script prints "ready" right before the long call, which must take several
# seconds uninterrupted; fit scenarios catch KeyboardInterrupt, check the model and print "OK".
SCENARIOS = {
    # the case: one 2-million-frame sequence, 64 states; an E-step takes seconds
    "hmm_fit": """
        X = rng.integers(0, 16, size=(2_000_000, 1))
        m = fastgen.CategoricalHMM(64, n_iter=50, tol=-np.inf, random_state=0, device="cpu")
        ready()
        try:
            m.fit(X)
        except KeyboardInterrupt:
            caught()
            assert not hasattr(m, "startprob_"), "a first fit interrupted must leave the model unfitted"
            print("OK", flush=True)
            raise
    """,
    # a refit interrupted in its second iteration keeps the first iteration's parameters
    "hmm_refit": """
        X = rng.integers(0, 16, size=(2_000_000, 1))
        m = fastgen.CategoricalHMM(64, n_iter=1, random_state=0, device="cpu").fit(X[:20000])
        snap = {k: np.copy(getattr(m, k)) for k in ("startprob_", "transmat_", "emissionprob_")}
        m.set_params(n_iter=50, tol=-np.inf, init_params="")
        ready()
        try:
            m.fit(X)
        except KeyboardInterrupt:
            caught()
            for k, v in snap.items():  # one iteration takes > 1 s: none completed
                got = getattr(m, k)
                assert np.all(np.isfinite(got)) and np.allclose(got.sum(axis=-1), 1.0), k
                assert np.array_equal(got, v), k
            assert m.n_iter_ == 1
            print("OK", flush=True)
            raise
    """,
    # many sequences: the per-sequence path (sequence_posteriors), interrupted in its forward or backward
    "hmm_many_seqs": """
        X = rng.integers(0, 16, size=(2_000_000, 1))
        m = fastgen.CategoricalHMM(64, n_iter=1, random_state=0, device="cpu").fit(X[:20000])
        ready()
        for _ in range(20):
            m.predict_proba(X, lengths=[62_500] * 32)
    """,
    # interrupted after some complete iterations: exactly the model of a fit that ran that many
    "hmm_fit_later": """
        X = rng.integers(0, 16, size=(50_000, 1))  # iterations of a few tens of ms
        m = fastgen.CategoricalHMM(64, n_iter=1000, tol=-np.inf, random_state=0, device="cpu")
        from fastgen.hmm import _monitor
        report = _monitor.ConvergenceMonitor.report
        def report_ready(self, log_prob):  # "ready" once the first iteration is complete
            report(self, log_prob)
            if self.iter == 1:
                ready()
        _monitor.ConvergenceMonitor.report = report_ready
        try:
            m.fit(X)
        except KeyboardInterrupt:
            caught()
            k = m.n_iter_
            assert 1 <= k < 1000, k
            ref = fastgen.CategoricalHMM(64, n_iter=k, tol=-np.inf, random_state=0, device="cpu").fit(X)
            for a in ("startprob_", "transmat_", "emissionprob_"):
                assert np.array_equal(getattr(m, a), getattr(ref, a)), a
            print("OK", k, "iterations", flush=True)
            raise
    """,
    "hmm_score": """
        X = rng.integers(0, 16, size=(2_000_000, 1))
        m = fastgen.CategoricalHMM(64, n_iter=1, random_state=0, device="cpu").fit(X[:20000])
        ready()
        for _ in range(20):
            m.score(X)
    """,
    "hmm_log": """
        X = rng.integers(0, 16, size=(400_000, 1))
        m = fastgen.CategoricalHMM(32, n_iter=1, random_state=0, implementation="log", device="cpu").fit(X[:5000])
        ready()
        for _ in range(20):
            m.predict_proba(X)
    """,
    "viterbi": """
        X = rng.normal(size=(2_000_000, 2))
        m = fastgen.GaussianHMM(64, n_iter=1, random_state=0, device="cpu").fit(X[:20000])
        ready()
        for _ in range(20):
            m.predict(X)
    """,
    "sample_states": """
        m = fastgen.CategoricalHMM(64, n_iter=1, random_state=0, device="cpu").fit(rng.integers(0, 16, size=(20000, 1)))
        ready()
        for _ in range(20):
            m.sample(20_000_000, random_state=0)
    """,
    "gmm_fit": """
        X = rng.normal(size=(1_000_000, 16))
        m = fastgen.GaussianMixture(64, covariance_type="full", max_iter=200, tol=0, random_state=0, device="cpu")
        ready()
        try:
            m.fit(X)
        except KeyboardInterrupt:
            caught()
            assert not hasattr(m, "weights_"), "a first fit interrupted must leave the model unfitted"
            print("OK", flush=True)
            raise
    """,
    "rbm_score": """
        X = (rng.random((200_000, 784)) < 0.3).astype(np.float32)
        m = fastgen.BernoulliRBM(n_components=1024, n_iter=1, batch_size=1000, random_state=0, device="cpu").fit(X[:2000])
        ready()
        for _ in range(20):
            m.score_samples(X)
    """,
    # the training steps update parameters in place and are not interruptible: the fit stops
    # between two steps, and the RBM returns to its state before fit
    "rbm_fit": """
        X = (rng.random((100_000, 784)) < 0.3).astype(np.float32)
        m = fastgen.BernoulliRBM(n_components=1024, n_iter=50, batch_size=500, random_state=0, device="cpu")
        ready()
        try:
            m.fit(X)
        except KeyboardInterrupt:
            caught()
            assert not hasattr(m, "components_"), "a first fit interrupted must leave the model unfitted"
            print("OK", flush=True)
            raise
    """,
    "vae_steps": """
        X = (rng.random((100_000, 784)) < 0.3).astype(np.float32)
        m = fastgen.VAE((512,), 32, batch_size=1000, max_epochs=100, random_state=0, device="cpu")
        ready()
        m.fit(X)
    """,
    "ar_simulate": """
        y = np.cumsum(rng.normal(size=1000)) * 0.01 + rng.normal(size=1000)
        m = fastgen.AR(order=8, device="cpu").fit(y)
        ready()
        for _ in range(20):
            m.simulate(50_000_000, n_paths=1, random_state=0)
    """,
}


# The pool's two ways to run a kernel, each interrupted: on the calling thread only (checks between
# tasks and inside the kernel) and on the whole team (the caller checks between its slots and while
# it waits; the workers stop at the job's cancel flag).
POLICY_RUNS = [("hmm_fit", "serial"), ("hmm_fit", "team"), ("viterbi", "serial"), ("viterbi", "team"),
               ("gmm_fit", "serial"), ("gmm_fit", "team")]


def _run(name, policy="auto"):
    script = PRELUDE + textwrap.dedent(SCENARIOS[name])
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"), FASTGEN_TEST_POLICY=policy)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "ready", f"{name}: no 'ready' ({line!r}); stderr: {proc.stderr.read()}"
        time.sleep(IN_KERNEL_S)
        assert proc.poll() is None, f"{name}: finished before the signal: the scenario is too short"
        t0, wall0 = time.perf_counter(), time.time()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        latency = time.perf_counter() - t0
        for line in out.splitlines():  # a fit scenario: until it caught KeyboardInterrupt
            if line.startswith("caught "):
                latency = float(line.split()[1]) - wall0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return latency, out, err, proc.returncode


@pytest.mark.parametrize("name, policy", [(n, "auto") for n in sorted(SCENARIOS)] + POLICY_RUNS)
def test_sigint_stops_kernel(name, policy):
    latency, out, err, rc = _run(name, policy)
    print(f"\n{name} ({policy}): stopped {latency:.3f} s after SIGINT (target {TARGET_S} s)")
    assert "KeyboardInterrupt" in err, f"{name}: rc={rc}, stderr: {err[-2000:]}"
    assert rc != 0
    if "fit" in name:
        assert "OK" in out, f"{name}: the model check did not pass; stderr: {err[-2000:]}"
    assert latency < BOUND_S, f"{name}: {latency:.2f} s to stop"


if __name__ == "__main__":  # latencies of every scenario: python tests/common/test_interrupt.py [names]
    runs = [tuple(a.split(":")) if ":" in a else (a, "auto") for a in sys.argv[1:]]
    for n, pol in runs or [(n, "auto") for n in sorted(SCENARIOS)] + POLICY_RUNS:
        lat, o, e, rc = _run(n, pol)
        print(f"{n:14s} {pol:6s} {lat:7.3f} s  rc={rc} KeyboardInterrupt={'KeyboardInterrupt' in e} OK={'OK' in o}",
              flush=True)


# -- the estimators' promise, without signals: KeyboardInterrupt raised inside an M-step ----------

def _interrupt_on_call(monkeypatch, cls, method, on_call):
    calls = [0]
    original = getattr(cls, method)

    def wrapped(self, *args, **kwargs):
        calls[0] += 1
        if calls[0] == on_call:
            original(self, *args, **kwargs)  # half-way: this M-step's parameters are written, then Ctrl-C
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)
    monkeypatch.setattr(cls, method, wrapped)


def test_hmm_interrupted_mstep_keeps_last_complete_iteration(monkeypatch):
    import numpy as np
    import fastgen
    X = np.random.default_rng(1).integers(0, 5, size=(3000, 1))
    ref = fastgen.CategoricalHMM(4, n_iter=2, tol=-np.inf, random_state=0, device="cpu").fit(X)
    m = fastgen.CategoricalHMM(4, n_iter=10, tol=-np.inf, random_state=0, device="cpu")
    _interrupt_on_call(monkeypatch, fastgen.CategoricalHMM, "_mstep_emission", 3)
    with pytest.raises(KeyboardInterrupt):
        m.fit(X)
    assert m.n_iter_ == 2
    for a in ("startprob_", "transmat_", "emissionprob_"):
        np.testing.assert_array_equal(getattr(m, a), getattr(ref, a))


def test_hmm_interrupted_first_iteration_leaves_model_unfitted(monkeypatch):
    import numpy as np
    import fastgen
    X = np.random.default_rng(1).integers(0, 5, size=(3000, 1))
    m = fastgen.CategoricalHMM(4, n_iter=10, random_state=0, device="cpu")
    _interrupt_on_call(monkeypatch, fastgen.CategoricalHMM, "_mstep_emission", 1)
    with pytest.raises(KeyboardInterrupt):
        m.fit(X)
    assert not hasattr(m, "startprob_") and not hasattr(m, "n_iter_")
    assert m.get_params() == fastgen.CategoricalHMM(4, n_iter=10, random_state=0, device="cpu").get_params()


@pytest.mark.filterwarnings("ignore:Best performing initialization")
def test_mixture_interrupted_fit_restores_previous_fit(monkeypatch):
    import numpy as np
    import fastgen
    from fastgen.mixture import GaussianMixture
    X = np.random.default_rng(2).normal(size=(500, 3))
    m = GaussianMixture(3, max_iter=5, random_state=0, device="cpu").fit(X)
    before = m._snapshot()
    _interrupt_on_call(monkeypatch, GaussianMixture, "_m_step", 3)
    with pytest.raises(KeyboardInterrupt):
        m.set_params(random_state=1).fit(X + 1.0)
    m.set_params(random_state=0)
    assert set(vars(m)) == set(before)
    for k, v in before.items():
        if isinstance(v, np.ndarray):
            np.testing.assert_array_equal(getattr(m, k), v, err_msg=k)
