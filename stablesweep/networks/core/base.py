r"""Common base of the reconstruction networks.

A reconstruction network maps a batch of measurement vectors ``y`` (shape
``(..., m)``) to image estimates :math:`\hat x = W^{-1}\hat z` (shape ``(..., *shape)``).
An *iterative* (unrolled) network is three pieces of maths,

* ``init_state(y, x0, ctx)`` — the named state before the first iteration,
* ``step(state, y, k, ctx)`` — iteration ``k`` (0-based), one ``A`` and one ``A^*``,
* ``output(state, y, k, ctx)`` — the coefficient estimate after ``k`` iterations,

and :class:`IterativeNetwork` does the rest once: the loop, the recording of the
outputs of every shallower network of the family (:meth:`~IterativeNetwork.iterates`),
the no-grad fast path, and checkpointing (``checkpointing = True``: the loop runs in
segments under :func:`torch.utils.checkpoint.checkpoint` with ``use_reentrant=False``,
so that only the segment boundaries are kept for the backward pass and memory grows
like :math:`\sqrt{\text{depth}}` rather than linearly).

Every network accepts any operator object with the duck-typed interface

* ``A(z)``: coefficients ``(..., *shape)`` -> measurements ``(..., m)``,
* ``A.adjoint(y)``: measurements -> coefficients,
* ``A.to_image(z)``: coefficients -> image,
* attributes ``A.shape`` (image shape), ``A.m``, ``A.dtype``,

optionally ``A.norm()`` (operator norm), ``A.rows_orthonormal`` (``A A^* = I``) and
``A.levels`` (wavelet levels, for sparsity weights).
:class:`~stablesweep.networks.core.dense.DenseOperator` is a small dense-matrix operator with
that interface.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.checkpoint import checkpoint

from .segments import RecomputedSegment, all_tensors

__all__ = [
    "ReconstructionNetwork",
    "IterativeNetwork",
    "operator_norm",
    "resolve_weights",
    "check_positive",
    "check_nonnegative",
    "check_int",
    "real_dtype",
]


# --------------------------------------------------------------------------- validation


def check_positive(name: str, value: object, allow_zero: bool = False) -> float:
    """Return ``value`` as float if it is a finite real > 0 (>= 0 with ``allow_zero``)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    v = float(value) if ok else float("nan")
    bound = "a finite real >= 0" if allow_zero else "a finite real > 0"
    if not ok or not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{name} = {value!r} is not allowed; expected {bound}")
    return v


def check_nonnegative(name: str, value: object) -> float:
    """Return ``value`` as float if it is a finite real >= 0."""
    return check_positive(name, value, allow_zero=True)


def check_int(name: str, value: object, minimum: int = 1) -> int:
    """Return ``value`` as int if it is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} = {value!r} is not allowed; expected an integer >= {minimum}")
    return int(value)


def real_dtype(dtype: torch.dtype) -> torch.dtype:
    """The real counterpart of ``dtype`` (complex128 -> float64; real dtypes unchanged)."""
    return torch.empty((), dtype=dtype).real.dtype


def operator_norm(A: Any, iters: int = 100) -> float:
    r"""Operator norm :math:`\|A\|_2` of a duck-typed operator.

    ``1`` when ``A.rows_orthonormal`` is true (a subsampled unitary map with a
    non-empty sampling set), else ``A.norm()`` when available, else power iteration
    on :math:`A^*A` (``iters`` steps).
    """
    if getattr(A, "rows_orthonormal", False):
        return 1.0
    if hasattr(A, "norm"):
        return float(A.norm())
    g = torch.Generator().manual_seed(0)
    x = torch.randn(*A.shape, dtype=A.dtype, generator=g)
    est = 0.0
    for _ in range(iters):
        x = x / torch.linalg.vector_norm(x)
        x = A.adjoint(A(x))
        new = float(torch.linalg.vector_norm(x))
        if new == 0.0 or abs(new - est) <= 1e-12 * new:
            est = new
            break
        est = new
    return math.sqrt(est)


def resolve_weights(
    A: Any,
    weights: torch.Tensor | np.ndarray | Sequence[float] | None = None,
    s: Sequence[int] | None = None,
) -> torch.Tensor:
    r"""Per-coefficient weights of the weighted :math:`\ell^1` norm, shape ``A.shape``.

    Parameters
    ----------
    A : operator
        Supplies ``shape``, ``dtype`` and (optionally) ``levels``.
    weights : array_like, shape ``A.shape``, optional
        Explicit weights, finite and non-negative.
    s : sequence of int, optional
        Local sparsities :math:`s_k`; the weights are then :math:`w_{(k)} = \sqrt{s/s_k}`
        on level :math:`k` (:func:`stablesweep.levels.weight_map`).

    Returns
    -------
    torch.Tensor, shape ``A.shape``, real
        Uniform weights (all ones) when neither ``weights`` nor ``s`` is given.

    Raises
    ------
    ValueError
        Both ``weights`` and ``s`` given; weights of the wrong shape, negative or
        not finite.
    """
    rdtype = real_dtype(A.dtype)
    shape = tuple(A.shape)
    if weights is not None and s is not None:
        raise ValueError("give either weights or s (sparsity per level), not both")
    if s is not None:
        from stablesweep.levels import weight_map

        return weight_map(shape, s, levels=getattr(A, "levels", None), dtype=rdtype)
    if weights is None:
        return torch.ones(shape, dtype=rdtype)
    w = torch.as_tensor(weights)
    if w.is_complex():
        raise ValueError("weights are complex; expected finite non-negative real weights")
    w = w.to(rdtype)
    if tuple(w.shape) != shape:
        raise ValueError(
            f"weights has shape {tuple(w.shape)}; expected the coefficient shape {shape}"
        )
    if not bool(torch.isfinite(w).all()) or bool((w < 0).any()):
        raise ValueError("weights must be finite and non-negative")
    return w.detach().clone()


# --------------------------------------------------------------------------- base classes


class ReconstructionNetwork(torch.nn.Module):
    r"""Base of every reconstruction network: :math:`y \mapsto \hat x`.

    Parameters
    ----------
    A : operator
        Duck-typed measurement operator (see the module docstring).

    Attributes
    ----------
    A : operator
    shape : tuple of int
        Image (and coefficient) shape.
    m : int
        Number of measurements.
    dtype : torch.dtype
        Data type of coefficients and measurements (``A.dtype``).
    depth : int
        Operator applications (iterations).
    n_layers : int
        Layers in the neural-network form (affine maps).
    iterate_depths : list of int
        Depths of the outputs stacked by :meth:`iterates`.
    checkpointing : bool
        Recompute segments in the backward pass (default ``False``).
    """

    #: registry name, set by subclasses
    name: str = ""
    #: whether ``stablesweep train`` trains this family (the mark on :data:`NETWORKS`
    #: that training reads; see :func:`stablesweep.networks.trainable_networks`)
    trainable: bool = False

    def __init__(self, A: Any):
        super().__init__()
        for attr in ("shape", "m", "dtype"):
            if not hasattr(A, attr):
                raise TypeError(
                    f"operator {A!r} has no attribute {attr!r}; networks need A(z), "
                    "A.adjoint(y), A.to_image(z) and the attributes shape, m, dtype"
                )
        self.A = A
        self.shape = tuple(int(s) for s in A.shape)
        self.m = int(A.m)
        self.dtype = A.dtype
        self.real_dtype = real_dtype(A.dtype)
        self.checkpointing = False

    # ---- interface
    @property
    def depth(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def n_layers(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def iterate_depths(self) -> list[int]:
        return [self.depth]

    def forward(self, y: torch.Tensor, x0: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover - abstract

    def iterates(self, y: torch.Tensor, x0: torch.Tensor | None = None) -> torch.Tensor:
        """Outputs of every shallower network, stacked on a new leading axis."""
        return self.forward(y, x0).unsqueeze(0)

    # ---- helpers
    def check_measurements(self, y: torch.Tensor) -> torch.Tensor:
        """Check ``y``'s last dimension against ``A.m`` and cast it to ``A.dtype``."""
        if not isinstance(y, torch.Tensor):
            raise TypeError(f"y must be a torch.Tensor of shape (..., {self.m}), got {type(y)}")
        if y.ndim < 1 or y.shape[-1] != self.m:
            raise ValueError(
                f"y has shape {tuple(y.shape)}; expected (..., m) with m = A.m = {self.m}"
            )
        if y.is_complex() and not self.dtype.is_complex:
            raise ValueError(
                f"y is complex ({y.dtype}) but the operator is real ({self.dtype}); "
                "expected real measurements"
            )
        return y if y.dtype == self.dtype else y.to(self.dtype)

    def soft_work(self, y: torch.Tensor) -> Any:
        """Scratch buffers for the in-place soft-threshold of the fast path (else None)."""
        if torch.is_grad_enabled():
            return None
        from .prox import SoftThresholdWork

        return SoftThresholdWork.for_shape((*y.shape[:-1], *self.shape), self.dtype, y.device)

    def check_start(
        self, x0: torch.Tensor | None, y: torch.Tensor | None = None
    ) -> torch.Tensor | None:
        """Check an initial coefficient array ``x0`` of shape ``(..., *shape)``."""
        if x0 is None:
            return None
        nd = len(self.shape)
        if x0.ndim < nd or tuple(x0.shape[x0.ndim - nd :]) != self.shape:
            raise ValueError(
                f"x0 has shape {tuple(x0.shape)}; expected (..., *{self.shape}) coefficients"
            )
        if x0.is_complex() and not self.dtype.is_complex:
            raise ValueError(f"x0 is complex but the operator is real ({self.dtype})")
        return x0 if x0.dtype == self.dtype else x0.to(self.dtype)

    def extra_repr(self) -> str:
        return f"depth={self.depth}, n_layers={self.n_layers}, m={self.m}, shape={self.shape}"


class IterativeNetwork(ReconstructionNetwork):
    r"""An unrolled iterative network: state, one step, output; the loop lives here.

    Subclasses implement :meth:`setup`, :meth:`init_state`, :meth:`step`,
    :meth:`output`, and set ``self._depth`` (the number of iterations). Each iteration
    applies ``A`` once and ``A^*`` once.

    Notes
    -----
    *Fast path.* When no gradient is needed (``torch.is_grad_enabled()`` is false, or
    neither ``y`` nor ``x0`` requires grad) the loop runs under :func:`torch.no_grad`
    and steps may update their state in place (they check ``torch.is_grad_enabled()``).

    *Checkpointing.* When ``checkpointing`` is true and a gradient is needed, iterations
    ``[s, s + L)`` run as one segment with ``L = segment_length`` (``ceil(sqrt(depth))``
    unless a subclass says otherwise): memory for the backward pass is
    ``O(depth / L + L)`` states. A segment's forward pass takes the no-grad fast path
    and keeps only its input state; the backward pass recomputes the segment with
    autograd and differentiates it (:class:`RecomputedSegment`). Compared with
    :func:`torch.utils.checkpoint.checkpoint`, whose forward pass runs the
    out-of-place autograd code, this allocates far less in the forward pass and saves
    one differentiable forward pass (``benchmarks/attacks.py``, FIRENET with 500
    iterations at 256²: peak resident memory of an attack step 0.74–0.82 GiB, about
    0.4 GiB of it the process before the attack, instead of 2.1 GiB with glibc's
    allocator, whose heap fragmented). Networks whose state holds non-tensor fields fall back to
    :func:`torch.utils.checkpoint.checkpoint`.
    """

    def __init__(self, A: Any):
        super().__init__(A)
        self._depth = 0

    # ---- maths supplied by subclasses
    def setup(self, y: torch.Tensor) -> Any:
        """Per-call constants (thresholds on y's device, ...); passed to the hooks."""
        return None

    def init_state(self, y: torch.Tensor, x0: torch.Tensor | None, ctx: Any) -> NamedTuple:
        raise NotImplementedError  # pragma: no cover - abstract

    def step(self, state: NamedTuple, y: torch.Tensor, k: int, ctx: Any) -> NamedTuple:
        raise NotImplementedError  # pragma: no cover - abstract

    def output(self, state: NamedTuple, y: torch.Tensor, k: int, ctx: Any) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover - abstract

    # ---- helpers for subclasses
    def set_weights(self, weights: Any = None, s: Sequence[int] | None = None) -> torch.Tensor:
        r"""Resolve the :math:`\ell^1_w` weights (:func:`resolve_weights`) into the buffer
        ``weights`` and return them."""
        w = resolve_weights(self.A, weights, s)
        self.register_buffer("weights", w)
        return w

    def start_point(self, y: torch.Tensor, x0: torch.Tensor | None) -> torch.Tensor:
        """:math:`x_0` for the batch of ``y``: a fresh copy of ``x0`` broadcast to
        ``(..., *shape)``, or zeros."""
        batch = y.shape[:-1]
        if x0 is None:
            return y.new_zeros(*batch, *self.shape)
        return x0.expand(*batch, *self.shape).clone()

    @property
    def segment_length(self) -> int:
        """Iterations per checkpoint segment."""
        return max(1, math.ceil(math.sqrt(self.depth)))

    # ---- public interface
    @property
    def depth(self) -> int:
        return self._depth

    @property
    def iterate_depths(self) -> list[int]:
        return list(range(1, self.depth + 1))

    def forward(self, y: torch.Tensor, x0: torch.Tensor | None = None) -> torch.Tensor:
        r"""Image estimate :math:`\hat x = W^{-1}\hat z` of the full-depth network.

        Parameters
        ----------
        y : torch.Tensor, shape (..., m)
            Measurements (cast to ``A.dtype``).
        x0 : torch.Tensor, shape (..., *shape), optional
            Initial coefficients (default zero).

        Returns
        -------
        torch.Tensor, shape (..., *shape)
        """
        _, outs = self.run(y, x0, record=[self.depth])
        return outs[0]

    def iterates(
        self,
        y: torch.Tensor,
        x0: torch.Tensor | None = None,
        depths: Iterable[int] | None = None,
    ) -> torch.Tensor:
        r"""Outputs of the shallower networks of the family, in one pass.

        Parameters
        ----------
        y, x0
            As in :meth:`forward`.
        depths : iterable of int, optional
            Depths to record, each in ``1..depth`` (default :attr:`iterate_depths`).

        Returns
        -------
        torch.Tensor, shape (len(depths), ..., *shape)
            Entry ``j`` equals the output of the same network built with depth
            ``depths[j]`` (the output after ``k`` iterations does not depend on the
            total depth).
        """
        depths = self.iterate_depths if depths is None else list(depths)
        _, outs = self.run(y, x0, record=depths)
        return torch.stack(outs, dim=0)

    def final_state(
        self, y: torch.Tensor, x0: torch.Tensor | None = None, depth: int | None = None
    ) -> NamedTuple:
        """The named state after ``depth`` iterations (default: full depth)."""
        state, _ = self.run(y, x0, record=[], stop=self.depth if depth is None else depth)
        return state

    # ---- the loop
    def _check_record(self, record: Sequence[int]) -> list[int]:
        out = []
        for d in record:
            if isinstance(d, bool) or not isinstance(d, numbers.Integral) or not (
                1 <= d <= self.depth
            ):
                raise ValueError(
                    f"depth {d!r} cannot be recorded; expected integers in 1..{self.depth}"
                )
            out.append(int(d))
        return out

    def run(
        self,
        y: torch.Tensor,
        x0: torch.Tensor | None = None,
        record: Sequence[int] = (),
        stop: int | None = None,
    ) -> tuple[NamedTuple, list[torch.Tensor]]:
        """Run the iteration up to ``stop`` (default ``max(record)``), recording images.

        Returns the final state and the images after the iteration counts in
        ``record`` (in the order given).
        """
        y = self.check_measurements(y)
        x0 = self.check_start(x0, y)
        record = self._check_record(record)
        if stop is None:
            stop = max(record) if record else self.depth
        stop = check_int("stop", stop, minimum=0)
        needs_grad = torch.is_grad_enabled() and (
            y.requires_grad or (x0 is not None and x0.requires_grad)
        )
        wanted = sorted(set(record))
        if needs_grad:
            state, outs = self._loop(y, x0, wanted, stop, self.checkpointing)
        else:
            with torch.no_grad():
                state, outs = self._loop(y, x0, wanted, stop, False)
        by_depth = dict(zip(wanted, outs, strict=True))
        return state, [by_depth[d] for d in record]

    def _loop(
        self,
        y: torch.Tensor,
        x0: torch.Tensor | None,
        wanted: list[int],
        stop: int,
        use_checkpoint: bool,
    ) -> tuple[NamedTuple, list[torch.Tensor]]:
        ctx = self.setup(y)
        state = self.init_state(y, x0, ctx)
        outs: list[torch.Tensor] = []
        seg = self.segment_length if use_checkpoint else max(stop, 1)
        start = 0
        while start < stop:
            end = min(start + seg, stop)
            rec = tuple(d for d in wanted if start < d <= end)
            if use_checkpoint and all_tensors(state):
                state, seg_outs = RecomputedSegment.run(self, state, y, start, end, rec)
            elif use_checkpoint:  # non-tensor state fields: PyTorch's generic checkpoint
                state, seg_outs = checkpoint(
                    self._segment, state, y, start, end, rec, ctx, use_reentrant=False
                )
            else:
                state, seg_outs = self._segment(state, y, start, end, rec, ctx)
            outs.extend(seg_outs)
            start = end
        return state, outs

    def _segment(
        self,
        state: NamedTuple,
        y: torch.Tensor,
        start: int,
        end: int,
        record: tuple[int, ...],
        ctx: Any,
    ) -> tuple[NamedTuple, list[torch.Tensor]]:
        outs = []
        for k in range(start, end):
            state = self.step(state, y, k, ctx)
            if k + 1 in record:
                outs.append(self._image(state, y, k + 1, ctx))
        return state, outs

    def _image(self, state: NamedTuple, y: torch.Tensor, k: int, ctx: Any) -> torch.Tensor:
        img = self.A.to_image(self.output(state, y, k, ctx))
        if not torch.is_grad_enabled():
            # the fast path updates the state in place: never hand out a view of it
            ptr = img.untyped_storage().data_ptr()
            if any(
                isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() == ptr
                for t in state
            ):
                img = img.clone()
        return img
