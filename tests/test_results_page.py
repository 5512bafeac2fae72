"""The results page: numbers come from the results folder, verdicts follow their rules."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from stablesweep.results_page import build_page, main

NETS = ["unet", "learned-pd", "firenet", "fista"]
LEVELS = [1e-4, 1e-3, 1e-2, 1e-1]


def _stability_fits(path, amp_by_net):
    amp = np.array([amp_by_net[n] for n in NETS])[:, None, :]  # network, attack_depth, level
    ds = xr.Dataset(
        {"wc_amplification": (("network", "attack_depth", "noise_level"), amp),
         "wc_jacobian_sigma_max": (("network", "attack_depth"), amp[:, :, 0]),
         "full_depth_rel_error": ("network", [0.09, 0.05, 0.15, 0.15]),
         "psnr_mean": ("network", [28.0, 35.0, 25.0, 25.0])},
        coords={"network": NETS, "attack_depth": [-1], "noise_level": LEVELS})
    path.mkdir(parents=True)
    ds.to_netcdf(path / "fits.nc")


def _kdigits(path, lista_factor=3.0):
    rows = [{"K": k, "n": 10, "matrix_distance": 1e-3, "minimiser_distance": 3 * 10.0**-k,
             "lista_error": lista_factor * 10.0**-k, "firenet_error": 1.5 * 10.0**-k,
             "ten_to_minus_K": 10.0**-k, "lista_k_digits": lista_factor < 1,
             "firenet_k_digits": False} for k in (1, 3)]
    path.mkdir(parents=True)
    (path / "summary.json").write_text(json.dumps({"rows": rows}))


@pytest.mark.parametrize("trained_amp, verdict", [
    (2.0, "contradicted"),       # trained networks amplify less than FIRENET everywhere
    (50.0, "demonstrated"),      # more everywhere
])
def test_stability_verdict_follows_the_rule(tmp_path, trained_amp, verdict):
    results = tmp_path / "results"
    _stability_fits(results / "trained-vs-stable",
                    {"unet": [trained_amp] * 4, "learned-pd": [trained_amp] * 4,
                     "firenet": [7.0] * 4, "fista": [19.0] * 4})
    _kdigits(results / "k-digits")
    page = build_page(results, tmp_path / "docs" / "results.md").read_text()
    row = next(line for line in page.splitlines() if line.startswith("| [Stability"))
    assert f"**{verdict}**" in row
    # the numbers are the file's: the U-Net row quotes its amplification at each budget
    unet = next(line for line in page.splitlines() if line.startswith("| unet |"))
    assert unet.count(f"{trained_amp:g}") >= 3
    # what was not run says how to run it
    assert "| [The kernel trade-off](#the-kernel-trade-off) | **not run** |" in page
    assert "stablesweep tradeoff config/tradeoff/kernel-32.yaml" in page


def test_kdigits_verdict_and_agreement_with_the_paper(tmp_path):
    results = tmp_path / "results"
    _kdigits(results / "k-digits")
    page = build_page(results, tmp_path / "r.md").read_text()
    assert "| [Table 1: K digits](#table-1-k-digits) | **demonstrated** |" in page
    assert "within 5% of those values" in page and "NOT within" not in page
    other = tmp_path / "other"
    _kdigits(other / "k-digits", lista_factor=0.5)  # LISTA would get K digits
    page = build_page(other, tmp_path / "o.md").read_text()
    assert "| [Table 1: K digits](#table-1-k-digits) | **contradicted** |" in page


def test_missing_results_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["--results", str(tmp_path / "nope"), "-o", str(tmp_path / "r.md")]) == 2
    assert "is not a folder" in capsys.readouterr().err
