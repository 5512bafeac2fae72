"""Fused CPU kernels of the primal–dual fast path against the PyTorch operations.

The kernels (stablesweep.networks.core.kernels) must compute the same formulas as the
PyTorch path (prox.soft_threshold, the extrapolation, the running sum, the dual step
with the projection onto the unit ball) for every dtype they accept, refuse what they
do not handle (leaving the data untouched), and give the same networks.
"""

import pytest
import torch
from test_networks import make_problem

from stablesweep.networks import build_network
from stablesweep.networks.core import kernels
from stablesweep.networks.core import prox as P

CASES = [(torch.complex128, 1e-15), (torch.float64, 1e-15),
         (torch.complex64, 1e-6), (torch.float32, 1e-6)]


def test_numba_is_installed_and_on():
    # numba is a project dependency: the fast path of the test environment uses it
    assert kernels.available() and kernels.enabled()


def _random(shape, dtype, g):
    t = torch.randn(shape, dtype=dtype, generator=g)
    return t


@pytest.mark.parametrize("dtype, tol", CASES)
def test_primal_update_equals_torch_ops(dtype, tol):
    # batch of 3, 8x8 coefficients; thresholds include 0 and entries where w = 0
    g = torch.Generator().manual_seed(0)
    rdtype = torch.empty((), dtype=dtype).real.dtype
    x = _random((3, 8, 8), dtype, g)
    u = _random((3, 8, 8), dtype, g)
    x[0, 0, 0] = u[0, 0, 0] = 0  # w = 0
    thr = 0.8 * torch.rand((8, 8), dtype=rdtype, generator=g)
    thr[1, :] = 0.0
    x_sum = _random((3, 8, 8), dtype, g)
    tau = 0.7

    w = x - tau * u
    x_new = P.soft_threshold(w, thr)
    want = (x_new, 2.0 * x_new - x, x_sum + x_new)

    xk, uk, sk = x.clone(), u.clone(), x_sum.clone()
    assert kernels.primal_update_(xk, uk, thr, sk, tau)
    assert (x_new == 0).any() and (x_new != 0).any()
    for got, ref in zip((uk, xk, sk), want, strict=True):
        torch.testing.assert_close(got, ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype, tol", CASES)
def test_dual_update_equals_torch_ops(dtype, tol):
    # rows with ||psi + sigma v - sigma y|| above 1 (projected) and below 1 (unchanged)
    g = torch.Generator().manual_seed(1)
    v = _random((4, 50), dtype, g)
    psi = _random((4, 50), dtype, g)
    sigma_y = _random((4, 50), dtype, g)
    v[2:] *= 1e-3
    psi[2:] *= 1e-3
    sigma_y[2:] *= 1e-3
    sigma = 0.9
    raw = psi + sigma * v - sigma_y
    want = P.project_ball(raw)
    norms = P.norm_last(raw).squeeze(-1)
    assert (norms[:2] > 1).all() and (norms[2:] < 1).all()
    vk = v.clone()
    assert kernels.dual_update_(vk, psi, sigma_y, sigma)
    torch.testing.assert_close(vk, want, rtol=tol, atol=tol)


def test_kernels_refuse_what_they_do_not_handle():
    g = torch.Generator().manual_seed(2)
    x = _random((2, 4, 4), torch.complex128, g)
    u, s = x.clone(), x.clone()
    thr = torch.ones(4, 4, dtype=torch.float64)
    before = [t.clone() for t in (x, u, s)]
    refused = [
        (x.transpose(-1, -2), u, thr, s),  # not contiguous
        (x, u.to(torch.complex64), thr, s),  # mixed dtypes
        (x, x, thr, s),  # aliasing buffers
        (x, u, torch.ones(2, 2, dtype=torch.float64), s),  # thresholds of another shape
        (x, u, thr.to(torch.float32), s),  # thresholds of another precision
        (x, u.requires_grad_(True), thr, s),  # autograd
    ]
    for args in refused:
        assert kernels.primal_update_(*args, 0.5) is False
    u.requires_grad_(False)
    for t, b in zip((x, u, s), before, strict=True):
        assert torch.equal(t, b)
    v = x.reshape(2, 16).clone()
    assert kernels.dual_update_(v, v, v.clone(), 1.0) is False  # v aliases psi
    assert kernels.dual_update_(v[:, ::2], v[:, 1::2].clone(), v[:, 1::2].clone(), 1.0) is False
    previous = kernels.set_enabled(False)
    try:
        assert kernels.primal_update_(x, u, thr, s, 0.5) is False
    finally:
        kernels.set_enabled(previous)


@pytest.mark.parametrize("transform", ["fourier", "walsh"])
@pytest.mark.parametrize("name, params", [("primal-dual", {}), ("firenet", {"p": 4})])
def test_networks_same_with_and_without_kernels(transform, name, params):
    # depth 24, batch of 2: the fused fast path and the PyTorch fast path agree to 1e-13
    A, z, y = make_problem(transform, batch=(2,), seed=5)
    net = build_network(name, A, 24, **params)
    outs = []
    for flag in (True, False):
        previous = kernels.set_enabled(flag)
        try:
            with torch.no_grad():
                outs.append(net.iterates(y))
        finally:
            kernels.set_enabled(previous)
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=1e-13)
    assert float(outs[0].abs().max()) > 0.1
