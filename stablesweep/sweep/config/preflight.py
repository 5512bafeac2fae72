"""Checks on the built grid before any work: the memory one cell needs, and every
network built on the first grid point (custom factories called)."""

from __future__ import annotations

import os

import numpy as np

from .specs import SweepConfig

__all__ = ["SKIP_RESOURCE_CHECK", "cell_memory_bytes", "check_builds", "check_resources"]

#: Environment variable that skips the memory estimate (for a deliberate override).
SKIP_RESOURCE_CHECK = "STABLESWEEP_SKIP_RESOURCE_CHECK"


def cell_memory_bytes(cfg: SweepConfig) -> int:
    """Estimated peak memory of the largest cell: the stored iterates of one forward pass.

    ``(depth + 1) · N · 16`` bytes (complex128 images, N = n^d at the largest resolution,
    one per recorded depth, the deepest network) plus the store's per-trial arrays of
    that cell, ``trials · depth · 8`` bytes per variable.
    """
    n = max(int(v) for v in cfg.axes.get("resolution", (cfg.fixed.get("resolution", 2),)))
    d = max(int(v) for v in cfg.axes.get("dim", (cfg.fixed.get("dim", 2),)))
    depth = max(spec.depth for spec in cfg.networks)
    return (depth + 1) * n**d * 16 + 8 * cfg.trials * depth * 8


def check_resources(cfg: SweepConfig) -> list[str]:
    """Refuse a sweep whose cells cannot fit this machine's memory (before any work)."""
    if os.environ.get(SKIP_RESOURCE_CHECK) == "1":
        return []
    try:
        import psutil

        total = int(psutil.virtual_memory().total)
    except Exception:  # pragma: no cover - psutil is a dependency of distributed
        return []
    need = cell_memory_bytes(cfg)
    if need <= total // 2:
        return []
    gib = 2**30
    return [f"networks: one cell needs about {need / gib:.3g} GiB (depth "
            f"{max(s.depth for s in cfg.networks)} x {cfg.trials} trials at the largest "
            f"resolution); this machine has {total / gib:.3g} GiB and a cell may use at most "
            f"half of it. Lower the depth or the resolution, or set {SKIP_RESOURCE_CHECK}=1 "
            "to run it anyway (e.g. on a larger machine)"]


def check_builds(cfg: SweepConfig) -> list[str]:
    """Build every network on the first grid point (a custom one also maps a y).

    A parameter the constructor refuses (``L: 0``, a step size too large for ‖A‖) or a
    factory that is not callable, raises, or returns something that does not map a
    measurement to an image of the right shape, is reported now instead of in every
    cell.
    """

    from stablesweep import operators

    from .networks import build_network
    from .problem import fixed_mask

    point = cfg.point((0,) * len(cfg.axes))
    n, d = int(point["resolution"]), int(point.get("dim", 2))
    out = []
    try:
        mask = (fixed_mask(point["mask_from"]) if point.get("mask_from") is not None
                else np.ones((n,) * d, dtype=bool))
        A = operators.SamplingOperator(point["transform"], mask,
                                       wavelet=point.get("wavelet", "haar"))
    except Exception:  # the problem checks report what is wrong with the problem
        return []
    for i, spec in enumerate(cfg.networks):
        where = f"networks[{i}]" + (".factory" if spec.factory else ".params")
        try:
            build_network(spec, A, point=point)
        except Exception as err:
            out.append(f"{where}: network {spec.label!r} cannot be built with these "
                       f"settings: {type(err).__name__}: {err}")
    return out
