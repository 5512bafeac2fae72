"""The HTML report: layout, captions, tables, flags, size budget, and a real browser.

A tiny experiment (16x16, two networks, a momentum attack) is swept, analysed and drawn
once per session through the command line; the report is built from it with no flags
(`stablesweep report STORE`). The browser tests open it in headless Chromium; they skip
where Chromium is absent (install it with ``bash scripts/chromium.sh --install``).
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
from html import escape as html_escape
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

from stablesweep.cli import main
from stablesweep.report import (
    FIGURE_SECTIONS,
    FigureKind,
    is_own_report,
    parse_stem,
    units_text,
    write_report,
)

TINY = {
    "experiment": "reptest",
    "seed": 0,
    "trials": 2,
    "problem": {
        "transform": "fourier",
        "resolution": 16,
        "wavelet": "haar",
        "sampling": {"scheme": ["theory", "uniform"], "rate": [0.3, 0.5]},
        "signal": {"kind": "sparse-in-levels", "sparsity": [[2, 2, 4, 4]]},
        "noise": [0.0, 0.01],
    },
    "networks": [
        {"name": "firenet", "depth": 30, "params": {"lam": 1.0e-2, "p": 10, "delta": 1.0e-9}},
        {"name": "fista", "depth": 30, "params": {"lam": 1.0e-3}},
    ],
    "attack": {"kind": "momentum", "depths": [10, 30],
               "params": {"lam": 0.01, "eta": 0.05, "tau": 0.001, "steps": 4,
                          "record_every": 2}},
    "examples": [{"network": "firenet", "trial": 0, "attack_depth": 30}],
}

_BUILT: dict[str, Path] = {}


def build_experiment(base: Path) -> Path:
    """Sweep, analyse, draw and report the tiny experiment (once per session).

    Returns the experiment folder (``<base>/results/reptest``) with ``sweep.zarr``,
    ``fits.nc``, ``figures/`` and ``report.html``, each made by the command line with
    its defaults. Tests must not change these files (write elsewhere with ``-o``).
    """
    if "dir" in _BUILT:
        return _BUILT["dir"]
    exp = base / "results" / "reptest"
    exp.mkdir(parents=True)
    cfg = base / "reptest.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    store = exp / "sweep.zarr"
    assert main(["run", str(cfg), "--out", str(store), "--workers", "1", "--quiet"]) == 0
    assert main(["analyse", str(store), "--n-boot", "20"]) == 0
    assert main(["figures", str(store)]) == 0
    assert main(["report", str(store)]) == 0
    _BUILT["dir"] = exp
    return exp


@pytest.fixture(scope="session")
def experiment(tmp_path_factory) -> Path:
    return build_experiment(tmp_path_factory.mktemp("report"))


def _data_uris(text: str, mime: str) -> list[bytes]:
    return [base64.b64decode(m) for m in
            re.findall(rf"data:{re.escape(mime)}[^,]*;base64,([A-Za-z0-9+/=]+)", text)]


def _csv_tables(text: str) -> dict[str, pd.DataFrame]:
    out = {}
    for name, data in re.findall(
            r"download='([^']+)' href='data:text/csv;charset=utf-8;base64,([A-Za-z0-9+/=]+)'",
            text):
        out[name] = pd.read_csv(io.BytesIO(base64.b64decode(data)))
    return out


# --------------------------------------------------------------------------- units, stems


@pytest.mark.parametrize("units, text", [
    ("1", ""), ("", ""), ("none", ""), ("1/(1)", ""), ("(1)/(1)", ""), ("count", ""),
    ("dB", "dB"), ("(1)/(a.u.)", "1/a.u."), ("a.u.", "a.u."),
])
def test_units_text(units, text):
    assert units_text(units) == text


def test_parse_stem_restores_the_cell_labels():
    from stablesweep.figures.common import stem

    known = {"scheme": ["theory", "uniform"], "rate": [0.15, 0.25],
             "sparsity": ["2,4,6,8,8", "2,4,10,16,16"], "noise": [0.0, 0.01],
             "attack_depth": [-1, 10], "example": [0, 1]}
    labels = {"scheme": "uniform", "rate": 0.25, "sparsity": "2,4,10,16,16", "noise": 0.0,
              "attack_depth": -1}
    kind, parsed = parse_stem(stem("worst_case", labels), known)
    assert kind == "worst_case"
    assert parsed == {"scheme": "uniform", "rate": "0.25", "sparsity": "2,4,10,16,16",
                      "noise": "0", "attack_depth": "-1"}
    assert parse_stem("phase_transition", known) == ("phase_transition", {})
    assert parse_stem("x__weird-1", known) == ("x", {"cell": "weird-1"})


# --------------------------------------------------------------------------- content


def test_report_layout_captions_and_figures(experiment):
    html = (experiment / "report.html").read_text(encoding="utf-8")
    assert is_own_report(experiment / "report.html")
    pngs = sorted((experiment / "figures").glob("*.png"))
    assert pngs
    # table of contents linking every section, in the order of the questions
    toc = re.search(r"<nav class='toc'>(.*?)</nav>", html, re.S).group(1)
    ids = re.findall(r"<h2 id='([a-z-]+)'", html)
    assert ids == ["accuracy", "stability", "sampling", "provenance"]
    for i in ids:
        assert f"href='#{i}'" in toc
    # every figure once, embedded, with a caption naming its type and cell labels
    figures = re.findall(r"<figure>(.*?)</figure>", html, re.S)
    assert len(figures) == len(pngs)
    kinds_in_order = [re.search(r"<b>([a-z_]+)</b>", f).group(1) for f in figures]
    expected_order = [it.kind for s in FIGURE_SECTIONS for it in s.items
                      if isinstance(it, FigureKind)]
    positions = [expected_order.index(k) for k in kinds_in_order]
    assert positions == sorted(positions)
    for png in pngs:
        link = f"href='figures/{png.name}'"
        block = [f for f in figures if link in f]
        assert len(block) == 1, png.name
        kind = png.stem.split("__")[0]
        caption = re.search(r"<figcaption>(.*?)</figcaption>", block[0], re.S).group(1)
        assert f"<b>{kind}</b>" in caption and "Settings:" in caption
        if "rate-0.3" in png.stem:
            assert "rate = 0.3" in caption
        if kind == "error_vs_depth":
            assert "firenet (depth 30" in caption  # the networks' config
        if kind == "amplification":
            assert "attack momentum at depths [10, 30]" in caption
    # embedded figures are valid PNGs no larger than the originals
    from PIL import Image

    images = _data_uris(html, "image/png")
    assert len(images) == len(pngs)
    for data in images:
        with Image.open(io.BytesIO(data)) as im:
            assert im.format == "PNG" and im.width <= Image.open(pngs[0]).width
    # provenance at the end: config, its hash, the command
    store = xr.open_zarr(experiment / "sweep.zarr")
    tail = html[html.index("id='provenance'"):]
    assert store.attrs["config_hash"] in tail
    assert "experiment: reptest" in tail and "stablesweep report" in tail
    # units never print as none or 1/(1)
    text = re.sub(r"<pre>.*?</pre>", "", html, flags=re.S)
    assert "1/(1)" not in text and "[none]" not in text and "[1]" not in text


def test_tables_match_the_analysis_file(experiment):
    html = (experiment / "report.html").read_text(encoding="utf-8")
    fits = xr.load_dataset(experiment / "fits.nc")
    tables = _csv_tables(html)
    assert "reptest-recovery.csv" in tables and "reptest-rates.csv" in tables
    rec = tables["reptest-recovery.csv"]
    # independent count: cells with a finite recovery probability
    p = fits["recovery_probability"]
    assert len(rec) == int(np.isfinite(p.values).sum())
    for _, row in rec.iterrows():
        ref = p.sel(scheme=row["scheme"], rate=row["rate"], noise=row["noise"],
                    network=row["network"]).values.ravel()
        assert np.isclose(row["recovery_probability"], ref[np.isfinite(ref)][0])
    rates = tables["reptest-rates.csv"]
    g = fits["gamma"].to_dataframe().reset_index().dropna(subset=["gamma"])
    merged = rates.merge(g, on=["scheme", "rate", "noise", "network"], suffixes=("", "_ref"))
    assert len(merged) == len(g)
    # a flagged fit is shown as its flag, never as a number; the others are the fitted values
    shown_flag = merged["gamma"].astype(str).str.startswith("flagged: ")
    if "fit_flag" in fits:
        flagged = [bool(np.asarray(fits["fit_flag"].sel(
            scheme=r["scheme"], rate=r["rate"], noise=r["noise"], network=r["network"]
        ).values).astype(str).ravel()[0]) for _, r in merged.iterrows()]
        assert list(shown_flag) == flagged
    good = merged[~shown_flag]
    assert len(good) > 0
    assert np.allclose(pd.to_numeric(good["gamma"]), good["gamma_ref"], rtol=1e-5)
    # every column of a table is explained with its long_name
    for name in ("gamma", "recovery_probability", "max_amplification"):
        if name in fits:
            long_name = html_escape(fits[name].attrs["long_name"])
            assert f"<dt>{name}</dt><dd>{long_name}" in html


def test_flagged_fits_are_shown_as_flags_and_left_out_of_summaries(experiment, tmp_path,
                                                                   monkeypatch):
    import stablesweep.report as report

    fits = xr.load_dataset(experiment / "fits.nc")
    gamma = fits["gamma"]
    flag = xr.DataArray(np.full(gamma.shape, "", dtype="<U40"), dims=gamma.dims,
                        coords=gamma.coords)
    flag.loc[{"network": "firenet", "noise": 0.0}] = "too few points (2 < 4)"
    fits["fit_flag"] = flag
    fits["fit_flag"].attrs = {"long_name": "fit quality flag"}
    path = tmp_path / "flagged.nc"
    fits.to_netcdf(path)
    monkeypatch.setattr(report.tables, "MAX_FULL_ROWS", 4)  # force the per-network summary
    out = write_report(experiment / "sweep.zarr", path, experiment / "figures",
                       tmp_path / "r.html", max_bytes=None)
    html = out.read_text(encoding="utf-8")
    rates = html[html.index("id='accuracy-table-rates'"):html.index("id='stability'")]
    n_flagged = int((flag.values != "").sum())
    assert f"flagged in {n_flagged} of" in rates
    # the summary's median of gamma for firenet uses only the unflagged cells
    g = fits["gamma"].sel(network="firenet").where(flag.sel(network="firenet") == "")
    vals = g.values[np.isfinite(g.values)]
    row = re.search(r"<td class='txt'>firenet</td>(.*?)</tr>", rates, re.S).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
    header = re.findall(r"<th[^>]*>(.*?)</th>", rates)
    gamma_cell = cells[header.index("gamma") - 1]
    assert gamma_cell.startswith(f"{np.median(vals):.4g}")
    # full table (CSV) keeps the reason; the shown table never prints a flagged number
    csv = _csv_tables(html)["reptest-rates.csv"]
    bad = csv[csv["fit_flag"].fillna("") != ""]
    assert len(bad) == n_flagged
    assert (bad["gamma"].astype(str).str.startswith("flagged: too few points")).all()
    monkeypatch.setattr(report.tables, "MAX_FULL_ROWS", 1000)
    html = write_report(experiment / "sweep.zarr", path, None, tmp_path / "r2.html").read_text()
    assert html.count("flagged: too few points (2 &lt; 4)") >= n_flagged


def test_size_budget_scales_the_embedded_figures(experiment, tmp_path):
    from PIL import Image

    full = write_report(experiment / "sweep.zarr", experiment / "fits.nc",
                        experiment / "figures", tmp_path / "full.html", max_bytes=None)
    small = write_report(experiment / "sweep.zarr", experiment / "fits.nc",
                         experiment / "figures", tmp_path / "small.html", max_bytes=450_000)
    assert small.stat().st_size <= 450_000 < full.stat().st_size
    big_imgs = _data_uris(full.read_text(), "image/png")
    small_imgs = _data_uris(small.read_text(), "image/png")
    assert len(big_imgs) == len(small_imgs) > 0
    w_full = Image.open(io.BytesIO(big_imgs[0])).width
    w_small = Image.open(io.BytesIO(small_imgs[0])).width
    assert w_small < w_full
    with pytest.raises(ValueError, match="max_bytes = 10; expected None or at least 10000"):
        write_report(experiment / "sweep.zarr", experiment / "fits.nc", None,
                     tmp_path / "x.html", max_bytes=10)


# --------------------------------------------------------------------------- browser


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


needs_chromium = pytest.mark.skipif(
    chromium() is None,
    reason="Chromium not found (looked for chromium, chromium-browser, google-chrome); "
    "install it with `bash scripts/chromium.sh --install` (CI does this)")


def open_in_chromium(page: Path, tmp: Path, *, screenshot: Path | None = None,
                     size: tuple[int, int] = (1280, 1800)) -> tuple[str, list[str]]:
    """Load `page` in headless Chromium: (DOM or '' when screenshotting, console lines).

    Console messages (``console.*`` calls and uncaught errors) are parsed from
    Chromium's log (``--enable-logging=stderr --v=0``: ``CONSOLE... "message"``).
    """
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--no-first-run", "--disable-extensions", f"--user-data-dir={tmp / 'profile'}",
           f"--window-size={size[0]},{size[1]}", "--enable-logging=stderr", "--v=0"]
    cmd += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
    proc = subprocess.run([*cmd, page.resolve().as_uri()], capture_output=True, text=True,
                          timeout=180, env=dict(os.environ, LANG="C.UTF-8"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = re.findall(r"CONSOLE[^\]]*\] (.*)", proc.stderr)
    return ("" if screenshot else proc.stdout), console


def _pixels(png: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(png) as im:
        return np.asarray(im.convert("RGB"), dtype=float)


@pytest.mark.browser
@needs_chromium
def test_console_messages_are_detected(tmp_path):
    # the check below can fail: a page with a script error is caught
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><p>x</p><script>console.error('boom'); nope();</script>"
                   "</body></html>")
    _, console = open_in_chromium(bad, tmp_path)
    assert any("boom" in c for c in console)
    assert any("nope is not defined" in c for c in console)


@pytest.mark.browser
@needs_chromium
def test_report_renders_in_chromium(experiment, tmp_path):
    report = experiment / "report.html"
    n_png = len(list((experiment / "figures").glob("*.png")))
    dom, console = open_in_chromium(report, tmp_path)
    assert console == [], console
    assert "<nav class=\"toc\">" in dom or "<nav class='toc'>" in dom
    srcs = re.findall(r"<img [^>]*src=\"([^\"]{0,30})", dom)
    assert len(srcs) == n_png and all(s.startswith("data:image/png;base64,") for s in srcs)
    # a screenshot that rendered: not blank, and the figures show in it
    shot = tmp_path / "report.png"
    size = (1280, 3200)  # tall enough to reach the first figures below the tables
    _, console = open_in_chromium(report, tmp_path, screenshot=shot, size=size)
    assert console == [], console
    pixels = _pixels(shot)
    assert pixels.shape[:2] == (size[1], size[0])
    assert pixels.std() > 20.0  # a blank (one-colour) page has 0
    # the same page without its figures differs where the figures are drawn
    bare = tmp_path / "bare.html"
    bare.write_text(re.sub(r"src='data:image/png;base64,[^']+'", "src=''",
                           report.read_text(encoding="utf-8")), encoding="utf-8")
    shot_bare = tmp_path / "bare.png"
    open_in_chromium(bare, tmp_path, screenshot=shot_bare, size=size)
    changed = (np.abs(pixels - _pixels(shot_bare)).max(axis=2) > 30).mean()
    assert changed > 0.05, f"only {changed:.1%} of the screenshot shows figures"


def test_unfinished_sweep_and_provenance_attrs(experiment, tmp_path):
    # a store with pending cells gets a banner; JSON attrs (versions, command) print as
    # readable text in the provenance table
    from stablesweep.sweep import load_config
    from stablesweep.sweep.run.execute import make_layout
    from stablesweep.sweep.store import create_store

    store = tmp_path / "sweep.zarr"
    create_store(store, make_layout(load_config(TINY)))
    import zarr

    group = zarr.open_group(str(store), mode="r+")
    group.attrs.update({"versions": json.dumps({"torch": "2.13.0", "numpy": "2.3.1"}),
                        "command": json.dumps(["stablesweep", "run", "tiny.yaml"]),
                        "started": "2026-01-01T00:00:00+00:00"})
    out = write_report(store, experiment / "fits.nc", None, tmp_path / "r.html")
    html = out.read_text(encoding="utf-8")
    assert re.search(r"The sweep is not finished: (\d+) of \1 cells are pending", html)
    assert "<th>versions</th><td>torch 2.13.0, numpy 2.3.1</td>" in html
    assert "<th>command</th><td>stablesweep run tiny.yaml</td>" in html
    assert html.index("<th>command</th>") > html.index("id='provenance'")
    assert "No figures found" in html


def test_worst_case_table_at_equal_budgets(experiment, tmp_path):
    # worst-case variables over (network, attack_depth = -1, noise_level, cell dims):
    # summarised per network and budget, "own depth" for the sentinel -1
    rng = np.random.default_rng(0)
    dims = ("scheme", "rate", "network", "attack_depth", "noise_level")
    coords = {"scheme": ["theory", "uniform"], "rate": [0.3, 0.5],
              "network": ["firenet", "fista"], "attack_depth": [-1],
              "noise_level": [1e-3, 1e-2, 1e-1]}
    shape = tuple(len(coords[d]) for d in dims)
    fits = xr.Dataset(coords=coords)
    for name, long_name in [("wc_rel_error", "worst-case relative error"),
                            ("wc_amplification", "worst-case amplification")]:
        fits[name] = (dims, rng.uniform(0.5, 3.0, shape),
                      {"long_name": long_name, "units": "1"})
    fits["attack_depth"].attrs = {"long_name": "attacked depth", "units": "1"}
    path = tmp_path / "wc.nc"
    fits.to_netcdf(path)
    html = write_report(experiment / "sweep.zarr", path, None, tmp_path / "r.html").read_text()
    part = html[html.index("id='stability-table-worst_case'"):html.index("id='sampling'")]
    assert "Summary of 24 rows per network, noise level" in part
    rows = re.findall(r"<tr>(.*?)</tr>", part, re.S)[1:]
    assert len(rows) == 6  # 2 networks x 3 budgets
    header = re.findall(r"<th[^>]*>(.*?)</th>", part)
    for row in rows:
        cells = [re.sub("<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        net, level = cells[header.index("network")], float(cells[header.index("noise_level")])
        ref = fits["wc_amplification"].sel(network=net, noise_level=level).values.ravel()
        assert cells[header.index("wc_amplification")].startswith(f"{np.median(ref):.4g} (")
    csv = _csv_tables(html)["reptest-worst_case.csv"]
    assert len(csv) == 24 and set(csv["attack_depth"]) == {-1}
    # a short table shows the sentinel as words, never as "-1"
    small = fits.isel(scheme=[0], rate=[0], noise_level=[0])
    small.to_netcdf(tmp_path / "small.nc")
    html = write_report(experiment / "sweep.zarr", tmp_path / "small.nc", None,
                        tmp_path / "s.html").read_text()
    part = html[html.index("id='stability-table-worst_case'"):html.index("id='sampling'")]
    assert "<td class='txt'>own depth</td>" in part and ">-1<" not in part
