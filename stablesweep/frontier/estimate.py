r"""What a frontier config costs, before anything runs (``stablesweep frontier run
--dry-run``).

The estimate scales costs measured on this project's 2-core machine at 32² (one CPU
core per job) to the config:

- *training*: seconds per training sample of each architecture, from the shipped
  ``summary.json`` of the calibration config (:data:`CALIBRATION`), times
  ``train × epochs`` (validation included in the measured time), scaled by the pixel
  count and by the width of the architecture (U-Net: ``channels²``; learned
  primal–dual: ``layers × hidden²``), since both nets' cost is dominated by their
  convolutions, linear in the pixels;
- *measurement*: seconds per measured network of each architecture and reference,
  from the calibration run's ``frontier.nc`` (``measure_seconds``), scaled by pixels,
  pairs, and for the untrained references their depth, and for the attacks their step
  caps.

Only models without a matching file (in the output folder or the shipped ``models``
folder) count as training work. It is a linear model of costs that grow somewhat
faster (FFTs: :math:`N\log N`; attacks needing more steps on larger problems): read it
as a lower bound of the order of magnitude, on CPU cores; GPUs change it entirely.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from .config import FrontierConfig, load_frontier_config, model_specs, reference_specs

__all__ = ["CALIBRATION", "calibration", "describe", "estimate"]

#: the config whose measured costs calibrate the estimate
CALIBRATION = "config/frontier/frontier-32.yaml"


def _width(arch: str, params: dict[str, Any]) -> float:
    if arch == "unet":
        return float(params["channels"]) ** 2
    if arch == "learned-pd":
        return float(params["layers"]) * float(params["hidden"]) ** 2
    return 1.0


def _ref_depth(name: str, params: dict[str, Any]) -> float:
    if name == "firenet":
        return float(params.get("n", 10)) * float(params.get("p", 20))
    if name == "zero-filling":
        return 1.0
    return float(params.get("depth", 200))


def calibration(path: str | os.PathLike = CALIBRATION,
                results: str | os.PathLike | None = None) -> dict[str, Any]:
    """Costs measured with the calibration config.

    Returns
    -------
    dict
        ``pixels``, ``pairs``, ``steps`` (attack caps), ``train`` (per architecture:
        seconds per sample per unit width), ``measure`` (per architecture and
        reference: seconds per network per pixel-pair, per unit depth for references),
        ``source`` (the files read); an entry is absent where its file is.
    """
    cfg = load_frontier_config(path)
    n = int(cfg.problem["resolution"]) ** 2
    out: dict[str, Any] = {"pixels": n, "pairs": cfg.pairs, "train": {}, "measure": {},
                           "steps": int(cfg.attack["steps"]) + int(cfg.robustness["steps"])
                           * len(cfg.budgets), "source": []}
    summary = Path(cfg.models or "") / "summary.json"
    if cfg.models and summary.is_file():
        data = json.loads(summary.read_text())
        per: dict[str, list[float]] = {}
        samples = int(cfg.training["train"]) * int(cfg.training["epochs"])
        for e in data["models"]:
            w = _width(e["arch"], cfg.architectures[e["arch"]])
            per.setdefault(e["arch"], []).append(e["train_seconds"] / samples / w)
        out["train"] = {a: sum(v) / len(v) for a, v in per.items()}
        out["source"].append(str(summary))
    nc = Path(results or Path("results") / "frontier" / cfg.name) / "frontier.nc"
    if nc.is_file():
        import xarray as xr

        with xr.open_dataset(nc) as ds:
            secs = json.loads(ds.attrs.get("measure_seconds", "{}"))
        per = {}
        for spec in [*model_specs(cfg), *reference_specs(cfg)]:
            if spec.id not in secs:
                continue
            total = sum(secs[spec.id].values())
            scale = n * cfg.pairs * (1.0 if spec.trained else
                                     _ref_depth(spec.arch, cfg.references[spec.arch]))
            per.setdefault(spec.arch, []).append(total / scale)
        out["measure"] = {a: sum(v) / len(v) for a, v in per.items()}
        out["source"].append(str(nc))
    return out


def estimate(cfg: FrontierConfig, out_dir: str | os.PathLike,
             calib: dict[str, Any] | None = None) -> dict[str, Any]:
    """The jobs of ``cfg`` and their estimated CPU core-seconds (see the module
    docstring); ``NaN`` where the calibration lacks a cost."""
    from stablesweep.tradeoff.models import matching_model

    from .models import training_hash

    calib = calib if calib is not None else calibration()
    n = int(cfg.problem["resolution"]) ** 2
    samples = int(cfg.training["train"]) * int(cfg.training["epochs"])
    steps = int(cfg.attack["steps"]) + int(cfg.robustness["steps"]) * len(cfg.budgets)
    step_scale = steps / calib["steps"]
    to_train, train_s = [], 0.0
    for spec in model_specs(cfg):
        expected = training_hash(cfg, spec)
        folders = [Path(out_dir) / "models", *([Path(cfg.models)] if cfg.models else [])]
        have = any(matching_model(f / f"{spec.id}.pt", expected)[0] is not None
                   for f in folders)
        if not have:
            to_train.append(spec.id)
            rate = calib["train"].get(spec.arch, math.nan)
            train_s += rate * samples * _width(spec.arch, cfg.architectures[spec.arch]) \
                * n / calib["pixels"]
    measure_s = 0.0
    specs = [*model_specs(cfg), *reference_specs(cfg)]
    for spec in specs:
        rate = calib["measure"].get(spec.arch, math.nan)
        depth = 1.0 if spec.trained else _ref_depth(spec.arch, cfg.references[spec.arch])
        measure_s += rate * n * cfg.pairs * depth * step_scale
    return {"config": cfg.name, "resolution": int(cfg.problem["resolution"]),
            "models": len(model_specs(cfg)), "to_train": len(to_train),
            "measurements": len(specs), "jobs": len(to_train) + len(specs) + 1,
            "train_core_hours": train_s / 3600, "measure_core_hours": measure_s / 3600,
            "total_core_hours": (train_s + measure_s) / 3600,
            "calibration": calib["source"]}


def describe(cfg: FrontierConfig, out_dir: str | os.PathLike) -> str:
    """The dry-run text: jobs and estimated core-hours (see :func:`estimate`)."""
    e = estimate(cfg, out_dir)

    def h(v: float) -> str:
        return "unknown (no calibration)" if not math.isfinite(v) else f"{v:,.1f} core-hours"

    return "\n".join([
        f"frontier {e['config']} ({e['resolution']}²): {e['models']} trained models, "
        f"{e['to_train']} to train; {e['measurements']} networks to measure; "
        f"{e['jobs']} workflow jobs (one core each).",
        f"  training:    {h(e['train_core_hours'])}",
        f"  measurement: {h(e['measure_core_hours'])}",
        f"  total:       {h(e['total_core_hours'])} (CPU; scaled from "
        f"{', '.join(e['calibration']) or 'nothing'})",
        "nothing was run (--dry-run)."])
