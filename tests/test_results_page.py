"""The results page: numbers come from the results folder, verdicts follow their rules."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import xarray as xr

from stablesweep.results_page import build_page, main

NETS = ["unet", "learned-pd", "firenet", "fista"]
LEVELS = [1e-4, 1e-3, 1e-2, 1e-1]


def _stability_store(path, amp_by_net, errors=None):
    """A worst-case sweep store: 2 trials per network, amplification per budget."""
    amp = np.array([amp_by_net[n] for n in NETS], dtype=float)[:, None, None, :]
    amp = np.repeat(amp, 2, axis=2)  # network, attack_depth, trial, level
    amp[:, :, 1] *= 0.5  # trial 1 amplifies less: the table must pair per trial
    errors = errors or {"unet": 0.09, "learned-pd": 0.05, "firenet": 0.15, "fista": 0.15}
    err = np.array([errors[n] for n in NETS])[:, None, None] * np.ones((1, 1, 2))
    cfg = ("attack:\n  kind: worst-case\n  levels: [1.0e-4, 1.0e-3, 1.0e-2, 1.0e-1]\n"
           "  params: {objective: change, init: jacobian, steps: 100, tol: 1.0e-3}\n")
    ds = xr.Dataset(
        {"worst_case_amplification": (("network", "attack_depth", "trial", "noise_level"), amp),
         "jacobian_sigma_max": (("network", "attack_depth", "trial"), amp[..., 0] * 1.001),
         "jacobian_residual": (("network", "attack_depth", "trial"), np.full(err.shape, 1e-7)),
         "attack_clean_error": (("network", "attack_depth", "trial"), err * 10.0),
         "attack_status": (("network", "attack_depth", "trial"),
                           np.full(err.shape, "ok", dtype="<U2")),
         "worst_case_steps": (("network", "attack_depth", "trial", "noise_level"),
                              np.full(amp.shape, 12.0)),
         "worst_case_hit_cap": (("network", "attack_depth", "trial", "noise_level"),
                                np.zeros(amp.shape)),
         "signal_norm": (("trial",), [10.0, 10.0]),
         "zero_filling_error": (("trial",), [0.3, 0.3])},
        coords={"network": NETS, "attack_depth": [-1], "trial": [0, 1],
                "noise_level": LEVELS}, attrs={"config": cfg})
    path.mkdir(parents=True)
    with warnings.catch_warnings():  # fixed-width strings and consolidated metadata in v3
        warnings.simplefilter("ignore")
        ds.to_zarr(path / "sweep.zarr")


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
    _stability_store(results / "trained-vs-stable",
                     {"unet": [trained_amp] * 4, "learned-pd": [trained_amp] * 4,
                      "firenet": [7.0] * 4, "fista": [19.0] * 4})
    _kdigits(results / "k-digits")
    page = build_page(results, tmp_path / "docs" / "results.md").read_text()
    row = next(line for line in page.splitlines() if line.startswith("| [Stability"))
    assert f"**{verdict}**" in row
    # one row per cell and trial: trial 0 quotes its amplification at each budget, trial 1
    # its own (half), each next to that trial's sigma_max (paired, not max against mean)
    unet = [line for line in page.splitlines() if line.startswith("| unet |")]
    assert len(unet) == 2
    t0, t1 = (next(r for r in unet if f"| {t} |" in r) for t in (0, 1))
    assert t0.count(f"| {trained_amp:g} |") >= 3
    assert t1.count(f"| {trained_amp / 2:g} |") >= 3
    assert "| 0.999 |" in t0  # amplification at 1e-4 / sigma_max of the same trial
    # errors are relative (clean error / ||x||) next to zero-filling's on the same trial
    assert "| 0.09 | 0.3 |" in t0
    assert "zero-filling A*y (baseline)" in page
    assert "Every network's clean error is below zero-filling's" in page
    assert "at most 100 steps per start" in page and "ascended from the Jacobian" in page
    # what was not run says how to run it
    assert "| [The kernel trade-off](#the-kernel-trade-off) | **not run** |" in page
    assert "stablesweep tradeoff config/tradeoff/kernel-32.yaml" in page


def test_a_network_no_better_than_zero_filling_is_flagged(tmp_path):
    results = tmp_path / "results"
    _stability_store(results / "stability", {n: [3.0] * 4 for n in NETS},
                     errors={"unet": 0.09, "learned-pd": 0.05, "firenet": 0.29, "fista": 0.1})
    page = build_page(results, tmp_path / "r.md").read_text()
    flagged = [line for line in page.splitlines() if "⚠ not below zero-filling" in line]
    assert flagged and all(line.startswith("| firenet ⚠") for line in flagged)
    assert "Flagged (no better than zero-filling): firenet." in page


def _rates_fits(path, pd_gamma, pd_ratio):
    nets = ["firenet-p20", "primal-dual", "fista"]
    ds = xr.Dataset(
        {"gap_gamma": ("network", [np.nan, pd_gamma, 4.0]),
         "gap_gamma_low": ("network", [np.nan, pd_gamma - 0.01, 3.9]),
         "gap_gamma_high": ("network", [np.nan, pd_gamma + 0.01, 4.1]),
         "gap_slopes": (("network", "octave"), np.ones((3, 4))),
         "gap_bound_ratio": ("network", [np.nan, pd_ratio, 0.01]),
         "gap_bound_ratio_final": ("network", [np.nan, pd_ratio, 0.001]),
         "opt_gamma_tail": ("network", [np.nan, 0.8, 1.9]),
         "opt_gamma_tail_low": ("network", [np.nan, 0.7, 1.8]),
         "opt_gamma_tail_high": ("network", [np.nan, 0.9, 2.0]),
         "error_bound_C_theory": ("network", [1.0, 14.5, 2.0]),
         "error_bound_C_theory_half": ("network", [1.0, 14.5, 1.0]),
         "error_bound_eps": ("network", [0.15] * 3),
         "error_floor": ("network", [0.08] * 3),
         "full_depth_rel_error": ("network", [0.08, 0.095, 0.08]),
         "recovery_floor": ("network", [0.08] * 3),
         "opt_fit_flag": ("network", ["stalled from depth 80", "", ""])},
        coords={"network": nets, "octave": [0.125, 0.25, 0.5, 1.0]},
        attrs={"config": "problem: {resolution: 64}\n"})
    path.mkdir(parents=True)
    ds.to_netcdf(path / "fits.nc")


@pytest.mark.parametrize("pd_gamma, pd_ratio, verdict", [
    (0.999, 0.97, "demonstrated"),   # the gap falls like 1/n below Chambolle-Pock's bound
    (0.80, 0.97, "not at this scale"),  # below the bound but slower than the rule asks
    (0.999, 1.20, "contradicted"),   # the theorem's bound is exceeded
])
def test_convergence_verdict_is_on_the_gap_and_its_bound(tmp_path, pd_gamma, pd_ratio,
                                                         verdict):
    results = tmp_path / "results"
    _rates_fits(results / "rates", pd_gamma, pd_ratio)
    page = build_page(results, tmp_path / "r.md").read_text()
    row = next(line for line in page.splitlines() if line.startswith("| [Convergence"))
    assert f"**{verdict}**" in row
    pd_row = next(line for line in page.splitlines() if line.startswith("| 64² | None | "
                                                                         "primal-dual | "))
    assert f"{pd_gamma:.3g} [" in pd_row
    # one C: primal-dual's C of the first half holds for all depths, fista's does not
    assert "One C holds in 2 of 3 cells; not in 64² None fista." in page
    assert "no gap theorem" in page


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
