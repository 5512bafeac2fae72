"""Tests of the analysis of issues 12 and 15: labelled clean errors, worst-case summaries,
relative theory floor, rates against the minimiser, fit flags, partial stores, CF
attributes and the numeric sparsity axis.

Every analysed number is recomputed here independently (NumPy loops over the raw arrays)
from a synthetic store in the new layout, and on a tiny real sweep.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

from stablesweep.analysis import (
    EmptyStoreError,
    PartialStoreWarning,
    analyse,
    bootstrap_fit,
    fit_flag,
    fit_model,
    normalise_sparsity,
    opt_rates,
    stability_summary,
    tradeoff_table,
    worst_case_summary,
)
from stablesweep.analysis.fits import Fit
from stablesweep.analysis.rates import stall

STR = np.dtypes.StringDType()
NETWORKS = ["fista", "firenet"]
SPARSITY = ["2,2,4", "1,2,3"]  # old string labels: totals 8 and 6
N_TRIALS = 3
DEPTHS = np.arange(0, 101, 5)
LEVELS = [1e-3, 1e-2, 1e-1]
STEPS = 4
GAMMA, C_POW = 1.0, 2.0  # fista's optimisation error C/n^γ
RATE, C_EXP = 0.08, 1.5  # firenet's C·exp(−c n)
STALL_AT = 40  # in sparsity "1,2,3" firenet's optimisation error stops falling here
FAILED_ATTACK = {"sparsity": 0, "network": 1, "trial": 2}  # attack_status "error"


def new_store(seed: int = 0) -> xr.Dataset:
    """A sweep store in the contract's layout with known values (old sparsity labels)."""
    rng = np.random.default_rng(seed)
    ns, nn, nt, nd, nl = len(SPARSITY), len(NETWORKS), N_TRIALS, DEPTHS.size, len(LEVELS)
    x_norm = rng.uniform(5, 20, (ns, nt))
    sigma = rng.uniform(0.1, 1.0, (ns, nt))
    rel = rng.uniform(0.01, 0.5, (ns, nn, nt, nd))
    opt = np.full((ns, nn, nt, nd), np.nan)
    for s in range(ns):
        for t in range(nt):
            wobble = np.exp(0.02 * rng.standard_normal(nd))
            n = DEPTHS.astype(float)
            with np.errstate(divide="ignore"):
                opt[s, 0, t] = np.where(n > 0, C_POW * n**-GAMMA * wobble, np.nan)
            curve = C_EXP * np.exp(-RATE * n)
            if s == 1:
                curve = np.maximum(curve, C_EXP * np.exp(-RATE * STALL_AT))
                curve = np.where(n >= STALL_AT, curve * (1 - 1e-4 * (n - STALL_AT)), curve)
            else:
                curve = curve * wobble
            opt[s, 1, t] = np.where(n % 10 == 0, curve, np.nan)  # restarts every 10
    recovery = rng.uniform(0.01, 0.1, (ns, nn, nt))
    clean_abs = rng.uniform(0.5, 3.0, (ns, nn, 1, nt))
    meas = rng.uniform(1e-3, 1.0, (ns, nn, 1, nt, STEPS))
    amp = rng.uniform(1.0, 5.0, (ns, nn, 1, nt, STEPS))
    wc = rng.uniform(1.0, 4.0, (ns, nn, 1, nt, nl))
    rnd = wc * rng.uniform(0.5, 1.0, wc.shape)
    change = rng.uniform(0.1, 2.0, wc.shape)
    pert = rng.uniform(0.01, 1.0, wc.shape)
    jac = rng.uniform(1.0, 10.0, (ns, nn, 1, nt))
    status = np.full((ns, nn, nt), "ok", dtype=STR)
    attack_status = np.full((ns, nn, 1, nt), "ok", dtype=STR)
    f = FAILED_ATTACK
    attack_status[f["sparsity"], f["network"], 0, f["trial"]] = "error"
    for arr in (wc, rnd, change, pert):
        arr[f["sparsity"], f["network"], 0, f["trial"]] = 1e6
    fwd = ("sparsity", "network", "trial")
    att = ("sparsity", "network", "attack_depth", "trial")
    one = {"units": "1"}
    ds = xr.Dataset(
        {
            "rel_error": (fwd + ("depth",), rel, {"long_name": "relative error", **one}),
            "opt_error": (fwd + ("depth",), opt, {"long_name": "‖φ_n(y) − x̂‖/‖x‖", **one}),
            "recovery_error": (fwd, recovery, {"long_name": "‖x̂ − x‖/‖x‖", **one}),
            "status": (fwd, status, {"long_name": "status"}),
            "signal_norm": (("sparsity", "trial"), x_norm, {"long_name": "‖x‖", **one}),
            "sigma_theory": (("sparsity", "trial"), sigma, {"long_name": "σ", **one}),
            "attack_clean_error": (att, clean_abs, {"long_name": "‖φ(y) − x‖", **one}),
            "attack_status": (att, attack_status, {"long_name": "attack status"}),
            "meas_pert_norm": (att + ("attack_step",), meas, {"long_name": "‖Ar‖", **one}),
            "amplification": (att + ("attack_step",), amp, {"long_name": "amp", **one}),
            "worst_case_error": (att + ("noise_level",), wc, one),
            "random_noise_error": (att + ("noise_level",), rnd, one),
            "worst_case_change": (att + ("noise_level",), change, one),
            "worst_case_pert_norm": (att + ("noise_level",), pert, one),
            "jacobian_sigma_max": (att, jac, one),
            "done": (("sparsity", "network", "attack_depth"), np.ones((ns, nn, 1), np.int8)),
        },
        coords={
            "sparsity": np.array(SPARSITY, dtype=STR),
            "network": np.array(NETWORKS, dtype=STR),
            "trial": np.arange(nt),
            "depth": ("depth", DEPTHS, {"long_name": "depth", "units": "1"}),
            "attack_depth": [-1],
            "attack_step": np.arange(STEPS),
            "noise_level": LEVELS,
        },
        attrs={"config": "experiment: synthetic\n", "git_commit": "abc"},
    )
    return ds


@pytest.fixture(scope="module")
def store() -> xr.Dataset:
    return new_store()


def attack_ok(ds: xr.Dataset) -> np.ndarray:
    return ds["attack_status"].values == "ok"


# ----------------------------------------------------------------- clean error, labels


def test_clean_rel_and_abs_error_recomputed(store):
    out = stability_summary(store)
    x = store["signal_norm"].values  # (s, t)
    clean = store["attack_clean_error"].values  # (s, n, a, t)
    ok = attack_ok(store)
    for s in range(len(SPARSITY)):
        for n in range(len(NETWORKS)):
            keep = ok[s, n, 0]
            rel = np.mean(clean[s, n, 0][keep] / x[s][keep])
            absolute = np.mean(clean[s, n, 0][keep])
            where = {"sparsity": s, "network": n, "attack_depth": 0}
            assert float(out["clean_rel_error"].isel(where)) == pytest.approx(rel)
            assert float(out["clean_abs_error"].isel(where)) == pytest.approx(absolute)
    # The relative error is not the absolute one (the bug of issue 12).
    assert not np.allclose(out["clean_rel_error"], out["clean_abs_error"])
    assert "ABSOLUTE" in out["clean_abs_error"].attrs["long_name"]
    assert "/‖x‖" in out["clean_rel_error"].attrs["long_name"]
    assert "clean_error" not in out and "tradeoff_clean_error" not in out
    np.testing.assert_allclose(
        out["tradeoff_clean_rel_error"].sel(attack_depth=-1),
        out["clean_rel_error"].sel(attack_depth=-1).mean("sparsity").transpose("network"),
    )
    table = tradeoff_table(out)
    assert "clean_rel_error" in table and "clean_error" not in table
    expected = out["tradeoff_clean_rel_error"].sel(attack_depth=-1).to_series()
    got = table.set_index("network")["clean_rel_error"]
    for network in NETWORKS:
        assert got[network] == pytest.approx(expected[network])


def test_curve_rel_meas_pert_norm(store):
    out = stability_summary(store)
    meas = store["meas_pert_norm"].values  # (s, n, a, t, step)
    x = store["signal_norm"].values
    ok = attack_ok(store)
    for s in range(len(SPARSITY)):
        for n in range(len(NETWORKS)):
            keep = ok[s, n, 0]
            expected = (meas[s, n, 0][keep] / x[s][keep][:, None]).mean(axis=0)
            got = out["curve_rel_meas_pert_norm"].isel(sparsity=s, network=n, attack_depth=0)
            np.testing.assert_allclose(got.transpose("attack_step"), expected)
    var = out["curve_rel_meas_pert_norm"]
    assert "‖x‖" in var.attrs["long_name"] and var.attrs["reference"] == "signal_norm"
    # With ‖y‖ stored it is the reference.
    with_y = store.assign(y_norm=2.0 * store["signal_norm"])
    var = stability_summary(with_y)["curve_rel_meas_pert_norm"]
    np.testing.assert_allclose(var, out["curve_rel_meas_pert_norm"] / 2.0)
    assert "‖y‖" in var.attrs["long_name"] and var.attrs["reference"] == "y_norm"


# ----------------------------------------------------------------- worst case


def test_worst_case_summary_recomputed(store):
    out = worst_case_summary(store)
    x = store["signal_norm"].values
    ok = attack_ok(store)
    v = {k: store[k].values for k in ("worst_case_error", "random_noise_error",
                                      "worst_case_change", "worst_case_pert_norm",
                                      "jacobian_sigma_max")}
    for s in range(len(SPARSITY)):
        for n in range(len(NETWORKS)):
            keep = ok[s, n, 0]
            xs = x[s][keep][:, None]
            wc = (v["worst_case_error"][s, n, 0][keep] / xs).mean(axis=0)
            rnd = (v["random_noise_error"][s, n, 0][keep] / xs).mean(axis=0)
            change = (v["worst_case_change"][s, n, 0][keep] / xs).mean(axis=0)
            amp = (v["worst_case_change"][s, n, 0][keep]
                   / v["worst_case_pert_norm"][s, n, 0][keep]).max(axis=0)
            where = {"sparsity": s, "network": n, "attack_depth": 0}
            got = {k: out[k].isel(where).transpose(...).values for k in out.data_vars}
            np.testing.assert_allclose(got["wc_rel_error"], wc)
            np.testing.assert_allclose(got["wc_random_rel_error"], rnd)
            np.testing.assert_allclose(got["wc_ratio"], wc / rnd)
            np.testing.assert_allclose(got["wc_change_rel"], change)
            np.testing.assert_allclose(got["wc_amplification"], amp)
            assert float(got["wc_jacobian_sigma_max"]) == pytest.approx(
                v["jacobian_sigma_max"][s, n, 0][keep].mean()
            )
    assert set(out["wc_rel_error"].dims) == {"sparsity", "network", "attack_depth",
                                             "noise_level"}
    assert out["noise_level"].attrs["units"] == "1"
    # A stored amplification is used as is.
    stored = store.assign(worst_case_amplification=store["worst_case_change"] * 0 + 7.0)
    np.testing.assert_allclose(worst_case_summary(stored)["wc_amplification"], 7.0)


def test_worst_case_summary_on_an_old_store(store):
    old = store.drop_vars(["worst_case_change", "worst_case_pert_norm", "jacobian_sigma_max"])
    out = worst_case_summary(old)
    assert set(out.data_vars) == {"wc_rel_error", "wc_random_rel_error", "wc_ratio"}
    xr.testing.assert_allclose(out["wc_ratio"], worst_case_summary(store)["wc_ratio"])
    with pytest.raises(ValueError, match="random_noise_error"):
        worst_case_summary(store.drop_vars("random_noise_error"))


# ----------------------------------------------------------------- theory floor, rates


def test_eps_theory_rel_and_absolute_label(store):
    out = analyse(store, n_boot=5)
    expected = (store["sigma_theory"].values / store["signal_norm"].values).mean(axis=1)
    for s in range(len(SPARSITY)):
        np.testing.assert_allclose(out["eps_theory_rel"].isel(sparsity=s), expected[s])
        np.testing.assert_allclose(
            out["eps_theory"].isel(sparsity=s), store["sigma_theory"].values[s].mean()
        )
    assert out["eps_theory_rel"].attrs["units"] == "1"
    assert "ABSOLUTE" in out["eps_theory"].attrs["long_name"]
    assert "relative" in out["eps_theory_rel"].attrs["long_name"]
    names = list(out.data_vars)
    assert names.index("recovery_floor") == names.index("eps_theory_rel") + 1


def test_fixed_floor_fit_is_exact_on_clean_data():
    n = np.arange(1.0, 40.0)
    fit = fit_model("power_law", n, 3.0 * n**-0.7, floor=0.0)
    assert fit.n_params == 2
    assert fit.params == pytest.approx({"eps": 0.0, "C": 3.0, "gamma": 0.7}, rel=1e-8)
    fit = fit_model("exponential", n, 2.0 * np.exp(-0.3 * n), floor=0.0)
    assert fit.params == pytest.approx({"eps": 0.0, "C": 2.0, "c": 0.3}, rel=1e-8)
    # A free floor absorbs data that a floorless model cannot: fits differ.
    data = 0.1 + n**-1.0
    free = fit_model("power_law", n, data)
    fixed = fit_model("power_law", n, data, floor=0.0)
    assert free.params["eps"] == pytest.approx(0.1, rel=1e-3)
    assert fixed.params["gamma"] < 0.9
    fixed_at = fit_model("power_law", n, data, floor=0.1)
    assert fixed_at.params["gamma"] == pytest.approx(1.0, rel=1e-6)
    with pytest.raises(ValueError, match="floor = -1"):
        fit_model("power_law", n, data, floor=-1)


def test_opt_rates_recover_known_rates_and_stall(store):
    out = opt_rates(store, n_boot=30, seed=1)
    fista = out.sel(network="fista")
    np.testing.assert_allclose(fista["opt_gamma"], GAMMA, rtol=0.03)
    np.testing.assert_allclose(fista["opt_C"].sel(fit_model="power_law"), C_POW, rtol=0.1)
    assert np.all(fista["opt_gamma_low"] <= GAMMA + 0.02)
    assert np.all(fista["opt_gamma_high"] >= GAMMA - 0.02)
    assert list(fista["opt_model"].values) == ["power_law"] * 2
    assert list(fista["opt_fit_flag"].sel(fit_model="power_law").values) == ["", ""]
    assert np.all(np.isnan(fista["stalled"]))  # only FIRENET is checked
    fire = out.sel(network="firenet", sparsity="2,2,4")
    assert float(fire["opt_c"]) == pytest.approx(RATE, rel=0.03)
    assert str(fire["opt_model"].values) == "exponential"
    assert str(fire["opt_fit_flag"].sel(fit_model="exponential").values) == ""
    assert float(fire["stalled"]) == 0.0 and np.isnan(fire["stall_depth"])
    stalled = out.sel(network="firenet", sparsity="1,2,3")
    assert float(stalled["stalled"]) == 1.0
    assert float(stalled["stall_depth"]) == STALL_AT
    np.testing.assert_allclose(
        out["recovery_floor"].transpose("sparsity", "network"),
        store["recovery_error"].mean("trial").transpose("sparsity", "network"),
    )
    for name in ("opt_c", "opt_c_low", "opt_c_high"):
        assert out[name].attrs["units"] == "1"
    assert "units" not in out["opt_fit_flag"].attrs and "comment" in out["opt_fit_flag"].attrs


def test_stall_rule():
    n = np.arange(1.0, 9.0)
    falling = 0.5**n
    assert stall(n, falling) == (0.0, pytest.approx(np.nan, nan_ok=True))
    flat = np.array([1.0, 0.5, 0.3, 0.29, 0.288, 0.287, 0.2869, 0.2868])
    stalled, depth = stall(n, flat)
    assert stalled == 1.0 and depth == 3.0  # 0.3 → 0.2868 is less than 10 %
    tiny = flat * 1e-8  # converged below 1e-6: not a stall
    assert stall(n, tiny)[0] == 0.0
    assert np.isnan(stall(n[:3], flat[:3])[0])  # too few restarts to decide


# ----------------------------------------------------------------- fit flags


def test_fit_flag_rules():
    rng = np.random.default_rng(3)
    n = np.arange(1.0, 30.0)
    trials = 0.5 * n**-1.0 * np.exp(0.05 * rng.standard_normal((6, n.size)))
    mean = trials.mean(axis=0)
    fit = fit_model("power_law", n, mean, floor=0.0)
    boot = bootstrap_fit(n, trials, "power_law", 20, 0, fit=fit, floor=0.0)
    assert fit_flag(fit, n, mean, boot, floor_fitted=False) == ""
    # Too few points.
    few = fit_model("power_law", n[:3], mean[:3], floor=0.0)
    assert "too few points (k < 4)" in fit_flag(few, n[:3], mean[:3])
    # A step, not a rate: degenerate parameters (γ = 1471 in issue 15).
    steep = Fit("power_law", {"eps": 0.0, "C": np.inf, "gamma": 1471.0}, 0.1, n.size)
    assert fit_flag(steep, n, mean) == "degenerate parameters"
    # Floors above the data.
    high = Fit("exponential", {"eps": 2 * mean.min(), "C": 1.0, "c": 0.1}, 0.1, n.size)
    assert fit_flag(high, n, mean) == "floor above the data"
    assert fit_flag(high, n, mean, floor_fitted=False) == ""
    above = Fit("exponential", {"eps": 2 * mean.max(), "C": 1.0, "c": 0.1}, 0.1, n.size)
    assert fit_flag(above, n, mean) == "model floor above every measured error"
    # One trial: every resample is the same, the interval collapses.
    one = bootstrap_fit(n, trials[:1], "power_law", 10, 0, floor=0.0)
    flag = fit_flag(one.fit, n, trials[0], one, floor_fitted=False)
    assert flag == "bootstrap interval collapsed"


# ----------------------------------------------------------------- stores, CF, sparsity


def test_analyse_refuses_an_empty_store(store):
    empty = store.assign(done=store["done"] * 0)
    with pytest.raises(EmptyStoreError, match=r"no finished cell \(0 of 4 done\)"):
        analyse(empty)
    assert issubclass(EmptyStoreError, ValueError)


def test_analyse_warns_on_a_partial_store(store):
    partial = store.copy()
    done = partial["done"].values.copy()
    done[1, 0, 0] = 0
    partial["done"] = (partial["done"].dims, done)
    with pytest.warns(PartialStoreWarning, match=r"1 of 4 cells are missing \("
                      r"sparsity=1,2,3, network=fista, attack_depth=-1\)"):
        out = analyse(partial, n_boot=3)
    assert (out.attrs["cells_done"], out.attrs["cells_total"], out.attrs["cells_missing"]) == (
        3, 4, 1
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        complete = analyse(store, n_boot=3)
    assert complete.attrs["cells_missing"] == 0


def test_analyse_output_follows_cf(store, tmp_path):
    out = analyse(store, n_boot=5)
    assert out.attrs["Conventions"] == "CF-1.10"
    for name in ("clean_rel_error", "clean_abs_error", "tradeoff_clean_rel_error",
                 "tradeoff_clean_abs_error", "curve_rel_meas_pert_norm", "wc_rel_error",
                 "wc_random_rel_error", "wc_ratio", "wc_amplification", "wc_change_rel",
                 "wc_jacobian_sigma_max", "eps_theory_rel", "opt_gamma", "opt_C", "opt_c",
                 "opt_model", "opt_fit_flag", "opt_gamma_low", "opt_gamma_high",
                 "opt_c_low", "opt_c_high", "recovery_floor", "stalled", "stall_depth",
                 "fit_flag"):
        assert name in out, name
    for name, var in out.variables.items():
        assert var.attrs.get("long_name"), name
        if var.dtype.kind in "USOT":
            assert "units" not in var.attrs, name
        else:
            assert var.attrs["units"] not in ("", "none", "1/(1)", "a.u."), name
    path = tmp_path / "fits.nc"
    out.to_netcdf(path)
    with xr.open_dataset(path) as back:
        assert back.attrs["Conventions"] == "CF-1.10"
        assert back["opt_fit_flag"].values.tolist() == out["opt_fit_flag"].values.tolist()


def test_normalise_sparsity(store):
    new = normalise_sparsity(store)
    assert new["sparsity"].values.tolist() == [8, 6]
    assert new["sparsity"].dtype == np.int64
    assert new["sparsity_pattern"].dims == ("sparsity", "level")
    assert new["sparsity_pattern"].sel(sparsity=6).values.tolist() == [1, 2, 3]
    assert new["level"].values.tolist() == [1, 2, 3]
    xr.testing.assert_equal(
        new["rel_error"].sel(sparsity=6).reset_coords(drop=True),
        store["rel_error"].sel(sparsity="1,2,3").reset_coords(drop=True),
    )
    xr.testing.assert_identical(normalise_sparsity(new), new)  # already numeric
    odd = store.assign_coords(sparsity=np.array(["s4", "s8"], dtype=STR))
    xr.testing.assert_identical(normalise_sparsity(odd), odd)  # not a pattern: untouched
    padded = normalise_sparsity(store.assign_coords(sparsity=np.array(["4,4", "1,2,3"])))
    assert padded["sparsity_pattern"].sel(sparsity=8).values.tolist() == [4, 4, 0]
    with pytest.raises(ValueError, match="repeated totals"):
        normalise_sparsity(store.assign_coords(sparsity=np.array(["2,4", "4,2"])))
    out = analyse(store, n_boot=3)
    assert out["sparsity"].values.tolist() == [8, 6]
    assert out["sparsity_pattern"].sel(sparsity=8).values.tolist() == [2, 2, 4]


# ----------------------------------------------------------------- a real sweep


TINY = {
    "experiment": "tiny-worst-case",
    "seed": 3,
    "trials": 2,
    "problem": {
        "transform": "fourier",
        "resolution": 16,
        "sampling": {"scheme": "uniform", "rate": 0.5},
        "signal": {"kind": "sparse-in-levels", "sparsity": [[2, 2, 2, 2], [1, 2, 3, 4]]},
        "noise": 0.0,
    },
    "networks": [
        {"name": "fista", "depth": 12, "params": {"lam": 1.0e-3}},
        {"name": "firenet", "depth": 20, "params": {"lam": 1.0e-3, "p": 5}},
    ],
    "attack": {"kind": "worst-case", "budget": [1.0e-2, 1.0e-1],
               "params": {"steps": 2, "restarts": 1}},
}


@pytest.fixture(scope="module")
def real_store(tmp_path_factory) -> xr.Dataset:
    from stablesweep.sweep import load_config, run_sweep

    path = tmp_path_factory.mktemp("sweep") / "sweep.zarr"
    run_sweep(load_config(TINY), path, workers=1, progress=False)
    with xr.open_zarr(path) as ds:
        yield ds.load()


def test_analyse_a_real_worst_case_sweep(real_store, tmp_path):
    ds = real_store
    out = analyse(ds, n_boot=5)
    assert out["sparsity"].values.tolist() == [8, 10]
    assert out["sparsity_pattern"].sel(sparsity=10).values.tolist() == [1, 2, 3, 4]
    x = ds["signal_norm"].values  # (sparsity, trial)
    ok = ds["attack_status"].values == "ok"
    wc = ds["worst_case_error"].transpose("sparsity", "network", "attack_depth", "trial",
                                          "noise_level").values
    rnd = ds["random_noise_error"].transpose(*ds["worst_case_error"].dims).values
    got = out["wc_rel_error"].transpose("sparsity", "network", "attack_depth", "noise_level")
    got_rnd = out["wc_random_rel_error"].transpose(*got.dims)
    for s in range(ds.sizes["sparsity"]):
        for n in range(ds.sizes["network"]):
            keep = ok[s, n, 0]
            expected = (wc[s, n, 0][keep] / x[s][keep][:, None]).mean(axis=0)
            expected_rnd = (rnd[s, n, 0][keep] / x[s][keep][:, None]).mean(axis=0)
            np.testing.assert_allclose(got.values[s, n, 0], expected)
            np.testing.assert_allclose(got_rnd.values[s, n, 0], expected_rnd)
    # The worst case is at least as bad as random noise of the same norm.
    assert np.all(out["wc_ratio"].values > 0.9)
    np.testing.assert_allclose(
        out["eps_theory_rel"].transpose("sparsity", "network").values[:, 0],
        (ds["sigma_theory"].values / x).mean(axis=1),
    )
    assert out.attrs["cells_done"] == out.attrs["cells_total"] == ds["done"].size
    out.to_netcdf(tmp_path / "fits.nc")


MOMENTUM = {
    "experiment": "tiny-momentum",
    "seed": 3,
    "trials": 2,
    "problem": {
        "transform": "fourier",
        "resolution": 16,
        "sampling": {"scheme": "uniform", "rate": 0.5},
        "signal": {"kind": "sparse-in-levels", "sparsity": [2, 2, 2, 2]},
        "noise": [0.0, 0.01],
    },
    "networks": [
        {"name": "fista", "depth": 12, "params": {"lam": 1.0e-3}},
        {"name": "firenet", "depth": 20, "params": {"lam": 1.0e-3, "p": 5}},
    ],
    "attack": {"kind": "momentum", "depths": [5],
               "params": {"lam": 0.01, "eta": 0.01, "tau": 1.0e-3, "steps": 2,
                          "record_every": 1}},
}


@pytest.fixture(scope="module")
def momentum_store(tmp_path_factory) -> xr.Dataset:
    from stablesweep.sweep import load_config, run_sweep

    path = tmp_path_factory.mktemp("momentum") / "sweep.zarr"
    run_sweep(load_config(MOMENTUM), path, workers=1, progress=False)
    with xr.open_zarr(path) as ds:
        yield ds.load()


def test_clean_errors_of_a_real_momentum_sweep(momentum_store):
    ds = momentum_store
    out = analyse(ds, n_boot=3)
    # Independent route: the forward pass's relative error at the attacked depth 5 (both
    # networks record it), without noise; absolute = relative · ‖x‖.
    rel = ds["rel_error"].sel(noise=0.0, depth=5)
    x = ds["signal_norm"].sel(noise=0.0)
    for network in ("fista", "firenet"):
        got_rel = float(out["clean_rel_error"].sel(network=network, attack_depth=5))
        got_abs = float(out["clean_abs_error"].sel(network=network, attack_depth=5))
        assert got_rel == pytest.approx(float(rel.sel(network=network).mean()), rel=1e-5)
        assert got_abs == pytest.approx(float((rel * x).sel(network=network).mean()), rel=1e-5)
        assert got_abs > 1.0 > got_rel  # the 7.01 against 0.912, here ~1.6 vs 0.9
    table = tradeoff_table(out)
    np.testing.assert_allclose(
        table.set_index("network").loc[["fista", "firenet"], "clean_rel_error"],
        [float(out["tradeoff_clean_rel_error"].sel(network=n, attack_depth=5))
         for n in ("fista", "firenet")],
    )
    expected = (ds["meas_pert_norm"] / x).mean("trial")
    np.testing.assert_allclose(
        out["curve_rel_meas_pert_norm"].transpose(*expected.dims), expected, rtol=1e-12
    )
    # A partial store: one cell marked pending.
    partial = ds.copy()
    done = partial["done"].values.copy()
    done.flat[0] = 0
    partial["done"] = (partial["done"].dims, done)
    with pytest.warns(PartialStoreWarning, match=f"1 of {done.size} cells are missing"):
        analyse(partial, n_boot=3)
