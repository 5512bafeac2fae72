"""The report's tables: fits flattened, summarised per network, full tables as CSV."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from stablesweep.sweep.store.variables import NOISE_LEVEL

from .sections import TableSpec, _flag_for
from .text import _esc, _fmt, _label, units_text

#: Tables with more rows than this are summarised per network (full table as CSV).
MAX_FULL_ROWS = 16


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
    if NOISE_LEVEL in group and df[NOISE_LEVEL].nunique() > 8:
        group.remove(NOISE_LEVEL)
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
