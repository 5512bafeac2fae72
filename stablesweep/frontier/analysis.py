r"""The frontier's numbers: the frontier table, the bound checks, the 1/κ slope, the
robustness table and the verdicts.

Statistics
    Per model, a pair variable is summarised by its median over the test pairs, a
    robustness variable by its mean over the images (as the published studies average
    their relative errors). Models that differ only in the training seed form a *group*
    (architecture, detail weight, noise, κ); a group is reported as the mean of its
    seeds' summaries with the seeds' range [min, max] — a spread, not a confidence
    interval.

The bound as a curve
    For every pair, :math:`\|\varphi(y')-\varphi(y)\| \ge (1 - D)\|\delta\|` with
    :math:`D` the detail recovery error, so the amplification along :math:`A\delta` —
    and the worst case at the matched budget, which includes :math:`e = A\delta` — is
    at least :math:`(1 - D)/\kappa`. In the plane (detail recovery error, amplification)
    this is the curve :math:`a = (1 - D)/\kappa`; the medians obey it too (a median of
    values each above a decreasing function of :math:`D_i` is above that function of
    the median :math:`D`). :func:`bound_checks` counts the pairs where a measurement
    falls below a bound (a bug if any), relative tolerance :data:`TOLERANCE`.

1/κ scaling
    :func:`kappa_slope` fits :math:`\log a = c + s \log\kappa` by least squares over
    the visibility sweep's models (one point per κ and seed: the median amplification
    along :math:`A\delta`) that recover their details (median :math:`D \le`
    :data:`RECOVERED`), and gives a 95 % bootstrap interval for :math:`s` (pairs
    resampled within each model, :data:`BOOTSTRAP` draws, seeded). Recovering at every
    κ, a map must have :math:`s \le -1` up to its changing :math:`D`; :math:`s = -1` is
    the bound's own slope.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["BOOTSTRAP", "LOW_AMPLIFICATION", "RECOVERED", "TOLERANCE", "bound_checks",
           "frontier_verdict", "group_rows", "kappa_slope", "model_summary",
           "robustness_rows", "robustness_verdict"]

#: median detail recovery error at or below which a model "recovers the details"
RECOVERED = 0.5
#: "low amplification": below this fraction of 1/kappa (what exact recovery needs)
LOW_AMPLIFICATION = 0.5
#: relative tolerance of the bound checks (rounding)
TOLERANCE = 1e-9
#: bootstrap draws of the slope's interval
BOOTSTRAP = 2000

PAIR_STATS = ("error_x", "psnr_x", "ssim_x", "detail_error", "amplification",
              "worst_amplification", "kernel_bound", "local_kernel_bound", "recovery_bound",
              "jacobian_sigma", "attack_steps")


def model_summary(ds: Any) -> Any:
    """Per model: medians over pairs of :data:`PAIR_STATS`, mean over images of the
    robustness variables (dims ``model`` and ``model × budget``)."""
    out = ds[[v for v in PAIR_STATS if v in ds]].median("pair")
    for v in ("robust_error", "robust_psnr", "robust_ssim"):
        if v in ds:
            out[v] = ds[v].mean("pair")
    if "robust_steps" in ds:
        out["robust_steps_max"] = ds["robust_steps"].max("pair")
        out["robust_hit_cap"] = ds["robust_hit_cap"].sum("pair")
    return out


def _groups(ds: Any) -> list[tuple[tuple[str, float, float, float], list[int]]]:
    """Model indices grouped by (arch, detail weight, noise, kappa), in model order."""
    keys: dict[tuple[str, float, float, float], list[int]] = {}
    for i in range(ds.sizes["model"]):
        key = (str(ds["arch"].values[i]), float(ds["detail_weight"].values[i]),
               float(ds["noise"].values[i]), float(ds["kappa"].values[i]))
        keys.setdefault(key, []).append(i)
    return list(keys.items())


def _spread(values: np.ndarray) -> dict[str, float]:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"mean": math.nan, "min": math.nan, "max": math.nan}
    return {"mean": float(v.mean()), "min": float(v.min()), "max": float(v.max())}


def group_rows(ds: Any, kappa: float | None = None) -> list[dict[str, Any]]:
    """One row per group at visibility ``kappa`` (default: the config's ``detail.kappa``):
    ``arch``, ``detail_weight``, ``noise``, ``kappa``, ``trained``, ``seeds`` (count),
    and per statistic of :data:`PAIR_STATS` and ``robust_error`` (per budget) a dict
    ``{mean, min, max}`` over the seeds; ``ratio`` is worst amplification ÷ recovery
    bound (the distance above the curve)."""
    import yaml

    if kappa is None:
        kappa = float(yaml.safe_load(ds.attrs["config"])["detail"]["kappa"])
    s = model_summary(ds)
    rows = []
    for (arch, w, nz, k), idx in _groups(ds):
        if not np.isclose(k, kappa):
            continue
        row: dict[str, Any] = {"arch": arch, "detail_weight": w, "noise": nz, "kappa": k,
                               "trained": bool(ds["trained"].values[idx[0]]),
                               "seeds": len(idx), "models": [str(ds["model"].values[i])
                                                             for i in idx]}
        for v in PAIR_STATS:
            if v in s:
                row[v] = _spread(s[v].values[idx])
        ratio = s["worst_amplification"].values[idx] / s["recovery_bound"].values[idx]
        row["ratio"] = _spread(ratio)
        for v in ("robust_error", "robust_psnr", "robust_ssim"):
            row[v] = [_spread(s[v].values[idx, j]) for j in range(ds.sizes["budget"])]
        row["robust_hit_cap"] = int(s["robust_hit_cap"].values[idx].sum())
        rows.append(row)
    return rows


def bound_checks(ds: Any) -> dict[str, int]:
    """Pairs (over every model) where a measurement falls below a bound it must obey.

    Returns ``checked`` (model × pair count) and the violations of: worst case ≥ along
    :math:`A\\delta` (``worst_below_along``), along ≥ recovery bound
    (``along_below_recovery``), along ≥ kernel bound where it applies
    (``along_below_kernel``), worst case ≥ recovery bound (``worst_below_recovery``).
    """
    along = ds["amplification"].values
    worst = ds["worst_amplification"].values
    rec = ds["recovery_bound"].values
    ker = ds["kernel_bound"].values

    def below(a: np.ndarray, b: np.ndarray) -> int:
        ok = np.isfinite(a) & np.isfinite(b)
        return int(np.sum(a[ok] < b[ok] * (1 - TOLERANCE)))

    return {"checked": int(along.size),
            "worst_below_along": below(worst, along),
            "along_below_recovery": below(along, rec),
            "along_below_kernel": below(along, ker),
            "worst_below_recovery": below(worst, rec),
            "kernel_bound_applies": int(np.isfinite(ker).sum())}


def frontier_verdict(ds: Any) -> dict[str, Any]:
    """Does any trained model recover the details and amplify little?

    Every trained model is judged at its own visibility κ (the grid's and the visibility
    sweep's). A model *recovers* when its median detail error is ≤ :data:`RECOVERED`; it
    *amplifies little* when its median worst-case amplification at ‖Aδ‖ is below
    :data:`LOW_AMPLIFICATION`/κ. The bound (1 − D)/κ forbids both at once. The trend
    (lowest D, rank correlation) is read on the grid, at ``detail.kappa``.

    Returns the counts, the recovering models' amplification range and ratio to the
    bound, the low-amplification models' detail-error range, the model with the lowest
    detail error, the Spearman rank correlation of D and amplification over the trained
    models (negative: the better a model recovers, the more it amplifies), and ``shown``:
    True when some model recovers (so the trade-off is exercised) and none breaks the
    bound; False when one breaks it; None when no model recovers (the question is not
    reached at this scale).
    """
    s = model_summary(ds)
    kappa = ds["kappa"].values
    trained = ds["trained"].values.astype(bool)
    grid = trained.copy()
    if "config" in ds.attrs:  # the grid's visibility (the trend is read there)
        import yaml

        base = float(yaml.safe_load(ds.attrs["config"])["detail"]["kappa"])
        grid &= np.isclose(kappa, base)
    D = s["detail_error"].values
    W = s["worst_amplification"].values
    rec = trained & (D <= RECOVERED)
    low = trained & (W < LOW_AMPLIFICATION / kappa)
    both = rec & low
    checks = bound_checks(ds)
    broken = checks["worst_below_recovery"] + checks["along_below_recovery"]
    out: dict[str, Any] = {
        "trained": int(trained.sum()), "recovering": int(rec.sum()),
        "low_amplification": int(low.sum()), "both": int(both.sum()),
        "both_models": [str(m) for m in ds["model"].values[both]],
        "checks": checks,
    }
    if rec.any():
        ratio = W[rec] / s["recovery_bound"].values[rec]
        out["recovering_amplification"] = [float(np.nanmin(W[rec])), float(np.nanmax(W[rec]))]
        out["recovering_ratio"] = [float(np.nanmin(ratio)), float(np.nanmax(ratio))]
        out["recovering_models"] = [str(m) for m in ds["model"].values[rec]]
        out["recovering_kappas"] = sorted({float(k) for k in kappa[rec]})
        out["recovering_detail_error"] = [float(np.nanmin(D[rec])), float(np.nanmax(D[rec]))]
    if low.any():
        out["low_detail_error"] = [float(np.nanmin(D[low])), float(np.nanmax(D[low]))]
    out["grid"] = int(grid.sum())
    if grid.any():
        i = int(np.nanargmin(np.where(grid, D, np.inf)))
        out["lowest_detail_error"] = {"model": str(ds["model"].values[i]),
                                      "detail_error": float(D[i]),
                                      "worst_amplification": float(W[i]),
                                      "recovery_bound": float(s["recovery_bound"].values[i])}
    if grid.sum() >= 3:
        import warnings

        from scipy.stats import spearmanr

        with warnings.catch_warnings():  # constant input: no correlation (NaN)
            warnings.simplefilter("ignore")
            rho = spearmanr(D[grid], W[grid]).statistic
        if np.isfinite(rho):
            out["rank_correlation"] = float(rho)
    out["shown"] = (False if (both.any() or broken) else (True if rec.any() else None))
    return out


def kappa_slope(ds: Any, arch: str, *, detail_weight: float, noise: float,
                recovered_only: bool = True, draws: int = BOOTSTRAP,
                seed: int = 0) -> dict[str, Any]:
    """The log–log slope of amplification along Aδ against κ for one architecture.

    Parameters
    ----------
    ds : xarray.Dataset
        The collected frontier dataset.
    arch : str
    detail_weight, noise : float
        The visibility sweep's training settings.
    recovered_only : bool
        Fit only models whose median detail error is ≤ :data:`RECOVERED`.
    draws, seed : int
        Bootstrap draws and their seed (``draws=0``: no interval, NaN).

    Returns
    -------
    dict
        ``slope``, ``interval`` (2.5 and 97.5 percentiles), ``points`` (list of
        ``{model, kappa, amplification, detail_error}`` used), ``excluded`` (the models
        left out, with their detail error), ``kappas`` (distinct κ used); ``slope`` NaN
        when fewer than two κ remain.
    """
    sel = [i for i in range(ds.sizes["model"])
           if str(ds["arch"].values[i]) == arch
           and np.isclose(float(ds["detail_weight"].values[i]), detail_weight)
           and np.isclose(float(ds["noise"].values[i]), noise)]
    amp = ds["amplification"].values
    det = ds["detail_error"].values
    used, excluded = [], []
    for i in sel:
        d = float(np.median(det[i]))
        rec = {"model": str(ds["model"].values[i]), "kappa": float(ds["kappa"].values[i]),
               "amplification": float(np.median(amp[i])), "detail_error": d}
        (used if (d <= RECOVERED or not recovered_only) else excluded).append((i, rec))
    kappas = sorted({r["kappa"] for _, r in used})
    out: dict[str, Any] = {"arch": arch, "points": [r for _, r in used],
                           "excluded": [r for _, r in excluded], "kappas": kappas,
                           "slope": math.nan, "interval": [math.nan, math.nan]}
    if len(kappas) < 2:
        return out
    idx = [i for i, _ in used]
    logk = np.log([ds["kappa"].values[i] for i in idx])

    def fit(meds: np.ndarray) -> float:
        return float(np.polyfit(logk, np.log(meds), 1)[0])

    out["slope"] = fit(np.array([r["amplification"] for _, r in used]))
    if draws < 1:  # the slope alone (the interval stays NaN)
        return out
    rng = np.random.default_rng(seed)
    n_pair = amp.shape[1]
    boots = np.empty(draws)
    for b in range(draws):
        pick = rng.integers(0, n_pair, size=(len(idx), n_pair))
        meds = np.median(np.take_along_axis(amp[idx], pick, axis=1), axis=1)
        boots[b] = fit(meds)
    out["interval"] = [float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))]
    out["contains_minus_one"] = bool(out["interval"][0] <= -1.0 <= out["interval"][1])
    return out


def robustness_rows(ds: Any, kappa: float | None = None) -> list[dict[str, Any]]:
    """Per group (as :func:`group_rows`): the worst-case relative error, PSNR and SSIM per
    budget (means over images, then over seeds, with the seeds' range) and the attacks
    that hit their cap."""
    return [{k: r[k] for k in ("arch", "detail_weight", "noise", "trained", "seeds",
                               "robust_error", "robust_psnr", "robust_ssim", "robust_hit_cap",
                               "error_x")}
            for r in group_rows(ds, kappa)]


def robustness_verdict(ds: Any) -> dict[str, Any]:
    """What the robustness curves say about the published findings.

    - ``noise_helps``: per architecture and detail weight, is the worst-case error at
      the largest budget clearly lower after training with the largest noise than
      without — every seed's below every noiseless seed's (``lower``; ``higher`` the
      reverse)? (Genzel et al.; Gottschling et al. Fig. 3: noise-trained networks are
      more robust.)
    - ``learned_vs_model_based``: at the largest budget, the trained groups' errors
      against the best untrained reference that reconstructs (below zero-filling's
      clean error) — Genzel et al. found trained networks about as robust as TV;
      ``above_reference`` lists the trained groups more than 1.5 times worse.
    """
    rows = robustness_rows(ds)
    budgets = [float(b) for b in ds["budget"].values]
    j = int(np.argmax(budgets))
    trained = [r for r in rows if r["trained"]]
    noises = sorted({r["noise"] for r in trained})
    helps = []
    for r in trained:
        if r["noise"] != noises[-1] or len(noises) < 2:
            continue
        base = next((q for q in trained if q["arch"] == r["arch"]
                     and q["detail_weight"] == r["detail_weight"] and q["noise"] == noises[0]),
                    None)
        if base is None:
            continue
        noisy, plain = r["robust_error"][j], base["robust_error"][j]
        helps.append({"arch": r["arch"], "detail_weight": r["detail_weight"],
                      "with_noise": noisy["mean"], "without": plain["mean"],
                      "lower": noisy["max"] < plain["min"],
                      "higher": noisy["min"] > plain["max"]})
    refs = {r["arch"]: r for r in rows if not r["trained"]}
    zf = refs.get("zero-filling")
    zf_err = zf["error_x"]["mean"] if zf else math.inf
    good = {a: r["robust_error"][j]["mean"] for a, r in refs.items()
            if a != "zero-filling" and r["error_x"]["mean"] < zf_err}
    best_ref = min(good.items(), key=lambda t: t[1]) if good else (None, math.nan)
    tr_err = [r["robust_error"][j]["mean"] for r in trained]
    worse = [{"arch": r["arch"], "detail_weight": r["detail_weight"], "noise": r["noise"],
              "error": r["robust_error"][j]["mean"]} for r in trained
             if math.isfinite(best_ref[1]) and r["robust_error"][j]["mean"] > 1.5 * best_ref[1]]
    return {"budget": budgets[j], "noise_helps": helps,
            "noise_helps_count": [sum(h["lower"] for h in helps), len(helps)],
            "noise_hurts_count": sum(h["higher"] for h in helps),
            "best_reference": best_ref[0], "best_reference_error": best_ref[1],
            "zero_filling_error": (zf["robust_error"][j]["mean"] if zf else math.nan),
            "above_reference": worse,
            "trained_error_range": [float(np.nanmin(tr_err)), float(np.nanmax(tr_err))]
            if tr_err else [math.nan, math.nan]}
