r"""Trained reconstruction networks: the common base and the U-Net.

Both trained families (:class:`UNet` here, :class:`~stablesweep.networks.learned_pd.LearnedPD`)
behave like the classical networks: ``net(y)`` maps measurements ``(..., m)`` to images
``(..., *A.shape)``, is differentiable with respect to ``y`` and batched over leading
dimensions, and ``net.iterates(y)`` / ``net.iterate_depths`` / ``net.depth`` /
``net.n_layers`` / ``net.checkpointing`` are there.

Precision
    Networks are built in float64 (complex128 where the operator is complex) so that
    they slot into the sweep's float64/complex128 pipeline; training may run in float32
    (``training.dtype`` in the training config, the default on CPU for speed) and the
    weights are stored in that precision; :meth:`TrainedNetwork.from_checkpoint` casts
    them up to float64 (exactly). Inputs are cast to the parameters' precision and
    outputs are returned in ``A.dtype`` (float64 parameters) or its single-precision
    counterpart (float32 parameters, during training).

Operator
    A trained network is tied to the operator it was trained with: building one from a
    checkpoint compares the transform, the image shape and the sampling mask (and, for
    networks that act on wavelet coefficients, the wavelet) with the stored ones and
    raises :class:`~stablesweep.training.checkpoint.MaskMismatchError` when they differ,
    unless ``allow_mask_mismatch=True``.

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

from .base import ReconstructionNetwork, check_int

__all__ = ["TrainedNetwork", "UNet", "UNetCore"]


def check_depths(depths: Sequence[int] | None, allowed: Sequence[int]) -> list[int]:
    """Validate requested iterate depths against the network's ``iterate_depths``."""
    if depths is None:
        return list(allowed)
    depths = list(depths)
    bad = [d for d in depths if isinstance(d, bool) or not isinstance(d, int) or d not in allowed]
    if bad:
        lo, hi = min(allowed), max(allowed)
        raise ValueError(
            f"depth {bad[0]!r} cannot be recorded; expected integers in {lo}..{hi}"
        )
    return depths


def complex_dtype(real: torch.dtype) -> torch.dtype:
    """The complex counterpart of a real dtype (float64 -> complex128, float32 -> complex64)."""
    return {torch.float64: torch.complex128, torch.float32: torch.complex64,
            torch.float16: torch.complex32}.get(real, torch.complex128)


def to_channels(x: torch.Tensor, complex_input: bool) -> torch.Tensor:
    """Image batch ``(b, *shape)`` -> channels ``(b, c, *shape)``: (Re, Im) or the real image."""
    if complex_input:
        return torch.stack((x.real, x.imag), dim=1)
    return (x.real if x.is_complex() else x).unsqueeze(1)


def from_channels(x: torch.Tensor) -> torch.Tensor:
    """Channels ``(b, 1|2, *shape)`` -> image ``(b, *shape)`` (two channels: Re + i Im)."""
    if x.shape[1] == 2:
        return torch.complex(x[:, 0], x[:, 1])
    return x[:, 0]


class TrainedNetwork(ReconstructionNetwork):
    """Common base of the trained networks (U-Net, learned primal–dual).

    Subclasses set ``name``, implement :meth:`arch` (the constructor parameters that
    rebuild the architecture) and ``forward``; this base supplies the checks on ``y``,
    the precision handling and :meth:`from_checkpoint`.

    Attributes
    ----------
    checkpoint_path : str or None
        The model file the weights came from.
    training_info : dict
        ``config`` (the training config), ``data_seed``, ``epoch``, ``val_loss`` of the
        loaded weights (empty for an untrained network).
    operator_mismatch : list of str
        Differences between ``A`` and the training operator (non-empty only when built
        with ``allow_mask_mismatch=True``).
    """

    #: whether the network works on wavelet coefficients (then the wavelet must match)
    uses_wavelet: bool = True
    #: not an unrolled algorithm: no family of depths, no guarantee such as y = 0 -> 0;
    #: generic tests over the registry that assume those skip entries with False here
    algorithmic: bool = False

    def __init__(self, A: Any):
        super().__init__(A)
        self.checkpoint_path: str | None = None
        self.training_info: dict[str, Any] = {}
        self.operator_mismatch: list[str] = []

    # ---- to be supplied by subclasses
    def arch(self) -> dict[str, Any]:  # pragma: no cover - abstract
        """Constructor keyword arguments that rebuild this architecture."""
        raise NotImplementedError

    # ---- precision and shapes
    @property
    def param_dtype(self) -> torch.dtype:
        """Real dtype of the parameters (float64 unless converted for training)."""
        for p in self.parameters():
            return p.dtype
        return self.real_dtype  # pragma: no cover - every trained network has parameters

    @property
    def complex_operator(self) -> bool:
        return bool(self.dtype.is_complex)

    def work_dtype(self) -> torch.dtype:
        """Dtype of measurements and coefficients inside the network."""
        real = self.param_dtype
        return complex_dtype(real) if self.complex_operator else real

    def prepare(self, y: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
        """Check ``y`` (..., m), flatten the batch dimensions, cast to :meth:`work_dtype`.

        Returns the flattened ``(b, m)`` tensor and the batch shape.
        """
        if not isinstance(y, torch.Tensor):
            raise TypeError(f"y must be a torch.Tensor of shape (..., {self.m}), got {type(y)}")
        if y.ndim < 1 or y.shape[-1] != self.m:
            raise ValueError(
                f"y has shape {tuple(y.shape)}; expected (..., m) with m = A.m = {self.m}"
            )
        if y.is_complex() and not self.complex_operator:
            raise ValueError(
                f"y is complex ({y.dtype}) but the operator is real ({self.dtype}); "
                "expected real measurements"
            )
        batch = tuple(y.shape[:-1])
        y = y.reshape(-1, self.m)
        work = self.work_dtype()
        return (y if y.dtype == work else y.to(work)), batch

    def finish(self, x: torch.Tensor, batch: tuple[int, ...]) -> torch.Tensor:
        """Image batch ``(b, *shape)`` -> ``(*batch, *shape)`` in the output dtype."""
        out_dtype = self.work_dtype()
        x = x.to(out_dtype) if x.dtype != out_dtype else x
        return x.reshape(*batch, *self.shape)

    def zero_filled(self, y: torch.Tensor) -> torch.Tensor:
        r"""The zero-filled image :math:`U^* P_\Omega^* y` (``A.measure_adjoint``)."""
        if hasattr(self.A, "measure_adjoint"):
            return self.A.measure_adjoint(y)
        return self.A.to_image(self.A.adjoint(y))

    # ---- checkpoints
    def _arch_from(
        self,
        given: dict[str, Any],
        defaults: dict[str, Any],
        checkpoint: str | os.PathLike | None,
        allow_mask_mismatch: bool,
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Architecture from explicit arguments (``None`` = unset) or from a model file.

        Returns the architecture and the model file's contents (``None`` without a
        checkpoint). With a checkpoint, the operator is checked against the stored one
        and explicit architecture arguments must agree with the stored ones.
        """
        if checkpoint is None:
            return {k: defaults[k] if v is None else v for k, v in given.items()}, None
        from stablesweep.training.checkpoint import check_operator, load_model_file

        data = load_model_file(checkpoint)
        if data["network"] != self.name:
            raise ValueError(
                f"checkpoint '{checkpoint}' holds a {data['network']!r} network; expected "
                f"{self.name!r} (build it with build_network({data['network']!r}, A, "
                "checkpoint=...))"
            )
        stored = {**defaults, **dict(data["arch"])}
        clash = {k: v for k, v in given.items() if v is not None and v != stored[k]}
        if clash:
            fixed = ", ".join(f"{k}={v!r} (stored {stored[k]!r})" for k, v in clash.items())
            raise ValueError(
                f"{fixed}: the checkpoint '{checkpoint}' fixes the architecture; leave these "
                "arguments out when building from a checkpoint"
            )
        self.operator_mismatch = check_operator(
            self.A, data["operator"], source=str(checkpoint),
            allow_mask_mismatch=allow_mask_mismatch, check_wavelet=self.uses_wavelet,
        )
        return {k: stored[k] for k in given}, data

    def _load(self, data: dict[str, Any] | None, checkpoint: str | os.PathLike | None) -> None:
        """Load the weights of a model file (float64, evaluation mode); no-op for ``None``."""
        self.to(self.real_dtype)
        if data is None:
            return
        self.load_state_dict(data["state_dict"])
        self.to(self.real_dtype)
        self.eval()
        self.checkpoint_path = str(checkpoint)
        self.training_info = {
            k: data.get(k)
            for k in ("config", "config_hash", "data_seed", "epoch", "val_loss", "train_dtype")
        }

    @classmethod
    def from_checkpoint(
        cls, A: Any, path: str | os.PathLike, *, allow_mask_mismatch: bool = False,
        **kwargs: Any,
    ) -> TrainedNetwork:
        """Build the network stored in a model file against ``A`` (``cls(A, checkpoint=path)``).

        Parameters
        ----------
        A : SamplingOperator
            Must match the training operator (transform, shape, mask; the wavelet for
            networks on wavelet coefficients).
        path : path-like
            A model file written by :func:`stablesweep.training.train`.
        allow_mask_mismatch : bool
            Build even when ``A`` differs from the training operator (the differences
            are kept in ``operator_mismatch``).
        **kwargs
            Other constructor arguments (e.g. ``depth``).

        Returns
        -------
        TrainedNetwork
            float64, in evaluation mode.

        Raises
        ------
        FileNotFoundError, ValueError
            Missing or unreadable file; a file of another network family; architecture
            arguments that contradict the file.
        MaskMismatchError
            ``A`` differs from the training operator.
        """
        return cls(A, checkpoint=path, allow_mask_mismatch=allow_mask_mismatch, **kwargs)


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
        (default ``False``: raise :class:`~stablesweep.training.checkpoint.MaskMismatchError`).
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
        self.kernel_size = check_int("kernel_size", arch["kernel_size"])
        if self.kernel_size % 2 == 0:
            raise ValueError(
                f"kernel_size = {kernel_size!r} is not allowed; expected an odd integer"
            )
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
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(check_int("init_seed", init_seed, minimum=0))
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
        if self.checkpointing and torch.is_grad_enabled() and (
            y.requires_grad or any(p.requires_grad for p in self.parameters())
        ):
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
