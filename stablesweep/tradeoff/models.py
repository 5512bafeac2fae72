r"""The trade-off's trained U-Nets: one model file per (network, training seed), cached.

Each trained network (``unet``: with near-kernel details; ``unet-plain``: without) is
trained once per training seed (``training.seeds``). A model file is identified by its
*training hash* (:func:`training_hash`): the SHA-256 (16 hex digits) of exactly what
determines the weights — the ``problem`` and ``detail`` blocks, the ``training`` block
without ``seeds``, whether details are used, and the training seed. The test pairs, the
attack, the other networks and the config's ``name`` do not enter it, so changing them
reuses the models.

Lookup (:func:`obtain_models`)
    For each (network, seed) the file ``<models>/<network>-seed<seed>.pt`` is used when
    it exists and its stored ``training_hash`` equals the config's; otherwise the
    network is trained (:func:`stablesweep.tradeoff.training.train_unet`) and, when an
    output folder is given, written to ``<out>/models/<network>-seed<seed>.pt`` (copy them
    into ``<models>`` to ship them). A file
    that exists but does not match is named in the log (its hash and the expected one)
    and not used. ``<models>`` is the config's ``models`` key (a folder, relative to the
    working directory), ``models/tradeoff-kernel-32`` for the shipped config.

The shipped folder (``models/tradeoff-kernel-32``) holds the model files, the training
config (``config.yaml``) and ``summary.json`` (:func:`write_summary`: per model the
hash, kept epoch, validation error, training time, parameters and file size).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

__all__ = ["TRAINED_KINDS", "load_unet", "matching_model", "model_filename", "obtain_models",
           "train_models",
           "training_hash", "write_summary"]

#: trained networks -> whether their training data carry details
TRAINED_KINDS = {"unet": True, "unet-plain": False}


def training_hash(cfg: Any, kind: str, seed: int) -> str:
    """The identity of one trained network (see the module docstring)."""
    from stablesweep.configuration.values import digest

    training = {k: v for k, v in cfg.training.items() if k != "seeds"}
    return digest({"problem": cfg.problem, "detail": cfg.detail, "training": training,
                   "details": TRAINED_KINDS[kind], "seed": int(seed)})


def model_filename(kind: str, seed: int) -> str:
    """``<kind>-seed<seed>.pt``."""
    return f"{kind}-seed{int(seed)}.pt"


def load_unet(A: Any, path: str | os.PathLike) -> torch.nn.Module:
    """A trained U-Net from its model file: float64, evaluation mode, frozen weights."""
    from stablesweep.networks.unet import UNet

    net = UNet(A, checkpoint=path).to(torch.float64).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def matching_model(path: Path, expected: str) -> tuple[dict[str, Any] | None, str]:
    """The model file at ``path`` if its stored ``training_hash`` is ``expected``; else
    None and why not (``"absent"``, ``"unreadable (...)"`` or the two hashes)."""
    from stablesweep.modelfile import load_model_file

    if not path.is_file():
        return None, "absent"
    try:
        model = load_model_file(path)
    except (ValueError, OSError) as err:
        return None, f"unreadable ({err})"
    found = model.get("training_hash")
    if found != expected:
        return None, f"training hash {found} differs from the config's {expected}"
    return model, "ok"


def obtain_models(cfg: Any, A: Any, *, models_dir: str | os.PathLike | None = None,
                  save_dir: str | os.PathLike | None = None,
                  log: Callable[[str], None] | None = None,
                  ) -> tuple[dict[tuple[str, int], torch.nn.Module],
                             dict[tuple[str, int], dict[str, Any]], dict[str, Any]]:
    """Every trained network of the config, from ``models_dir`` where it matches, else trained.

    Parameters
    ----------
    cfg : TradeoffConfig
    A : SamplingOperator
    models_dir : path-like, optional
        Folder of shipped model files (default: the config's ``models`` key, if any).
    save_dir : path-like, optional
        Networks trained here are written into this folder (``run_experiment``:
        ``<out>/models``).
    log : callable, optional

    Returns
    -------
    nets : dict
        ``(kind, seed)`` -> network (float64, eval).
    models : dict
        ``(kind, seed)`` -> model-file contents (``val_rel_error``, ``epoch``, ...).
    provenance : dict
        ``(kind, seed)`` as ``"kind/seed"`` -> ``{"source": path or "trained",
        "training_hash": ...}``.
    """
    from stablesweep.modelfile import save_atomic

    from .training import train_unet

    say = log or (lambda _m: None)
    if models_dir is None:
        models_dir = cfg.data.get("models")
    nets: dict[tuple[str, int], torch.nn.Module] = {}
    models: dict[tuple[str, int], dict[str, Any]] = {}
    prov: dict[str, Any] = {}
    for kind, details in TRAINED_KINDS.items():
        if kind not in cfg.networks:
            continue
        for seed in cfg.training["seeds"]:
            expected = training_hash(cfg, kind, seed)
            model = None
            if models_dir is not None:
                path = Path(models_dir) / model_filename(kind, seed)
                model, why = matching_model(path, expected)
                if model is None and why != "absent":
                    say(f"[tradeoff] not using {path}: {why}")
            if model is not None:
                nets[kind, seed] = load_unet(A, path)
                prov[f"{kind}/{seed}"] = {"source": str(path), "training_hash": expected}
                say(f"[tradeoff] {kind} seed {seed}: shipped model {path} "
                    f"(training hash {expected})")
            else:
                where = f" in {models_dir}" if models_dir is not None else ""
                say(f"[tradeoff] {kind} seed {seed}: training (no matching model file{where})")
                nets[kind, seed], model = train_unet(A, cfg, details=details, seed=seed,
                                                     log=say)
                model["training_hash"] = expected
                prov[f"{kind}/{seed}"] = {"source": "trained", "training_hash": expected}
                if save_dir is not None:
                    dest = Path(save_dir) / model_filename(kind, seed)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    save_atomic(model, dest)
            models[kind, seed] = model
    return nets, models, prov


def train_models(cfg: Any, A: Any, folder: str | os.PathLike,
                 log: Callable[[str], None] | None = None) -> Path:
    """Train every (network, seed) of ``cfg`` missing from ``folder`` into it, then write
    ``config.yaml`` and ``summary.json`` there (how the shipped folder was made)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    obtain_models(cfg, A, models_dir=folder, save_dir=folder, log=log)
    write_summary(cfg, folder)
    return folder


def write_summary(cfg: Any, folder: str | os.PathLike) -> Path:
    """``config.yaml`` (the config's text) and ``summary.json`` for a models folder."""
    from stablesweep.modelfile import load_model_file

    folder = Path(folder)
    (folder / "config.yaml").write_text(
        "# The training config of these models (the normalised kernel-32 trade-off config;\n"
        "# the models depend only on problem, detail and training: see\n"
        "# stablesweep.tradeoff.models.training_hash).\n" + cfg.text)
    entries = []
    for kind in TRAINED_KINDS:
        if kind not in cfg.networks:
            continue
        for seed in cfg.training["seeds"]:
            path = folder / model_filename(kind, seed)
            if not path.is_file():
                continue
            m = load_model_file(path)
            entries.append({
                "file": path.name, "network": kind, "trained_with_details": TRAINED_KINDS[kind],
                "seed": int(seed), "training_hash": m.get("training_hash"),
                "parameters": int(sum(v.numel() for v in m["state_dict"].values())),
                "epoch": int(m["epoch"]), "val_rel_error": float(m["val_rel_error"]),
                "train_seconds": round(float(sum(h["seconds"] for h in m["history"])), 1),
                "bytes": path.stat().st_size,
                "history": [{k: (round(float(v), 6) if isinstance(v, float) else v)
                             for k, v in h.items()} for h in m["history"]],
            })
    summary = {"config_hash": cfg.hash, "models": entries,
               "total_bytes": sum(e["bytes"] for e in entries)}
    path = folder / "summary.json"
    path.write_text(json.dumps(summary, indent=1) + "\n")
    return path
