"""The frontier's outputs: ``frontier.nc`` (with the verdicts), ``frontier.md`` (tables)
and the figures ``frontier.png``, ``robustness.png``, ``kappa.png``.

Verdicts (attrs of ``frontier.nc``, JSON):

- ``frontier_verdict`` (:func:`stablesweep.frontier.analysis.frontier_verdict`) and
  ``frontier_shown`` — ``yes`` when some trained model recovers the details and none
  both recovers and amplifies little (the bound holds on every pair), ``no`` when one
  does (a broken bound: a bug), ``undecided`` when no model recovers the details;
- ``kappa_slopes`` — per architecture the fitted slope of amplification against κ and
  its interval; ``kappa_shown`` — ``yes`` when every architecture with a fit has −1 in
  its interval, ``no`` when one has not, ``undecided`` without a fit;
- ``robustness_verdict``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from .analysis import (
    RECOVERED,
    bound_checks,
    frontier_verdict,
    group_rows,
    kappa_slope,
    robustness_rows,
    robustness_verdict,
)

__all__ = ["OUTPUT_FILES", "markdown", "verdicts", "write_outputs"]

OUTPUT_FILES = ("frontier.nc", "frontier.md", "frontier.png", "robustness.png", "kappa.png")


def _f(v: float, digits: int = 3) -> str:
    if v is None or not math.isfinite(v):
        return "—"
    return f"{v:.{digits}g}"


def _spread(s: dict[str, float], digits: int = 3) -> str:
    if not math.isfinite(s["mean"]):
        return "—"
    if s["min"] == s["max"]:
        return _f(s["mean"], digits)
    return f"{_f(s['mean'], digits)} [{_f(s['min'], digits)}–{_f(s['max'], digits)}]"


def _name(r: dict[str, Any]) -> str:
    if not r["trained"]:
        return r["arch"]
    return f"{r['arch']} w={r['detail_weight']:g} noise={100 * r['noise']:g}%"


def verdicts(ds: Any, visibility: dict[str, Any] | None) -> dict[str, Any]:
    """Every verdict of the frontier (see the module docstring)."""
    out: dict[str, Any] = {"frontier": frontier_verdict(ds),
                           "robustness": robustness_verdict(ds), "kappa": []}
    if visibility:
        archs = sorted({str(a) for a, t in zip(ds["arch"].values, ds["trained"].values,
                                                strict=True) if t})
        for arch in archs:
            kw = {"detail_weight": float(visibility["detail_weight"]),
                  "noise": float(visibility["noise"])}
            fit = kappa_slope(ds, arch, **kw)
            every = kappa_slope(ds, arch, recovered_only=False, **kw)
            out["kappa"].append({"arch": arch, "recovering": fit,
                                 "all": {k: every[k] for k in ("slope", "interval")}})
    return out


def _kappa_shown(fits: list[dict[str, Any]]) -> str:
    done = [f["recovering"] for f in fits if math.isfinite(f["recovering"]["slope"])]
    if not done:
        return "undecided"
    return "yes" if all(f["contains_minus_one"] for f in done) else "no"


def markdown(ds: Any, v: dict[str, Any]) -> str:
    """The tables and verdicts of ``frontier.md``."""
    rows = group_rows(ds)
    kappa = rows[0]["kappa"]
    lines = [f"# Accuracy–stability frontier: {ds.attrs.get('experiment', '')}", "",
             f"m/N = {ds.attrs.get('m')}/{ds.attrs.get('N')}; {ds.sizes['pair']} test pairs "
             f"at κ = {kappa:g} (the visibility sweep's models on pairs at their own κ, marked); "
             "trained groups show the mean of their seeds and the seeds' range [min–max]; "
             "every pair statistic is a median over the pairs.", "",
             "## Frontier at the matched budget", "",
             "| network | seeds | clean error | PSNR | SSIM | detail error D | amp. along Aδ "
             "| worst at ‖Aδ‖ | bound (1−D)/κ | worst ÷ bound | kernel bound |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    others = sorted({float(k) for k, t in zip(ds["kappa"].values, ds["trained"].values,
                                                strict=True) if t} - {kappa})
    extra = [dict(r, label=f" (κ = {k:g})") for k in others for r in group_rows(ds, k)
             if r["trained"]]
    for r in [*rows, *extra]:
        lines.append("| " + " | ".join([
            _name(r) + r.get("label", ""), str(r["seeds"]) if r["trained"] else "—",
            _spread(r["error_x"]),
            _spread(r["psnr_x"]), _spread(r["ssim_x"]), _spread(r["detail_error"]),
            _spread(r["amplification"]), _spread(r["worst_amplification"]),
            _spread(r["recovery_bound"]), _spread(r["ratio"]), _spread(r["kernel_bound"])])
            + " |")
    c = bound_checks(ds)
    fv = v["frontier"]
    lines += ["", f"Bound checks over {c['checked']} model-pairs: worst < along "
              f"{c['worst_below_along']}, along < (1−D)/κ {c['along_below_recovery']}, "
              f"worst < (1−D)/κ {c['worst_below_recovery']}, along < kernel bound "
              f"{c['along_below_kernel']} (of {c['kernel_bound_applies']} where it applies).",
              "", f"**Frontier.** {frontier_sentence(fv, kappa)}", ""]
    if v["kappa"]:
        lines += ["## Visibility: amplification against 1/κ", "",
                  "| architecture | κ used (recovering, D ≤ 0.5) | slope in κ | 95 % interval "
                  "| excluded (D > 0.5) | slope, all models |", "|---|---|---|---|---|---|"]
        for f in v["kappa"]:
            r = f["recovering"]
            exc = ", ".join(f"{p['model']} (D {p['detail_error']:.2f})" for p in r["excluded"])
            lines.append(f"| {f['arch']} | {', '.join(f'{k:g}' for k in r['kappas']) or '—'} "
                         f"| {_f(r['slope'])} | [{_f(r['interval'][0])}, {_f(r['interval'][1])}]"
                         f" | {exc or '—'} | {_f(f['all']['slope'])} "
                         f"[{_f(f['all']['interval'][0])}, {_f(f['all']['interval'][1])}] |")
        lines += ["", f"**1/κ.** {kappa_sentence(v['kappa'])}", ""]
    budgets = [float(b) for b in ds["budget"].values]
    lines += ["## Robustness at the published budgets", "",
              "Worst-case relative error max over ‖e‖ ≤ η‖y‖ of ‖φ(y+e) − x‖/‖x‖, mean over "
              "the images (and the seeds).", "",
              "| network | " + " | ".join(f"η = {100 * b:g}%" for b in budgets) + " |",
              "|---|" + "---|" * len(budgets)]
    rob = robustness_rows(ds)
    for r in rob:
        lines.append(f"| {_name(r)} | "
                     + " | ".join(_f(e["mean"]) for e in r["robust_error"]) + " |")
    for var, what in (("robust_psnr", "PSNR (dB)"), ("robust_ssim", "SSIM")):
        lines += ["", f"{what} at the worst-case perturbation, mean over the images (and the "
                      "seeds):", "",
                  "| network | " + " | ".join(f"η = {100 * b:g}%" for b in budgets) + " |",
                  "|---|" + "---|" * len(budgets)]
        lines += [f"| {_name(r)} | " + " | ".join(_f(e["mean"]) for e in r[var]) + " |"
                  for r in rob]
    caps = sum(r["robust_hit_cap"] for r in rob)
    lines += ["", f"Attacks that reached their step cap: {caps}.", "",
              f"**Robustness.** {robustness_sentence(v['robustness'])}", ""]
    return "\n".join(lines)


def frontier_sentence(fv: dict[str, Any], kappa: float) -> str:
    """One paragraph: where the trained models sit against the bound."""
    trend = ""
    best = fv.get("lowest_detail_error")
    if best:
        trend = (f" On the grid (κ = {kappa:g}, {fv['grid']} models) the lowest median D is "
                 f"{best['detail_error']:.2f} ({best['model']}), at worst-case amplification "
                 f"{best['worst_amplification']:.3g} against the bound's "
                 f"{best['recovery_bound']:.3g}")
        if "rank_correlation" in fv:
            rho = fv["rank_correlation"]
            trend += (f"; D and the worst-case amplification have Spearman rank correlation "
                      f"{rho:.2f}" + (" — the better a model recovers the details, the more "
                                      "it amplifies" if rho < -0.5 else ""))
        trend += "."
    if fv["shown"] is None:
        return (f"Not reached: no trained model recovers the details (median D ≤ "
                f"{RECOVERED:g}) at any visibility.{trend} Every pair obeys the bound.")
    if fv["shown"] is False:
        return (f"A measurement breaks the bound ({fv['checks']}); models recovering and "
                f"amplifying little: {', '.join(fv['both_models'])}. This is a bug to find.")
    lo, hi = fv["recovering_amplification"]
    r0, r1 = fv["recovering_ratio"]
    d0, d1 = fv["recovering_detail_error"]
    ks = ", ".join(f"{k:g}" for k in fv["recovering_kappas"])
    return (f"No. {fv['recovering']} of {fv['trained']} trained models recover the details "
            f"(median D ≤ {RECOVERED:g}: D = {d0:.2f}–{d1:.2f}), all at κ = {ks}; their "
            f"worst-case amplification at ‖Aδ‖ is {lo:.3g}–{hi:.3g}, {r0:.2f}–{r1:.2f}× the "
            f"bound (1 − D)/κ. None both recovers and amplifies less than 1/(2κ) — the bound "
            f"forbids it, and every pair obeys it." + trend)


def kappa_sentence(fits: list[dict[str, Any]]) -> str:
    parts = []
    for f in fits:
        r = f["recovering"]
        if not math.isfinite(r["slope"]):
            where = (f"only at κ = {r['kappas'][0]:g}" if r["kappas"] else "at no κ")
            parts.append(f"{f['arch']}: not measurable — its models recover the details "
                         f"(median D ≤ {RECOVERED:g}) {where}, and a slope needs two.")
            continue
        lo, hi = r["interval"]
        ok = "contains −1: amplification grows like 1/κ" if r["contains_minus_one"] else \
            "does not contain −1"
        parts.append(f"{f['arch']}: slope {r['slope']:.2f}, 95 % interval [{lo:.2f}, "
                     f"{hi:.2f}] over κ = {', '.join(f'{k:g}' for k in r['kappas'])} — {ok}.")
    return " ".join(parts)


def robustness_sentence(rv: dict[str, Any]) -> str:
    n_low, n_all = rv["noise_helps_count"]
    b = 100 * rv["budget"]
    lo, hi = rv["trained_error_range"]
    zf = rv.get("zero_filling_error", math.nan)
    ref = (f"the best reconstructing reference ({rv['best_reference']}) reaches "
           f"{rv['best_reference_error']:.3g}, zero-filling {zf:.3g}" if rv["best_reference"]
           else "no untrained reference reconstructs better than zero-filling")
    lower = [f"{h['arch']} w={h['detail_weight']:g} ({h['without']:.3g} → "
             f"{h['with_noise']:.3g})" for h in rv["noise_helps"] if h["lower"]]
    hurts = rv.get("noise_hurts_count", 0)
    return (f"At η = {b:g}%, training with the highest noise clearly lowers the worst-case "
            f"error (every seed below every noiseless seed) in {n_low} of {n_all} "
            f"(architecture, detail weight) groups" + (f": {', '.join(lower)}" if lower else "")
            + f"; it clearly raises it in {hurts}, and leaves the rest within the seeds' "
            f"spread. The trained groups' worst-case errors span {lo:.3g}–{hi:.3g}; {ref}"
            + _above(rv) + ".")


def _above(rv: dict[str, Any]) -> str:
    worse = rv.get("above_reference") or []
    if not rv.get("best_reference"):
        return ""
    if not worse:
        return "; no trained group is more than 1.5 times worse"
    groups = sorted({(w["arch"], w["detail_weight"]) for w in worse})
    names = ", ".join(f"{a} w={d:g}" for a, d in groups)
    return (f"; {len(worse)} of the trained groups are more than 1.5 times worse, all of "
            f"them trained with near-kernel details ({names})"
            if all(d > 0 for _, d in groups) else
            f"; {len(worse)} trained groups are more than 1.5 times worse ({names})")


def write_outputs(ds: Any, cfg: Any, out_dir: str | os.PathLike) -> list[Path]:
    """Write :data:`OUTPUT_FILES` into ``out_dir``; the verdicts go into the NetCDF attrs."""
    from .collect import write_netcdf
    from .figures import frontier_figure, kappa_figure, robustness_figure

    out = Path(out_dir)
    v = verdicts(ds, cfg.visibility)
    ds.attrs["frontier_verdict"] = json.dumps(v["frontier"])
    ds.attrs["frontier_shown"] = {True: "yes", False: "no", None: "undecided"}[
        v["frontier"]["shown"]]
    ds.attrs["kappa_slopes"] = json.dumps(v["kappa"])
    ds.attrs["kappa_shown"] = _kappa_shown(v["kappa"])
    ds.attrs["robustness_verdict"] = json.dumps(v["robustness"])
    paths = [write_netcdf(ds, out / "frontier.nc")]
    md = out / "frontier.md"
    md.write_text(markdown(ds, v) + "\n")
    paths += [md, frontier_figure(ds, out / "frontier.png"),
              robustness_figure(ds, out / "robustness.png")]
    if cfg.visibility:
        paths.append(kappa_figure(ds, out / "kappa.png", cfg.visibility))
    return paths
