"""Smoke tests of `python -m fastgen demo`: each demo runs, agrees with its peer, draws its figure
(those that run a demo are marked `slow`); the demo registry and package layout."""
from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import child_env
from fastgen.__main__ import DEMOS, main


def _rows(out: str, library: str) -> dict[int, tuple[float, float]]:
    """{K: (log-likelihood, BIC)} from the table rows of `library` in the gmm-faithful output."""
    rows = {}
    for line in out.splitlines():
        cells = line.split()
        if cells and cells[0] == library:
            K, ll, bic = int(cells[3]), float(cells[-2]), float(cells[-1])
            rows[K] = (ll, bic)
    return rows


@pytest.mark.slow
def test_gmm_faithful_demo_matches_sklearn_and_writes_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main(["demo", "gmm-faithful", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    ours = _rows(out, "fastgen")
    assert sorted(ours) == [2, 3]
    # Old Faithful's two eruption types: BIC prefers 2 full-covariance components to 3.
    assert "picks K=2" in out
    assert ours[2][1] < ours[3][1]
    # Maximum log-likelihood of the 2-component full mixture (the global optimum; 6 printed decimals).
    np.testing.assert_allclose(ours[2][0], -1130.263960, rtol=0, atol=2e-6)
    means = re.findall(r"mean \(([\d.]+), ([\d.]+)\) min", out)
    np.testing.assert_allclose(np.array(means, dtype=float), [[2.04, 54.5], [4.29, 80.0]], rtol=0, atol=0.011)
    if "scikit-learn" in out.split("log-likelihood")[1]:
        theirs = _rows(out, "scikit-learn")
        for K in (2, 3):   # same starts ('random_from_data', same seed): same optimum, same BIC
            np.testing.assert_allclose(ours[K], theirs[K], rtol=1e-9, atol=0)
    png = tmp_path / "old_faithful_gaussian_mixture.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_gmm_faithful_demo_without_matplotlib(tmp_path, capsys, monkeypatch):
    # A None entry in sys.modules makes `import matplotlib...` raise ImportError.
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    assert main(["demo", "gmm-faithful", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "plot skipped: matplotlib is not installed" in out and "pip install" in out
    assert "picks K=2" in out
    assert not list(tmp_path.iterdir())


def test_demo_registry_and_unknown_name(capsys):
    assert "gmm-faithful" in DEMOS and "hmm-nile" in DEMOS
    assert {"vae-digits", "gan-digits", "vae-anomaly", "ar-sunspots", "made-digits", "vae-anomaly-tabular"} <= set(DEMOS)
    with pytest.raises(SystemExit) as exc:
        main(["demo", "no-such-demo"])
    assert exc.value.code == 2
    assert "unknown demo 'no-such-demo'" in capsys.readouterr().err


def test_demos_package_layout():
    """The registry lives in fastgen.demos (one module per family, registered on import, in the CLI's
    order); fastgen.__main__ is the CLI over the same registry; `import fastgen` imports no demo."""
    import fastgen.demos as demos
    from fastgen.demos import autoregressive, hmm, mixture, nn, rbm

    assert DEMOS is demos.DEMOS
    assert list(DEMOS) == ["hmm-nile", "gmm-faithful", "rbm-digits", "vae-digits", "gan-digits", "vae-anomaly",
                           "vae-anomaly-tabular", "ar-sunspots", "made-digits"]
    family = {"hmm-nile": hmm, "gmm-faithful": mixture, "rbm-digits": rbm, "vae-digits": nn, "gan-digits": nn,
              "vae-anomaly": nn, "vae-anomaly-tabular": nn, "ar-sunspots": autoregressive,
              "made-digits": autoregressive}
    for name, module in family.items():
        assert DEMOS[name].run.__module__ == module.__name__
    script = ("import sys, fastgen; "
              "assert not [m for m in sys.modules if m.startswith(('fastgen.demos', 'fastgen.__main__'))]")
    subprocess.run([sys.executable, "-c", script], env=child_env(), check=True, timeout=60)


def test_roc_auc():
    from fastgen.demos.nn import _roc_auc
    assert _roc_auc([3.0, 4.0], [1.0, 2.0]) == 1.0
    assert _roc_auc([1.0], [2.0]) == 0.0
    assert _roc_auc([1.0, 3.0], [1.0, 2.0]) == 0.625  # pairs: tie (1/2), loss, win, win


@pytest.mark.slow
def test_ar_sunspots_demo_matches_statsmodels_and_writes_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main(["demo", "ar-sunspots", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip().startswith(("fastgen", "statsmodels"))}
    order, sigma2, llf = int(rows["fastgen"][-3]), float(rows["fastgen"][-2]), float(rows["fastgen"][-1])
    assert order == 9                      # AIC's choice on the yearly series (statsmodels' too)
    if "statsmodels" in rows:              # same order, same fit (6 printed decimals)
        assert int(rows["statsmodels"][-3]) == order
        np.testing.assert_allclose([sigma2, llf], [float(v) for v in rows["statsmodels"][-2:]], rtol=0, atol=1e-4)
    assert (tmp_path / "sunspots_ar_forecast.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_made_digits_demo_beats_independent_pixels_and_writes_samples(tmp_path, capsys):
    assert main(["demo", "made-digits", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    ll, baseline = (float(v) for v in re.search(r"log-likelihood (-[\d.]+) nats per image \(independent pixels: "
                                                r"(-[\d.]+)", out).groups())
    assert ll > baseline + 5               # measured -17.7 against -25.3
    for t in ("10", "07"):
        assert (tmp_path / f"made_digits_samples_t{t}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_vae_anomaly_tabular_demo_separates_malignant_biopsies(capsys):
    assert main(["demo", "vae-anomaly-tabular"]) == 0
    out = capsys.readouterr().out
    auc = {line.split("(")[0].strip(): float(line.split()[-1]) for line in out.splitlines()
           if line.startswith("  ") and line.split()[-1].replace(".", "").isdigit()}
    vae = next(v for k, v in auc.items() if k.startswith("VAE"))
    gauss = next(v for k, v in auc.items() if k.startswith("one full-covariance Gaussian"))
    assert vae > 0.93 and vae > gauss + 0.03   # measured 0.959 against 0.888
