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
    params = BUILD.get(name, {"depth": 8})
    try:
        return build_network(name, A, **params)
    except (TypeError, ValueError) as exc:  # pragma: no cover - a new entry without BUILD
        pytest.skip(f"{name!r} needs build parameters in BUILD: {exc}")


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
    res = worst_case_noise(net, A, x, y, level=0.1, steps=4, restarts=2, generator=gen())
    norms = torch.linalg.vector_norm(res.e, dim=-1).numpy()
    assert np.all(norms <= res.radius * (1 + 1e-12))
    assert np.all(res.error >= res.random_error)
