"""The K-digits table: ``table.csv`` (every column), ``table.md`` and ``table.html``."""

from __future__ import annotations

import csv
import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["COLUMNS", "write_table"]

#: CSV columns, in order
COLUMNS = (
    "K", "n", "j", "j_other", "ten_to_minus_K", "two_to_minus_n", "matrix_distance",
    "minimiser_distance", "lista_error", "lista_error_max", "lista_error_own",
    "firenet_error", "firenet_error_max", "firenet_error_own", "lista_k_digits",
    "firenet_k_digits", "lista_train_seconds", "firenet_seconds",
)

_HEAD = (
    ("K", "K"),
    ("n", "n"),
    ("‖A_j − A_j'‖ (≤ 2^−n)", "matrix_distance"),
    ("‖x_j − x_j'‖", "minimiser_distance"),
    ("LISTA: ‖Ψ(y) − x_j'‖", "lista_error"),
    ("FIRENET: ‖Φ(y) − x_j'‖", "firenet_error"),
    ("10^−K", "ten_to_minus_K"),
    ("LISTA on its own problem ‖Ψ(y) − x_j‖", "lista_error_own"),
    ("FIRENET on its own problem ‖Φ(y) − x_j‖", "firenet_error_own"),
)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3e}"
    return str(v)


def write_table(rows: Sequence[Mapping[str, Any]], out: str | os.PathLike) -> dict[str, Path]:
    """Write ``table.csv`` (all columns), ``table.md`` and ``table.html`` (report snippet).

    Returns the paths by format.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "table.csv", "md": out / "table.md", "html": out / "table.html"}
    with open(paths["csv"], "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(COLUMNS))
        w.writeheader()
        for r in rows:
            w.writerow({k: r[k] for k in COLUMNS})
    caption = ("Distance to the true minimiser x_j' of problem (A_j', y) for networks that "
               "are given (A_j, y) with ‖A_j − A_j'‖ ≤ 2^−n (mean over the test samples). "
               "Neither a trained LISTA network nor FIRENET gets K digits (error < 10^−K): "
               "the minimisers are ≈ 3·10^−K apart while the inputs agree to 2^−n.")
    md = ["| " + " | ".join(h for h, _ in _HEAD) + " |",
          "|" + "|".join("---:" for _ in _HEAD) + "|"]
    md += ["| " + " | ".join(_fmt(r[k]) for _, k in _HEAD) + " |" for r in rows]
    paths["md"].write_text("\n".join(md) + "\n\n" + caption + "\n")
    cells = "".join(f"<th>{html.escape(h)}</th>" for h, _ in _HEAD)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(r[k]))}</td>" for _, k in _HEAD) + "</tr>"
        for r in rows
    )
    paths["html"].write_text(
        f'<table class="k-digits">\n<caption>{html.escape(caption)}</caption>\n'
        f"<thead><tr>{cells}</tr></thead>\n<tbody>{body}</tbody>\n</table>\n"
    )
    return paths
