r"""Training a U-Net on phantoms that carry near-kernel details.

The training package's :func:`stablesweep.training.train` draws its data from a
training config (ellipse phantoms, optional small visible details) and cannot add
near-kernel details, so this module has its own short loop built from the same
pieces: the network class (:class:`stablesweep.networks.UNet`), the loss
(:func:`stablesweep.training.trainer.mse`), the evaluation
(:func:`stablesweep.training.trainer.evaluate`), the data container
(:class:`stablesweep.training.data.Dataset`) and the model-file format
(:mod:`stablesweep.modelfile`; the written ``model.pt`` loads with
``UNet.from_checkpoint(A, path)``).

Data
    Images :math:`x_i` are random ellipse phantoms
    (:func:`stablesweep.signals.ellipse_phantoms`); a fraction ``detail_fraction`` of
    them (chosen at random) gets a near-kernel detail :math:`\delta_i` from the
    config's family (:func:`stablesweep.tradeoff.pairs.draw_details`):
    :math:`x_i \leftarrow x_i + \delta_i`, :math:`y_i = B x_i` (noiseless). The
    *plain* network is trained on the same phantoms without details.

Training
    Adam on shuffled mini-batches minimising the mean squared error, learning rate
    cosine-annealed to 0 over the epochs, float32; the weights with the lowest
    validation loss are kept and stored (float32; they load as float64).

Seeds
    ``SeedSequence(seed).spawn`` gives, in order, the streams of
    :data:`STREAMS`; the training images, validation images, initialisation and
    shuffling each come from their own stream (shared by the detail and the plain
    network, so the two differ only in the details). Each training seed ``s`` of
    ``training.seeds`` uses the first four streams of ``SeedSequence(s)``; the test
    pairs and the attack always use those of the config's ``seed``, so every trained
    network is measured on the same pairs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

__all__ = ["STREAMS", "seed_streams", "train_unet", "training_data"]

#: order of the children spawned from the config seed
STREAMS = ("train", "validation", "init", "shuffle", "pairs", "attack")


def seed_streams(seed: int) -> dict[str, np.random.SeedSequence]:
    """Independent seed sequences (:data:`STREAMS`) from the config ``seed``."""
    children = np.random.SeedSequence(int(seed)).spawn(len(STREAMS))
    return dict(zip(STREAMS, children, strict=True))


def training_data(count: int, A: Any, detail: dict[str, Any], fraction: float,
                  ss: np.random.SeedSequence) -> Any:
    """Phantoms, a ``fraction`` of them with a near-kernel detail, and their measurements.

    Parameters
    ----------
    count : int
    A : SamplingOperator
    detail : dict
        The config's ``detail`` block.
    fraction : float
        Share of images with a detail, in [0, 1]. The images drawn do not depend on it
        (phantoms, details and the choice of images come from three separate streams).
    ss : numpy.random.SeedSequence

    Returns
    -------
    stablesweep.training.data.Dataset
        ``x`` float64 ``(count, n, n)``, ``y`` ``A.dtype`` ``(count, m)``.
    """
    from stablesweep.signals import ellipse_phantoms
    from stablesweep.training.data import Dataset

    from .pairs import draw_details

    img_ss, det_ss, pick_ss = ss.spawn(3)
    x = ellipse_phantoms(count, int(A.shape[0]), np.random.default_rng(img_ss))
    deltas, _ = draw_details(count, A, detail, np.random.default_rng(det_ss))
    has = np.random.default_rng(pick_ss).uniform(size=count) < fraction
    x = x + torch.as_tensor(has, dtype=torch.float64)[:, None, None] * deltas
    return Dataset(x, A.measure(x.to(A.dtype)))


def train_unet(A: Any, cfg: Any, *, details: bool = True, seed: int | None = None,
               log: Callable[[str], None] | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Train the config's U-Net with (``details=True``) or without near-kernel details.

    Parameters
    ----------
    A : SamplingOperator
    cfg : TradeoffConfig
    details : bool
        Train on data where ``training.detail_fraction`` of the images carry a detail
        (validation likewise), or on the plain phantoms.
    seed : int, optional
        The training seed (one of ``training.seeds``; default the config's ``seed``): its
        streams give the training and validation images, the initialisation and the
        shuffling. Seed ``s`` trains exactly what a config with ``seed: s`` trained
        before ``training.seeds`` existed.
    log : callable, optional
        Receives one line per epoch.

    Returns
    -------
    net : stablesweep.networks.UNet
        float64, evaluation mode, the kept (best-validation) weights.
    model : dict
        The model file's contents (:data:`stablesweep.modelfile.MODEL_FORMAT`),
        ready for :func:`stablesweep.modelfile.save_atomic`.
    """
    from stablesweep.modelfile import MODEL_FORMAT, operator_record
    from stablesweep.networks.unet import UNet
    from stablesweep.training.data import torch_seed
    from stablesweep.training.trainer import train_epoch

    say = log or (lambda _m: None)
    t_cfg = cfg.training
    seed = cfg.seed if seed is None else int(seed)
    streams = seed_streams(seed)
    frac = float(t_cfg["detail_fraction"]) if details else 0.0
    train_set = training_data(int(t_cfg["train"]), A, cfg.detail, frac, streams["train"])
    val_set = training_data(int(t_cfg["validation"]), A, cfg.detail, frac,
                            streams["validation"])
    real = torch.float32
    train32, val32 = train_set.to("cpu", real), val_set.to("cpu", real)
    arch = {"channels": int(t_cfg["channels"]), "scales": int(t_cfg["scales"])}
    net = UNet(A, **arch, init_seed=torch_seed(streams["init"])).to(real)
    epochs, bs = int(t_cfg["epochs"]), int(t_cfg["batch_size"])
    opt = torch.optim.Adam(net.parameters(), lr=float(t_cfg["lr"]))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs, eta_min=0.0)
    shuffle = torch.Generator().manual_seed(torch_seed(streams["shuffle"]))
    history: list[dict[str, float]] = []
    best: dict[str, Any] = {"epoch": 0, "val_loss": math.inf, "state": None, "val_rel": math.nan}
    label = f"{'unet' if details else 'unet-plain'} seed {seed}"
    for epoch in range(1, epochs + 1):
        rec = train_epoch(net, opt, sched, train32, val32, shuffle, bs, epoch)
        val_loss, val_rel = rec["val_loss"], rec["val_rel_error"]
        history.append(rec)
        if val_loss < best["val_loss"]:
            best = {"epoch": epoch, "val_loss": val_loss, "val_rel": val_rel,
                    "state": {k: v.detach().clone() for k, v in net.state_dict().items()}}
        say(f"[tradeoff {label}] epoch {epoch}/{epochs}: train {rec['train_loss']:.3e}, "
            f"val {val_loss:.3e} (rel. error {val_rel:.4f}), {rec['seconds']:.1f} s")
    if best["state"] is None:  # no finite validation loss: keep the last weights
        best = {"epoch": epochs, "val_loss": history[-1]["val_loss"],
                "val_rel": history[-1]["val_rel_error"],
                "state": {k: v.detach().clone() for k, v in net.state_dict().items()}}
    net.load_state_dict(best["state"])
    model = {
        "format": MODEL_FORMAT,
        "network": "unet",
        "arch": net.arch(),
        "operator": operator_record(A),
        "config": {"tradeoff": cfg.data, "trained_with_details": details},
        "config_text": cfg.text,
        "config_hash": cfg.hash,
        "config_source": cfg.source,
        "profile": None,
        "data_seed": seed,
        "training_seed": seed,
        "mask_seed": int(cfg.problem["sampling"]["seed"]),
        "train_dtype": "float32",
        "version": _package_version(),
        "torch_version": str(torch.__version__),
        "state_dict": best["state"],
        "epoch": best["epoch"],
        "val_loss": best["val_loss"],
        "val_rel_error": best["val_rel"],
        "history": history,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    net = net.to(torch.float64).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net, model


def _package_version() -> str:
    from stablesweep import __version__

    return str(__version__)
