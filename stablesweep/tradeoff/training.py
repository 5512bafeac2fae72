r"""Training a network (U-Net or learned primal–dual) on phantoms that carry near-kernel details.

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
    :math:`x_i \leftarrow x_i + \delta_i`, :math:`y_i = B x_i`. The *plain* network is
    trained on the same phantoms without details. Optional training noise
    (:func:`jitter`) is drawn afresh for every batch.

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

__all__ = ["STREAMS", "jitter", "seed_streams", "train_on_details", "train_unet",
           "training_data"]

#: order of the children spawned from the config seed
STREAMS = ("train", "validation", "init", "shuffle", "pairs", "attack", "noise")


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


def jitter(level: float, generator: torch.Generator) -> Callable[[torch.Tensor], torch.Tensor]:
    r"""Training noise ("jitter", Genzel et al. 2022): :math:`y \mapsto y + e` with
    :math:`e = u\,\eta\,\|y\|\,g/\|g\|` per measurement vector, :math:`u \sim U(0, 1)`,
    :math:`g` standard (complex) Gaussian, drawn afresh at every call from ``generator``.

    So the noise norm is spread uniformly over :math:`[0, \eta\|y\|]`, the range of
    the attack budgets it should prepare for.
    """
    level = float(level)

    def add(y: torch.Tensor) -> torch.Tensor:
        real = torch.view_as_real(y) if y.is_complex() else y
        g = torch.randn(real.shape, generator=generator, dtype=real.dtype)
        g = torch.view_as_complex(g) if y.is_complex() else g
        b = y.shape[0]
        u = torch.rand(b, generator=generator, dtype=real.dtype)
        y_norm = torch.linalg.vector_norm(real.reshape(b, -1), dim=1)
        g_norm = torch.linalg.vector_norm(torch.view_as_real(g).reshape(b, -1)
                                          if g.is_complex() else g.reshape(b, -1), dim=1)
        scale = (u * level * y_norm / g_norm).reshape(b, *([1] * (y.dim() - 1)))
        return y + scale.to(y.dtype) * g

    return add


def train_on_details(A: Any, network: str, arch: dict[str, Any], recipe: dict[str, Any],
                     detail: dict[str, Any], fraction: float, seed: int, *,
                     noise: float = 0.0, label: str | None = None,
                     log: Callable[[str], None] | None = None,
                     ) -> tuple[torch.nn.Module, dict[str, Any]]:
    r"""Train a network on phantoms, a share ``fraction`` of them with a near-kernel detail.

    Parameters
    ----------
    A : SamplingOperator
    network : {"unet", "learned-pd"}
        The architecture (:class:`stablesweep.networks.UNet` or
        :class:`stablesweep.networks.learned_pd.LearnedPD`).
    arch : dict
        Its parameters (``channels``, ``scales`` or ``layers``, ``hidden``).
    recipe : dict
        ``train``, ``validation`` (image counts), ``epochs``, ``batch_size``, ``lr``.
    detail : dict
        The ``detail`` block (its ``kappa`` is the details' visibility).
    fraction : float
        Share of training and validation images with a detail, in [0, 1].
    seed : int
        Training seed: the streams of :func:`seed_streams` give the images, the
        initialisation, the shuffling and the noise, so models of one seed differ only
        in ``fraction``, ``noise`` and the details' visibility.
    noise : float
        Training jitter :math:`\eta` (:func:`jitter`; 0: noiseless). The validation
        measurements carry one fixed draw of the same jitter.
    label, log : optional
        ``log`` receives one line per epoch, prefixed by ``label``.

    Returns
    -------
    net : torch.nn.Module
        float64, evaluation mode, frozen, the kept (best-validation) weights.
    model : dict
        The model file's contents (:data:`stablesweep.modelfile.MODEL_FORMAT`) without
        ``config`` and ``training_hash`` (the caller adds them).
    """
    from stablesweep.modelfile import MODEL_FORMAT, operator_record
    from stablesweep.networks.learned_pd import LearnedPD
    from stablesweep.networks.unet import UNet
    from stablesweep.training.data import torch_seed
    from stablesweep.training.trainer import train_epoch

    classes = {"unet": UNet, "learned-pd": LearnedPD}
    if network not in classes:
        raise ValueError(f"network {network!r} is not trainable here; expected one of "
                         f"{', '.join(classes)}")
    say = log or (lambda _m: None)
    streams = seed_streams(int(seed))
    train_set = training_data(int(recipe["train"]), A, detail, fraction, streams["train"])
    val_set = training_data(int(recipe["validation"]), A, detail, fraction,
                            streams["validation"])
    real = torch.float32
    train32, val32 = train_set.to("cpu", real), val_set.to("cpu", real)
    augment = None
    if noise > 0:
        val_gen, train_gen = (torch.Generator().manual_seed(torch_seed(c))
                              for c in streams["noise"].spawn(2))
        val32.y = jitter(noise, val_gen)(val32.y)
        augment = jitter(noise, train_gen)
    net = classes[network](A, **arch, init_seed=torch_seed(streams["init"])).to(real)
    epochs, bs = int(recipe["epochs"]), int(recipe["batch_size"])
    opt = torch.optim.Adam(net.parameters(), lr=float(recipe["lr"]))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs, eta_min=0.0)
    shuffle = torch.Generator().manual_seed(torch_seed(streams["shuffle"]))
    history: list[dict[str, float]] = []
    best: dict[str, Any] = {"epoch": 0, "val_loss": math.inf, "state": None, "val_rel": math.nan}
    label = label or f"{network} seed {seed}"
    for epoch in range(1, epochs + 1):
        rec = train_epoch(net, opt, sched, train32, val32, shuffle, bs, epoch, augment=augment)
        val_loss, val_rel = rec["val_loss"], rec["val_rel_error"]
        history.append(rec)
        if val_loss < best["val_loss"]:
            best = {"epoch": epoch, "val_loss": val_loss, "val_rel": val_rel,
                    "state": {k: v.detach().clone() for k, v in net.state_dict().items()}}
        say(f"[{label}] epoch {epoch}/{epochs}: train {rec['train_loss']:.3e}, "
            f"val {val_loss:.3e} (rel. error {val_rel:.4f}), {rec['seconds']:.1f} s")
    if best["state"] is None:  # no finite validation loss: keep the last weights
        best = {"epoch": epochs, "val_loss": history[-1]["val_loss"],
                "val_rel": history[-1]["val_rel_error"],
                "state": {k: v.detach().clone() for k, v in net.state_dict().items()}}
    net.load_state_dict(best["state"])
    model = {
        "format": MODEL_FORMAT,
        "network": network,
        "arch": net.arch(),
        "operator": operator_record(A),
        "profile": None,
        "data_seed": int(seed),
        "training_seed": int(seed),
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


def train_unet(A: Any, cfg: Any, *, details: bool = True, seed: int | None = None,
               log: Callable[[str], None] | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Train the config's U-Net with (``details=True``) or without near-kernel details.

    :func:`train_on_details` with the config's ``training`` block as the recipe and
    architecture, ``training.detail_fraction`` (or 0 without details), no noise.

    Parameters
    ----------
    A : SamplingOperator
    cfg : TradeoffConfig
    details : bool
        Train on data where ``training.detail_fraction`` of the images carry a detail
        (validation likewise), or on the plain phantoms.
    seed : int, optional
        The training seed (one of ``training.seeds``; default the config's ``seed``).
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
    t_cfg = cfg.training
    seed = cfg.seed if seed is None else int(seed)
    frac = float(t_cfg["detail_fraction"]) if details else 0.0
    arch = {"channels": int(t_cfg["channels"]), "scales": int(t_cfg["scales"])}
    label = f"tradeoff {'unet' if details else 'unet-plain'} seed {seed}"
    net, model = train_on_details(A, "unet", arch, t_cfg, cfg.detail, frac, seed,
                                  label=label, log=log)
    model.update({
        "config": {"tradeoff": cfg.data, "trained_with_details": details},
        "config_text": cfg.text,
        "config_hash": cfg.hash,
        "config_source": cfg.source,
        "mask_seed": int(cfg.problem["sampling"].get("seed", -1)),
    })
    return net, model


def _package_version() -> str:
    from stablesweep import __version__

    return str(__version__)
