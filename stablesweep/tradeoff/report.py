r"""Outputs of the trade-off experiment: NetCDF, the summary table (CSV, Markdown), the figure.

Statistics over seeds
    Every measured variable has dims ``(network, seed, pair)``. For each network and
    training seed the *per-seed median* is the median over the test pairs; a table
    entry is the median over the seeds of the per-seed medians, with their range
    (min–max over the seeds) in brackets, ``median [min–max]``. The untrained networks
    (FIRENET, FISTA) are measured once; their entries are the median over the pairs,
    marked "(1 run)". The CSV also holds the range over all (seed, pair) values.

The comparison (:func:`verdict`)
    Both amplification columns are at the same budget ‖e‖ = ‖Aδ‖ (per pair): the
    measured one along e = Aδ, and the worst case over ‖e‖ ≤ ‖Aδ‖. The trade-off is
    *shown* when the detail-trained U-Net (``unet``)

    1. recovers the details better than every other network: for every seed its
       per-seed median detail recovery error is below each other network's smallest
       per-seed median; and
    2. is less stable at the matched budget: for every seed its per-seed median
       worst-case amplification is above each other network's largest per-seed median.

    The kernel lower bound (‖δ‖ − 2η)/‖Aδ‖ follows from the triangle inequality, so the
    amplification along Aδ meets it wherever it applies by construction; that count is
    reported as a *check* of the measurement, not as evidence. Likewise the worst case
    is ≥ the amplification along Aδ by construction (Aδ is one of the attack's starts).

The figure (Okabe–Ito colours, one marker per network) has two panels: (a) the check:
amplification along Aδ against the kernel lower bound for every (network, seed, pair)
where it applies, log axes, with y = x; (b) the trade-off at the matched budget: per
(network, seed) the per-seed median worst-case amplification at ‖e‖ ≤ ‖Aδ‖ (filled, bars:
interquartile range over the pairs) and along Aδ (hollow) against the per-seed median
detail recovery error, with the level 1/κ (what exact recovery of both images costs).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["seed_medians", "summary_rows", "verdict", "write_figure", "write_outputs",
           "write_tables"]

#: (variable, column header) of the table, in order
COLUMNS = (
    ("error_x", "error on x"),
    ("detail_error", "detail recovery error"),
    ("amplification", "amplification along Aδ (‖e‖ = ‖Aδ‖)"),
    ("worst_amplification", "worst case at ‖e‖ ≤ ‖Aδ‖"),
    ("kernel_bound", "kernel lower bound"),
)
#: further variables summarised in the CSV only
CSV_ONLY = ("error_x_prime", "local_kernel_bound", "jacobian_sigma", "attack_steps")
#: relative slack of the by-construction checks (rounding)
RTOL = 1e-9


def seed_medians(ds: Any, var: str) -> Any:
    """Per (network, seed): the median over the pairs of ``var`` (NaN where none is finite)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices -> NaN
        return ds[var].median("pair", skipna=True)


def _measured_seeds(ds: Any, net: str) -> list[int]:
    """The seeds at which ``net`` was measured (any finite value)."""
    finite = np.isfinite(ds["amplification"].sel(network=net).values).any(axis=-1)
    return [int(s) for s, ok in zip(ds["seed"].values, finite, strict=True) if ok]


def _stats(v: np.ndarray) -> tuple[float, float, float]:
    v = np.asarray(v, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (np.nan, np.nan, np.nan)
    return float(np.median(v)), float(v.min()), float(v.max())


def summary_rows(ds: Any) -> list[dict[str, Any]]:
    """One dict per network (see the module docstring).

    Keys: ``network``, ``trained``, ``seeds`` (measured, space-separated),
    ``<var>_median`` (median over seeds of the per-seed medians), ``<var>_seed_min`` /
    ``_seed_max`` (range of the per-seed medians), ``<var>_pair_min`` / ``_pair_max``
    (range over all measured values); ``measured`` (seed × pair values), ``bound_applies``
    (‖δ‖ > 2η), ``bound_met`` (among them, amplification ≥ bound), the same for the local
    bound, ``worst_ge_along`` (worst case ≥ amplification along Aδ), ``attack_hit_cap``
    (attacks that ran the full ``attack.steps``), ``validation_error`` (median over seeds;
    ``_seed_min``/``_seed_max``).
    """
    cap = _attack_cap(ds)
    rows = []
    for net in ds["network"].values:
        net = str(net)
        sel = ds.sel(network=net)
        seeds = _measured_seeds(ds, net)
        row: dict[str, Any] = {"network": net, "trained": bool(int(sel["trained"]))
                               if "trained" in sel else False,
                               "seeds": " ".join(map(str, seeds))}
        for var in [v for v, _ in COLUMNS] + list(CSV_ONLY):
            per_seed = seed_medians(ds, var).sel(network=net).values
            med, lo, hi = _stats(per_seed)
            row[f"{var}_median"], row[f"{var}_seed_min"], row[f"{var}_seed_max"] = med, lo, hi
            _, plo, phi = _stats(sel[var].values)
            row[f"{var}_pair_min"], row[f"{var}_pair_max"] = plo, phi
        amp = sel["amplification"].values
        measured = np.isfinite(amp)
        row["measured"] = int(measured.sum())
        for name, var in (("bound", "kernel_bound"), ("local_bound", "local_kernel_bound")):
            bound = sel[var].values
            applies = np.isfinite(bound)
            row[f"{name}_applies"] = int(applies.sum())
            row[f"{name}_met"] = int((amp[applies] >= bound[applies] * (1 - RTOL)).sum())
        worst = sel["worst_amplification"].values
        has = np.isfinite(worst) & measured
        row["worst_measured"] = int(has.sum())
        row["worst_ge_along"] = int((worst[has] >= amp[has] * (1 - RTOL)).sum())
        steps = sel["attack_steps"].values if "attack_steps" in sel else np.array([np.nan])
        row["attack_hit_cap"] = int((steps[np.isfinite(steps)] >= cap).sum()) \
            if cap is not None else 0
        val = sel["validation_error"].values
        row["validation_error"], row["validation_error_seed_min"], \
            row["validation_error_seed_max"] = _stats(val)
        rows.append(row)
    return rows


def _attack_cap(ds: Any) -> int | None:
    try:
        return int(json.loads(ds.attrs.get("attack", "none"))["steps"])
    except (ValueError, TypeError, KeyError):
        return None


def verdict(ds: Any, detail_net: str = "unet") -> dict[str, Any]:
    """The matched-budget comparison and the checks (see the module docstring).

    Returns
    -------
    dict
        ``shown`` (bool or None where it cannot be decided: no ``unet``, no other
        network or no attack), ``recovers_better``, ``less_stable`` (bools or None),
        ``others`` (the networks compared with), ``bound_applies``/``bound_met`` and
        ``worst_ge_along``/``worst_measured`` (counts over all networks, seeds, pairs),
        ``bound_applies_detail_net`` (pairs × seeds of ``unet`` where the bound applies),
        and ``text``: the rule and the outcome in words.
    """
    labels = [str(n) for n in ds["network"].values]
    rows = {r["network"]: r for r in summary_rows(ds)}
    out: dict[str, Any] = {
        "bound_applies": sum(r["bound_applies"] for r in rows.values()),
        "bound_met": sum(r["bound_met"] for r in rows.values()),
        "worst_measured": sum(r["worst_measured"] for r in rows.values()),
        "worst_ge_along": sum(r["worst_ge_along"] for r in rows.values()),
        "shown": None, "recovers_better": None, "less_stable": None, "others": [],
        "bound_applies_detail_net": rows.get(detail_net, {}).get("bound_applies", 0),
    }
    others = [n for n in labels if n != detail_net]
    out["others"] = others
    if detail_net not in labels or not others:
        out["text"] = "No comparison: the table needs the detail-trained U-Net and another network."
        return out
    derr = seed_medians(ds, "detail_error")
    worst = seed_medians(ds, "worst_amplification")

    def finite(a: Any) -> np.ndarray:
        v = np.asarray(a.values, dtype=np.float64)
        return v[np.isfinite(v)]

    d_me, w_me = finite(derr.sel(network=detail_net)), finite(worst.sel(network=detail_net))
    rec = bool(d_me.size) and all(
        finite(derr.sel(network=o)).size and d_me.max() < finite(derr.sel(network=o)).min()
        for o in others)
    out["recovers_better"] = bool(rec)
    if w_me.size and all(finite(worst.sel(network=o)).size for o in others):
        out["less_stable"] = bool(all(w_me.min() > finite(worst.sel(network=o)).max()
                                      for o in others))
        out["shown"] = bool(out["recovers_better"] and out["less_stable"])
    r = rows[detail_net]

    def cell(name: str, var: str) -> str:
        q = rows[name]
        if q["trained"] and len(q["seeds"].split()) > 1:
            return (f"{_fmt(q[f'{var}_median'])} [{_fmt(q[f'{var}_seed_min'])}–"
                    f"{_fmt(q[f'{var}_seed_max'])}]")
        return _fmt(q[f"{var}_median"])

    comp = "; ".join(f"{n} {cell(n, 'worst_amplification')}" for n in labels)
    along = "; ".join(f"{n} {cell(n, 'amplification')}" for n in labels)
    dets = "; ".join(f"{n} {cell(n, 'detail_error')}" for n in labels)
    outcome = {True: "**shown**", False: "**not shown**", None: "**not decided** (no attack)"}
    lines = [
        "Rule: the trade-off is shown when the detail-trained U-Net recovers the details "
        "better than every other network (for every training seed, its median detail "
        "recovery error is below each other network's smallest) and is less stable at the "
        "matched budget (for every seed, its median worst-case amplification over "
        "||e|| <= ||A delta|| is above each other network's largest).",
        "",
        f"Detail recovery error (median over pairs; [range over seeds]): {dets}.",
        f"Worst case at ||e|| <= ||A delta||: {comp}.",
        f"Along A delta (same budget): {along}.",
        f"Outcome: {outcome[out['shown']]} (recovers the details better: "
        f"{'yes' if out['recovers_better'] else 'no'}; less stable at the matched budget: "
        f"{ {True: 'yes', False: 'no', None: 'not measured'}[out['less_stable']] }).",
        "",
        f"Checks (hold by construction; they test the measurement, not the claim): the "
        f"kernel lower bound applies to {r['bound_applies']} of {r['measured']} "
        f"(seed, pair) values of {detail_net} and {out['bound_applies']} in all; the "
        f"amplification along A delta meets it in {out['bound_met']} of "
        f"{out['bound_applies']} (the triangle inequality). The worst case is >= the "
        f"amplification along A delta in {out['worst_ge_along']} of "
        f"{out['worst_measured']} (A delta is one of the attack's starts).",
    ]
    out["text"] = "\n".join(lines)
    return out


def _fmt(v: float) -> str:
    if not np.isfinite(v):
        return "–"
    return f"{v:.3g}"


def _cell(r: dict[str, Any], var: str) -> str:
    if not np.isfinite(r[f"{var}_median"]):
        return "–"
    if r["trained"]:
        return (f"{_fmt(r[f'{var}_median'])} [{_fmt(r[f'{var}_seed_min'])}–"
                f"{_fmt(r[f'{var}_seed_max'])}]")
    return f"{_fmt(r[f'{var}_median'])} (1 run)"


def write_tables(ds: Any, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``tradeoff.csv`` (full precision) and ``tradeoff.md`` (the table, the rule,
    the outcome and the checks)."""
    out = Path(out_dir)
    rows = summary_rows(ds)
    csv_path, md_path = out / "tradeoff.csv", out / "tradeoff.md"
    fields = list(rows[0]) if rows else ["network"]
    with open(csv_path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    kappa = float(ds.attrs.get("kappa", np.nan))
    vis = ds["visibility"].values
    seeds = [int(s) for s in ds["seed"].values]
    cap = _attack_cap(ds)
    v = verdict(ds)
    lines = [
        f"# Kernel trade-off: {ds.attrs.get('experiment', '')}",
        "",
        f"{ds.sizes['pair']} test pairs (x, x' = x + delta), detail "
        f"'{ds.attrs.get('detail_kind', '')}', visibility ||A delta||/||delta|| = "
        f"{_fmt(float(np.median(vis)))} (kappa = {kappa:g}); an exact reconstruction of "
        f"both images needs amplification 1/kappa = {_fmt(1 / kappa)}. "
        f"m = {ds.attrs.get('m')} of N = {ds.attrs.get('N')} samples. "
        f"The U-Nets are trained once per training seed ({', '.join(map(str, seeds))}): "
        "their entries are the median over the seeds of the per-seed medians over the "
        "pairs, [min–max over the seeds]; FIRENET and FISTA are not trained, measured once "
        "(median over the pairs). Both amplification columns are at the same budget "
        "||e|| = ||A delta|| of each pair: along e = A delta, and the worst case over "
        "||e|| <= ||A delta|| at y = Ax (projected gradient ascent on ||phi(y + e) - "
        f"phi(y)||, {ds.attrs.get('attack_starts', '')}; at most {cap} steps). Errors are "
        "relative to ||x||, the detail recovery error to ||delta|| (0: recovered, 1: not "
        "seen). The kernel lower bound (||delta|| - 2 eta)/||A delta|| applies where "
        "||delta|| > 2 eta.",
        "",
        "| network | val. error | " + " | ".join(h for _, h in COLUMNS)
        + " | bound applies | bound met (check) |",
        "|---|" + "---:|" * (len(COLUMNS) + 3),
    ]
    for r in rows:
        val = (f"{_fmt(r['validation_error'])} [{_fmt(r['validation_error_seed_min'])}–"
               f"{_fmt(r['validation_error_seed_max'])}]"
               if np.isfinite(r["validation_error"]) else "–")
        lines.append(f"| {r['network']} | {val} | "
                     + " | ".join(_cell(r, c) for c, _ in COLUMNS)
                     + f" | {r['bound_applies']}/{r['measured']} | "
                     f"{r['bound_met']}/{r['bound_applies']} |")
    hit = sum(r["attack_hit_cap"] for r in rows)
    total = sum(r["worst_measured"] for r in rows)
    lines += ["", v["text"], "",
              f"The attack ran into its step cap ({cap}) in {hit} of {total} runs "
              "(elsewhere the stopping rule ended it)." if cap is not None and total else ""]
    md_path.write_text("\n".join(lines).rstrip() + "\n")
    return csv_path, md_path


def write_figure(ds: Any, path: str | os.PathLike) -> Path:
    """Write the two-panel figure (see the module docstring) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from stablesweep.figures.common import network_styles

    labels = [str(n) for n in ds["network"].values]
    styles = network_styles(labels)
    kappa = float(ds.attrs.get("kappa", np.nan))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.6), layout="constrained")
    lo, hi = np.inf, -np.inf
    for net in labels:
        st = styles[net]
        amp = ds["amplification"].sel(network=net).values.ravel()
        bound = ds["kernel_bound"].sel(network=net).values.ravel()
        ok = np.isfinite(bound) & (bound > 0) & np.isfinite(amp)
        n_meas = int(np.isfinite(amp).sum())
        label = f"{net} (bound applies in {int(ok.sum())}/{n_meas})"
        if ok.any():
            ax1.scatter(bound[ok], amp[ok], color=st["color"], marker=st["marker"], s=26,
                        alpha=0.8, label=label)
            lo, hi = min(lo, bound[ok].min(), amp[ok].min()), max(hi, bound[ok].max(),
                                                                  amp[ok].max())
        else:
            ax1.scatter([], [], color=st["color"], marker=st["marker"], label=label)
    if np.isfinite(lo):
        if np.isfinite(kappa):
            hi = max(hi, 1 / kappa)
        span = np.array([lo / 1.5, hi * 1.5])
        ax1.plot(span, span, color="0.4", lw=1, ls="--", label="y = x")
        ax1.fill_between(span, span[0], span, color="0.85", zorder=0,
                         label="below the bound (impossible)")
        if np.isfinite(kappa):
            ax1.axhline(1 / kappa, color="0.4", lw=1, ls=":", label="1/κ")
        ax1.set_xlim(span)
        ax1.set_ylim(span)
    else:
        ax1.text(0.5, 0.5, "the bound applies to no pair", ha="center", va="center",
                 transform=ax1.transAxes)
        ax1.set_xlim(1, 100)
        ax1.set_ylim(1, 100)
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.set_xlabel("kernel lower bound (‖δ‖ − 2η) / ‖Aδ‖")
    ax1.set_ylabel("amplification along Aδ, ‖φ(Ax′) − φ(Ax)‖ / ‖Aδ‖")
    ax1.set_title("(a) check: amplification ≥ bound (triangle inequality)", fontsize=10)
    ax1.legend(fontsize=7.5, loc="lower right")
    ax1.grid(True, which="both", alpha=0.25)

    derr_med = seed_medians(ds, "detail_error")
    worst = ds["worst_amplification"]
    worst_med = seed_medians(ds, "worst_amplification")
    along_med = seed_medians(ds, "amplification")
    have_worst = bool(np.isfinite(worst.values).any())
    for net in labels:
        st = styles[net]
        first = True
        for sd in ds["seed"].values:
            dx = float(derr_med.sel(network=net, seed=sd))
            if not np.isfinite(dx):
                continue
            ya = float(along_med.sel(network=net, seed=sd))
            if have_worst:
                yw = float(worst_med.sel(network=net, seed=sd))
                w = worst.sel(network=net, seed=sd).values
                q1, q3 = np.nanpercentile(w, [25, 75])
                ax2.errorbar([dx], [yw], yerr=[[yw - q1], [q3 - yw]], color=st["color"],
                             marker=st["marker"], ms=6, lw=1, capsize=2,
                             label=f"{net}: worst case at ‖e‖ ≤ ‖Aδ‖" if first else None)
            ax2.scatter([dx], [ya], facecolors="none", edgecolors=st["color"],
                        marker=st["marker"], s=40,
                        label=f"{net}: along Aδ" if first else None)
            first = False
    if np.isfinite(kappa):
        ax2.axhline(1 / kappa, color="0.4", lw=1, ls=":", label="1/κ (exact recovery)")
    ax2.set_yscale("log")
    top = float(np.nanmax(derr_med.values)) if np.isfinite(derr_med.values).any() else 1.0
    ax2.set_xlim(-0.03, max(1.05, top + 0.05))  # 0 = detail recovered exactly
    ax2.set_xlabel("detail recovery error ‖(φ(Ax′) − φ(Ax)) − δ‖ / ‖δ‖ (median over pairs)")
    ax2.set_ylabel("amplification at ‖e‖ = ‖Aδ‖ (median over pairs)")
    ax2.set_title("(b) trade-off at the matched budget: one point per network and seed",
                  fontsize=10)
    ax2.legend(fontsize=7, loc="best")
    ax2.grid(True, which="both", alpha=0.25)
    fig.suptitle(f"Kernel trade-off ({ds.attrs.get('experiment', '')}: "
                 f"{ds.sizes['pair']} pairs, {ds.sizes['seed']} training seeds, κ = {kappa:g}, "
                 f"m/N = {ds.attrs.get('m')}/{ds.attrs.get('N')})", fontsize=11)
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_outputs(ds: Any, out_dir: str | os.PathLike) -> list[Path]:
    """Write ``tradeoff.nc``, ``tradeoff.csv``, ``tradeoff.md`` and ``tradeoff.png``.

    The NetCDF's attrs get the outcome of :func:`verdict`: ``tradeoff_shown``
    ("yes", "no" or "undecided") and ``verdict`` (its JSON).
    """
    out = Path(out_dir)
    v = verdict(ds)
    ds.attrs["tradeoff_shown"] = {True: "yes", False: "no", None: "undecided"}[v["shown"]]
    ds.attrs["verdict"] = json.dumps(v)
    nc = out / "tradeoff.nc"
    tmp = out / ".tradeoff.nc.tmp"
    ds.to_netcdf(tmp)
    os.replace(tmp, nc)
    csv_path, md_path = write_tables(ds, out)
    png = write_figure(ds, out / "tradeoff.png")
    return [nc, csv_path, md_path, png]
