r"""Dense matrices of operators, and a small dense-matrix operator.

:class:`DenseOperator` has the duck-typed operator interface the networks need
(``A(z)``, ``A.adjoint(y)``, ``A.to_image(z)``, ``shape``, ``m``, ``dtype``, ``norm()``,
``rows_orthonormal``), for tests, explicit layer forms and small synthetic problems
(e.g. the K-digits construction). :func:`dense_matrix` turns any operator with that
interface into its matrix by applying it to the identity columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["DenseOperator", "dense_matrix", "dense_synthesis", "real_representation"]


def dense_matrix(A: Any) -> torch.Tensor:
    """The matrix of ``A`` (shape ``(m, N)``, ``A.dtype``), column ``j`` = ``A(e_j)``."""
    shape = tuple(A.shape)
    N = int(np.prod(shape))
    eye = torch.eye(N, dtype=A.dtype).reshape(N, *shape)
    return A(eye).reshape(N, -1).T.contiguous()


def dense_synthesis(A: Any) -> torch.Tensor:
    """The matrix of ``A.to_image`` (shape ``(N, N)``, ``A.dtype``)."""
    shape = tuple(A.shape)
    N = int(np.prod(shape))
    eye = torch.eye(N, dtype=A.dtype).reshape(N, *shape)
    return A.to_image(eye).reshape(N, -1).T.contiguous()


def real_representation(M: torch.Tensor) -> torch.Tensor:
    r"""Real matrix acting on stacked (Re, Im) vectors: :math:`[[P, -Q], [Q, P]]`.

    For a real ``M`` the matrix itself is returned. The real representation of
    :math:`M^H` is the transpose of that of :math:`M`.
    """
    if not M.is_complex():
        return M
    P, Q = M.real, M.imag
    return torch.cat((torch.cat((P, -Q), dim=1), torch.cat((Q, P), dim=1)), dim=0)


class DenseOperator:
    r"""A dense matrix :math:`M \in \mathbb{K}^{m\times N}` as a measurement operator.

    Parameters
    ----------
    matrix : array_like, shape (m, N)
        Real or complex.
    shape : sequence of int, optional
        Coefficient (and image) shape with ``prod(shape) = N`` (default ``(N,)``).
    synthesis : array_like, shape (N, N), optional
        Matrix of ``to_image`` (default identity: coefficients are the image).

    Attributes
    ----------
    shape, m, N, dtype, matrix, rows_orthonormal, levels (None)
    """

    levels = None

    def __init__(
        self,
        matrix: torch.Tensor | np.ndarray,
        shape: Sequence[int] | None = None,
        synthesis: torch.Tensor | np.ndarray | None = None,
    ):
        M = torch.as_tensor(matrix)
        if M.ndim != 2:
            raise ValueError(f"matrix has shape {tuple(M.shape)}; expected (m, N)")
        if not (M.is_complex() or M.is_floating_point()):
            M = M.to(torch.float64)
        self.matrix = M
        self.m, self.N = (int(s) for s in M.shape)
        self.shape = (self.N,) if shape is None else tuple(int(s) for s in shape)
        if int(np.prod(self.shape)) != self.N:
            raise ValueError(f"shape {self.shape} does not hold N = {self.N} coefficients")
        self.dtype = M.dtype
        self.synthesis = None if synthesis is None else torch.as_tensor(synthesis).to(M.dtype)
        gram = M @ M.conj().T
        eye = torch.eye(self.m, dtype=M.dtype)
        self.rows_orthonormal = bool(torch.linalg.matrix_norm(gram - eye) <= 1e-10 * self.m)

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        return self.forward(z)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Coefficients (..., *shape) -> measurements (..., m)."""
        flat = z.reshape(*z.shape[: z.ndim - len(self.shape)], self.N)
        return flat @ self.matrix.T.to(flat.dtype)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """Measurements (..., m) -> coefficients (..., *shape)."""
        out = y @ self.matrix.conj().to(y.dtype)
        return out.reshape(*y.shape[:-1], *self.shape)

    def to_image(self, z: torch.Tensor) -> torch.Tensor:
        if self.synthesis is None:
            return z
        flat = z.reshape(*z.shape[: z.ndim - len(self.shape)], self.N)
        return (flat @ self.synthesis.T.to(flat.dtype)).reshape(z.shape)

    def norm(self) -> float:
        return float(torch.linalg.matrix_norm(self.matrix, ord=2))

    def __repr__(self) -> str:
        return f"DenseOperator(m={self.m}, N={self.N}, dtype={self.dtype})"
