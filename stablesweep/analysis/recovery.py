"""Recovery probability: the data of phase-transition maps over sampling rate × sparsity."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .data import DEPTH, TRIAL, at_depth, failed_mask, provenance, status_name, valid

__all__ = ["recovery_probability"]


def recovery_probability(
    ds: xr.Dataset, threshold: float = 1e-3, depth: float | None = None
) -> xr.Dataset:
    """Fraction of trials recovered (relative error below `threshold`) in each cell.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep dataset with ``rel_error`` (dims include ``depth``); optional ``status``.
    threshold : float
        A trial is recovered when ‖φ(y) − x‖ / ‖x‖ < threshold (> 0).
    depth : float, optional
        Largest depth to use (None: the largest recorded depth of each cell).

    Returns
    -------
    xarray.Dataset
        Over the cell dimensions (all but ``trial`` and ``depth``): ``recovery_probability``
        in [0, 1] (NaN where no trial counts), ``recovery_trials`` (trials counted) and
        ``recovery_depth`` (depth used).

    Notes
    -----
    p = #{trials: status ok and rel_error < threshold} / #{trials counted}, where a trial
    counts when its error is recorded or its run finished without success (failed,
    diverged and error runs are failures to recover, not missing data; pending runs,
    status "", are not counted).
    """
    if not threshold > 0:
        raise ValueError(f"threshold = {threshold!r}; expected a number > 0")
    err, chosen = at_depth(valid(ds, "rel_error"), depth, across=(TRIAL,))
    counted = err.notnull()
    status = status_name(ds, "rel_error")
    failed = failed_mask(ds, status) if status is not None else None
    if failed is not None:
        counted = counted | (failed.any(DEPTH) if DEPTH in failed.dims else failed)
    recovered = (err < threshold) & counted
    trials = [TRIAL] if TRIAL in counted.dims else []
    n = counted.sum(trials)
    p = recovered.sum(trials) / n.where(n > 0)
    out = xr.Dataset(
        {
            "recovery_probability": p.assign_attrs(
                long_name=f"fraction of trials with relative error < {threshold:g}",
                units="1",
                threshold=float(threshold),
            ),
            "recovery_trials": n.astype(np.int32).assign_attrs(
                long_name="trials counted for the recovery probability", units="count"
            ),
            "recovery_depth": chosen.assign_attrs(
                long_name="depth of the recovery test", units=chosen.attrs.get("units", "")
            ),
        }
    )
    out.attrs = provenance(ds, threshold=threshold, depth=depth)
    return out
