r"""The K-digits construction: square-root LASSO problems whose minimisers cannot be
computed to K digits from inexact data.

For :math:`\lambda > 0`, :math:`\delta \in (0, 1/4)`, :math:`K, n \in \mathbb N`,
:math:`N = N_1 + N_2` and an index :math:`j \in \{1, \dots, N_1\}` set

.. math::

    \gamma_1 = \frac{\sqrt2\,(1-\delta)\,10^K}{3\lambda}, \quad
    \rho = 1 - \delta, \quad \varepsilon = 2^{-n-1}, \quad
    c = \frac{\varepsilon}{\gamma_1\lambda}, \quad
    t = \frac{c\rho^2}{1 + c\rho}, \quad
    \rho_{\min} = \rho - t = \frac{\rho}{1 + c\rho},

:math:`a \in \mathbb R^{N_1}` with :math:`a_i = \gamma_1\lambda/\rho` for
:math:`i \ne j` and :math:`a_j = \gamma_1\lambda/\rho_{\min}`, and

.. math::

    A_j = D \begin{pmatrix} a^\top & 0 \\ 0 & \|a\| I_{N_2} \end{pmatrix}
    \in \mathbb R^{(1+N_2)\times(N_1+N_2)}, \qquad
    y = D \begin{pmatrix} 1 \\ \|a\|\, x_{\text{tail}} \end{pmatrix},

with :math:`D` the orthonormal DCT-II on the :math:`1 + N_2` rows (or :math:`D = I`).
The problem is :math:`\min_z \lambda\|z\|_1 + \|A_j z - y\|_2` and its minimiser is

.. math::

    x^{(j)} = \Bigl(\frac{\rho_{\min}}{\lambda\gamma_1} e_j,\; x_{\text{tail}}\Bigr),

since :math:`A_j x^{(j)} = y` and :math:`v = D(-\rho_{\min}/\gamma_1,\,
-\lambda\,\mathrm{sgn}(x_{\text{tail}})/\|a\|)` is a dual certificate:
:math:`A_j^\top v \in -\lambda\,\partial\|x^{(j)}\|_1` with
:math:`|(A_j^\top v)_i| = \lambda\rho_{\min}/\rho < \lambda` on the other head
entries and :math:`\|v\| < 1` (:meth:`BarrierProblem.certificate`).

Two indices :math:`j \ne j'` give the same :math:`\|a\|`, hence the same :math:`y` for
the same tail, while :math:`\|A_j - A_{j'}\|_2 = \sqrt2\,\varepsilon < 2^{-n}` (the
two head entries differ by :math:`\gamma_1\lambda t/(\rho\rho_{\min}) = \varepsilon`)
and :math:`\|x^{(j)} - x^{(j')}\|_2 = \sqrt2\,\rho_{\min}/(\lambda\gamma_1) =
3\cdot 10^{-K}\rho_{\min}/\rho \approx 3\cdot10^{-K}`. An algorithm that sees the
matrix only to precision :math:`2^{-n}` cannot tell :math:`j` from :math:`j'` and so
errs by at least :math:`\approx 1.5\cdot 10^{-K}` on one of them: it cannot have
:math:`K` correct digits, however large :math:`n` is.

The tails of the training data have ``sparsity`` non-zeros at random positions with
values :math:`\mathcal N(0, 1)/\|a\|`.

References
----------
.. [1] M. J. Colbrook, V. Antun, A. C. Hansen, "The difficulty of computing stable and
   accurate neural networks: On the barriers of deep learning and Smale's 18th
   problem", PNAS 119 (2022), e2107151119 (Theorem 2 and the inexact-input experiment).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.fft
import torch

from stablesweep.levels import RngLike, as_generator
from stablesweep.networks.core.dense import DenseOperator

__all__ = ["BarrierProblem", "DenseOperator", "other_index"]


def other_index(j: int, N1: int) -> int:
    """The index the experiment tests against: :math:`j' = j \\bmod N_1 + 1` (1-based)."""
    return j % N1 + 1


def _check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low or (
        high is not None and value > high
    ):
        rng = f">= {low}" if high is None else f"in {low}..{high}"
        raise ValueError(f"{name} = {value!r} is not allowed; expected an integer {rng}")
    return int(value)


@dataclass(frozen=True)
class BarrierProblem:
    r"""One member :math:`(A_j, \cdot)` of the K-digits family (see the module docstring).

    Parameters
    ----------
    K : int
        Digits, :math:`\ge 1`: the minimisers for different ``j`` are about
        :math:`3\cdot10^{-K}` apart.
    n : int
        Precision, :math:`\ge 1`: the matrices for different ``j`` are
        :math:`\sqrt2\cdot 2^{-n-1} < 2^{-n}` apart.
    j : int
        Index of the non-zero head entry, ``1 <= j <= N1``.
    N1, N2 : int
        Head and tail lengths (defaults 2 and 20); ``N1 >= 2``, ``N2 >= 1``.
    delta : float
        :math:`\delta \in (0, 1/4)` (default 1/6).
    lam : float
        :math:`\lambda \in (0, 1]` (default 1).
    dct : bool
        Mix the rows by the orthonormal DCT-II (default ``True``).
    """

    K: int
    n: int
    j: int = 1
    N1: int = 2
    N2: int = 20
    delta: float = 1.0 / 6.0
    lam: float = 1.0
    dct: bool = True

    def __post_init__(self) -> None:
        _check_int("K", self.K, 1)
        _check_int("n", self.n, 1)
        _check_int("N1", self.N1, 2)
        _check_int("N2", self.N2, 1)
        _check_int("j", self.j, 1, self.N1)
        if not (isinstance(self.delta, numbers.Real) and 0 < self.delta < 0.25):
            raise ValueError(f"delta = {self.delta!r} is not allowed; expected 0 < delta < 1/4")
        if not (isinstance(self.lam, numbers.Real) and 0 < self.lam <= 1):
            raise ValueError(f"lam = {self.lam!r} is not allowed; expected 0 < lam <= 1")

    # ---- constants of the construction
    @property
    def N(self) -> int:
        """Unknowns :math:`N_1 + N_2`."""
        return self.N1 + self.N2

    @property
    def m(self) -> int:
        """Measurements :math:`1 + N_2`."""
        return 1 + self.N2

    @property
    def gamma1(self) -> float:
        return math.sqrt(2.0) * (1.0 - self.delta) * 10.0**self.K / (3.0 * self.lam)

    @property
    def rho(self) -> float:
        return 1.0 - self.delta

    @property
    def eps(self) -> float:
        r""":math:`\varepsilon = 2^{-n-1}`."""
        return 2.0 ** (-self.n - 1)

    @property
    def t(self) -> float:
        c = self.eps / (self.gamma1 * self.lam)
        return c * self.rho**2 / (1.0 + c * self.rho)

    @property
    def rho_min(self) -> float:
        return self.rho - self.t

    @property
    def head_value(self) -> float:
        r"""The non-zero head entry of the minimiser, :math:`\rho_{\min}/(\lambda\gamma_1)`."""
        return self.rho_min / (self.lam * self.gamma1)

    @cached_property
    def a(self) -> np.ndarray:
        """The head row :math:`a` (length ``N1``)."""
        a = np.full(self.N1, self.gamma1 * self.lam / self.rho)
        a[self.j - 1] = self.gamma1 * self.lam / self.rho_min
        return a

    @property
    def norm_a(self) -> float:
        """:math:`\\|a\\|_2` (the same for every ``j``)."""
        return float(np.linalg.norm(self.a))

    def _mix(self, M: np.ndarray) -> np.ndarray:
        return scipy.fft.dct(M, type=2, axis=0, norm="ortho") if self.dct else M

    @cached_property
    def matrix(self) -> np.ndarray:
        r""":math:`A_j` (float64, shape ``(m, N)``), rows mixed by the DCT."""
        A = np.zeros((self.m, self.N))
        A[0, : self.N1] = self.a
        A[1:, self.N1 :] = self.norm_a * np.eye(self.N2)
        return self._mix(A)

    def other(self, j: int | None = None) -> BarrierProblem:
        """The same problem with head index ``j`` (default :func:`other_index`)."""
        j = other_index(self.j, self.N1) if j is None else j
        return BarrierProblem(self.K, self.n, j, self.N1, self.N2, self.delta, self.lam,
                              self.dct)

    # ---- data
    def measurements(self, tails: np.ndarray) -> np.ndarray:
        r""":math:`y = D(1, \|a\| x_{\text{tail}})` for tails ``(count, N2)``; ``(count, m)``."""
        tails = np.atleast_2d(np.asarray(tails, dtype=np.float64))
        y = np.ones((tails.shape[0], self.m))
        y[:, 1:] = self.norm_a * tails
        return self._mix(y.T).T

    def minimisers(self, tails: np.ndarray) -> np.ndarray:
        """The minimisers :math:`x^{(j)}` for tails ``(count, N2)``; ``(count, N)``."""
        tails = np.atleast_2d(np.asarray(tails, dtype=np.float64))
        x = np.zeros((tails.shape[0], self.N))
        x[:, self.j - 1] = self.head_value
        x[:, self.N1 :] = tails
        return x

    def sample_tails(self, count: int, rng: RngLike, sparsity: int = 5) -> np.ndarray:
        r"""Random tails: ``sparsity`` non-zeros per row at uniform positions, values
        :math:`\mathcal N(0,1)/\|a\|`; shape ``(count, N2)``."""
        count = _check_int("count", count, 0)
        sparsity = _check_int("sparsity", sparsity, 0, self.N2)
        rng = as_generator(rng)
        values = rng.standard_normal((count, sparsity)) / self.norm_a
        tails = np.zeros((count, self.N2))
        for i in range(count):
            tails[i, rng.permutation(self.N2)[:sparsity]] = values[i]
        return tails

    def sample(self, count: int, rng: RngLike, sparsity: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """``count`` pairs ``(y, x)`` with random tails: arrays ``(count, m)``, ``(count, N)``."""
        tails = self.sample_tails(count, rng, sparsity)
        return self.measurements(tails), self.minimisers(tails)

    # ---- checks
    def objective(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        r""":math:`\lambda\|z\|_1 + \|A_j z - y\|_2` per row."""
        z, y = np.atleast_2d(z), np.atleast_2d(y)
        return self.lam * np.abs(z).sum(-1) + np.linalg.norm(z @ self.matrix.T - y, axis=-1)

    def certificate(self, tail: np.ndarray) -> np.ndarray:
        r"""The dual certificate :math:`v` of the stated minimiser (length ``m``).

        Optimality of :math:`x` with :math:`A_j x = y` means
        :math:`-A_j^\top v \in \lambda\,\partial\|x\|_1` for some :math:`\|v\| \le 1`.
        """
        tail = np.asarray(tail, dtype=np.float64)
        v = np.zeros(self.m)
        v[0] = -self.rho_min / self.gamma1
        v[1:] = -self.lam * np.sign(tail) / self.norm_a
        return self._mix(v[:, None])[:, 0]

    def operator(self) -> DenseOperator:
        """The matrix as a :class:`~stablesweep.networks.core.dense.DenseOperator` (float64).

        ``A(z) = z A_j^T``, ``A.adjoint(y) = y A_j``, ``A.to_image`` the identity,
        ``A.norm()`` the exact spectral norm.
        """
        return DenseOperator(torch.from_numpy(self.matrix.copy()))

    def norm(self) -> float:
        """:math:`\\|A_j\\|_2` (largest singular value)."""
        return float(np.linalg.norm(self.matrix, 2))
