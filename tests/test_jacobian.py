"""σ_max of a network's input Jacobian (:func:`stablesweep.attacks.jacobian_sigma_max`).

References are independent of the power iteration: numpy's SVD of the dense matrix of a
linear network, and the SVD of a Jacobian assembled column by column from central
finite differences for a non-linear one.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from stablesweep.attacks import JacobianResult, jacobian_sigma_max
from stablesweep.networks import NETWORKS, build_network
from stablesweep.operators import SamplingOperator

torch.set_num_threads(1)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def dense_matrix(rng, rows: int, cols: int, sigmas, complex_: bool) -> np.ndarray:
    """``U diag(sigmas) V^H`` with random unitary U, V (singular values known exactly)."""

    def unitary(n):
        z = rng.standard_normal((n, n))
        if complex_:
            z = z + 1j * rng.standard_normal((n, n))
        q, _ = np.linalg.qr(z)
        return q

    k = len(sigmas)
    U, V = unitary(rows)[:, :k], unitary(cols)[:, :k]
    return (U * np.asarray(sigmas)) @ V.conj().T


class MatNet(torch.nn.Module):
    """φ(y) = M y (batched)."""

    def __init__(self, M: np.ndarray):
        super().__init__()
        self.M = torch.from_numpy(M)

    def forward(self, y):
        return y.to(self.M.dtype) @ self.M.T


class SmoothNet(torch.nn.Module):
    """Non-linear φ(y) = W⁻¹(z + c z|z|²/(1 + |z|²)), z = A* y (has a checkpointing flag)."""

    def __init__(self, A, c=0.8):
        super().__init__()
        self.A, self.c = A, c
        self.checkpointing = False
        self.seen: list[bool] = []

    def forward(self, y):
        self.seen.append(self.checkpointing)
        z = self.A.adjoint(y)
        a2 = z.real.square() + z.imag.square()
        return self.A.to_image(z + self.c * z * a2 / (1 + a2))


@pytest.mark.parametrize("complex_", [False, True])
def test_dense_linear_network_matches_numpy_svd(complex_):
    rng = np.random.default_rng(3)
    M = rng.standard_normal((9, 6))
    if complex_:
        M = M + 1j * rng.standard_normal((9, 6))
    y = torch.from_numpy(rng.standard_normal((2, 3, 6)))
    if complex_:
        y = y + 1j * torch.from_numpy(rng.standard_normal((2, 3, 6)))
    res = jacobian_sigma_max(MatNet(M), y, iters=2000, tol=1e-13, generator=gen())
    s = np.linalg.svd(M, compute_uv=False)
    assert isinstance(res, JacobianResult)
    assert res.sigma.shape == (2, 3) and res.vector.shape == (2, 3, 6)
    assert res.converged.all() and (res.iterations < 2000).all()
    np.testing.assert_allclose(res.sigma, s[0], rtol=1e-4)
    # the vector is a unit top right singular vector: ‖M v‖ = σ₁
    v = res.vector.numpy()
    np.testing.assert_allclose(np.linalg.norm(v, axis=-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(v @ M.T, axis=-1), s[0], rtol=1e-4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.sigma = 0  # type: ignore[misc]


def test_complex_real_linear_map_is_not_confused_by_conjugation():
    """φ(y) = M conj(y) + N y is only real-linear; its σ_max is that of the real 2m×2m map.

    A wrong conjugate convention in either product (Jᵀu or Jv) changes the answer.
    """
    rng = np.random.default_rng(5)
    m, n = 5, 4
    M = rng.standard_normal((n, m)) + 1j * rng.standard_normal((n, m))
    N = rng.standard_normal((n, m)) + 1j * rng.standard_normal((n, m))
    Mt, Nt = torch.from_numpy(M), torch.from_numpy(N)

    def net(y):
        return y.conj() @ Mt.T + y @ Nt.T

    # real matrix of e = a + ib ↦ M(a − ib) + N(a + ib) on (Re, Im)
    R = np.block([[(M + N).real, (M - N).imag], [(M + N).imag, (N - M).real]])
    # check R column by column against the map itself
    for k in range(2 * m):
        ek = np.zeros(2 * m)
        ek[k] = 1
        e = torch.from_numpy(ek[:m] + 1j * ek[m:])
        out = net(e).numpy()
        np.testing.assert_allclose(np.concatenate([out.real, out.imag]), R[:, k], atol=1e-12)
    y = torch.from_numpy(rng.standard_normal(m) + 1j * rng.standard_normal(m))
    res = jacobian_sigma_max(net, y, iters=3000, tol=1e-14, generator=gen(1))
    assert res.sigma.shape == ()
    np.testing.assert_allclose(res.sigma, np.linalg.svd(R, compute_uv=False)[0], rtol=1e-4)


def _fd_jacobian(net, y: torch.Tensor, h: float = 1e-5) -> np.ndarray:
    """Real Jacobian (2N × 2m) of a single complex y ↦ φ(y) by central differences."""
    m = y.shape[-1]
    cols = []
    for k in range(2 * m):
        ek = torch.zeros(m, dtype=y.dtype)
        ek[k % m] = 1 if k < m else 1j
        with torch.no_grad():
            d = ((net(y + h * ek) - net(y - h * ek)) / (2 * h)).reshape(-1)
        cols.append(np.concatenate([d.real.numpy(), d.imag.numpy()]))
    return np.stack(cols, axis=1)


def test_nonlinear_network_against_finite_differences():
    rng = np.random.default_rng(0)
    mask = np.zeros(64, dtype=bool)
    mask[rng.choice(64, size=20, replace=False)] = True
    A = SamplingOperator("fourier", mask.reshape(8, 8))
    x = torch.from_numpy(rng.standard_normal((2, 8, 8)))
    y = A.measure(x.to(A.dtype))
    net = SmoothNet(A)
    net.checkpointing = True
    res = jacobian_sigma_max(net, y, iters=500, tol=1e-12, generator=gen())
    assert net.checkpointing is True  # restored
    assert net.seen and not any(net.seen)  # evaluated without checkpointing
    for i in range(2):
        J = _fd_jacobian(net, y[i])
        s = np.linalg.svd(J, compute_uv=False)
        assert s[0] > 1.05 * np.linalg.svd(
            _fd_jacobian(lambda t: A.to_image(A.adjoint(t)), y[i]), compute_uv=False
        )[0]  # the non-linearity matters at this y
        np.testing.assert_allclose(res.sigma[i], s[0], rtol=1e-4)
        # J v from finite differences along the returned vector has norm σ
        v = res.vector[i]
        h = 1e-5
        with torch.no_grad():
            jv = (net(y[i] + h * v) - net(y[i] - h * v)) / (2 * h)
        np.testing.assert_allclose(torch.linalg.vector_norm(jv).item(), s[0], rtol=1e-4)


def test_validation():
    y = torch.ones(3, dtype=torch.float64)
    net = MatNet(np.eye(3))
    with pytest.raises(ValueError, match="iters"):
        jacobian_sigma_max(net, y, iters=0, generator=gen())
    with pytest.raises(ValueError, match="tol"):
        jacobian_sigma_max(net, y, tol=-1.0, generator=gen())
    with pytest.raises(ValueError, match="tol"):
        jacobian_sigma_max(net, y, tol=float("nan"), generator=gen())
    with pytest.raises(TypeError, match="generator"):
        jacobian_sigma_max(net, y, generator=0)
    with pytest.raises(TypeError, match="y must be a torch.Tensor"):
        jacobian_sigma_max(net, [1.0, 2.0], generator=gen())
    with pytest.raises(ValueError, match="y must have shape"):
        jacobian_sigma_max(net, torch.tensor(1.0), generator=gen())


def test_same_seed_same_result_and_iteration_budget():
    rng = np.random.default_rng(2)
    M = dense_matrix(rng, 6, 6, [2.0, 1.99, 1.0], complex_=True)
    y = torch.from_numpy(rng.standard_normal(6) + 0j)
    a = jacobian_sigma_max(MatNet(M), y, iters=3, tol=0.0, generator=gen(4))
    b = jacobian_sigma_max(MatNet(M), y, iters=3, tol=0.0, generator=gen(4))
    assert a.iterations == 3 and not a.converged
    assert np.array_equal(a.sigma, b.sigma) and torch.equal(a.vector, b.vector)
    assert a.sigma <= 2.0 * (1 + 1e-12)  # a Rayleigh-type estimate never exceeds σ_max


#: build parameters of a small network per registry name (default: small depth)
BUILD: dict[str, dict] = {"firenet": {"n": 2, "p": 2}, "unet": {}}


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_every_builtin_network(name):
    rng = np.random.default_rng(0)
    mask = np.zeros(256, dtype=bool)
    mask[rng.choice(256, size=90, replace=False)] = True
    mask[0] = True
    A = SamplingOperator("fourier", mask.reshape(16, 16))
    x = torch.from_numpy(rng.standard_normal((2, 16, 16)))
    y = A.measure(x.to(A.dtype))
    params = BUILD.get(name, {"depth": 4})
    if name == "custom":
        params = {"factory": lambda A: (lambda y: A.measure_adjoint(y))}
    net = build_network(name, A, **params)  # a new entry without BUILD fails, never skips
    before = getattr(net, "checkpointing", None)
    res = jacobian_sigma_max(net, y, iters=8, generator=gen())
    assert res.sigma.shape == (2,)
    assert np.all(np.isfinite(res.sigma)) and np.all(res.sigma > 0)
    assert torch.isfinite(res.vector).all()
    assert getattr(net, "checkpointing", None) == before
    if isinstance(net, torch.nn.Module):
        assert all(p.requires_grad for p in net.parameters()) or not list(net.parameters())
