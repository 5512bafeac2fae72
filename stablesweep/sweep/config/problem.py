"""One trial's problem: the sampling mask, the signal and the noisy measurements.

:func:`draw_problem` draws, for one grid point and trial, the mask
(:func:`stablesweep.sampling.budgets` + :func:`~stablesweep.sampling.multilevel_mask`,
or the fixed mask of a model file, ``sampling.mask_from``: :func:`fixed_mask`), the
signal (sparse-in-levels coefficients z with x = W^{-1} z, or a test image / ellipse
phantom x, with details when ``details``, and z = W x) and the noisy measurements
``y = A z + e``, ``‖e‖ = noise·‖A z‖`` (:func:`stablesweep.signals.add_noise`), each
from its own seed (see :mod:`stablesweep.sweep.config.grid`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .grid import stream_seed
from .model_files import read_operator_record

__all__ = ["Problem", "draw_problem", "fixed_mask"]


@dataclass(frozen=True)
class Problem:
    """One drawn problem: operator, signal and measurements."""

    A: Any
    x: torch.Tensor  # image
    z: torch.Tensor  # wavelet coefficients
    y: torch.Tensor  # noisy measurements
    noise_norm: float
    sigma_theory: float


def fixed_mask(path: str) -> np.ndarray:
    """The sampling mask stored in a model file (``sampling.mask_from``), a fresh copy.

    Read with :func:`stablesweep.modelfile.load_operator_record`; the file is
    read once per version (path, modification time, size).
    """
    return read_operator_record(path)["mask"].numpy().astype(bool)


def draw_problem(
    point: Mapping[str, Any], seed: int, trial: int, mask: np.ndarray | None = None
) -> Problem:
    """Draw the mask, the signal and the noise of one trial at one grid point.

    Parameters
    ----------
    point : mapping
        Problem parameters (``transform, resolution, dim, wavelet, scheme, rate,
        budgets, mask_from, signal, sparsity, image, complex, details, noise``).
    seed, trial : int
        Global seed and trial index.
    mask : numpy.ndarray of bool, optional
        With ``mask_from``: the file's mask, already read (default: read it). The same
        mask serves every trial.

    Returns
    -------
    Problem
    """
    from stablesweep import levels, operators, sampling, signals

    n, d = int(point["resolution"]), int(point.get("dim", 2))
    shape = (n,) * d
    transform = point["transform"]
    sparsity = point.get("sparsity")

    if point.get("mask_from") is not None:
        mask = fixed_mask(point["mask_from"]) if mask is None else mask
        if mask.shape != shape:
            raise ValueError(f"the mask of {point['mask_from']!r} has shape {mask.shape}; "
                             f"expected {shape}")
    else:
        if point.get("budgets") is not None:
            m_k = sampling.budgets(shape, transform, None, list(point["budgets"]))
        else:
            m = int(round(float(point["rate"]) * n**d))
            m_k = sampling.budgets(shape, transform, m, point["scheme"],
                                   s=list(sparsity) if sparsity is not None else None)
        rng_mask = np.random.default_rng(stream_seed(seed, trial, "mask", point))
        mask = sampling.multilevel_mask(shape, transform, m_k, rng_mask)
    A = operators.SamplingOperator(transform, mask, wavelet=point.get("wavelet", "haar"))

    rng_signal = np.random.default_rng(stream_seed(seed, trial, "signal", point))
    kind = point["signal"]
    if kind == "sparse-in-levels":
        z = levels.sample_sparse_in_levels(shape, list(sparsity), rng_signal,
                                           complex=bool(point.get("complex", False)))
        x = A.to_image(z)
    else:
        if kind == "image":
            x = signals.test_image(point["image"], n)
        elif kind == "ellipses":
            x = signals.ellipse_phantom(n, rng_signal, d=d,
                                        details=bool(point.get("details", False)))
        else:  # pragma: no cover - rejected by the config validation
            raise ValueError(f"unknown signal kind {kind!r}")
        x = x.to(torch.float64)
        z = A.to_coefficients(x)

    clean = A(z)
    rng_noise = np.random.default_rng(stream_seed(seed, trial, "noise", point))
    y = signals.add_noise(clean, float(point.get("noise", 0.0)), rng_noise)

    if sparsity is not None and sum(sparsity) > 0:
        s, r = sum(sparsity), len(sparsity)
        sigma = float(levels.best_approx_error(z, list(sparsity), d=d)) / math.sqrt(s * r)
    else:
        sigma = math.nan
    return Problem(A=A, x=x, z=z, y=y, noise_norm=float(torch.linalg.vector_norm(y - clean)),
                   sigma_theory=sigma)


# --------------------------------------------------------------------------- networks
