"""Stability under adversarial perturbations, and the accuracy–stability trade-off.

The attack (DESIGN.md §3) records, along its steps, ‖r‖, ‖Ar‖, ‖φ(y+Ar) − φ(y)‖,
‖φ(y+Ar) − x‖ and the amplification

    a(r) = ‖φ(y + Ar) − φ(y)‖ / ‖Ar‖,

the local Lipschitz ratio the attack tries to make large. A stable network keeps
max_r a(r) moderate; the clean error says how accurate it is.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .data import (
    ATTACK_DEPTH,
    ATTACK_STEP,
    DEPTH,
    NETWORK,
    NOISE,
    TRIAL,
    at_depth,
    clean_noise_level,
    provenance,
    valid,
)

__all__ = ["amplification", "stability_summary", "tradeoff_table"]

#: Attack records averaged over trials into the curve data, with their output names.
_CURVES = {
    "amplification": "curve_amplification",
    "meas_pert_norm": "curve_meas_pert_norm",
    "pert_norm": "curve_pert_norm",
    "output_change": "curve_output_change",
    "attack_error": "curve_attack_error",
}


def amplification(ds: xr.Dataset) -> xr.DataArray | None:
    """Stored ``amplification``, else ``output_change / meas_pert_norm``; None if neither."""
    if "amplification" in ds:
        return valid(ds, "amplification")
    if "output_change" in ds and "meas_pert_norm" in ds:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = valid(ds, "output_change") / valid(ds, "meas_pert_norm")
        return ratio.assign_attrs(
            long_name="amplification ‖φ(y+Ar) − φ(y)‖ / ‖Ar‖", units="1"
        )
    return None


def _clean_error(ds: xr.Dataset, attack_depths: np.ndarray | None) -> xr.DataArray:
    """Mean rel_error over trials, without noise, at each attacked depth.

    The sweep stores the attacked network's clean error itself (``attack_clean_error``),
    which also covers the ``attack_depth = -1`` entry ("each network at its own depth").
    Without it, the value at attack depth a is rel_error at the largest recorded
    depth ≤ a.
    """
    stored = "attack_clean_error" in ds and attack_depths is not None
    name = "attack_clean_error" if stored else "rel_error"
    err = valid(ds, name)
    level = clean_noise_level(err)
    if level is not None:
        err = err.sel({NOISE: level}, drop=True)
    if TRIAL in err.dims:
        err = err.mean(TRIAL)
    if stored:
        values = err
    elif attack_depths is None:
        values, _ = at_depth(err, None, across=())
    else:
        values = xr.concat(
            [at_depth(err, float(a), across=())[0] for a in attack_depths],
            dim=xr.DataArray(attack_depths, dims=ATTACK_DEPTH, name=ATTACK_DEPTH),
        )
    return values.assign_attrs(
        long_name="clean relative error at the attacked depth (no noise, mean over trials)",
        units=ds[name].attrs.get("units", "1"),
        noise_level=float(level) if level is not None else np.nan,
    )


def stability_summary(ds: xr.Dataset) -> xr.Dataset:
    """Worst amplification, amplification curves and clean accuracy per network.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep dataset with attack records along ``attack_step`` (and usually
        ``attack_depth``): ``amplification`` (or ``output_change`` and
        ``meas_pert_norm``), optionally ``pert_norm``, ``attack_error``; optional
        ``rel_error`` for the clean accuracy.

    Returns
    -------
    xarray.Dataset
        ``max_amplification`` (cells, ``attack_depth``): max over steps and trials;
        ``curve_*`` (cells, ``attack_depth``, ``attack_step``): attack records averaged
        over trials (amplification against ‖Ar‖ is ``curve_amplification`` against
        ``curve_meas_pert_norm``); ``clean_error`` (cells without ``noise``,
        ``attack_depth``); and the trade-off over all other cells,
        ``tradeoff_max_amplification`` (max) and ``tradeoff_clean_error`` (mean), dims
        (``network``, ``attack_depth``) — see `tradeoff_table`.
    """
    amp = amplification(ds)
    if amp is None or ATTACK_STEP not in amp.dims:
        raise ValueError(
            "stability_summary needs 'amplification' (or 'output_change' and "
            f"'meas_pert_norm') along {ATTACK_STEP!r}; dataset has variables "
            f"{sorted(map(str, ds.data_vars))}"
        )
    trials = [TRIAL] if TRIAL in amp.dims else []
    out = xr.Dataset()
    out["max_amplification"] = amp.max([ATTACK_STEP, *trials]).assign_attrs(
        long_name="largest amplification ‖φ(y+Ar) − φ(y)‖/‖Ar‖ found by the attack",
        units="1",
    )
    for name, curve in _CURVES.items():
        source = amp if name == "amplification" else (valid(ds, name) if name in ds else None)
        if source is not None:
            mean = source.mean([d for d in (TRIAL,) if d in source.dims])
            attrs = dict(ds[name].attrs) if name in ds else dict(source.attrs)
            out[curve] = mean.assign_attrs(
                {**attrs, "long_name": f"{attrs.get('long_name', name)} (mean over trials)"}
            )
    keep = {NETWORK, ATTACK_DEPTH}
    worst = out["max_amplification"]
    out["tradeoff_max_amplification"] = worst.max([d for d in worst.dims if d not in keep])
    out["tradeoff_max_amplification"].attrs = {
        "long_name": "largest amplification over all cells", "units": "1"
    }
    if "rel_error" in ds and DEPTH in ds["rel_error"].dims:
        depths = amp[ATTACK_DEPTH].values if ATTACK_DEPTH in amp.dims else None
        clean = _clean_error(ds, depths)
        out["clean_error"] = clean
        out["tradeoff_clean_error"] = clean.mean([d for d in clean.dims if d not in keep])
        out["tradeoff_clean_error"].attrs = {
            "long_name": "clean relative error, mean over all cells",
            "units": clean.attrs["units"],
        }
    out.attrs = provenance(ds)
    return out


def _pareto(error: np.ndarray, amp: np.ndarray) -> np.ndarray:
    """True where no other row is at least as good in both and better in one."""
    optimal = np.ones(error.size, dtype=bool)
    for i in range(error.size):
        no_worse = (error <= error[i]) & (amp <= amp[i])
        better = (error < error[i]) | (amp < amp[i])
        optimal[i] = not np.any(no_worse & better)
    return optimal


def tradeoff_table(ds: xr.Dataset) -> pd.DataFrame:
    """Rank networks by clean accuracy and by worst amplification.

    Parameters
    ----------
    ds : xarray.Dataset
        A sweep dataset (the stability summary is computed), or a dataset that already
        holds ``tradeoff_max_amplification`` (the output of `stability_summary` or
        `stablesweep.analysis.analyse`, e.g. read back from fits.nc).

    Returns
    -------
    pandas.DataFrame
        One row per network and attack depth, columns ``network``, ``attack_depth``
        (when present), ``clean_error`` (when available), ``max_amplification``,
        ``accuracy_rank`` and ``stability_rank`` (1 = best, within each attack depth),
        ``pareto_optimal`` (no network is both more accurate and more stable); sorted
        by attack depth, then stability rank, then accuracy rank.
    """
    summary = ds if "tradeoff_max_amplification" in ds else stability_summary(ds)
    names = {"tradeoff_max_amplification": "max_amplification"}
    if "tradeoff_clean_error" in summary:
        names["tradeoff_clean_error"] = "clean_error"
    table = summary[list(names)].reset_coords(drop=True).to_dataframe().reset_index()
    table = table.rename(columns=names).dropna(subset=["max_amplification"])
    columns = (NETWORK, ATTACK_DEPTH, "clean_error", "max_amplification")
    table = table[[c for c in columns if c in table]]
    by = [ATTACK_DEPTH] if ATTACK_DEPTH in table else []
    groups = table.groupby(by) if by else [(None, table)]
    parts = []
    for _, group in groups:
        group = group.copy()
        group["stability_rank"] = group["max_amplification"].rank(method="min").astype(int)
        error = group["clean_error"] if "clean_error" in group else None
        if error is not None:
            group["accuracy_rank"] = error.rank(method="min").astype("Int64")
            group["pareto_optimal"] = _pareto(
                error.fillna(np.inf).to_numpy(), group["max_amplification"].to_numpy()
            )
        parts.append(group)
    table = pd.concat(parts) if parts else table
    order = by + [c for c in ("stability_rank", "accuracy_rank") if c in table]
    return table.sort_values(order, kind="stable").reset_index(drop=True)
