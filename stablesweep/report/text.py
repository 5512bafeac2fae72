"""Small text helpers of the report: escaping, number formats, labels, figure stems."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .page import GENERATOR


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
