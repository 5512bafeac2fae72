"""Attacks on every registered network: gradient checks and checkpointing.

Parametrised over :data:`stablesweep.networks.NETWORKS`, so a new entry is attacked
(and its input gradient checked) for free; entries that need more than a depth to be
built get their parameters in ``BUILD``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stablesweep.attacks import attack_mode, attack_objective, momentum_attack, worst_case_noise
from stablesweep.networks import NETWORKS, build_network
from stablesweep.operators import SamplingOperator


class ZeroFilled(torch.nn.Module):
    """A user's module for the "custom" entry: φ(y) = U* P* y."""

    def __init__(self, A):
        super().__init__()
        self.A = A

    def forward(self, y):
        return self.A.measure_adjoint(y)


#: build parameters of a small network per registry name (default: depth=8)
BUILD: dict[str, dict] = {
    "firenet": {"n": 3, "p": 3},
    "unet": {},
    "custom": {"factory": ZeroFilled},
}


def make_problem(transform: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    shape = (8, 8)
    mask = np.zeros(64, dtype=bool)
    mask[rng.choice(64, size=28, replace=False)] = True
    mask[0] = True
    A = SamplingOperator(transform, mask.reshape(shape))
    x = torch.from_numpy(rng.standard_normal((2, *shape)))
    y = A.measure(x.to(A.dtype))
    y = y + 0.05 * torch.from_numpy(rng.standard_normal(tuple(y.shape))).to(y.dtype)
    return A, x, y


def make_net(name: str, A):
    """A small network of the registry; a new entry that needs other parameters than
    ``depth`` fails here until BUILD names them (a broken signature must not pass)."""
    return build_network(name, A, **BUILD.get(name, {"depth": 8}))


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("transform", ["fourier", "walsh"])
@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_attack_gradient_matches_finite_differences(name, transform):
    """r_1 − r_0 = η ∇Q(r_0) from momentum_attack agrees with central differences of Q."""
    A, x, y = make_problem(transform)
    net = make_net(name, A)
    eta, lam = 0.5, 0.1
    res = momentum_attack(net, A, x, y, lam=lam, eta=eta, tau=0.1, steps=1, ref="true",
                          keep_perturbations_at="all", generator=gen())
    assert np.all(res.stop_reason == "steps"), res.stop_reason
    r0 = res.perturbations[0]
    grad = (res.perturbations[1] - r0) / eta
    assert torch.isfinite(grad).all() and grad.abs().max() > 0

    def Q(r):
        with torch.no_grad():
            return attack_objective(net, A, y, r, x, lam=lam)

    h = 1e-6
    g = gen(1)
    for _ in range(3):
        d = torch.randn(r0.shape, dtype=r0.dtype, generator=g)
        fd = (Q(r0 + h * d) - Q(r0 - h * d)) / (2 * h)
        analytic = (grad.conj() * d).real.sum(dim=(-2, -1))
        torch.testing.assert_close(fd, analytic, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_checkpointed_gradient_equals_plain_gradient(name):
    """The attack's checkpointing changes memory, never the gradient; it is restored."""
    A, x, y = make_problem("fourier")
    net = make_net(name, A)
    assert hasattr(net, "checkpointing") and net.checkpointing is False
    r = 0.1 * torch.randn((2, *A.shape), dtype=torch.complex128, generator=gen(2))
    with torch.no_grad():
        ref = net(y)

    def gradient(module):
        rr = r.clone().requires_grad_(True)
        q = attack_objective(module, A, y, rr, ref, lam=0.0).sum()
        return torch.autograd.grad(q, rr)[0]

    plain = gradient(lambda v: net(v))  # a plain function: checkpointing stays off
    with attack_mode(net):
        assert net.checkpointing is True
        checkpointed = gradient(net)
    assert net.checkpointing is False
    torch.testing.assert_close(checkpointed, plain, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_worst_case_noise_on_network(name):
    A, x, y = make_problem("fourier")
    net = make_net(name, A)
    res = worst_case_noise(net, A, x, y, budget=0.1, steps=4, restarts=2, generator=gen())
    norms = torch.linalg.vector_norm(res.e, dim=-1).numpy()
    assert np.all(norms <= res.radius * (1 + 1e-12))
    assert np.all(res.error >= res.random_error)


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_worst_case_change_with_jacobian_start_on_network(name):
    A, x, y = make_problem("fourier")
    net = make_net(name, A)
    before = getattr(net, "checkpointing", None)
    res = worst_case_noise(net, A, x, y, budget=0.1, steps=3, restarts=1, generator=gen(),
                           objective="change", init="jacobian", jacobian_iters=5)
    assert getattr(net, "checkpointing", None) == before
    assert np.all(np.isfinite(res.jacobian_sigma)) and np.all(res.jacobian_sigma > 0)
    assert np.all(res.e_norm <= res.radius * (1 + 1e-12))
    assert np.all(res.change >= res.random_change)
    assert np.all(np.diff(res.trace, axis=0) >= 0)
    np.testing.assert_allclose(res.trace[-1], res.change, rtol=1e-12)
    with torch.no_grad():
        out, clean = net(y + res.e), net(y)
    np.testing.assert_allclose(
        res.change, torch.linalg.vector_norm(out - clean, dim=(-2, -1)).numpy(), rtol=1e-6)
    np.testing.assert_allclose(
        res.error, torch.linalg.vector_norm(out - x, dim=(-2, -1)).numpy(), rtol=1e-6)


def test_worst_case_error_non_decreasing_in_budget():
    """FISTA (16×16, depth 20): a larger budget never finds a smaller worst-case error.

    The same seed at every level draws the same random directions (scaled to the
    radius), so the comparison is between attacks of one setting at growing ρ.
    """
    from stablesweep.sampling import band_sizes, multilevel_mask

    shape = (16, 16)
    caps = band_sizes(shape, "fourier").ravel()
    budget = np.maximum(caps // 3, 1)
    budget[:4] = caps[:4]
    A = SamplingOperator("fourier", multilevel_mask(shape, "fourier", budget, 0))
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((2, *shape)))
    y = A.measure(x.to(A.dtype))
    net = build_network("fista", A, depth=20)
    found = []
    for level in (1e-3, 1e-2, 1e-1):
        res = worst_case_noise(net, A, x, y, budget=level, steps=10, restarts=2,
                               generator=gen(0), init="jacobian")
        assert np.all(res.error >= res.random_error)
        assert np.all(np.isfinite(res.jacobian_sigma)) and np.all(res.jacobian_sigma > 0)
        found.append(res.error)
    found = np.stack(found)
    assert np.all(np.diff(found, axis=0) >= 0), found
    # and the largest budget moves the error by a visible amount
    assert np.all(found[-1] > found[0] * (1 + 1e-3)), found
