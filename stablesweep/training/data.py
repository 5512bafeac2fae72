r"""Training data: the fixed training operator and seeded random-ellipse datasets.

The operator of a training config is :math:`A = P_\Omega U W^{-1}` with a mask Ω drawn
once (``problem.sampling``: scheme, rate, sparsity, seed) or read from a model file
(``mask_from``). The data are pairs :math:`(y_i, x_i)` with :math:`x_i` a random ellipse
phantom (:func:`stablesweep.signals.ellipse_phantom`, optionally with small low-contrast
details) and :math:`y_i = P_\Omega U x_i + e_i`, :math:`\|e_i\| = \eta\|P_\Omega U x_i\|`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .config import TrainingConfig

__all__ = ["Dataset", "make_datasets", "make_mask", "make_operator", "seed_streams"]

#: order of the children spawned from the config seed
STREAMS = ("train", "validation", "init", "shuffle")


def seed_streams(seed: int) -> dict[str, np.random.SeedSequence]:
    """Independent seed sequences for data, validation, initialisation and shuffling.

    Parameters
    ----------
    seed : int
        The config's ``seed``.

    Returns
    -------
    dict
        ``{"train", "validation", "init", "shuffle"}`` -> :class:`numpy.random.SeedSequence`
        (the children of ``SeedSequence(seed)`` in that order).
    """
    children = np.random.SeedSequence(int(seed)).spawn(len(STREAMS))
    return dict(zip(STREAMS, children, strict=True))


def torch_seed(ss: np.random.SeedSequence) -> int:
    """A 63-bit integer seed for a :class:`torch.Generator` from a seed sequence."""
    return int(ss.generate_state(1, dtype=np.uint64)[0]) & ((1 << 63) - 1)


def make_mask(cfg: TrainingConfig) -> np.ndarray:
    """The training mask of ``cfg`` (bool, shape ``(n, n)``, natural index order).

    ``mask_from`` reads it from a model file
    (:func:`stablesweep.modelfile.load_mask`); ``scheme: radial`` gives
    :func:`stablesweep.sampling.radial_mask` with ``lines``; otherwise
    ``multilevel_mask(shape, transform, budgets(shape, transform, round(rate * N),
    scheme, sparsity), seed)``.
    """
    from stablesweep.sampling import budgets, multilevel_mask, radial_mask

    p = cfg.problem
    s = p["sampling"]
    n = int(p["resolution"])
    shape = (n, n)
    if "mask_from" in s:
        from stablesweep.modelfile import load_operator_record

        rec = load_operator_record(s["mask_from"])
        if rec["shape"] != shape or rec["transform"] != p["transform"]:
            raise ValueError(
                f"problem.sampling.mask_from: '{s['mask_from']}' holds a {rec['transform']} "
                f"mask of shape {rec['shape']}; expected {p['transform']} with shape {shape}"
            )
        return rec["mask"].numpy().astype(bool)
    if s["scheme"] == "radial":
        return radial_mask(shape, int(s["lines"]), p["transform"])
    N = n * n
    m = max(1, int(round(float(s["rate"]) * N)))
    b = budgets(shape, p["transform"], m, s["scheme"], s.get("sparsity"))
    return multilevel_mask(shape, p["transform"], b, int(s["seed"]))


def make_operator(cfg: TrainingConfig) -> Any:
    """The :class:`~stablesweep.operators.SamplingOperator` a config trains for."""
    from stablesweep.operators import SamplingOperator

    p = cfg.problem
    return SamplingOperator(p["transform"], make_mask(cfg), p.get("wavelet", "haar"))


@dataclass
class Dataset:
    """Images and their measurements.

    Attributes
    ----------
    x : torch.Tensor, float64, shape (count, n, n)
        Ground-truth images.
    y : torch.Tensor, shape (count, m), ``A.dtype``
        Measurements (noisy when ``data.noise > 0``).
    """

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def to(self, device: torch.device | str, real: torch.dtype) -> Dataset:
        """Copy to ``device`` with images in ``real`` and measurements in its counterpart."""
        cplx = {torch.float32: torch.complex64, torch.float64: torch.complex128}[real]
        ydt = cplx if self.y.is_complex() else real
        return Dataset(self.x.to(device=device, dtype=real), self.y.to(device=device, dtype=ydt))


def _draw(count: int, cfg: TrainingConfig, A: Any, ss: np.random.SeedSequence) -> Dataset:
    from stablesweep.signals import add_noise, ellipse_phantoms

    d = cfg.dataset
    kw: dict[str, Any] = {"details": bool(d.get("details", True))}
    if d.get("n_ellipses") is not None:
        ne = d["n_ellipses"]
        kw["n_ellipses"] = tuple(ne) if isinstance(ne, list) else int(ne)
    img_rng, noise_rng = (np.random.default_rng(c) for c in ss.spawn(2))
    x = ellipse_phantoms(count, int(cfg.problem["resolution"]), img_rng, **kw)
    y = A.measure(x.to(A.dtype))
    noise = float(d.get("noise", 0.0))
    if noise > 0:
        y = add_noise(y, noise, noise_rng)
    return Dataset(x, y)


def make_datasets(cfg: TrainingConfig, A: Any) -> tuple[Dataset, Dataset]:
    """Training and validation sets of ``cfg`` for the operator ``A``.

    Parameters
    ----------
    cfg : TrainingConfig
    A : SamplingOperator

    Returns
    -------
    train, validation : Dataset
        Drawn from the ``"train"`` and ``"validation"`` streams of :func:`seed_streams`,
        so the validation set does not change with ``data.train``. Images float64,
        measurements ``A.dtype``, on the CPU.
    """
    streams = seed_streams(cfg.seed)
    d = cfg.dataset
    return (_draw(int(d["train"]), cfg, A, streams["train"]),
            _draw(int(d["validation"]), cfg, A, streams["validation"]))
