"""Worst-case bounded-noise attacks: worst against random noise at equal budgets.

The worst-case attack (DESIGN.md §3) searches, for each budget ε (the ``noise_level``
coordinate), the measurement perturbation e with ‖e‖ ≤ ε‖y‖ that maximises the error;
random noise of the same norm is the reference. Per trial the store holds

    worst_case_error   ‖φ(y + e*) − x‖,          random_noise_error   ‖φ(y + e) − x‖,
    worst_case_change  ‖φ(y + e*) − φ(y)‖,       worst_case_pert_norm ‖e*‖,
    worst_case_amplification ‖φ(y + e*) − φ(y)‖/‖e*‖,  jacobian_sigma_max σ_max(∂φ/∂y),

all absolute but the amplification and σ_max (ratios). This module turns them into
relative, per-cell summaries comparable between networks point by point.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .data import NOISE_LEVEL, TRIAL, provenance, valid
from .stability import signal_norm

__all__ = ["NOISE_LEVEL", "worst_case_summary"]



def _mean(da: xr.DataArray) -> xr.DataArray:
    return da.mean(TRIAL) if TRIAL in da.dims else da


def _max(da: xr.DataArray) -> xr.DataArray:
    return da.max(TRIAL) if TRIAL in da.dims else da


def worst_case_summary(ds: xr.Dataset) -> xr.Dataset:
    """Worst-case and random-noise errors per network, attack depth, budget and cell.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep dataset with ``worst_case_error`` and ``random_noise_error`` (cells,
        ``network``, ``attack_depth``, ``trial``, ``noise_level``), ``signal_norm``
        (‖x‖ per trial); optional (newer stores) ``worst_case_change``,
        ``worst_case_pert_norm``, ``worst_case_amplification``, ``jacobian_sigma_max``;
        ``attack_status`` masks failed attacks.

    Returns
    -------
    xarray.Dataset
        Over the cells, ``network``, ``attack_depth`` and ``noise_level``:

        - ``wc_rel_error`` = mean_t worst_case_error_t / ‖x_t‖;
        - ``wc_random_rel_error`` = mean_t random_noise_error_t / ‖x_t‖;
        - ``wc_ratio`` = wc_rel_error / wc_random_rel_error (≥ 1 when the attack beats
          random noise of the same norm);
        - ``wc_amplification`` = max_t worst_case_amplification_t (stored, else
          worst_case_change_t / worst_case_pert_norm_t);
        - ``wc_change_rel`` = mean_t worst_case_change_t / ‖x_t‖;
        - ``wc_jacobian_sigma_max`` = mean_t jacobian_sigma_max_t (no ``noise_level``).

        A variable whose inputs the store lacks (older stores have only the two errors)
        is left out; NaN marks cells whose attack did not run or failed.

    Raises
    ------
    ValueError
        When ``worst_case_error`` or ``random_noise_error`` is missing.
    """
    missing = [v for v in ("worst_case_error", "random_noise_error") if v not in ds]
    if missing:
        raise ValueError(
            f"worst_case_summary needs {missing}; dataset has variables "
            f"{sorted(map(str, ds.data_vars))}"
        )
    norm = signal_norm(ds)
    rel_note = "relative to ‖x‖ of each trial, mean over trials"
    nan_note = "NaN where the attack did not run or failed"
    out = xr.Dataset()
    if norm is not None:
        wc = _mean(valid(ds, "worst_case_error") / norm)
        rnd = _mean(valid(ds, "random_noise_error") / norm)
        out["wc_rel_error"] = wc.assign_attrs(
            long_name=f"worst-case error ‖φ(y + e*) − x‖/‖x‖, ‖e*‖ ≤ ε‖y‖, {rel_note}",
            units="1", comment=nan_note,
        )
        out["wc_random_rel_error"] = rnd.assign_attrs(
            long_name=f"error under random noise ‖φ(y + e) − x‖/‖x‖, ‖e‖ = ε‖y‖, {rel_note}",
            units="1", comment=nan_note,
        )
    else:
        wc = _mean(valid(ds, "worst_case_error"))
        rnd = _mean(valid(ds, "random_noise_error"))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = wc / rnd.where(rnd > 0)
    out["wc_ratio"] = ratio.assign_attrs(
        long_name="worst-case error / random-noise error at the same budget "
        "(ratio of the trial means)",
        units="1", comment=nan_note,
    )
    if "worst_case_amplification" in ds:
        amp = valid(ds, "worst_case_amplification")
    elif "worst_case_change" in ds and "worst_case_pert_norm" in ds:
        pert = valid(ds, "worst_case_pert_norm")
        amp = valid(ds, "worst_case_change") / pert.where(pert > 0)
    else:
        amp = None
    if amp is not None:
        out["wc_amplification"] = _max(amp).assign_attrs(
            long_name="worst-case amplification ‖φ(y + e*) − φ(y)‖/‖e*‖, max over trials",
            units="1", comment=nan_note,
        )
    if "worst_case_change" in ds and norm is not None:
        out["wc_change_rel"] = _mean(valid(ds, "worst_case_change") / norm).assign_attrs(
            long_name=f"worst-case output change ‖φ(y + e*) − φ(y)‖/‖x‖, {rel_note}",
            units="1", comment=nan_note,
        )
    if "jacobian_sigma_max" in ds:
        out["wc_jacobian_sigma_max"] = _mean(valid(ds, "jacobian_sigma_max")).assign_attrs(
            long_name="largest singular value of the Jacobian of e ↦ φ(y + e) at the clean y, "
            "mean over trials",
            units="1", comment="NaN where not computed (momentum attacks, failed attacks)",
        )
    if NOISE_LEVEL in out.coords:
        out[NOISE_LEVEL].attrs = {
            "long_name": "attack budget ε = ‖e‖/‖y‖", "units": "1",
            **{k: v for k, v in ds[NOISE_LEVEL].attrs.items() if k not in ("units",)},
        }
    out.attrs = provenance(ds)
    return out
