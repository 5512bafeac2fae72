"""The results page: the papers' claims, measured, with figures and a verdict each.

``python -m stablesweep.results_page [--results results] [-o docs/results.md]`` reads
what ``scripts/results.sh`` computed —

- ``results/rates``, ``results/rates-128``: sweep store and ``fits.nc`` (distance to each
  network's own minimiser against depth),
- ``results/stability``, ``results/trained-vs-stable``: worst-case attacks at equal
  budgets ε = ‖e‖/‖y‖,
- ``results/tradeoff``: the kernel trade-off (``stablesweep tradeoff``),
- ``results/frontier/frontier-32``: the accuracy–stability frontier (``stablesweep
  frontier``, through the workflow) and ``results/frontier/estimates.txt``,
- ``results/k-digits``: Table 1 (``stablesweep barrier``),

and writes one Markdown page with small PNG copies of the figures next to it
(``docs/results/``). Every number on the page is read from those files and every verdict
is computed from them by the rule printed next to it: *demonstrated*, *not at this
scale* or *contradicted*. A section whose inputs are missing says which command makes
them; nothing is filled in by hand.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from .common import Section
from .frontier import frontier_sections
from .kdigits import kdigits_section
from .rates import rates_section
from .stability import stability_section
from .tradeoff import tradeoff_section

__all__ = ["Section", "build_page", "main"]


def build_page(results: Path, out: Path, *, minutes: float | None = None) -> Path:
    """Write the results page ``out`` (Markdown) and its figures in ``out.parent/results``.

    Parameters
    ----------
    results : Path
        The results folder (``results/``) with the experiments' outputs.
    out : Path
        The Markdown file to write (``docs/results.md``).
    minutes : float, optional
        Wall time of the whole regeneration, printed on the page.
    """
    figs = out.parent / out.stem
    if figs.exists():
        shutil.rmtree(figs)
    sections = [rates_section(results, figs), stability_section(results, figs),
                tradeoff_section(results, figs), *frontier_sections(results, figs),
                kdigits_section(results)]
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="minutes")
    from stablesweep import __version__
    from stablesweep.sweep.store.provenance import git_commit

    lines = [
        "# Results: the papers' claims, measured",
        "",
        "Regenerate everything on this page with one command (no training: the trained "
        "networks ship in `models/`):",
        "",
        "```bash",
        "bash scripts/results.sh",
        "```",
        "",
        f"Generated {now} by stablesweep {__version__} (commit {git_commit()})"
        + (f" in {minutes:.0f} minutes on this machine" if minutes is not None else "") + ". "
        "Every number is read from the experiments' outputs under `results/`; each verdict "
        "follows the rule stated with it.",
        "",
        "| claim | verdict |",
        "|---|---|",
        *[f"| [{s.title}](#{_anchor(s.title)}) | **{s.verdict}** |" for s in sections],
        "",
    ]
    for s in sections:
        lines += [f"## {s.title}", "", f"*Claim.* {s.claim}", "", f"**Verdict: {s.verdict}.**",
                  "", *s.body, ""]
        for name, caption in s.figures:
            lines += [f"![{caption}]({figs.name}/{name})", "", f"*{caption}.*", ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines), encoding="utf-8")
    return out


def _anchor(title: str) -> str:
    keep = "".join(c for c in title.lower() if c.isalnum() or c in " -")
    return keep.strip().replace(" ", "-")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m stablesweep.results_page",
                                description="Write docs/results.md from the results folder.")
    p.add_argument("--results", default="results", help="results folder (default: results)")
    p.add_argument("-o", "--output", default="docs/results.md", help="Markdown file")
    p.add_argument("--minutes", type=float, default=None,
                   help="wall time of the regeneration, printed on the page")
    args = p.parse_args(argv)
    results = Path(args.results)
    if not results.is_dir():
        print(f"results_page: --results {str(results)!r} is not a folder; run "
              "`bash scripts/results.sh` first", file=sys.stderr)
        return 2
    out = build_page(results, Path(args.output), minutes=args.minutes)
    print(f"[stablesweep] results page -> {out}")
    return 0


