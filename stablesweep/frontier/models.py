r"""The frontier's trained models: one file per :class:`~stablesweep.frontier.config.ModelSpec`,
cached by training hash.

A model file ``<id>.pt`` (:attr:`ModelSpec.id`) is identified by its *training hash*
(:func:`training_hash`): the SHA-256 (16 hex digits) of what determines the weights —
the ``problem`` block, the ``detail`` block at the model's visibility, the training
recipe (without ``seeds``), the architecture and its parameters, the detail weight, the
training noise and the seed. The grid's other models, the references, test pairs,
attacks and the config's name do not enter it.

Lookup (:func:`obtain_model`)
    ``<cache>/<id>.pt`` is used when its hash matches (a rerun trains nothing); else the
    shipped ``<models>/<id>.pt`` (the config's ``models`` folder) is copied there when it
    matches; else the model is trained
    (:func:`stablesweep.tradeoff.training.train_on_details`) and written there. A file
    that exists but does not match is named in the log and not used.

The shipped folder holds the model files and ``summary.json`` (:func:`write_summary`:
per model its hash, kept epoch, validation error, training seconds and file size).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .config import FrontierConfig, ModelSpec, model_specs

__all__ = ["load_model", "obtain_model", "training_hash", "write_summary"]


def training_hash(cfg: FrontierConfig, spec: ModelSpec) -> str:
    """The identity of one trained model (see the module docstring)."""
    from stablesweep.configuration.values import digest

    recipe = {k: v for k, v in cfg.training.items() if k != "seeds"}
    return digest({"problem": cfg.problem, "detail": cfg.detail_at(spec.kappa),
                   "training": recipe, "network": spec.arch,
                   "arch": cfg.architectures[spec.arch],
                   "detail_weight": float(spec.detail_weight), "noise": float(spec.noise),
                   "seed": int(spec.seed)})


def load_model(A: Any, spec: ModelSpec, path: str | os.PathLike) -> torch.nn.Module:
    """A trained model from its file: float64, evaluation mode, frozen weights."""
    from stablesweep.networks.learned_pd import LearnedPD
    from stablesweep.networks.unet import UNet

    cls = {"unet": UNet, "learned-pd": LearnedPD}[spec.arch]
    net = cls(A, checkpoint=path).to(torch.float64).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def _matches(path: Path, expected: str) -> tuple[bool, str]:
    from stablesweep.tradeoff.models import matching_model

    model, why = matching_model(path, expected)
    return model is not None, why


def obtain_model(cfg: FrontierConfig, spec: ModelSpec, A: Any, cache: str | os.PathLike,
                 *, models_dir: str | os.PathLike | None = None,
                 log: Callable[[str], None] | None = None) -> tuple[Path, str]:
    """Make ``<cache>/<id>.pt`` hold the model of ``spec`` (see the module docstring).

    Returns
    -------
    path : pathlib.Path
        The model file in ``cache``.
    source : str
        ``"cached"``, ``"shipped"`` (copied from ``models_dir``) or ``"trained"``.
    """
    from stablesweep.modelfile import save_atomic
    from stablesweep.tradeoff.training import train_on_details

    say = log or (lambda _m: None)
    expected = training_hash(cfg, spec)
    dest = Path(cache) / f"{spec.id}.pt"
    ok, why = _matches(dest, expected)
    if ok:
        return dest, "cached"
    if why != "absent":
        say(f"[frontier] not using {dest}: {why}")
    if models_dir is None:
        models_dir = cfg.models
    if models_dir is not None:
        shipped = Path(models_dir) / f"{spec.id}.pt"
        ok, why = _matches(shipped, expected)
        if ok:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(dest.name + ".part")
            shutil.copyfile(shipped, tmp)
            os.replace(tmp, dest)
            return dest, "shipped"
        if why != "absent":
            say(f"[frontier] not using {shipped}: {why}")
    say(f"[frontier] {spec.id}: training (no matching model file)")
    t0 = time.perf_counter()
    _, model = train_on_details(A, spec.arch, cfg.architectures[spec.arch], cfg.training,
                                cfg.detail_at(spec.kappa), spec.detail_weight, spec.seed,
                                noise=spec.noise, label=f"frontier {spec.id}", log=say)
    model.update({"training_hash": expected, "config_hash": cfg.hash,
                  "config_source": cfg.source,
                  "spec": {"arch": spec.arch, "detail_weight": spec.detail_weight,
                           "noise": spec.noise, "kappa": spec.kappa, "seed": spec.seed},
                  "train_wall_seconds": time.perf_counter() - t0})
    dest.parent.mkdir(parents=True, exist_ok=True)
    save_atomic(model, dest)
    return dest, "trained"


def write_summary(cfg: FrontierConfig, folder: str | os.PathLike) -> Path:
    """``config.yaml`` (the normalised config the models were trained from) and
    ``summary.json`` of a models folder: per model file of the config its spec, hash,
    kept epoch, validation error, training seconds and bytes; and the totals."""
    from stablesweep.modelfile import load_model_file

    folder = Path(folder)
    (folder / "config.yaml").write_text(
        f"# The config these models were trained from ({cfg.source}, normalised); a model\n"
        "# depends only on problem, detail (at its kappa), training and its architecture:\n"
        "# see stablesweep.frontier.models.training_hash.\n" + cfg.text)
    entries = []
    for spec in model_specs(cfg):
        path = folder / f"{spec.id}.pt"
        if not path.is_file():
            continue
        m = load_model_file(path)
        entries.append({
            "file": path.name, "arch": spec.arch, "detail_weight": spec.detail_weight,
            "noise": spec.noise, "kappa": spec.kappa, "seed": spec.seed,
            "training_hash": m.get("training_hash"),
            "parameters": int(sum(v.numel() for v in m["state_dict"].values())),
            "epoch": int(m["epoch"]), "val_rel_error": float(m["val_rel_error"]),
            "train_seconds": round(float(sum(h["seconds"] for h in m["history"])), 1),
            "bytes": path.stat().st_size,
        })
    summary = {"config": cfg.name, "config_hash": cfg.hash, "models": entries,
               "count": len(entries), "total_bytes": sum(e["bytes"] for e in entries),
               "train_seconds": round(sum(e["train_seconds"] for e in entries), 1)}
    path = folder / "summary.json"
    path.write_text(json.dumps(summary, indent=1) + "\n")
    return path
