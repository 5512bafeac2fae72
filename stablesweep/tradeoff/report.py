"""Outputs of the trade-off experiment: NetCDF, the summary table (CSV, Markdown), the figure.

The table has one row per network: the median over the test pairs with the range
(min–max) of each metric, and in how many pairs the kernel lower bound applies and
holds (measured amplification ≥ bound). The figure (Okabe–Ito colours, one marker per
network) has two panels: (a) measured amplification against the kernel lower bound (filled
markers) and the local bound (hollow) for every (network, pair) where it applies, log
axes, with the line y = x (every point must lie on or above it); (b) the trade-off:
amplification against the detail recovery error, per pair, with the level 1/κ (what
exact recovery of both images costs).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["summary_rows", "write_figure", "write_outputs", "write_tables"]

#: (variable, column header) of the table, in order
COLUMNS = (
    ("error_x", "error on x"),
    ("error_x_prime", "error on x'"),
    ("detail_error", "detail recovery error"),
    ("amplification", "amplification along A delta"),
    ("kernel_bound", "kernel lower bound"),
    ("local_kernel_bound", "local kernel lower bound"),
    ("worst_amplification", "worst-case amplification"),
)


def _stats(v: np.ndarray) -> tuple[float, float, float]:
    v = np.asarray(v, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (np.nan, np.nan, np.nan)
    return float(np.median(v)), float(v.min()), float(v.max())


def summary_rows(ds: Any) -> list[dict[str, Any]]:
    """One dict per network: ``network``, ``<var>_median/_min/_max``, bound counts.

    ``bound_applies`` counts the pairs with ‖δ‖ > 2η, ``bound_holds`` those among them
    where the measured amplification is at least the bound, ``pairs`` the total.
    """
    rows = []
    for net in ds["network"].values:
        sel = ds.sel(network=net)
        row: dict[str, Any] = {"network": str(net)}
        for var, _ in COLUMNS:
            med, lo, hi = _stats(sel[var].values)
            row[f"{var}_median"], row[f"{var}_min"], row[f"{var}_max"] = med, lo, hi
        bound = sel["kernel_bound"].values
        applies = np.isfinite(bound)
        row["bound_applies"] = int(applies.sum())
        row["bound_holds"] = int((sel["amplification"].values[applies] >= bound[applies]).sum())
        local = sel["local_kernel_bound"].values
        lapp = np.isfinite(local)
        row["local_bound_applies"] = int(lapp.sum())
        row["local_bound_holds"] = int((sel["amplification"].values[lapp] >= local[lapp]).sum())
        row["pairs"] = int(bound.size)
        row["validation_error"] = float(sel["validation_error"].values)
        rows.append(row)
    return rows


def _fmt(v: float) -> str:
    if not np.isfinite(v):
        return "–"
    return f"{v:.3g}"


def write_tables(ds: Any, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``tradeoff.csv`` (full precision) and ``tradeoff.md`` (median (min–max))."""
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
    lines = [
        f"# Kernel trade-off: {ds.attrs.get('experiment', '')}",
        "",
        f"{ds.sizes['pair']} test pairs (x, x' = x + delta), detail "
        f"'{ds.attrs.get('detail_kind', '')}', visibility ||A delta||/||delta|| = "
        f"{_fmt(float(np.median(vis)))} (kappa = {kappa:g}); an exact reconstruction of "
        f"both images needs amplification 1/kappa = {_fmt(1 / kappa)}. "
        f"m = {ds.attrs.get('m')} of N = {ds.attrs.get('N')} samples. "
        "Entries: median over the pairs (min–max). The kernel lower bound "
        "(||delta|| - 2 eta) / ||A delta|| applies where ||delta|| > 2 eta; the local one "
        "counts only the errors in a window around the detail; 'holds' counts the pairs "
        "with measured amplification >= bound. Errors are relative to ||x|| and ||x'||, "
        "the detail recovery error to ||delta|| (0: recovered, 1: not seen).",
        "",
        "| network | val. error | " + " | ".join(h for _, h in COLUMNS)
        + " | bound applies | bound holds | local bound applies | local bound holds |",
        "|---|" + "---:|" * (len(COLUMNS) + 5),
    ]
    for r in rows:
        cells = [f"{_fmt(r[f'{v}_median'])} ({_fmt(r[f'{v}_min'])}–{_fmt(r[f'{v}_max'])})"
                 if np.isfinite(r[f"{v}_median"]) else "–" for v, _ in COLUMNS]
        lines.append(f"| {r['network']} | {_fmt(r['validation_error'])} | "
                     + " | ".join(cells)
                     + f" | {r['bound_applies']}/{r['pairs']} | "
                     f"{r['bound_holds']}/{r['bound_applies']} | "
                     f"{r['local_bound_applies']}/{r['pairs']} | "
                     f"{r['local_bound_holds']}/{r['local_bound_applies']} |")
    md_path.write_text("\n".join(lines) + "\n")
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
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10.5, 4.4), layout="constrained")
    lo, hi = np.inf, -np.inf
    for net in labels:
        st = styles[net]
        amp = ds["amplification"].sel(network=net).values
        bound = ds["kernel_bound"].sel(network=net).values
        ok = np.isfinite(bound) & (bound > 0)
        n_app = int(np.isfinite(bound).sum())
        label = f"{net} (bound applies in {n_app}/{bound.size})"
        if ok.any():
            ax1.scatter(bound[ok], amp[ok], color=st["color"], marker=st["marker"], s=30,
                        alpha=0.85, label=label)
            lo, hi = min(lo, bound[ok].min(), amp[ok].min()), max(hi, bound[ok].max(),
                                                                  amp[ok].max())
        else:
            ax1.scatter([], [], color=st["color"], marker=st["marker"], label=label)
        local = ds["local_kernel_bound"].sel(network=net).values
        lok = np.isfinite(local) & (local > 0)
        if lok.any():
            ax1.scatter(local[lok], amp[lok], facecolors="none", edgecolors=st["color"],
                        marker=st["marker"], s=36, alpha=0.85,
                        label=f"{net}, local bound ({int(lok.sum())}/{local.size})")
            lo, hi = min(lo, local[lok].min(), amp[lok].min()), max(hi, local[lok].max(),
                                                                    amp[lok].max())
        derr = ds["detail_error"].sel(network=net).values
        ax2.scatter(derr, amp, color=st["color"], marker=st["marker"], s=30, alpha=0.85,
                    label=net)
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
    ax1.set_xlabel("kernel lower bound (‖δ‖ − 2η) / ‖Aδ‖ (filled), local bound (hollow)")
    ax1.set_ylabel("measured amplification ‖φ(Ax′) − φ(Ax)‖ / ‖Aδ‖")
    ax1.set_title("(a) amplification ≥ bound where it applies", fontsize=10)
    ax1.legend(fontsize=8, loc="lower right")
    ax1.grid(True, which="both", alpha=0.25)
    if np.isfinite(kappa):
        ax2.axhline(1 / kappa, color="0.4", lw=1, ls=":", label="1/κ (exact recovery)")
    ax2.set_yscale("log")
    derr_all = ds["detail_error"].values
    top = float(np.nanmax(derr_all)) if np.isfinite(derr_all).any() else 1.0
    ax2.set_xlim(-0.03, max(1.05, top + 0.05))  # 0 = detail recovered exactly
    ax2.set_xlabel("detail recovery error ‖(φ(Ax′) − φ(Ax)) − δ‖ / ‖δ‖")
    ax2.set_ylabel("amplification along Aδ")
    ax2.set_title("(b) trade-off: recovering the detail vs stability", fontsize=10)
    ax2.legend(fontsize=8, loc="best")
    ax2.grid(True, which="both", alpha=0.25)
    fig.suptitle(f"Kernel trade-off ({ds.attrs.get('experiment', '')}: "
                 f"{ds.sizes['pair']} pairs, κ = {kappa:g}, m/N = "
                 f"{ds.attrs.get('m')}/{ds.attrs.get('N')})", fontsize=11)
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_outputs(ds: Any, out_dir: str | os.PathLike) -> list[Path]:
    """Write ``tradeoff.nc``, ``tradeoff.csv``, ``tradeoff.md`` and ``tradeoff.png``."""
    out = Path(out_dir)
    nc = out / "tradeoff.nc"
    tmp = out / ".tradeoff.nc.tmp"
    ds.to_netcdf(tmp)
    os.replace(tmp, nc)
    csv_path, md_path = write_tables(ds, out)
    png = write_figure(ds, out / "tradeoff.png")
    return [nc, csv_path, md_path, png]
