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

The package's rooms: :mod:`.sections` (what is shown, in which order), :mod:`.tables`,
:mod:`.embedding` (figures within the size budget), :mod:`.captions`,
:mod:`.provenance`, :mod:`.text` (small helpers), :mod:`.page` (budget and style);
this module assembles the page.
"""

from __future__ import annotations

import base64
import datetime as _dt
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from .captions import _caption, _load_config, _settings
from .embedding import _choose_embeddings
from .page import _CSS, DEFAULT_MAX_BYTES, GENERATOR
from .provenance import _provenance
from .sections import FIGURE_SECTIONS, FigureKind
from .tables import _table_html
from .text import _esc, _fmt, is_own_report, parse_stem, units_text

__all__ = [
    "DEFAULT_MAX_BYTES",
    "FigureKind",
    "FIGURE_SECTIONS",
    "GENERATOR",
    "is_own_report",
    "parse_stem",
    "units_text",
    "write_report",
]


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
