"""NESTA's data-relative smoothing schedule makes it a solver of basis pursuit.

Basis pursuit: min ||z||_{1,w} s.t. ||Az - y|| <= eta. Oracles: cvxpy with Clarabel on
small problems (dense matrix of A), the project's certified Chambolle-Pock solver
(:func:`~stablesweep.networks.minimiser.solve_minimiser`) on 64x64 images. The referee's
finding that motivated the schedule: with the old one (mu halved every 50 iterations
from 0.9 max|A^*y|), a 200-iteration NESTA on a 64x64 natural image returned the
zero-filled A^*y (relative difference 2.6e-5).
"""

import warnings
from functools import cache

import cvxpy as cp  # the test extra's oracle: missing, the tests fail (never skip)
import numpy as np
import pytest
import torch

from stablesweep.levels import sample_sparse_in_levels, weight_map
from stablesweep.networks import NESTA, build_network
from stablesweep.networks.core.dense import dense_matrix
from stablesweep.networks.minimiser import own_problem, solve_minimiser
from stablesweep.operators import SamplingOperator
from stablesweep.sampling import budgets, multilevel_mask
from stablesweep.signals import test_image

torch.set_num_threads(1)

CLARABEL = {"solver": "CLARABEL", "tol_gap_abs": 1e-11, "tol_gap_rel": 1e-11, "tol_feas": 1e-11}

#: small problems: transform, shape, local sparsities (30% theory budgets, 1% noise)
SMALL = {
    "fourier1d": ("fourier", (256,), (1, 1, 1, 2, 2, 2, 3, 3)),
    "fourier16": ("fourier", (16, 16), (1, 2, 3, 6)),
    "walsh32": ("walsh", (32, 32), (1, 2, 3, 6, 10)),
}


@cache
def small_problem(key, seed=0):
    """(A, s, y, eta, z_star, f_star, M, w): a noisy problem and its cvxpy BP minimiser."""
    transform, shape, s = SMALL[key]
    rng = np.random.default_rng(seed)
    N = int(np.prod(shape))
    b = budgets(shape, transform, int(0.3 * N), "theory", s=s)
    A = SamplingOperator(transform, multilevel_mask(shape, transform, b, rng))
    z = sample_sparse_in_levels(shape, s, rng, complex=transform == "fourier")
    y0 = A(z)
    e = torch.randn(y0.shape, dtype=y0.dtype, generator=torch.Generator().manual_seed(seed))
    e = e * (0.01 * float(y0.norm()) / float(e.norm()))
    y, eta = y0 + e, float(e.norm())
    M = dense_matrix(A).numpy()
    w = weight_map(shape, s).numpy().ravel()
    v = cp.Variable(N, complex=transform == "fourier")
    prob = cp.Problem(cp.Minimize(cp.sum(cp.multiply(w, cp.abs(v)))),
                      [cp.norm(M @ v - y.numpy(), 2) <= eta])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Solution may be inaccurate")
        prob.solve(**CLARABEL)
    assert prob.status in ("optimal", "optimal_inaccurate"), prob.status
    return A, s, y, eta, v.value, float(prob.value), M, w


@pytest.mark.parametrize("key", list(SMALL))
def test_nesta_reaches_the_cvxpy_minimiser(key):
    # default schedule (p = 50, T = 4, mu_f = 1e-5 max|A^*y|/w): every output is
    # feasible; at depth 200 the objective is within 1e-3 (relative) of cvxpy's optimum
    # and the point within 5e-3 ||z*|| of cvxpy's minimiser, at depth 1000 within 1e-3
    # ||z*||. Measured (objective gap, distance) at 200: fourier1d (6.5e-5, 1.2e-3),
    # fourier16 (6.5e-5, 1.4e-3), walsh32 (1.9e-4, 1.1e-3); distance at 1000: 2.1e-4,
    # 4.3e-4, 1.5e-4
    A, s, y, eta, z_star, f_star, M, w = small_problem(key)
    net = build_network("nesta", A, 1000, s=s, eta=eta)
    with torch.no_grad():
        Z = A.to_coefficients(net.iterates(y, depths=[200, 1000])).reshape(2, -1).numpy()
    resid = np.linalg.norm(Z @ M.T - y.numpy(), axis=1)
    assert np.all(resid <= eta + 1e-10), resid - eta
    gap = (np.abs(Z) @ w - f_star) / f_star
    dist = np.linalg.norm(Z - z_star, axis=1) / np.linalg.norm(z_star)
    assert -1e-8 <= gap[0] <= 1e-3, gap
    assert dist[0] <= 5e-3, dist
    assert dist[1] <= 1e-3, dist


# --------------------------------------------------------------------------- 64x64 images


@cache
def image_problem(scheme):
    """Cameraman 64x64, db2, Fourier, rate 0.25, zero frequency sampled, eta = 1e-3."""
    shape = (64, 64)
    s = (2, 4, 8, 12, 16, 16) if scheme == "theory" else None
    b = budgets(shape, "fourier", 1024, scheme, s=s)
    seed = 0
    while not (mask := multilevel_mask(shape, "fourier", b, seed))[0, 0]:
        seed += 1  # the referee's case samples the zero frequency
    A = SamplingOperator("fourier", mask, wavelet="db2")
    x = test_image("camera", 64).to(torch.float64)
    y = A(A.to_coefficients(x))
    net = build_network("nesta", A, 200, eta=1e-3)
    with torch.no_grad():
        out = net(y)
    res = solve_minimiser(own_problem(net), A, y, tol=1e-8)
    assert res.converged
    return A, x, y, out, res.x_hat


def rel(a, b):
    return float((a - b).norm() / b.norm())


def test_referee_case_nesta_is_not_zero_filling():
    # uniform sampling, depth 200. Old schedule: ||phi - A^*y|| / ||x|| = 2.6e-5 (NESTA
    # returned the zero-filled image). Measured now: ||phi - A^*y|| / ||x|| = 0.13;
    # phi is 0.041 ||x_hat|| from the BP minimiser x_hat, A^*y is 0.156 ||x_hat|| from
    # it. Errors ||. - x|| / ||x||: zero filling 0.467, NESTA 0.478, x_hat 0.472 (see
    # the xfail below)
    A, x, y, out, x_hat = image_problem("uniform")
    zf = A.to_image(A.adjoint(y))
    assert float((out - zf).norm() / x.norm()) >= 0.05
    assert rel(out, x_hat) <= 0.4 * rel(zf, x_hat), (rel(out, x_hat), rel(zf, x_hat))


@pytest.mark.xfail(strict=True, reason=(
    "on uniform sampling at rate 0.25 basis pursuit itself does not beat zero filling: "
    "error of the BP minimiser 0.472, of zero filling 0.467, of NESTA (200) 0.478"))
def test_referee_case_nesta_beats_zero_filling():
    A, x, y, out, x_hat = image_problem("uniform")
    zf = A.to_image(A.adjoint(y))
    assert rel(out, x) <= rel(zf, x) - 0.005


def test_theory_scheme_nesta_beats_zero_filling():
    # multilevel (theory, s = (2, 4, 8, 12, 16, 16)) sampling, depth 200. Old schedule:
    # NESTA 0.117 ~ zero filling 0.116. Measured now: NESTA 0.101, zero filling 0.114,
    # BP minimiser 0.102; NESTA is 9.1e-3 ||x_hat|| from the minimiser
    A, x, y, out, x_hat = image_problem("theory")
    zf = A.to_image(A.adjoint(y))
    assert rel(out, x) <= rel(zf, x) - 0.005, (rel(out, x), rel(zf, x))
    assert rel(out, x_hat) <= 3e-2, rel(out, x_hat)


# --------------------------------------------------------------------------- network properties


def test_schedule_reaches_mu_f_after_T_stages():
    A, s, y, eta, *_ = small_problem("fourier16")
    net = build_network("nesta", A, 10, s=s, eta=eta, stages=4, mu_rel=1e-5)
    state = net.init_state(y, None, net.setup(y))
    mu0, mu_f = state.mu0, state.mu_f
    scale = float((A.adjoint(y).abs() / net.weights).max())
    assert float(mu0) == pytest.approx(0.9 * scale, rel=1e-12)
    assert float(mu_f) == pytest.approx(1e-5 * scale, rel=1e-12)
    gamma = (mu_f / mu0) ** 0.25
    for t in range(6):
        expected = mu0 * gamma ** min(t + 1, 4)
        torch.testing.assert_close(net.stage_mu(mu0, mu_f, t), expected, rtol=1e-12, atol=0)
    assert torch.equal(net.stage_mu(mu0, mu_f, 3), mu_f)
    # absolute target; the legacy fixed gamma floors at mu_f
    net = build_network("nesta", A, 10, s=s, eta=eta, mu_min=1e-3, gamma=0.5)
    state = net.init_state(y, None, net.setup(y))
    assert float(state.mu_f) == 1e-3
    assert torch.equal(net.stage_mu(state.mu0, state.mu_f, 0), state.mu0)
    assert float(net.stage_mu(state.mu0, state.mu_f, 60)) == 1e-3
    with pytest.raises(ValueError, match="stages"):
        NESTA(A, 5, stages=0)


def test_outputs_per_depth_do_not_depend_on_the_total_depth():
    A, s, y, eta, *_ = small_problem("fourier1d")
    deep = build_network("nesta", A, 300, s=s, eta=eta)
    with torch.no_grad():
        it = deep.iterates(y)
        for k in (1, 49, 50, 151, 200):
            shallow = build_network("nesta", A, k, s=s, eta=eta)
            assert torch.equal(shallow(y), it[k - 1]), k


def test_batching_matches_single_samples():
    # per-sample mu_0 and mu_f: a batch of differently scaled measurements equals the
    # samples run one by one
    A, s, y, eta, *_ = small_problem("fourier16")
    Y = torch.stack([y, 7.0 * y.flip(-1), 0.01 * y]).reshape(3, 1, -1)
    net = build_network("nesta", A, 120, s=s, eta=eta)
    with torch.no_grad():
        batch = net(Y)
        for j in range(3):
            torch.testing.assert_close(batch[j, 0], net(Y[j, 0]), rtol=0, atol=1e-12)


def test_gradient_matches_finite_differences():
    # autograd through the whole schedule (mu_0 and mu_f depend on y) against a central
    # difference of phi along a random direction
    A, s, y, eta, *_ = small_problem("fourier1d")
    net = build_network("nesta", A, 120, s=s, eta=eta, p=20)
    g = torch.Generator().manual_seed(3)
    d = torch.randn(y.shape, dtype=y.dtype, generator=g)
    u = torch.randn(A.shape, dtype=torch.float64, generator=g)
    yy = y.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad((net(yy) * u).sum().real, yy)
    assert bool(torch.isfinite(grad.real).all() and torch.isfinite(grad.imag).all())
    h = 1e-6
    with torch.no_grad():
        fd = float(((net(y + h * d) - net(y - h * d)) * u).sum().real) / (2 * h)
    ad = float((grad.conj() * d).real.sum())  # PyTorch: grad = dL/dRe + i dL/dIm
    assert ad == pytest.approx(fd, rel=1e-5), (ad, fd)
