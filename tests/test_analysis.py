"""Tests of stablesweep.analysis: fits on arrays, and the analysis of a synthetic sweep.

`synthetic_sweep` fabricates a sweep dataset in the store's layout with known rates, so
every analysed number has a known true value (it is also used by tests/test_figures.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from stablesweep.analysis import (
    analyse,
    bootstrap_fit,
    fit_exponential,
    fit_power_law,
    fit_rates,
    noise_slope,
    recovery_probability,
    select_model,
    stability_summary,
    tradeoff_table,
)

# ---------------------------------------------------------------------------------
# A synthetic sweep with known truth
# ---------------------------------------------------------------------------------

#: Truth of the synthetic sweep.
TRUTH = {
    "ergodic": {"model": "power_law", "C": 0.5, "gamma": 1.0, "C3": 0.5, "amp": 0.5},
    "firenet": {"model": "exponential", "C": 1.0, "c": 0.1, "C3": 2.0, "amp": 3.0},
}
EPS_OK, EPS_FAIL = 1e-4, 0.05  # accuracy floor of a recovered / failed trial
N_TRIALS = 4
Y_NORM = 2.0  # ‖y‖: noise_norm = noise · Y_NORM
RESTART = 8  # firenet records only at multiples of this depth
#: Trials (of N_TRIALS) recovered, by (scheme, rate, sparsity): the phase-transition truth.
RECOVERED = {
    ("theory", 0.1, "s4"): 2,
    ("theory", 0.1, "s8"): 0,
    ("theory", 0.25, "s4"): 4,
    ("theory", 0.25, "s8"): 3,
    ("uniform", 0.1, "s4"): 0,
    ("uniform", 0.1, "s8"): 0,
    ("uniform", 0.25, "s4"): 2,
    ("uniform", 0.25, "s8"): 1,
}
#: Runs that did not succeed: (network, scheme, rate, sparsity, noise, trial). The failed
#: run's error is garbage (1e3); the pending one (status "") has no error yet.
FAILED = ("firenet", "theory", 0.25, "s4", 0.0, 3)
PENDING = ("ergodic", "uniform", 0.1, "s8", 0.05, 2)
ATTACK_DEPTHS = [20, 160]  # 20 is not a firenet depth: its clean error is taken at 16
ATTACK_STEPS = 8
KEPT_STEPS = [2, 5, 7]  # attack steps whose images are kept (the attack_record coordinate)
RATE_AMP = {0.1: 1.0, 0.25: 1.5}  # amplification multiplier per rate
#: An attack that failed: (network, scheme, rate, attack_depth, trial); its records are 1e6.
ATTACK_FAILED = ("ergodic", "theory", 0.1, 20, 3)
STR = np.dtypes.StringDType()  # the store's string dtype


def amplification_truth(network: str, rate: float, trial: int, attack_depth: int, step: int):
    growth = 2.0 if (network == "firenet" and attack_depth > 100) else 1.0
    return (
        TRUTH[network]["amp"]
        * (1 + step / (ATTACK_STEPS - 1))
        * (1 + 0.1 * trial)
        * growth
        * RATE_AMP[rate]
    )


def meas_pert_norm_truth(step: int) -> float:
    return 1e-3 * 2.0**step


def eps_base(scheme: str, rate: float, sparsity: str, trial: int) -> float:
    return EPS_OK if trial < RECOVERED[(scheme, rate, sparsity)] else EPS_FAIL


def _index(coords: dict, dims: tuple[str, ...], labels: tuple) -> tuple[int, ...]:
    return tuple(list(coords[d]).index(v) for d, v in zip(dims, labels, strict=True))


def synthetic_sweep(seed: int = 0, noise_sigma: float = 0.03) -> xr.Dataset:
    """A small sweep store with known ε, C_2, γ, c, C_3, recovery and amplification.

    Laid out as `stablesweep.sweep.store` writes it (strings as StringDType, status
    "ok" / "error" / "" pending, attack records with ``attack_status``, kept images over
    ``example`` with ``example_<dim>`` coordinates), on a subset of the axes.
    rel_error = (ε_trial + C_3‖e‖ + C n^{−γ}) · exp(σ ξ) for the ergodic network and
    (ε_trial + C_3‖e‖ + C e^{−c n}) · exp(σ ξ) for FIRENET (recorded only at multiples
    of RESTART), ξ standard normal; ε_trial from `eps_base`.
    """
    rng = np.random.default_rng(seed)
    depth = np.union1d(np.geomspace(1, 200, 35).round(), np.arange(8, 201, 8))
    depth = np.union1d(depth, ATTACK_DEPTHS).astype(np.int64)
    coords = {
        "transform": ["fourier"],
        "scheme": ["theory", "uniform"],
        "rate": [0.1, 0.25],
        "sparsity": ["s4", "s8"],
        "noise": [0.0, 0.05],
        "network": list(TRUTH),
        "trial": list(range(N_TRIALS)),
        "depth": list(depth),
    }
    dims = tuple(coords)
    shape = tuple(len(v) for v in coords.values())
    err = np.full(shape, np.nan)
    status = np.full(shape[:-1], "ok", dtype=STR)
    sigma = np.zeros((1, 2, 2, 2, N_TRIALS))
    for index in np.ndindex(shape[:-1]):
        _, scheme, rate, sparsity, noise, network, trial = (
            coords[d][i] for d, i in zip(dims, index, strict=False)
        )
        truth = TRUTH[network]
        base = eps_base(scheme, rate, sparsity, trial)
        sigma[index[:4] + (trial,)] = base
        eps = base + truth["C3"] * noise * Y_NORM
        if network == "ergodic":
            curve, recorded = eps + truth["C"] * depth ** -truth["gamma"], depth > 0
        else:
            curve, recorded = eps + truth["C"] * np.exp(-truth["c"] * depth), depth % RESTART == 0
        noisy = curve * np.exp(noise_sigma * rng.standard_normal(depth.size))
        err[index] = np.where(recorded, noisy, np.nan)
    run_dims = ("network", "scheme", "rate", "sparsity", "noise", "trial")
    for run, code, value in ((FAILED, "error", 1e3), (PENDING, "", np.nan)):
        n, sc, r, sp, no, t = _index(coords, run_dims, run)
        status[0, sc, r, sp, no, n, t] = code
        err[0, sc, r, sp, no, n, t] = value

    ds = xr.Dataset(
        {
            "rel_error": (dims, err, {"long_name": "relative error", "units": "1"}),
            "status": (dims[:-1], status, {"long_name": "trial status", "units": "none"}),
            "sigma_theory": (
                ("transform", "scheme", "rate", "sparsity", "trial"),
                sigma,
                {"long_name": "σ_{s,M}(Wx)/(√s √r)", "units": "1"},
            ),
            "noise_norm": (
                ("noise", "trial"),
                np.outer(coords["noise"], np.full(N_TRIALS, Y_NORM)),
                {"long_name": "noise norm ‖e‖", "units": "1"},
            ),
        },
        coords={k: np.array(v, dtype=STR if isinstance(v[0], str) else None)
                for k, v in coords.items()},
    )
    ds["depth"].attrs = {"long_name": "depth", "units": "operator applications"}
    ds["noise"].attrs = {"long_name": "relative noise level", "units": "1"}
    ds = ds.merge(_attack_records(coords))
    ds = ds.merge(_examples(ds, rng))
    ds.attrs = {
        "config": "experiment: synthetic\nnetworks: [ergodic, firenet]\n",
        "config_hash": "0123abcd",
        "stablesweep_version": "0.1.0",
        "git_commit": "deadbeef",
        "created": "2025-01-01T00:00:00+00:00",
    }
    return ds


def _attack_records(coords: dict) -> xr.Dataset:
    """Attack records on (transform, scheme, rate) cells only: no sparsity, no noise axis."""
    dims = ("transform", "scheme", "rate", "network", "attack_depth", "trial", "attack_step")
    sizes = (1, 2, 2, 2, len(ATTACK_DEPTHS), N_TRIALS, ATTACK_STEPS)
    amp = np.zeros(sizes)
    for index in np.ndindex(sizes):
        _, _, r, n, a, t, step = index
        amp[index] = amplification_truth(
            coords["network"][n], coords["rate"][r], t, ATTACK_DEPTHS[a], step
        )
    status = np.full(sizes[:-1], "ok", dtype=STR)
    failed = _index(
        {**coords, "attack_depth": ATTACK_DEPTHS},
        ("network", "scheme", "rate", "attack_depth", "trial"),
        ATTACK_FAILED,
    )
    n, sc, r, a, t = failed
    status[0, sc, r, n, a, t] = "error"
    amp[0, sc, r, n, a, t] = 1e6
    meas = np.broadcast_to(meas_pert_norm_truth(np.arange(ATTACK_STEPS)), sizes).copy()
    return xr.Dataset(
        {
            "amplification": (dims, amp, {"long_name": "amplification", "units": "1"}),
            "meas_pert_norm": (dims, meas, {"long_name": "‖Ar‖", "units": "1"}),
            "pert_norm": (dims, 2 * meas, {"long_name": "‖r‖", "units": "1"}),
            "output_change": (dims, amp * meas, {"long_name": "‖φ(y+Ar)−φ(y)‖", "units": "1"}),
            "attack_status": (dims[:-1], status, {"long_name": "attack status"}),
        },
        coords={
            "attack_depth": ("attack_depth", ATTACK_DEPTHS, {"units": "operator applications"}),
            "attack_step": np.arange(ATTACK_STEPS),
        },
    )


def _examples(ds: xr.Dataset, rng: np.random.Generator, side: int = 16) -> xr.Dataset:
    """Kept images, one example per network (theory, rate 0.25, trial 1, attack depth 160).

    x is a disc; x + r_j adds a random direction of norm ‖r‖ at the kept step j, and
    φ(y + A r_j) = x + amplification · r_j (magnitudes stored, as the store does).
    """
    yy, xx = np.mgrid[:side, :side] / side - 0.5
    image = (xx**2 + yy**2 < 0.1).astype(float)
    direction = rng.standard_normal((side, side))
    direction /= np.linalg.norm(direction)
    cell = {"transform": "fourier", "scheme": "theory", "rate": 0.25, "attack_depth": 160,
            "trial": 1}
    networks = list(TRUTH)
    perturbed, attacked = [], []
    for network in networks:
        at = {**cell, "network": network, "attack_step": KEPT_STEPS}
        r = ds["pert_norm"].sel(at).values[:, None, None] * direction
        amp = ds["amplification"].sel(at).values[:, None, None]
        perturbed.append(np.abs(image + r))  # the store keeps magnitudes
        attacked.append(np.abs(image + amp * r))
    images, plain = ("example", "attack_record", "row", "col"), ("example", "row", "col")
    return xr.Dataset(
        {
            "example_truth": (plain, np.stack([image] * 2), {"long_name": "|x|"}),
            "example_output": (plain, np.stack([image] * 2), {"long_name": "|φ(y)|"}),
            "example_perturbed": (images, np.stack(perturbed), {"long_name": "|x + r_j|"}),
            "example_attacked": (images, np.stack(attacked), {"long_name": "|φ(y + A r_j)|"}),
        },
        coords={
            "example": [0, 1],
            "attack_record": ("attack_record", KEPT_STEPS, {"long_name": "kept attack step j"}),
            "example_network": ("example", np.array(networks, dtype=STR)),
            **{f"example_{k}": ("example", np.array([v] * 2, dtype=STR if isinstance(v, str)
                                                    else None)) for k, v in cell.items()},
        },
    )


@pytest.fixture(scope="module")
def sweep() -> xr.Dataset:
    return synthetic_sweep()


@pytest.fixture(scope="module")
def rates(sweep) -> xr.Dataset:
    return fit_rates(sweep, n_boot=20, seed=0)


def expected_eps(scheme, rate, sparsity, noise, network) -> float:
    """Mean floor over the trials that ran successfully."""
    trials = [
        t for t in range(N_TRIALS)
        if (network, scheme, rate, sparsity, noise, t) not in (FAILED, PENDING)
    ]
    return float(np.mean([
        eps_base(scheme, rate, sparsity, t) + TRUTH[network]["C3"] * noise * Y_NORM
        for t in trials
    ]))


def cells(ds: xr.Dataset):
    """Iterate over (scheme, rate, sparsity, noise, network) labels of the synthetic sweep."""
    for scheme in ds.scheme.values:
        for rate in ds.rate.values:
            for sparsity in ds.sparsity.values:
                for noise in ds.noise.values:
                    for network in ds.network.values:
                        yield str(scheme), float(rate), str(sparsity), float(noise), str(network)


# ---------------------------------------------------------------------------------
# Fits on arrays
# ---------------------------------------------------------------------------------


def multiplicative(curve: np.ndarray, rng: np.random.Generator, sigma: float = 0.05) -> np.ndarray:
    return curve * np.exp(sigma * rng.standard_normal(curve.shape))


@pytest.mark.parametrize(("gamma", "n_max"), [(1.0, 1e4), (0.5, 1e6)])
def test_fit_power_law_recovers_parameters(gamma, n_max):
    # ε = 1e-3, C = 2; 5 % multiplicative noise; n up to where ε dominates the tail.
    rng = np.random.default_rng(1)
    n = np.unique(np.geomspace(1, n_max, 80).round())
    for _ in range(5):
        fit = fit_power_law(n, multiplicative(1e-3 + 2.0 * n**-gamma, rng))
        assert fit.model == "power_law" and fit.n_points == n.size
        assert fit.params["gamma"] == pytest.approx(gamma, rel=0.03)
        assert fit.params["C"] == pytest.approx(2.0, rel=0.1)
        assert fit.params["eps"] == pytest.approx(1e-3, rel=0.25)


def test_fit_exponential_recovers_rate():
    rng = np.random.default_rng(2)
    n = np.arange(1.0, 301.0)
    for _ in range(5):
        fit = fit_exponential(n, multiplicative(1e-3 + 1.5 * np.exp(-0.05 * n), rng))
        assert fit.params["c"] == pytest.approx(0.05, rel=0.03)
        assert fit.params["C"] == pytest.approx(1.5, rel=0.1)
        assert fit.params["eps"] == pytest.approx(1e-3, rel=0.05)


def test_fit_exponential_well_scaled_at_large_depth():
    # Data starting at n = 1000, where C e^{-c n} = 0.2 with C = 1e8.
    rng = np.random.default_rng(3)
    n = np.arange(1000.0, 1400.0, 5.0)
    curve = 1e-4 + 1e8 * np.exp(-0.02 * n)
    fit = fit_exponential(n, multiplicative(curve, rng, 0.02))
    assert fit.params["c"] == pytest.approx(0.02, rel=0.03)
    assert fit.predict(n[0]) == pytest.approx(curve[0], rel=0.05)


@pytest.mark.parametrize("truth", ["power_law", "exponential"])
def test_select_model_rejects_the_wrong_model(truth):
    rng = np.random.default_rng(4)
    n = np.arange(1.0, 201.0)
    curve = 1e-3 + (2.0 / n if truth == "power_law" else np.exp(-0.05 * n))
    for _ in range(5):
        err = multiplicative(curve, rng)
        fits = {"power_law": fit_power_law(n, err), "exponential": fit_exponential(n, err)}
        assert select_model(fits).model == truth
        assert select_model(list(fits.values()), criterion="bic").model == truth


@pytest.mark.parametrize("model", ["power_law", "exponential"])
def test_bootstrap_intervals_contain_truth(model):
    rng = np.random.default_rng(5)
    n = np.arange(1.0, 201.0)
    if model == "power_law":
        truth = {"eps": 1e-3, "C": 2.0, "gamma": 1.0}
        curve = 1e-3 + 2.0 / n
    else:
        truth = {"eps": 1e-3, "C": 1.0, "c": 0.05}
        curve = 1e-3 + np.exp(-0.05 * n)
    trials = multiplicative(np.broadcast_to(curve, (8, n.size)), rng, 0.05)
    boot = bootstrap_fit(n, trials, model, n_boot=100, rng=np.random.default_rng(0))
    assert boot.model == model and boot.level == 0.95
    for name, value in truth.items():
        assert boot.samples[name].shape == (100,)
        assert boot.lower[name] <= value <= boot.upper[name], name
        assert boot.lower[name] <= boot.fit.params[name] <= boot.upper[name]
    again = bootstrap_fit(n, trials, model, n_boot=100, rng=np.random.default_rng(0))
    assert again.lower == boot.lower  # deterministic given the generator


def test_fit_handles_missing_and_too_few_points():
    n = np.arange(1.0, 11.0)
    err = 0.1 + 1.0 / n
    err[::2] = np.nan
    assert fit_power_law(n, err).n_points == 5
    few = fit_power_law(n[:2], err[:2])
    assert not few.ok and np.isnan(few.aic) and np.isnan(few.params["gamma"])
    zero_depth = fit_power_law(np.arange(0.0, 10.0), 0.1 + 1.0 / np.arange(1.0, 11.0))
    assert zero_depth.n_points == 9  # n = 0 is not a power-law depth


def test_fit_errors_name_the_parameter():
    n = np.arange(1.0, 6.0)
    with pytest.raises(ValueError, match=r"n has shape \(5,\) but err has shape \(4,\)"):
        fit_power_law(n, n[:4])
    with pytest.raises(ValueError, match="weights has negative entries"):
        fit_power_law(n, n, weights=-np.ones(5))
    with pytest.raises(ValueError, match="unknown model 'powerlaw'; expected one of: power_law"):
        bootstrap_fit(n, n[None], "powerlaw", 10, 0)
    with pytest.raises(ValueError, match=r"n_boot = 0; expected an integer >= 1"):
        bootstrap_fit(n, n[None], "power_law", 0, 0)
    with pytest.raises(ValueError, match=r"err_trials has shape \(5,\); expected \(n_trials, 5\)"):
        bootstrap_fit(n, n, "power_law", 10, 0)
    with pytest.raises(ValueError, match="unknown criterion 'aicc'"):
        select_model([fit_power_law(n, 1 / n)], criterion="aicc")


# ---------------------------------------------------------------------------------
# Analysis of the synthetic sweep
# ---------------------------------------------------------------------------------


def test_fit_rates_recovers_known_rates(sweep, rates):
    assert set(rates.dims) == {
        "transform", "scheme", "rate", "sparsity", "noise", "network", "fit_model", "bound"
    }
    for scheme, rate, sparsity, noise, network in cells(sweep):
        cell = rates.sel(
            transform="fourier", scheme=scheme, rate=rate, sparsity=sparsity, noise=noise,
            network=network,
        )
        truth = TRUTH[network]
        assert str(cell["selected_model"].values) == truth["model"]
        eps = expected_eps(scheme, rate, sparsity, noise, network)
        fitted = cell.sel(fit_model=truth["model"])
        if network == "ergodic":
            assert float(cell["gamma"]) == pytest.approx(truth["gamma"], rel=0.05)
            lo, hi = cell["gamma_ci"].values
        else:
            assert float(cell["exp_rate"]) == pytest.approx(truth["c"], rel=0.1)
            lo, hi = cell["exp_rate_ci"].values
            assert float(fitted["eps"]) == pytest.approx(eps, rel=0.05)
        assert lo < hi
        assert float(fitted["C"]) == pytest.approx(truth["C"], rel=0.2)
        if eps > 1e-3:  # ε identifiable (the n^{-γ} tail stays above 2.5e-3)
            assert float(fitted["eps"]) == pytest.approx(eps, rel=0.1)
        lo, hi = fitted["eps_ci"].values
        assert lo <= hi
        theory = np.mean([eps_base(scheme, rate, sparsity, t) for t in range(N_TRIALS)])
        assert float(cell["eps_theory"]) == pytest.approx(theory)
    assert int(rates["n_points"].sel(network="firenet").max()) == 200 // RESTART
    assert rates["eps"].attrs["units"] == "1" and "long_name" in rates["gamma"].attrs
    assert rates.attrs["config_hash"] == "0123abcd" and rates.attrs["analysis_n_boot"] == 20


def test_fit_rates_ignores_failed_runs(sweep, rates):
    network, scheme, rate, sparsity, noise, _ = FAILED
    cell = rates.sel(
        transform="fourier", scheme=scheme, rate=rate, sparsity=sparsity, noise=noise,
        network=network,
    )
    # The failed trial's error is 1e3; were it used, ε would be ~250.
    assert float(cell["eps"].sel(fit_model="exponential")) < 1e-3


def test_fit_rates_is_deterministic_per_cell(sweep, rates):
    subset = sweep.isel(rate=[1], noise=[0])
    again = fit_rates(subset, n_boot=20, seed=0)
    xr.testing.assert_allclose(again["gamma_ci"], rates["gamma_ci"].isel(rate=[1], noise=[0]))


def test_noise_slope_recovers_C3(sweep):
    out = noise_slope(sweep)
    assert "noise" not in out.dims and "trial" not in out.dims
    for network, truth in TRUTH.items():
        slope = out["noise_slope"].sel(network=network)
        # Error against ‖e‖ (noise_norm): slope C_3.
        np.testing.assert_allclose(slope, truth["C3"], rtol=0.1)
        se = out["noise_slope_se"].sel(network=network)
        assert np.all(se > 0)
        # Small where all trials share one floor; trials with different floors scatter.
        for (scheme, rate, sparsity), k in RECOVERED.items():
            if k in (0, N_TRIALS) and (network, scheme, rate, sparsity) != FAILED[:4]:
                cell = se.sel(transform="fourier", scheme=scheme, rate=rate, sparsity=sparsity)
                assert float(cell) < 0.1 * truth["C3"]
    assert out["noise_slope"].attrs["abscissa"] == "noise_norm"
    assert int(out["noise_slope_depth"].sel(network="firenet").max()) == 200
    assert int(out["noise_slope_points"].max()) == 2 * N_TRIALS


def test_noise_slope_falls_back_to_noise_level(sweep):
    out = noise_slope(sweep.drop_vars("noise_norm").isel(scheme=[0], rate=[1]))
    # Against the relative level η, ‖e‖ = η ‖y‖: slope C_3 ‖y‖.
    np.testing.assert_allclose(out["noise_slope"].sel(network="ergodic"), 0.5 * Y_NORM, rtol=0.1)
    assert out["noise_slope"].attrs["abscissa"] == "noise"


def test_noise_slope_needs_noise_axis(sweep):
    with pytest.raises(ValueError, match="needs a 'noise' dimension with at least 2 levels"):
        noise_slope(sweep.isel(noise=0, drop=True))


def test_recovery_probability_is_the_phase_transition(sweep):
    out = recovery_probability(sweep, threshold=1e-2)
    p = out["recovery_probability"]
    for (scheme, rate, sparsity), k in RECOVERED.items():
        for network in TRUTH:
            cell = dict(
                transform="fourier", scheme=scheme, rate=rate, sparsity=sparsity, network=network
            )
            expected = k / N_TRIALS
            if (network, scheme, rate, sparsity, 0.0) == FAILED[:5]:
                expected = (k - 1) / N_TRIALS  # the failed run counts as not recovered
            assert float(p.sel(noise=0.0, **cell)) == pytest.approx(expected)
            assert float(p.sel(noise=0.05, **cell)) == 0.0  # C_3‖e‖ > threshold
    # Every trial counts (the failed one too), except the pending one.
    trials = out["recovery_trials"]
    network, scheme, rate, sparsity, noise, _ = PENDING
    pending = dict(scheme=scheme, rate=rate, sparsity=sparsity, noise=noise, network=network)
    assert int(trials.sel(transform="fourier", **pending)) == N_TRIALS - 1
    assert int((trials == N_TRIALS).sum()) == trials.size - 1
    assert float(out["recovery_depth"].sel(network="firenet").max()) == 200
    assert p.attrs["threshold"] == 1e-2
    # The default threshold 1e-3 is above the ergodic tail C/n = 2.5e-3: nothing recovers.
    assert float(recovery_probability(sweep)["recovery_probability"].sel(
        network="ergodic").max()) == 0.0
    with pytest.raises(ValueError, match="threshold = -1; expected a number > 0"):
        recovery_probability(sweep, threshold=-1)


def test_recovery_probability_at_a_given_depth(sweep):
    out = recovery_probability(sweep, threshold=1e-2, depth=20)
    assert float(out["recovery_depth"].sel(network="firenet").max()) == 16
    assert float(out["recovery_depth"].sel(network="ergodic").max()) == 20


def test_stability_summary_values(sweep):
    out = stability_summary(sweep)
    assert set(out["max_amplification"].dims) == {
        "transform", "scheme", "rate", "network", "attack_depth"
    }
    for network in TRUTH:
        for rate in (0.1, 0.25):
            for a in ATTACK_DEPTHS:
                expected = amplification_truth(network, rate, N_TRIALS - 1, a, ATTACK_STEPS - 1)
                got = out["max_amplification"].sel(
                    transform="fourier", scheme="uniform", network=network, rate=rate,
                    attack_depth=a,
                )
                assert float(got) == pytest.approx(expected)
    # The failed attack (records 1e6) is left out: the worst is then the previous trial.
    network, scheme, rate, a, trial = ATTACK_FAILED
    got = out["max_amplification"].sel(
        transform="fourier", scheme=scheme, network=network, rate=rate, attack_depth=a
    )
    assert float(got) == pytest.approx(
        amplification_truth(network, rate, trial - 1, a, ATTACK_STEPS - 1)
    )
    for network in TRUTH:
        curve = out["curve_amplification"].sel(network=network, rate=0.25, attack_depth=20)
        assert curve.sizes["attack_step"] == ATTACK_STEPS
        assert np.all(np.diff(curve.values, axis=-1) > 0)
    np.testing.assert_allclose(out["curve_meas_pert_norm"].isel(attack_step=0), 1e-3)
    # Clean error: noise 0, mean over ok trials, at the largest recorded depth ≤ attack depth.
    clean = sweep["rel_error"].where(sweep["status"] == "ok").sel(noise=0.0).mean("trial")
    for network, recorded in (("ergodic", 20), ("firenet", 16)):
        np.testing.assert_allclose(
            out["clean_rel_error"].sel(network=network, attack_depth=20),
            clean.sel(network=network, depth=recorded).transpose(
                *out["clean_rel_error"].sel(network=network, attack_depth=20).dims
            ),
        )
    assert "noise" not in out["clean_rel_error"].dims
    # Without signal_norm the absolute error is not derivable: left out, never mislabelled.
    assert "clean_error" not in out and "clean_abs_error" not in out
    worst = out["tradeoff_max_amplification"]
    assert set(worst.dims) == {"network", "attack_depth"}
    assert float(worst.sel(network="firenet", attack_depth=160)) == pytest.approx(
        amplification_truth("firenet", 0.25, N_TRIALS - 1, 160, ATTACK_STEPS - 1)
    )


def test_stability_summary_from_output_change(sweep):
    out = stability_summary(sweep.drop_vars("amplification"))
    xr.testing.assert_allclose(
        out["max_amplification"], stability_summary(sweep)["max_amplification"]
    )
    with pytest.raises(ValueError, match="stability_summary needs 'amplification'"):
        stability_summary(sweep[["rel_error"]])


def test_tradeoff_table_ranks_networks(sweep):
    table = tradeoff_table(sweep)
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == [
        "network", "attack_depth", "clean_rel_error", "max_amplification",
        "stability_rank", "accuracy_rank", "pareto_optimal",
    ]
    shallow = table[table.attack_depth == 20].set_index("network")
    deep = table[table.attack_depth == 160].set_index("network")
    # At depth 20 the ergodic network is both more accurate and more stable.
    assert shallow.loc["ergodic", "stability_rank"] == 1
    assert shallow.loc["ergodic", "accuracy_rank"] == 1
    assert shallow["pareto_optimal"].to_dict() == {"ergodic": True, "firenet": False}
    # At depth 160 FIRENET is more accurate but less stable: a trade-off, both optimal.
    assert deep.loc["firenet", "accuracy_rank"] == 1
    assert deep.loc["ergodic", "stability_rank"] == 1
    assert deep["pareto_optimal"].all()
    # The same table from the stored summary.
    pd.testing.assert_frame_equal(tradeoff_table(stability_summary(sweep)), table)


def test_analyse_round_trips_through_netcdf(sweep, tmp_path):
    small = sweep.isel(rate=[1], sparsity=[0])
    out = analyse(small, n_boot=5, seed=1, threshold=1e-2)
    for name in ("gamma", "noise_slope", "recovery_probability", "max_amplification",
                 "tradeoff_clean_rel_error", "selected_model", "eps_theory", "fit_flag"):
        assert name in out, name
    assert out.attrs["Conventions"] == "CF-1.10"
    for name, var in out.variables.items():
        assert "long_name" in var.attrs, name
        if var.dtype.kind in "USOT":
            assert "units" not in var.attrs, name
        else:
            assert var.attrs["units"] not in ("none", "1/(1)", "a.u.", ""), name
    assert out.attrs["analysis_threshold"] == 1e-2 and out.attrs["git_commit"] == "deadbeef"
    assert out.attrs["analysis_depth"] == "none"
    path = tmp_path / "fits.nc"
    out.to_netcdf(path)
    with xr.open_dataset(path) as back:
        back = back.load()
    strings = ["selected_model", "fit_flag"]
    xr.testing.assert_allclose(back.drop_vars(strings), out.drop_vars(strings))
    for name in strings:
        assert back[name].values.tolist() == out[name].values.tolist()
    assert back.attrs == out.attrs
    # netCDF-3 stores the int64 attack_depth coordinate as int32.
    pd.testing.assert_frame_equal(tradeoff_table(back), tradeoff_table(out), check_dtype=False)


def test_analyse_works_on_any_subset_of_axes(sweep):
    # No trial, noise, attack or status: only rates and recovery apply.
    minimal = sweep[["rel_error"]].isel(trial=0, noise=0, scheme=[0], rate=[1], drop=True)
    minimal = minimal.drop_dims(["attack_depth", "attack_step"], errors="ignore")
    out = analyse(minimal, n_boot=3)
    assert "gamma" in out and "noise_slope" not in out and "max_amplification" not in out
    assert float(out["gamma"].sel(network="ergodic").mean()) == pytest.approx(1.0, rel=0.05)
    assert np.isnan(out["gamma_ci"].values).sum() == 0


def test_integer_status_codes(sweep):
    codes = xr.where(sweep["status"] == "ok", 0, 2).assign_attrs(
        flag_values=[0, 1, 2], flag_meanings="ok diverged failed"
    )
    as_int = sweep.assign(status=codes)
    xr.testing.assert_equal(
        recovery_probability(as_int, 1e-2)["recovery_probability"],
        recovery_probability(sweep, 1e-2)["recovery_probability"],
    )


def test_accuracy_summary_takes_each_networks_last_recorded_depth():
    from stablesweep.analysis import accuracy_summary

    depth = np.arange(1, 11)
    err = np.full((2, 2, 10), np.nan)  # network, trial, depth
    err[0] = np.linspace(1.0, 0.1, 10)  # every depth
    err[1, :, 4::5] = [[0.5, 0.2], [0.7, 0.4]]  # FIRENET-like: depths 5 and 10 only
    ds = xr.Dataset(
        {"rel_error": (("network", "trial", "depth"), err),
         "psnr": (("network", "trial"), [[20.0, 30.0], [10.0, np.nan]]),
         "ssim": (("network", "trial"), [[0.5, 0.7], [0.2, 0.4]])},
        coords={"network": ["a", "b"], "trial": [0, 1], "depth": depth})
    out = accuracy_summary(ds)
    np.testing.assert_allclose(out["full_depth_rel_error"], [0.1, 0.3])
    np.testing.assert_allclose(out["psnr_mean"], [25.0, 10.0])  # a failed trial is skipped
    np.testing.assert_allclose(out["ssim_mean"], [0.6, 0.3])
    assert out["psnr_mean"].attrs["units"] == "dB"
