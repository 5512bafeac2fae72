r"""Checkpointed segments of an unrolled network: forward on the fast path, backward by
recomputation.

:class:`~stablesweep.networks.core.base.IterativeNetwork` with ``checkpointing = True`` runs
its loop in segments of iterations ``[start, end)``. :class:`RecomputedSegment` runs a
segment on the no-grad, in-place fast path and keeps only its input state (plus ``y``
and the random-number state); the backward pass recomputes the segment with autograd
and takes the vector–Jacobian product

.. math::

    \bar s_{\text{start}} = \Bigl(\frac{\partial s_{\text{end}}}{\partial s_{\text{start}}}
    \Bigr)^{\!*} \bar s_{\text{end}}
    + \sum_{d \in \text{record}} \Bigl(\frac{\partial x_d}{\partial s_{\text{start}}}
    \Bigr)^{\!*} \bar x_d

(and likewise with respect to ``y`` and the trainable parameters), so that the memory
of the backward pass is that of the segment boundaries plus one segment.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import torch
from torch.autograd.function import once_differentiable

__all__ = ["RecomputedSegment", "all_tensors"]


def all_tensors(state: Any) -> bool:
    return isinstance(state, tuple) and all(isinstance(t, torch.Tensor) for t in state)


def _shares_storage(t: torch.Tensor, others: Iterable[torch.Tensor]) -> bool:
    ptr = t.untyped_storage().data_ptr()
    return any(o.untyped_storage().data_ptr() == ptr for o in others)


class RecomputedSegment(torch.autograd.Function):
    r"""Iterations ``[start, end)`` of an :class:`IterativeNetwork`, recomputed for backward.

    Forward: the segment runs on the no-grad fast path (in place, on a copy of the input
    state, so the saved input stays intact); only the input state, ``y`` and the
    random-number state are kept. Backward: the segment runs again from the saved input
    with autograd on, and :func:`torch.autograd.grad` takes the vector-Jacobian product
    with respect to the input state, ``y`` and the network's trainable parameters.

    Inputs (after the non-tensor ones): ``y``, the ``n_state`` state tensors, the
    trainable parameters. Outputs: the state tensors after ``end`` iterations, then the
    images recorded at the depths in ``record``. First-order gradients only
    (``once_differentiable``).
    """

    @staticmethod
    def run(
        net: Any,
        state: NamedTuple,
        y: torch.Tensor,
        start: int,
        end: int,
        record: tuple[int, ...],
    ) -> tuple[NamedTuple, list[torch.Tensor]]:
        params = [p for p in net.parameters() if p.requires_grad]
        out = RecomputedSegment.apply(net, type(state), start, end, record, len(state),
                                       y, *state, *params)
        n = len(state)
        return _make_state(type(state), out[:n]), list(out[n:])

    @staticmethod
    def forward(ctx, net, state_type, start, end, record, n_state, y, *tensors):
        state_in = tensors[:n_state]
        ctx.net, ctx.state_type = net, state_type
        ctx.start, ctx.end, ctx.record, ctx.n_state = start, end, record, n_state
        ctx.n_params = len(tensors) - n_state
        ctx.rng_cpu = torch.get_rng_state()
        ctx.rng_cuda = torch.cuda.get_rng_state(y.device) if y.is_cuda else None
        ctx.save_for_backward(y, *state_in)
        ctx.set_materialize_grads(False)
        # the fast path updates its state in place: work on copies of the inputs
        work = _make_state(state_type, [t.clone() for t in state_in])
        state_out, outs = net._segment(work, y, start, end, record, net.setup(y))
        results: list[torch.Tensor] = []
        for t in (*state_out, *outs):
            # an output must not share memory with an input or with another output
            if _shares_storage(t, (y, *tensors, *results)):
                t = t.clone()
            results.append(t)
        return tuple(results)

    @staticmethod
    @once_differentiable
    def backward(ctx, *grads):
        net, n_state = ctx.net, ctx.n_state
        y, *state_in = ctx.saved_tensors
        needs = ctx.needs_input_grad[6:]  # y, state..., params...
        params = [p for p in net.parameters() if p.requires_grad][: ctx.n_params]
        devices = [y.device] if ctx.rng_cuda is not None else []
        with torch.random.fork_rng(devices=devices), torch.enable_grad():
            torch.set_rng_state(ctx.rng_cpu)
            if ctx.rng_cuda is not None:
                torch.cuda.set_rng_state(ctx.rng_cuda, y.device)
            y_d = y.detach().requires_grad_(needs[0])
            leaves = [t.detach().requires_grad_(need and (t.is_floating_point() or t.is_complex()))
                      for t, need in zip(state_in, needs[1 : 1 + n_state], strict=True)]
            state, outs = net._segment(_make_state(ctx.state_type, leaves), y_d, ctx.start,
                                       ctx.end, ctx.record, net.setup(y_d))
            pairs = [(o, g) for o, g in zip((*state, *outs), grads, strict=True)
                     if g is not None and isinstance(o, torch.Tensor) and o.requires_grad]
            inputs = [y_d, *leaves, *params]
            wanted = [i for i, t in enumerate(inputs) if t.requires_grad]
            result: list[torch.Tensor | None] = [None] * len(inputs)
            if pairs and wanted:
                got = torch.autograd.grad(
                    [o for o, _ in pairs], [inputs[i] for i in wanted],
                    [g for _, g in pairs], allow_unused=True,
                )
                for i, g in zip(wanted, got, strict=True):
                    result[i] = g
        return (None, None, None, None, None, None, *result)


def _make_state(state_type: type, tensors: Sequence[torch.Tensor]) -> NamedTuple:
    return state_type._make(tensors) if hasattr(state_type, "_make") else state_type(tensors)
