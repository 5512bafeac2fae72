r"""The common base of the trained reconstruction networks.

Both trained families (:class:`~stablesweep.networks.unet.UNet`,
:class:`~stablesweep.networks.learned_pd.LearnedPD`) behave like the classical
networks: ``net(y)`` maps measurements ``(..., m)`` to images ``(..., *A.shape)``, is
differentiable with respect to ``y`` and batched over leading dimensions, and
``net.iterates(y)`` / ``net.iterate_depths`` / ``net.depth`` / ``net.n_layers`` /
``net.checkpointing`` are there.

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
    raises :class:`~stablesweep.modelfile.MaskMismatchError` when they differ,
    unless ``allow_mask_mismatch=True``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from .base import ReconstructionNetwork, check_int

__all__ = [
    "TrainedNetwork",
    "check_depths",
    "check_kernel_size",
    "complex_dtype",
    "from_channels",
    "to_channels",
]


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


def check_kernel_size(value: object) -> int:
    """Return ``value`` as int if it is an odd integer >= 1 (a centred convolution)."""
    k = check_int("kernel_size", value)
    if k % 2 == 0:
        raise ValueError(f"kernel_size = {value!r} is not allowed; expected an odd integer")
    return k


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
    #: trained by ``stablesweep train`` (:func:`stablesweep.networks.trainable_networks`)
    trainable: bool = True

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

    @staticmethod
    @contextlib.contextmanager
    def seeded_init(init_seed: object) -> Iterator[None]:
        """Context in which PyTorch's generator is seeded with ``init_seed`` (checked) and
        restored afterwards: the same untrained network wherever it is built."""
        seed = check_int("init_seed", init_seed, minimum=0)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield

    def checkpoint_now(self, y: torch.Tensor) -> bool:
        """Whether to recompute in the backward pass: ``checkpointing`` is on and a
        gradient (with respect to ``y`` or a parameter) is wanted."""
        return self.checkpointing and torch.is_grad_enabled() and (
            y.requires_grad or any(p.requires_grad for p in self.parameters())
        )

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
        from stablesweep.modelfile import check_operator, load_model_file

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
