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

__all__ = ["amplification", "clean_errors", "signal_norm", "stability_summary", "tradeoff_table"]

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


def signal_norm(ds: xr.Dataset) -> xr.DataArray | None:
    """‖x‖ per trial without noise (``signal_norm``, clean noise level); None if absent."""
    if "signal_norm" not in ds:
        return None
    norm = valid(ds, "signal_norm")
    level = clean_noise_level(norm)
    if level is not None:
        norm = norm.sel({NOISE: level}, drop=True)
    return norm.where(norm > 0)


def _at_attack_depths(err: xr.DataArray, attack_depths: np.ndarray | None) -> xr.DataArray:
    """`err` at the largest recorded depth ≤ each attack depth (−1: the network's own)."""
    across = (TRIAL,)
    if attack_depths is None:
        return at_depth(err, None, across=across)[0]
    return xr.concat(
        [at_depth(err, None if a < 0 else float(a), across=across)[0] for a in attack_depths],
        dim=xr.DataArray(attack_depths, dims=ATTACK_DEPTH, name=ATTACK_DEPTH),
    )


def _clean_noise(err: xr.DataArray) -> tuple[xr.DataArray, float]:
    level = clean_noise_level(err)
    if level is not None:
        err = err.sel({NOISE: level}, drop=True)
    return err, (float(level) if level is not None else np.nan)


def _mean_trials(da: xr.DataArray) -> xr.DataArray:
    return da.mean(TRIAL) if TRIAL in da.dims else da


def clean_errors(
    ds: xr.Dataset, attack_depths: np.ndarray | None
) -> tuple[xr.DataArray | None, xr.DataArray | None]:
    """Clean relative and absolute error of the attacked network, mean over trials.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep dataset: ``attack_clean_error`` (ABSOLUTE ‖φ(y) − x‖ per trial and attack
        depth) and ``signal_norm`` (‖x‖ per trial) when stored, else ``rel_error``.
    attack_depths : numpy.ndarray, optional
        The ``attack_depth`` coordinate (−1: each network at its own depth).

    Returns
    -------
    rel, abs : xarray.DataArray or None
        ``rel`` = mean over trials of ‖φ(y) − x‖/‖x‖: attack_clean_error / signal_norm
        per trial when both are stored, else ``rel_error`` at the largest recorded depth
        ≤ the attack depth. ``abs`` = mean over trials of ‖φ(y) − x‖:
        attack_clean_error, else rel_error · signal_norm. None where not derivable.
        Without noise (the level 0, else the smallest).
    """
    norm = signal_norm(ds)
    level = np.nan
    rel = absolute = None
    if "attack_clean_error" in ds and attack_depths is not None:
        absolute, level = _clean_noise(valid(ds, "attack_clean_error"))
        if norm is not None:
            rel = absolute / norm
    if "rel_error" in ds and DEPTH in ds["rel_error"].dims:
        err, level_r = _clean_noise(valid(ds, "rel_error"))
        if rel is None or absolute is None:
            level = level_r if np.isnan(level) else level
            at = _at_attack_depths(err, attack_depths)
            if rel is None:
                rel = at
            if absolute is None and norm is not None:
                absolute = at * norm
    about = f"without noise (noise level {level:g}), mean over trials"
    if rel is not None:
        rel = _mean_trials(rel).assign_attrs(
            long_name=f"clean relative error ‖φ(y) − x‖/‖x‖ at the attacked depth, {about}",
            units="1", noise_level=level,
        )
    if absolute is not None:
        absolute = _mean_trials(absolute).assign_attrs(
            long_name=f"clean ABSOLUTE error ‖φ(y) − x‖ at the attacked depth, {about}",
            units="1", noise_level=level,
        )
    return rel, absolute


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
        ``curve_meas_pert_norm``); ``curve_rel_meas_pert_norm`` = ‖Ar‖/‖y‖ when ``y_norm``
        is stored, else ‖Ar‖/‖x‖ (``signal_norm``; its ``long_name`` says which), mean over
        trials; ``clean_rel_error`` and ``clean_abs_error`` (cells without ``noise``,
        ``attack_depth``; see `clean_errors`); and the trade-off over all other cells,
        ``tradeoff_max_amplification`` (max), ``tradeoff_clean_rel_error`` and
        ``tradeoff_clean_abs_error`` (mean), dims (``network``, ``attack_depth``) — see
        `tradeoff_table`.
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
    if "meas_pert_norm" in ds:
        ref_name = "y_norm" if "y_norm" in ds else "signal_norm"
        ref = signal_norm(ds) if ref_name == "signal_norm" else valid(ds, "y_norm")
        if ref is not None:
            if ref_name == "y_norm":
                ref, _ = _clean_noise(ref.where(ref > 0))
            sym = "‖y‖" if ref_name == "y_norm" else "‖x‖ (‖y‖ is not stored)"
            rel = valid(ds, "meas_pert_norm") / ref
            out["curve_rel_meas_pert_norm"] = _mean_trials(rel).assign_attrs(
                long_name=f"relative measurement perturbation ‖Ar‖/{sym} (mean over trials)",
                units="1", reference=ref_name,
            )
    depths = amp[ATTACK_DEPTH].values if ATTACK_DEPTH in amp.dims else None
    rel, absolute = clean_errors(ds, depths)
    for kind, clean in (("rel", rel), ("abs", absolute)):
        if clean is None:
            continue
        out[f"clean_{kind}_error"] = clean
        out[f"tradeoff_clean_{kind}_error"] = clean.mean(
            [d for d in clean.dims if d not in keep]
        ).assign_attrs(
            long_name=f"{clean.attrs['long_name']}, mean over all cells", units="1"
        )
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
        (when present), ``clean_rel_error`` (relative ‖φ(y) − x‖/‖x‖, when available),
        ``max_amplification``,
        ``accuracy_rank`` and ``stability_rank`` (1 = best, within each attack depth),
        ``pareto_optimal`` (no network is both more accurate and more stable); sorted
        by attack depth, then stability rank, then accuracy rank.
    """
    summary = ds if "tradeoff_max_amplification" in ds else stability_summary(ds)
    names = {"tradeoff_max_amplification": "max_amplification"}
    if "tradeoff_clean_rel_error" in summary:
        names["tradeoff_clean_rel_error"] = "clean_rel_error"
    table = summary[list(names)].reset_coords(drop=True).to_dataframe().reset_index()
    table = table.rename(columns=names).dropna(subset=["max_amplification"])
    columns = (NETWORK, ATTACK_DEPTH, "clean_rel_error", "max_amplification")
    table = table[[c for c in columns if c in table]]
    by = [ATTACK_DEPTH] if ATTACK_DEPTH in table else []
    groups = table.groupby(by) if by else [(None, table)]
    parts = []
    for _, group in groups:
        group = group.copy()
        group["stability_rank"] = group["max_amplification"].rank(method="min").astype(int)
        error = group["clean_rel_error"] if "clean_rel_error" in group else None
        if error is not None:
            group["accuracy_rank"] = error.rank(method="min").astype("Int64")
            group["pareto_optimal"] = _pareto(
                error.fillna(np.inf).to_numpy(), group["max_amplification"].to_numpy()
            )
        parts.append(group)
    table = pd.concat(parts) if parts else table
    order = by + [c for c in ("stability_rank", "accuracy_rank") if c in table]
    return table.sort_values(order, kind="stable").reset_index(drop=True)
