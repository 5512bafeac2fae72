r"""Linear operators of the measurement model: A = P_Ω U W^{-1}.

Each piece stores its parameters and implements only ``forward`` and ``adjoint``;
composition (``@``), the adjoint view (``.H``), the dot-product test and dense
matrices live once in :class:`LinearOperator`. :class:`SamplingOperator` composes

* ``W`` — :class:`Wavelet`, the orthonormal periodized DWT (image -> coefficients),
* ``U`` — :class:`Fourier` (unitary DFT) or :class:`Walsh` (sequency-ordered WHT),
* ``P_Ω`` — :class:`Restriction` to the sampled frequencies of a boolean mask,

into ``A = P_Ω U W^{-1}`` acting on wavelet coefficients ``z = W x``. Because ``U`` and
``W`` are unitary, ``A A^* = I_m`` (the rows are orthonormal) and ``‖A‖ = 1``.

All operators act on the trailing dimensions and broadcast over leading batch
dimensions; they are differentiable and run on the device of their input (CPU or CUDA).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch

from . import transforms

__all__ = [
    "LinearOperator",
    "Fourier",
    "Walsh",
    "Wavelet",
    "Restriction",
    "SamplingOperator",
    "TRANSFORMS",
]

TRANSFORMS = ("fourier", "walsh")


def _check_transform(transform: str) -> str:
    if transform not in TRANSFORMS:
        raise ValueError(
            f"unknown transform {transform!r}; expected one of: {', '.join(TRANSFORMS)}"
        )
    return transform


def _check_image_shape(shape: Sequence[int], what: str = "shape") -> tuple[int, ...]:
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (1, 2):
        raise ValueError(f"{what} {shape} must have 1 or 2 dimensions")
    transforms.square_side(shape, f"{what} {shape}", noun="side")
    return shape


class LinearOperator:
    """A linear map between tensors with fixed trailing shapes.

    Subclasses set ``shape_in`` / ``shape_out`` (trailing shapes, tuples) and implement
    :meth:`forward` and :meth:`adjoint`. Leading dimensions are batch dimensions.
    """

    shape_in: tuple[int, ...]
    shape_out: tuple[int, ...]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x)

    @property
    def H(self) -> LinearOperator:
        """The adjoint operator as an operator."""
        return _Adjoint(self)

    def __matmul__(self, other: LinearOperator) -> LinearOperator:
        if not isinstance(other, LinearOperator):
            return NotImplemented
        if tuple(other.shape_out) != tuple(self.shape_in):
            raise ValueError(
                f"cannot compose: right operator outputs {other.shape_out}, "
                f"left operator expects {self.shape_in}"
            )
        return _Composition(self, other)

    # ---- checks and helpers shared by every operator
    def dot_test(
        self,
        *,
        dtype: torch.dtype = torch.complex128,
        batch: tuple[int, ...] = (),
        generator: torch.Generator | None = None,
    ) -> float:
        r"""Relative mismatch of :math:`\langle Ax, y\rangle` and :math:`\langle x, A^*y\rangle`.

        Random ``x`` and ``y`` of the given dtype; returns
        :math:`|\langle Ax,y\rangle - \langle x,A^*y\rangle| / (\|Ax\|\|y\|)`, which is
        ~1e-16 for a correct adjoint.
        """
        g = generator if generator is not None else torch.Generator().manual_seed(0)
        x = torch.randn(*batch, *self.shape_in, dtype=dtype, generator=g)
        y = torch.randn(*batch, *self.shape_out, dtype=dtype, generator=g)
        ax = self.forward(x)
        aty = self.adjoint(y)
        lhs = torch.sum(ax * y.conj())
        rhs = torch.sum(x * aty.conj())
        scale = torch.linalg.vector_norm(ax) * torch.linalg.vector_norm(y)
        return float(torch.abs(lhs - rhs) / scale)

    def to_dense(self, dtype: torch.dtype = torch.complex128) -> torch.Tensor:
        """The operator as a dense matrix (prod(shape_out), prod(shape_in)); small sizes."""
        n_in = int(np.prod(self.shape_in))
        eye = torch.eye(n_in, dtype=dtype).reshape(n_in, *self.shape_in)
        cols = self.forward(eye).reshape(n_in, -1)
        return cols.T.contiguous()

    def norm(
        self,
        iters: int = 100,
        tol: float = 1e-10,
        dtype: torch.dtype = torch.complex128,
        generator: torch.Generator | None = None,
    ) -> float:
        r"""Operator norm :math:`\|A\|_2` by power iteration on :math:`A^*A`."""
        g = generator if generator is not None else torch.Generator().manual_seed(0)
        x = torch.randn(*self.shape_in, dtype=dtype, generator=g)
        x = x / torch.linalg.vector_norm(x)
        est = 0.0
        for _ in range(iters):
            v = self.adjoint(self.forward(x))
            new = float(torch.linalg.vector_norm(v))
            if new == 0.0:
                return 0.0
            x = v / new
            if abs(new - est) <= tol * new:
                est = new
                break
            est = new
        return float(np.sqrt(est))


class _Adjoint(LinearOperator):
    def __init__(self, op: LinearOperator):
        self.op = op
        self.shape_in, self.shape_out = op.shape_out, op.shape_in

    def forward(self, x):
        return self.op.adjoint(x)

    def adjoint(self, y):
        return self.op.forward(y)

    @property
    def H(self) -> LinearOperator:
        return self.op

    def __repr__(self) -> str:
        return f"{self.op!r}.H"


class _Composition(LinearOperator):
    def __init__(self, left: LinearOperator, right: LinearOperator):
        self.left, self.right = left, right
        self.shape_in, self.shape_out = right.shape_in, left.shape_out

    def forward(self, x):
        return self.left.forward(self.right.forward(x))

    def adjoint(self, y):
        return self.right.adjoint(self.left.adjoint(y))

    def __repr__(self) -> str:
        return f"({self.left!r} @ {self.right!r})"


class Fourier(LinearOperator):
    """Unitary DFT ``U`` on images of ``shape`` (natural FFT index order)."""

    def __init__(self, shape: Sequence[int]):
        self.shape_in = self.shape_out = _check_image_shape(shape)
        self.d = len(self.shape_in)

    def forward(self, x):
        return transforms.dft(x, self.d)

    def adjoint(self, y):
        return transforms.idft(y, self.d)

    def __repr__(self) -> str:
        return f"Fourier({self.shape_in})"


class Walsh(LinearOperator):
    """Orthonormal sequency-ordered Walsh–Hadamard transform (symmetric, self-inverse)."""

    def __init__(self, shape: Sequence[int]):
        self.shape_in = self.shape_out = _check_image_shape(shape)
        self.d = len(self.shape_in)

    def forward(self, x):
        return transforms.wht(x, self.d)

    def adjoint(self, y):
        return transforms.wht(y, self.d)

    def __repr__(self) -> str:
        return f"Walsh({self.shape_in})"


#: Images with at most this many pixels apply the wavelet transform as one sparse
#: matrix product (benchmarked: 10x faster than the multilevel recursion at 32², 3.5x
#: at 64², even at 128²) — the recursion's cost at small sizes is per-operation overhead.
SPARSE_WAVELET_MAX_N = 4096


def _wavelet_matrix(shape, wavelet, levels, transpose, device, dtype) -> torch.Tensor:
    key = (tuple(shape), wavelet, levels, transpose, str(device), dtype)
    mat = _WAVELET_MATRICES.get(key)
    if mat is None:
        N = int(np.prod(shape))
        rows, cols, vals = [], [], []
        chunk = max(1, min(N, 2**22 // N))
        for start in range(0, N, chunk):
            k = min(chunk, N - start)
            eye = torch.zeros(k, N, dtype=torch.float64)
            eye[torch.arange(k), start + torch.arange(k)] = 1.0
            coef = transforms.dwt(eye.reshape(k, *shape), wavelet, levels, len(shape))
            coef = coef.reshape(k, N)  # row i = W e_{start+i} = column start+i of W
            i, c = torch.nonzero(coef.abs() > 1e-15, as_tuple=True)
            rows.append(c)
            cols.append(i + start)
            vals.append(coef[i, c])
        r, c = torch.cat(rows), torch.cat(cols)
        if transpose:
            r, c = c, r
        coo = torch.sparse_coo_tensor(
            torch.stack((r, c)), torch.cat(vals), (N, N), check_invariants=False
        )
        with warnings.catch_warnings():  # "sparse CSR support is in beta": we test it
            warnings.simplefilter("ignore", UserWarning)
            mat = coo.coalesce().to_sparse_csr().to(device=device, dtype=dtype)
        _WAVELET_MATRICES[key] = mat
    return mat


_WAVELET_MATRICES: dict[tuple, torch.Tensor] = {}


def _apply_real_matrix(mat: torch.Tensor, x: torch.Tensor, nd: int) -> torch.Tensor:
    """``mat @ x`` over the last ``nd`` dims of ``x`` (real or complex), batched."""
    shape, lead = x.shape[x.ndim - nd:], x.shape[: x.ndim - nd]
    N, B = int(np.prod(shape)), int(np.prod(lead)) if lead else 1
    if x.is_complex():
        xr = torch.view_as_real(x.reshape(B, N)).permute(1, 0, 2).reshape(N, 2 * B)
        y = (mat @ xr).reshape(N, B, 2).permute(1, 0, 2).contiguous()
        y = torch.view_as_complex(y)
    else:
        y = (mat @ x.reshape(B, N).T.contiguous()).T
    return y.reshape(*lead, *shape)


class _RealMatrixProduct(torch.autograd.Function):
    """``y = M x`` for a real sparse ``M``; the backward applies ``M^T`` (given)."""

    @staticmethod
    def forward(ctx, x, mat, mat_t, nd):
        ctx.mats, ctx.nd = (mat, mat_t), nd
        return _apply_real_matrix(mat, x, nd)

    @staticmethod
    def backward(ctx, grad):
        mat, mat_t = ctx.mats
        return _RealMatrixProduct.apply(grad, mat_t, mat, ctx.nd), None, None, None


class _OrthogonalDWT(torch.autograd.Function):
    r"""The fast DWT (or its inverse) with the inverse as its backward pass.

    The periodized transform of an orthogonal wavelet is an orthogonal real matrix,
    :math:`W^T = W^{-1}`, so the vector-Jacobian product of ``dwt`` is ``idwt`` and that
    of ``idwt`` is ``dwt`` (for complex data too: :math:`W^H = W^T`). One fast transform
    replaces autograd's graph of the transform's many small operations (about 40% of
    the backward pass through a primal–dual network at 256²).
    """

    @staticmethod
    def forward(ctx, x, wavelet, levels, d, inverse):
        ctx.args = (wavelet, levels, d, inverse)
        fn = transforms.idwt if inverse else transforms.dwt
        return fn(x, wavelet, levels, d)

    @staticmethod
    def backward(ctx, grad):
        wavelet, levels, d, inverse = ctx.args
        return _OrthogonalDWT.apply(grad, wavelet, levels, d, not inverse), None, None, None, None


class Wavelet(LinearOperator):
    """Orthonormal periodized DWT ``W`` (image -> coefficients, PyWavelets layout).

    Small images (at most :data:`SPARSE_WAVELET_MAX_N` pixels) apply ``W`` and ``W^T``
    as sparse matrix products built once from :func:`stablesweep.transforms.dwt` and
    cached; larger ones run the fast multilevel transform. ``sparse=False`` forces the
    latter. Both agree to rounding (tested). Under autograd the backward pass of either
    is the other transform (``W^T = W^{-1}``).
    """

    def __init__(
        self,
        shape: Sequence[int],
        wavelet: str = "haar",
        levels: int | None = None,
        sparse: bool | None = None,
    ):
        self.shape_in = self.shape_out = _check_image_shape(shape)
        self.d = len(self.shape_in)
        transforms.check_wavelet(wavelet)
        self.wavelet = wavelet
        self.levels = transforms._check_levels(levels, self.shape_in[0])
        N = int(np.prod(self.shape_in))
        self.sparse = N <= SPARSE_WAVELET_MAX_N if sparse is None else bool(sparse)

    def _product(self, x: torch.Tensor, transpose: bool) -> torch.Tensor:
        real = torch.float32 if x.dtype in (torch.float32, torch.complex64) else torch.float64
        args = (self.shape_in, self.wavelet, self.levels)
        mat = _wavelet_matrix(*args, transpose, x.device, real)
        mat_t = _wavelet_matrix(*args, not transpose, x.device, real)
        return _RealMatrixProduct.apply(x, mat, mat_t, self.d)

    def _fast(self, x: torch.Tensor, inverse: bool) -> torch.Tensor:
        if torch.is_grad_enabled() and x.requires_grad:
            return _OrthogonalDWT.apply(x, self.wavelet, self.levels, self.d, inverse)
        fn = transforms.idwt if inverse else transforms.dwt
        return fn(x, self.wavelet, self.levels, self.d)

    def forward(self, x):
        if self.sparse:
            return self._product(x, transpose=False)
        return self._fast(x, inverse=False)

    def adjoint(self, z):
        if self.sparse:
            return self._product(z, transpose=True)
        return self._fast(z, inverse=True)

    def __repr__(self) -> str:
        return f"Wavelet({self.shape_in}, {self.wavelet!r}, levels={self.levels})"


class Restriction(LinearOperator):
    """``P_Ω``: keep the entries where ``mask`` is True, in row-major order of the mask.

    The adjoint places measurements back on a zero array (zero filling).
    """

    def __init__(self, mask: np.ndarray | torch.Tensor):
        mask_t = torch.as_tensor(np.asarray(mask) if not torch.is_tensor(mask) else mask)
        if mask_t.dtype != torch.bool:
            raise TypeError(f"mask must be a boolean array, got dtype {mask_t.dtype}")
        self.mask = mask_t.cpu()
        self.shape_in = tuple(self.mask.shape)
        self.d = len(self.shape_in)
        self.index = torch.nonzero(self.mask.reshape(-1), as_tuple=False).reshape(-1)
        self.m = int(self.index.numel())
        if self.m == 0:
            raise ValueError("mask selects no entries; at least one sample is required")
        self.shape_out = (self.m,)
        self._index_on: dict[torch.device, torch.Tensor] = {self.index.device: self.index}

    def _idx(self, device: torch.device) -> torch.Tensor:
        idx = self._index_on.get(device)
        if idx is None:
            idx = self._index_on[device] = self.index.to(device)
        return idx

    def forward(self, x):
        flat = x.flatten(x.ndim - self.d) if self.d > 1 else x
        return flat.index_select(-1, self._idx(x.device))

    def adjoint(self, y):
        n = int(np.prod(self.shape_in))
        # in place on the fresh zeros (autograd-safe): the out-of-place index_copy
        # clones the whole array, which costs 20x more at 256²
        out = y.new_zeros(*y.shape[:-1], n).index_copy_(-1, self._idx(y.device), y)
        return out.reshape(*y.shape[:-1], *self.shape_in)

    def __repr__(self) -> str:
        return f"Restriction(m={self.m} of {self.shape_in})"


class SamplingOperator(LinearOperator):
    r"""Subsampled unitary transform composed with the inverse wavelet transform.

    .. math:: A = P_\Omega\, U\, W^{-1}, \qquad y = A z,\quad z = W x

    Parameters
    ----------
    transform : {"fourier", "walsh"}
        The unitary measurement transform ``U``.
    mask : bool array, shape (n,) or (n, n)
        Sampling set Ω in the transform's natural index order (as returned by
        :func:`stablesweep.sampling.multilevel_mask`). Measurements are ordered by the
        row-major positions of the True entries.
    wavelet : str
        Orthogonal PyWavelets wavelet of ``W`` (default ``"haar"``).
    levels : int, optional
        Decomposition levels of ``W`` (default: full decomposition).

    Notes
    -----
    ``A`` has orthonormal rows (``A A^* = I``), hence ``‖A‖ = 1`` for a non-empty mask;
    :meth:`norm` checks it by power iteration. :meth:`measure` applies
    ``P_Ω U`` to an image directly (``A W``), :meth:`measure_adjoint` its adjoint.
    """

    rows_orthonormal = True

    def __init__(
        self,
        transform: str,
        mask: np.ndarray | torch.Tensor,
        wavelet: str = "haar",
        levels: int | None = None,
    ):
        self.transform = _check_transform(transform)
        self.P = Restriction(mask)
        self.shape = _check_image_shape(self.P.shape_in, "mask shape")
        self.U = Fourier(self.shape) if transform == "fourier" else Walsh(self.shape)
        self.W = Wavelet(self.shape, wavelet, levels)
        self.wavelet = wavelet
        self.levels = self.W.levels
        self.d = len(self.shape)
        self.N = int(np.prod(self.shape))
        self.m = self.P.m
        self.mask = self.P.mask
        self.shape_in = self.shape
        self.shape_out = (self.m,)
        self.dtype = torch.complex128 if transform == "fourier" else torch.float64

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``A z``: coefficients (..., *shape) -> measurements (..., m)."""
        return self.P.forward(self.U.forward(self.W.adjoint(z)))

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``A^* y``: measurements (..., m) -> coefficients (..., *shape)."""
        self._check_measurements(y)
        return self.W.forward(self.U.adjoint(self.P.adjoint(y)))

    def measure(self, x: torch.Tensor) -> torch.Tensor:
        """``P_Ω U x`` for an image ``x`` (= ``A W x``)."""
        return self.P.forward(self.U.forward(x))

    def measure_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``U^* P_Ω^* y``: measurements -> image (zero-filled reconstruction)."""
        self._check_measurements(y)
        return self.U.adjoint(self.P.adjoint(y))

    def to_image(self, z: torch.Tensor) -> torch.Tensor:
        """``W^{-1} z``: wavelet coefficients -> image."""
        return self.W.adjoint(z)

    def to_coefficients(self, x: torch.Tensor) -> torch.Tensor:
        """``W x``: image -> wavelet coefficients."""
        return self.W.forward(x)

    def _check_measurements(self, y: torch.Tensor) -> None:
        if y.ndim < 1 or y.shape[-1] != self.m:
            raise ValueError(
                f"measurements of shape {tuple(y.shape)} do not match the operator: "
                f"the last dimension must be m={self.m}"
            )

    def __repr__(self) -> str:
        return (
            f"SamplingOperator({self.transform!r}, m={self.m} of N={self.N}, "
            f"shape={self.shape}, wavelet={self.wavelet!r}, levels={self.levels})"
        )
