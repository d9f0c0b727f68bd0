"""Smoke tests of `python -m fastgen demo`: each demo runs, agrees with its peer, draws its figure
(those that run a demo are marked `slow`; the digit demos run with --quick); what the demos claim
(the Nile's change year, sunspot paths that never go negative, titled digit figures, one colour per
mixture cluster); the demo registry, package layout and the `demo` extra."""
from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import child_env
from fastgen.__main__ import DEMOS, main


def _rows(out: str, library: str) -> dict[int, tuple[float, float]]:
    """{K: (log-likelihood, BIC)} from the table rows of `library` in the gmm-faithful output (read
    from the right: the device cell may hold spaces, "cpu (1 thread)")."""
    rows = {}
    for line in out.splitlines():
        cells = line.split()
        if cells and cells[0] == library:
            K, ll, bic = int(cells[-6]), float(cells[-2]), float(cells[-1])
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
    assert order == 9                      # AIC's choice on the square roots of the yearly series (statsmodels' too)
    if "statsmodels" in rows:              # same order, same fit (6 printed decimals)
        assert int(rows["statsmodels"][-3]) == order
        np.testing.assert_allclose([sigma2, llf], [float(v) for v in rows["statsmodels"][-2:]], rtol=0, atol=1e-4)
    smallest = float(re.search(r"smallest value (-?[\d.]+)", out).group(1))
    assert smallest >= 0                   # sunspot numbers: never negative
    inside = [float(v) for v in re.findall(r"([\d.]+)% inside the", out)]
    np.testing.assert_allclose(inside, [50, 80, 95], atol=2.5)   # the bands are the paths' quantiles
    assert (tmp_path / "sunspots_ar_forecast.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_made_digits_demo_beats_independent_pixels_and_writes_samples(tmp_path, capsys):
    assert main(["demo", "made-digits", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    ll, baseline = (float(v) for v in re.search(r"log-likelihood (-[\d.]+) nats per image \(independent pixels: "
                                                r"(-[\d.]+)", out).groups())
    assert ll > baseline + 5               # measured -17.7 against -25.3
    assert (tmp_path / "made_digits_samples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_vae_anomaly_tabular_demo_separates_malignant_biopsies(capsys):
    assert main(["demo", "vae-anomaly-tabular"]) == 0
    out = capsys.readouterr().out
    auc = {line.split("(")[0].strip(): float(line.split()[-1]) for line in out.splitlines()
           if line.startswith("  ") and line.split()[-1].replace(".", "").isdigit()}
    vae = next(v for k, v in auc.items() if k.startswith("VAE"))
    gauss = next(v for k, v in auc.items() if k.startswith("one full-covariance Gaussian"))
    assert vae > 0.93 and vae > gauss + 0.03   # measured 0.959 against 0.888


# -- what the demos claim --------------------------------------------------------------------------

@pytest.mark.slow
def test_hmm_nile_change_year_is_the_one_the_text_names(tmp_path, capsys):
    """The year printed in the table, the sentence under it and the demo's summary (its --help line)
    are the same year, 1898, the last year at the old level (Cobb 1978; strucchange's breakpoint),
    and the next year is the first of the low-flow state."""
    from fastgen.datasets import load_nile

    assert main(["demo", "hmm-nile", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    table = {line.split()[0]: line.split()[-1] for line in out.splitlines()
             if line.strip().startswith(("fastgen", "hmmlearn"))}
    assert table["fastgen"] == "1898"
    if "hmmlearn" in table:                # the peer decodes the same change
        assert table["hmmlearn"] == "1898"
    said = re.search(r"change after (\d{4}): the last year of the old Viterbi state \((\d{4}) is the first", out)
    assert said and said.groups() == ("1898", "1899"), out
    assert "after 1898" in DEMOS["hmm-nile"].summary and "first low-flow year 1899" in DEMOS["hmm-nile"].summary
    years, flow = load_nile()              # and the data agree: 1898 ends the high-flow years
    assert flow[years <= 1898].mean() > 1000 > 900 > flow[years >= 1899].mean()


def test_sunspot_simulation_never_negative():
    """The AR is fitted to the square roots and its paths squared back (below 0 on the root scale:
    0 spots), so no path goes negative; the fan chart's bands are the paths' quantiles."""
    from fastgen.datasets import load_sunspots
    from fastgen.demos.autoregressive import SUNSPOT_LEVELS, _counts, _sunspot_forecast

    years, spots = load_sunspots()
    fc = _sunspot_forecast(years, spots, horizon=40, n_paths=2000, seed=1, device="cpu")
    paths = fc["paths"]
    assert paths.shape == (2000, 40) and paths.min() >= 0 and np.isfinite(paths).all()
    assert 0 < fc["below_zero"] < 0.05     # some years do hit 0 (cycle minima): the floor is in use
    np.testing.assert_array_equal(fc["future"], 2009 + np.arange(40))
    mean, _ = fc["model"].forecast(40)
    np.testing.assert_allclose(fc["median"], _counts(mean))
    for level in SUNSPOT_LEVELS:
        lo, hi = fc["bands"][level]
        assert (lo >= 0).all() and (lo <= fc["median"]).all() and (fc["median"] <= hi).all()
        assert abs(np.mean((paths >= lo) & (paths <= hi)) - level) < 0.02
    assert (_counts(np.array([-3.0, 0.0, 2.0])) == [0.0, 0.0, 4.0]).all()


def _png_colour_type(path) -> int:
    return path.read_bytes()[25]


@pytest.mark.slow
def test_digit_figures_carry_titles_and_captions(tmp_path, capsys, monkeypatch):
    """Every digit figure (RBM, VAE, conditional VAE, GAN, MADE; --quick settings) is written with
    its title and caption (the PNG's tEXt Title/Description; drawn on the figure by matplotlib, whose
    PNGs are RGBA), and each demo still prints its peer's row where the peer is installed."""
    from fastgen.demos._png import _png_text

    monkeypatch.setattr("fastgen.demos.nn._import_torch", lambda: None)   # no PyTorch row: saves time
    names = ["rbm-digits", "vae-digits", "gan-digits", "made-digits"]
    assert main(["demo", *names, "--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    titles = {"rbm_digits_samples.png": "BernoulliRBM", "vae_digits_samples.png": "VAE",
              "cvae_digits_samples.png": "Conditional VAE", "gan_digits_samples.png": "Conditional GAN",
              "made_digits_samples.png": "MADE"}
    try:
        import matplotlib  # noqa: F401
        drawn = True
    except ImportError:
        drawn = False
    for name, start in titles.items():
        text = _png_text(tmp_path / name)
        assert text["Title"].startswith(start) and "samples" in text["Title"], (name, text)
        assert "real test digits" in text["Description"].lower(), (name, text)
        assert name in out
        if drawn:
            assert _png_colour_type(tmp_path / name) == 6, name   # matplotlib's RGBA, with lettering
    if _has("sklearn"):
        assert re.search(r"^  scikit-learn \S+ +cpu", out, re.M), out   # rbm-digits' peer row


def _has(module: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(module) is not None


def test_digit_figure_without_matplotlib_has_gutters_and_text(tmp_path, monkeypatch):
    """Without matplotlib a digit figure is a plain grayscale PNG: the title and caption in its tEXt
    chunks, grey gutters (neither paper nor ink) between the tiles."""
    import struct
    import zlib

    from fastgen.demos import DemoContext
    from fastgen.demos._common import DigitPanel, _save_digit_figure
    from fastgen.demos._png import GUTTER_GREY, _png_text

    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    ctx = DemoContext(out=tmp_path, device="cpu", resolved="cpu")
    ink = np.random.default_rng(0).random((4, 64))
    path = _save_digit_figure(ctx, "g.png", "a title", "a caption", [DigitPanel(ink, "left", n_rows=2, n_cols=2)])
    assert _png_text(path) == {"Title": "a title", "Description": "a caption"}
    raw = path.read_bytes()
    w, h, depth, colour = struct.unpack(">IIBB", raw[16:26])
    assert (depth, colour) == (8, 0) and w == h == 2 * (8 * 4 + 2)
    start = raw.index(b"IDAT") + 4
    idat_len = struct.unpack(">I", raw[start - 8:start - 4])[0]
    pix = np.frombuffer(zlib.decompress(raw[start:start + idat_len]), dtype=np.uint8).reshape(h, w + 1)[:, 1:]
    grey = round(255 * GUTTER_GREY)
    tile = 8 * 4 + 2
    for edge in (0, tile - 1, tile, 2 * tile - 1):   # the borders of both tile rows and columns
        assert (pix[edge] == grey).all() and (pix[:, edge] == grey).all()
    np.testing.assert_array_equal(pix[1:33, 1:33], np.rint(255 * (1 - np.kron(ink[0].reshape(8, 8), np.ones((4, 4))))))


def test_mixture_panels_keep_a_cluster_colour():
    """K=2 and K=3 fits of Old Faithful: the short and long eruptions keep their colours in both
    panels; the K=3 fit's extra component takes a colour of its own."""
    from fastgen.demos.mixture import COMPONENT_COLOURS, _component_colours

    means = {2: np.array([[4.29, 80.0], [2.04, 54.5]]),             # fit order: long first
             3: np.array([[2.0, 54.4], [4.33, 80.4], [3.6, 70.5]])}
    colours = _component_colours(means, scale=np.array([1.14, 13.6]))
    short, long_ = COMPONENT_COLOURS[0], COMPONENT_COLOURS[1]
    assert colours[2] == [long_, short]
    assert colours[3][:2] == [short, long_] and colours[3][2] not in (short, long_)


def test_demo_extra_and_readme_command():
    """The README's first command installs the `demo` extra, which holds the peers the demos compare
    with (not PyTorch: PyPI's Linux torch is the multi-GB CUDA build)."""
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    first = re.search(r"```bash\n(.*?)\n", readme).group(1)
    assert first == 'pip install ".[demo]" && python -m fastgen demo'
    assert "torch" in readme.split(first, 1)[1].split("```")[1]   # the paragraph after it: how to get the PyTorch rows
    extra = tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]["demo"]
    names = {re.match(r"[A-Za-z0-9_.-]+", req).group(0).lower() for req in extra}
    assert names == {"matplotlib", "hmmlearn", "scikit-learn", "statsmodels"}
