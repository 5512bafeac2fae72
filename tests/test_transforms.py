"""Transforms: unitarity, adjoints, PyWavelets and scipy references, sequency order."""

import numpy as np
import pytest
import pywt
import scipy.linalg
import torch

from stablesweep import transforms as T

WAVELETS = ["haar", "db2", "db4"]


def _randn(shape, complex_=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    if complex_:
        return torch.randn(*shape, dtype=torch.complex128, generator=g)
    return torch.randn(*shape, dtype=torch.float64, generator=g)


def _inner(a, b):
    return torch.sum(a * b.conj())


@pytest.mark.parametrize("wavelet", WAVELETS)
@pytest.mark.parametrize(
    "n,levels", [(2, None), (2, 1)] + [(n, lev) for n in (4, 16, 64) for lev in (None, 1, 2)]
)
def test_dwt2_equals_pywavelets(wavelet, n, levels):
    r = int(np.log2(n))
    x = np.random.default_rng(n).standard_normal((3, n, n))
    lev = r if levels is None else levels
    ours = T.dwt(torch.from_numpy(x), wavelet, levels, d=2).numpy()
    for b in range(3):
        with pytest.warns(UserWarning) if lev > pywt.dwt_max_level(n, wavelet) else _nullctx():
            ref = pywt.coeffs_to_array(
                pywt.wavedec2(x[b], wavelet, mode="periodization", level=lev)
            )[0]
        np.testing.assert_allclose(ours[b], ref, atol=1e-12, rtol=0)


@pytest.mark.parametrize("wavelet", WAVELETS)
@pytest.mark.parametrize("n", [2, 8, 128])
def test_dwt1_equals_pywavelets(wavelet, n):
    r = int(np.log2(n))
    x = np.random.default_rng(n).standard_normal((2, n))
    ours = T.dwt(torch.from_numpy(x), wavelet, d=1).numpy()
    for b in range(2):
        with pytest.warns(UserWarning) if r > pywt.dwt_max_level(n, wavelet) else _nullctx():
            ref = np.concatenate(pywt.wavedec(x[b], wavelet, mode="periodization", level=r))
        np.testing.assert_allclose(ours[b], ref, atol=1e-12, rtol=0)


class _nullctx:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_dwt_complex_is_real_and_imaginary_parts():
    x = _randn((16, 16))
    z = T.dwt(x, "db2")
    np.testing.assert_allclose(z.real.numpy(), T.dwt(x.real, "db2").numpy(), atol=1e-13)
    np.testing.assert_allclose(z.imag.numpy(), T.dwt(x.imag, "db2").numpy(), atol=1e-13)


@pytest.mark.parametrize("wavelet", WAVELETS + ["sym4", "coif1"])
@pytest.mark.parametrize("d,shape", [(1, (4, 64)), (2, (2, 32, 32))])
def test_dwt_adjoint_and_inverse(wavelet, d, shape):
    x = _randn(shape, seed=1)
    z = _randn(shape, seed=2)
    lhs = _inner(T.dwt(x, wavelet, d=d), z)
    rhs = _inner(x, T.idwt(z, wavelet, d=d))
    assert abs(lhs - rhs) <= 1e-12 * abs(lhs)
    # PyWavelets' sym/coif filters are stored to ~1e-12, so the round trip is that exact
    tol = 1e-12 if wavelet in WAVELETS else 1e-10
    torch.testing.assert_close(T.idwt(T.dwt(x, wavelet, d=d), wavelet, d=d), x, atol=tol, rtol=0)
    # orthonormal: norms preserved
    assert torch.linalg.vector_norm(T.dwt(x, wavelet, d=d)).item() == pytest.approx(
        torch.linalg.vector_norm(x).item(), rel=1e-10
    )


@pytest.mark.parametrize("d", [1, 2])
def test_dft_unitary_and_adjoint(d):
    shape = (3,) + (16,) * d
    x, y = _randn(shape, seed=3), _randn(shape, seed=4)
    assert abs(_inner(T.dft(x, d), y) - _inner(x, T.idft(y, d))) <= 1e-12 * x.numel()
    torch.testing.assert_close(T.idft(T.dft(x, d), d), x, atol=1e-12, rtol=0)
    ref = np.fft.fftn(x.numpy(), axes=tuple(range(-d, 0)), norm="ortho")
    np.testing.assert_allclose(T.dft(x, d).numpy(), ref, atol=1e-12)


@pytest.mark.parametrize("n", [2, 4, 8, 32])
def test_wht_matches_scipy_hadamard_in_sequency_order(n):
    H = scipy.linalg.hadamard(n) / np.sqrt(n)
    W = T.wht(torch.eye(n, dtype=torch.float64), 1).numpy().T  # columns = W e_j
    # rows of W are the rows of H permuted into sequency order
    perm = T.sequency_permutation(n)
    np.testing.assert_allclose(W, H[perm], atol=1e-14)
    sign_changes = [(np.diff(np.sign(row)) != 0).sum() for row in W]
    assert sign_changes == list(range(n))


@pytest.mark.parametrize("d", [1, 2])
def test_wht_self_inverse_and_symmetric(d):
    shape = (2,) + (32,) * d
    x, y = _randn(shape, seed=5), _randn(shape, seed=6)
    torch.testing.assert_close(T.wht(T.wht(x, d), d), x, atol=1e-12, rtol=0)
    assert abs(_inner(T.wht(x, d), y) - _inner(x, T.wht(y, d))) <= 1e-11


def test_wht_2d_is_tensor_product():
    n = 8
    H1 = T.wht(torch.eye(n, dtype=torch.float64), 1).T
    X = _randn((n, n), complex_=False, seed=7)
    torch.testing.assert_close(T.wht(X, 2), H1 @ X @ H1.T, atol=1e-12, rtol=0)


def test_transforms_are_differentiable():
    x = _randn((8, 8), seed=8).requires_grad_(True)
    loss = torch.linalg.vector_norm(T.dwt(T.wht(T.dft(x, 2), 2), "db2")) ** 2
    loss.backward()
    # all three are unitary, so the loss is ||x||^2 and the gradient is 2x
    torch.testing.assert_close(x.grad, 2 * x.detach(), atol=1e-10, rtol=0)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: T.dwt(torch.zeros(12, 12)), "size 12 is not a power of two"),
        (lambda: T.dwt(torch.zeros(8, 16)), "must be equal"),
        (lambda: T.dwt(torch.zeros(8, 8), "bior2.2"), "'bior2.2' is not orthogonal"),
        (lambda: T.dwt(torch.zeros(8, 8), "haarr"), "unknown wavelet 'haarr'"),
        (lambda: T.dwt(torch.zeros(8, 8), levels=4), "levels=4 out of range for size 8"),
        (lambda: T.wht(torch.zeros(6), 1), "size 6 is not a power of two"),
        (lambda: T.dft(torch.zeros(4), 3), "d=3 is not supported"),
    ],
)
def test_bad_input_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
