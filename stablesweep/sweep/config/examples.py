"""The ``examples`` of an experiment config: cells whose images are kept for figures.

Each entry selects one grid point (keys are axis names; an axis left out means its
first value), one ``network`` (label), one ``trial`` and, with an attack, one
``attack_depth``; :func:`resolve_examples` turns the entries into indices and reports
entries that are not on the grid.
"""

from __future__ import annotations

from typing import Any

from stablesweep.configuration import is_int, shown

from .axes import PATTERN_AXES, normalise, pattern_label
from .specs import ExampleSpec, SweepConfig

__all__ = ["resolve_examples"]


def _example_value(name: str, value: Any) -> Any:
    """An example's axis value in normalised form (patterns also as "2,4,8" strings)."""
    try:
        if name in PATTERN_AXES and isinstance(value, str):
            return tuple(int(x) for x in value.split(","))
        return normalise(name, value)
    except (TypeError, ValueError):
        return value


def resolve_examples(cfg: SweepConfig, entries: list) -> tuple[list[ExampleSpec], list[str]]:
    """The :class:`ExampleSpec` of each entry of ``examples`` on ``cfg``'s grid, and the
    problems found (then the specs are incomplete)."""
    out: list[ExampleSpec] = []
    problems: list[str] = []
    labels = [n.get("label", n.get("name")) for n in cfg.data.get("networks", [])]
    depths = list(cfg.attack.depths) if cfg.attack else []
    allowed_keys = [*cfg.axes, "network", "trial"] + (["attack_depth"] if depths else [])
    for i, entry in enumerate(entries):
        path = f"examples[{i}]"
        index = []
        for name, values in cfg.axes.items():
            if name not in entry:
                index.append(0)
                continue
            want = _example_value(name, entry[name])
            if want in values:
                index.append(values.index(want))
            else:
                on_axis = [pattern_label(v) if name in PATTERN_AXES else v for v in values]
                problems.append(f"{path}.{name}: {shown(entry[name])} is not on the axis; "
                                f"expected one of: {', '.join(map(str, on_axis))}")
                index.append(0)
        for key in entry:
            if key not in allowed_keys:
                problems.append(f"{path}: unknown key {key!r}; allowed keys: "
                                f"{', '.join(allowed_keys)}")
        net = entry.get("network", labels[0] if labels else None)
        if net not in labels:
            problems.append(f"{path}.network: {shown(net)} is not a network label; expected "
                            f"one of: {', '.join(map(str, labels))}")
        trial = entry.get("trial", 0)
        if not (is_int(trial) and 0 <= trial < cfg.trials):
            problems.append(f"{path}.trial: {shown(trial)} is out of range; expected an "
                            f"integer in 0..{cfg.trials - 1}")
        attacked = depths
        if depths and net in labels:
            spec = cfg.networks[labels.index(net)]
            attacked = [d for d in depths
                        if spec.attacked_depth(d, cfg.attack.explicit)[0] is not None]
        ad = entry.get("attack_depth", (attacked or depths)[0] if depths else None)
        if depths and ad not in depths:
            problems.append(f"{path}.attack_depth: {shown(ad)} is not an attack depth; "
                            f"expected one of: {', '.join(map(str, depths))}")
        elif depths and ad not in attacked:
            why = spec.attacked_depth(ad, cfg.attack.explicit)[1]
            problems.append(f"{path}.attack_depth: network {net!r} is not attacked at attack "
                            f"depth {ad} ({why}); expected one of: "
                            f"{', '.join(map(str, attacked)) or '(none)'}")
        if not problems:
            out.append(ExampleSpec(
                point=tuple(index), network=labels.index(net), trial=int(trial),
                attack_depth=depths.index(ad) if depths else None,
            ))
    return out, problems
