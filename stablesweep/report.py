"""A self-contained HTML report of one experiment: figures, fit tables, provenance.

The report is written from stored results only (the sweep's Zarr store, the
analysis file and the figure directory); nothing is recomputed. Figures are embedded
as base64 PNG so the single HTML file can be mailed or archived on its own; the PDF
versions sit next to it in ``figures/`` and are linked.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import numpy as np
import xarray as xr

__all__ = ["write_report", "dataset_tables"]

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; }
h1 { border-bottom: 2px solid #444; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #555; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; }
th { background: #f3f3f3; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; font-size: 0.85em; }
.meta td { text-align: left; }
"""


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        if np.isnan(v):
            return "–"
        return f"{v:.4g}"
    if isinstance(v, bytes):
        v = v.decode()
    return html.escape(str(v))


def dataset_tables(ds: xr.Dataset, max_rows: int = 200) -> list[tuple[str, str]]:
    """HTML tables for the variables of an analysis dataset, grouped by their dims.

    Variables sharing the same dimensions go into one table (one row per coordinate
    combination, one column per variable), titled by the variables' ``long_name``.
    Returns ``(title, html)`` pairs; tables longer than ``max_rows`` are cut with a note.
    """
    groups: dict[tuple[str, ...], list[str]] = {}
    for name, var in ds.data_vars.items():
        if var.ndim == 0 or var.dtype.kind not in "fiuOSUb":
            continue
        groups.setdefault(tuple(var.dims), []).append(str(name))
    out = []
    for dims, names in groups.items():
        sub = ds[names]
        df = sub.to_dataframe().reset_index()
        df = df.dropna(how="all", subset=names)
        if df.empty:
            continue
        n_rows = len(df)
        df = df.head(max_rows)
        head = "".join(
            f"<th title='{html.escape(str(ds[c].attrs.get('long_name', c)) if c in ds else c)}'>"
            f"{html.escape(str(c))}"
            + (f" [{html.escape(str(ds[c].attrs['units']))}]" if c in ds and "units" in ds[c].attrs
               and ds[c].attrs["units"] not in ("", "1") else "")
            + "</th>"
            for c in df.columns
        )
        rows = "".join(
            "<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>"
            for row in df.itertuples(index=False)
        )
        note = (
            f"<p><em>{n_rows - max_rows} more rows in the analysis file.</em></p>"
            if n_rows > max_rows
            else ""
        )
        title = ", ".join(str(ds[n].attrs.get("long_name", n)) for n in names)
        out.append((f"{title} — by {', '.join(dims)}",
                    f"<table><tr>{head}</tr>{rows}</table>{note}"))
    return out


def _figure_html(png: Path) -> str:
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    pdf = png.with_suffix(".pdf")
    link = f" (<a href='figures/{html.escape(pdf.name)}'>PDF</a>)" if pdf.exists() else ""
    return (
        f"<figure><img alt='{html.escape(png.stem)}' src='data:image/png;base64,{data}'>"
        f"<figcaption>{html.escape(png.stem)}{link}</figcaption></figure>"
    )


def write_report(
    store: str | Path,
    fits: str | Path,
    figures: str | Path,
    output: str | Path,
    title: str | None = None,
) -> Path:
    """Write the HTML report of one experiment.

    Parameters
    ----------
    store : path
        The sweep's Zarr store (its attrs give the config and provenance).
    fits : path
        The analysis file written by ``stablesweep analyse`` (netCDF).
    figures : path
        Directory of the figures (``*.png``, with ``*.pdf`` next to them).
    output : path
        Where to write the HTML file.
    title : str, optional
        Page title; defaults to the experiment name in the config.
    """
    store, fits, figures, output = map(Path, (store, fits, figures, output))
    for p, what in ((store, "store"), (fits, "fits"), (figures, "figures")):
        if not p.exists():
            raise FileNotFoundError(f"{what}: {p} does not exist")
    sweep = xr.open_zarr(store)
    attrs = dict(sweep.attrs)
    with xr.open_dataset(fits) as f:
        analysis = f.load()
    experiment = attrs.get("experiment") or output.parent.name
    title = title or f"stablesweep — {experiment}"

    meta_keys = ["experiment", "config_hash", "stablesweep_version", "git_commit", "created"]
    meta = "".join(
        f"<tr><th>{k}</th><td>{html.escape(str(attrs[k]))}</td></tr>"
        for k in meta_keys
        if k in attrs
    )
    dims = ", ".join(f"{k}: {v}" for k, v in sweep.sizes.items())
    pngs = sorted(figures.glob("*.png"))
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>",
        "<h2>Provenance</h2>",
        f"<table class='meta'>{meta}<tr><th>sweep dims</th><td>{html.escape(dims)}</td></tr>"
        "</table>",
        "<h2>Figures</h2>",
        *(_figure_html(p) for p in pngs),
    ]
    if not pngs:
        parts.append("<p>No figures were produced for this experiment.</p>")
    parts.append("<h2>Fits and summaries</h2>")
    tables = dataset_tables(analysis)
    for t, body in tables:
        parts.append(f"<h3>{html.escape(t)}</h3>{body}")
    if not tables:
        parts.append("<p>The analysis produced no tables.</p>")
    parts.append("<h2>Config</h2>")
    parts.append(f"<pre>{html.escape(str(attrs.get('config', '(not recorded)')))}</pre>")
    parts.append("</body></html>")
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix(output.suffix + ".tmp")
    tmp.write_text("\n".join(parts), encoding="utf-8")
    tmp.replace(output)
    return output
