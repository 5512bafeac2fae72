"""σ_max of a network's input Jacobian (:func:`stablesweep.attacks.jacobian_sigma_max`).

References are independent of the Lanczos bidiagonalisation: numpy's SVD of the dense
matrix of a linear network, the SVD of a Jacobian assembled column by column from central
finite differences or by :func:`torch.autograd.functional.jacobian` for a non-linear
one, and a plain numpy power iteration (the method used before) to show what the close
singular values cost it.
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


# ------------------------------------------- close top singular values (σ₂/σ₁ → 1)


def power_iteration_reference(M: np.ndarray, v: np.ndarray, iters: int) -> float:
    """The previous method: σ_k = ‖M v_k‖, v_{k+1} = MᴴM v_k / ‖·‖, ``iters`` steps."""
    v = v / np.linalg.norm(v)
    sigma = 0.0
    for _ in range(iters):
        w = M @ v
        sigma = np.linalg.norm(w)
        v = M.conj().T @ w
        v = v / np.linalg.norm(v)
    return float(sigma)


def clustered_spectrum(rng, n: int, ratio: float) -> np.ndarray:
    """σ₁ = 1, σ₂ = ratio, then 8 more just below σ₂ and the rest in [0, 0.9 ratio].

    A cluster under σ₁ like that of the unrolled networks (FIRENET, primal–dual): many
    directions the power iteration cannot separate from v₁ in 50 steps.
    """
    cluster = ratio * (1 - 0.002 * np.arange(1, 9))
    rest = np.sort(rng.uniform(0.0, 0.9 * ratio, n - 10))[::-1]
    return np.concatenate([[1.0, ratio], cluster, rest])


@pytest.mark.parametrize("complex_", [False, True])
@pytest.mark.parametrize("ratio", [0.995, 0.999])
def test_close_singular_values_lanczos_beats_power_iteration(ratio, complex_):
    rng = np.random.default_rng(11)
    n, b = 120, 3
    s = clustered_spectrum(rng, n, ratio)
    M = dense_matrix(rng, n, n, s, complex_)
    np.testing.assert_allclose(np.linalg.svd(M, compute_uv=False)[:2], [1.0, ratio], rtol=1e-12)
    y = rng.standard_normal((b, n)) + (1j * rng.standard_normal((b, n)) if complex_ else 0)
    # the power iteration with the default 50 steps misses σ₁ by more than 1e-3
    for _ in range(b):
        start = rng.standard_normal(n) + (1j * rng.standard_normal(n) if complex_ else 0)
        assert 1 - power_iteration_reference(M, start, 50) > 1e-3
    tol = 1e-6
    res = jacobian_sigma_max(MatNet(M), torch.from_numpy(y), iters=60, tol=tol, generator=gen())
    np.testing.assert_allclose(res.sigma, 1.0, rtol=1e-8)
    assert res.converged.all() and (res.residual <= tol).all()
    assert (res.iterations <= 60).all()
    # v is the top right singular vector (up to a unit factor): |⟨v₁, v⟩| → 1, and the
    # angle obeys sin∠ ≤ ‖r‖/(σ₁² − σ₂²) (Davis–Kahan)
    v1 = np.linalg.svd(M)[2][0].conj()
    v = res.vector.numpy()
    cos = np.abs(v @ v1.conj())
    sin_bound = res.residual / (1 - ratio**2)
    assert np.all(np.sqrt(np.clip(1 - cos**2, 0, None)) <= sin_bound * (1 + 1e-6) + 1e-7)


class BatchMatNet(torch.nn.Module):
    """φ(y)_i = M_i y_i: one matrix (one spectrum) per image of the batch."""

    def __init__(self, Ms: np.ndarray):
        super().__init__()
        self.Ms = torch.from_numpy(Ms)

    def forward(self, y):
        return torch.einsum("bij,bj->bi", self.Ms, y.to(self.Ms.dtype))


def test_batched_images_with_different_spectra():
    rng = np.random.default_rng(7)
    n = 60
    Ms = np.stack([
        dense_matrix(rng, n, n, clustered_spectrum(rng, n, 0.995), False),
        dense_matrix(rng, n, n, np.linspace(3.0, 0.1, n) ** 2 / 3, False),  # separated σ₁
        dense_matrix(rng, n, n, [5.0, 4.0, 1e-3], False),  # rank 3: invariant subspace
        2.0 * dense_matrix(rng, n, n, np.ones(n), False),  # 2 × orthogonal: all σ equal
    ])
    res = jacobian_sigma_max(BatchMatNet(Ms), torch.from_numpy(rng.standard_normal((4, n))),
                             iters=60, generator=gen(2))
    ref = np.array([np.linalg.svd(M, compute_uv=False)[0] for M in Ms])
    np.testing.assert_allclose(res.sigma, ref, rtol=1e-8)
    assert res.converged.all() and (res.residual <= 1e-6).all()
    # each image stops on its own: the rank-3 image after (at most) 3 steps, when its
    # Krylov space becomes invariant, the orthogonal one after 1 (every v is singular)
    it = res.iterations
    assert it[3] == 1 and it[2] <= 3 and it[1] < it[0] <= 60
    for i in range(4):  # ‖M_i v_i‖ = σ₁ for the returned unit vectors
        v = res.vector[i].numpy()
        np.testing.assert_allclose(np.linalg.norm(v), 1.0, rtol=1e-12)
        np.testing.assert_allclose(np.linalg.norm(Ms[i] @ v), ref[i], rtol=1e-8)


@pytest.mark.parametrize("iters", [5, 60])
def test_residual_field_is_the_true_residual(iters):
    """``residual`` = ‖MᴴM v − σ²v‖/σ² recomputed from the returned v with the dense M."""
    rng = np.random.default_rng(8)
    n = 80
    M = dense_matrix(rng, n, n, clustered_spectrum(rng, n, 0.995), True)
    y = torch.from_numpy(rng.standard_normal((2, n)) + 1j * rng.standard_normal((2, n)))
    tol = 1e-6
    res = jacobian_sigma_max(MatNet(M), y, iters=iters, tol=tol, generator=gen(3))
    s = np.linalg.svd(M, compute_uv=False)
    for i in range(2):
        v = res.vector[i].numpy()
        sigma = np.linalg.norm(M @ v)
        np.testing.assert_allclose(res.sigma[i], sigma, rtol=1e-13)
        r = np.linalg.norm(M.conj().T @ (M @ v) - sigma**2 * v) / sigma**2
        np.testing.assert_allclose(res.residual[i], r, rtol=1e-6)
        assert res.converged[i] == (r <= tol)
        # what the residual proves: a singular value of M within ρσ² in σ² (symmetric
        # residual bound), and σ = ‖Mv‖ ≤ σ₁
        assert np.min(np.abs(s**2 - sigma**2)) <= r * sigma**2 * (1 + 1e-9)
        assert sigma <= s[0] * (1 + 1e-13)
    if iters == 5:  # too few steps for this spectrum: not converged, and it says so
        assert not res.converged.any() and (res.residual > tol).all()
        assert (res.iterations == 5).all()
    else:
        assert res.converged.all()
        np.testing.assert_allclose(res.sigma, s[0], rtol=1e-8)


# ------------------------------------------- non-linear networks vs autograd Jacobians


def _autograd_jacobian(net, y1: torch.Tensor) -> np.ndarray:
    """Dense real Jacobian of one image's map, complex entries as interleaved (Re, Im)."""
    m = y1.shape[-1]

    def real_map(r):
        yy = torch.view_as_complex(r.reshape(m, 2)) if y1.is_complex() else r
        out = net(yy.unsqueeze(0))[0]
        return (torch.view_as_real(out) if out.is_complex() else out).reshape(-1)

    r0 = (torch.view_as_real(y1) if y1.is_complex() else y1).reshape(-1)
    return torch.autograd.functional.jacobian(real_map, r0).numpy()


class TanhNet(torch.nn.Module):
    """A small smooth real network: W₂ tanh(W₁ y + c) + 0.3 y² (with parameters)."""

    def __init__(self, m: int, hidden: int, rng):
        super().__init__()
        self.l1 = torch.nn.Linear(m, hidden).double()
        self.l2 = torch.nn.Linear(hidden, m).double()
        with torch.no_grad():
            self.l1.weight.copy_(torch.from_numpy(rng.standard_normal((hidden, m)) / 2))
            self.l2.weight.copy_(torch.from_numpy(rng.standard_normal((m, hidden)) / 2))

    def forward(self, y):
        return self.l2(torch.tanh(self.l1(y))) + 0.3 * y**2


def test_nonlinear_networks_against_autograd_jacobian():
    rng = np.random.default_rng(4)
    # complex: the smooth non-linear Fourier network, real 2m → real image
    mask = np.zeros(64, dtype=bool)
    mask[rng.choice(64, size=24, replace=False)] = True
    A = SamplingOperator("fourier", mask.reshape(8, 8))
    y = A.measure(torch.from_numpy(rng.standard_normal((3, 8, 8))).to(A.dtype))
    # real: a tanh network with parameters (frozen while it runs, restored after)
    tnet = TanhNet(30, 50, rng)
    yr = torch.from_numpy(rng.standard_normal((3, 30)))
    for net, yy in ((SmoothNet(A), y), (tnet, yr)):
        tol = 1e-8
        res = jacobian_sigma_max(net, yy, iters=100, tol=tol, generator=gen(5))
        assert res.converged.all() and (res.residual <= tol).all()
        for i in range(3):
            J = _autograd_jacobian(net, yy[i])
            s = torch.linalg.svdvals(torch.from_numpy(J)).numpy()
            np.testing.assert_allclose(res.sigma[i], s[0], rtol=1e-9)
            v = res.vector[i]
            x = (torch.view_as_real(v) if v.is_complex() else v).reshape(-1).numpy()
            sigma = np.linalg.norm(J @ x)
            np.testing.assert_allclose(sigma, s[0], rtol=1e-9)
            r = np.linalg.norm(J.T @ (J @ x) - sigma**2 * x) / sigma**2
            np.testing.assert_allclose(res.residual[i], r, rtol=1e-4, atol=1e-13)
    assert all(p.requires_grad for p in tnet.parameters())


def test_realistic_network_converges_quickly():
    """FISTA (depth 50, λ = 1e-3) at 32², Fourier, a third sampled.

    Measured (2-core CPU, 2 images, tol 1e-6): FISTA has a well separated σ₁, 7 steps
    for both methods (0.7 s). Where σ₂ ≈ σ₁ the difference is large: at 32² FIRENET
    (n = 5, p = 10) needed 30 and 41 Lanczos steps (6 s) where 50 power iterations were
    still 1e-4 and 7e-3 low (9 s; 1000 of them, 178 s, agree with Lanczos to 2e-12);
    primal–dual (p = 50) needed 44 and 23 steps where 50 power iterations were 8e-3
    and 1e-4 low and even 1000 were 2e-7 low. At 64² (a quarter sampled) FIRENET with
    depth 20 (p = 5) needed 45 steps.
    """
    rng = np.random.default_rng(0)
    n = 32
    mask = np.zeros(n * n, dtype=bool)
    mask[rng.choice(n * n, size=n * n // 3, replace=False)] = True
    mask[0] = True
    A = SamplingOperator("fourier", mask.reshape(n, n))
    y = A.measure(torch.from_numpy(rng.standard_normal((2, n, n))).to(A.dtype))
    net = build_network("fista", A, depth=50, lam=1e-3)
    res = jacobian_sigma_max(net, y, generator=gen())
    assert res.converged.all() and (res.residual <= 1e-6).all()
    assert (res.iterations <= 15).all()
    # Ritz values grow with the Krylov space: fewer steps never give a larger σ
    fewer = jacobian_sigma_max(net, y, iters=2, tol=0.0, generator=gen())
    assert np.all(fewer.sigma <= res.sigma * (1 + 1e-12)) and not fewer.converged.any()
