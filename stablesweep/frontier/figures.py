"""The frontier's figures: the frontier against the bound, the robustness curves, 1/κ.

- :func:`frontier_figure` — one point per trained group (architecture × detail weight ×
  noise; the mean of its seeds, bars the seeds' range) at (median detail recovery
  error D, median worst-case amplification at ‖Aδ‖); the references marked; the curve
  (1 − D)/κ below which no map can lie, its forbidden region shaded.
- :func:`robustness_figure` — worst-case relative error against the budget η (% of
  ‖y‖), one panel per architecture, the references in each (the protocol of Genzel et
  al. 2022 and Gottschling et al. 2025 Fig. 3).
- :func:`kappa_figure` — amplification along Aδ against 1/κ for the visibility sweep,
  log–log, the fitted slope and the slope −1 of the bound.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .analysis import RECOVERED, group_rows, kappa_slope

__all__ = ["frontier_figure", "kappa_figure", "robustness_figure"]

_ARCH_MARKERS = {"unet": "o", "learned-pd": "s"}
_REF_STYLE = {"firenet": ("k", "*"), "fista": ("0.35", "P"), "primal-dual": ("0.55", "X"),
              "zero-filling": ("0.7", "v")}
_ARCH_LABEL = {"unet": "U-Net", "learned-pd": "learned primal–dual"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _weight_colors(weights: list[float]) -> dict[float, Any]:
    import matplotlib

    cmap = matplotlib.colormaps["viridis"]
    n = max(len(weights) - 1, 1)
    return {w: cmap(0.9 * i / n) for i, w in enumerate(sorted(weights))}


def _save(fig: Any, path: str | os.PathLike) -> Path:
    path = Path(path)
    fig.savefig(path, dpi=110, metadata={"Software": None})
    _plt().close(fig)
    return path


def frontier_figure(ds: Any, path: str | os.PathLike) -> Path:
    """Write the frontier figure (see the module docstring)."""
    plt = _plt()
    rows = group_rows(ds)
    kappa = rows[0]["kappa"] if rows else float("nan")
    trained = [r for r in rows if r["trained"]]
    weights = sorted({r["detail_weight"] for r in trained})
    noises = sorted({r["noise"] for r in trained})
    colors = _weight_colors(weights)
    sizes = {nz: 30 + 45 * i for i, nz in enumerate(noises)}
    fig, ax = plt.subplots(figsize=(8.6, 5.6), layout="constrained")
    d = np.linspace(0.0, 1.0, 200)
    curve = (1 - d) / kappa
    ymax_data = max([r["worst_amplification"]["max"] for r in rows] + [1 / kappa])
    ymin_data = min([r["worst_amplification"]["min"] for r in rows] + [1.0])
    ax.fill_between(d, 1e-3, curve, color="0.88", zorder=0,
                    label=f"forbidden at κ = {kappa:g}: amplification < (1 − D)/κ")
    ax.plot(d, curve, color="0.3", lw=1.4, zorder=1, label=f"bound (1 − D)/κ, κ = {kappa:g}")
    ax.axvline(RECOVERED, color="0.5", lw=0.8, ls=":", zorder=1)
    for r in trained:
        x, y = r["detail_error"], r["worst_amplification"]
        ax.errorbar([x["mean"]], [y["mean"]],
                    xerr=[[x["mean"] - x["min"]], [x["max"] - x["mean"]]],
                    yerr=[[y["mean"] - y["min"]], [y["max"] - y["mean"]]],
                    fmt="none", ecolor=colors[r["detail_weight"]], elinewidth=0.8,
                    alpha=0.7, zorder=2)
        ax.scatter([x["mean"]], [y["mean"]], s=sizes[r["noise"]],
                   marker=_ARCH_MARKERS.get(r["arch"], "o"),
                   color=colors[r["detail_weight"]], edgecolors="k", linewidths=0.5,
                   zorder=3)
    others = sorted({float(k) for k, t in zip(ds["kappa"].values, ds["trained"].values,
                                                strict=True) if t} - {kappa})
    kcolors = dict(zip(others, ["tab:red", "tab:purple", "tab:brown", "tab:pink"],
                       strict=False))
    for k in others:
        c = kcolors.get(k, "tab:gray")
        ax.plot(d, (1 - d) / k, color=c, lw=1.1, ls="--", zorder=1,
                label=f"bound (1 − D)/κ, κ = {k:g}")
        for r in (q for q in group_rows(ds, k) if q["trained"]):
            x, y = r["detail_error"], r["worst_amplification"]
            ax.errorbar([x["mean"]], [y["mean"]],
                        xerr=[[x["mean"] - x["min"]], [x["max"] - x["mean"]]],
                        yerr=[[y["mean"] - y["min"]], [y["max"] - y["mean"]]],
                        fmt="none", ecolor=c, elinewidth=0.8, alpha=0.7, zorder=2)
            ax.scatter([x["mean"]], [y["mean"]], s=60, marker=_ARCH_MARKERS.get(r["arch"], "o"),
                       facecolors="w", edgecolors=c, linewidths=1.6, zorder=3)
        ax.scatter([], [], marker="o", facecolors="w", edgecolors=c, linewidths=1.6, s=50,
                   label=f"κ = {k:g} (visibility sweep: detail weight "
                         f"{float(ds['detail_weight'].values[list(ds['kappa'].values).index(k)]):g}"
                         ", no noise)")
        ymax_data = max(ymax_data, 1 / k)
    for r in rows:
        if r["trained"]:
            continue
        c, m = _REF_STYLE.get(r["arch"], ("0.5", "d"))
        ax.scatter([r["detail_error"]["mean"]], [r["worst_amplification"]["mean"]], s=150,
                   marker=m, color=c, edgecolors="w", linewidths=0.8, zorder=4,
                   label=r["arch"])
    for arch, m in _ARCH_MARKERS.items():
        if any(r["arch"] == arch for r in trained):
            ax.scatter([], [], marker=m, color="w", edgecolors="k", s=50,
                       label=_ARCH_LABEL[arch])
    for w in weights:
        ax.scatter([], [], marker="o", color=colors[w], s=40, label=f"detail weight {w:g}")
    for nz in noises:
        ax.scatter([], [], marker="o", color="0.6", s=sizes[nz],
                   label=f"training noise {100 * nz:g} %")
    ax.set_yscale("log")
    ax.set_ylim(max(ymin_data / 1.6, 0.2), ymax_data * 1.6)
    ax.set_xlim(-0.02, 1.08)
    ax.set_xlabel("detail recovery error D = ‖φ(Ax′) − φ(Ax) − δ‖ / ‖δ‖ (median; 0 = recovered)",
                  fontsize=9)
    ax.set_ylabel("worst-case amplification at ‖e‖ ≤ ‖Aδ‖ (median over pairs)", fontsize=9)
    n_pairs = ds.sizes["pair"]
    ax.set_title(f"Accuracy–stability frontier ({ds.attrs.get('experiment', '')}, "
                 f"m/N = {ds.attrs.get('m')}/{ds.attrs.get('N')}, {n_pairs} pairs)\n"
                 "points: mean of the training seeds, bars: their range", fontsize=9.5)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7.5, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return _save(fig, path)


def robustness_figure(ds: Any, path: str | os.PathLike) -> Path:
    """Write the robustness figure (see the module docstring)."""
    plt = _plt()
    rows = group_rows(ds)
    trained = [r for r in rows if r["trained"]]
    archs = [a for a in _ARCH_MARKERS if any(r["arch"] == a for r in trained)]
    budgets = 100 * np.asarray(ds["budget"].values, dtype=float)
    weights = sorted({r["detail_weight"] for r in trained})
    noises = sorted({r["noise"] for r in trained})
    colors = _weight_colors(weights)
    styles = dict(zip(noises, ["-", "--", ":", "-."], strict=False))
    fig, axes = plt.subplots(1, max(len(archs), 1), figsize=(5.4 * max(len(archs), 1), 4.6),
                             layout="constrained", sharey=True, squeeze=False)
    for ax, arch in zip(axes[0], archs, strict=False):
        for r in (q for q in trained if q["arch"] == arch):
            mean = [e["mean"] for e in r["robust_error"]]
            ax.plot(budgets, mean, color=colors[r["detail_weight"]], ls=styles[r["noise"]],
                    lw=1.3, marker=".", ms=4)
        for r in rows:
            if r["trained"]:
                continue
            c, m = _REF_STYLE.get(r["arch"], ("0.5", "d"))
            ax.plot(budgets, [e["mean"] for e in r["robust_error"]], color=c, marker=m,
                    ms=6, lw=1.6, label=r["arch"])
        for w in weights:
            ax.plot([], [], color=colors[w], lw=2, label=f"detail weight {w:g}")
        for nz in noises:
            ax.plot([], [], color="0.4", ls=styles[nz], label=f"training noise {100 * nz:g} %")
        ax.set_title(f"{_ARCH_LABEL.get(arch, arch)} (lines: mean of the seeds)", fontsize=10)
        ax.set_xlabel("budget η: ‖e‖ ≤ η‖y‖ (%)")
        ax.grid(True, alpha=0.25)
    axes[0][0].set_ylabel("worst-case relative error ‖φ(y + e) − x‖ / ‖x‖ (mean over images)")
    axes[0][0].legend(fontsize=7.5, loc="upper left", frameon=False)  # the emptier panel
    fig.suptitle(f"Robustness at the published budgets ({ds.attrs.get('experiment', '')}, "
                 f"{ds.sizes['pair']} images)", fontsize=11)
    return _save(fig, path)


def kappa_figure(ds: Any, path: str | os.PathLike, visibility: dict[str, Any]) -> Path:
    """Write the 1/κ figure for the visibility sweep's training settings."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.6, 4.8), layout="constrained")
    archs = [a for a in _ARCH_MARKERS if a in set(map(str, ds["arch"].values))]
    palette = {"unet": "tab:blue", "learned-pd": "tab:orange"}
    kw = {"detail_weight": float(visibility["detail_weight"]),
          "noise": float(visibility["noise"])}
    # the points of every model (no fit needed: no bootstrap draws)
    points = {a: kappa_slope(ds, a, recovered_only=False, draws=0, **kw)["points"]
              for a in archs}
    kmin, kmax = np.inf, 0.0
    for arch in archs:
        pts = points[arch]
        if not pts:
            continue
        k = np.array([p["kappa"] for p in pts])
        a = np.array([p["amplification"] for p in pts])
        rec = np.array([p["detail_error"] <= RECOVERED for p in pts])
        kmin, kmax = min(kmin, k.min()), max(kmax, k.max())
        c = palette.get(arch, "k")
        ax.scatter(1 / k[rec], a[rec], color=c, marker=_ARCH_MARKERS[arch], s=36,
                   label=f"{_ARCH_LABEL[arch]}: recovers (D ≤ {RECOVERED:g})")
        ax.scatter(1 / k[~rec], a[~rec], facecolors="none", edgecolors=c,
                   marker=_ARCH_MARKERS[arch], s=36, label=f"{_ARCH_LABEL[arch]}: does not")
        slope = kappa_slope(ds, arch, **kw)
        if np.isfinite(slope["slope"]):
            kk = np.array(slope["kappas"])
            used = np.array([p["amplification"] for p in slope["points"]])
            logk = np.log([p["kappa"] for p in slope["points"]])
            c0 = np.mean(np.log(used)) - slope["slope"] * np.mean(logk)
            xs = np.linspace(kk.min(), kk.max(), 20)
            lo, hi = slope["interval"]
            ax.plot(1 / xs, np.exp(c0) * xs ** slope["slope"], color=c, lw=1.2,
                    label=f"fit: slope {slope['slope']:.2f} [{lo:.2f}, {hi:.2f}] in κ")
    if np.isfinite(kmin):
        xs = np.linspace(kmin, kmax, 20)
        ax.plot(1 / xs, 1 / xs, color="0.3", ls="--", lw=1, label="1/κ (slope −1)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    if np.isfinite(kmin):
        ax.set_xticks(sorted({1 / p["kappa"] for pts in points.values() for p in pts}))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("1/κ = ‖δ‖ / ‖Aδ‖")
    ax.set_ylabel("amplification along Aδ (median over pairs)")
    ax.set_title(f"Visibility sweep: detail weight {float(visibility['detail_weight']):g}, "
                 f"noise {100 * float(visibility['noise']):g} %, one point per seed",
                 fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7.5, loc="upper left")
    return _save(fig, path)
