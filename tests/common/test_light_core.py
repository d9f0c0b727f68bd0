"""Issue 13, a light core: ``pip install fastgen`` pulls only numpy. Without numba the package imports,
``device="auto"`` runs on the CPU, and ``device="cuda"`` names the extra to install. Importing fastgen
loads neither numba nor the peers (scikit-learn, torch)."""
from __future__ import annotations

import subprocess
import sys
import textwrap

# Runs in a fresh interpreter where importing numba fails, as on an install without the cuda extra.
_WITHOUT_NUMBA = textwrap.dedent("""
    import sys
    class _NoNumba:
        def find_spec(self, name, path=None, target=None):
            if name == "numba" or name.startswith("numba."):
                raise ModuleNotFoundError(f"No module named {name!r}")
    sys.meta_path.insert(0, _NoNumba())
    import numpy as np
    import fastgen
    assert not any(m.split(".")[0] in ("numba", "sklearn", "torch") for m in sys.modules), sorted(sys.modules)
    X = np.random.default_rng(0).normal(size=(50, 2))
    m = fastgen.GaussianHMM(2, n_iter=3, random_state=0).fit(X)   # device="auto"
    assert m._backend.device == "cpu"
    fastgen.VAE(likelihood="gaussian", max_epochs=1, random_state=0).fit(X)
    try:
        fastgen.GaussianMixture(2, device="cuda").fit(X)
    except RuntimeError as e:
        assert "'cuda' extra" in str(e), e
    else:
        raise AssertionError("device='cuda' without numba must raise")
    print("ok")
""")


def test_cpu_install_needs_no_numba():
    out = subprocess.run([sys.executable, "-c", _WITHOUT_NUMBA], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]


def test_import_loads_no_peer_and_no_numba():
    code = "import sys, fastgen; print(sorted({m.split('.')[0] for m in sys.modules} & {'numba', 'sklearn', 'torch', 'llvmlite'}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr[-2000:]
