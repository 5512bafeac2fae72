"""The report's provenance section: config, versions, command, commit, times."""

from __future__ import annotations

import json

from .text import _esc, _fmt


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
