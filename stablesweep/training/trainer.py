r"""Supervised training of the trained reconstruction networks (U-Net, learned primal–dual).

Minimises the mean squared error over the training images,

.. math::

    \mathcal L(\theta) = \frac{1}{|B|}\sum_{i \in B} \frac1N \|\varphi_\theta(y_i) - x_i\|_2^2,

with Adam on shuffled mini-batches :math:`B` (learning rate constant or cosine-annealed
over the epochs), and after every epoch

* evaluates the validation loss and the mean relative error
  :math:`\|\varphi(y) - x\| / \|x\|` on the validation set,
* writes the full training state to ``<out>/state.pt`` atomically (model, optimizer,
  scheduler, shuffling generator, PyTorch's global generator, epoch, history, best
  weights), so that an interrupted run resumes from its last finished epoch and ends
  with the same weights as an uninterrupted one (bit for bit on the same device).

At the end ``<out>/model.pt`` holds the kept weights (lowest validation loss, or the
last epoch's) with the architecture, the training operator (mask included), the full
config and its hash, the data seed and the history (see
:mod:`stablesweep.modelfile`), and ``<out>/summary.json`` a readable summary.
A ``model.pt`` therefore exists only for a finished training.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stablesweep.modelfile import (
    MODEL_FORMAT,
    STATE_FORMAT,
    load_state_file,
    operator_record,
    provenance,
    save_atomic,
)

from .config import TrainingConfig, load_training_config
from .data import Dataset, make_datasets, make_operator, seed_streams, torch_seed

__all__ = ["TrainResult", "build_untrained", "mse", "resolve_device", "train", "train_epoch"]

DEFAULT_MODELS_DIR = Path("results") / "models"
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass
class TrainResult:
    """What :func:`train` did.

    Attributes
    ----------
    out_dir : pathlib.Path
        ``<models dir>/<name>``.
    model_path : pathlib.Path or None
        ``model.pt``; ``None`` when the run stopped before the last epoch.
    state_path : pathlib.Path
        ``state.pt``.
    epoch : int
        Epochs finished.
    resumed_from : int
        Epoch the run started from (0 for a fresh run).
    history : list of dict
        One record per epoch: ``epoch``, ``train_loss``, ``val_loss``,
        ``val_rel_error``, ``lr``, ``seconds``.
    seconds : float
        Wall time of this call.
    """

    out_dir: Path
    model_path: Path | None
    state_path: Path
    epoch: int
    resumed_from: int
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"`` (or ``None``) -> CUDA when available, else CPU; anything else as given."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} is not available (no CUDA); use auto or cpu")
    return dev


def network_class(name: str) -> type:
    """The class of a trainable network family (an entry of
    :data:`stablesweep.networks.NETWORKS` marked ``trainable``)."""
    from stablesweep.networks import trainable_networks

    classes = trainable_networks()
    if name not in classes:
        raise ValueError(f"network {name!r} is not trainable; expected one of: "
                         f"{', '.join(classes)}")
    return classes[name]


def build_untrained(cfg: TrainingConfig, A: Any) -> torch.nn.Module:
    """The randomly initialised network of ``cfg`` (``init_seed`` from the ``"init"`` stream)."""
    cls = network_class(cfg.network)
    return cls(A, **cfg.params, init_seed=torch_seed(seed_streams(cfg.seed)["init"]))


def mse(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    r"""Mean squared error :math:`\operatorname{mean}|out - x|^2` (complex-safe, real result)."""
    d = out - x
    if d.is_complex():
        d = torch.view_as_real(d)
    return d.square().mean()


def _rel_errors(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    d = (out - x).flatten(1)
    return torch.linalg.vector_norm(d, dim=1) / torch.linalg.vector_norm(x.flatten(1), dim=1)


@torch.no_grad()
def evaluate(net: torch.nn.Module, data: Dataset, batch_size: int = 64) -> tuple[float, float]:
    """Mean squared error and mean relative error of ``net`` on ``data``."""
    total, rel, n = 0.0, 0.0, len(data)
    for start in range(0, n, batch_size):
        out = net(data.y[start:start + batch_size])
        x = data.x[start:start + batch_size]
        total += float(mse(out, x)) * x.shape[0]
        rel += float(_rel_errors(out, x).sum())
    return total / n, rel / n


def train_epoch(net: torch.nn.Module, opt: torch.optim.Optimizer, sched: Any,
                train_set: Dataset, val_set: Dataset, shuffle: torch.Generator,
                batch_size: int, epoch: int,
                on_batch: Callable[[float], None] | None = None,
                augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
                ) -> dict[str, float]:
    """One epoch: minibatch steps of ``opt`` on :func:`mse` in the order drawn from
    ``shuffle``, one step of the learning-rate schedule, then the validation loss.

    Returns the epoch's history record: ``epoch``, ``train_loss`` (mean over the
    images), ``val_loss``, ``val_rel_error`` (:func:`evaluate`), ``lr`` (the rate the
    epoch used) and ``seconds``. ``on_batch(loss)`` is called after every step;
    ``augment(y)`` (e.g. fresh training noise) transforms each batch's measurements
    before the forward pass.
    """
    t0 = time.perf_counter()
    net.train()
    n = len(train_set)
    perm = torch.randperm(n, generator=shuffle).to(train_set.x.device)
    total = 0.0
    for start in range(0, n, batch_size):
        idx = perm[start:start + batch_size]
        opt.zero_grad(set_to_none=True)
        yb = train_set.y[idx]
        loss = mse(net(yb if augment is None else augment(yb)), train_set.x[idx])
        loss.backward()
        opt.step()
        total += float(loss.detach()) * idx.numel()
        if on_batch is not None:
            on_batch(float(loss))
    lr = opt.param_groups[0]["lr"]
    sched.step()
    net.eval()
    val_loss, val_rel = evaluate(net, val_set)
    return {"epoch": epoch, "train_loss": total / n, "val_loss": val_loss,
            "val_rel_error": val_rel, "lr": lr, "seconds": time.perf_counter() - t0}


def _bar_step(bar: Any, epoch: int) -> Callable[[float], None]:
    """``on_batch`` of :func:`train_epoch` for a progress bar."""
    def step(loss: float) -> None:
        bar.update(1)
        bar.set_postfix(epoch=epoch, loss=f"{loss:.3e}", refresh=False)
    return step


def _scheduler(opt: torch.optim.Optimizer, kind: str, epochs: int):
    if kind == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs, eta_min=0.0)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)


def _resume_key(cfg: TrainingConfig) -> dict[str, Any]:
    """The config without settings that do not change the result's definition (device)."""
    data = json.loads(json.dumps(cfg.data, default=str))
    data["training"].pop("device", None)
    return data


def _diff(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            out += _diff(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
        return out
    return [] if a == b else [f"{path}: {a!r} -> {b!r}"]


def train(
    config: TrainingConfig | str | os.PathLike,
    *,
    models_dir: str | os.PathLike = DEFAULT_MODELS_DIR,
    out_dir: str | os.PathLike | None = None,
    profile: str | None = None,
    resume: bool = True,
    stop_after: int | None = None,
    device: str | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
) -> TrainResult:
    """Train the network of a training config, resuming an interrupted run.

    Parameters
    ----------
    config : TrainingConfig or path-like
        The config (a YAML path is read with :func:`load_training_config`).
    models_dir : path-like
        Models folder (default ``results/models``); the run writes to
        ``<models_dir>/<config name>/``.
    out_dir : path-like, optional
        Write here instead.
    profile : str, optional
        Profile to merge in when ``config`` is a path.
    resume : bool
        Continue from ``state.pt`` when present (default). ``False`` starts afresh and
        overwrites it.
    stop_after : int, optional
        Stop after this epoch (as if interrupted; used by tests and for chunked runs).
    device : str, optional
        Overrides ``training.device`` (``auto``, ``cpu``, ``cuda``, ``cuda:1``).
    progress : bool
        Show a tqdm progress bar with the running loss.
    log : callable or None
        Receives one line per epoch and event (default :func:`print`).

    Returns
    -------
    TrainResult

    Raises
    ------
    ValueError
        ``state.pt`` belongs to a different config (the message lists the differing
        keys; use ``resume=False`` / ``--restart``), or a bad ``device``.
    """
    t_start = time.perf_counter()
    say = log or (lambda _msg: None)
    cfg = config if isinstance(config, TrainingConfig) else load_training_config(config, profile)
    out = Path(out_dir) if out_dir is not None else Path(models_dir) / cfg.name
    state_path, model_path = out / "state.pt", out / "model.pt"
    tcfg = cfg.training
    epochs = int(tcfg["epochs"])
    dev = resolve_device(device if device is not None else tcfg["device"])
    real = _DTYPES[tcfg["dtype"]]

    A = make_operator(cfg)
    net = build_untrained(cfg, A).to(device=dev, dtype=real)
    opt = torch.optim.Adam(net.parameters(), lr=float(tcfg["lr"]),
                           weight_decay=float(tcfg["weight_decay"]))
    sched = _scheduler(opt, tcfg["schedule"], epochs)
    shuffle = torch.Generator().manual_seed(torch_seed(seed_streams(cfg.seed)["shuffle"]))
    history: list[dict[str, float]] = []
    best: dict[str, Any] = {"epoch": 0, "val_loss": math.inf, "state": None}
    start_epoch = 0

    if resume and state_path.is_file():
        st = load_state_file(state_path)
        diffs = _diff(st["resume_key"], _resume_key(cfg))
        if diffs:
            raise ValueError(
                f"'{state_path}' was written for a different config ({'; '.join(diffs[:8])}); "
                "expected the same config to resume. Restart with resume=False (CLI: "
                "--restart) or choose another name/out folder"
            )
        net.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        sched.load_state_dict(st["scheduler"])
        shuffle.set_state(st["shuffle_rng"])
        torch.set_rng_state(st["torch_rng"])
        history = list(st["history"])
        best = {"epoch": int(st["best_epoch"]), "val_loss": float(st["best_val_loss"]),
                "state": st["best_model"]}
        start_epoch = int(st["epoch"])
        say(f"[train {cfg.name}] resuming after epoch {start_epoch}/{epochs} from {state_path}")
    elif not resume:
        # an explicit restart: the model file of the earlier run must not outlive it
        model_path.unlink(missing_ok=True)
        (out / "summary.json").unlink(missing_ok=True)
    if start_epoch >= epochs and model_path.is_file():
        say(f"[train {cfg.name}] already trained: {model_path}")
        return TrainResult(out, model_path, state_path, start_epoch, start_epoch, history,
                           time.perf_counter() - t_start)

    train_set, val_set = make_datasets(cfg, A)
    train_set, val_set = train_set.to(dev, real), val_set.to(dev, real)
    n, bs = len(train_set), int(tcfg["batch_size"])
    per_epoch = math.ceil(n / bs)
    last = epochs if stop_after is None else min(epochs, int(stop_after))
    say(f"[train {cfg.name}] {cfg.network} ({sum(p.numel() for p in net.parameters())} "
        f"parameters), {n} training / {len(val_set)} validation images, {epochs} epochs, "
        f"device {dev}, {tcfg['dtype']}, out {out}")

    bar = _progress(progress, cfg.name, epochs * per_epoch, start_epoch * per_epoch)
    try:
        for epoch in range(start_epoch + 1, last + 1):
            rec = train_epoch(net, opt, sched, train_set, val_set, shuffle, bs, epoch,
                              on_batch=None if bar is None else _bar_step(bar, epoch))
            val_loss, val_rel = rec["val_loss"], rec["val_rel_error"]
            history.append(rec)
            if val_loss < best["val_loss"]:
                best = {"epoch": epoch, "val_loss": val_loss, "state": _cpu_state(net)}
            save_atomic(_state(cfg, A, net, opt, sched, shuffle, epoch, history, best),
                        state_path)
            if bar is not None:
                bar.set_postfix(epoch=epoch, loss=f"{rec['train_loss']:.3e}",
                                val=f"{val_loss:.3e}")
            say(f"[train {cfg.name}] epoch {epoch}/{epochs}: train {rec['train_loss']:.4e}, "
                f"val {val_loss:.4e} (rel. error {val_rel:.4f}), {rec['seconds']:.1f} s")
    finally:
        if bar is not None:
            bar.close()

    if last < epochs:
        return TrainResult(out, None, state_path, last, start_epoch, history,
                           time.perf_counter() - t_start)
    keep_best = tcfg["keep"] == "best" and best["state"] is not None
    weights = best["state"] if keep_best else _cpu_state(net)
    kept_epoch = best["epoch"] if keep_best else epochs
    kept_val = best["val_loss"] if keep_best else history[-1]["val_loss"]
    save_atomic(_model(cfg, A, net, weights, kept_epoch, kept_val, history), model_path)
    _write_summary(out / "summary.json", cfg, net, kept_epoch, kept_val, history, dev)
    say(f"[train {cfg.name}] wrote {model_path} (epoch {kept_epoch}, val {kept_val:.4e})")
    return TrainResult(out, model_path, state_path, epochs, start_epoch, history,
                       time.perf_counter() - t_start)


# --------------------------------------------------------------------------- helpers


def _progress(enabled: bool, name: str, total: int, initial: int):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=f"train {name}", unit="batch",
                dynamic_ncols=True)


def _cpu_state(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}


def _common(cfg: TrainingConfig, A: Any, net: torch.nn.Module) -> dict[str, Any]:
    return {
        "network": cfg.network,
        "arch": net.arch(),
        "operator": operator_record(A),
        "config": json.loads(json.dumps(cfg.data, default=str)),
        "config_text": cfg.text,
        "config_hash": cfg.hash,
        "config_source": cfg.source,
        "profile": cfg.profile,
        "data_seed": cfg.seed,
        "mask_seed": cfg.sampling.get("seed"),
        "train_dtype": cfg.training["dtype"],
        **provenance(),
    }


def _state(cfg, A, net, opt, sched, shuffle, epoch, history, best) -> dict[str, Any]:
    return {
        "format": STATE_FORMAT,
        **_common(cfg, A, net),
        "resume_key": _resume_key(cfg),
        "epoch": epoch,
        "model": _cpu_state(net),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "shuffle_rng": shuffle.get_state(),
        "torch_rng": torch.get_rng_state(),
        "history": history,
        "best_epoch": best["epoch"],
        "best_val_loss": best["val_loss"],
        "best_model": best["state"],
    }


def _model(cfg, A, net, weights, epoch, val_loss, history) -> dict[str, Any]:
    return {
        "format": MODEL_FORMAT,
        **_common(cfg, A, net),
        "state_dict": weights,
        "epoch": epoch,
        "val_loss": val_loss,
        "history": history,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _write_summary(path: Path, cfg, net, epoch, val_loss, history, dev) -> None:
    summary = {
        "name": cfg.name, "network": cfg.network, "config_hash": cfg.hash,
        "kept_epoch": epoch, "val_loss": val_loss,
        "parameters": int(sum(p.numel() for p in net.parameters())),
        "device": str(dev), "train_seconds": float(np.sum([h["seconds"] for h in history])),
        "history": history, "config": json.loads(json.dumps(cfg.data, default=str)),
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=2))
    os.replace(tmp, path)
