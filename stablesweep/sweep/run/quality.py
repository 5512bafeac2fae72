"""Image quality of a reconstruction: PSNR and SSIM (scikit-image)."""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["image_quality"]


def image_quality(output: torch.Tensor, x: torch.Tensor) -> tuple[float, float]:
    r"""PSNR (dB) and SSIM of :math:`|\hat x|` against :math:`|x|` (NaN for 1-D signals).

    scikit-image's ``peak_signal_noise_ratio`` and ``structural_similarity`` with the
    data range :math:`\max|x| - \min|x|` of the true image (7×7 window; SSIM is NaN for
    images smaller than that or a constant true image).
    """
    if x.dim() != 2 or not bool(torch.isfinite(torch.view_as_real(output) if
                                                output.is_complex() else output).all()):
        return math.nan, math.nan
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    ref = x.detach().abs().to(torch.float64).cpu().numpy()
    out = output.detach().abs().to(torch.float64).cpu().numpy()
    data_range = float(ref.max() - ref.min())
    if data_range <= 0:
        return math.nan, math.nan
    with np.errstate(divide="ignore"):
        psnr = float(peak_signal_noise_ratio(ref, out, data_range=data_range))
    ssim = (float(structural_similarity(ref, out, data_range=data_range))
            if min(ref.shape) >= 7 else math.nan)
    return psnr, ssim
