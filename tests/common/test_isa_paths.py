"""The hand-dispatched kernels (vec::dispatch, the GEMM, the vector Philox, the responsibilities) on every instruction set
this CPU runs: a subprocess with FASTGEN_ISA=base (16-byte vectors, no FMA) recomputes what this
process computed at its own width (AVX-512 or AVX2), on the same inputs.

Tolerances: the row-vectorised kernels put rows (or features) in lanes, each summed in its own
order, so only the fused multiply-adds differ between an FMA path and the base path: float64
agrees to 1e-12 relative, float32 to 1e-5. Integer results (labels, the k-means++ seeds, the
draws of discrete samples) are equal.
"""
import os
import subprocess
import sys
import textwrap

import numpy as np

SCRIPT = textwrap.dedent("""
    import sys, numpy as np
    from fastgen import _core
    from fastgen.autoregressive import AR, MADE
    rng = np.random.default_rng(7)
    out = {"isa": np.array(_core.threads.simd_isa())}
    for dt in (np.float64, np.float32):
        n = np.dtype(dt).name
        X = rng.normal(size=(1037, 7)).astype(dt)
        mu = rng.normal(size=(5, 7)).astype(dt)
        A = rng.normal(size=(5, 7, 7)) * 0.3
        P = np.triu(A + np.eye(7)).astype(dt)
        out[f"full_{n}"] = _core.emissions.gaussian_logprob_full(X, mu, P)
        out[f"diag_{n}"] = _core.emissions.gaussian_logprob_diag(X, mu, rng.random((5, 7)).astype(dt) + 0.5)
        W = rng.random((1037, 5)).astype(dt)
        for order in (0, 1, 2):
            for i, a in enumerate(_core.emissions.weighted_moments(X, W, order)):
                if a is not None:  # (order 0: no second moments)
                    out[f"moments{order}_{i}_{n}"] = a
        lp = (rng.normal(size=(1037, 5)) * 30).astype(dt)
        lp[3] = -np.inf
        log_norm, resp = _core.mixture.responsibilities(lp, np.log(np.full(5, 0.2)).astype(dt), True, False)
        out[f"log_norm_{n}"], out[f"resp_{n}"] = log_norm, resp
        lengths = rng.integers(1, 60, size=37)  # the HMM lanes kernels: groups of unequal lengths
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        hp = rng.dirichlet(np.ones(6)).astype(dt)
        hA = rng.dirichlet(np.ones(6), size=6).astype(dt)
        hlp = (rng.normal(size=(offsets[-1], 6)) * 3).astype(dt)
        for i, a in enumerate(_core.hmm.forward_backward(hp, hA, hlp, offsets, True, True)):
            out[f"hmm_fb{i}_{n}"] = a
        out[f"hmm_score_{n}"] = _core.hmm.forward_backward(hp, hA, hlp, offsets, False, False)[0]
        out[f"hmm_viterbi_logprob_{n}"], out[f"hmm_viterbi_states_{n}"] = _core.hmm.viterbi(hp, hA, hlp, offsets)
        vA = rng.dirichlet(np.ones(37), size=37).astype(dt)  # one sequence: the column-vector Viterbi step
        vlp = (rng.normal(size=(300, 37)) * 3).astype(dt)
        out[f"viterbi1_logprob_{n}"], out[f"viterbi1_states_{n}"] = _core.hmm.viterbi(
            np.full(37, 1 / 37, dt), vA, vlp, np.array([0, 300], np.int64))
        B = rng.normal(size=(7, 131)).astype(dt)
        out[f"gemm_{n}"] = _core.rbm._matmul(np.ascontiguousarray(X[:97]), B)
    X = rng.normal(size=(3001, 3))
    labels, d2 = _core.mixture.kmeans_assign(X, rng.normal(size=(6, 3)))
    out["kmeans_labels"], out["kmeans_d2"] = labels, d2
    out["kmeanspp"] = _core.mixture.kmeans_plusplus(X, 6, 3, 11, 0)[1]
    y = np.cumsum(rng.normal(size=700)) * 0.1 + rng.normal(size=700)
    ar = AR(3, trend="c", device="cpu").fit(y)
    out["ar_params"] = ar.params_
    out["ar_paths"] = ar.simulate(50, n_paths=40, random_state=3)
    Xb = (rng.random((300, 9)) < 0.3).astype(np.float64)
    made = MADE((16,), max_epochs=2, random_state=0, device="cpu").fit(Xb)
    out["made"] = made.sample(64, random_state=5)
    np.savez(sys.argv[1], **out)
""")


def _env(cap):
    """This process's environment with FASTGEN_ISA set to cap (None: unset)."""
    env = {k: v for k, v in os.environ.items() if k != "FASTGEN_ISA"}
    if cap is not None:
        env["FASTGEN_ISA"] = cap
    return env


def _run(path, cap):
    subprocess.run([sys.executable, "-c", SCRIPT, str(path)], env=_env(cap), check=True, timeout=300)
    return dict(np.load(path))


def _isa_under(cap):
    return subprocess.run([sys.executable, "-c", "from fastgen import _core; print(_core.threads.simd_isa())"],
                          env=_env(cap), capture_output=True, text=True, check=True).stdout.strip()


def test_the_cap_is_reported_and_never_raises_the_choice():
    assert _isa_under("base") == "base"
    assert _isa_under("v4") == _isa_under(None)


def test_the_base_path_computes_what_the_native_path_computes(tmp_path):
    native = _run(tmp_path / "native.npz", None)
    base = _run(tmp_path / "base.npz", "base")
    assert str(base.pop("isa")) == "base"
    print("native ISA:", native.pop("isa"))
    assert native.keys() == base.keys()
    for name in native:
        a, b = native[name], base[name]
        assert a.shape == b.shape and a.dtype == b.dtype, name
        if a.dtype.kind in "iub" or name in ("made",):
            np.testing.assert_array_equal(a, b, err_msg=name)
        else:
            rtol = 1e-5 if a.dtype == np.float32 else 1e-12
            finite = np.abs(a[np.isfinite(a)])  # (an impossible row's -inf is compared as equal)
            scale = float(finite.max()) if finite.size else 1.0
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale, err_msg=name)


def test_the_hmm_lanes_give_the_same_bits_at_every_fma_width(tmp_path):
    """hmm/lanes.hpp: a sequence's lattice is computed in its own lane, whatever the lanes per
    register (8 with AVX-512, 4 with AVX2), and the expected transitions are summed sequence by
    sequence in one order, so the two FMA widths agree bit for bit; so does the one-sequence
    Viterbi step, whose columns go in vectors of either width (max and compare are exact)."""
    if _isa_under(None) != "v4":
        import pytest
        pytest.skip("needs an AVX-512 CPU to compare against AVX2")
    native = _run(tmp_path / "native.npz", None)
    avx2 = _run(tmp_path / "avx2.npz", "v3")
    assert str(avx2["isa"]) == "v3"
    hmm_keys = [k for k in native if k.startswith(("hmm_", "viterbi1_"))]
    assert len(hmm_keys) == 16
    for name in hmm_keys:
        np.testing.assert_array_equal(native[name], avx2[name], err_msg=name)
