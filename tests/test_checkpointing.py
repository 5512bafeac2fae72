"""Checkpointed segments (stablesweep.networks.core.segments.RecomputedSegment): forward on
the fast path, recomputed with autograd in the backward pass.

The generic equality of outputs and input gradients over the registry is in
test_networks.py; here: gradients with respect to x0 and to trainable parameters, a
batch, recorded iterates inside segments, the saved input never overwritten by the
in-place fast path, the random-number state replayed, and double backward refused.
"""

from typing import NamedTuple

import pytest
import torch
from test_networks import make_problem

from stablesweep.networks import build_network
from stablesweep.networks.core.base import IterativeNetwork


def _grads(net, ckpt, *inputs, loss_fn):
    net.checkpointing = ckpt
    leaves = [t.clone().requires_grad_(True) for t in inputs]
    loss = loss_fn(*leaves)
    return loss.detach(), torch.autograd.grad(loss, leaves)


@pytest.mark.parametrize("name, params", [("firenet", {"p": 3}), ("primal-dual", {}),
                                          ("fista", {"lam": 1e-3}), ("nesta", {"p": 4})])
def test_gradient_wrt_y_and_x0_batched_with_iterates(name, params):
    # depth 12, batch of 2, loss over every recorded iterate (several inside a segment):
    # checkpointed and plain gradients w.r.t. y and x0 agree to 1e-12
    A, z, y = make_problem(batch=(2,), seed=1)
    net = build_network(name, A, 12, **params)
    g = torch.Generator().manual_seed(0)
    x0 = 0.1 * torch.randn(2, *A.shape, dtype=A.dtype, generator=g)

    def loss(yy, xx):
        it = net.iterates(yy, xx, depths=[2, 5, 7, 12])
        return torch.view_as_real(it.to(torch.complex128)).square().sum()

    plain = _grads(net, False, y, x0, loss_fn=loss)
    ckpt = _grads(net, True, y, x0, loss_fn=loss)
    torch.testing.assert_close(ckpt[0], plain[0], rtol=1e-13, atol=0)
    for a, b in zip(ckpt[1], plain[1], strict=True):
        assert float(b.abs().max()) > 0
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


class _ScaledState(NamedTuple):
    x: torch.Tensor
    noise: torch.Tensor


class _LearnedGradientSteps(IterativeNetwork):
    """x <- x - c * A^*(A x - y) + b * noise, with trainable c and a random draw per step.

    The random draw checks that the recomputation replays the random-number state; the
    in-place fast path (``x.sub_``) checks that the saved segment input is left intact.
    """

    name = "test-learned-steps"

    def __init__(self, A, depth):
        super().__init__(A)
        self._depth = depth
        self.c = torch.nn.Parameter(torch.tensor(0.5, dtype=torch.float64))
        self.b = torch.nn.Parameter(torch.tensor(1e-3, dtype=torch.float64))

    @property
    def n_layers(self):
        return self.depth

    def init_state(self, y, x0, ctx):
        x = y.new_zeros(*y.shape[:-1], *self.shape) if x0 is None else x0.clone()
        return _ScaledState(x=x, noise=torch.zeros_like(x))

    def step(self, state, y, k, ctx):
        noise = torch.randn(state.x.shape, dtype=state.x.dtype)
        grad = self.A.adjoint(self.A(state.x) - y)
        if torch.is_grad_enabled():
            return _ScaledState(x=state.x - self.c * grad + self.b * noise, noise=noise)
        x = state.x.sub_(self.c * grad).add_(self.b * noise)
        return _ScaledState(x=x, noise=noise)

    def output(self, state, y, k, ctx):
        return state.x


def test_parameter_gradients_and_random_state_replayed():
    # depth 9 (segments of 3), .backward() accumulates the same parameter gradients with
    # and without checkpointing when the forward pass draws the same random numbers
    A, z, y = make_problem(seed=2)
    net = _LearnedGradientSteps(A, 9)
    grads = {}
    for ckpt in (False, True):
        net.checkpointing = ckpt
        net.zero_grad()
        torch.manual_seed(5)
        yy = y.clone().requires_grad_(True)
        out = net(yy)
        torch.view_as_real(out.to(torch.complex128)).square().sum().backward()
        grads[ckpt] = (net.c.grad.clone(), net.b.grad.clone(), yy.grad.clone())
    for a, b in zip(grads[True], grads[False], strict=True):
        assert float(b.abs().max()) > 0
        torch.testing.assert_close(a, b, rtol=1e-12, atol=0)


def test_double_backward_is_refused():
    # second derivatives through a checkpointed segment are not supported: asking for
    # one raises instead of returning a wrong value (first-order gradients only)
    A, z, y = make_problem(seed=3)
    net = build_network("primal-dual", A, 4)
    net.checkpointing = True
    yy = y.clone().requires_grad_(True)
    loss = torch.view_as_real(net(yy).to(torch.complex128)).square().sum()
    (g,) = torch.autograd.grad(loss, yy, create_graph=True)
    with pytest.raises(RuntimeError, match="not have been used|once_differentiable"):
        torch.autograd.grad(torch.view_as_real(g).sum(), yy)


def test_forward_keeps_only_segment_inputs():
    # firenet depth 64 (p = 4: segments of 8 iterations): autograd keeps the 8 segment
    # inputs (state + y), not the iterations inside segments
    A, z, y = make_problem(seed=4)
    net = build_network("firenet", A, 64, p=4)
    net.checkpointing = True
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        net(y.clone().requires_grad_(True))
    state_bytes = sum(t.numel() * t.element_size() for t in net.final_state(y))
    total = sum(t.numel() * t.element_size() for t in saved)
    assert net.segment_length == 8
    # 8 segment inputs of the state plus y each, and the small tensors of init/output
    assert total <= 8 * (state_bytes + y.numel() * y.element_size()) * 1.1
