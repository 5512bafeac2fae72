r"""Learned primal–dual network: an unrolled, trained linearised-ADMM / LISTA iteration.

Each layer :math:`k = 0, \dots, L-1` applies :math:`A` once and :math:`A^*` once and has
its own learned step sizes :math:`\tau_k, \sigma_k`, per-wavelet-level thresholds
:math:`\theta_{k,\ell}` and a small CNN :math:`C_k` in the image domain:

.. math::

    r_k &= A z_k - y, \\
    \psi_{k+1} &= \psi_k + \sigma_k\, r_k, \\
    u_k &= S_{\theta_k}\bigl(z_k - \tau_k A^*(r_k + \psi_{k+1})\bigr), \\
    x_{k+1} &= W^{-1}u_k + C_k(W^{-1}u_k), \qquad z_{k+1} = W x_{k+1},

with :math:`z_0 = 0` (or given), :math:`\psi_0 = 0`, :math:`S_\theta` the (complex)
soft-thresholding with threshold :math:`\theta_{k,\ell}` on wavelet level :math:`\ell`,
and :math:`C_k` three 3×3 convolutions (ReLU between) on the real and imaginary parts.
The dual variable :math:`\psi` accumulates residuals (dual ascent on :math:`Az = y`,
"adding back the residual"); with :math:`\sigma_k = 0` and :math:`C_k = 0` a layer is an
ISTA step, which is how the network is initialised (:math:`\tau_k = 1 = 1/\|A\|^2`,
:math:`\sigma_k = 0`, the last convolution of every :math:`C_k` zero). The output after
layer :math:`k` is the image :math:`x_{k}` (its real part with ``real_output``).

References
----------
.. [1] K. Gregor, Y. LeCun, "Learning fast approximations of sparse coding", ICML 2010.
.. [2] J. Adler, O. Öktem, "Learned primal-dual reconstruction", IEEE Trans. Med. Imaging
   37 (2018), 1322–1332.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint as _checkpoint

from .core.base import check_int, check_positive
from .core.prox import floored_magnitude, soft_threshold
from .core.trained import (
    TrainedNetwork,
    check_depths,
    check_kernel_size,
    from_channels,
    to_channels,
)

__all__ = ["LearnedPD"]


class _Correction(nn.Sequential):
    """``C_k``: conv(c→h) ReLU conv(h→h) ReLU conv(h→c), last layer zero-initialised."""

    def __init__(self, c: int, hidden: int, kernel_size: int):
        pad = kernel_size // 2
        super().__init__(
            nn.Conv2d(c, hidden, kernel_size, padding=pad), nn.ReLU(),
            nn.Conv2d(hidden, hidden, kernel_size, padding=pad), nn.ReLU(),
            nn.Conv2d(hidden, c, kernel_size, padding=pad),
        )
        nn.init.zeros_(self[-1].weight)
        nn.init.zeros_(self[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # channels-last is about twice as fast for these thin convolutions on CPU
        return super().forward(x.contiguous(memory_format=torch.channels_last))


class LearnedPD(TrainedNetwork):
    r"""Learned primal–dual (linearised ADMM) unrolling with CNN corrections.

    See the module docstring for the iteration.

    Parameters
    ----------
    A : SamplingOperator
        2-D operator with ``levels`` (the wavelet levels index the thresholds).
    depth : int, optional
        Use only the first ``depth`` layers (``1 <= depth <= layers``); default: all.
        The output after ``k`` layers does not depend on later layers, so a truncated
        network is one of the shallower networks :meth:`iterates` returns.
    checkpoint : path-like, optional
        A model file (written by :func:`stablesweep.training.train`): architecture and
        weights come from it (given architecture arguments must agree), the operator
        (transform, shape, mask, wavelet) is checked against the training operator.
    allow_mask_mismatch : bool
        Use the trained network with another operator (default ``False``: raise
        :class:`~stablesweep.modelfile.MaskMismatchError`).
    layers : int
        Number of layers :math:`L` (default 8), each one :math:`A` and one :math:`A^*`.
    hidden : int
        Channels of the hidden convolutions of :math:`C_k` (default 16).
    kernel_size : int
        Odd kernel size of :math:`C_k` (default 3).
    threshold : float
        Initial threshold :math:`\theta_{k,\ell}` (default 1e-3).
    real_output : bool
        Return the real part of the image (default ``True``; cast to ``A.dtype``).
    init_seed : int
        Seed of the random initialisation of the convolutions (PyTorch's global
        generator is left alone; default 0).

    Notes
    -----
    ``depth`` = number of layers used, ``iterate_depths = [1, ..., depth]``, ``n_layers``
    = 4 per layer (the data step, the thresholding and two hidden convolutions, each an
    affine map followed by a non-linearity) — the convolution count of :math:`C_k` is
    3. Thresholds are used as :math:`\max(\theta, 0)` and step sizes as given (they are
    free parameters). ``checkpointing`` recomputes each layer in the backward pass.

    Training fits the output of the last layer only, so the shallower iterates of a
    trained network are not reconstructions in their own right (after one layer the
    image is far off); they are kept for the interface (error-versus-depth curves).
    """

    name = "learned-pd"
    uses_wavelet = True
    DEFAULTS: dict[str, Any] = {"layers": 8, "hidden": 16, "kernel_size": 3,
                                "threshold": 1e-3, "real_output": True}

    def __init__(
        self,
        A: Any,
        depth: int | None = None,
        *,
        checkpoint: str | os.PathLike | None = None,
        allow_mask_mismatch: bool = False,
        layers: int | None = None,
        hidden: int | None = None,
        kernel_size: int | None = None,
        threshold: float | None = None,
        real_output: bool | None = None,
        init_seed: int = 0,
    ):
        super().__init__(A)
        if len(self.shape) != 2:
            raise ValueError(f"learned-pd needs 2-D images; the operator has shape {self.shape}")
        given = {"layers": layers, "hidden": hidden, "kernel_size": kernel_size,
                 "threshold": threshold, "real_output": real_output}
        arch, data = self._arch_from(given, self.DEFAULTS, checkpoint, allow_mask_mismatch)
        self.layers = check_int("layers", arch["layers"])
        self.hidden = check_int("hidden", arch["hidden"])
        self.kernel_size = check_kernel_size(arch["kernel_size"])
        self.threshold = check_positive("threshold", arch["threshold"], allow_zero=True)
        self.real_output = bool(arch["real_output"])
        if depth is None:
            depth = self.layers
        if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= self.layers:
            raise ValueError(
                f"depth = {depth!r} is not allowed for learned-pd with {self.layers} layers; "
                f"expected an integer in 1..{self.layers}"
            )
        self._depth = depth
        from stablesweep.levels import level_index

        index = torch.as_tensor(level_index(self.shape, getattr(A, "levels", None))) - 1
        self.n_levels = int(index.max()) + 1
        self.register_buffer("level_index", index, persistent=False)
        rdt = self.real_dtype
        self.tau = nn.Parameter(torch.ones(self.layers, dtype=rdt))
        self.sigma = nn.Parameter(torch.zeros(self.layers, dtype=rdt))
        self.theta = nn.Parameter(
            torch.full((self.layers, self.n_levels), self.threshold, dtype=rdt)
        )
        c = 2 if self.complex_operator else 1
        with self.seeded_init(init_seed):
            self.corrections = nn.ModuleList(
                _Correction(c, self.hidden, self.kernel_size) for _ in range(self.layers)
            )
        self._load(data, checkpoint)

    def arch(self) -> dict[str, Any]:
        return {"layers": self.layers, "hidden": self.hidden, "kernel_size": self.kernel_size,
                "threshold": self.threshold, "real_output": self.real_output}

    @property
    def depth(self) -> int:
        return self._depth

    @property
    def n_layers(self) -> int:
        return 4 * self._depth

    @property
    def iterate_depths(self) -> list[int]:
        return list(range(1, self._depth + 1))

    # ---- one layer
    def _layer(
        self, k: int, z: torch.Tensor, psi: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        A = self.A
        r = A(z) - y
        psi = psi + self.sigma[k] * r
        g = z - self.tau[k] * A.adjoint(r + psi)
        thr = torch.clamp(self.theta[k], min=0.0)[self.level_index]
        # |z| floored per precision: finite gradients at z = 0 in float32 training too
        u = soft_threshold(g, thr, floored_magnitude)
        img = A.to_image(u)
        chans = to_channels(img, self.complex_operator)
        img = from_channels(chans + self.corrections[k](chans))
        z = A.to_coefficients(img) if hasattr(A, "to_coefficients") else img
        return z, psi, img

    def _run(
        self, y: torch.Tensor, x0: torch.Tensor | None, record: set[int]
    ) -> list[torch.Tensor]:
        b = y.shape[0]
        if x0 is None:
            z = y.new_zeros(b, *self.shape)
        else:
            z = x0.to(y.dtype).expand(b, *self.shape).clone()
        psi = torch.zeros_like(y)
        use_ckpt = self.checkpoint_now(y)
        outs = []
        for k in range(max(record)):
            if use_ckpt:
                z, psi, img = _checkpoint(self._layer, k, z, psi, y, use_reentrant=False)
            else:
                z, psi, img = self._layer(k, z, psi, y)
            if k + 1 in record:
                outs.append(img.real if self.real_output else img)
        return outs

    def _start(self, x0: torch.Tensor | None, batch: tuple[int, ...]) -> torch.Tensor | None:
        x0 = self.check_start(x0)
        if x0 is None or x0.ndim == len(self.shape):
            return x0
        return x0.reshape(-1, *self.shape)

    def forward(self, y: torch.Tensor, x0: torch.Tensor | None = None) -> torch.Tensor:
        r"""Image after ``depth`` layers.

        Parameters
        ----------
        y : torch.Tensor, shape (..., m)
        x0 : torch.Tensor, shape (..., *shape), optional
            Initial wavelet coefficients :math:`z_0` (default 0).

        Returns
        -------
        torch.Tensor, shape (..., *shape), ``A.dtype`` (float64 parameters)
        """
        y, batch = self.prepare(y)
        out = self._run(y, self._start(x0, batch), {self._depth})[0]
        return self.finish(out, batch)

    def iterates(
        self,
        y: torch.Tensor,
        x0: torch.Tensor | None = None,
        depths: Sequence[int] | None = None,
    ) -> torch.Tensor:
        """Images after the layers in ``depths`` (default ``1..depth``), in one pass.

        Returns a tensor of shape ``(len(depths), ..., *shape)``.
        """
        depths = check_depths(depths, self.iterate_depths)
        y, batch = self.prepare(y)
        outs = self._run(y, self._start(x0, batch), set(depths))
        by_depth = dict(zip(sorted(set(depths)), outs, strict=True))
        return torch.stack([self.finish(by_depth[d], batch) for d in depths], dim=0)
