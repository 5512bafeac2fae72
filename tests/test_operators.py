"""Operators: adjoint (dot-product) tests, composition, norms and dense references."""

import numpy as np
import pytest
import torch

from stablesweep import transforms as T
from stablesweep.operators import (
    Fourier,
    Restriction,
    SamplingOperator,
    Walsh,
    Wavelet,
)


def _mask(shape, frac=0.3, seed=0):
    rng = np.random.default_rng(seed)
    mask = rng.random(shape) < frac
    mask.flat[0] = True
    return mask


SHAPES = [(32,), (16, 16)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("wavelet", ["haar", "db2", "db4"])
@pytest.mark.parametrize("transform", ["fourier", "walsh"])
def test_sampling_operator_dot_test(shape, wavelet, transform):
    A = SamplingOperator(transform, _mask(shape), wavelet)
    assert A.dot_test(batch=(3,)) < 1e-13
    assert A.H.dot_test() < 1e-13


@pytest.mark.parametrize(
    "op",
    [
        Fourier((8, 8)),
        Walsh((16,)),
        Wavelet((16, 16), "db2"),
        Wavelet((32,), "haar", levels=2),
        Restriction(_mask((8, 8))),
    ],
    ids=repr,
)
def test_piece_dot_tests(op):
    assert op.dot_test(batch=(2,)) < 1e-13


@pytest.mark.parametrize("op", [Fourier((8, 8)), Walsh((16,)), Wavelet((16, 16), "db4")], ids=repr)
def test_unitary_pieces_adjoint_is_inverse(op):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, *op.shape_in, dtype=torch.complex128, generator=g)
    torch.testing.assert_close(op.adjoint(op.forward(x)), x, atol=1e-12, rtol=0)
    torch.testing.assert_close(op.forward(op.adjoint(x)), x, atol=1e-12, rtol=0)


@pytest.mark.parametrize("transform", ["fourier", "walsh"])
def test_sampling_operator_matches_dense_product(transform):
    shape = (8, 8)
    mask = _mask(shape, 0.4, seed=3)
    A = SamplingOperator(transform, mask, "db2")
    N = 64
    # independent dense construction of P U W^{-1}
    eye = torch.eye(N, dtype=torch.complex128).reshape(N, *shape)
    U = (T.dft(eye, 2) if transform == "fourier" else T.wht(eye, 2)).reshape(N, N).T
    Winv = T.idwt(eye, "db2").reshape(N, N).T
    P = torch.eye(N, dtype=torch.complex128)[torch.from_numpy(mask.reshape(-1))]
    dense = P @ U @ Winv
    torch.testing.assert_close(A.to_dense(), dense, atol=1e-12, rtol=0)
    # measurements ordered by the row-major positions of the mask
    z = torch.randn(*shape, dtype=torch.complex128, generator=torch.Generator().manual_seed(2))
    full = (T.dft if transform == "fourier" else T.wht)(T.idwt(z, "db2"), 2)
    torch.testing.assert_close(A(z), full[torch.from_numpy(mask)], atol=1e-12, rtol=0)


@pytest.mark.parametrize("transform", ["fourier", "walsh"])
def test_rows_orthonormal_and_norm_one(transform):
    A = SamplingOperator(transform, _mask((16, 16)))
    y = torch.randn(4, A.m, dtype=torch.complex128, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(A(A.adjoint(y)), y, atol=1e-12, rtol=0)
    assert A.norm() == pytest.approx(1.0, abs=1e-8)


def test_image_domain_helpers():
    A = SamplingOperator("fourier", _mask((16, 16)), "db2")
    x = torch.randn(2, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(A.measure(x), A(A.to_coefficients(x)), atol=1e-12, rtol=0)
    torch.testing.assert_close(A.to_image(A.to_coefficients(x)), x, atol=1e-12, rtol=0)
    y = A.measure(x)
    torch.testing.assert_close(
        A.measure_adjoint(y), A.to_image(A.adjoint(y)), atol=1e-12, rtol=0
    )
    assert A.dtype == torch.complex128 and A.m == int(A.mask.sum())
    assert SamplingOperator("walsh", _mask((8,))).dtype == torch.float64


def test_batched_and_differentiable():
    A = SamplingOperator("fourier", _mask((8, 8)))
    z = torch.randn(3, 2, 8, 8, dtype=torch.complex128, requires_grad=True)
    y = A(z)
    assert y.shape == (3, 2, A.m)
    torch.linalg.vector_norm(y).pow(2).backward()
    # d/dz ||Az||^2 = 2 A*A z
    torch.testing.assert_close(z.grad, 2 * A.adjoint(A(z.detach())), atol=1e-12, rtol=0)


def test_composition_and_adjoint_views():
    F, W = Fourier((8, 8)), Wavelet((8, 8))
    C = F @ W.H
    assert C.dot_test() < 1e-13
    assert C.H.H is not None and C.H.dot_test() < 1e-13
    with pytest.raises(ValueError, match="cannot compose"):
        _ = F @ Wavelet((16, 16))


@pytest.mark.parametrize(
    "make,exc,match",
    [
        (lambda: SamplingOperator("fouier", _mask((8, 8))), ValueError,
         "unknown transform 'fouier'; expected one of: fourier, walsh"),
        (lambda: SamplingOperator("fourier", np.ones((12, 12), bool)), ValueError,
         "side 12 is not a power of two"),
        (lambda: SamplingOperator("fourier", np.zeros((8, 8), bool)), ValueError,
         "mask selects no entries"),
        (lambda: SamplingOperator("fourier", np.ones((8, 8))), TypeError,
         "mask must be a boolean array"),
        (lambda: SamplingOperator("walsh", _mask((8, 8)), "bior1.3"), ValueError,
         "not orthogonal"),
    ],
)
def test_bad_construction(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_measurement_length_checked():
    A = SamplingOperator("fourier", _mask((8, 8)))
    with pytest.raises(ValueError, match=f"last dimension must be m={A.m}"):
        A.adjoint(torch.zeros(A.m + 1, dtype=torch.complex128))


@pytest.mark.parametrize("shape,wavelet", [((32, 32), "haar"), ((16, 16), "db4"), ((64,), "db2")])
def test_sparse_wavelet_equals_multilevel_transform(shape, wavelet):
    sparse, fused = Wavelet(shape, wavelet), Wavelet(shape, wavelet, sparse=False)
    assert sparse.sparse and not fused.sparse
    g = torch.Generator().manual_seed(3)
    for dtype in (torch.float64, torch.complex128):
        x = torch.randn(2, 3, *shape, dtype=dtype, generator=g)
        torch.testing.assert_close(sparse(x), fused(x), atol=1e-13, rtol=0)
        torch.testing.assert_close(sparse.adjoint(x), fused.adjoint(x), atol=1e-13, rtol=0)
    # gradients flow through the sparse product (its backward applies the transpose)
    x = torch.randn(*shape, dtype=torch.complex128, generator=g, requires_grad=True)
    w = torch.randn(*shape, dtype=torch.complex128, generator=g)
    torch.sum(sparse.adjoint(sparse(x) * 2.0) * w.conj()).real.backward()
    torch.testing.assert_close(x.grad, 2.0 * w, atol=1e-12, rtol=0)
    assert sparse.dot_test(batch=(2,)) < 1e-13


@pytest.mark.parametrize("shape,wavelet", [((16, 16), "haar"), ((16, 16), "db4"), ((32,), "db2")])
@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_fast_wavelet_backward_is_the_other_transform(shape, wavelet, dtype):
    # the fast transform's backward pass (the inverse transform, W^T = W^-1) gives the
    # gradient autograd gets through the transform's own operations, to 1e-12, for W and
    # W^T; and gradcheck passes on the composition
    fast = Wavelet(shape, wavelet, sparse=False)
    g = torch.Generator().manual_seed(4)
    x = torch.randn(2, *shape, dtype=dtype, generator=g)
    w = torch.randn(2, *shape, dtype=dtype, generator=g)
    d = len(shape)
    pairs = [(fast.forward, lambda v: T.dwt(v, wavelet, fast.levels, d)),
             (fast.adjoint, lambda v: T.idwt(v, wavelet, fast.levels, d))]
    for ours, plain in pairs:
        grads = []
        for fn in (ours, plain):
            xx = x.clone().requires_grad_(True)
            out = fn(xx)
            (grad,) = torch.autograd.grad(torch.sum(out * w.conj()).real, xx)
            grads.append(grad)
        assert ours(x.requires_grad_(True)).grad_fn.name().startswith("_OrthogonalDWT")
        x.requires_grad_(False)
        torch.testing.assert_close(grads[0], grads[1], atol=1e-12, rtol=0)
    xs = torch.randn(*shape, dtype=dtype, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: fast.adjoint(fast(v) * 2.0).sum().real
                                     if dtype.is_complex else fast.adjoint(fast(v) ** 2).sum(),
                                     (xs,), eps=1e-6, atol=1e-6, fast_mode=True)


def test_malloc_tuning_is_applied_and_can_be_turned_off(monkeypatch):
    from stablesweep._malloc import tune_malloc

    assert tune_malloc() is True  # glibc (Linux): both thresholds accepted
    monkeypatch.setenv("STABLESWEEP_MALLOC_TUNING", "0")
    assert tune_malloc() is False
