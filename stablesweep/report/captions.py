"""Figure captions: what each figure shows and with which settings."""

from __future__ import annotations

from typing import Any

from .sections import FigureKind
from .text import _display_label, _esc, _fmt


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
        else:
            desc += " at each network's own depth"
        desc += "".join(f", {label} = {_compact(value)}"
                        for label, value in _attack_terms(att) if value is not None)
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


def _attack_terms(section: dict) -> list[tuple[str, Any]]:
    """The attack kind's own caption terms (``(label, value)`` pairs) from its registry
    entry; none for a kind this installation does not know."""
    from stablesweep.attacks.registry import ATTACKS, normalise_section

    kind = ATTACKS.get(section.get("kind"))
    try:
        section = normalise_section(section)
    except ValueError:
        return []
    return list(kind.caption(section)) if kind is not None else []
