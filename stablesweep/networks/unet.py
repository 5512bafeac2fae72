r"""The U-Net post-processing network (a trained reconstruction network).

A U-Net post-processes the zero-filled reconstruction :math:`A^*y` (:class:`UNet`,
with the plain U-Net :class:`UNetCore`). Like every trained network it derives from
:class:`~stablesweep.networks.core.trained.TrainedNetwork`, which says how precision, the
training operator and model files are handled.

References
----------
.. [1] O. Ronneberger, P. Fischer, T. Brox, "U-Net: convolutional networks for biomedical
   image segmentation", MICCAI 2015.
.. [2] K. H. Jin, M. T. McCann, E. Froustey, M. Unser, "Deep convolutional neural network
   for inverse problems in imaging", IEEE Trans. Image Process. 26 (2017), 4509–4522.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint as _checkpoint

from .core.base import check_int
from .core.trained import (
    TrainedNetwork,
    check_depths,
    check_kernel_size,
    from_channels,
    to_channels,
)

# TrainedNetwork stays importable from here
__all__ = ["TrainedNetwork", "UNet", "UNetCore"]


# --------------------------------------------------------------------------- U-Net


class _Block(nn.Sequential):
    """``convs`` 3×3 convolutions (zero padding), each followed by a ReLU."""

    def __init__(self, c_in: int, c_out: int, convs: int, kernel_size: int):
        layers: list[nn.Module] = []
        for i in range(convs):
            layers += [nn.Conv2d(c_in if i == 0 else c_out, c_out, kernel_size,
                                 padding=kernel_size // 2), nn.ReLU()]
        super().__init__(*layers)


class UNetCore(nn.Module):
    r"""A plain 2-D U-Net on channel images ``(b, c_in, n, n) -> (b, c_out, n, n)``.

    Parameters
    ----------
    c_in, c_out : int
        Input and output channels.
    channels : int
        Channels at full resolution; they double at every coarser scale.
    scales : int
        Number of resolutions (``scales - 1`` max-pool downsamplings by 2), >= 1.
    convs : int
        Convolutions per block (each followed by a ReLU).
    kernel_size : int
        Odd kernel size of the block convolutions.

    Notes
    -----
    Encoder blocks at resolutions :math:`n, n/2, \dots`, with :math:`2^k c` channels;
    the decoder upsamples by 2×2 transposed convolutions, concatenates the skip
    connection and applies a block; a final 1×1 convolution maps to ``c_out``. No
    normalisation layers, so that samples of a batch never interact.
    """

    def __init__(self, c_in: int, c_out: int, channels: int = 16, scales: int = 3,
                 convs: int = 2, kernel_size: int = 3):
        super().__init__()
        self.down = nn.ModuleList()
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        c = channels
        prev = c_in
        for k in range(scales):
            self.down.append(_Block(prev, c * 2**k, convs, kernel_size))
            prev = c * 2**k
        for k in reversed(range(scales - 1)):
            self.up.append(nn.ConvTranspose2d(c * 2 ** (k + 1), c * 2**k, 2, stride=2))
            self.dec.append(_Block(c * 2 ** (k + 1), c * 2**k, convs, kernel_size))
        self.head = nn.Conv2d(c, c_out, 1)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)  # faster convolutions on CPU
        skips = []
        for k, block in enumerate(self.down):
            if k:
                x = self.pool(x)
            x = block(x)
            skips.append(x)
        skips.pop()
        for up, dec in zip(self.up, self.dec, strict=True):
            x = dec(torch.cat((up(x), skips.pop()), dim=1))
        return self.head(x)

    @property
    def n_layers(self) -> int:
        """Convolutions (affine maps) in the network, transposed ones included."""
        return sum(isinstance(m, nn.Conv2d | nn.ConvTranspose2d) for m in self.modules())


class UNet(TrainedNetwork):
    r"""U-Net post-processing of the zero-filled reconstruction.

    .. math::

        \varphi(y) = x_0 + \mathrm{UNet}_\theta(x_0), \qquad
        x_0 = U^* P_\Omega^* y \;(\texttt{A.measure\_adjoint}(y)),

    with :math:`x_0` given to the U-Net as channels (real and imaginary part for a
    complex operator, the image for a real one) [1]_ [2]_.

    Parameters
    ----------
    A : SamplingOperator
        2-D operator (needs ``measure_adjoint``, or ``adjoint`` and ``to_image``).
    depth : int, optional
        Operator applications; a U-Net applies :math:`A^*` once, so only ``1`` (or
        ``None``) is accepted.
    checkpoint : path-like, optional
        A model file (``results/models/<name>/model.pt``, written by
        :func:`stablesweep.training.train`): the architecture and the weights come from
        it (architecture arguments may be left out; given ones must agree), the operator
        is checked against the training operator, and the network is put in evaluation
        mode.
    allow_mask_mismatch : bool
        Use the trained network with an operator other than its training operator
        (default ``False``: raise :class:`~stablesweep.modelfile.MaskMismatchError`).
    channels : int
        Channels at full resolution (default 16); doubled at every coarser scale.
    scales : int
        Resolutions of the U-Net (default 3, i.e. two downsamplings); the image side must
        be divisible by :math:`2^{scales-1}`.
    convs : int
        Convolutions per block (default 2).
    kernel_size : int
        Odd kernel size (default 3).
    real_output : bool
        ``True`` (default): one output channel, a real image (returned in ``A.dtype``,
        imaginary part zero for a complex operator); the images here are real.
        ``False``: two output channels, real and imaginary part (complex operators).
    residual : bool
        Add :math:`x_0` to the U-Net's output (default ``True``).
    init_seed : int
        Seed of the random initialisation (PyTorch's global generator is left alone), so
        that an untrained network is the same wherever it is built (default 0).

    Notes
    -----
    ``depth = 1`` (one :math:`A^*`), ``iterate_depths = [1]``, ``n_layers`` = number of
    convolutions. ``checkpointing`` recomputes each U-Net call in the backward pass.
    Build a trained one with :meth:`from_checkpoint` or
    ``build_network("unet", A, checkpoint=PATH)``.
    """

    name = "unet"
    uses_wavelet = False
    DEFAULTS: dict[str, Any] = {"channels": 16, "scales": 3, "convs": 2, "kernel_size": 3,
                                "real_output": True, "residual": True}

    def __init__(
        self,
        A: Any,
        depth: int | None = None,
        *,
        checkpoint: str | os.PathLike | None = None,
        allow_mask_mismatch: bool = False,
        channels: int | None = None,
        scales: int | None = None,
        convs: int | None = None,
        kernel_size: int | None = None,
        real_output: bool | None = None,
        residual: bool | None = None,
        init_seed: int = 0,
    ):
        super().__init__(A)
        if depth is not None and depth != 1:
            raise ValueError(
                f"depth = {depth!r} is not allowed for unet; expected 1 (a U-Net applies A* "
                "once) or None"
            )
        if len(self.shape) != 2:
            raise ValueError(f"unet needs 2-D images; the operator has shape {self.shape}")
        given = {"channels": channels, "scales": scales, "convs": convs,
                 "kernel_size": kernel_size, "real_output": real_output, "residual": residual}
        arch, data = self._arch_from(given, self.DEFAULTS, checkpoint, allow_mask_mismatch)
        self.channels = check_int("channels", arch["channels"])
        self.scales = check_int("scales", arch["scales"])
        self.convs = check_int("convs", arch["convs"])
        self.kernel_size = check_kernel_size(arch["kernel_size"])
        factor = 2 ** (self.scales - 1)
        if self.shape[0] % factor:
            raise ValueError(
                f"scales = {self.scales} is too many for images of side {self.shape[0]}; "
                f"expected the side to be divisible by 2**(scales-1) = {factor}"
            )
        self.real_output = bool(arch["real_output"])
        self.residual = bool(arch["residual"])
        c_in = 2 if self.complex_operator else 1
        c_out = 1 if (self.real_output or not self.complex_operator) else 2
        with self.seeded_init(init_seed):
            self.core = UNetCore(c_in, c_out, self.channels, self.scales, self.convs,
                                 self.kernel_size)
        self._load(data, checkpoint)

    def arch(self) -> dict[str, Any]:
        return {"channels": self.channels, "scales": self.scales, "convs": self.convs,
                "kernel_size": self.kernel_size, "real_output": self.real_output,
                "residual": self.residual}

    @property
    def depth(self) -> int:
        return 1

    @property
    def n_layers(self) -> int:
        return self.core.n_layers

    @property
    def iterate_depths(self) -> list[int]:
        return [1]

    def _net(self, x0: torch.Tensor) -> torch.Tensor:
        inp = to_channels(x0, self.complex_operator).to(self.param_dtype)
        out = self.core(inp)
        if self.residual:
            out = out + (inp[:, :1] if out.shape[1] == 1 else inp)
        return from_channels(out)

    def forward(self, y: torch.Tensor, x0: torch.Tensor | None = None) -> torch.Tensor:
        r"""Image estimate :math:`\varphi(y)`.

        Parameters
        ----------
        y : torch.Tensor, shape (..., m)
            Measurements (cast to the parameters' precision).
        x0 : None
            Not used (a U-Net has no initial guess); must be ``None``.

        Returns
        -------
        torch.Tensor, shape (..., *shape)
            In ``A.dtype`` (float64 parameters).
        """
        if x0 is not None:
            raise ValueError("x0 is not used by unet; expected None")
        y, batch = self.prepare(y)
        x0 = self.zero_filled(y)
        if self.checkpoint_now(y):
            x = _checkpoint(self._net, x0, use_reentrant=False)
        else:
            x = self._net(x0)
        return self.finish(x, batch)

    def iterates(
        self,
        y: torch.Tensor,
        x0: torch.Tensor | None = None,
        depths: Sequence[int] | None = None,
    ) -> torch.Tensor:
        """``forward(y)`` on a new leading axis (one iterate, depth 1).

        ``depths`` (as for the iterative networks) may only list depth 1.
        """
        check_depths(depths, self.iterate_depths)
        out = self.forward(y, x0).unsqueeze(0)
        return out if depths is None else out.expand(len(depths), *out.shape[1:])
