"""A self-contained HTML report of one experiment: figures, fit tables, provenance.

The report is written from stored results only (the sweep's Zarr store, the analysis
file ``fits.nc`` and the figure folder); nothing is recomputed. It is one HTML file
that opens offline: figures are embedded as palette PNGs, scaled so that the whole
file stays under a size budget (2 MB by default), each linking to its full-size PNG
and PDF in ``figures/``; long tables are summarised per network, and the full table
is embedded as a downloadable CSV (a ``data:`` URI).

Layout (the order of the questions the experiment answers):

1. Accuracy against depth: ``error_vs_depth``, ``opt_error_vs_depth``, rate tables.
2. Stability: ``worst_case_amplification`` and ``worst_case`` at equal budgets, the
   worst-case table, ``amplification`` (each network's own attack path),
   ``stability_panel``, ``attack_convergence``, the accuracy–stability trade-off.
3. Sampling and noise: ``phase_transition`` with recovery, ``error_vs_noise`` with
   the noise slope.
4. Provenance: config, versions, command, git commit, start and end times.

Every figure has a caption saying what it shows and with which settings; fits that
``fits.nc`` flags (``fit_flag``, ``opt_fit_flag``: a non-empty reason) are shown as
"flagged: <reason>" instead of numbers.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

__all__ = [
    "DEFAULT_MAX_BYTES",
    "FIGURE_SECTIONS",
    "GENERATOR",
    "is_own_report",
    "parse_stem",
    "units_text",
    "write_report",
]

#: Size budget of the report file in bytes (the ``quick`` report must stay below it).
DEFAULT_MAX_BYTES = 2_000_000
#: Content of ``<meta name="generator">``: how a later run recognises its own output.
GENERATOR = "stablesweep report"
#: Tables with more rows than this are summarised per network (full table as CSV).
MAX_FULL_ROWS = 16

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1150px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #bbb; margin-top: 2.2em; }
h3 { margin-top: 1.6em; }
nav.toc { background: #f6f7f9; border: 1px solid #dde; padding: .6em 1.2em; }
nav.toc ol { margin: .2em 0; }
.lead { color: #444; }
.warn { background: #fff4e0; border-left: 4px solid #e69f00; padding: .4em .8em; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr));
           gap: 1.2em; }
figure { margin: 0; }
figure img { width: 100%; height: auto; border: 1px solid #ddd; background: #fff; }
figcaption { font-size: .85em; color: #444; margin-top: .3em; }
figcaption .settings { color: #666; }
table { border-collapse: collapse; font-size: .85em; margin: .5em 0 .6em; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; vertical-align: top;
         white-space: nowrap; }
div.scroll { overflow-x: auto; max-width: 100%; }
th { background: #f1f2f4; }
td.txt, th.txt { text-align: left; }
td.flag { color: #a33; text-align: left; font-style: italic; }
dl.cols { font-size: .8em; color: #555; margin: 0 0 1.4em; }
dl.cols dt { float: left; clear: left; font-weight: bold; margin-right: .5em; }
dl.cols dd { margin: 0 0 .1em 0; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; font-size: .85em; }
.meta th { text-align: left; white-space: nowrap; }
.meta td { text-align: left; }
a.csv { font-weight: bold; }
"""


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class FigureKind:
    """One figure type of the report: file-stem prefix, heading, what it shows."""

    kind: str
    heading: str
    shows: str  # the paragraph under the heading
    settings: str  # which config block its caption quotes: "networks", "attack", ...
    short: str = ""  # what one figure shows, for its caption


@dataclass(frozen=True)
class TableSpec:
    """One table of the report: candidate variables of ``fits.nc`` and how to group."""

    key: str
    heading: str
    about: str
    variables: tuple[str, ...]
    group: tuple[str, ...] = ("network",)


@dataclass
class Section:
    key: str
    heading: str
    about: str
    items: list = field(default_factory=list)  # FigureKind | TableSpec, in order


_RATE_VARS = (
    "selected_model", "gamma", "gamma_ci", "exp_rate", "exp_rate_ci", "eps", "eps_ci", "C",
    "C_ci", "eps_theory_rel", "eps_theory", "recovery_floor", "n_points",
    "opt_model", "opt_gamma", "opt_gamma_low", "opt_gamma_high", "opt_C", "opt_c",
    "opt_c_low", "opt_c_high", "stalled", "stall_depth",
)
_WORST_VARS = (
    "wc_rel_error", "wc_random_rel_error", "wc_ratio", "wc_amplification", "wc_change_rel",
    "wc_jacobian_sigma_max",
)
_TRADEOFF_VARS = (
    "tradeoff_max_amplification", "tradeoff_clean_rel_error", "tradeoff_clean_abs_error",
    "tradeoff_clean_error",
)
_STABILITY_VARS = ("max_amplification", "clean_rel_error", "clean_abs_error", "clean_error")

#: Variables a flag covers: ``fit_flag`` the fits of the error, ``opt_fit_flag`` the fits
#: of the optimisation error (every ``opt_*`` variable).
_FIT_FLAG_VARS = frozenset({
    "selected_model", "gamma", "gamma_ci", "exp_rate", "exp_rate_ci", "eps", "eps_ci", "C",
    "C_ci", "log_rss", "aic", "bic",
})


def _flag_for(var: str) -> str | None:
    if var.startswith("opt_") and var != "opt_fit_flag":
        return "opt_fit_flag"
    if var in _FIT_FLAG_VARS:
        return "fit_flag"
    return None


#: The report's sections, in the order of the questions.
FIGURE_SECTIONS: list[Section] = [
    Section("accuracy", "Accuracy against depth",
            "How close does each network get to the signal, and how fast does the error "
            "fall with depth n (the number of layers or iterations)?", [
                TableSpec("accuracy", "Accuracy at full depth",
                          "Relative error at each network's full depth, and the PSNR and "
                          "SSIM of |φ(y)| against |x| (scikit-image), mean over trials.",
                          ("full_depth_rel_error", "psnr_mean", "ssim_mean")),
                FigureKind("error_vs_depth", "Error against depth",
                           "Relative error ‖φ_n(y) − x‖/‖x‖ of each network truncated at "
                           "depth n (mean over trials), with the fitted rate curves and the "
                           "theory floor ε on the same relative axis.", "networks",
                           short="relative error ‖φ_n(y) − x‖/‖x‖ against depth n, fitted rates, "
                                 "theory floor"),
                FigureKind("opt_error_vs_depth", "Optimisation error against depth",
                           "Optimisation error ‖φ_n(y) − x̂‖/‖x‖ against depth n, x̂ the "
                           "minimiser of each network's own convex problem (the quantity "
                           "the theory's rates are about), with fitted rates.", "networks",
                           short="optimisation error ‖φ_n(y) − x̂‖/‖x‖ against depth n, fitted "
                                 "rates"),
                TableSpec("rates", "Convergence rates",
                          "Fits of ε + C/n^γ (power law) and ε + C·e^(−c n) (exponential) "
                          "to the error against depth; opt_* to the optimisation error. "
                          "Flagged fits are not to be trusted.", _RATE_VARS),
            ]),
    Section("stability", "Stability",
            "How much can a small perturbation of the measurements change the output? "
            "Networks are compared at equal budgets ε = ‖e‖/‖y‖ first.", [
                FigureKind("worst_case_amplification", "Worst-case amplification at equal "
                           "budgets", "Worst-case amplification ‖φ(y+e*) − φ(y)‖/‖e*‖ of "
                           "every network on one axis against the budget ε = ‖e‖/‖y‖.",
                           "attack",
                           short="worst-case amplification of every network against the budget ε "
                                 "= ‖e‖/‖y‖"),
                FigureKind("worst_case", "Worst case against random noise",
                           "Error of the worst perturbation e* found within the budget "
                           "‖e‖ ≤ ε‖y‖ next to random noise of the same norm, per network.",
                           "attack",
                           short="worst-case and random-noise error against the budget ε = "
                                 "‖e‖/‖y‖"),
                TableSpec("worst_case", "Worst-case attack at equal budgets",
                          "Per budget ε: worst-case and random-noise relative errors, their "
                          "ratio, the amplification and σ_max of the Jacobian.", _WORST_VARS,
                          group=("network", "noise_level")),
                FigureKind("amplification", "Amplification along each network's attack path",
                           "Amplification ‖φ(y+Ar) − φ(y)‖/‖Ar‖ along each network's own "
                           "momentum-ascent path; the paths reach different sizes ‖Ar‖, so "
                           "compare networks in the equal-budget figures above.", "attack",
                           short="amplification ‖φ(y+Ar) − φ(y)‖/‖Ar‖ along each network's own "
                                 "attack path"),
                FigureKind("stability_panel", "Stability test examples",
                           "One attacked example: the image x and the clean reconstruction "
                           "φ(y) in the first column; then the perturbed input (x + r for "
                           "the momentum attack, x + A*e for the worst-case one at each "
                           "budget ε) above its reconstruction, with the difference "
                           "|φ(y + ·) − φ(y)| below; one grey scale with a colour bar.",
                           "example",
                           short="x and φ(y); perturbed inputs above their reconstructions; "
                                 "differences below"),
                FigureKind("attack_convergence", "Attack convergence",
                           "Best objective value found so far against the ascent step (max "
                           "over restarts): a flat end means the attack has converged.",
                           "attack", short="best attack objective so far against the ascent step"),
                TableSpec("stability", "Largest amplification per cell",
                          "Largest amplification the momentum attack found and the clean "
                          "error at the attacked depth.", _STABILITY_VARS,
                          group=("network", "attack_depth")),
                TableSpec("tradeoff", "Accuracy–stability trade-off",
                          "Per network and attacked depth: the largest amplification over "
                          "all cells against the clean error.", _TRADEOFF_VARS,
                          group=("network", "attack_depth")),
            ]),
    Section("sampling", "Sampling and noise",
            "Which sampling budgets recover the signal, and how does the error grow with "
            "measurement noise?", [
                FigureKind("phase_transition", "Phase transition",
                           "Recovery probability (fraction of trials with relative error "
                           "below the threshold) over sampling rate × sparsity, per "
                           "sampling scheme.", "recovery",
                           short="recovery probability over sampling rate × sparsity"),
                TableSpec("recovery", "Recovery probability",
                          "Fraction of trials recovered at the recovery depth.",
                          ("recovery_probability", "recovery_trials", "recovery_depth")),
                FigureKind("error_vs_noise", "Error against noise",
                           "Relative error at full depth against the relative measurement "
                           "noise ‖e‖/‖Ax‖ (the swept axis), with the fitted noise slope.",
                           "noise",
                           short="relative error at full depth against the relative noise "
                                 "‖e‖/‖Ax‖"),
                TableSpec("noise", "Noise sensitivity",
                          "Least-squares slope C₃ of the error against the noise.",
                          ("noise_slope", "noise_slope_se", "noise_intercept",
                           "noise_slope_points", "noise_slope_depth")),
            ]),
]


# --------------------------------------------------------------------------- small helpers


def units_text(units: object) -> str:
    """Units as printed after a name: ``""`` for dimensionless ones.

    ``"1"``, ``""``, ``"none"``, ``"count"`` and products or quotients of ``1`` such as
    ``"1/(1)"`` are dimensionless and print as nothing; redundant parentheses around
    single units are dropped (``"(1)/(a.u.)"`` → ``"1/a.u."``).
    """
    text = str(units if units is not None else "").strip()
    if text.lower() in ("", "1", "none", "count", "counts", "dimensionless", "-"):
        return ""
    if re.fullmatch(r"[()1\s/*·]+", text):
        return ""
    text = re.sub(r"\(([^()/*·\s]+)\)", r"\1", text)
    return text


def _label(attrs: dict, name: str) -> str:
    u = units_text(attrs.get("units"))
    return f"{name} [{u}]" if u else name


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return "–"
        return f"{float(value):.4g}"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)


def _stem_value(value: object) -> str:
    """How `stablesweep.figures.common.stem` writes a label value."""
    text = f"{value:g}" if isinstance(value, (float, np.floating)) else str(value)
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", text).strip("_")


def parse_stem(stem: str, known: dict[str, Sequence]) -> tuple[str, dict[str, str]]:
    """Split a figure file stem ``kind__dim-value_dim-value`` into kind and labels.

    Parameters
    ----------
    stem : str
        File stem as written by the figures (cell labels with unsafe characters
        replaced by ``_``).
    known : dict
        Dimension name → its coordinate values; used to find where each label starts
        (names may contain ``_``) and to restore the original value (``"2_4_6"`` →
        ``"2,4,6"``).

    Returns
    -------
    (kind, labels)
        Labels in file order; an unparsable tail is returned as ``{"cell": tail}``.
    """
    kind, _, tail = stem.partition("__")
    if not tail:
        return kind, {}
    names = sorted(known, key=len, reverse=True)
    pattern = re.compile(r"(?:^|_)(" + "|".join(map(re.escape, names)) + r")-") if names else None
    hits = list(pattern.finditer(tail)) if pattern else []
    if not hits or hits[0].start() != 0:
        return kind, {"cell": tail}
    labels: dict[str, str] = {}
    for i, m in enumerate(hits):
        end = hits[i + 1].start() if i + 1 < len(hits) else len(tail)
        raw = tail[m.end():end]
        value = raw
        for v in known[m.group(1)]:
            if _stem_value(v) == raw:
                value = _fmt(v) if isinstance(v, (float, np.floating)) else str(v)
                break
        labels[m.group(1)] = value
    return kind, labels


def _display_label(name: str, value: str) -> str:
    if name == "attack_depth" and value in ("-1", "-1.0"):
        return "attack depth = each network's own depth"
    return f"{name.replace('_', ' ')} = {value}"


def is_own_report(path: str | Path) -> bool:
    """Whether `path` is an HTML report this module wrote (safe to overwrite)."""
    path = Path(path)
    if not path.is_file():
        return False
    with open(path, "rb") as f:
        head = f.read(4096).decode("utf-8", "replace")
    return (f'<meta name="generator" content="{GENERATOR}' in head
            or "<title>stablesweep — " in head)  # reports written before the generator tag


# --------------------------------------------------------------------------- figures


def _png_variants(path: Path, widths: Sequence[int], colors: Sequence[int]) -> list[bytes]:
    """The PNG at each (width, palette size): RGB on white, resized, palette-quantised."""
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        if im.mode in ("RGBA", "LA", "P"):
            im = im.convert("RGBA")
            base = Image.new("RGB", im.size, (255, 255, 255))
            base.paste(im, mask=im.split()[-1])
            im = base
        else:
            im = im.convert("RGB")
        out = []
        for width, ncol in zip(widths, colors, strict=True):
            w = min(width, im.width)
            small = im if w == im.width else im.resize(
                (w, max(1, round(im.height * w / im.width))), Image.Resampling.LANCZOS)
            q = small.quantize(colors=ncol, method=Image.Quantize.MEDIANCUT,
                               dither=Image.Dither.NONE)
            buf = io.BytesIO()
            q.save(buf, format="PNG", optimize=True)
            out.append(buf.getvalue())
    return out


#: Embedding levels tried in order until the report fits its budget: (width px, colours).
_LEVELS = [(1100, 128), (900, 96), (760, 96), (640, 64), (580, 64), (540, 64), (500, 48),
           (460, 48), (380, 32), (320, 24), (260, 16)]


def _choose_embeddings(pngs: Sequence[Path], budget: int | None) -> tuple[list[bytes], int]:
    """PNG bytes of each figure at the largest level whose base64 total fits `budget`."""
    if not pngs:
        return [], 0
    if budget is None:
        return [p.read_bytes() for p in pngs], -1
    tried: dict[int, list[bytes]] = {}

    def fits(level: int) -> bool:
        width, ncol = _LEVELS[level]
        tried[level] = [_png_variants(p, [width], [ncol])[0] for p in pngs]
        return sum(4 * ((len(b) + 2) // 3) for b in tried[level]) <= budget

    # sizes fall with the level: bisect for the first (largest) level that fits
    lo, hi = 0, len(_LEVELS) - 1
    if fits(lo):
        return tried[lo], lo
    if not fits(hi):
        return tried[hi], hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            hi = mid
        else:
            lo = mid
    return tried[hi], hi


# --------------------------------------------------------------------------- tables


def _flatten(fits: xr.Dataset, names: Iterable[str], base: Sequence[str]) -> dict:
    """Columns over the `base` dims: extra small dims (fit_model, bound) expanded."""
    cols: dict[str, xr.DataArray] = {}
    for name in names:
        if name not in fits.data_vars:
            continue
        da = fits[name]
        extra = [d for d in da.dims if d not in base]
        if any(fits.sizes[d] > 4 for d in extra):
            continue
        if not extra:
            cols[name] = da
            continue
        stacked = da.stack(_combo=extra) if len(extra) > 1 else da.rename({extra[0]: "_combo"})
        for i in range(stacked.sizes["_combo"]):
            sub = stacked.isel(_combo=i, drop=True)
            tag = ",".join(str(fits[d].values[np.unravel_index(
                i, [fits.sizes[e] for e in extra])[k]]) for k, d in enumerate(extra))
            tag = tag.replace("lower", "low").replace("upper", "high")
            sub = sub.drop_vars([c for c in sub.coords if c not in base], errors="ignore")
            sub.attrs = dict(da.attrs)
            cols[f"{name}[{tag}]"] = sub
    return cols


def _table_frame(fits: xr.Dataset, spec: TableSpec) -> tuple[pd.DataFrame, dict, list[str]]:
    """The table of `spec` as a DataFrame, the column attrs, and the value columns.

    Flagged values become the string ``"flagged: <reason>"``.
    """
    present = [v for v in spec.variables if v in fits.data_vars]
    if not present:
        return pd.DataFrame(), {}, []
    base = [d for d in fits[present[0]].dims if d not in ("fit_model", "bound")]
    for v in present[1:]:
        base += [d for d in fits[v].dims if d not in base and d not in ("fit_model", "bound")]
    cols = _flatten(fits, present, base)
    if not cols:
        return pd.DataFrame(), {}, []
    values = list(cols)
    frame = xr.Dataset({k: v.drop_attrs() if hasattr(v, "drop_attrs") else v
                        for k, v in cols.items()})
    frame = frame.drop_vars([c for c in frame.coords if c not in frame.dims])
    df = frame.to_dataframe().reset_index()
    keep = df[values].apply(
        lambda s: s.notna() & (s.astype(str) != "") if s.dtype.kind not in "fc" else s.notna())
    df = df[keep.any(axis=1)].reset_index(drop=True)
    attrs = {k: dict(v.attrs) for k, v in cols.items()}
    for dim in base:
        attrs[dim] = dict(fits[dim].attrs) if dim in fits.coords else {}
    # flags: broadcast to the rows, then replace the covered values
    for flag in ("fit_flag", "opt_fit_flag"):
        covered = [c for c in values if _flag_for(c.split("[")[0]) == flag]
        if flag not in fits.data_vars or not covered:
            continue
        fl = fits[flag]
        extra = [d for d in fl.dims if d not in base]
        if extra:  # one reason per row: the non-empty reasons joined
            fl = xr.apply_ufunc(
                lambda a: np.array(["; ".join(sorted({str(s) for s in r if str(s)}))
                                    for r in a.reshape(-1, a.shape[-1])]
                                   ).reshape(a.shape[:-1]),
                fl.stack(_e=extra), input_core_dims=[["_e"]])
        fdf = fl.rename("_flag").to_dataframe().reset_index()
        on = [d for d in fl.dims if d in df.columns]
        fdf = fdf[on + ["_flag"]] if on else fdf[["_flag"]]
        if on:
            df = df.merge(fdf, on=on, how="left")
        else:
            df["_flag"] = fdf["_flag"].iloc[0] if len(fdf) else ""
        reasons = df["_flag"].fillna("").astype(str)
        df[f"{flag}"] = reasons
        attrs[flag] = dict(fits[flag].attrs)
        bad = reasons != ""
        for c in covered:
            df[c] = df[c].astype(object)
            df.loc[bad, c] = "flagged: " + reasons[bad]
        df = df.drop(columns="_flag")
    return df, attrs, values


def _coord_cell(name: str, value: object) -> str:
    if name == "attack_depth" and _fmt(value) == "-1":
        return "own depth"
    return _fmt(value)


def _html_table(df: pd.DataFrame, attrs: dict, value_cols: Sequence[str]) -> str:
    head = []
    for c in df.columns:
        a = attrs.get(c, {})
        tip = _esc(a.get("long_name", c))
        cls = " class='txt'" if df[c].dtype.kind not in "fciu" else ""
        head.append(f"<th{cls} title='{tip}'>{_esc(_label(a, c))}</th>")
    rows = []
    for row in df.itertuples(index=False):
        cells = []
        for c, v in zip(df.columns, row, strict=True):
            if isinstance(v, str) and v.startswith("flagged: "):
                cells.append(f"<td class='flag'>{_esc(v)}</td>")
            elif c not in value_cols and not c.endswith("fit_flag"):
                cells.append(f"<td class='txt'>{_esc(_coord_cell(c, v))}</td>")
            elif isinstance(v, str):
                cells.append(f"<td class='txt'>{_esc(v)}</td>")
            else:
                cells.append(f"<td>{_esc(_fmt(v))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{''.join(head)}</tr>{''.join(rows)}</table>"


def _columns_legend(cols: Sequence[str], attrs: dict) -> str:
    """``name: long_name [units]`` for each variable behind the columns (once each)."""
    tags: dict[str, list[str]] = {}
    for c in cols:
        base, _, tag = c.partition("[")
        tags.setdefault(base, [])
        if tag:
            tags[base].append(tag.rstrip("]"))
    items = []
    for base, tag in tags.items():
        a = attrs.get(base) or attrs.get(f"{base}[{tag[0]}]" if tag else base, {})
        long = a.get("long_name")
        if not long:
            continue
        u = units_text(a.get("units"))
        unit = f" [{_esc(u)}]" if u else ""
        extra = f" (columns {base}[{', '.join(tag)}])" if tag else ""
        items.append(f"<dt>{_esc(base)}</dt><dd>{_esc(long)}{unit}{_esc(extra)}</dd>")
    return f"<dl class='cols'>{''.join(items)}</dl>" if items else ""


#: Columns left out of the per-network summaries (they stay in the full CSV table).
_DETAIL = re.compile(r"(_ci|_se|_low|_high|_points|_depth|_trials)$|^(C|opt_C|log_rss|aic|bic"
                     r"|n_points|noise_intercept)$")


def _summary_columns(values: Sequence[str]) -> list[str]:
    return [c for c in values if not _DETAIL.search(c.split("[")[0])]


def _summary(df: pd.DataFrame, value_cols: Sequence[str], group: Sequence[str]) -> pd.DataFrame:
    """Per group: 'median (min – max)' of numbers over unflagged cells, counts of strings."""
    group = [g for g in group if g in df.columns]
    if "noise_level" in group and df["noise_level"].nunique() > 8:
        group.remove("noise_level")
    if not group:
        group = []
    rows = []
    grouped = df.groupby(group, sort=False) if group else [((), df)]
    for key, sub in grouped:
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(group, key, strict=True))
        row["cells"] = len(sub)
        for c in value_cols:
            s = sub[c]
            flagged = s.map(lambda v: isinstance(v, str) and v.startswith("flagged: "))
            good = s[~flagged]
            nums = pd.to_numeric(good, errors="coerce")
            if good.map(lambda v: isinstance(v, str)).all() and len(good):
                counts = good.astype(str).value_counts()
                row[c] = ", ".join(f"{k} ×{n}" for k, n in counts.items() if k)
            else:
                nums = nums[np.isfinite(nums.astype(float))]
                if len(nums) == 0:
                    row[c] = "–"
                elif nums.min() == nums.max():
                    row[c] = _fmt(float(nums.iloc[0]))
                else:
                    row[c] = (f"{_fmt(float(nums.median()))} "
                              f"({_fmt(float(nums.min()))} – {_fmt(float(nums.max()))})")
            if flagged.any():
                row[c] = (row[c] + "; " if row[c] not in ("", "–") else "") + (
                    f"flagged in {int(flagged.sum())} of {len(s)}")
        for flag in ("fit_flag", "opt_fit_flag"):
            if flag in sub.columns:
                reasons = sub[flag][sub[flag] != ""].value_counts()
                row[flag] = ("; ".join(f"{k} ×{n}" for k, n in reasons.items())
                             if len(reasons) else "none")
        rows.append(row)
    return pd.DataFrame(rows)


def _csv_link(df: pd.DataFrame, name: str) -> str:
    text = df.to_csv(index=False, float_format="%.6g")
    data = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return (f"<a class='csv' download='{_esc(name)}' "
            f"href='data:text/csv;charset=utf-8;base64,{data}'>Download the full table "
            f"({len(df)} rows, CSV)</a>")


def _table_html(fits: xr.Dataset, spec: TableSpec, experiment: str) -> str | None:
    df, attrs, values = _table_frame(fits, spec)
    if df.empty:
        return None
    parts = [f"<p>{_esc(spec.about)}</p>"]
    csv_name = f"{experiment}-{spec.key}.csv"
    if len(df) <= MAX_FULL_ROWS:
        parts.append(f"<div class='scroll'>{_html_table(df, attrs, values)}</div>")
        parts.append(f"<p>{_csv_link(df, csv_name)}</p>")
    else:
        summary = _summary(df, _summary_columns(values), spec.group)
        shown = [c for c in values if c in summary.columns]
        by = ", ".join(g.replace("_", " ") for g in spec.group if g in summary.columns)
        parts.append(f"<p>Summary of {len(df)} rows per {_esc(by or 'table')}: median "
                     "(min – max) over the cells; flagged fits left out of the numbers.</p>")
        sattrs = dict(attrs, cells={"long_name": "cells (rows of the full table)"})
        parts.append(f"<div class='scroll'>{_html_table(summary, sattrs, shown)}</div>")
        parts.append(f"<p>{_csv_link(df, csv_name)}</p>")
    parts.append(_columns_legend(values if len(df) <= MAX_FULL_ROWS
                                 else _summary_columns(values), attrs))
    return "".join(parts)


# --------------------------------------------------------------------------- captions


def _load_config(text: object) -> dict:
    try:
        import yaml

        cfg = yaml.safe_load(str(text or ""))
    except Exception:  # noqa: BLE001 - an unreadable config only shortens captions
        return {}
    return cfg if isinstance(cfg, dict) else {}


def _compact(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_compact(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "[" + ", ".join(_compact(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _settings(cfg: dict, kind: FigureKind, labels: dict, fits_attrs: dict) -> str:
    prob = cfg.get("problem", {}) if isinstance(cfg.get("problem"), dict) else {}
    bits = []
    if prob:
        res, dim = prob.get("resolution"), prob.get("dim", 2)
        grid = f"{res}^{dim}" if res is not None else "?"
        bits.append(f"{prob.get('transform', '?')} sampling, {grid}"
                    + (f", wavelet {prob['wavelet']}" if prob.get("wavelet") else ""))
        sig = prob.get("signal", {})
        if isinstance(sig, dict) and sig.get("kind"):
            bits.append(f"signal {sig['kind']}"
                        + (f" {_compact(sig['name'])}" if sig.get("name") else ""))
    if cfg.get("trials") is not None:
        bits.append(f"{cfg['trials']} trials")
    nets = cfg.get("networks") or []
    if kind.settings in ("networks", "noise") and nets:
        bits.append("networks: " + "; ".join(
            f"{n.get('name')} (depth {n.get('depth')}"
            + (f", {_compact(n['params'])}" if n.get("params") else "") + ")"
            for n in nets if isinstance(n, dict)))
    if kind.settings == "noise" and "noise" in prob:
        bits.append(f"noise levels ‖e‖/‖Ax‖ = {_compact(prob['noise'])}")
    att = cfg.get("attack")
    if kind.settings in ("attack", "example") and isinstance(att, dict):
        desc = f"attack {att.get('kind', '?')}"
        if att.get("depths") is not None:
            desc += f" at depths {_compact(att['depths'])}"
        elif att.get("kind") == "worst-case" or att.get("levels") is not None:
            desc += " at each network's own depth"
        if att.get("levels") is not None:
            desc += f", budgets ε = {_compact(att['levels'])}"
        if att.get("params"):
            desc += f" ({_compact(att['params'])})"
        bits.append(desc)
    if kind.settings == "example":
        examples = cfg.get("examples") or []
        try:
            ex = examples[int(labels.get("example", ""))]
            bits.insert(0, "example: " + _compact(ex))
        except (ValueError, IndexError, TypeError):
            pass
    if kind.settings == "recovery":
        thr = fits_attrs.get("analysis_threshold")
        if thr is not None:
            bits.append(f"recovered: relative error < {_fmt(thr)}")
        if prob.get("sampling"):
            bits.append(f"sampling {_compact(prob['sampling'])}")
    return "; ".join(bits)


def _caption(kind: FigureKind, stem: str, labels: dict, settings: str, link: str) -> str:
    cell = ", ".join(_display_label(k, v) for k, v in labels.items())
    return (f"<figcaption><b>{_esc(kind.kind)}</b>"
            + (f" — {_esc(cell)}" if cell else "") + f": {_esc(kind.short or kind.shows)}."
            + (f"<br><span class='settings'>Settings: {_esc(settings)}.</span>"
               if settings else "")
            + f" {link}</figcaption>")


# --------------------------------------------------------------------------- provenance


def _provenance(attrs: dict, fits_attrs: dict, sizes: dict, counts: dict | None) -> str:
    rows = []
    order = ["experiment", "config_hash", "command", "started", "finished", "host",
             "python_version", "stablesweep_version", "git_commit", "versions", "created",
             "Conventions", "history"]
    keys = [k for k in order if k in attrs] + sorted(
        k for k in attrs if k not in order and k not in ("config", "title"))
    for k in keys:
        v = attrs[k]
        if isinstance(v, str) and v[:1] in ("{", "["):
            try:
                parsed = json.loads(v)
            except ValueError:
                parsed = v
            if isinstance(parsed, dict):
                v = ", ".join(f"{a} {b}" for a, b in parsed.items())
            elif isinstance(parsed, list):
                v = parsed
        if isinstance(v, (list, tuple)):
            v = " ".join(map(str, v))
        rows.append(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>")
    rows.append("<tr><th>sweep dims</th><td>"
                + _esc(", ".join(f"{k}: {v}" for k, v in sizes.items())) + "</td></tr>")
    if counts:
        rows.append("<tr><th>cells</th><td>" + _esc(
            f"{counts.get('total')} total, {counts.get('done')} done, "
            f"{counts.get('failed')} failed, {counts.get('pending')} pending") + "</td></tr>")
    analysis = {k: v for k, v in fits_attrs.items()
                if k.startswith("analysis_") or k in ("created", "Conventions", "history")}
    if analysis:
        rows.append("<tr><th>analysis</th><td>" + _esc(", ".join(
            f"{k.removeprefix('analysis_')} = {_fmt(v)}" for k, v in analysis.items()))
            + "</td></tr>")
    return f"<table class='meta'>{''.join(rows)}</table>"


# --------------------------------------------------------------------------- the report


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def write_report(
    store: str | Path,
    fits: str | Path,
    figures: str | Path | None,
    output: str | Path,
    title: str | None = None,
    *,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
    command: Sequence[str] | None = None,
) -> Path:
    """Write the HTML report of one experiment.

    Parameters
    ----------
    store : path
        The sweep's Zarr store (its attrs give the config and provenance).
    fits : path
        The analysis file written by ``stablesweep analyse`` (netCDF).
    figures : path or None
        Folder of the figures (``*.png``, with ``*.pdf`` next to them); None or a
        missing folder: a report without figures (each section says so).
    output : path
        Where to write the HTML file (written atomically).
    title : str, optional
        Page title; defaults to "stablesweep — <experiment>".
    max_bytes : int or None
        Size budget of the file. Figures are embedded as palette PNGs at the largest of
        a few resolutions (1100 px down to 260 px wide) at which the whole report fits;
        None embeds the original PNGs. Each embedded figure links to its full-size file.
    command : sequence of str, optional
        The command that wrote the report (recorded in the provenance).

    Returns
    -------
    pathlib.Path
        `output`.

    Raises
    ------
    FileNotFoundError
        `store` or `fits` does not exist.
    stablesweep.sweep.store.StoreError
        `store` is not a sweep store.
    ValueError
        `max_bytes` is below 10000.
    """
    from stablesweep import __version__

    store, fits, output = Path(store), Path(fits), Path(output)
    figures = Path(figures) if figures is not None else None
    for p, what in ((store, "store"), (fits, "fits")):
        if not p.exists():
            raise FileNotFoundError(f"{what}: {p} does not exist")
    if max_bytes is not None and max_bytes < 10_000:
        raise ValueError(f"max_bytes = {max_bytes}; expected None or at least 10000")
    from stablesweep.sweep.store import open_store

    sweep = open_store(store)
    attrs = dict(sweep.attrs)
    with xr.open_dataset(fits) as f:
        analysis = f.load()
    try:
        from stablesweep.sweep.store import done_counts

        counts = done_counts(store)
    except Exception:  # noqa: BLE001 - the cell counts are optional information
        counts = None
    cfg = _load_config(attrs.get("config"))
    experiment = str(attrs.get("experiment") or cfg.get("experiment") or output.parent.name)
    title = title or f"stablesweep — {experiment}"
    started = _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()

    known: dict[str, Sequence] = {d: list(sweep[d].values) for d in sweep.dims if d in sweep}
    for d in analysis.dims:
        if d in analysis.coords:
            known.setdefault(d, list(analysis[d].values))
    known.setdefault("example", list(range(sweep.sizes.get("example", 0))))

    pngs = sorted(figures.glob("*.png")) if figures is not None and figures.is_dir() else []
    by_kind: dict[str, list[Path]] = {}
    for p in pngs:
        by_kind.setdefault(p.name.split("__", 1)[0].removesuffix(".png"), []).append(p)

    def cell_order(p: Path) -> tuple:
        _, labels = parse_stem(p.stem, known)
        key = []
        for k, v in labels.items():
            values = [_fmt(x) if isinstance(x, (float, np.floating)) else str(x)
                      for x in known.get(k, [])]
            key.append((values.index(v) if v in values else len(values), v))
        return tuple(key)

    for files in by_kind.values():
        files.sort(key=cell_order)
    known_kinds = {it.kind for s in FIGURE_SECTIONS for it in s.items
                   if isinstance(it, FigureKind)}
    others = sorted(k for k in by_kind if k not in known_kinds)

    # ---- body (figures as placeholders; embedded once the size budget is known)
    toc: list[str] = []
    body: list[str] = []
    order: list[Path] = []
    for si, section in enumerate(FIGURE_SECTIONS, start=1):
        sid = section.key
        sub_toc = []
        sec = [f"<h2 id='{sid}'>{si}. {_esc(section.heading)}</h2>",
               f"<p class='lead'>{_esc(section.about)}</p>"]
        n_items = 0
        for item in section.items:
            if isinstance(item, FigureKind):
                files = by_kind.get(item.kind, [])
                if not files:
                    continue
                hid = f"{sid}-{_slug(item.kind)}"
                sub_toc.append(f"<li><a href='#{hid}'>{_esc(item.heading)}</a> "
                               f"({len(files)} figure{'s' if len(files) != 1 else ''})</li>")
                sec.append(f"<h3 id='{hid}'>{_esc(item.heading)}</h3>"
                           f"<p>{_esc(item.shows)}</p><div class='gallery'>")
                for p in files:
                    sec.append(_figure_block(p, item, known, cfg, analysis.attrs, output,
                                             len(order)))
                    order.append(p)
                sec.append("</div>")
                n_items += 1
            else:
                table = _table_html(analysis, item, experiment)
                if table is None:
                    continue
                hid = f"{sid}-table-{item.key}"
                sub_toc.append(f"<li><a href='#{hid}'>{_esc(item.heading)}</a> (table)</li>")
                sec.append(f"<h3 id='{hid}'>{_esc(item.heading)}</h3>{table}")
                n_items += 1
        if n_items == 0:
            sec.append("<p><em>Nothing in this experiment answers this question (no such "
                       "figures or analysis variables).</em></p>")
        toc.append(f"<li><a href='#{sid}'>{_esc(section.heading)}</a>"
                   + (f"<ol>{''.join(sub_toc)}</ol>" if sub_toc else "") + "</li>")
        body.extend(sec)
    if others:
        toc.append("<li><a href='#other'>Other figures</a></li>")
        body.append("<h2 id='other'>Other figures</h2><div class='gallery'>")
        for k in others:
            kind = FigureKind(k, k, "A figure type this report does not describe.", "")
            for p in by_kind[k]:
                body.append(_figure_block(p, kind, known, cfg, analysis.attrs, output,
                                          len(order)))
                order.append(p)
        body.append("</div>")
    toc.append("<li><a href='#provenance'>Provenance</a></li>")
    body.append("<h2 id='provenance'>Provenance</h2>")
    prov_attrs = dict(attrs)
    body.append(_provenance(prov_attrs, dict(analysis.attrs), dict(sweep.sizes), counts))
    finished = _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()
    body.append("<h3>This report</h3><table class='meta'>"
                f"<tr><th>written by</th><td>stablesweep {_esc(__version__)}</td></tr>"
                f"<tr><th>written at</th><td>{_esc(finished)}</td></tr>"
                + (f"<tr><th>command</th><td>{_esc(' '.join(command))}</td></tr>"
                   if command else "")
                + f"<tr><th>analysis file</th><td>{_esc(fits)}</td></tr>"
                + f"<tr><th>figure folder</th><td>{_esc(figures)}</td></tr></table>")
    body.append("<h3>Config</h3>")
    body.append(f"<pre>{_esc(attrs.get('config', '(not recorded)'))}</pre>")

    warn = ""
    if counts and counts.get("pending"):
        warn = (f"<p class='warn'>The sweep is not finished: {counts['pending']} of "
                f"{counts['total']} cells are pending; missing cells show as –.</p>")
    if not pngs:
        where = figures if figures is not None else "(none given)"
        warn += (f"<p class='warn'>No figures found in {_esc(where)}: run "
                 "<code>stablesweep figures STORE</code> first.</p>")
    axes = " × ".join(f"{k} ({v})" for k, v in sweep.sizes.items()
                      if k in ("scheme", "rate", "sparsity", "noise", "network", "trial"))
    head = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f'<meta name="generator" content="{GENERATOR} {_esc(__version__)}">'
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_esc(title)}</h1>"
        f"<p class='lead'>Experiment <b>{_esc(experiment)}</b>: "
        f"{len(pngs)} figures; sweep over {_esc(axes)}"
        f"; sweep started {_esc(attrs.get('started', attrs.get('created', '?')))}, "
        f"report written {_esc(started)}. Click a figure for the full-size PNG.</p>{warn}"
        f"<nav class='toc'><b>Contents</b><ol>{''.join(toc)}</ol></nav>"
    )
    text = head + "\n".join(body) + "</body></html>"
    placeholder = re.compile(r"@@IMG(\d+)@@")
    budget = None
    if max_bytes is not None:
        budget = max_bytes - len(placeholder.sub("", text).encode("utf-8")) - 1024
    embedded, _level = _choose_embeddings(order, budget)
    uris = ["data:image/png;base64," + base64.b64encode(b).decode("ascii") for b in embedded]
    text = placeholder.sub(lambda m: uris[int(m.group(1))], text)

    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(output)
    return output


def _figure_block(png: Path, kind: FigureKind, known: dict, cfg: dict, fits_attrs: dict,
                  output: Path, index: int) -> str:
    stem = png.stem
    _, labels = parse_stem(stem, known)
    rel = Path(os.path.relpath(png.resolve(), output.parent.resolve())).as_posix()
    pdf = png.with_suffix(".pdf")
    links = f"<a href='{_esc(rel)}'>PNG</a>"
    if pdf.exists():
        links += f" · <a href='{_esc(Path(rel).with_suffix('.pdf').as_posix())}'>PDF</a>"
    settings = _settings(cfg, kind, labels, fits_attrs) if kind.settings else ""
    alt = f"{kind.kind} " + ", ".join(f"{k} {v}" for k, v in labels.items())
    return (f"<figure><a href='{_esc(rel)}'><img alt='{_esc(alt)}' loading='eager' "
            f"src='@@IMG{index}@@'></a>"
            f"{_caption(kind, stem, labels, settings, f'({links})')}</figure>")
