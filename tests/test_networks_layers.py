"""Explicit layer form of the primal-dual networks, and sqrt_theta's proven bound."""

import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from stablesweep.levels import sample_sparse_in_levels
from stablesweep.networks import build_network
from stablesweep.networks.core.layer_network import (
    BlockScale,
    Pointwise,
    evaluate,
    sqrt_theta,
    sqrt_theta_iterations,
)
from stablesweep.operators import SamplingOperator
from stablesweep.sampling import budgets, multilevel_mask


def make_problem(transform, n, s, frac=0.35, seed=0, batch=2, noise=0.05):
    shape = (n, n)
    rng = np.random.default_rng(seed)
    b = budgets(shape, transform, int(frac * n * n), "theory", s=s)
    A = SamplingOperator(transform, multilevel_mask(shape, transform, b, rng))
    cplx = transform == "fourier"
    z = torch.stack([sample_sparse_in_levels(shape, s, rng, complex=cplx) for _ in range(batch)])
    y = A(z)
    g = torch.Generator().manual_seed(seed)
    e = torch.randn(y.shape, dtype=y.dtype, generator=g)
    return A, s, y + noise * e * (y.norm() / e.norm())


# --------------------------------------------------------------------------- sqrt_theta


def _exact_check(x: Fraction, t: Fraction, theta: Fraction) -> bool:
    """sqrt(t) <= x <= sqrt(t) + theta, decided exactly with rationals."""
    upper = x - theta <= 0 or (x - theta) ** 2 <= t
    return x > 0 and x * x >= t and upper


@pytest.mark.parametrize(
    "t_max, theta",
    [
        (Fraction(1), Fraction(1, 10**4)),
        (Fraction(100), Fraction(1, 10)),
        (Fraction(10**6), Fraction(1000)),
        (Fraction(4), Fraction(1, 2)),
    ],
)
def test_sqrt_theta_bound_is_exact_in_rational_arithmetic(t_max, theta):
    # exact Fraction arithmetic on a grid including 0, tiny, 1 and t_max: the proven
    # bound 0 <= sqrt_theta(t) - sqrt(t) <= theta holds exactly (decided by squaring)
    grid = [Fraction(0), Fraction(1, 10**12), Fraction(1, 7), Fraction(1, 4), Fraction(1),
            Fraction(2), t_max / 3, t_max]
    J = sqrt_theta_iterations(t_max, theta)
    assert J <= 13  # digits double per Heron step with Fractions
    for t in grid:
        if t > t_max:
            continue
        x = sqrt_theta(t, theta, t_max)
        assert isinstance(x, Fraction)
        assert _exact_check(x, t, theta), (t, float(x), math.sqrt(t))


def test_sqrt_theta_iteration_count():
    # J = ceil(log2(max(1, t_max) / (2 theta))), computed exactly; 0 when theta >= 1/2
    assert sqrt_theta_iterations(1.0, 0.5) == 0
    assert sqrt_theta_iterations(0.0, 0.25) == 1
    assert sqrt_theta_iterations(4.0, 1.0) == 1
    assert sqrt_theta_iterations(1.0, 2.0**-20) == 19
    assert sqrt_theta_iterations(2.0**40, 2.0**-13) == 52
    for t_max, theta in [(1.0, 1e-13), (1e12, 1e-10), (3.7, 0.01)]:
        J = sqrt_theta_iterations(t_max, theta)
        assert 2.0**J >= max(1.0, t_max) / (2 * theta) > 2.0 ** (J - 1)


def test_sqrt_theta_float_grid_with_zero_and_large_values():
    # float64 tensor grid 0, 1e-300 .. 1e30, theta = 1e-12: within theta plus rounding
    # (4 ulp of sqrt t); the result is never 0 (so 1/sqrt_theta is defined)
    t = torch.tensor([0.0, 1e-300, 1e-20, 1e-8, 0.3, 1.0, 2.0, 1e3, 1e8, 1e16, 1e30],
                     dtype=torch.float64)
    theta = 1e-12
    x = sqrt_theta(t, theta)
    err = (x - torch.sqrt(t)).abs()
    assert torch.all(err <= theta + 4 * 2.0**-52 * torch.sqrt(t))
    assert torch.all(x > 0)
    assert torch.all(x >= torch.sqrt(t) * (1 - 2.0**-51))
    # an a-priori bound that covers the grid gives the same guarantee
    x2 = sqrt_theta(t, theta, t_max=1e31)
    assert torch.all((x2 - torch.sqrt(t)).abs() <= theta + 4 * 2.0**-52 * torch.sqrt(t))


def test_sqrt_theta_errors():
    with pytest.raises(ValueError, match=r"theta = 0 is not allowed; expected theta > 0"):
        sqrt_theta(1.0, 0)
    with pytest.raises(ValueError, match=r"needs t >= 0"):
        sqrt_theta(torch.tensor([-1.0, 2.0]), 1e-3)
    with pytest.raises(ValueError, match=r"t = 5.0 exceeds t_max = 4.0"):
        sqrt_theta(torch.tensor([5.0]), 1e-3, t_max=4.0)


# --------------------------------------------------------------------------- layer form


@pytest.fixture(scope="module")
def fourier16():
    return make_problem("fourier", 16, (1, 2, 3, 6))


@pytest.fixture(scope="module")
def walsh16():
    return make_problem("walsh", 16, (1, 2, 3, 6), seed=1)


def _check_structure(L, n_iter):
    assert L.n_layers == len(L.affine) == 3 * n_iter + 1
    assert len(L.nonlinear) == 3 * n_iter
    kinds = [type(r) for r in L.nonlinear]
    assert kinds == [Pointwise, Pointwise, BlockScale] * n_iter
    # y enters the second layer of every iteration through R (the others have R = None,
    # i.e. R = 0); the first layer has no W (it sees only y)
    assert L.affine[0].W is None
    assert all(L.affine[3 * k + 1].R is not None for k in range(n_iter))


@pytest.mark.parametrize("transform", ["fourier", "walsh"])
def test_primal_dual_layer_form_equals_network(transform, fourier16, walsh16):
    # p = 10, theta = 1e-13: evaluate(layers, y) equals net(y) to 1e-10; 3p + 1 layers
    A, s, y = fourier16 if transform == "fourier" else walsh16
    net = build_network("primal-dual", A, p=10, s=s)
    L = net.layers(theta=1e-13)
    _check_structure(L, 10)
    assert L.n_layers == net.n_layers == 31
    torch.testing.assert_close(evaluate(L, y), net(y), rtol=0, atol=1e-10)


def test_primal_dual_layer_form_with_start_zero_weights_and_a_priori_bound(walsh16):
    # p = 6; weights zero on the coarse level (identity there, left out of the index
    # set); fixed x0; a-priori t_max = 1e6 for every sqrt_theta: still equal to 1e-10
    A, s, y = walsh16
    w = torch.ones(A.shape, dtype=torch.float64)
    w[:2, :2] = 0.0
    net = build_network("primal-dual", A, p=6, weights=w, lam=0.05)
    x0 = 0.1 * torch.ones(A.shape, dtype=torch.float64)
    L = net.layers(theta=1e-13, t_max=1e6, x0=x0)
    assert L.nonlinear[0].index.numel() == A.N - 4
    torch.testing.assert_close(evaluate(L, y), net(y, x0=x0), rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="exceeds t_max"):
        evaluate(net.layers(theta=1e-13, t_max=1e-6), y)


def test_firenet_layer_form_equals_network_with_fixed_eps0(fourier16):
    # n = 3, p = 4, eps0 = 2.0 fixed, theta = 1e-13: 3np + 1 = 37 layers, equal to
    # FIRENET built with eps0 = 2.0 to 1e-10 (relative to the output scale ~1)
    A, s, y = fourier16
    net = build_network("firenet", A, n=3, p=4, s=s, eps0=2.0, delta=1e-3)
    L = net.layers(theta=1e-13)
    _check_structure(L, 12)
    assert L.n_layers == net.n_layers == 37
    torch.testing.assert_close(evaluate(L, y), net(y), rtol=0, atol=1e-10)


def test_firenet_layer_form_and_data_dependent_eps0(walsh16):
    # eps0 = ||y|| (default) is not affine: layers() needs a fixed eps0; for delta = 0
    # the network equals ||y|| * (eps0 = 1 layer form)(y / ||y||) (homogeneity), 1e-10
    A, s, y = walsh16
    net = build_network("firenet", A, n=3, p=5, s=s)
    with pytest.raises(ValueError, match="needs a fixed eps0"):
        net.layers()
    L = net.layers(theta=1e-13, eps0=1.0)
    assert L.n_layers == 46
    ny = y.norm(dim=-1, keepdim=True)
    folded = evaluate(L, y / ny) * ny[..., None]
    torch.testing.assert_close(folded, net(y), rtol=0, atol=1e-10)
    fixed = build_network("firenet", A, n=3, p=5, s=s, eps0=1.0)
    torch.testing.assert_close(evaluate(L, y), fixed(y), rtol=0, atol=1e-10)


def test_evaluate_checks_measurements(fourier16):
    A, s, y = fourier16
    L = build_network("primal-dual", A, p=2, s=s).layers()
    with pytest.raises(ValueError, match=r"expected \(\.\.\., m\) with m ="):
        evaluate(L, y[..., :-1])
