"""Synthetic stores for tests/test_figures*.py (no tests here): the sweep of
tests/test_analysis.py with the issue-12/15 variables added, and a worst-case attack store
at the own-depth sentinel."""

from __future__ import annotations

import numpy as np
import xarray as xr
from test_analysis import N_TRIALS, RESTART, synthetic_sweep

X_NORM = 8.0  # ‖x‖ of trial t is X_NORM · (1 + t/10)
FLOOR = 0.02  # recovery error ‖x̂ − x‖/‖x‖
LEVELS = [1e-3, 1e-2, 1e-1]
AMP = {"firenet": 2.0, "unet": 6.0, "fista": 1.2}  # worst-case amplification per network
SIGMA = {"firenet": 1.9, "unet": 5.5, "fista": 1.1}  # Jacobian σ_max per network
OWN_DEPTH = {"firenet": 200, "unet": 1, "fista": 120}
ITERS = 6


def signal_norm(trials: int = N_TRIALS) -> np.ndarray:
    return X_NORM * (1 + np.arange(trials) / 10)


def extended_sweep() -> xr.Dataset:
    """`synthetic_sweep` plus ``signal_norm``, ``opt_error``, ``recovery_error``,
    ``objective_gap`` and ``gap_bound``.

    opt_error = 0.3 n^{−1} (ergodic), 0.6 e^{−0.1 n} (firenet, at restart depths);
    objective_gap = 2 opt_error, gap_bound = 1/n for the ergodic network (none for firenet).
    """
    ds = synthetic_sweep()
    depth = ds["depth"].values.astype(float)
    opt = np.where(ds["network"].values[:, None] == "ergodic", 0.3 / depth[None, :],
                   0.6 * np.exp(-0.1 * depth[None, :]))
    opt = np.where(
        (ds["network"].values[:, None] == "ergodic") | (depth[None, :] % RESTART == 0), opt,
        np.nan)
    opt_da = xr.DataArray(opt, dims=("network", "depth"), coords={
        "network": ds["network"], "depth": ds["depth"]})
    ds["opt_error"] = (opt_da * xr.ones_like(ds["rel_error"])).where(ds["rel_error"].notnull())
    ds["opt_error"].attrs = {"long_name": "optimisation error", "units": "1"}
    ds["objective_gap"] = 2.0 * ds["opt_error"]
    ds["objective_gap"].attrs = {"long_name": "objective gap", "units": "1"}
    bound = np.where(ds["network"].values[:, None] == "ergodic", 1.0 / depth[None, :], np.nan)
    ds["gap_bound"] = (xr.DataArray(bound, dims=("network", "depth"), coords={
        "network": ds["network"], "depth": ds["depth"]}) * xr.ones_like(ds["rel_error"]))
    ds["gap_bound"].attrs = {"long_name": "the theorem's bound on the gap", "units": "1"}
    ds["recovery_error"] = xr.full_like(ds["status"], FLOOR, dtype=float)
    ds["recovery_error"].attrs = {"long_name": "recovery error", "units": "1"}
    ds["signal_norm"] = ("trial", signal_norm(), {"long_name": "‖x‖", "units": "1"})
    ds["sigma_theory"].attrs["units"] = "1/(1)"  # an old store's placeholder unit
    return ds


def worst_case_store() -> xr.Dataset:
    """Worst-case and momentum attacks of three networks at their own depth (−1).

    worst_case_error_t = ‖x_t‖ (0.1 + AMP ε) · (1 + t/20), random = ‖x_t‖ (0.1 + ε);
    worst_case_amplification = AMP (1 + t/20) (max over trials: t = N−1);
    trace: objective ‖x_t‖ (0.1 + AMP ε)(1 − 0.5^{k+1}) at step k.
    """
    nets = list(AMP)
    t = np.arange(N_TRIALS)
    eps = np.array(LEVELS)
    xn = signal_norm()
    amp = np.array([AMP[n] for n in nets])
    grow = 1 + t / 20
    shape = (len(nets), 1, N_TRIALS, len(eps))
    worst = (xn[None, None, :, None] * (0.1 + amp[:, None, None, None] * eps)
             * grow[None, None, :, None])
    rand = np.broadcast_to(xn[None, None, :, None] * (0.1 + eps), shape).copy()
    wamp = np.broadcast_to(amp[:, None, None, None] * grow[None, None, :, None], shape).copy()
    k = np.arange(ITERS + 1)
    trace = worst[..., None] * (1 - 0.5 ** (k + 1))
    steps = 5
    meas = np.broadcast_to(1e-3 * 2.0 ** np.arange(steps), (len(nets), 1, N_TRIALS, steps))
    mamp = np.broadcast_to(amp[:, None, None, None] * (1 + np.arange(steps) / 10), meas.shape)
    dims = ("network", "attack_depth", "trial", "noise_level")
    adims = ("network", "attack_depth", "trial", "attack_step")
    side = 12
    yy, xx = np.mgrid[:side, :side] / side - 0.5
    image = 0.5 + (xx**2 + yy**2 < 0.1).astype(float)  # range [0.5, 1.5]
    rng = np.random.default_rng(1)
    direction = rng.standard_normal((side, side))
    pert = np.stack([np.abs(image + s * direction) for s in (0.5, 5.0)])[None]
    attacked = np.stack([np.abs(image + 3 * s * direction) for s in (0.5, 5.0)])[None]
    ds = xr.Dataset(
        {
            "worst_case_error": (dims, worst, {"long_name": "‖φ(y+e*)−x‖", "units": "1"}),
            "random_noise_error": (dims, rand, {"long_name": "‖φ(y+e)−x‖", "units": "1"}),
            "worst_case_amplification": (dims, wamp, {"units": "1"}),
            "worst_case_trace": (dims + ("attack_iter",), trace, {"units": "1"}),
            "jacobian_sigma_max": (("network", "attack_depth", "trial"),
                                   np.broadcast_to(np.array([SIGMA[n] for n in nets])[:, None,
                                                   None], shape[:3]).copy(), {"units": "1"}),
            "signal_norm": ("trial", xn, {"units": "1"}),
            "meas_pert_norm": (adims, meas.copy(), {"units": "1"}),
            "pert_norm": (adims, 2 * meas, {"units": "1"}),
            "amplification": (adims, mamp.copy(), {"units": "1"}),
            "output_change": (adims, mamp * meas, {"units": "1"}),
            "example_truth": (("example", "row", "col"), image[None]),
            "example_output": (("example", "row", "col"), image[None]),
            "example_perturbed": (("example", "attack_record", "row", "col"), pert),
            "example_attacked": (("example", "attack_record", "row", "col"), attacked),
        },
        coords={
            "network": nets,
            "attack_depth": [-1],
            "attacked_depth": (("network", "attack_depth"),
                               np.array([[OWN_DEPTH[n]] for n in nets], dtype=np.int64)),
            "trial": t,
            "noise_level": ("noise_level", eps, {"units": "1"}),
            "attack_iter": k,
            "attack_step": np.arange(steps),
            "example": [0],
            "attack_record": [1, 4],
            "example_network": ("example", ["unet"]),
            "example_attack_depth": ("example", [-1]),
        },
    )
    return ds
